"""The stitcher scorer trained on all shared audio but the REPORT artists (issue 15, item 4):
the artist splits, ranking on pools of clips, and the cross-song audit of joins."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA

EMO = DATA / "emotion" / "4q"
needs_clips = pytest.mark.skipif(not (EMO / "metadata.csv").exists(), reason="emotion clips not found")


@needs_clips
def test_splits_are_by_artist_disjoint_and_shared_with_the_benchmark():
    from musiclab.stitcher.train_default import artist_split, clip_artists, clip_set, tune_split

    sp = artist_split()
    art = clip_artists()
    tune, rep = sp["tune"], sp["report"]
    assert len(tune) + len(rep) == len(list(EMO.glob("Q*/*.ogg"))) and len(tune) > 200 and len(rep) > 200
    assert not {art[p.stem] for p in tune} & {art[p.stem] for p in rep}
    ts = tune_split()
    assert sorted(ts["train"] + ts["val"]) == sorted(tune)
    assert not {art[p.stem] for p in ts["train"]} & {art[p.stem] for p in ts["val"]}
    assert 0.15 < len(ts["val"]) / len(tune) < 0.4
    assert clip_set("tune-val") == ts["val"] and clip_set("report") == rep
    # the join benchmark draws its pools from the same halves
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import stitcher_joins

    assert stitcher_joins.artist_split() == sp


def test_ranking_pools_are_disjoint_and_cover_every_clip():
    from musiclab.stitcher.train_default import ranking_pools

    files = [Path(f"c{k:03d}.ogg") for k in range(97)]
    pools = ranking_pools(files, clips=20)
    assert len(pools) == 5 and sorted(p for pl in pools for p in pl) == files
    assert all(19 <= len(p) <= 20 for p in pools)
    assert ranking_pools(files, clips=20) == pools  # fixed seed


def _tone_song(name, seconds, f0, amp, sr=22050, seed=0):
    from musiclab.stitcher.pool import Song

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    beat = (np.sin(2 * np.pi * 2.0 * t) > 0.95).astype(np.float32)  # 120 bpm clicks
    y = amp * (0.6 * np.sin(2 * np.pi * f0 * t) + 0.3 * beat * rng.standard_normal(len(t)))
    return Song(name=name, path=f"/nowhere/{name}.wav", y=y.astype(np.float32), sr=sr)


def test_splice_joins_other_songs_at_the_stated_time():
    from musiclab.stitcher.evaluate import _splice, cross_song_pairs
    from musiclab.stitcher.pool import build_pool

    songs = [_tone_song("loud", 14, 220, 0.5), _tone_song("quiet", 14, 330, 0.02, seed=1)]
    pool = build_pool(songs, "fixed:2")
    pairs = cross_song_pairs(pool, 10, 3, np.random.default_rng(0))
    assert pairs
    for a, bs in pairs:
        assert all(pool.chunks[b].song != pool.chunks[a].song for b in bs)
        assert pool.chunks[a].end >= int(4.5 * pool.sr)
    a = next(i for i, c in enumerate(pool.chunks) if c.song == 0 and c.end >= 5 * pool.sr)
    b = next(i for i, c in enumerate(pool.chunks) if c.song == 1 and c.start == 0)
    y, t = _splice(pool, a, b)
    k = int(t * pool.sr)
    assert abs(t - 4.5) < 0.05
    assert np.abs(y[k - 4000: k - 2000]).max() > 0.2 and np.abs(y[k + 2000: k + 4000]).max() < 0.05


def test_cross_song_audit_hears_a_loudness_jump_and_scores_scorers(tmp_path):
    """Two songs 28 dB apart: every cross-song join is a loudness jump the audit flags; the
    figures for each scorer are present and in range."""
    from musiclab.stitcher.evaluate import cross_song_audit
    from musiclab.stitcher.scorers import EdgeScorer

    import soundfile as sf

    files = []
    for k, (f0, amp) in enumerate([(220, 0.5), (330, 0.02), (262, 0.5)]):
        s = _tone_song(f"s{k}", 14, f0, amp, seed=k)
        p = tmp_path / f"s{k}.wav"
        sf.write(p, s.y, s.sr)
        files.append(p)
    res = cross_song_audit({"default": EdgeScorer.load("default")}, [files], chunking="fixed:2", queries=8,
                           per_query=2, moments=120)
    assert res["pairs"] >= 8
    assert res["by_stat"].get("loudness", 0) >= res["pairs"] // 3
    for name in ("default", "default:plain", "boundary"):
        m = res["scorers"][name]
        assert m["pick_inaudible"] is not None and 0.0 <= m["pick_inaudible"] <= 1.0
        assert m["auc"] is None or 0.0 <= m["auc"] <= 1.0
    assert 0.0 <= res["inaudible_share"] < 0.9


@needs_clips
def test_model_trained_on_clips_names_them_and_ranking_counts_in_sample(tmp_path):
    """A model trained on TUNE clips lists them, so `stitcher eval` (and the clip ranking) count
    them as in-sample; the shipped model lists the tune-train clips and no clip of REPORT."""
    from musiclab.stitcher.evaluate import in_sample_songs
    from musiclab.stitcher.pool import build_pool, load_songs
    from musiclab.stitcher.scorers import EdgeScorer
    from musiclab.stitcher.train import EDGE_RECIPE, train_edge
    from musiclab.stitcher.train_default import clip_set, rank_on_clips

    train_files = clip_set("tune-train")[:3]
    songs, _ = load_songs(train_files)
    sc, hist = train_edge(songs, steps=3, cuts_per_song=8, threads=1, **EDGE_RECIPE)
    back = EdgeScorer.load(str(sc.to_file(tmp_path / "m.pt")))
    assert set(back.meta["songs"]) == {p.stem for p in train_files}
    pool = build_pool(songs, "fixed:5")
    assert in_sample_songs(pool, back) == [0, 1, 2]
    shipped = EdgeScorer.load("default")
    listed = set(shipped.meta["songs"])
    assert {p.stem for p in clip_set("tune-train")} <= listed
    assert not listed & {p.stem for p in clip_set("report") + clip_set("tune-val")}
    report = clip_set("report")[:4]
    res = rank_on_clips({"shipped": shipped, "mine": back}, report + train_files[:1],
                        chunkings=("fixed:5",), clips=5)
    assert res["pools"] == 1 and res["in_sample"] == {"shipped": 1, "mine": 1}
    f = res["figures"]["fixed:5"]
    assert set(f) == {"shipped", "shipped:plain", "mine", "mine:plain", "boundary"}
    assert all(0.0 < m["mrr"] <= 1.0 and m["queries"] > 10 for m in f.values())


def test_cross_loss_orders_candidates_by_audit_severity():
    """The second loss pushes the less severe candidate of a group above the more severe one,
    and train_edge records the audited clips in the model's training list."""
    import torch

    from musiclab.stitcher.features import N_CHANNELS, PEAK_BINS
    from musiclab.stitcher.scorers import make_edge_net
    from musiclab.stitcher.train import _cross_loss

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    C, G, K = N_CHANNELS + PEAK_BINS, 12, 4
    E = torch.randn(G * K, C, 16)
    S = torch.randn(G * K, C, 16)
    sev = torch.from_numpy(rng.uniform(0.5, 1.2, size=G * K).astype(np.float32))
    cross = {"E": E.half(), "S": S.half(), "group": torch.arange(G).repeat_interleave(K),
             "group_start": np.arange(0, G * K + 1, K), "severity": sev,
             "audible": sev > 1.0, "songs": ["x"]}
    net = make_edge_net(16, peaks=12)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = float(_cross_loss(net, cross, rng, G).detach())
    for _ in range(40):
        loss = _cross_loss(net, cross, rng, G)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(_cross_loss(net, cross, rng, G).detach()) < 0.8 * first
