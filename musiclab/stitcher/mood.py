"""Stitch along a mood path (issue 18): a valence/arousal curve over the song's length. No Qt.

* :class:`MoodPath`: points on the valence/arousal plane at fractions of the song's length
  (validated: points outside the plane are clipped with a warning, fewer than two points is an
  error); :meth:`MoodPath.at` interpolates it linearly.
* :func:`predict_chunk_moods`: each chunk's emotion, predicted once with the Emotion model (a 10 s
  window centred on the chunk in its source song, the model's own unit; all chunks of a song in
  one batch) and kept with the pool's other per-chunk data (``pool.cache["mood"]``) and on disk
  (:func:`.cache.cached_chunk_moods`, by the song's content, its chunk spans and the model).
  :func:`set_chunk_moods` injects them (tests, other models).
* The search (:func:`musiclab.stitcher.chain.build_chain`) adds ``rules.mood_weight`` times the
  distance of a candidate's emotion to the curve at its planned time to the join cost
  (``ChainRules.mood_path``); :func:`planned_report` says how close the chosen chunks stay and,
  where no chunk of the pool comes near the curve, how far the nearest stayed.
* :func:`result_report`: the *rendered* song predicted by the Emotion model window by window,
  against the curve at those times (what the GUI draws and the CLI reports).

Positions on the plane are :func:`musiclab.emotion.session.plane_coords` (each axis the
log-odds of its side over four decades, in [-1, 1]): what the Emotion tab's plane shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..errors import MusiclabError
from ..jobs import OnProgress, ShouldStop, check_stop, report

#: the window (s) each chunk's emotion is predicted from, centred on the chunk (the model's window)
CONTEXT_S = 10.0
#: the mood weight the CLI and the Mood path panel start from (join cost per plane unit of distance),
#: chosen on TUNE pools with :data:`DEFAULT_REUSE` (``benchmarks/stitcher_mood.py --split tune``; see its
#: docstring: 8 rendered TUNE pools, ratio 0.41 against 0.58 for the former 6 with reuse 1; 14 was no closer)
DEFAULT_WEIGHT = 10.0
#: with a mood path each chunk may appear at least this often (the Build panel's reuse where higher):
#: a 12-clip pool holds 2-3 clips per quadrant and a 3-minute song takes ~45 of its ~80 chunks, so
#: with reuse 1 the curve runs out of the moods it asks for (chosen with :data:`DEFAULT_WEIGHT`)
DEFAULT_REUSE = 2
#: a planned chunk this far (plane units) or more from the curve counts as "not near"
NEAR = 0.35

#: say that the pool lacks the mood when no chunk is near the curve over this share of the song
FAR_SHARE = 0.2
#: named moods for the CLI and the GUI's presets (plane coordinates)
MOODS = {"calm": (0.3, -0.6), "excited": (0.5, 0.7), "happy": (0.5, 0.5), "sad": (-0.5, -0.5),
         "tense": (-0.5, 0.6), "angry": (-0.6, 0.7)}


class MoodPathError(MusiclabError):
    """A mood path that cannot be used (too few points, not numbers)."""


@dataclass
class MoodPath:
    """A curve on the valence/arousal plane: ``points[k] = (valence, arousal)`` at ``times[k]``
    (fractions 0..1 of the song's length, increasing). Build with :meth:`make` or :meth:`parse`."""

    points: np.ndarray  # (k, 2)
    times: np.ndarray  # (k,)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def make(cls, points: Sequence[Sequence[float]], times: Optional[Sequence[float]] = None) -> "MoodPath":
        """Validated: at least two points of two finite numbers each; points outside the plane
        [-1, 1]² are clipped onto it (with a warning); ``times`` default to evenly spaced, must
        lie in [0, 1] and not decrease."""
        try:
            p = np.asarray([[float(x) for x in pt] for pt in points], np.float64)
        except (TypeError, ValueError) as exc:
            raise MoodPathError(f"A mood path needs points of two numbers (valence, arousal): {exc}.") from exc
        if p.ndim != 2 or p.shape[0] < 2 or p.shape[1] != 2:
            n = 0 if p.ndim < 2 else p.shape[0]
            raise MoodPathError(f"A mood path needs at least two points (a start and an end mood) of two numbers "
                                f"each; got {n}.")
        if not np.isfinite(p).all():
            raise MoodPathError("A mood path's points must be finite numbers.")
        warnings = []
        out = np.abs(p) > 1.0
        if out.any():
            bad = [f"({a:g}, {b:g})" for (a, b), o in zip(p, out.any(axis=1)) if o]
            warnings.append(f"{len(bad)} point(s) of the mood path lay outside the valence/arousal plane and were "
                            f"moved onto its edge: {', '.join(bad[:4])}{' ...' if len(bad) > 4 else ''}.")
            p = np.clip(p, -1.0, 1.0)
        if times is None:
            t = np.linspace(0.0, 1.0, len(p))
        else:
            try:
                t = np.asarray([float(x) for x in times], np.float64)
            except (TypeError, ValueError) as exc:
                raise MoodPathError(f"The mood path's times must be numbers: {exc}.") from exc
            if t.shape != (len(p),) or not np.isfinite(t).all():
                raise MoodPathError(f"The mood path has {len(p)} points but {len(t)} times.")
            if np.any(np.diff(t) < 0):
                raise MoodPathError("The mood path's times must not go backwards.")
            if t.min() < 0 or t.max() > 1:
                warnings.append("The mood path's times were clipped to the song's length (0..1).")
                t = np.clip(t, 0.0, 1.0)
        return cls(p, t, warnings)

    @classmethod
    def parse(cls, spec: str) -> "MoodPath":
        """``"v,a;v,a[;...]"`` (evenly spaced), or mood names (``"calm;excited"``, :data:`MOODS`)."""
        pts = []
        for part in str(spec).replace(" ", "").split(";"):
            if not part:
                continue
            if part.lower() in MOODS:
                pts.append(MOODS[part.lower()])
                continue
            xs = part.split(",")
            if len(xs) != 2:
                raise MoodPathError(f"'{part}' is not a point 'valence,arousal' (or one of {', '.join(MOODS)}).")
            try:
                pts.append((float(xs[0]), float(xs[1])))
            except ValueError as exc:
                raise MoodPathError(f"'{part}' is not a point 'valence,arousal': {exc}.") from exc
        return cls.make(pts)

    def at(self, frac) -> np.ndarray:
        """The curve at fractions ``frac`` of the song (clamped to 0..1): ``(..., 2)``."""
        f = np.clip(np.asarray(frac, np.float64), 0.0, 1.0)
        v = np.interp(f, self.times, self.points[:, 0])
        a = np.interp(f, self.times, self.points[:, 1])
        return np.stack([v, a], axis=-1)

    def spec(self) -> str:
        return ";".join(f"{v:.2f},{a:.2f}" for v, a in self.points)

    def as_dict(self) -> dict:
        return {"points": [[round(float(v), 4), round(float(a), 4)] for v, a in self.points],
                "times": [round(float(t), 4) for t in self.times]}


def path_rules(rules, path: Optional["MoodPath"], weight: float = DEFAULT_WEIGHT, reuse: int = DEFAULT_REUSE):
    """``rules`` (:class:`~musiclab.stitcher.chain.ChainRules`) for a build along ``path`` with
    ``weight``: the reuse limit raised to at least ``reuse``. Without a path (or weight 0) ``rules``
    unchanged. What the Mood path panel builds with (the CLI too, unless ``--reuse`` is given)."""
    from dataclasses import replace

    if path is None or weight <= 0:
        return rules
    return replace(rules, mood_path=path, mood_weight=float(weight), reuse=max(int(rules.reuse), int(reuse)))


# -- chunk emotions --------------------------------------------------------------------------------

def _model(model):
    from ..emotion.predict import get_model

    return get_model(model)


def set_chunk_moods(pool, xy, probs=None, model: str = "injected") -> dict:
    """Give the pool's chunks their emotion positions ``xy`` ``(n, 2)`` (plane coordinates) directly."""
    xy = np.asarray(xy, np.float64)
    if xy.shape != (len(pool.chunks), 2) or not np.isfinite(xy).all():
        raise MoodPathError(f"Chunk moods must be {len(pool.chunks)} finite (valence, arousal) pairs.")
    m = {"xy": np.clip(xy, -1, 1), "probs": None if probs is None else np.asarray(probs, np.float64),
         "model": model, "n": len(pool.chunks)}
    pool.cache["mood"] = m
    return m


def chunk_moods(pool) -> Optional[dict]:
    """The chunk emotions already predicted for this pool (``{"xy", "probs", "model"}``), or None."""
    m = pool.cache.get("mood")
    if m is not None and m.get("n") == len(pool.chunks):
        return m
    return None


def _song_windows(pool, idx: list[int], context_s: float) -> tuple[np.ndarray, list[int], int]:
    """One song's audio at the Emotion model's rate, and per chunk the start frame of the
    ``context_s`` window centred on it (clamped inside the song)."""
    from ..emotion.features import HOP, SR

    song = pool.songs[pool.chunks[idx[0]].song]
    y = np.asarray(song.y, np.float32)
    ratio = 1.0
    if pool.sr != SR:
        from ..audio.io import resample

        y = resample(y, pool.sr, SR)
        ratio = SR / pool.sr
    n_frames = 1 + len(y) // HOP
    win = int(round(context_s * SR / HOP))
    starts = []
    for i in idx:
        c = pool.chunks[i]
        mid = 0.5 * (c.start + c.end) * ratio / HOP
        starts.append(int(max(0, min(max(0, n_frames - win), round(mid - win / 2)))))
    return y, starts, win


def _predict_song(m, y: np.ndarray, starts: list[int], win: int) -> np.ndarray:
    from ..emotion.features import SR, frame_features

    if m.needs_frame_features:
        logmel, ff = frame_features(y, SR)
    else:
        logmel = ff = None
    return np.asarray(m.predict_windows(logmel, ff, starts, win, audio=y), np.float64)


def probs_to_xy(probs: np.ndarray) -> np.ndarray:
    """Plane coordinates ``(n, 2)`` of quadrant probabilities ``(n, 4)`` (:func:`plane_coords`)."""
    from ..emotion.session import plane_coords

    return np.array([plane_coords({"probs": list(map(float, p))}) for p in np.atleast_2d(probs)], np.float64)


def predict_chunk_moods(pool, model=None, context_s: float = CONTEXT_S, should_stop: ShouldStop = None,
                        on_progress: OnProgress = None) -> dict:
    """Every chunk's emotion, predicted once per pool (``pool.cache["mood"]``) and per song on disk
    (:func:`.cache.cached_chunk_moods`): ``{"xy": (n, 2) plane coordinates, "probs": (n, 4), "model"}``.
    A song's chunks go through the model in one batch; ``should_stop`` is checked between songs."""
    from .cache import cached_chunk_moods
    from ..emotion.predict import _model_key

    if not len(pool.chunks):
        raise MusiclabError("The pool is empty: there are no chunks to rate.")
    m = _model(model)
    key = _model_key(m)
    have = chunk_moods(pool)
    if have is not None and have.get("model_key") == key and have.get("context_s") == context_s:
        return have

    def compute(idx):
        y, starts, win = _song_windows(pool, idx, context_s)
        return _predict_song(m, y, starts, win)

    probs = cached_chunk_moods(pool, key, context_s, compute, should_stop=should_stop, on_progress=on_progress)
    out = {"xy": probs_to_xy(probs), "probs": probs, "model": m.name, "model_key": key,
           "context_s": context_s, "n": len(pool.chunks)}
    pool.cache["mood"] = out
    return out


def require_moods(pool) -> np.ndarray:
    """The chunk emotion positions for the search: those already there, else predicted now with
    the default Emotion model."""
    m = chunk_moods(pool)
    if m is None:
        m = predict_chunk_moods(pool)
    return m["xy"]


def chunk_prices(xy: np.ndarray, lengths_s: np.ndarray, path: MoodPath, span_s: float, reuse: int = 1,
                 allowed: Optional[np.ndarray] = None) -> np.ndarray:
    """Per chunk, what using it costs the rest of the song (plane units, >= 0): the dual prices of
    the assignment of chunks to the song's time slots that minimises the total distance to the
    curve (each chunk at most ``reuse`` times; a linear programme, HiGHS). A chunk that the curve
    needs later, and that nothing else can stand in for, is dear now; plentiful moods are free. The
    search adds the price to each candidate's distance, so a one-step choice follows the whole
    song's allocation instead of using up a scarce mood early. Zeros where it cannot be solved."""
    n = len(xy)
    out = np.zeros(n)
    ok = np.ones(n, bool) if allowed is None else np.asarray(allowed, bool)
    idx = np.flatnonzero(ok)
    mean_len = float(np.mean(lengths_s[idx])) if len(idx) else 0.0
    if len(idx) < 2 or mean_len <= 0:
        return out
    slots = int(max(1, round(span_s / mean_len)))
    m = idx.size
    if slots * m > 400_000 or slots > m * max(1, reuse):
        return out  # a huge pool, or too few chunks for the song under the reuse limit: no prices
    try:
        from scipy.optimize import linprog
        from scipy.sparse import coo_matrix
    except ImportError:  # pragma: no cover - scipy comes with librosa
        return out
    want = path.at((np.arange(slots) + 0.5) / slots)
    D = np.linalg.norm(want[:, None, :] - xy[idx][None, :, :], axis=2)  # (slots, chunks)
    k = np.arange(slots * m)
    a_eq = coo_matrix((np.ones(k.size), (k // m, k)), shape=(slots, k.size))
    a_ub = coo_matrix((np.ones(k.size), (k % m, k)), shape=(m, k.size))
    try:
        res = linprog(D.ravel(), A_ub=a_ub, b_ub=np.full(m, float(max(1, reuse))), A_eq=a_eq,
                      b_eq=np.ones(slots), bounds=(0, None), method="highs")
    except Exception:
        return out
    if res.status != 0 or getattr(res, "ineqlin", None) is None:
        return out
    out[idx] = np.maximum(0.0, -np.asarray(res.ineqlin.marginals, np.float64))
    return out


# -- what the search planned, what the song became -------------------------------------------------

def _chunk_times(pool, items: Sequence[int], span_s: float) -> np.ndarray:
    """Planned mid-time of each chain item as a fraction of ``span_s``."""
    lens = np.array([pool.chunks[i].length for i in items], np.float64) / pool.sr
    start = np.concatenate([[0.0], np.cumsum(lens)[:-1]])
    return (start + lens / 2) / max(span_s, 1e-9)


def planned_report(pool, items: Sequence[int], path: MoodPath, span_s: float) -> dict:
    """How close the chosen chunks' predicted emotions stay to the curve at their planned times,
    against the best any chunk of the pool could do there (``floor``); ``message`` says so where
    the pool has no chunk near the curve ("" otherwise)."""
    xy = require_moods(pool)
    items = list(items)
    fr = _chunk_times(pool, items, span_s)
    want = path.at(fr)
    d = np.linalg.norm(xy[items] - want, axis=1)
    # the nearest chunk of the whole pool to each wanted point (ignoring every other rule)
    floor = np.min(np.linalg.norm(xy[None, :, :] - want[:, None, :], axis=2), axis=1)
    mean_d, mean_floor = float(d.mean()), float(floor.mean())
    msg = ""
    far = floor >= NEAR
    if far.mean() >= FAR_SHARE:
        share = float(far.mean())
        msg = (f"No chunk of the pool is near the requested mood over {100 * share:.0f} % of the song: the nearest "
               f"chunks stay {mean_floor:.2f} away on average (the song: {mean_d:.2f}). Add songs of that mood "
               f"for a closer result.")
    elif mean_d >= NEAR:
        msg = (f"The song stays {mean_d:.2f} from the requested mood on average (chunks as near as "
               f"{mean_floor:.2f} exist): raise the mood weight to follow it more closely, at the cost of rougher "
               f"joins.")
    return {"mean_distance": round(mean_d, 4), "floor": round(mean_floor, 4), "message": msg,
            "items": [{"t": round(float(f), 4), "valence": round(float(xy[i, 0]), 4),
                       "arousal": round(float(xy[i, 1]), 4), "want": [round(float(w[0]), 4), round(float(w[1]), 4)],
                       "distance": round(float(di), 4)} for i, f, w, di in zip(items, fr, want, d)]}


def timeline(y: np.ndarray, sr: int, model=None, should_stop: ShouldStop = None) -> dict:
    """The Emotion model's prediction of audio ``y``: the whole (quadrant, plane point) and per
    10 s window (5 s hop) its probabilities and plane point, with the window's centre time."""
    from ..emotion.features import SR
    from ..emotion.model import QUADRANT_NAMES, QUADRANTS
    from ..emotion.predict import _segments_from_audio

    check_stop(should_stop)
    m = _model(model)
    y = np.asarray(y, np.float32)
    if y.ndim > 1:
        y = y.mean(axis=0)
    if sr != SR:
        from ..audio.io import resample

        y = resample(y, sr, SR)
    if len(y) < SR // 2:
        raise MusiclabError("The song is too short to rate its mood.")
    segs, _rms = _segments_from_audio(m, y, 0.0, last=True)
    probs = np.array([s[2] for s in segs], np.float64)
    xy = probs_to_xy(probs)
    mean_p = probs.mean(axis=0)
    q = QUADRANTS[int(np.argmax(mean_p))]
    whole = probs_to_xy(mean_p[None])[0]
    return {"model": m.name, "duration": round(len(y) / SR, 3), "quadrant": q, "mood": QUADRANT_NAMES[q],
            "xy": [round(float(whole[0]), 4), round(float(whole[1]), 4)],
            "segments": [{"start": a, "end": b, "t": round(0.5 * (a + b), 3),
                          "valence": round(float(p[0]), 4), "arousal": round(float(p[1]), 4)}
                         for (a, b, _), p in zip(segs, xy)]}


def result_report(y: np.ndarray, sr: int, path: Optional[MoodPath] = None, model=None,
                  should_stop: ShouldStop = None) -> dict:
    """:func:`timeline` of the rendered song, and with ``path`` the curve at each window's centre
    (as a fraction of the song's length), each window's distance to it and their mean."""
    r = timeline(y, sr, model, should_stop=should_stop)
    if path is not None:
        dur = max(r["duration"], 1e-9)
        segs = r["segments"]
        want = path.at(np.array([s["t"] for s in segs]) / dur)
        d = []
        for s, w in zip(segs, want):
            s["want"] = [round(float(w[0]), 4), round(float(w[1]), 4)]
            s["distance"] = round(float(np.hypot(s["valence"] - w[0], s["arousal"] - w[1])), 4)
            d.append(s["distance"])
        r["mean_distance"] = round(float(np.mean(d)), 4) if d else None
        r["path"] = path.as_dict()
        start, end = path.points[0], path.points[-1]
        r["asked"] = f"{quadrant_of(*start)} → {quadrant_of(*end)}"
    return r


def quadrant_of(v: float, a: float) -> str:
    """The quadrant of a plane point (Q1 v+ a+, Q2 v- a+, Q3 v- a-, Q4 v+ a-)."""
    if a >= 0:
        return "Q1" if v >= 0 else "Q2"
    return "Q4" if v >= 0 else "Q3"


def rate_built(built, path: Optional[MoodPath] = None, model=None, should_stop: ShouldStop = None,
               on_progress: OnProgress = None) -> dict:
    """The built song's mood (:func:`result_report` of its rendered audio) and, with a path, the
    search's plan (:func:`planned_report`); a job for the GUI, a call for the CLI."""
    report(on_progress, 0, 1, "rating the mood")
    r = built.rendered
    out = result_report(r.y, r.sr, path, model, should_stop=should_stop)
    if path is not None and built.pool is not None and chunk_moods(built.pool) is not None:
        span = sum(built.pool.chunks[i].length for i in built.chain.items) / built.pool.sr
        out["planned"] = planned_report(built.pool, built.chain.items, path, span)
    report(on_progress, 1, 1, "mood rated")
    return out
