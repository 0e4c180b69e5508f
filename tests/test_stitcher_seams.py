"""Seam audit (musiclab.stitcher.seams): natural audio scores ~5 % audible, a chain of
two very different songs is audible at its joins, and the CLI writes its report."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from musiclab.stitcher import seams
from musiclab.stitcher.pool import SR

MAJOR = [0, 2, 4, 5, 7, 9, 11]
MINOR = [0, 2, 3, 5, 7, 8, 10]


def tune(seconds: float, bpm: float, tonic: int, minor: bool, seed: int, bright: bool, gain: float = 1.0,
         sr: int = SR) -> np.ndarray:
    """A synthetic song: a kick on every beat, a hat between, one scale note per beat over
    a sustained tonic triad; ``bright`` = sawtooth-like partials, else soft sines."""
    r = np.random.default_rng(seed)
    n = int(seconds * sr)
    y = np.zeros(n, np.float64)
    beat = 60.0 / bpm
    scale = MINOR if minor else MAJOR
    f0 = 220.0 * 2 ** (tonic / 12)  # tonic 0 = A
    t_all = np.arange(n) / sr
    third = 3 if minor else 4
    harms = range(1, 9) if bright else (1, 2)
    for iv in (0, third, 7):
        f = f0 / 2 * 2 ** (iv / 12)
        y += 0.06 * sum(np.sin(2 * np.pi * f * h * t_all) / h ** (1 if bright else 2) for h in harms)
    L = int(beat * sr)
    t = np.arange(L) / sr
    for k in range(int(seconds / beat)):
        a = int(k * beat * sr)
        if a + L > n:
            break
        f = f0 * 2 ** (scale[r.integers(0, 7)] / 12)
        note = sum(np.sin(2 * np.pi * f * h * t) / h ** (1 if bright else 2) for h in harms)
        y[a: a + L] += 0.2 * r.uniform(0.7, 1.0) * note * np.exp(-4 * t)
        kick = np.sin(2 * np.pi * 55 * t[: 2000]) * np.exp(-t[: 2000] * 40)
        y[a: a + 2000] += 0.5 * kick
        h0 = a + L // 2
        hat = r.normal(0, 1, 600) * np.exp(-np.arange(600) / 100)
        y[h0: h0 + 600] += 0.08 * hat
    y += r.normal(0, 0.003, n)
    return (gain * y / np.max(np.abs(y)) * 0.8).astype(np.float32)


@pytest.fixture(scope="module")
def two_songs():
    a = tune(40, 120, 9, True, 1, bright=False)  # F# minor, 120 bpm, soft
    b = tune(40, 86, 6, False, 2, bright=True, gain=0.3)  # Eb major, 86 bpm, bright, ~10 dB quieter
    return a, b


@pytest.fixture(scope="module")
def reference(two_songs):
    an = [("a", seams.analyse(two_songs[0], SR, beats=True)), ("b", seams.analyse(two_songs[1], SR, beats=True))]
    return an, seams.build_reference(an, moments=240, seed=0)


def test_calibration_gives_five_percent_on_natural_statistics():
    r = np.random.default_rng(0)

    def rows(n):
        x = np.abs(r.standard_normal((n, len(seams.STATS)))) * np.arange(1, len(seams.STATS) + 1)
        x[:, 0] += 0.5 * x[:, 1]  # some correlation between statistics
        return [dict(zip(seams.STATS, v)) for v in x]

    ref = seams.calibrate(rows(1500), ["x"], seed=0)
    assert abs(ref.holdout_share - 0.05) < 0.01
    # the union over statistics, not each one alone: the threshold is far above p95
    assert ref.threshold > 0.98
    fresh = rows(2000)
    share = np.mean([seams.judge(x, ref)["audible"] for x in fresh])
    assert 0.035 < share < 0.065
    with pytest.raises(Exception, match="natural reference"):
        seams.calibrate(rows(5), ["x"])


def test_percentile_tail_ranks_beyond_the_reference():
    ref = seams.calibrate([dict.fromkeys(seams.STATS, float(v)) for v in np.linspace(0, 1, 200)], ["x"])
    p1, p2, p3 = (ref.percentile("tempo", v) for v in (0.5, 1.5, 3.0))
    assert 0.4 < p1 < 0.6 and p1 < p2 < p3 < 1.0
    assert ref.percentile("tempo", float("nan")) == 0.0


def test_key_words():
    C, G, F, Am, Cm, Fs = 0, 7, 5, 12 + 9, 12, 6
    assert seams.key_relation(C, C) == "same key"
    assert seams.key_relation(C, Am) == "relative major/minor"
    assert seams.key_relation(C, G) == "a fifth apart" and seams.key_relation(C, F) == "a fifth apart"
    assert seams.key_relation(C, Cm) == "parallel major/minor"
    assert seams.key_relation(C, Fs).startswith("other (6 steps")
    assert seams.key_distance(C, Am) == 0 and seams.key_distance(C, Fs) == 6


def test_natural_continuity_is_rarely_audible(reference):
    an, ref = reference
    assert ref.moments >= 100 and abs(ref.holdout_share - 0.05) < 0.04
    a = an[0][1]
    rng = np.random.default_rng(5)
    times = seams.natural_positions(a, 20, rng)
    res = seams.audit_joins(a, [seams.JoinInfo(float(t)) for t in times], ref)
    assert res["joins"] == 20
    assert res["share_audible"] <= 0.2, [r["why"] for r in res["rows"] if r["audible"]]


def test_chain_of_two_different_songs_is_audible(two_songs, reference):
    _, ref = reference
    a, b = two_songs
    rng = np.random.default_rng(3)
    pieces, joins, pos = [], [], 0
    for k in range(8):  # alternate A and B, random 4.5 s pieces cut anywhere
        src = a if k % 2 == 0 else b
        s = int(rng.uniform(0, len(src) - 5 * SR))
        piece = src[s: s + int(4.5 * SR)]
        pieces.append(piece)
        pos += len(piece)
        joins.append(pos / SR)
    y = np.concatenate(pieces)
    res = seams.audit_joins(seams.analyse(y, SR), [seams.JoinInfo(t) for t in joins[:-1]], ref)
    assert res["joins"] == 7
    assert res["share_audible"] >= 0.7, [r["why"] for r in res["rows"]]
    w = res["worst"]
    assert w["audible"] and w["why"]
    assert any(("tempo" in r["why"] or "key" in r["why"] or "dB" in r["why"]) for r in res["rows"])
    # the loudness jump is measured in dB in the right direction (B is ~10 dB quieter)
    into_b = [r for r in res["rows"] if r["join"] % 2 == 1]
    assert np.median([r["loudness_jump_db"] for r in into_b]) < -5


def test_short_lufs_matches_pyloudnorm():
    import pyloudnorm

    r = np.random.default_rng(0)
    y = (0.1 * r.standard_normal(SR * 4)).astype(np.float32)
    a = seams.analyse(y, SR)
    mine = seams.short_term_lufs(a, 0.5, 3.5)
    ref = pyloudnorm.Meter(SR, block_size=3.0).integrated_loudness(y[SR // 2: SR // 2 + 3 * SR].astype(np.float64))
    assert abs(mine - ref) < 0.5


def _write_chain(tmp_path, two_songs):
    """A stitched file made of A/B pieces and its chunk list in the format of chain.write_csv."""
    a, b = two_songs
    d = tmp_path / "src dir"
    d.mkdir()
    sf.write(d / "song a.wav", a, SR)
    sf.write(d / "b's song.wav", b, SR)
    spans = [("song a.wav", a, 2.0), ("b's song.wav", b, 10.0), ("song a.wav", a, 20.0), ("b's song.wav", b, 25.0)]
    out, rows, pos = [], [], 0.0
    for name, src, start in spans:
        piece = src[int(start * SR): int((start + 5) * SR)]
        rows.append([f"{pos:.3f}", name, f"{start:.3f}", f"{start + 5:.3f}", "0.1" if out else ""])
        out.append(piece)
        pos += len(piece) / SR
    wav = tmp_path / "new song.wav"
    sf.write(wav, np.concatenate(out), SR)
    with open(tmp_path / "new song.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["position_s", "source", "start_s", "end_s", "score"])
        w.writerows(rows)
    return d, wav


def test_cli_seams_with_chunk_list(tmp_path, capsys, two_songs):
    from musiclab.cli import main

    d, wav = _write_chain(tmp_path, two_songs)
    out_csv = tmp_path / "seams out.csv"
    assert main(["stitcher", "seams", str(wav), "--songs", str(d), "--csv", str(out_csv), "--moments", "120",
                 "--json"]) == 0
    cap = capsys.readouterr()
    res = json.loads(cap.out.strip().splitlines()[-1])
    assert res["join_source"] == "csv" and res["joins"] == 3
    assert res["rows"][0]["from"] == "song a.wav" and res["rows"][0]["to"] == "b's song.wav"
    assert res["rows"][0]["time"] == pytest.approx(5.0, abs=0.01)
    assert res["audible"] >= 2 and res["worst"]["why"]
    assert res["reference"]["songs"] == 2
    assert "worst join" in cap.err
    rows = list(csv.DictReader(open(out_csv, encoding="utf-8")))
    assert len(rows) == 3 and {"tempo_change_pct", "beat_phase", "key_relation", "loudness_jump_db"} <= set(rows[0])
    # --csv must not overwrite the chunk list
    assert main(["stitcher", "seams", str(wav), "--songs", str(d), "--csv", str(tmp_path / "new song.csv")]) == 2


def test_cli_seams_guesses_joins_and_natural(tmp_path, capsys, two_songs):
    from musiclab.cli import main

    d, wav = _write_chain(tmp_path, two_songs)
    (tmp_path / "new song.csv").unlink()
    assert main(["stitcher", "seams", str(wav), "--songs", str(d), "--moments", "120", "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["join_source"] == "guessed"
    assert any(abs(r["time"] - t) < 0.5 for r in res["rows"] for t in (5.0, 10.0, 15.0))
    assert main(["stitcher", "seams", "--natural", "10", "--songs", str(d), "--moments", "120", "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["natural"] and res["joins"] == 20 and res["share_audible"] <= 0.25


def test_cli_seams_bad_input(tmp_path, capsys):
    from musiclab.cli import main

    d = tmp_path / "short"
    d.mkdir()
    sf.write(d / "one second.wav", np.zeros(SR, np.float32) + 0.1 * np.sin(np.arange(SR) / 5), SR)
    sf.write(tmp_path / "x.wav", np.zeros(SR, np.float32), SR)
    assert main(["stitcher", "seams", str(tmp_path / "x.wav"), "--songs", str(d)]) == 1
    assert "error:" in capsys.readouterr().err
    assert main(["stitcher", "seams", "--songs", str(d)]) == 2


def test_single_faults_are_named(two_songs, reference):
    """One fault at a time inside song A: half a beat cut out, or 10 dB quieter after the join."""
    _, ref = reference
    a = two_songs[0]
    off_beat = np.concatenate([a[: 16 * SR], a[int(16.25 * SR):]])  # 0.25 s = half a beat at 120 bpm
    r = seams.audit_joins(seams.analyse(off_beat, SR), [seams.JoinInfo(16.0)], ref)["rows"][0]
    assert "beat" in r["flagged"] and 0.35 < abs(r["beat_phase"]) <= 0.5
    assert "off the beat by" in r["why"]
    quieter = np.concatenate([a[: 16 * SR], 0.3 * a[16 * SR:]])
    r = seams.audit_joins(seams.analyse(quieter, SR), [seams.JoinInfo(16.0)], ref)["rows"][0]
    assert r["flagged"][0] == "loudness" and r["loudness_jump_db"] == pytest.approx(-10.5, abs=1.0)
    assert f"{abs(r['loudness_jump_db']):.1f} dB quieter" in r["why"]
    slower = np.concatenate([a[: 16 * SR], tune(40, 96, 9, True, 1, bright=False)[16 * SR:]])  # same tune, 96 bpm
    r = seams.audit_joins(seams.analyse(slower, SR), [seams.JoinInfo(16.0)], ref)["rows"][0]
    assert r["flagged"][0] == "tempo" and -25 < r["tempo_change_pct"] < -15 and "tempo -" in r["why"]
    # the same join without the fault is not audible
    r = seams.audit_joins(seams.analyse(a, SR), [seams.JoinInfo(16.0)], ref)["rows"][0]
    assert not r["audible"], r["why"]


def test_audit_rendered_chain(two_songs):
    """The in-memory audit (the GUI's and the benchmark's) of a rendered chain A, B, A, B."""
    from musiclab.stitcher.chain import Chain, render
    from musiclab.stitcher.pool import Song, build_pool

    a, b = two_songs
    pool = build_pool([Song("a", "/x/song a.wav", a), Song("b", "/x/b's song.wav", b)], "fixed:5")
    na = len(pool.song_chunks(0))
    chain = Chain([1, na + 2, 4, na + 5], [float("nan"), 0.1, 0.2, 0.3])
    r = render(pool, chain, 60.0, beat_align=False)
    res = seams.audit_rendered(pool, r, chain, moments=120)
    assert res["joins"] == 3 and res["audible"] >= 2
    row = res["rows"][0]
    assert row["from"] == "song a.wav" and row["to"] == "b's song.wav" and row["score"] == 0.1
    assert row["time"] == pytest.approx(r.joins[0], abs=1e-3) and row["from_end_s"] == pytest.approx(10.0)
