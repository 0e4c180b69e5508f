"""Stitcher join engineering (musiclab.stitcher.joins), the cost-based search, export at the
sources' quality, and bad input (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from musiclab.stitcher import session
from musiclab.stitcher.chain import Chain, ChainRules, build_chain, render, write_csv
from musiclab.stitcher.joins import SongAnalysis, best_cut, fold_ratio, key_shift
from musiclab.stitcher.pool import SR, Song, StitcherError, build_pool, load_pool, load_songs
from musiclab.stitcher.scorers import BoundaryScorer, Encoded


def clicks(seconds: float, bpm: float, sr: int = SR, f: float = 440.0, amp: float = 0.5, seed: int = 0) -> np.ndarray:
    """A click on every beat over a soft tone: an easy, steady beat."""
    r = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    y = 0.15 * np.sin(2 * np.pi * f * t)
    beat = 60.0 / bpm
    for k in range(int(seconds / beat)):
        a = int(k * beat * sr)
        m = min(n - a, 400)
        y[a: a + m] += 0.8 * np.exp(-np.arange(m) / 60.0) * r.choice([-1, 1])
    return (amp * y / np.max(np.abs(y))).astype(np.float32)


def mk(name, y, sr=SR) -> Song:
    return Song(name=name, path=f"/nowhere/{name}.wav", y=y, sr=sr)


class Flat(Encoded):
    """Scores from a given matrix."""

    def __init__(self, m):
        self.m = np.asarray(m, np.float32)
        self.ends = self.starts = np.zeros((len(m), 1), np.float32)

    def scores(self, rows):
        return self.m[np.atleast_1d(rows)]

    def pair(self, a, b):
        return float(self.m[a, b])


def test_incoming_chunk_is_time_stretched_to_the_running_tempo():
    a = mk("a120", clicks(24, 120.0, seed=1))
    b = mk("b126", clicks(24, 126.0, f=330.0, seed=2))  # 5 % faster: within the ±8 % a DJ stretches
    c = mk("c100", clicks(24, 100.0, f=550.0, seed=3))  # 17 % slower: too far, not stretched
    pool = build_pool([a, b, c], "beats:8")
    ia = pool.song_chunks(0)[1]
    ib = pool.song_chunks(1)[1]
    ic = pool.song_chunks(2)[1]
    chain = Chain([ia, ib, ic], [float("nan"), 0.0, 0.0])
    r = render(pool, chain, 60.0, beat_align=True, quality="analysis")
    j1, j2 = r.join_info
    assert j1["tempo_pct"] == pytest.approx(5.0, abs=1.0)  # b plays 5 % faster than the running tempo
    assert j1["stretch_pct"] == pytest.approx(-4.8, abs=1.0)  # ... so it is slowed down to it
    assert j2["stretch_pct"] == 0.0  # c is beyond the ±8 % limit: its own tempo
    # the stretched chunk lasts its source span / speed (Rubber Band changes the length, not the pitch)
    s0, s1, i, src_s, src_e = r.segments[1]
    assert (s1 - s0) == pytest.approx((src_e - src_s) / SR / 0.952, rel=0.02)
    assert np.all(np.isfinite(r.y)) and np.max(np.abs(r.y)) <= 1.0
    # the search pays for tempi the stretcher cannot bridge: from a, b's chunks cost less than c's
    from musiclab.stitcher.chain import _Constraints, _cost_row

    rules = ChainRules(context_weight=0.0, key_weight=0.0)
    cons = _Constraints(pool, rules, ia)
    raw = np.zeros(len(pool.chunks))
    cost = _cost_row(pool, raw, raw.copy(), [ia], rules, cons, float(cons.tempi[ia]))
    assert cost[ib] < cost[ic] - 1.0


def test_cut_search_finds_the_best_matching_pair_of_beats():
    hop, per = 512, 10 * 512  # a beat every 10 frames
    T = 200
    beats = np.arange(0, T * hop, per)

    def analysis(chroma_of_beat):
        ch = np.zeros((12, T))
        for k, b in enumerate(beats):
            ch[chroma_of_beat(k), b // hop: b // hop + 10] = 1.0
        return SongAnalysis(ch, np.ones((12, T)), np.ones(T), np.zeros(T * hop + 1), beats, float(per))

    A = analysis(lambda k: k % 12)  # beat k sounds pitch class k
    B = analysis(lambda k: (k + 5) % 12)  # beat k sounds pitch class k + 5
    ea = int(beats[10])  # nominal: A ends at its beat 10 (next would sound class 10)
    sb = int(beats[4])  # B starts at its beat 4 (class 9): one beat off
    xa, xb, da, db, d = best_cut(A, B, ea, sb, 0, T * hop, SR)
    # the best pair: A's next beat sounds what B's first beat sounds (and the beats before match too)
    assert (xa // per + 0) % 12 == (xb // per + 5) % 12
    assert da <= db and max(abs(da), abs(db)) == 1 and d < 0.5
    # bars: both sides move together, so a downbeat still meets a downbeat
    xa2, xb2, da2, db2, _ = best_cut(A, B, ea, sb, 0, T * hop, SR, same_shift=True)
    assert da2 == db2


def test_loudness_is_matched_across_a_join_and_the_fade_follows_the_material():
    t = np.arange(int(12 * SR)) / SR
    loud = mk("loud", clicks(12, 120.0, amp=0.8, seed=4))
    quiet = mk("quiet", (0.02 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))  # sustained, ~-30 dB
    pool = build_pool([loud, quiet], "fixed:4")
    chain = Chain([pool.song_chunks(0)[0], pool.song_chunks(1)[1]], [float("nan"), 0.0])
    r = render(pool, chain, 60.0, beat_align=True, quality="analysis")
    j = r.join_info[0]
    assert j["loudness_db"] < -15  # before matching: the quiet song is far quieter
    n = int(r.joins[0] * SR)

    def db(x):
        return 10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-12)

    assert abs(db(r.y[n + 2000: n + 2 * SR]) - db(r.y[n - 2 * SR: n - 2000])) < 6.0
    # a transient side shortens the fade; two sustained tones get a long one
    a = mk("s1", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
    b = mk("s2", (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32))
    p2 = build_pool([a, b], "fixed:4")
    r2 = render(p2, Chain([0, p2.song_chunks(1)[1]], [float("nan"), 0.0]), 60.0, beat_align=True, quality="analysis")
    assert r2.join_info[0]["fade_ms"] > j["fade_ms"]
    assert r2.join_info[0]["fade_ms"] >= 120


def test_key_shift_towards_a_compatible_key():
    assert key_shift(0, 0) == 0  # C -> C
    assert key_shift(21, 0) == 0  # A minor: the relative minor of C
    assert key_shift(2, 0) == -2  # D major: two semitones down
    assert key_shift(1, 0) == -1
    assert key_shift(6, 0) is None  # F# major is out of reach of ±2
    assert fold_ratio(2.1) == pytest.approx(1.05) and fold_ratio(0.5) == pytest.approx(1.0)


def test_variety_is_a_weighted_cost_never_a_forced_bad_join():
    pool = build_pool([mk(f"v{k}", clicks(20, 120, seed=k)) for k in range(2)], "fixed:2")
    n = len(pool.chunks)
    songs = np.array([c.song for c in pool.chunks])
    m = np.where(songs[:, None] == songs[None, :], 1.0, 0.5)  # other song: a bit worse
    base = dict(target_s=20, start=0, reuse=1, max_run=1, max_same_song=3, context_weight=0.0,
                tempo_weight=0.0, key_weight=0.0)
    ch = build_chain(pool, Flat(m), ChainRules(**base))
    assert len({pool.chunks[i].song for i in ch.items}) == 2  # the preference changes song...
    free = build_chain(pool, Flat(m), ChainRules(**base, variety_weight=0.0))
    assert {pool.chunks[i].song for i in free.items} == {0}  # ... and costs nothing at weight 0
    # where every join into another song is rated near zero, variety does not force one
    big = build_pool([mk("long", clicks(44, 120, seed=8)), mk("short", clicks(4, 120, seed=9))], "fixed:2")
    bs = np.array([c.song for c in big.chunks])
    bad = np.where(bs[:, None] == bs[None, :], 1.0 + 0.01 * (np.arange(len(bs))[None, :] % 3), -50.0)
    ch = build_chain(big, Flat(bad), ChainRules(**base))
    assert {big.chunks[i].song for i in ch.items} == {0}
    assert len(ch.costs) == len(ch.items) and np.isnan(ch.costs[0]) and np.all(np.isfinite(ch.costs[1:]))


def test_engineered_render_writes_what_made_each_join_rough(tmp_path):
    pool = build_pool([mk(f"w{k}", clicks(20, 120 + 3 * k, f=300 + 70 * k, seed=k)) for k in range(3)], "beats:8")
    enc = BoundaryScorer().encode(pool)
    built = session.build(pool, enc, ChainRules(target_s=25, start=0, max_same_song=2), 60.0, True)
    assert built.rendered.join_info and len(built.rendered.join_info) == len(built.rendered.joins)
    p = write_csv(tmp_path / "c.csv", pool, built.rendered, built.chain)
    head = p.read_text().splitlines()[0].split(",")
    assert head[:5] == ["position_s", "source", "start_s", "end_s", "score"]
    assert {"cost", "tempo_pct", "stretch_pct", "beat_offset", "key_relation", "loudness_db", "timbre",
            "fade_ms"} <= set(head)
    # the seam audit ran in the build job and reads the same joins
    assert built.audit is not None and built.audit["joins"] == len(built.rendered.joins)
    assert "share_audible" in built.audit
    from musiclab.stitcher.seams import read_chunks_csv

    assert len(read_chunks_csv(p)) == len(built.rendered.joins)


# -- export at the sources' quality; bad input ---------------------------------------------------

def _write(path, y, sr):
    sf.write(str(path), np.asarray(y, np.float32).T if np.ndim(y) == 2 else y, sr)
    return path


def test_mixed_rates_and_channels_export_at_the_sources_quality(tmp_path):
    f1 = _write(tmp_path / "a 48k stereo.wav", np.stack([clicks(12, 120, sr=48000, seed=1),
                                                          clicks(12, 120, sr=48000, seed=2)]), 48000)
    f2 = _write(tmp_path / "b 44k mono.wav", clicks(12, 124, sr=44100, f=330, seed=3), 44100)
    f3 = _write(tmp_path / "c 22k mono.wav", clicks(12, 118, sr=22050, f=550, seed=4), 22050)
    pool = load_pool([f1, f2, f3], "fixed:2")
    assert pool.sr == SR and all(s.y.ndim == 1 for s in pool.songs)  # analysis: one rate, mono
    enc = BoundaryScorer().encode(pool)
    chain = Chain([0, pool.song_chunks(1)[1], pool.song_chunks(2)[2], pool.song_chunks(0)[3]],
                  [float("nan"), 0.0, 0.0, 0.0])
    r = render(pool, chain, 60.0, beat_align=True)
    assert r.sr == 48000 and r.n_channels == 2 and r.audio.shape == (2, len(r.y))
    built = session.Built(chain, r, {"joins": []}, pool, enc)
    files = session.export(built, tmp_path / "out.wav")
    info = sf.info(str(files[0]))
    assert info.samplerate == 48000 and info.channels == 2 and info.frames == len(r.y)
    # the analysis-rate render is still there for previews
    r2 = render(pool, chain, 60.0, beat_align=True, quality="analysis")
    assert r2.sr == SR and r2.channels is None


def test_pool_of_one_song_builds_with_dj_joins():
    pool = build_pool([mk("only", clicks(30, 120, seed=7))], "beats:8")
    enc = BoundaryScorer().encode(pool)
    built = session.build(pool, enc, ChainRules(target_s=40, start=0, max_same_song=2), 60.0, True,
                          audit_moments=0)
    assert len(built.rendered.y) / built.rendered.sr >= 39.0 and built.audit is None
    assert all(a != b for a, b in zip(built.chain.items, built.chain.items[1:]))


def test_a_one_second_song_and_silence(tmp_path):
    f1 = _write(tmp_path / "short.wav", clicks(1.0, 120, seed=1), SR)
    f2 = _write(tmp_path / "silent.wav", np.zeros(SR * 5, np.float32), SR)
    f3 = _write(tmp_path / "long.wav", clicks(20, 120, seed=2), SR)
    songs, msgs = load_songs([f1, f2, f3])
    assert [s.name for s in songs] == ["short", "long"] and any("silent" in m for m in msgs)
    pool = build_pool(songs, "beats:8")
    assert len(pool.song_chunks(0)) == 1 and any("short" in m for m in pool.messages)
    enc = BoundaryScorer().encode(pool)
    built = session.build(pool, enc, ChainRules(target_s=15, start=0, max_same_song=2), 60.0, True,
                          audit_moments=0)
    assert len(built.rendered.y) > 0 and np.all(np.isfinite(built.rendered.y))
    # a pool of nothing but silence: a clear message
    with pytest.raises(StitcherError, match="[Nn]o usable song"):
        load_pool([f2], "beats:8")
    # a 1-second song alone: one chunk, reused, never a crash
    one = build_pool([songs[0]], "beats:8")
    r = session.build(one, BoundaryScorer().encode(one), ChainRules(target_s=3, start=0), 60.0, True,
                      audit_moments=0)
    assert len(r.rendered.y) > 0


def test_no_detectable_beat_falls_back_to_fixed_chunks():
    r = np.random.default_rng(3)
    t = np.arange(30 * SR) / SR
    # ambient: slowly swelling noise and a drone, no pulse
    amb = (0.2 * np.sin(2 * np.pi * 110 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.05 * t))
           + 0.02 * r.standard_normal(len(t))).astype(np.float32)
    pool = build_pool([mk("ambient", amb), mk("beat", clicks(30, 120, seed=5))], "beats:8")
    amb_chunks = pool.song_chunks(0)
    assert len(amb_chunks) >= 5  # not one 30 s chunk
    assert any("no steady beat" in m for m in pool.messages)
    enc = BoundaryScorer().encode(pool)
    built = session.build(pool, enc, ChainRules(target_s=30, start=amb_chunks[0], max_same_song=2), 60.0, True,
                          audit_moments=0)
    assert len(built.rendered.y) / built.rendered.sr >= 29.0


def test_a_grown_chain_replans_only_its_new_joins_with_the_same_result(monkeypatch):
    """render_to_length plans again after chaining more: the cut searches of the joins it
    planned already come from a memo, and the plan is the one a fresh search gives."""
    import musiclab.stitcher.joins as J

    pool = build_pool([mk("a120", clicks(24, 120.0, seed=1)), mk("b126", clicks(24, 126.0, f=330.0, seed=2)),
                       mk("c118", clicks(24, 118.0, f=550.0, seed=3))], "beats:8")
    items = [pool.song_chunks(0)[1], pool.song_chunks(1)[1], pool.song_chunks(2)[1], pool.song_chunks(0)[3]]
    calls = []
    real = J.best_cut
    monkeypatch.setattr(J, "best_cut", lambda *a, **k: calls.append(1) or real(*a, **k))
    memo: dict = {}
    J.plan_joins(pool, items[:3], 60.0, memo=memo)
    assert len(calls) == 2
    grown = J.plan_joins(pool, items, 60.0, memo=memo)
    assert len(calls) == 3  # only the new join was searched
    fresh = J.plan_joins(pool, items, 60.0)
    assert [p.as_dict() for p in grown.joins] == [p.as_dict() for p in fresh.joins]
    assert [(p.start, p.end, p.speed) for p in grown.pieces] == [(p.start, p.end, p.speed) for p in fresh.pieces]
