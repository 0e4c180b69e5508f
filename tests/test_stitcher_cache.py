"""The stitcher's disk cache (per-song analysis, beats, edge embeddings) and the lazy source decode."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from musiclab.stitcher import cache, joins
from musiclab.stitcher.chain import ChainRules, build_chain, render_to_length
from musiclab.stitcher.pool import Song, build_pool, load_songs
from musiclab.stitcher.scorers import BoundaryScorer

from test_stitcher_core import melody


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A private cache folder and three songs on disk: two 22.05 kHz mono, one 44.1 kHz stereo."""
    monkeypatch.setenv("MUSICLAB_CACHE", str(tmp_path / "cache"))
    cache.STATS.clear()
    d = tmp_path / "songs"
    d.mkdir()
    paths = []
    for k, bpm in enumerate((120.0, 126.0)):
        p = d / f"m{k}.wav"
        sf.write(p, melody(16.0, k, bpm=bpm), 22050)
        paths.append(p)
    y = melody(16.0, 7, sr=44100, bpm=115.0)
    st = np.stack([y, 0.8 * np.roll(y, 300)], axis=1)
    p = d / "st.flac"
    sf.write(p, st, 44100)
    paths.append(p)
    return paths


@pytest.fixture
def counted(monkeypatch):
    """Counts of the expensive analysis steps: the frame analysis and the beat tracker."""
    import librosa

    n = {"frames": 0, "beats": 0}
    frames, beat_track = joins._frames, librosa.beat.beat_track

    def f(*a, **k):
        n["frames"] += 1
        return frames(*a, **k)

    def b(*a, **k):
        n["beats"] += 1
        return beat_track(*a, **k)

    monkeypatch.setattr(joins, "_frames", f)
    monkeypatch.setattr(librosa.beat, "beat_track", b)
    return n


RULES = ChainRules(target_s=30.0, seed=0, reuse=1, max_run=1, max_same_song=2, variety_weight=1.0)


def _build(paths):
    songs, msgs = load_songs(paths)
    assert len(songs) == 3, msgs
    pool = build_pool(songs, "fixed:2")
    enc = BoundaryScorer().encode(pool)
    chain = build_chain(pool, enc, RULES)
    chain, r = render_to_length(pool, enc, chain, RULES, 60.0, beat_align=True)
    return pool, chain, r


def test_second_build_reads_the_cache_and_equals_the_first(files, counted):
    pool1, chain1, r1 = _build(files)
    assert counted["frames"] == 3 and counted["beats"] == 3
    assert cache.STATS.get("analysis_saved") == 3
    assert r1.sr == 44100 and r1.n_channels == 2  # the sources' quality
    pool2, chain2, r2 = _build(files)  # fresh song objects: nothing in memory
    assert counted["frames"] == 3 and counted["beats"] == 3, "the second build recomputed the analysis"
    assert cache.STATS.get("analysis_hit") == 3
    assert all(type(s.analysis).__name__ == "CachedAnalysis" for s in pool2.songs)
    assert chain1.items == chain2.items
    assert np.array_equal(r1.audio, r2.audio)
    assert r1.join_info == r2.join_info
    # the lazy source decode renders exactly what decoding whole files did
    from musiclab.stitcher import sources
    from musiclab.stitcher.chain import render

    with pytest.MonkeyPatch.context() as mp:
        for name in ("output_format", "source_audio", "stretch"):
            mp.setattr(sources, name, getattr(joins, name))
        old = render(pool2, chain2, 60.0, True, rules=RULES)
    assert np.array_equal(old.audio, r2.audio) and old.sr == r2.sr
    for s1, s2 in zip(pool1.songs, pool2.songs):
        a, b = s1.analysis, s2.analysis
        for f in ("chroma", "mfcc", "flux", "beats"):
            assert np.array_equal(getattr(a, f), getattr(b, f))
        assert a.period == b.period and a.lufs == b.lufs
        idx = np.random.default_rng(0).integers(0, len(a.kw_cumsq), 50)
        assert len(a.kw_cumsq) == len(b.kw_cumsq)
        assert all(a.kw_cumsq[i] == b.kw_cumsq[i] for i in idx)  # recomputed block by block, exactly


def test_moved_or_copied_song_is_a_hit(files, counted, tmp_path):
    songs, _ = load_songs(files[:1])
    joins.analyse_song(songs[0])
    assert counted["frames"] == 1
    other = tmp_path / "elsewhere" / "renamed.wav"
    other.parent.mkdir()
    shutil.copy(files[0], other)
    files[0].unlink()
    moved, _ = load_songs([other])
    a = joins.analyse_song(moved[0])
    assert counted["frames"] == 1 and cache.STATS.get("analysis_hit") == 1
    assert np.array_equal(a.chroma, songs[0].analysis.chroma)


def test_corrupt_or_foreign_entries_are_recomputed(files, counted):
    _, chain1, r1 = _build(files)
    d = cache.cache_dir()
    entries = sorted(d.glob("analysis-*.npz"))
    assert len(entries) == 3
    entries[0].write_bytes(b"not an npz at all")
    np.savez(entries[1], meta=np.array("{}"), chroma=np.zeros((12, 3)))  # foreign: wrong meta and shapes
    with open(entries[2], "r+b") as fh:  # truncated
        fh.truncate(100)
    for p in d.glob("beats-*.npz"):
        p.write_bytes(b"\x00" * 10)
    _, chain2, r2 = _build(files)
    assert counted["frames"] == 6 and counted["beats"] == 6
    assert chain1.items == chain2.items and np.array_equal(r1.audio, r2.audio)
    # the recomputed entries replaced the bad ones
    cache.STATS.clear()
    _build(files)
    assert counted["frames"] == 6 and cache.STATS.get("analysis_hit") == 3


def test_cache_off_recomputes(files, counted, monkeypatch):
    monkeypatch.setenv("MUSICLAB_STITCHER_CACHE", "0")
    _build(files)
    _build(files)
    assert counted["frames"] == 6


def test_in_memory_song_without_a_file(files, counted):
    s = Song(name="x", path="/nowhere/x.wav", y=melody(12.0, 3))
    a = joins.analyse_song(s)
    b = joins.analyse_song(Song(name="y", path="", y=s.y.copy()))
    assert counted["frames"] == 1 and np.array_equal(a.mfcc, b.mfcc)
    # a different audio under the same (missing) path is not confused with it
    joins.analyse_song(Song(name="x", path="/nowhere/x.wav", y=melody(12.0, 4)))
    assert counted["frames"] == 2


def test_edge_embeddings_cached_per_song_and_model(files, monkeypatch):
    from musiclab.stitcher.scorers import EdgeScorer

    songs, _ = load_songs(files)
    pool = build_pool(songs, "fixed:2")
    sc = EdgeScorer.load("default")
    ref = sc.encode(pool)
    calls = []
    embed = cache.embed_song
    monkeypatch.setattr(cache, "embed_song", lambda *a, **k: calls.append(1) or embed(*a, **k))
    e1 = cache.encode_cached(sc, pool)
    assert len(calls) == 3
    assert np.abs(e1.ends - ref.ends).max() < 1e-5 and np.abs(e1.starts - ref.starts).max() < 1e-5
    assert np.abs(e1.scores([0, 5]) - ref.scores([0, 5])).max() < 1e-3
    pool2 = build_pool(load_songs(files)[0], "fixed:2")
    e2 = cache.encode_cached(EdgeScorer.load("default"), pool2)
    assert len(calls) == 3 and cache.STATS.get("edges_hit") == 3 and cache.STATS.get("poolnorm_hit") == 1
    assert np.array_equal(e1.row_bias, e2.row_bias) and np.array_equal(e1.col_bias, e2.col_bias)
    assert np.array_equal(e1.ends, e2.ends) and np.array_equal(e1.scores([3]), e2.scores([3]))
    # other chunk spans are other entries; a corrupt entry is recomputed
    build = build_pool(load_songs(files)[0], "fixed:3")
    cache.encode_cached(sc, build)
    assert len(calls) == 6
    for p in cache.cache_dir().glob("edges-*.npz"):
        p.write_bytes(b"garbage")
    e3 = cache.encode_cached(sc, pool2)
    assert len(calls) == 9 and np.array_equal(e1.ends, e3.ends)


def test_lazy_source_matches_the_whole_file(files):
    from musiclab.stitcher import sources

    songs, _ = load_songs(files)
    for s in songs:
        for sr, ch in ((44100, 2), (48000, 2), (22050, 1)):
            whole = joins.source_audio(s, sr, ch)
            lazy = sources.source_audio(s, sr, ch)
            assert lazy.shape == whole.shape
            n = whole.shape[1]
            rng = np.random.default_rng(1)
            for lo in list(rng.integers(0, n - 20000, 8)) + [0, n - 5000, n - 10]:
                hi = min(n, lo + 15000)
                seg = lazy[:, lo:hi]
                assert seg.shape == (ch, hi - lo)
                assert np.array_equal(seg, whole[:, lo:hi])  # the same samples, not nearly
            assert lazy[:, n - 10: n + 100].shape == (ch, 10)
    joins._HQ.clear()
    rate, chans = sources.output_format(build_pool(songs, "fixed:2"), [0, 1, 2])
    assert (rate, chans) == (44100, 2)


def test_stretch_of_identical_channels_is_the_stereo_stretch():
    from musiclab.stitcher import sources

    y = melody(3.0, 5, sr=48000)
    x = np.repeat(y[None], 2, axis=0)
    for speed, shift in ((1.05, 0), (0.95, 2)):
        assert np.array_equal(sources.stretch(x, 48000, speed, shift), joins.stretch(x, 48000, speed, shift))
    st = np.stack([y, np.roll(y, 100)])
    assert np.array_equal(sources.stretch(st, 48000, 1.05, 0), joins.stretch(st, 48000, 1.05, 0))


def test_edge_features_cached_and_identical(files, monkeypatch):
    import torch

    from musiclab.stitcher import features

    pool = build_pool(load_songs(files)[0], "fixed:2")
    ref = features._edge_features(pool, 18, 0)
    calls = []
    inner = features._edge_features
    monkeypatch.setattr(features, "_edge_features", lambda *a, **k: calls.append(1) or inner(*a, **k))
    a = features.edge_features(pool, 18, 0)
    assert len(calls) == 3 and all(torch.equal(x, y) for x, y in zip(a, ref))
    b = features.edge_features(build_pool(load_songs(files)[0], "fixed:2"), 18, 0)
    assert len(calls) == 3 and cache.STATS.get("feats_hit") == 3
    assert all(torch.equal(x, y) for x, y in zip(b, ref))
    for p in cache.cache_dir().glob("feats-*.npz"):
        p.write_bytes(b"PK\x03\x04 broken zip")
    c = features.edge_features(pool, 18, 0)
    assert len(calls) == 6 and all(torch.equal(x, y) for x, y in zip(c, ref))
