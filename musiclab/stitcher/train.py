"""Training the learned edge scorer (contrastive, on random cut points). No Qt.

The data are few songs, so positives are not only chunk boundaries: any frame-aligned
cut point ``t`` inside a song gives one (the audio before t -> the audio after t, with
a random gap of 0-140 ms so that a trimmed seam looks like training data). A batch
holds cut points from a few songs at once, so the negatives (every other start in the
batch, InfoNCE in both directions) include other moments of the same song, which is
what the ranking has to tell apart. Features of every song are computed once and
cached on disk.

Reproduce the shipped default::

    python -m musiclab.stitcher.train_default
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..jobs import OnProgress, ShouldStop, check_stop, report
from .features import N_CHANNELS, N_MELS, song_frames
from .pool import Song, _cache_dir, _song_hash, load_songs

MAX_GAP = 6  # frames (6*512/22050 = 139 ms)
# the shipped default's recipe (on top of train_edge's defaults), chosen by 2-fold
# cross-validation by song: see resources/models/stitcher/default.md
EDGE_RECIPE = {"peaks": 12, "peak_share": 0.67, "min_gap": 3}


def cached_song_frames(song: Song, use_cache: bool = True, peaks: bool = False):
    """``(N_CHANNELS, T)`` frame features of a song (``peaks``: plus the whitened
    high-resolution spectrum, cached separately as float16)."""
    import torch

    if peaks:
        base = cached_song_frames(song, use_cache)
        from .features import PEAK_BINS, PEAK_SMOOTH

        ppath = _cache_dir() / f"peaks{PEAK_BINS}-{PEAK_SMOOTH}_{_song_hash(song)}.npy" if use_cache else None
        if ppath is not None and ppath.exists():
            try:
                pk = torch.from_numpy(np.load(ppath).astype(np.float32))
                if pk.shape[1] == base.shape[1]:
                    return torch.cat([base, pk])
            except Exception:
                pass
        pk = song_frames(song.y, song.sr, peaks=True)[N_CHANNELS:]
        if ppath is not None:
            try:
                np.save(ppath, pk.numpy().astype(np.float16))
            except OSError:
                pass
        return torch.cat([base, pk.half().float()])

    path = _cache_dir() / f"frames_{_song_hash(song)}.npy" if use_cache else None
    if path is not None and path.exists():
        try:
            return torch.from_numpy(np.load(path))
        except Exception:
            pass
    f = song_frames(song.y, song.sr)
    if path is not None:
        try:
            np.save(path, f.numpy().astype(np.float32))
        except OSError:
            pass
    return f


def train_edge(
    songs: Sequence[Song],
    steps: int = 600,
    frames: int = 16,
    width: int = 0,
    dim: int = 0,
    rhythm: int = 0,
    xpred: int = 0,
    peaks: int = 0,
    peak_share: float = 0.0,
    min_gap: int = 0,
    songs_per_batch: int = 8,
    cuts_per_song: int = 24,
    lr: float = 3e-3,
    seed: int = 0,
    threads: Optional[int] = None,
    should_stop: ShouldStop = None,
    on_progress: OnProgress = None,
    on_loss=None,
    max_seconds: Optional[float] = None,
    cross: Optional[dict] = None,
    cross_weight: float = 0.0,
    cross_groups: int = 32,
):
    """Train an :class:`~musiclab.stitcher.scorers.EdgeScorer` on ``songs``.

    ``cross`` (from :func:`cross_pair_data`) with ``cross_weight > 0`` adds a second loss on
    joins between different songs graded by the seam audit: inside each group (one chunk end A,
    several other songs' starts B), every pair of candidates whose audit severities differ by
    more than :data:`CROSS_MARGIN` gives a logistic loss on their score difference (the less
    severe should score higher); ``cross_groups`` groups per step.

    ``on_loss(step, loss)`` is called every few steps (for a loss plot). Returns the
    scorer and a history dict.

    Under ``torchrun`` (:mod:`musiclab.distributed`) every rank draws the same global batch of
    cuts, embeds its block of rows, and the ranks exchange embeddings so each computes the loss
    over the whole batch (all in-batch negatives); gradients are summed over ranks, so the
    weights follow those of one process on the same batch. Rank 0 alone reports progress."""
    import torch
    import torch.nn.functional as F

    from ..distributed import world
    from .scorers import EdgeScorer, make_edge_net

    w = world()
    if not w.is_main:
        on_progress = on_loss = None

    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    feats = []
    for k, s in enumerate(songs):
        check_stop(should_stop)
        report(on_progress, 0, steps, f"features {k + 1}/{len(songs)}: {s.name}")
        f = cached_song_frames(s, peaks=bool(peaks))
        if f.shape[1] >= 2 * frames + 3 + MAX_GAP + 8:
            feats.append(f)
    if not feats:
        from .pool import StitcherError

        raise StitcherError("No song is long enough to train on (each needs a few seconds).")
    allf = torch.cat([f[:N_CHANNELS] for f in feats], dim=1)
    frames = max(frames, rhythm, peaks)
    # the peak terms' share is fixed only AFTER training: trained freely, the metric gives
    # them ~1/3 of the score, while on held-out songs (2-fold CV by song) ~2/3 ranks better
    net = make_edge_net(frames, width, dim, rhythm, xpred, peaks, 0.0)
    net.mean.copy_(allf.mean(dim=1, keepdim=True))
    net.std.copy_(allf.std(dim=1, keepdim=True).clamp(min=1e-3))
    del allf
    lens = np.array([f.shape[1] for f in feats], dtype=np.float64)
    prob = np.sqrt(lens) / np.sqrt(lens).sum()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    spb = min(songs_per_batch, len(feats))
    hist = {"step": [], "loss": [], "acc": []}
    t0 = time.monotonic()
    net.train()
    run_loss, run_acc = 0.0, 0.0
    for step in range(1, steps + 1):
        check_stop(should_stop)
        sidx = rng.choice(len(feats), size=spb, replace=False, p=prob)
        E, S, tags = [], [], []
        for si in sidx:
            f = feats[si]
            lo, hi = frames + 3, f.shape[1] - frames - MAX_GAP
            ks = rng.integers(lo, hi, size=cuts_per_song)
            gaps = rng.integers(min(min_gap, MAX_GAP), MAX_GAP + 1, size=cuts_per_song)
            for k, g in zip(ks, gaps):
                E.append(f[:, k - frames - 3: k - 3])
                S.append(f[:, k + g: k + g + frames])
                tags.append((si, k))
        e = torch.stack(E)
        s = torch.stack(S)
        # augmentation, the same on both sides of a cut: loudness and a random EQ
        # (tilt + smooth ripple over the mel bands), so that the model cannot simply
        # memorise the timbre of the training songs
        B = len(E)
        band = torch.linspace(-1, 1, N_MELS)
        gain = torch.from_numpy(rng.uniform(-0.3, 0.3, size=(B, 1)).astype(np.float32))
        tilt = torch.from_numpy(rng.uniform(-0.25, 0.25, size=(B, 1)).astype(np.float32))
        rip = torch.from_numpy(rng.uniform(-0.1, 0.1, size=(B, 1)).astype(np.float32))
        fr = torch.from_numpy(rng.uniform(1, 4, size=(B, 1)).astype(np.float32))
        ph = torch.from_numpy(rng.uniform(0, 6.28, size=(B, 1)).astype(np.float32))
        eq = (gain + tilt * band + rip * torch.sin(fr * 3.14 * band + ph))[:, :, None]
        e[:, :N_MELS] += eq
        s[:, :N_MELS] += eq
        if w.distributed:
            ze, zs = _embed_sharded(net, e, s, w)
        else:
            ze, zs = net.embed_end(e), net.embed_start(s)
        logits = net.logit_scale.exp().clamp(max=100.0) * (ze @ zs.T)
        # cut points of one song closer than ~0.5 s are not negatives of each other
        song_ids = torch.tensor([t[0] for t in tags])
        pos = torch.tensor([t[1] for t in tags])
        near = (song_ids[:, None] == song_ids[None, :]) & ((pos[:, None] - pos[None, :]).abs() < 24)
        near.fill_diagonal_(False)
        logits = logits.masked_fill(near, -1e4)
        target = torch.arange(len(E))
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        if cross is not None and cross_weight > 0:
            loss = loss + cross_weight * _cross_loss(net, cross, rng, cross_groups)
        opt.zero_grad()
        loss.backward()
        if w.distributed:
            _sum_grads(net)
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        sched.step()
        acc = float((logits.argmax(1) == target).float().mean())
        lv = float(loss.detach())
        run_loss = 0.9 * run_loss + 0.1 * lv if step > 1 else lv
        run_acc = 0.9 * run_acc + 0.1 * acc if step > 1 else acc
        if step % 10 == 0 or step == steps:
            hist["step"].append(step)
            hist["loss"].append(round(run_loss, 4))
            hist["acc"].append(round(run_acc, 4))
            if on_loss is not None:
                on_loss(step, run_loss)
            report(on_progress, step, steps, f"loss {run_loss:.3f}, batch top-1 {run_acc:.2f}")
        if max_seconds is not None and w.any(time.monotonic() - t0 > max_seconds):
            report(on_progress, steps, steps, f"time limit reached after {step} steps")
            break
    net.eval()
    if net.peaks and peak_share > 0:
        net.peak_share = float(peak_share)
    hist["seconds"] = round(time.monotonic() - t0, 1)
    hist["steps_done"] = step
    meta = {"frames": frames, "peaks": peaks, "peak_share": peak_share, "min_gap": min_gap, "songs": [s.name for s in songs], "steps": step, "final_loss": round(run_loss, 4),
            "date": time.strftime("%Y-%m-%d")}
    if cross is not None and cross_weight > 0:
        meta.update({"cross_weight": cross_weight, "cross_pairs": int(len(cross["group"])),
                     "cross_songs": list(cross.get("songs") or [])})
        meta["songs"] = sorted(set(meta["songs"]) | set(cross.get("songs") or []))
    return EdgeScorer(net, meta), hist


CROSS_MARGIN = 0.02  # audit severities closer than this are not ordered by the cross-song loss


def _cross_loss(net, cross: dict, rng, groups: int):
    """Pairwise logistic loss inside random groups of audited cross-song candidates."""
    import torch
    import torch.nn.functional as F

    starts = cross["group_start"]
    pick = rng.choice(len(starts) - 1, size=min(groups, len(starts) - 1), replace=False)
    idx = np.concatenate([np.arange(starts[g], starts[g + 1]) for g in pick])
    it = torch.from_numpy(idx)
    e, s = cross["E"][it].float(), cross["S"][it].float()
    sc = (net.embed_end(e) * net.embed_start(s)).sum(-1) * net.logit_scale.exp().clamp(max=100.0)
    sev = cross["severity"][it]
    g = cross["group"][it]
    same = g[:, None] == g[None, :]
    better = same & (sev[:, None] + CROSS_MARGIN < sev[None, :])  # row i is less severe than column j
    if not bool(better.any()):
        return sc.sum() * 0.0
    diff = sc[:, None] - sc[None, :]
    return F.softplus(-diff[better]).mean()


def cross_pair_data(pool_files: Sequence[Sequence], frames: int = 16, queries: int = 30, per_query: int = 6,
                    chunking: str = "beats:8", moments: int = 400, seed: int = 0, should_stop: ShouldStop = None,
                    on_progress: OnProgress = None) -> dict:
    """Cross-song joins judged by the seam audit, as training data for :func:`train_edge`'s second
    loss: for each pool (a list of files) the pairs of :func:`.evaluate.cross_song_pairs`, spliced
    and audited (:func:`.evaluate.audit_pair`), with the edge features of A's end and B's start
    (``(P, C, frames)``, float16, peaks included, untrimmed as the search scores them). Groups are
    contiguous (``group_start``)."""
    import torch

    from .evaluate import audited_pools
    from .features import edge_features

    rng = np.random.default_rng(seed)
    E, S, grp, sev, aud, names = [], [], [], [], [], set()
    gid = 0
    for _pk, pool, pairs in audited_pools(pool_files, chunking, queries, per_query, moments, seed, rng,
                                          should_stop, on_progress):
        names |= {s.name for s in pool.songs}
        fe, fs = edge_features(pool, frames, 0, peaks=True)
        for a, judged in pairs:
            for b, jd in judged:
                E.append(fe[a].half())
                S.append(fs[b].half())
                grp.append(gid)
                sev.append(float(jd["severity"]))
                aud.append(bool(jd["audible"]))
            gid += 1
    report(on_progress, len(pool_files), len(pool_files), "audited cross-song pairs")
    group = np.array(grp, dtype=np.int64)
    bounds = np.r_[0, np.flatnonzero(np.diff(group)) + 1, len(group)]
    return {"E": torch.stack(E), "S": torch.stack(S), "group": torch.from_numpy(group),
            "group_start": bounds, "severity": torch.tensor(sev, dtype=torch.float32),
            "audible": torch.tensor(aud), "songs": sorted(names)}


def cross_pair_figures(scorer, cross: dict) -> dict:
    """The cross-song figures of :func:`.evaluate.cross_song_audit` (plain scores: a cosine per pair,
    no pool normalisation) on stored pairs, e.g. the validation artists' pairs."""
    import torch

    from .evaluate import pair_figures

    with torch.inference_mode():
        sc = (scorer.net.embed_end(cross["E"].float()) * scorer.net.embed_start(cross["S"].float())).sum(-1).numpy()
    rows = [{"pool": 0, "a": int(g), "audible": bool(a), "severity": float(v), "scores": {"m": float(x)}}
            for g, a, v, x in zip(cross["group"].tolist(), cross["audible"].tolist(), cross["severity"].tolist(), sc)]
    return pair_figures(rows)["m"]


def _embed_sharded(net, e, s, w):
    """Embeddings of the whole batch, computed block by block across ranks: this rank's block
    keeps its autograd graph, the others' arrive as constants (their ranks differentiate them)."""
    import torch
    import torch.distributed as dist

    B = e.shape[0]
    bounds = np.linspace(0, B, w.size + 1).astype(int)
    lo, hi = bounds[w.rank], bounds[w.rank + 1]
    width = int(np.diff(bounds).max())
    mine_e, mine_s = net.embed_end(e[lo:hi]), net.embed_start(s[lo:hi])
    out = []
    for mine in (mine_e, mine_s):
        pad = torch.zeros((width,) + tuple(mine.shape[1:]), dtype=mine.dtype)
        pad[: hi - lo] = mine.detach()
        got = [torch.empty_like(pad) for _ in range(w.size)]
        dist.all_gather(got, pad)
        parts = [mine if r == w.rank else got[r][: bounds[r + 1] - bounds[r]] for r in range(w.size)]
        out.append(torch.cat(parts))
    return out[0], out[1]


def _sum_grads(net) -> None:
    import torch.distributed as dist

    for p in net.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)


def train_from_paths(paths: Sequence[str | Path], out: Optional[str | Path] = None, steps: int = 1200,
                     should_stop: ShouldStop = None, on_progress: OnProgress = None, on_loss=None, **kw):
    """Load songs (skipping bad files), train, optionally save. Returns (scorer, history, messages)."""
    songs, msgs = load_songs(paths, should_stop=should_stop, on_progress=on_progress)
    if not songs:
        from .pool import StitcherError

        raise StitcherError("No usable song to train on. " + " ".join(msgs))
    scorer, hist = train_edge(songs, steps=steps, should_stop=should_stop, on_progress=on_progress,
                              on_loss=on_loss, **kw)
    if out:
        scorer.to_file(out)
    return scorer, hist, msgs
