"""Stitcher core: chunking, bad input, scorers, chaining, rendering, model files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from musiclab.errors import ModelFileError
from musiclab.stitcher.chain import ChainRules, alternatives, build_chain, render, seam_report, swap, write_csv
from musiclab.stitcher.evaluate import evaluate
from musiclab.stitcher.pool import SR, Song, StitcherError, build_pool, load_pool, load_songs, parse_chunking
from musiclab.stitcher.scorers import BoundaryScorer, Encoded, RandomScorer

rng = np.random.default_rng(0)


def melody(seconds: float, seed: int, sr: int = SR, bpm: float = 120.0) -> np.ndarray:
    """A tune: one random note per beat (harmonic tone) plus a click on every beat."""
    r = np.random.default_rng(seed)
    n = int(seconds * sr)
    y = np.zeros(n, np.float32)
    beat = int(sr * 60 / bpm)
    t = np.arange(beat) / sr
    base = 220 * 2 ** (r.integers(0, 12) / 12)
    for k, a in enumerate(range(0, n - beat + 1, beat)):
        f = base * 2 ** (r.choice([0, 2, 4, 5, 7, 9, 11, 12]) / 12)
        tone = sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3)) * np.exp(-3 * t)
        y[a: a + beat] += 0.25 * tone.astype(np.float32)
        y[a: a + 200] += 0.5 * np.exp(-np.arange(200) / 30).astype(np.float32) * (k % 2 == 0)
    return np.clip(y, -1, 1)


def glide(seconds: float, seed: int, sr: int = SR) -> np.ndarray:
    """A tone whose pitch wanders smoothly: the end of a chunk predicts the next start."""
    r = np.random.default_rng(seed)
    n = int(seconds * sr)
    knots = r.uniform(0, 2.5, size=int(seconds) + 2)
    octs = np.interp(np.arange(n) / sr, np.arange(len(knots)), knots)
    phase = 2 * np.pi * np.cumsum(150 * 2 ** octs) / sr
    return (0.5 * np.sin(phase) + 0.2 * np.sin(2 * phase)).astype(np.float32)


def song(seconds=20.0, seed=0, name=None) -> Song:
    return Song(name=name or f"s{seed}", path=f"/x/s{seed}.wav", y=melody(seconds, seed))


def test_parse_chunking():
    assert parse_chunking("fixed:5") == ("fixed", 5.0, 0.0)
    assert parse_chunking("beats:8") == ("beats", 8.0, 0.0)
    assert parse_chunking("silence") == ("silence", -16.0, 300.0)
    assert parse_chunking("silence:-30:500") == ("silence", -30.0, 500.0)
    for bad in ("fixed:0.1", "beats:0", "wobble:3", "fixed:abc"):
        with pytest.raises(StitcherError):
            parse_chunking(bad)


def test_fixed_chunks_are_exact_and_successors_known():
    pool = build_pool([song(21, 0), song(12, 1)], "fixed:5")
    a = [c for c in pool.chunks if c.song == 0]
    assert [(c.start, c.end) for c in a] == [(k * 5 * SR, (k + 1) * 5 * SR) for k in range(4)]
    assert pool.successor(0) == 1 and pool.successor(3) is None  # last chunk of song 0
    assert pool.successor(4) == 5


def test_silence_chunks_follow_the_gaps():
    y = np.zeros(SR * 6, np.float32)
    t = np.arange(SR) / SR
    for k in (0, 2.5, 4.5):  # three 1 s tones separated by silence
        a = int(k * SR)
        y[a: a + SR] = 0.8 * np.sin(2 * np.pi * 440 * t)
    pool = build_pool([Song("g", "/g.wav", y)], "silence")
    assert len(pool.chunks) == 3
    starts = [c.start / SR for c in pool.chunks]
    assert starts == pytest.approx([0.0, 2.4, 4.4], abs=0.03)  # 100 ms of silence kept


def test_beat_chunks_match_the_click_track():
    pool = build_pool([song(24, 3)], "beats:4")
    lens = np.array([c.length for c in pool.chunks]) / SR
    assert len(lens) >= 4
    assert np.median(lens) == pytest.approx(2.0, rel=0.1)  # 4 beats at 120 bpm


def test_bad_input_is_skipped_with_messages(tmp_path):
    sf.write(tmp_path / "good stereo 44k.wav", np.stack([melody(8, 1, 44100)] * 2, 1), 44100)
    sf.write(tmp_path / "good mono 16k.flac", melody(8, 2, 16000), 16000)
    sf.write(tmp_path / "silent.wav", np.zeros(SR * 3, np.float32), SR)
    sf.write(tmp_path / "tiny.wav", melody(0.2, 3), SR)
    (tmp_path / "broken.ogg").write_bytes(b"OggS not really" * 10)
    songs, msgs = load_songs([tmp_path])
    assert sorted(s.name for s in songs) == ["good mono 16k", "good stereo 44k"]
    assert all(s.sr == SR and s.y.ndim == 1 for s in songs)
    text = " ".join(msgs)
    assert "broken.ogg" in text and "silent" in text and "tiny.wav" in text
    with pytest.raises(StitcherError):
        load_pool([tmp_path / "broken.ogg"])


def test_song_shorter_than_a_chunk_becomes_one_chunk():
    pool = build_pool([song(3, 0), song(12, 1)], "fixed:5")
    assert [c.song for c in pool.chunks].count(0) == 1
    assert any("shorter than one chunk" in m for m in pool.messages)


def test_boundary_scorer_finds_true_successors_better_than_chance():
    pool = build_pool([Song(f"g{k}", f"/g{k}.wav", glide(40, k)) for k in range(3)], "fixed:2")
    m = evaluate(pool, BoundaryScorer())
    r = evaluate(pool, RandomScorer())
    assert m["queries"] == r["queries"] > 30
    assert m["mrr"] > r["mrr"] + 0.1
    assert 0.0 <= m["auc"] <= 1.0


class Toy(Encoded):
    """Scores that prefer the natural successor, then anything of the same song."""

    def __init__(self, pool):
        n = len(pool.chunks)
        s = np.zeros((n, n), np.float32)
        for i in range(n):
            for j in range(n):
                s[i, j] = 0.5 * (pool.chunks[i].song == pool.chunks[j].song) + 0.01 * ((i * 7 + j * 3) % 11)
            if pool.successor(i) is not None:
                s[i, pool.successor(i)] = 2.0
        self.m = s
        self.ends = self.starts = np.zeros((n, 1), np.float32)

    def scores(self, rows):
        return self.m[np.atleast_1d(rows)]

    def pair(self, a, b):
        return float(self.m[a, b])


def test_chain_rules_reuse_and_runs():
    pool = build_pool([song(30, k) for k in range(3)], "fixed:2")
    enc = Toy(pool)
    chain = build_chain(pool, enc, ChainRules(target_s=40, start=0, reuse=1, max_run=1))
    items = chain.items
    assert len(set(items)) == len(items)  # reuse limit 1
    assert all(a != b for a, b in zip(items, items[1:]))
    runs = [pool.successor(a) == b for a, b in zip(items, items[1:])]
    assert not any(x and y for x, y in zip(runs, runs[1:]))  # never 2 natural successors in a row
    assert sum(pool.chunks[i].length for i in items) / SR >= 40
    beam = build_chain(pool, enc, ChainRules(target_s=20, start=0, method="beam", beam=3))
    assert beam.items[0] == 0 and len(beam.items) >= 10
    alts = alternatives(pool, enc, chain, 3, count=4)
    assert len(alts) == 4 and chain.items[3] not in [a for a, _ in alts]
    new = swap(pool, enc, chain, 3, alts[1][0], ChainRules(target_s=40, start=0))
    assert new.items[:3] == chain.items[:3] and new.items[3] == alts[1][0]


def test_render_crossfades_without_clicks(tmp_path):
    t = np.arange(SR * 4) / SR
    a = Song("a", "/a.wav", (0.9 * np.sin(2 * np.pi * 100 * t)).astype(np.float32))
    b = Song("b", "/b.wav", (-0.9 * np.cos(2 * np.pi * 137 * t)).astype(np.float32))
    pool = build_pool([a, b], "fixed:1")
    chain = build_chain(pool, Toy(pool), ChainRules(target_s=3, start=0))
    chain.items = [0, 5, 2]  # a -> b -> a: hard cuts would jump by up to 1.8
    chain.scores = [float("nan"), 0.1, 0.1]
    r = render(pool, chain, crossfade_ms=40, beat_align=False)
    assert len(r.y) == 3 * SR and len(r.joins) == 2
    max_step = 2 * np.pi * 137 / SR * 0.9 * 1.5  # the largest step of the sines, with margin
    assert np.max(np.abs(np.diff(r.y))) < max_step
    rep = seam_report(pool, r, chain)
    assert len(rep["joins"]) == 2 and rep["max_jump"] < max_step
    p = write_csv(tmp_path / "c.csv", pool, r, chain)
    lines = p.read_text().splitlines()
    assert lines[0] == "position_s,source,start_s,end_s,score" and len(lines) == 4
    assert lines[2].split(",")[1] == "b.wav"


def test_pool_of_one_song():
    pool = build_pool([song(20, 5)], "fixed:2")
    enc = BoundaryScorer().encode(pool)
    chain = build_chain(pool, enc, ChainRules(target_s=30, start=0, reuse=1))
    assert len(chain.items) >= 10  # reuse limit relaxed rather than stopping short
    assert all(a != b for a, b in zip(chain.items, chain.items[1:]))


def test_tiny_training_and_model_file_roundtrip(tmp_path):
    from musiclab.stitcher.scorers import EdgeScorer, load_any
    from musiclab.stitcher.train import train_edge

    songs = [song(20, k) for k in range(3)]
    sc, hist = train_edge(songs, steps=6, frames=16, width=8, dim=8, cuts_per_song=8, threads=1)
    assert hist["steps_done"] == 6 and np.isfinite(hist["loss"][-1])
    path = sc.to_file(tmp_path / "m.pt")
    back = load_any(str(path))
    assert isinstance(back, EdgeScorer) and back.net.frames == 16
    pool = build_pool(songs, "fixed:2")
    e1, e2 = sc.encode(pool), back.encode(pool)
    np.testing.assert_allclose(e1.scores([0, 1]), e2.scores([0, 1]), atol=1e-5)
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ModelFileError):
        EdgeScorer.load(str(tmp_path / "junk.pt"))


def test_peak_term_roundtrip_and_dot_product_form(tmp_path):
    """The v4 metric with the whitened high-resolution spectrum ("peaks") term: the
    saved file reloads to the same scores, the fixed peak share survives, and a pool's
    scores are exactly the dot products of per-edge codes."""
    import torch

    from musiclab.stitcher.features import N_CHANNELS, PEAK_BINS, frame_features
    from musiclab.stitcher.scorers import EdgeScorer, load_any
    from musiclab.stitcher.train import train_edge

    f = frame_features(melody(3.0, 0)[None], peaks=True)
    assert f.shape[1] == N_CHANNELS + PEAK_BINS and torch.isfinite(f).all()
    songs = [song(20, k) for k in range(3)]
    sc, hist = train_edge(songs, steps=4, frames=16, peaks=12, peak_share=0.6, cuts_per_song=8, threads=1)
    assert sc.net.peaks == 12 and sc.net.peak_share == pytest.approx(0.6)
    back = load_any(str(sc.to_file(tmp_path / "p.pt")))
    assert isinstance(back, EdgeScorer) and back.net.peaks == 12 and back.net.peak_share == pytest.approx(0.6)
    pool = build_pool(songs, "fixed:2")
    e1, e2 = sc.encode(pool), back.encode(pool)
    np.testing.assert_allclose(e1.scores([0, 1]), e2.scores([0, 1]), atol=1e-5)
    # pool-normalised: s/tau plus a row and a column term, and exp(scores) is doubly stochastic
    full = (e1.ends @ e1.starts.T).astype(np.float64) / e1.tau
    assert e1.tau == pytest.approx(1.0 / float(sc.net.logit_scale.detach().exp()))
    np.testing.assert_allclose(e1.scores([2])[0, 3], full[2, 3] + e1.row_bias[2] + e1.col_bias[3], atol=1e-4)
    np.testing.assert_allclose(e1.pair(2, 3), e1.scores([2])[0, 3], atol=1e-4)
    P = np.exp(e1.scores(list(range(len(pool.chunks)))).astype(np.float64))
    np.testing.assert_allclose(P.sum(axis=0), 1.0, atol=1e-4)  # columns exact after each iteration
    from musiclab.stitcher.scorers import PoolNormalized

    conv = PoolNormalized(e1.ends, e1.starts, e1.tau, max_iter=5000, tol=1e-4)  # run to convergence
    P = np.exp(conv.scores(list(range(len(pool.chunks)))).astype(np.float64))
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-3)
    np.testing.assert_allclose(P.sum(axis=0), 1.0, atol=1e-3)


def test_seed_model_scores_match_its_forward_pass():
    """The factorised pair scoring of the seed CNN-LSTM equals its plain forward pass."""
    import torch

    from musiclab.stitcher.seed import SeedScorer, _edges, _modules

    torch.manual_seed(0)
    net = _modules()(filters=16, hidden=8, dense=4)
    pool = build_pool([song(12, k) for k in range(2)], "fixed:2")
    sc = SeedScorer(net)
    s = sc.encode(pool).scores([0, 3])
    e, st = _edges(pool)
    with torch.no_grad():
        ref = net(torch.from_numpy(e[[0] * len(st)]), torch.from_numpy(st)).numpy()
    np.testing.assert_allclose(s[0], ref, atol=1e-4)


def _max_song_run(pool, items):
    best = run = 0
    for k, i in enumerate(items):
        run = run + 1 if k and pool.chunks[i].song == pool.chunks[items[k - 1]].song else 1
        best = max(best, run)
    return best


def test_song_variety_rule():
    pool = build_pool([song(30, k) for k in range(3)], "fixed:2")  # 3 songs, 15 chunks each
    enc = Toy(pool)  # prefers the same song: without the rule the chain never leaves song 0
    base = dict(target_s=26, start=0, reuse=1, max_run=1)  # 13 chunks: song 0 alone has enough
    old = build_chain(pool, enc, ChainRules(**base))
    assert {pool.chunks[i].song for i in old.items} == {0}
    assert build_chain(pool, enc, ChainRules(**base, max_same_song=0)).items == old.items  # 0 = unchanged
    for method in ("greedy", "beam"):
        ch = build_chain(pool, enc, ChainRules(**base, max_same_song=2, method=method, beam=3))
        assert _max_song_run(pool, ch.items) <= 2, method
        assert len({pool.chunks[i].song for i in ch.items}) >= 2, method
        assert len(set(ch.items)) == len(ch.items)  # reuse limit still kept
        assert sum(pool.chunks[i].length for i in ch.items) / SR >= 26
    # the rule also holds for alternatives and for a chain rebuilt after a swap
    rules = ChainRules(**base, max_same_song=2)
    ch = build_chain(pool, enc, rules)
    k = next(k for k in range(2, len(ch.items)) if _max_song_run(pool, ch.items[k - 2: k]) == 2)
    same = pool.chunks[ch.items[k - 1]].song
    alts = alternatives(pool, enc, ch, k, count=5, rules=rules)
    assert alts and all(pool.chunks[a].song != same for a, _ in alts)
    new = swap(pool, enc, ch, k, alts[0][0], rules)
    assert new.items[:k] == ch.items[:k] and _max_song_run(pool, new.items) <= 2
    # beyond what the pool allows (one song only), the rule gives way instead of stopping short
    one = build_pool([song(20, 5)], "fixed:2")
    ch = build_chain(one, Toy(one), ChainRules(target_s=30, start=0, reuse=1, max_same_song=2))
    assert sum(one.chunks[i].length for i in ch.items) / SR >= 30


def test_rendered_song_reaches_its_target_despite_beat_snapping():
    """Beat-snapped joins shorten chunks; render_to_length chains on until the target is met."""
    from musiclab.stitcher.chain import ChainRules, build_chain, render, render_to_length

    pool = build_pool([song(30, k) for k in range(3)], "fixed:2")
    enc = Toy(pool)
    for s in pool.songs:  # beats 0.29 s apart: snapping moves chunk edges by up to ~0.15 s
        s.beats = np.arange(int(0.2 * pool.sr), len(s.y), int(0.29 * pool.sr))
    rules = ChainRules(target_s=20.0, start=0, reuse=1, max_run=1, max_same_song=2)
    chain = build_chain(pool, enc, rules)
    plain = render(pool, chain, 60.0, beat_align=True)
    chain2, r = render_to_length(pool, enc, chain, rules, 60.0, beat_align=True)
    assert len(plain.y) / plain.sr < 20.0  # snapping left the plain render short: the case at hand
    assert len(r.y) / r.sr >= 20.0
    assert chain2.items[: len(chain.items)] == chain.items  # extended, not rebuilt
    same, r2 = render_to_length(pool, enc, chain2, rules, 60.0, beat_align=True)
    assert same.items == chain2.items and len(r2.y) == len(r.y)  # long enough: nothing added


def test_pool_normalisation_marks_down_a_hub():
    """A start that fits after every end (a hub) wins every plain ranking; the dual
    softmax gives each end back its own match."""
    from musiclab.stitcher.scorers import Encoded, PoolNormalized

    rng = np.random.default_rng(0)
    n, d = 12, 16
    ends = rng.normal(size=(n, d))
    ends /= np.linalg.norm(ends, axis=1, keepdims=True)
    starts = ends + 0.1 * rng.normal(size=(n, d))  # start i is the true match of end i
    # one extra dimension that every end has and only the hub start: it scores 2 against every end
    ends = np.hstack([ends, np.ones((n, 1))])
    starts = np.hstack([starts, np.zeros((n, 1))])
    hub = np.zeros((1, d + 1))
    hub[0, -1] = 2.0
    starts = np.vstack([starts, hub])
    ends = np.vstack([ends, np.hstack([rng.normal(size=(1, d)), [[0.0]]])])
    plain = Encoded(ends, starts)
    norm = PoolNormalized(ends, starts, tau=0.1)
    blocked = PoolNormalized(ends, starts, tau=0.1, max_full=4, block=5)  # big-pool path: one dual-softmax pass
    assert blocked.iterations == 1 and norm.iterations > 1
    plain_hits = sum(int(np.argmax(plain.scores([i])[0])) == i for i in range(n))
    norm_hits = sum(int(np.argmax(norm.scores([i])[0])) == i for i in range(n))
    assert sum(int(np.argmax(plain.scores([i])[0])) == n for i in range(n)) == n  # the hub wins every plain ranking
    assert norm_hits >= n - 1 and norm_hits > plain_hits
    assert sum(int(np.argmax(blocked.scores([i])[0])) == i for i in range(n)) >= n - 1
    assert np.all(norm.scores(list(range(n + 1))) <= 1e-3)  # log-probabilities


def test_edge_scorer_pool_norm_in_the_file(tmp_path):
    import torch

    from musiclab.errors import ModelFileError
    from musiclab.stitcher.scorers import EdgeScorer, Encoded, PoolNormalized
    from musiclab.stitcher.train import train_edge

    songs = [song(12, k) for k in range(2)]
    sc, _ = train_edge(songs, steps=2, frames=16, cuts_per_song=4, threads=1)
    assert sc.pool_norm == "sinkhorn"
    f = sc.to_file(tmp_path / "m.pt")
    pool = build_pool(songs, "fixed:2")
    assert isinstance(EdgeScorer.load(str(f)).encode(pool), PoolNormalized)
    obj = torch.load(f, weights_only=True)
    del obj["config"]["pool_norm"]  # a file from before: plain cosines
    torch.save(obj, tmp_path / "old.pt")
    enc = EdgeScorer.load(str(tmp_path / "old.pt")).encode(pool)
    assert type(enc) is Encoded
    obj["config"]["pool_norm"] = "magic"
    torch.save(obj, tmp_path / "bad.pt")
    with pytest.raises(ModelFileError, match="pool normalisation"):
        EdgeScorer.load(str(tmp_path / "bad.pt"))


def test_encoded_ends_the_import_circle_and_the_net_loads_lazily():
    """scorers.py and seed.py build on encoded.py, not on each other; the edge network's module
    (which imports torch at its top) is only imported when a learned model is made."""
    import ast
    import subprocess
    import sys
    from pathlib import Path

    import musiclab.stitcher as pkg

    root = Path(pkg.__file__).parent

    def top_imports(name):
        tree = ast.parse((root / name).read_text(encoding="utf-8"))
        return {n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.level}

    assert "seed" not in top_imports("scorers.py") and "scorers" not in top_imports("seed.py")
    assert "edgenet" not in top_imports("scorers.py") and "encoded" in top_imports("seed.py")
    code = ("import sys, musiclab.stitcher.scorers as s, musiclab.stitcher.seed, musiclab.stitcher.session\n"
            "assert s.Encoded.__module__ == 'musiclab.stitcher.encoded'\n"
            "print(','.join(m for m in ('torch', 'musiclab.stitcher.edgenet') if m in sys.modules))\n"
            "s.make_edge_net(16)\n"
            "print('musiclab.stitcher.edgenet' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True"]  # nothing heavy before, the net's module after


def test_session_alternatives_export_and_training_partials(tmp_path):
    """The tab's jobs, without Qt: alternatives at a join, export, and loss points through
    ``on_partial`` (no list out-parameter)."""
    from musiclab.stitcher import session
    from musiclab.stitcher.chain import alternatives

    pool = build_pool([song(30, k) for k in range(3)], "fixed:2")
    enc = Toy(pool)
    rules = ChainRules(target_s=20, start=0, max_same_song=2)
    built = session.build(pool, enc, rules, 30.0, False)
    k, alts = session.alternatives(built, 3, rules, count=4)
    assert k == 3 and [(i, s) for i, s, _c in alts] == alternatives(pool, enc, built.chain, 3, count=4, rules=rules)
    costs = [c for _i, _s, c in alts]  # ranked by the search's own join cost
    assert costs == sorted(costs)
    files = session.export(built, tmp_path / "new song.wav")
    assert [f.name for f in files] == ["new song.wav", "new song.csv"]
    assert sf.info(str(files[0])).frames == len(built.rendered.y)
    assert session.export(built, tmp_path / "only.csv") == [tmp_path / "only.csv"]
    points = []
    out = session.train([song(12, k) for k in range(2)], tmp_path / "m.pt", steps=20, on_partial=points.append)
    assert out.endswith("m.pt") and len(points) >= 2
    assert [s for s, _l in points] == sorted(s for s, _l in points) and all(np.isfinite(l) for _s, l in points)
