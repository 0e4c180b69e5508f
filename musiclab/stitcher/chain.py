"""Chaining chunks into a new song, rendering it, and measuring its seams. No Qt.

* :func:`build_chain`: greedy or beam search over the scorer's matrix rows, with the
  rules: no chunk twice in a row, a reuse limit, at most ``max_run`` natural successors
  in a row (otherwise the result is just the source song), at most ``max_same_song``
  chunks of one source song in a row (song variety; 0 = no limit), optional "stay in
  one key" and "stay in one tempo".
  Key, tempo and "no chunk twice in a row" are hard; the others give way when nothing
  else is left: song variety first yields to the reuse limit (no other song has an
  unused chunk), and when reuse and runs leave nothing, greedy search reuses chunks
  (still preferring another song when the variety rule asks for one).
* :func:`alternatives` / :func:`swap`: the next-best chunks for one join; swapping one
  keeps the chain before it and rebuilds the rest.
* :func:`render`: joins beat-aligned where beats are known (each side snaps to its
  nearest beat within 0.3 s) and equal-power crossfaded, using the audio around the
  chunk edges in the source songs, so there is no hard cut anywhere.
* :func:`seam_report`: per join, the spectral novelty at the join as a z-score against
  the novelty at random moments inside the source songs, and the largest sample jump.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import numpy as np

from ..jobs import OnProgress, ShouldStop, check_stop, report
from .pool import KEY_NAMES, Pool, StitcherError, ensure_beats, estimate_key


@dataclass
class Chain:
    items: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)  # scores[k] = score of the join into items[k]; nan for k=0

    def copy(self) -> "Chain":
        return Chain(list(self.items), list(self.scores))


@dataclass
class ChainRules:
    target_s: float = 180.0
    start: Optional[int] = None  # chunk index, None = random
    seed: int = 0
    method: str = "greedy"  # or "beam"
    beam: int = 4
    reuse: int = 1  # how often one chunk may appear
    max_run: int = 1  # at most this many natural successors in a row
    max_same_song: int = 0  # at most this many chunks of one source song in a row; 0 = no limit
    stay_key: bool = False
    stay_tempo: bool = False
    tempo_tol: float = 0.08


def _song_keys(pool: Pool) -> np.ndarray:
    from .features import N_MELS, frame_features

    keys = np.zeros(len(pool.songs), np.int64)
    for i, s in enumerate(pool.songs):
        if s.key is None:
            y = s.y
            step = max(1, len(y) // (256 * 2048))
            f = frame_features(y[None], s.sr)[0, N_MELS:N_MELS + 12, ::step] if len(y) >= 2048 else None
            s.key = estimate_key(f.mean(1).numpy()) if f is not None and f.shape[1] else 0
        keys[i] = s.key
    return keys


def _compatible_keys(k: int) -> set[int]:
    """The key itself and its relative major/minor."""
    if k < 12:
        return {k, 12 + (k + 9) % 12}
    return {k, (k - 12 + 3) % 12}


class _Constraints:
    def __init__(self, pool: Pool, rules: ChainRules, anchor: int):
        n = len(pool.chunks)
        self.allowed = np.ones(n, bool)
        songs = np.array([c.song for c in pool.chunks], np.int64)
        self.songs = songs
        a_song = pool.chunks[anchor].song
        if rules.stay_key:
            keys = _song_keys(pool)
            ok = _compatible_keys(int(keys[a_song]))
            self.allowed &= np.isin(keys[songs], list(ok))
        if rules.stay_tempo:
            tempi = np.array([ensure_beats(s) is not None and (s.tempo or 0.0) for s in pool.songs], float)
            t0 = tempi[a_song]
            if t0 > 0:
                rel = np.abs(tempi / t0 - 1.0)
                # also accept half/double time
                rel = np.minimum(rel, np.minimum(np.abs(2 * tempi / t0 - 1.0), np.abs(tempi / (2 * t0) - 1.0)))
                self.allowed &= (rel <= rules.tempo_tol)[songs]
        self.allowed[anchor] = True


def _song_run(pool: Pool, items: list[int]) -> int:
    """How many chunks at the end of ``items`` come from the song of the last one."""
    s = pool.chunks[items[-1]].song
    run = 0
    for i in reversed(items):
        if pool.chunks[i].song != s:
            break
        run += 1
    return run


def _other_song(pool: Pool, items: list[int], rules: ChainRules, cons: _Constraints) -> Optional[np.ndarray]:
    """Where the song-variety rule forces a change of song: the mask of chunks from other
    songs. None where the rule is off, not yet due, or cannot be met at all (one song in
    the pool, or only one song in key/tempo)."""
    if rules.max_same_song <= 0 or _song_run(pool, items) < rules.max_same_song:
        return None
    other = cons.songs != pool.chunks[items[-1]].song
    if not (other & cons.allowed).any():
        return None
    return other


def _mask_row(pool: Pool, row: np.ndarray, items: list[int], uses: np.ndarray, rules: ChainRules,
              cons: _Constraints) -> np.ndarray:
    row = np.where(cons.allowed, row, -np.inf)
    cur = items[-1]
    row[cur] = -np.inf  # no chunk twice in a row
    row[uses >= rules.reuse] = -np.inf
    # at most max_run natural successors in a row
    run = 0
    for k in range(len(items) - 1, 0, -1):
        if pool.successor(items[k - 1]) == items[k]:
            run += 1
        else:
            break
    nxt = pool.successor(cur)
    if nxt is not None and run >= rules.max_run:
        row[nxt] = -np.inf
    # at most max_same_song chunks of one song in a row; if every other song's chunks are
    # used up (reuse limit) or barred, the rule gives way rather than ending the song
    other = _other_song(pool, items, rules, cons)
    if other is not None:
        varied = np.where(other, row, -np.inf)
        if np.isfinite(varied).any():
            row = varied
    return row


def _dur(pool: Pool, items: list[int]) -> float:
    return sum(pool.chunks[i].length for i in items) / pool.sr


def _fallback(pool, row_raw, items, cons, rules):
    """Reuse limit and runs relaxed; key, tempo, no-repeat kept; song variety kept where it can be."""
    row = np.where(cons.allowed, row_raw, -np.inf).astype(np.float64)
    row[items[-1]] = -np.inf
    other = _other_song(pool, items, rules, cons)
    if other is not None and np.isfinite(row[other]).any():
        row[~other] = -np.inf
    if np.all(~np.isfinite(row)):
        return None
    return int(np.argmax(row))


def build_chain(pool: Pool, enc, rules: Optional[ChainRules] = None, prefix: Optional[Chain] = None,
                should_stop: ShouldStop = None, on_progress: OnProgress = None) -> Chain:
    """Chain chunks until ``rules.target_s`` seconds are reached (``prefix`` is kept)."""
    rules = rules or ChainRules()
    n = len(pool.chunks)
    if n == 0:
        raise StitcherError("The pool is empty.")
    rng = np.random.default_rng(rules.seed)
    if prefix is not None and prefix.items:
        chain = prefix.copy()
    else:
        start = rules.start if rules.start is not None else int(rng.integers(0, n))
        if not 0 <= start < n:
            raise StitcherError(f"Start chunk {start} is not in the pool (0..{n - 1}).")
        chain = Chain([start], [float("nan")])
    cons = _Constraints(pool, rules, chain.items[0])
    if rules.method == "beam" and rules.beam > 1:
        return _beam(pool, enc, rules, chain, cons, should_stop, on_progress)
    uses = np.zeros(n, np.int64)
    for i in chain.items:
        uses[i] += 1
    dur = _dur(pool, chain.items)
    max_len = n * max(1, rules.reuse) + 1
    while dur < rules.target_s and len(chain.items) < max_len * 4:
        check_stop(should_stop)
        raw = enc.scores([chain.items[-1]])[0]
        row = _mask_row(pool, raw.astype(np.float64), chain.items, uses, rules, cons)
        if np.all(~np.isfinite(row)):
            nxt = _fallback(pool, raw, chain.items, cons, rules)  # reuse limit exhausted: relax it
            if nxt is None:
                break
        else:
            nxt = int(np.argmax(row))
        chain.items.append(nxt)
        chain.scores.append(float(raw[nxt]))
        uses[nxt] += 1
        dur += pool.chunks[nxt].length / pool.sr
        report(on_progress, int(min(dur, rules.target_s)), int(rules.target_s), f"{len(chain.items)} chunks")
    return chain


def _beam(pool, enc, rules, chain, cons, should_stop, on_progress) -> Chain:
    n = len(pool.chunks)
    base_uses = np.zeros(n, np.int64)
    for i in chain.items:
        base_uses[i] += 1
    beams = [(0.0, chain, base_uses)]
    cache: dict[int, np.ndarray] = {}
    while True:
        check_stop(should_stop)
        if all(_dur(pool, b[1].items) >= rules.target_s for b in beams):
            break
        cand = []
        for total, ch, uses in beams:
            if _dur(pool, ch.items) >= rules.target_s:
                cand.append((total, ch, uses, None, 0.0))
                continue
            cur = ch.items[-1]
            if cur not in cache:
                cache[cur] = enc.scores([cur])[0].astype(np.float64)
            raw = cache[cur]
            row = _mask_row(pool, raw, ch.items, uses, rules, cons)
            fin = np.isfinite(row)
            if not fin.any():
                cand.append((total, ch, uses, None, 0.0))
                continue
            top = np.argsort(-np.where(fin, row, -1e9))[: min(rules.beam, int(fin.sum()))]
            for t in top:
                cand.append((total + float(raw[t]), ch, uses, int(t), float(raw[t])))
        cand.sort(key=lambda c: -c[0] / max(1, len(c[1].items)))
        new = []
        progressed = False
        for total, ch, uses, t, s in cand[: rules.beam]:
            if t is None:
                new.append((total, ch, uses))
                continue
            ch2 = Chain(ch.items + [t], ch.scores + [s])
            u2 = uses.copy()
            u2[t] += 1
            new.append((total, ch2, u2))
            progressed = True
        beams = new
        best = max(beams, key=lambda b: len(b[1].items))
        report(on_progress, int(min(_dur(pool, best[1].items), rules.target_s)), int(rules.target_s), "beam search")
        if not progressed:
            break
    return max(beams, key=lambda b: b[0] / max(1, len(b[1].items) - 1))[1]


def alternatives(pool: Pool, enc, chain: Chain, k: int, count: int = 5,
                 rules: Optional[ChainRules] = None) -> list[tuple[int, float]]:
    """Next-best chunks for position ``k`` (k >= 1), following ``chain.items[k-1]``."""
    if not 1 <= k < len(chain.items):
        raise StitcherError(f"There is no join {k} in this chain.")
    rules = rules or ChainRules()
    cons = _Constraints(pool, rules, chain.items[0])
    uses = np.zeros(len(pool.chunks), np.int64)
    for i in chain.items[:k]:
        uses[i] += 1
    raw = enc.scores([chain.items[k - 1]])[0].astype(np.float64)
    row = _mask_row(pool, raw, chain.items[:k], uses, rules, cons)
    order = [int(i) for i in np.argsort(-row) if np.isfinite(row[i])]
    return [(i, float(raw[i])) for i in order if i != chain.items[k]][:count]


def swap(pool: Pool, enc, chain: Chain, k: int, new_item: int, rules: Optional[ChainRules] = None,
         should_stop: ShouldStop = None, on_progress: OnProgress = None) -> Chain:
    """Replace ``items[k]`` by ``new_item`` and rebuild everything after it."""
    rules = rules or ChainRules()
    prefix = Chain(chain.items[:k] + [int(new_item)],
                   chain.scores[:k] + [enc.pair(chain.items[k - 1], int(new_item)) if k > 0 else float("nan")])
    return build_chain(pool, enc, rules, prefix=prefix, should_stop=should_stop, on_progress=on_progress)


# -- rendering -------------------------------------------------------------------------------

@dataclass
class Rendered:
    y: np.ndarray
    sr: int
    #: per chain item: (output start s, output end s, chunk index, source start sample, source end sample)
    segments: list[tuple[float, float, int, int, int]]
    joins: list[float]  # output times (s) of the joins
    crossfade_s: float


def render_to_length(pool: Pool, enc, chain: Chain, rules: ChainRules, crossfade_ms: float = 60.0,
                     beat_align: bool = True, should_stop: ShouldStop = None,
                     max_rounds: int = 8) -> tuple[Chain, "Rendered"]:
    """Render ``chain``; where beat snapping and crossfades left the song short of
    ``rules.target_s``, chain more chunks (same rules, the chain kept as prefix) and render again."""
    r = render(pool, chain, crossfade_ms, beat_align, should_stop=should_stop)
    for _ in range(max_rounds):
        short = rules.target_s - len(r.y) / r.sr
        if short <= 0:
            break
        more = replace(rules, target_s=_dur(pool, chain.items) + short)
        longer = build_chain(pool, enc, more, prefix=chain, should_stop=should_stop)
        if len(longer.items) == len(chain.items):
            break  # nothing left that the rules allow
        chain = longer
        r = render(pool, chain, crossfade_ms, beat_align, should_stop=should_stop)
    return chain, r


def _snap(x: int, beats: Optional[np.ndarray], sr: int, lo: int, hi: int, tol_s: float = 0.3) -> int:
    if beats is None or len(beats) == 0:
        return x
    j = int(np.argmin(np.abs(beats - x)))
    b = int(beats[j])
    if abs(b - x) <= tol_s * sr and lo <= b <= hi:
        return b
    return x


def render(pool: Pool, chain: Chain, crossfade_ms: float = 60.0, beat_align: bool = True,
           should_stop: ShouldStop = None, on_progress: OnProgress = None) -> Rendered:
    if not chain.items:
        raise StitcherError("The chain is empty.")
    sr = pool.sr
    L = max(2, int(round(crossfade_ms * sr / 1000)) // 2 * 2)
    h = L // 2
    if beat_align:
        for s in {pool.chunks[i].song for i in chain.items}:
            try:
                ensure_beats(pool.songs[s])
            except Exception:
                pass
    spans = []
    for k, i in enumerate(chain.items):
        c = pool.chunks[i]
        song = pool.songs[c.song]
        s, e = c.start, c.end
        if beat_align:
            mid = (s + e) // 2
            if k > 0:
                s = _snap(s, song.beats, sr, 0, mid)
            if k < len(chain.items) - 1:
                e = _snap(e, song.beats, sr, mid, len(song.y))
        spans.append((s, e))
    total = sum(e - s for s, e in spans) + L
    out = np.zeros(total, np.float32)
    t = np.linspace(0.0, np.pi / 2, L, endpoint=False) + np.pi / (4 * L)
    fin, fout = np.sin(t).astype(np.float32), np.cos(t).astype(np.float32)
    pos = 0
    segments, joins = [], []
    for k, (i, (s, e)) in enumerate(zip(chain.items, spans)):
        check_stop(should_stop)
        y = pool.songs[pool.chunks[i].song].y
        a, b = s - h, e + h
        piece = np.zeros(b - a, np.float32)
        lo, hi = max(0, a), min(len(y), b)
        if hi > lo:
            piece[lo - a: hi - a] = y[lo:hi]
        if k > 0:
            piece[:L] *= fin
        else:
            piece[:h] = 0.0
            ramp = min(len(piece) - h, int(0.005 * sr))
            piece[h: h + ramp] *= np.linspace(0, 1, ramp, dtype=np.float32)
        if k < len(chain.items) - 1:
            piece[-L:] *= fout
        else:
            piece[-h:] = 0.0
            ramp = min(len(piece) - h, int(0.01 * sr))
            piece[len(piece) - h - ramp: len(piece) - h] *= np.linspace(1, 0, ramp, dtype=np.float32)
        out[pos: pos + len(piece)] += piece
        segments.append(((pos + h) / sr, (pos + h + e - s) / sr, int(i), int(s), int(e)))
        if k > 0:
            joins.append((pos + h) / sr)
        pos += e - s
        report(on_progress, k + 1, len(chain.items), "rendering")
    out = out[h: h + sum(e - s for s, e in spans)]
    segments = [(a - h / sr, b - h / sr, i, s, e) for a, b, i, s, e in segments]
    joins = [j - h / sr for j in joins]
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    if peak > 0.999:
        out *= 0.999 / peak
    return Rendered(out, sr, segments, joins, L / sr)


# -- seams -------------------------------------------------------------------------------------

NOV_W = 4  # frames on each side of the novelty kernel
NOV_R = 3  # frames around a join searched for its novelty


def _novelty(logmel: np.ndarray) -> np.ndarray:
    """Distance between the mean log-mel of the NOV_W frames before and after each frame."""
    T = logmel.shape[1]
    if T < 2 * NOV_W + 1:
        return np.zeros(T)
    cs = np.concatenate([np.zeros((logmel.shape[0], 1)), np.cumsum(logmel, axis=1)], axis=1)
    nov = np.zeros(T)
    idx = np.arange(NOV_W, T - NOV_W + 1)
    before = (cs[:, idx] - cs[:, idx - NOV_W]) / NOV_W
    after = (cs[:, idx + NOV_W] - cs[:, idx]) / NOV_W
    nov[idx] = np.linalg.norm(after - before, axis=0) / np.sqrt(logmel.shape[0])
    return nov


def _logmel(y: np.ndarray, sr: int) -> np.ndarray:
    from .features import N_MELS, song_frames

    return song_frames(y, sr)[:N_MELS].numpy().astype(np.float64)


def seam_report(pool: Pool, rendered: Rendered, chain: Chain, samples_per_song: int = 300, seed: int = 0) -> dict:
    """Per join: novelty z-score against novelty inside the source songs, largest sample jump."""
    from .features import N_FFT
    from .pool import HOP

    sr = rendered.sr
    rng = np.random.default_rng(seed)
    ref, ref_jump = [], []
    for s in sorted({pool.chunks[i].song for i in chain.items}):
        y = pool.songs[s].y
        nov = _novelty(_logmel(y, sr))
        T = len(nov)
        if T > 2 * (NOV_W + NOV_R) + 2:
            pos = rng.integers(NOV_W + NOV_R, T - NOV_W - NOV_R, size=samples_per_song)
            ref.extend(nov[p - NOV_R: p + NOV_R + 1].max() for p in pos)
        win = 2 * (int(rendered.crossfade_s * sr) + 64)
        if len(y) > win + 1:
            d = np.abs(np.diff(y))
            starts = rng.integers(0, len(d) - win, size=samples_per_song)
            ref_jump.extend(float(d[a: a + win].max()) for a in starts)
    ref = np.array(ref) if ref else np.zeros(1)
    mu, sd = float(ref.mean()), float(ref.std() + 1e-9)
    nov = _novelty(_logmel(rendered.y, sr))
    y = rendered.y
    half = int(rendered.crossfade_s * sr) + 64
    joins = []
    for k, t in enumerate(rendered.joins):
        # the frame whose window is centred on the join
        f = int(round((t * sr - N_FFT / 2) / HOP))
        lo, hi = max(0, f - NOV_R), min(len(nov), f + NOV_R + 1)
        v = float(nov[lo:hi].max()) if hi > lo else 0.0
        n0 = int(t * sr)
        seg = y[max(0, n0 - half): min(len(y), n0 + half)]
        jump = float(np.max(np.abs(np.diff(seg)))) if len(seg) > 1 else 0.0
        joins.append({"time": round(t, 3), "score": round(float(chain.scores[k + 1]), 4),
                      "z": round((v - mu) / sd, 3), "jump": round(jump, 4)})
    zs = [j["z"] for j in joins]
    jumps = [j["jump"] for j in joins]
    return {"joins": joins, "median_z": round(float(np.median(zs)), 3) if zs else None,
            "max_z": round(float(np.max(zs)), 3) if zs else None,
            "max_jump": round(float(np.max(jumps)), 4) if jumps else None,
            "source_jump_p99": round(float(np.quantile(ref_jump, 0.99)), 4) if ref_jump else None}


def write_csv(path, pool: Pool, rendered: Rendered, chain: Chain) -> Path:
    """One row per chunk used: position in the result, source file, start/end in the
    source (s), and the score of the join into it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["position_s", "source", "start_s", "end_s", "score"])
        for k, (a, b, i, s, e) in enumerate(rendered.segments):
            sc = chain.scores[k]
            w.writerow([f"{a:.3f}", Path(pool.songs[pool.chunks[i].song].path).name, f"{s / pool.sr:.3f}",
                        f"{e / pool.sr:.3f}", "" if not np.isfinite(sc) else f"{sc:.4f}"])
    return p


def describe_key(k: Optional[int]) -> str:
    return KEY_NAMES[k] if k is not None and 0 <= k < 24 else "?"
