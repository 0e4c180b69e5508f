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
* A mood path (``ChainRules.mood_path`` / ``mood_weight``, :mod:`.mood`) adds the distance of each
  candidate's predicted emotion to the curve at its planned time, plus the chunk's price (what the
  rest of the song needs it for, :func:`.mood.chunk_prices`), to the cost the search ranks by
  (the chain's ``costs`` keep the join's own part, which "match %" is calibrated on).
* :data:`BUILD_DEFAULTS`: the Build panel's tuned defaults (beam search over the summed join
  cost; the boundary cosine as a second opinion is a rule, off by default); :func:`match_probability`: the join cost as a calibrated
  P(the seam audit finds the join inaudible), the GUI's "match %".
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
import os
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
    #: costs[k] = the join cost the search minimised for the join into items[k] (nan for k=0 and
    #: where unknown): scorer cost + tempo + key + variety (see :func:`join_costs`)
    costs: list[float] = field(default_factory=list)

    def copy(self) -> "Chain":
        return Chain(list(self.items), list(self.scores), list(self.costs))

    def cost_at(self, k: int) -> float:
        return self.costs[k] if k < len(self.costs) else float("nan")


@dataclass
class ChainRules:
    target_s: float = 180.0
    start: Optional[int] = None  # chunk index, None = random
    seed: int = 0
    method: str = "greedy"  # or "beam"
    beam: int = 4
    reuse: int = 1  # how often one chunk may appear
    max_run: int = 1  # at most this many natural successors in a row
    #: song variety: prefer a change of song after this many chunks of one song in a row
    #: (0 = no preference); staying longer costs ``variety_weight`` per extra chunk
    max_same_song: int = 0
    stay_key: bool = False
    stay_tempo: bool = False
    tempo_tol: float = 0.08
    variety_weight: float = 4.0  # in scorer standard deviations per chunk beyond max_same_song
    tempo_weight: float = 1.0  # cost of a tempo the time-stretcher must bridge (more beyond max_stretch)
    key_weight: float = 0.5  # cost of a key change (per 3 steps on the circle of fifths)
    max_stretch: float = 0.08  # time-stretch at most this much (±); beyond, the join costs more
    #: cost of the timbre / harmony change across the join over seconds (MFCC over 2 s, chroma
    #: over 4 s either side), per the pool's typical change at natural successors
    context_weight: float = 2.0
    #: a timbre change beyond ``jump_limit`` times the natural successors' median (MFCC over 2 s)
    #: costs ``jump_weight`` per unit more: on unseen audio every join beyond ~5 was audible (issue 15),
    #: but on the TUNE pools this term (and ``exit_weight``) did not lower the audible share: off
    jump_limit: float = 3.5
    jump_weight: float = 0.0
    #: the same for the candidate's best way out (a one-step look-ahead; with ``jump_weight`` > 0)
    exit_weight: float = 0.0
    #: weight of the boundary cosine (MFCC + chroma over 0.5 s each side, :class:`.scorers.BoundaryScorer`)
    #: as a second opinion beside the scorer's: its row z-scores, compressed as the scorer's
    boundary_weight: float = 0.0  # off in the Build panel too (BUILD_DEFAULTS; it used 0.5 before)
    #: stitch along a mood path (:class:`.mood.MoodPath`, issue 18): each candidate costs ``mood_weight``
    #: times the distance (plane units) of its predicted emotion to the curve at its planned time
    #: (:mod:`.mood`; the chunks' emotions from ``pool.cache["mood"]``); None = no mood term at all
    mood_path: Optional[object] = None
    mood_weight: float = 0.0
    #: a distance to the curve up to this is free (the join cost alone chooses among chunks near
    #: enough); beyond, each unit costs ``mood_weight``
    mood_tolerance: float = 0.0
    #: add each chunk's price, what the rest of the song needs it for (:func:`.mood.chunk_prices`)
    mood_prices: bool = True
    #: the song length (s) the path spans; None = ``target_s`` (render_to_length keeps it when it
    #: chains more chunks to make up for the length the joins took)
    mood_span_s: Optional[float] = None

    @property
    def mood_on(self) -> bool:
        return self.mood_path is not None and self.mood_weight > 0


#: the Build panel's defaults (chunking, search rules, render), measured on unseen audio with
#: ``benchmarks/stitcher_joins.py`` (issue 15); the GUI and the CLI take their start values from here
BUILD_DEFAULTS = {
    "chunking": "beats:8",
    "crossfade_ms": 60.0,
    "beat_align": True,
    # beam search (4 chains) over the summed join cost: on 12 TUNE pools of unseen clips 11.0 % audible
    # joins (greedy, before) -> 5.3 % (with the boundary cosine as a second opinion at 0.5). Since the
    # scorer trained on the tune-train clips, that second opinion costs joins (4 TUNE pools of tune-val
    # clips: weight 0 / 0.5 / 1 / 1.5 -> 3.5 / 5.1 / 6.0 / 6.5 % audible; REPORT, once: 5.9 % vs 7.7 %):
    # off by default, still a rule (ChainRules.boundary_weight)
    "rules": ChainRules(method="beam", beam=4, max_same_song=4, variety_weight=1.0, boundary_weight=0.0),
}


def _song_keys(pool: Pool, only: Optional[set] = None) -> np.ndarray:
    """Per song its key (0-11 major, 12-23 minor), estimated once (``only``: just those songs)."""
    keys = np.zeros(len(pool.songs), np.int64)
    for i, s in enumerate(pool.songs):
        if only is not None and i not in only and s.key is None:
            continue
        if s.key is None:
            from .joins import analyse_song

            ch = analyse_song(s).chroma  # the same chroma as frame_features, computed once per song
            s.key = estimate_key(ch.mean(1)) if ch.shape[1] else 0
        keys[i] = s.key
    return keys


def _compatible_keys(k: int) -> set[int]:
    """The key itself and its relative major/minor."""
    if k < 12:
        return {k, 12 + (k + 9) % 12}
    return {k, (k - 12 + 3) % 12}


def chunk_tempi(pool: Pool) -> np.ndarray:
    """Per chunk, the local tempo (bpm) from the beats inside it (the song's tempo where
    the chunk has too few beats; nan without beats). Cached on the pool."""
    c = pool.cache.get("tempi")
    if c is not None and len(c) == len(pool.chunks):
        return c
    out = np.full(len(pool.chunks), np.nan)
    per_song = {}
    for si, s in enumerate(pool.songs):
        try:
            b = np.asarray(ensure_beats(s), np.int64)
        except Exception:
            b = np.zeros(0, np.int64)
        per_song[si] = b
    for i, ch in enumerate(pool.chunks):
        b = per_song[ch.song]
        if len(b) < 3:
            continue
        from .joins import beat_period

        i0, i1 = np.searchsorted(b, [ch.start, ch.end])
        per = beat_period(b[i0:i1] if i1 - i0 >= 3 else b)
        if np.isfinite(per) and per > 0:
            out[i] = 60.0 * pool.sr / per
    pool.cache["tempi"] = out
    return out


def chunk_context(pool: Pool) -> Optional[dict]:
    """Per chunk, the timbre (mean MFCC 1-12 over 2 s) and harmony (mean chroma over 4 s)
    just before its end and just after its start, and the typical distances between a chunk's
    end and its natural successor's start (the scale a join is judged on). Cached on the pool."""
    c = pool.cache.get("context")
    if c is not None and len(c["em"]) == len(pool.chunks):
        return c
    from .joins import analyse_song
    from .pool import HOP

    n = len(pool.chunks)
    em, sm = np.zeros((n, 12)), np.zeros((n, 12))
    ec, sc = np.zeros((n, 12)), np.zeros((n, 12))
    wt, wk = int(2.0 * pool.sr / HOP), int(4.0 * pool.sr / HOP)
    by_song: dict[int, list[int]] = {}
    for i, ch in enumerate(pool.chunks):
        by_song.setdefault(ch.song, []).append(i)
    for si, idx in by_song.items():
        a = analyse_song(pool.songs[si])
        T = a.mfcc.shape[1]
        if T == 0:
            continue
        cm = np.concatenate([np.zeros((12, 1)), np.cumsum(a.mfcc, axis=1)], axis=1)
        cc = np.concatenate([np.zeros((12, 1)), np.cumsum(a.chroma, axis=1)], axis=1)

        def mean(cs, f0, f1):
            f0, f1 = max(0, min(T, f0)), max(0, min(T, f1))
            if f1 <= f0:
                f0, f1 = max(0, min(T - 1, f0)), max(1, min(T, f0 + 1))
            return (cs[:, f1] - cs[:, f0]) / max(1, f1 - f0)

        for i in idx:
            ch = pool.chunks[i]
            fe, fs = ch.end // HOP, ch.start // HOP
            em[i], sm[i] = mean(cm, fe - wt, fe), mean(cm, fs, fs + wt)
            ec[i], sc[i] = mean(cc, fe - wk, fe), mean(cc, fs, fs + wk)

    def unit(x):
        x = x - x.mean(axis=1, keepdims=True)
        return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9)

    ec, sc = unit(ec), unit(sc)
    nat = [(i, pool.successor(i)) for i in range(n) if pool.successor(i) is not None]
    if not nat:
        r = np.random.default_rng(0)
        nat = [(int(a), int(b)) for a, b in r.integers(0, n, size=(min(200, n * n), 2))]
    a_, b_ = np.array([x for x, _ in nat]), np.array([y for _, y in nat])
    mt = float(np.median(np.linalg.norm(em[a_] - sm[b_], axis=1))) + 1e-6
    mk = float(np.median(1 - np.sum(ec[a_] * sc[b_], axis=1))) + 1e-6
    # per chunk, how far its best way out is: the second-smallest timbre change (per the natural
    # scale) into any other chunk but its own natural successor (a one-step look-ahead: a chunk
    # whose every exit is a jump should not be entered)
    exit_dt = np.zeros(n)
    if n > 2:
        sq_s = np.sum(sm * sm, axis=1)
        for b0 in range(0, n, 512):
            e = em[b0: b0 + 512]
            d2 = np.sum(e * e, axis=1)[:, None] + sq_s[None, :] - 2.0 * e @ sm.T
            d = np.sqrt(np.maximum(d2, 0.0)) / mt
            rows = np.arange(b0, b0 + len(e))
            d[rows - b0, rows] = np.inf
            nxt = [(r - b0, pool.successor(int(r))) for r in rows]
            for r, q in nxt:
                if q is not None:
                    d[r, q] = np.inf
            exit_dt[b0: b0 + len(e)] = np.partition(d, 1, axis=1)[:, 1]
    c = {"em": em, "sm": sm, "ec": ec, "sc": sc, "scale_t": mt, "scale_k": mk, "exit_dt": exit_dt}
    pool.cache["context"] = c
    return c


def chunk_boundary(pool: Pool):
    """The boundary cosine's edge codes of the pool (:class:`.scorers.BoundaryScorer`), cached on it."""
    c = pool.cache.get("boundary")
    if c is not None and len(c) == len(pool.chunks):
        return c
    from .scorers import BoundaryScorer

    c = BoundaryScorer().encode(pool)
    pool.cache["boundary"] = c
    return c


def _fifths(k: int) -> int:
    return ((k % 12) * 7 + (3 * 7 if k >= 12 else 0)) % 12  # relative minor shares its major's place


def _fifths_dist(a: int, b: int) -> int:
    d = abs(_fifths(a) - _fifths(b)) % 12
    return min(d, 12 - d)


def _fold(r):
    r = np.asarray(r, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(3):
            r = np.where(r >= 4 / 3, r / 2, r)
            r = np.where(r < 2 / 3, r * 2, r)
    return r


class _Constraints:
    def __init__(self, pool: Pool, rules: ChainRules, anchor: int):
        n = len(pool.chunks)
        self.allowed = np.ones(n, bool)
        songs = np.array([c.song for c in pool.chunks], np.int64)
        self.songs = songs
        a_song = pool.chunks[anchor].song
        self.keys = None
        if rules.stay_key or rules.key_weight > 0:
            self.keys = _song_keys(pool)
        self.shift = np.zeros(len(pool.songs), np.int64)  # semitones toward the anchor's key (stay in key)
        if rules.stay_key:
            from .joins import key_shift

            ok = np.zeros(len(pool.songs), bool)
            for s in range(len(pool.songs)):
                sh = key_shift(int(self.keys[s]), int(self.keys[a_song]))
                ok[s] = sh is not None
                self.shift[s] = sh or 0
            self.allowed &= ok[songs]
        self.tempi = chunk_tempi(pool)
        self.context = chunk_context(pool) if rules.context_weight > 0 or rules.jump_weight > 0 else None
        self.boundary = chunk_boundary(pool) if rules.boundary_weight > 0 else None
        if rules.stay_tempo:
            tempi = np.array([ensure_beats(s) is not None and (s.tempo or 0.0) for s in pool.songs], float)
            t0 = tempi[a_song]
            if t0 > 0:
                rel = np.abs(tempi / t0 - 1.0)
                # also accept half/double time
                rel = np.minimum(rel, np.minimum(np.abs(2 * tempi / t0 - 1.0), np.abs(tempi / (2 * t0) - 1.0)))
                self.allowed &= (rel <= rules.tempo_tol)[songs]
        self.allowed[anchor] = True
        self.mood_xy = None
        if rules.mood_on:
            from .mood import require_moods

            self.mood_xy = require_moods(pool)
            self.lengths = np.array([c.length for c in pool.chunks], np.float64) / pool.sr
            self.mood_span = float(rules.mood_span_s or rules.target_s)
            self.mood_price = np.zeros(n)
            if rules.mood_prices:
                from .mood import chunk_prices

                self.mood_price = chunk_prices(self.mood_xy, self.lengths, rules.mood_path, self.mood_span,
                                               max(1, rules.reuse), self.allowed)


def _mood_cost(pool: Pool, items: list[int], rules: ChainRules, cons: _Constraints) -> np.ndarray:
    """Per candidate after ``items``: the distance of its emotion to the mood path at its planned
    time (the middle of where it would play, as a fraction of the path's span)."""
    t = (_dur(pool, items) + 0.5 * cons.lengths) / max(cons.mood_span, 1e-9)
    d = np.linalg.norm(cons.mood_xy - rules.mood_path.at(t), axis=1)
    if rules.mood_tolerance > 0:
        d = np.maximum(0.0, d - rules.mood_tolerance)
    return d + cons.mood_price


def _mood_part(pool: Pool, items: list[int], rules: ChainRules, cons: _Constraints, cand) -> np.ndarray:
    """The mood term of the cost of candidates ``cand`` (zeros without a mood path)."""
    cand = np.asarray(cand, np.int64)
    if not rules.mood_on or cons.mood_xy is None:
        return np.zeros(len(cand))
    return rules.mood_weight * _mood_cost(pool, items, rules, cons)[cand]


def _mood_start(pool: Pool, rules: ChainRules, rng, allowed: Optional[np.ndarray] = None) -> int:
    """A start chunk for a mood path: drawn among the five chunks nearest the path's start."""
    from .mood import require_moods

    xy = require_moods(pool)
    lengths = np.array([c.length for c in pool.chunks], np.float64) / pool.sr
    span = float(rules.mood_span_s or rules.target_s)
    d = np.linalg.norm(xy - rules.mood_path.at(0.5 * lengths / max(span, 1e-9)), axis=1)
    if allowed is not None:
        d = np.where(allowed, d, np.inf)
    near = np.argsort(d, kind="stable")[: min(5, len(d))]
    return int(near[int(rng.integers(0, len(near)))])


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
    """Where song variety asks for a change of song: the mask of chunks from other songs.
    None where it is off, not yet due, or cannot be met at all."""
    if rules.max_same_song <= 0 or _song_run(pool, items) < rules.max_same_song:
        return None
    other = cons.songs != pool.chunks[items[-1]].song
    if not (other & cons.allowed).any():
        return None
    return other


def _mask_row(pool: Pool, row: np.ndarray, items: list[int], uses: np.ndarray, rules: ChainRules,
              cons: _Constraints) -> np.ndarray:
    """The hard rules: key/tempo (as asked), no chunk twice in a row, the reuse limit, at most
    ``max_run`` natural successors in a row. Song variety is a cost (:func:`_cost_row`)."""
    row = np.where(cons.allowed, row, -np.inf)
    cur = items[-1]
    row[cur] = -np.inf  # no chunk twice in a row
    row[uses >= rules.reuse] = -np.inf
    run = 0
    for k in range(len(items) - 1, 0, -1):
        if pool.successor(items[k - 1]) == items[k]:
            run += 1
        else:
            break
    nxt = pool.successor(cur)
    if nxt is not None and run >= rules.max_run:
        row[nxt] = -np.inf
    return row


Z_SOFT = 3.0  # scorer z-scores are compressed beyond about this (tanh)
Z_FLOOR = -1.5  # variety never pushes towards another song whose best join is below this z


def _running_tempo(pool: Pool, items: list[int], cons: _Constraints, rules: ChainRules) -> float:
    """The tempo the song plays at after ``items`` (stretched chunks keep it; a chunk too far
    to stretch sets a new one)."""
    t = float("nan")
    for i in items:
        ti = cons.tempi[i]
        if not np.isfinite(ti):
            continue
        if not np.isfinite(t) or abs(float(_fold(ti / t)) - 1) > rules.max_stretch:
            t = float(ti)
    return t


def _cost_row(pool: Pool, raw: np.ndarray, masked: np.ndarray, items: list[int], rules: ChainRules,
              cons: _Constraints, t_run: float) -> np.ndarray:
    """The cost of every candidate after ``items`` (inf where a hard rule bars it):
    scorer cost (the row's scores as z-scores, negated and softly compressed) + tempo
    (what the time-stretcher must bridge; more where it cannot) + context (timbre over 2 s and
    harmony over 4 s across the join, beyond what natural successors show: no crossfade fixes
    those) + key (unless pitch-shifted into key) + song variety (``variety_weight`` per chunk
    beyond ``max_same_song``)."""
    fin = np.isfinite(masked)
    cost = np.full(len(raw), np.inf)
    if not fin.any():
        return cost
    v = raw[fin].astype(np.float64)
    mu, sd = float(v.mean()), float(v.std())
    z = (raw.astype(np.float64) - mu) / (sd if sd > 1e-9 else 1.0)
    c = -Z_SOFT * np.tanh(z / Z_SOFT)
    if cons.boundary is not None and rules.boundary_weight > 0:
        b = cons.boundary.scores([items[-1]])[0].astype(np.float64)
        bv = b[fin]
        bsd = float(bv.std())
        zb = (b - float(bv.mean())) / (bsd if bsd > 1e-9 else 1.0)
        c = c - rules.boundary_weight * Z_SOFT * np.tanh(zb / Z_SOFT)
    if rules.tempo_weight > 0 and np.isfinite(t_run) and t_run > 0:
        dev = np.abs(_fold(cons.tempi / t_run) - 1.0)
        ms = max(1e-3, rules.max_stretch)
        tc = np.where(dev <= ms, 0.5 * dev / ms, 1.5 + 10.0 * (dev - ms))
        tc = np.where(np.isfinite(tc), tc, 0.5)
        c = c + rules.tempo_weight * tc
    cur_song = pool.chunks[items[-1]].song
    cx = cons.context
    if cx is not None:
        a = items[-1]
        dt = np.linalg.norm(cx["sm"] - cx["em"][a], axis=1) / cx["scale_t"]
        dk = (1 - cx["sc"] @ cx["ec"][a]) / cx["scale_k"]
        # beyond what natural successors show (ratio 1), on a log scale: twice the natural
        # change costs 0.7, ten times 2.3 (ordering kept however far apart the songs are)
        extra = np.log(np.maximum(1.0, dt)) + 0.5 * np.log(np.maximum(1.0, dk))
        c = c + rules.context_weight * extra
        if rules.jump_weight > 0:
            c = c + rules.jump_weight * np.maximum(0.0, dt - rules.jump_limit)
            if rules.exit_weight > 0 and "exit_dt" in cx:
                c = c + rules.exit_weight * np.maximum(0.0, cx["exit_dt"] - rules.jump_limit)
    if cons.keys is not None:
        if rules.stay_key:
            c = c + 0.2 * np.abs(cons.shift[cons.songs])
        elif rules.key_weight > 0:
            k0 = int(cons.keys[cur_song])
            kd = np.array([_fifths_dist(k0, int(k)) for k in cons.keys], float)
            c = c + rules.key_weight * kd[cons.songs] / 3.0
    if rules.max_same_song > 0 and rules.variety_weight > 0:
        excess = _song_run(pool, items) + 1 - rules.max_same_song
        if excess > 0:
            same = cons.songs == cur_song
            other_ok = fin & ~same & (z >= Z_FLOOR)
            if other_ok.any():  # never push towards joins the scorer rates near zero
                c = c + np.where(same, rules.variety_weight * excess, 0.0)
    if rules.mood_on and cons.mood_xy is not None:
        c = c + rules.mood_weight * _mood_cost(pool, items, rules, cons)
    cost[fin] = c[fin]
    return cost


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
    """Chain chunks until ``rules.target_s`` seconds are reached (``prefix`` is kept),
    minimising the join cost (:func:`_cost_row`) greedily or with a beam."""
    rules = rules or ChainRules()
    n = len(pool.chunks)
    if n == 0:
        raise StitcherError("The pool is empty.")
    rng = np.random.default_rng(rules.seed)
    if prefix is not None and prefix.items:
        chain = prefix.copy()
        chain.costs = (chain.costs + [float("nan")] * len(chain.items))[: len(chain.items)]
    else:
        if rules.start is not None:
            start = rules.start
        elif rules.mood_on:  # begin near the path's first mood
            start = _mood_start(pool, rules, rng)
        else:
            start = int(rng.integers(0, n))
        if not 0 <= start < n:
            raise StitcherError(f"Start chunk {start} is not in the pool (0..{n - 1}).")
        chain = Chain([start], [float("nan")], [float("nan")])
    cons = _Constraints(pool, rules, chain.items[0])
    if rules.method == "beam" and rules.beam > 1:
        return _beam(pool, enc, rules, chain, cons, should_stop, on_progress)
    uses = np.zeros(n, np.int64)
    for i in chain.items:
        uses[i] += 1
    dur = _dur(pool, chain.items)
    t_run = _running_tempo(pool, chain.items, cons, rules)
    max_len = n * max(1, rules.reuse) + 1
    while dur < rules.target_s and len(chain.items) < max_len * 4:
        check_stop(should_stop)
        raw = enc.scores([chain.items[-1]])[0].astype(np.float64)
        row = _mask_row(pool, raw.copy(), chain.items, uses, rules, cons)
        if np.all(~np.isfinite(row)):
            nxt = _fallback(pool, raw, chain.items, cons, rules)  # reuse limit exhausted: relax it
            if nxt is None:
                break
            cost = float("nan")
        else:
            costs = _cost_row(pool, raw, row, chain.items, rules, cons, t_run)
            nxt = int(np.argmin(costs))
            cost = float(costs[nxt]) - _mood_part(pool, chain.items, rules, cons, [nxt])[0]
        chain.items.append(nxt)
        chain.scores.append(float(raw[nxt]))
        chain.costs.append(cost)
        uses[nxt] += 1
        ti = cons.tempi[nxt]
        if np.isfinite(ti) and (not np.isfinite(t_run) or abs(float(_fold(ti / t_run)) - 1) > rules.max_stretch):
            t_run = float(ti)  # too far to stretch: this chunk sets the running tempo
        dur += pool.chunks[nxt].length / pool.sr
        report(on_progress, int(min(dur, rules.target_s)), int(rules.target_s), f"{len(chain.items)} chunks")
    return chain


@dataclass
class _Beam:
    """One chain the beam search keeps: its summed join costs, chunk use counts and running tempo."""

    total: float
    chain: Chain
    uses: np.ndarray
    tempo: float = float("nan")

    def per_join(self) -> float:
        """Mean cost per join: the best beam at the end has the lowest."""
        return self.total / max(1, len(self.chain.items) - 1)


@dataclass
class _Step:
    """A candidate extension of a beam: ``item`` appended with join cost ``cost``
    (``item`` None: the beam is complete or stuck and carries on unchanged)."""

    beam: _Beam
    total: float
    item: Optional[int] = None
    score: float = 0.0
    cost: float = 0.0


def _beam(pool, enc, rules, chain, cons, should_stop, on_progress) -> Chain:
    n = len(pool.chunks)
    base_uses = np.zeros(n, np.int64)
    for i in chain.items:
        base_uses[i] += 1
    beams = [_Beam(0.0, chain, base_uses, _running_tempo(pool, chain.items, cons, rules))]
    cache: dict[int, np.ndarray] = {}
    while True:
        check_stop(should_stop)
        if all(_dur(pool, b.chain.items) >= rules.target_s for b in beams):
            break
        cand: list[_Step] = []
        for b in beams:
            if _dur(pool, b.chain.items) >= rules.target_s:
                cand.append(_Step(b, b.total))
                continue
            cur = b.chain.items[-1]
            if cur not in cache:
                cache[cur] = enc.scores([cur])[0].astype(np.float64)
            raw = cache[cur]
            row = _mask_row(pool, raw.copy(), b.chain.items, b.uses, rules, cons)
            fin = np.isfinite(row)
            if not fin.any():
                cand.append(_Step(b, b.total + 1e3))  # stuck: carries on, but ranks last
                continue
            costs = _cost_row(pool, raw, row, b.chain.items, rules, cons, b.tempo)
            top = np.argsort(costs)[: min(rules.beam, int(fin.sum()))]
            mood = _mood_part(pool, b.chain.items, rules, cons, top)
            for t, mp in zip(top, mood):
                # the beam ranks by the whole cost; the chain keeps the join's own part (the "match %")
                cand.append(_Step(b, b.total + float(costs[t]), int(t), float(raw[t]), float(costs[t]) - mp))
        cand.sort(key=lambda c: c.total)
        new = []
        progressed = False
        for c in cand[: rules.beam]:
            if c.item is None:
                new.append(_Beam(c.total, c.beam.chain, c.beam.uses, c.beam.tempo))
                continue
            ch2 = Chain(c.beam.chain.items + [c.item], c.beam.chain.scores + [c.score],
                        c.beam.chain.costs + [c.cost])
            u2 = c.beam.uses.copy()
            u2[c.item] += 1
            t = c.beam.tempo
            ti = cons.tempi[c.item]
            if np.isfinite(ti) and (not np.isfinite(t) or abs(float(_fold(ti / t)) - 1) > rules.max_stretch):
                t = float(ti)
            new.append(_Beam(c.total, ch2, u2, t))
            progressed = True
        beams = new
        best = max(beams, key=lambda b: len(b.chain.items))
        report(on_progress, int(min(_dur(pool, best.chain.items), rules.target_s)), int(rules.target_s),
               "beam search")
        if not progressed:
            break
    return min(beams, key=_Beam.per_join).chain


#: "match %": P(the seam audit finds a join inaudible) as a function of the join cost the search
#: minimised (:func:`join_costs`): Platt scaling, ``1 / (1 + exp(-(a * cost + b)))``, fitted on the
#: 568 joins of songs built with :data:`BUILD_DEFAULTS` and the default learned scorer from 12 TUNE
#: pools of unseen emotion clips (``benchmarks/stitcher_joins.py --split tune --pools 12 --methods
#: edge --fit-calibration FILE``; Brier 0.051 there against 0.061 for a constant). An isotonic fit
#: on the same joins ranked the same but put P = 0 beyond the single costliest join, so the
#: smoother logistic is used. Valid for the scorers in ``scorers`` under the Build panel's rules:
#: other scorers' costs come from other score distributions, and they get no "match %".
MATCH_CALIBRATION: dict = {
    "scorers": ["edge"],
    "kind": "platt",
    "a": -0.7587,
    "b": 2.9915,
    # refitted 2026-12-01 for the scorer retrained on the tune-train clips and the Build panel's
    # defaults without the boundary term; pools drawn from clips the scorer never trained on
    "fitted_on": "12 TUNE pools of the 65 tune-val emotion clips (artists the scorer never heard), "
                 "568 joins, 6.5 % audible",
}


def match_probability(cost, scorer: str = "edge") -> Optional[np.ndarray | float]:
    """The calibrated probability that the seam audit finds a join of this cost inaudible
    (:data:`MATCH_CALIBRATION`), for the GUI's "match %"; None for a scorer it was not fitted for;
    nan where the cost is unknown (nan) and 0 where the join is barred (inf)."""
    if scorer not in MATCH_CALIBRATION["scorers"]:
        return None
    x = np.asarray(cost, np.float64)
    z = MATCH_CALIBRATION["a"] * np.where(np.isfinite(x), x, 0.0) + MATCH_CALIBRATION["b"]
    p = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
    p = np.where(np.isnan(x), np.nan, np.where(np.isinf(x), 0.0, p))
    return float(p) if np.ndim(p) == 0 else p


def join_costs(pool: Pool, enc, chain: Chain, k: int, rules: Optional[ChainRules] = None,
               join_only: bool = False) -> np.ndarray:
    """The cost of every candidate for position ``k`` (inf where barred), as the search saw it;
    ``join_only``: without the mood path's term (the join's own cost, which "match %" reads)."""
    rules = rules or ChainRules()
    cons = _Constraints(pool, rules, chain.items[0])
    uses = np.zeros(len(pool.chunks), np.int64)
    for i in chain.items[:k]:
        uses[i] += 1
    raw = enc.scores([chain.items[k - 1]])[0].astype(np.float64)
    row = _mask_row(pool, raw.copy(), chain.items[:k], uses, rules, cons)
    cost = _cost_row(pool, raw, row, chain.items[:k], rules, cons, _running_tempo(pool, chain.items[:k], cons, rules))
    if join_only and rules.mood_on and cons.mood_xy is not None:
        cost = cost - rules.mood_weight * _mood_cost(pool, chain.items[:k], rules, cons)
    return cost


def alternatives(pool: Pool, enc, chain: Chain, k: int, count: int = 5,
                 rules: Optional[ChainRules] = None) -> list[tuple[int, float]]:
    """Next-best chunks for position ``k`` (k >= 1), following ``chain.items[k-1]``, ranked by
    the same join cost the search minimised: ``[(chunk, scorer score), ...]``."""
    if not 1 <= k < len(chain.items):
        raise StitcherError(f"There is no join {k} in this chain.")
    raw = enc.scores([chain.items[k - 1]])[0].astype(np.float64)
    cost = join_costs(pool, enc, chain, k, rules)
    order = [int(i) for i in np.argsort(cost, kind="stable") if np.isfinite(cost[i])]
    return [(i, float(raw[i])) for i in order if i != chain.items[k]][:count]


def alternatives_with_costs(pool: Pool, enc, chain: Chain, k: int, count: int = 5,
                            rules: Optional[ChainRules] = None) -> list[tuple[int, float, float]]:
    """As :func:`alternatives` (ranked as the search ranked them, a mood path's term included),
    with each one's own join cost (what "match %" reads): ``[(chunk, score, cost), ...]``."""
    cost = join_costs(pool, enc, chain, k, rules, join_only=True)
    return [(i, s, float(cost[i])) for i, s in alternatives(pool, enc, chain, k, count, rules)]


def swap(pool: Pool, enc, chain: Chain, k: int, new_item: int, rules: Optional[ChainRules] = None,
         should_stop: ShouldStop = None, on_progress: OnProgress = None) -> Chain:
    """Replace ``items[k]`` by ``new_item`` and rebuild everything after it."""
    rules = rules or ChainRules()
    cost = float("nan")
    if k > 0:
        c = join_costs(pool, enc, chain, k, rules)
        cost = float(c[int(new_item)]) if np.isfinite(c[int(new_item)]) else float("nan")
    prefix = Chain(chain.items[:k] + [int(new_item)],
                   chain.scores[:k] + [enc.pair(chain.items[k - 1], int(new_item)) if k > 0 else float("nan")],
                   (chain.costs + [float("nan")] * len(chain.items))[:k] + [cost])
    return build_chain(pool, enc, rules, prefix=prefix, should_stop=should_stop, on_progress=on_progress)


# -- rendering -------------------------------------------------------------------------------

@dataclass
class Rendered:
    y: np.ndarray  # mono at ``sr`` (playback, the seam measures)
    sr: int
    #: per chain item: (output start s, output end s, chunk index, source start sample, source end sample);
    #: source samples at the pool's (analysis) rate
    segments: list[tuple[float, float, int, int, int]]
    joins: list[float]  # output times (s) of the joins
    crossfade_s: float  # the longest crossfade used
    #: ``(channels, n)`` at ``sr`` where the output has more than one channel (the export), else None
    channels: Optional[np.ndarray] = None
    #: per join, how it was made and what made it rough (see :class:`.joins.JoinPlan`), plus its cost
    join_info: list[dict] = field(default_factory=list)

    @property
    def audio(self) -> np.ndarray:
        """What an export writes: ``(channels, n)`` or mono ``(n,)`` at ``sr``."""
        return self.channels if self.channels is not None else self.y

    @property
    def n_channels(self) -> int:
        return 1 if self.channels is None else int(self.channels.shape[0])


def _plan(pool: Pool, chain: Chain, crossfade_ms: float, beat_align: bool, rules: Optional[ChainRules],
          memo: Optional[dict] = None):
    from .joins import plain_plan, plan_joins

    if not beat_align:
        return plain_plan(pool, chain.items, crossfade_ms, False)
    rules = rules or ChainRules()
    keys = None
    try:
        keys = _song_keys(pool, {pool.chunks[i].song for i in chain.items})
    except Exception:
        keys = None
    return plan_joins(pool, chain.items, crossfade_ms, bars=str(pool.chunking).startswith("bars"),
                      stay_key=rules.stay_key, keys=keys, max_stretch=rules.max_stretch, memo=memo)


def _planned_seconds(pool: Pool, plan) -> float:
    return sum((p.end - p.start) / p.speed for p in plan.pieces) / pool.sr


def render_to_length(pool: Pool, enc, chain: Chain, rules: ChainRules, crossfade_ms: float = 60.0,
                     beat_align: bool = True, should_stop: ShouldStop = None,
                     max_rounds: int = 8, quality: str = "source") -> tuple[Chain, "Rendered"]:
    """Render ``chain``; where the cut search, beat snapping and time-stretching leave the song
    short of ``rules.target_s``, chain more chunks (same rules, the chain kept as prefix) first
    (the length is known from the join plan, so the audio is rendered once)."""
    memo: dict = {}  # cut searches of the joins already planned: a longer chain re-plans only its new joins
    plan = _plan(pool, chain, crossfade_ms, beat_align, rules, memo)
    for _ in range(max_rounds):
        short = rules.target_s - _planned_seconds(pool, plan)
        if short <= 0:
            break
        more = replace(rules, target_s=_dur(pool, chain.items) + short,
                       mood_span_s=rules.mood_span_s or (rules.target_s if rules.mood_on else None))
        longer = build_chain(pool, enc, more, prefix=chain, should_stop=should_stop)
        if len(longer.items) == len(chain.items):
            break  # nothing left that the rules allow
        chain = longer
        plan = _plan(pool, chain, crossfade_ms, beat_align, rules, memo)
    return chain, render(pool, chain, crossfade_ms, beat_align, should_stop=should_stop, rules=rules,
                         quality=quality, plan=plan)


def _snap(x: int, beats: Optional[np.ndarray], sr: int, lo: int, hi: int, tol_s: float = 0.3) -> int:
    if beats is None or len(beats) == 0:
        return x
    j = int(np.argmin(np.abs(beats - x)))
    b = int(beats[j])
    if abs(b - x) <= tol_s * sr and lo <= b <= hi:
        return b
    return x


def render(pool: Pool, chain: Chain, crossfade_ms: float = 60.0, beat_align: bool = True,
           should_stop: ShouldStop = None, on_progress: OnProgress = None, rules: Optional[ChainRules] = None,
           quality: str = "source", plan=None) -> Rendered:
    """The chain as audio. With ``beat_align`` every join is engineered (:mod:`.joins`: cut on
    matching beats, incoming chunk time-stretched to the running tempo, pitch-shifted into key
    with ``rules.stay_key``, loudness matched, crossfade length from the material); without,
    plain equal-power crossfades of ``crossfade_ms`` at the chunk edges. ``quality="source"``
    renders at the highest sample rate and channel count of the songs used (their files are
    reloaded); ``"analysis"`` at the pool's rate, mono."""
    from .sources import output_format, source_audio, stretch  # decodes only the slices the pieces use

    if not chain.items:
        raise StitcherError("The chain is empty.")
    plan = plan if plan is not None else _plan(pool, chain, crossfade_ms, beat_align, rules)
    used = sorted({pool.chunks[i].song for i in chain.items})
    if quality == "source":
        out_sr, ch = output_format(pool, used)
    else:
        out_sr, ch = pool.sr, 1
    src = {s: (source_audio(pool.songs[s], out_sr, ch) if quality == "source" else pool.songs[s].y[None])
           for s in used}
    ratio = out_sr / pool.sr
    cores, halves = [], []
    for p in plan.pieces:
        cores.append(max(1, int(round((p.end - p.start) * ratio / p.speed))))
        halves.append(int(round(p.fade_in_s * out_sr / 2)))
    halves.append(0)
    total = sum(cores)
    out = np.zeros((ch, total + 2 * max(halves) + 2), np.float32)
    pos = 0
    segments, joins = [], []
    n = len(plan.pieces)

    def cut(k: int) -> np.ndarray:
        """Piece ``k`` from its source with its fades' room, stretched/shifted where planned."""
        i, p = chain.items[k], plan.pieces[k]
        y = src[pool.chunks[i].song]
        h_in, h_out = halves[k] if k > 0 else 0, halves[k + 1] if k < n - 1 else 0
        want = h_in + cores[k] + h_out
        stretched = abs(p.speed - 1.0) > 1e-4 or p.shift != 0
        ctx = int(0.05 * out_sr) if stretched else 0
        a = int(round(p.start * ratio - h_in * p.speed)) - ctx
        b = int(round(p.end * ratio + h_out * p.speed)) + ctx
        piece = np.zeros((ch, b - a), np.float32)
        lo, hi = max(0, a), min(y.shape[1], b)
        if hi > lo:
            piece[:, lo - a: hi - a] = y[:, lo:hi]
        if stretched:
            piece = stretch(piece, out_sr, p.speed, p.shift)
            c0 = int(round(ctx / p.speed))
            piece = piece[:, c0: c0 + want]
        return piece

    # Rubber Band releases the GIL: the stretches run on two threads, in order, the same result
    from concurrent.futures import ThreadPoolExecutor

    workers = max(1, min(2, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as ex:
        futures = []
        for k in range(n):
            check_stop(should_stop)
            futures.append(ex.submit(cut, k))
        pieces = []
        for fu in futures:
            if should_stop is not None and should_stop():
                for f in futures:
                    f.cancel()
                check_stop(should_stop)
            pieces.append(fu.result())
    for k, (i, p) in enumerate(zip(chain.items, plan.pieces)):
        check_stop(should_stop)
        piece = pieces[k]
        pieces[k] = None
        h_in, h_out = halves[k] if k > 0 else 0, halves[k + 1] if k < n - 1 else 0
        want = h_in + cores[k] + h_out
        if piece.shape[1] < want:
            piece = np.pad(piece, ((0, 0), (0, want - piece.shape[1])))
        piece = piece[:, :want].copy()
        if p.gain_db:
            piece *= np.float32(10 ** (p.gain_db / 20))
        if k > 0 and h_in:
            L = 2 * h_in
            t = np.linspace(0.0, np.pi / 2, L, endpoint=False) + np.pi / (4 * L)
            piece[:, :L] *= np.sin(t).astype(np.float32)
        elif k == 0:
            ramp = min(piece.shape[1], int(0.005 * out_sr))
            piece[:, :ramp] *= np.linspace(0, 1, ramp, dtype=np.float32)
        if k < n - 1 and h_out:
            L = 2 * h_out
            t = np.linspace(0.0, np.pi / 2, L, endpoint=False) + np.pi / (4 * L)
            piece[:, -L:] *= np.cos(t).astype(np.float32)
        elif k == n - 1:
            ramp = min(piece.shape[1], int(0.01 * out_sr))
            piece[:, piece.shape[1] - ramp:] *= np.linspace(1, 0, ramp, dtype=np.float32)
        at = pos - h_in
        if at < 0:  # a fade longer than everything before it (tiny chunks): drop its head
            piece, at = piece[:, -at:], 0
        out[:, at: at + piece.shape[1]] += piece
        segments.append((pos / out_sr, (pos + cores[k]) / out_sr, int(i), int(p.start), int(p.end)))
        if k > 0:
            joins.append(pos / out_sr)
        pos += cores[k]
        report(on_progress, k + 1, n, "rendering")
    out = out[:, :total]
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > 0.999:
        out *= 0.999 / peak
    info = []
    for k, jp in enumerate(plan.joins):
        d = jp.as_dict()
        d["cost"] = None if not np.isfinite(chain.cost_at(k + 1)) else round(float(chain.cost_at(k + 1)), 3)
        info.append(d)
    mono = out.mean(axis=0) if ch > 1 else out[0]
    fade = max([p.fade_in_s for p in plan.pieces] + [crossfade_ms / 1000.0 if not plan.joins else 0.0])
    return Rendered(np.ascontiguousarray(mono, np.float32), out_sr, segments, joins, fade,
                    np.ascontiguousarray(out) if ch > 1 else None, info)


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

    sr = pool.sr  # measured at the analysis rate, whatever the output's
    y_out = rendered.y
    if rendered.sr != sr:
        from ..audio.io import resample

        y_out = resample(rendered.y, rendered.sr, sr)
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
    nov = _novelty(_logmel(y_out, sr))
    y = y_out
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
        row = {"time": round(t, 3), "score": round(float(chain.scores[k + 1]), 4),
               "z": round((v - mu) / sd, 3), "jump": round(jump, 4)}
        if k < len(rendered.join_info):
            row.update(rendered.join_info[k])
        joins.append(row)
    zs = [j["z"] for j in joins]
    jumps = [j["jump"] for j in joins]
    return {"joins": joins, "median_z": round(float(np.median(zs)), 3) if zs else None,
            "max_z": round(float(np.max(zs)), 3) if zs else None,
            "max_jump": round(float(np.max(jumps)), 4) if jumps else None,
            "source_jump_p99": round(float(np.quantile(ref_jump, 0.99)), 4) if ref_jump else None}


#: what the CSV says about the join into each chunk (engineered renders only): the join cost
#: the search used, tempo of the incoming chunk against the running tempo before stretching (%),
#: the stretch applied (%), beats the cut moved on each side, beat-pair distance, key relation,
#: pitch shift (semitones), loudness difference before matching and the gain change (dB),
#: timbre distance (relative MFCC), crossfade (ms)
JOIN_COLUMNS = ["cost", "tempo_pct", "stretch_pct", "beat_offset", "beat_match", "key_relation", "shift_st",
                "loudness_db", "gain_db", "timbre", "fade_ms"]


def write_csv(path, pool: Pool, rendered: Rendered, chain: Chain) -> Path:
    """One row per chunk used: position in the result, source file, start/end in the
    source (s), and the score of the join into it; for an engineered render also what made
    the join rough and how it was made (:data:`JOIN_COLUMNS`)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        extra = JOIN_COLUMNS if rendered.join_info else []
        w.writerow(["position_s", "source", "start_s", "end_s", "score"] + extra)
        for k, (a, b, i, s, e) in enumerate(rendered.segments):
            sc = chain.scores[k]
            info = rendered.join_info[k - 1] if 0 < k <= len(rendered.join_info) else {}
            w.writerow([f"{a:.3f}", Path(pool.songs[pool.chunks[i].song].path).name, f"{s / pool.sr:.3f}",
                        f"{e / pool.sr:.3f}", "" if not np.isfinite(sc) else f"{sc:.4f}"]
                       + ["" if info.get(c) is None else info[c] for c in extra])
    return p


def describe_key(k: Optional[int]) -> str:
    return KEY_NAMES[k] if k is not None and 0 <= k < 24 else "?"
