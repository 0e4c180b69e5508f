"""Rate audio held in memory with the Emotion model, and compare it with the mood asked for. No Qt.

:func:`rate_audio` is :func:`~musiclab.emotion.predict.predict_file` for samples (a rendered
tune, a stitched song, a recording): the same 10 s windows with a 5 s hop, the same dict
(quadrant, probabilities, valence/arousal, uncertainty, warnings, per-segment ``segments``),
so every widget that draws a file's prediction draws it too. Audio longer than
:data:`~musiclab.emotion.predict.WHOLE_FILE_MAX_S` is scored in chunks of twelve windows,
as files are.

:func:`compare_with_request` says where the prediction sits against a requested quadrant
("Q1".."Q4"): on the plane (:func:`~musiclab.emotion.session.plane_coords`, the log-odds
position the Emotion tab draws) and per axis (valence half, arousal half);
:func:`rating_text` is the line the Composer shows ("predicted: Q3 sad (v −0.40, a −0.52) ·
asked: Q3 sad ✓").
"""

from __future__ import annotations

import threading
from typing import Optional, Union

import numpy as np

from ..errors import Cancelled, MusiclabError
from ..jobs import OnProgress, ShouldStop, check_stop, report
from .model import QUADRANT_NAMES, QUADRANTS, EmotionModel, entropy_norm, va_from_probs
from .session import plane_coords

SHORT_NAMES = {"Q1": "happy", "Q2": "tense", "Q3": "sad", "Q4": "calm"}
#: the sides of each quadrant: (valence positive, arousal high)
SIDES = {"Q1": (True, True), "Q2": (False, True), "Q3": (False, False), "Q4": (True, False)}

_lock = threading.Lock()
_models: dict = {}


def rating_model(model: Union[str, EmotionModel, None] = None) -> EmotionModel:
    """The Emotion model ``model`` (a name, a path or a loaded model), loaded once per process.
    A missing or damaged model raises :class:`~musiclab.errors.MusiclabError` with words for the user."""
    if isinstance(model, EmotionModel):
        return model
    name = model or "default"
    with _lock:
        m = _models.get(name)
        if m is not None:
            return m
        from .model import load

        try:
            m = load(name)
        except MusiclabError as exc:
            raise MusiclabError(f"No Emotion model to rate with: {exc}") from exc
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise MusiclabError(f"The Emotion model '{name}' could not be loaded ({exc}).") from exc
        _models[name] = m
        return m


def rate_audio(y: np.ndarray, sr: int, name: str = "audio", model: Union[str, EmotionModel, None] = None,
               should_stop: ShouldStop = None, on_progress: OnProgress = None) -> dict:
    """The Emotion model's prediction of mono (or ``(channels, n)``) samples at ``sr``, as
    :func:`~musiclab.emotion.predict.predict_file` gives it for a file (``file`` is "")."""
    from ..audio.io import resample
    from .features import SR
    from .predict import WHOLE_FILE_MAX_S, _segments_from_audio, chunked_segments, summarize

    a = np.asarray(y, dtype=np.float32)
    if a.ndim == 2:
        a = a.mean(axis=0 if a.shape[0] <= 8 else 1)
    if a.size == 0 or not sr:
        raise MusiclabError(f"'{name}' has no audio to rate.")
    a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
    m = rating_model(model)
    check_stop(should_stop)
    report(on_progress, 0, 1, "resampling")
    a = resample(a, int(sr), SR)
    duration = len(a) / SR
    segs, energy = [], []
    if duration <= WHOLE_FILE_MAX_S:
        s, rms = _segments_from_audio(m, a, 0.0, last=True)
        segs.extend(s)
        energy.append((rms, len(a)))
        report(on_progress, 1, 1, name)
    else:
        def read(t0: float, span: float) -> np.ndarray:
            return a[int(round(t0 * SR)): int(round((t0 + span) * SR))]

        segs, energy = chunked_segments(m, duration, read, name, should_stop, on_progress)
    check_stop(should_stop)
    return summarize(m, segs, energy, duration, name)


def rate_or_reason(y: np.ndarray, sr: int, name: str = "audio", model: Union[str, EmotionModel, None] = None,
                   should_stop: ShouldStop = None, on_progress: OnProgress = None) -> dict:
    """:func:`rate_audio`, or ``{"unrated": why}`` when there is no usable Emotion model (or no
    audio): a note for the panel's own text, not an error for the window to report."""
    try:
        return rate_audio(y, sr, name, model, should_stop=should_stop, on_progress=on_progress)
    except Cancelled:
        raise
    except MusiclabError as exc:
        return {"unrated": str(exc), "name": name}


def part_rating(rating: dict, start_s: float, end_s: Optional[float] = None) -> dict:
    """The prediction of the part of the audio from ``start_s`` (to ``end_s``) out of a whole
    rating: the mean over the windows that lie mostly in that part (more than half of each
    window), with the same fields as :func:`rate_audio`. The whole rating comes back when no
    window qualifies (a part shorter than half a window)."""
    segs = rating.get("segments") or []
    end = float(rating.get("duration", 0.0)) if end_s is None else float(end_s)

    def inside(s):
        a, b = max(s["start"], start_s), min(s["end"], end)
        return b - a > 0.5 * (s["end"] - s["start"])

    keep = [s for s in segs if inside(s)]
    if not keep or len(keep) == len(segs):
        return dict(rating, part=(0.0, float(rating.get("duration", 0.0))))
    probs = np.array([s["probs"] for s in keep], dtype=np.float64)
    mean_p = probs.mean(axis=0)
    v, ar = va_from_probs(mean_p)
    seg_v, seg_a = va_from_probs(probs)
    q = QUADRANTS[int(np.argmax(mean_p))]
    out = dict(rating)
    out.update(probs={qq: round(float(x), 4) for qq, x in zip(QUADRANTS, mean_p)}, quadrant=q,
               mood=QUADRANT_NAMES[q], valence=round(float(v), 4), arousal=round(float(ar), 4),
               valence_std=round(float(np.std(seg_v)), 4), arousal_std=round(float(np.std(seg_a)), 4),
               uncertainty=round(float(entropy_norm(mean_p)), 4), segments=keep,
               part=(round(float(start_s), 3), round(end, 3)))
    return out


def normal_quadrant(asked) -> Optional[str]:
    """"Q1".."Q4" from what a setting holds ("Q3", "q3", 3, "Q3 sad"); None for none or nonsense."""
    if asked is None:
        return None
    if isinstance(asked, (int, np.integer)) and 1 <= int(asked) <= 4:
        return f"Q{int(asked)}"
    s = str(asked).strip().upper()
    if len(s) >= 2 and s[0] == "Q" and s[1] in "1234":
        return s[:2]
    return None


def compare_with_request(rating: dict, asked) -> dict:
    """Where ``rating`` sits against the requested quadrant ``asked`` (None: nothing asked).

    ``x``/``y``: the plane position (log-odds / 4, see
    :data:`~musiclab.emotion.session.PLANE_NOTE`); ``hit``: the predicted quadrant is the one
    asked; ``valence_hit`` / ``arousal_hit``: the prediction lies on the asked side of that axis;
    ``p_asked``: the probability the model gives the asked quadrant."""
    x, y = plane_coords(rating)
    out = {"quadrant": rating["quadrant"], "x": round(x, 4), "y": round(y, 4), "asked": None, "hit": None,
           "valence_hit": None, "arousal_hit": None, "p_asked": None}
    q = normal_quadrant(asked)
    if q is None:
        return out
    pos_v, high_a = SIDES[q]
    probs = rating.get("probs") or {}
    out.update(asked=q, hit=rating["quadrant"] == q, valence_hit=(x > 0) == pos_v, arousal_hit=(y > 0) == high_a,
               p_asked=round(float(probs.get(q, 0.0)), 4) if isinstance(probs, dict) else None)
    return out


def _signed(v: float) -> str:
    return f"{v:+.2f}".replace("-", "\u2212")


def rating_text(rating: dict, asked=None, what: str = "") -> str:
    """One line (HTML) of the prediction and, when a mood was asked for, the comparison."""
    c = compare_with_request(rating, asked)
    q = rating["quadrant"]
    text = (f"<b>Mood</b>{(' of ' + what) if what else ''}: predicted <b>{q} {SHORT_NAMES[q]}</b> "
            f"(v {_signed(c['x'])}, a {_signed(c['y'])} on the plane; P = {float(rating['probs'][q]):.2f})")
    if c["asked"] is not None:
        a = c["asked"]
        if c["hit"]:
            verdict = "<span style='color:#3a9a4a'>\u2713</span>"
        else:
            axes = [w for w, ok in (("valence", c["valence_hit"]), ("arousal", c["arousal_hit"])) if ok]
            why = {0: "both halves wrong", 1: f"right {axes[0] if axes else ''} half",
                   2: "right halves, another quadrant more likely"}[len(axes)]
            verdict = f"<span style='color:#d9534f'>\u2717</span> ({why})"
        text += f" \u00b7 asked: <b>{a} {SHORT_NAMES[a]}</b> {verdict}"
    if rating.get("warnings"):
        text += " \u00b7 <i>" + "; ".join(rating["warnings"]) + "</i>"
    return text
