"""Prediction over whole files and over time, and evaluation on labelled data. No Qt.

A file is cut into 10 s windows with a 5 s hop (a shorter file is one window, its
frames repeated to fill it); the model scores each window, the file's prediction is the
mean over windows. Files longer than :data:`WHOLE_FILE_MAX_S` are read in chunks of
twelve windows with :func:`~musiclab.audio.io.load_audio` (offset, duration), so memory
stays bounded whatever the length.
"""

from __future__ import annotations

import os

from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..audio.io import AudioFileError, audio_info, load_audio
from ..errors import Cancelled, MusiclabError
from ..jobs import OnProgress, ShouldStop, check_stop, report
from .features import HOP_S, SR, WIN_S, frame_features, frames_per_second, n_frames, win_frames, window_starts
from .model import QUADRANT_NAMES, QUADRANTS, EmotionModel, entropy_norm, load, va_from_probs

WHOLE_FILE_MAX_S = 75.0
CHUNK_WINDOWS = 12
SILENCE_DBFS = -60.0
SHORT_S = 5.0

ModelArg = Union[str, EmotionModel, None]


def get_model(model: ModelArg) -> EmotionModel:
    if isinstance(model, EmotionModel):
        return model
    return load(model or "default")


def _segments_from_audio(model: EmotionModel, y: np.ndarray, t0: float, last: bool):
    """Windows of one chunk of audio starting at ``t0`` s: list of (start_s, end_s, probs)."""
    if model.needs_frame_features:
        logmel, ff = frame_features(y, SR)
        n = logmel.shape[1]
    else:  # musicnn members read the audio itself
        logmel = ff = None
        n = n_frames(len(y))
    w = win_frames()
    fps = frames_per_second()
    if last:
        starts = window_starts(n)
    else:
        starts = [int(round(k * HOP_S * fps)) for k in range(CHUNK_WINDOWS)]
        starts = [s for s in starts if s + w <= n] or [0]
    probs = model.predict_windows(logmel, ff, starts, w, audio=y)
    dur = len(y) / SR
    out = []
    for s, p in zip(starts, probs):
        a = t0 + s / fps
        out.append((round(a, 3), round(min(t0 + dur, a + WIN_S), 3), p))
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if len(y) else 0.0
    return out, rms


def predict_file(path, model: ModelArg = None, should_stop: ShouldStop = None,
                 on_progress: OnProgress = None) -> dict:
    """Quadrant probabilities, valence/arousal, uncertainty and a per-segment timeline.

    Raises :class:`AudioFileError` for unreadable files and :class:`Cancelled`.
    """
    m = get_model(model)
    p = Path(path)
    info = audio_info(p, peak=False)
    duration = float(info.duration)
    warnings = []
    segs = []
    energy = []
    if duration <= WHOLE_FILE_MAX_S:
        y, _ = load_audio(p, sr=SR, mono=True)
        if len(y) == 0:
            raise AudioFileError(f"'{p.name}' contains no audio samples.")
        duration = len(y) / SR
        s, rms = _segments_from_audio(m, y, 0.0, last=True)
        segs.extend(s)
        energy.append((rms, len(y)))
        report(on_progress, 1, 1, p.name)
    else:
        segs, energy = chunked_segments(
            m, duration, lambda t0, span: load_audio(p, sr=SR, mono=True, offset=t0, duration=span)[0],
            p.name, should_stop, on_progress)
    return summarize(m, segs, energy, duration, p.name, str(p), warnings)


def chunked_segments(m: EmotionModel, duration: float, read, name: str, should_stop: ShouldStop = None,
                     on_progress: OnProgress = None) -> tuple[list, list]:
    """The windows of a long track, read ``CHUNK_WINDOWS`` windows at a time: ``read(t0, span)``
    gives the mono audio at :data:`SR` from ``t0`` for ``span`` seconds (a file's slice, or an
    array's). Returns ``(segs, energy)`` for :func:`summarize`."""
    segs, energy = [], []
    step = CHUNK_WINDOWS * HOP_S
    span = (CHUNK_WINDOWS - 1) * HOP_S + WIN_S
    n_chunks = int(np.ceil(max(duration - (span - step), 1e-9) / step))
    for k in range(n_chunks):
        check_stop(should_stop)
        t0 = k * step
        y = read(t0, span)
        if len(y) < SR:  # a sliver at the end is covered by the previous chunk
            break
        last = k == n_chunks - 1 or t0 + span >= duration
        s, rms = _segments_from_audio(m, y, t0, last=last)
        if segs:
            s = [x for x in s if x[0] > segs[-1][0] + 1e-6]
        segs.extend(s)
        energy.append((rms, len(y)))
        report(on_progress, k + 1, n_chunks, name)
        if last:
            break
    return segs, energy



def summarize(m: EmotionModel, segs: list, energy: list, duration: float, name: str, file: str = "",
              warnings: Optional[list] = None) -> dict:
    """The prediction dict of a track from its windows ``segs`` ((start, end, probs) each) and the
    ``energy`` of its chunks ((rms, samples) each): mean probabilities, valence/arousal, their
    spread over time, uncertainty, level, warnings (nearly silent, very short) and the timeline.
    Shared by :func:`predict_file` and :func:`musiclab.emotion.rate.rate_audio`."""
    warnings = list(warnings or [])
    probs = np.array([x[2] for x in segs], dtype=np.float64)
    mean_p = probs.mean(axis=0)
    tot = sum(n for _, n in energy)
    rms = np.sqrt(sum(r * r * n for r, n in energy) / max(tot, 1))
    level = 20 * np.log10(rms) if rms > 0 else -np.inf
    if level < SILENCE_DBFS:
        warnings.append(f"nearly silent ({level:.0f} dBFS): there is no music to judge")
        mean_p = np.full(4, 0.25)
        probs = np.full_like(probs, 0.25)
    if duration < SHORT_S:
        warnings.append(f"only {duration:.1f} s of audio: the prediction is uncertain")
    v, a = va_from_probs(mean_p)
    seg_v, seg_a = va_from_probs(probs)
    q = int(np.argmax(mean_p))
    return {
        "file": file,
        "name": name,
        "duration": round(duration, 3),
        "model": m.name,
        "probs": {qq: round(float(x), 4) for qq, x in zip(QUADRANTS, mean_p)},
        "quadrant": QUADRANTS[q],
        "mood": QUADRANT_NAMES[QUADRANTS[q]],
        "valence": round(float(v), 4),
        "arousal": round(float(a), 4),
        # spread over time, as standard deviations of the window scores
        "valence_std": round(float(np.std(seg_v)), 4),
        "arousal_std": round(float(np.std(seg_a)), 4),
        "uncertainty": round(float(entropy_norm(mean_p)), 4),
        "level_dbfs": round(float(level), 1) if np.isfinite(level) else None,
        "warnings": warnings,
        "segments": [
            {"start": a0, "end": b0, "probs": [round(float(x), 4) for x in pp],
             "valence": round(float(sv), 4), "arousal": round(float(sa), 4)}
            for (a0, b0, _), pp, sv, sa in zip(segs, probs, seg_v, seg_a)
        ],
    }

def predict_files(paths, model: ModelArg = None, should_stop: ShouldStop = None,
                  on_progress: OnProgress = None, on_result=None) -> dict:
    """Predict many files; a file that fails is reported and the batch goes on.

    Returns ``{"results": [...], "errors": [{"file", "error"}]}``; ``on_result(dict)``
    is called after every file (for live tables).
    """
    from ..audio.io import expand_paths, AUDIO_EXTENSIONS

    m = get_model(model)
    files = expand_paths(paths, AUDIO_EXTENSIONS)
    results, errors = [], []
    n = len(files)
    for i, f in enumerate(files):
        check_stop(should_stop)
        report(on_progress, i, n, f.name)
        try:
            r = predict_file(f, m, should_stop=should_stop)
        except Cancelled:
            raise
        except MusiclabError as exc:
            errors.append({"file": str(f), "error": str(exc)})
            continue
        except Exception as exc:  # a decoder failing in an unexpected way must not stop the batch
            errors.append({"file": str(f), "error": f"'{f.name}': {type(exc).__name__}: {exc}"})
            continue
        results.append(r)
        if on_result is not None:
            on_result(r)
    report(on_progress, n, n, "done")
    return {"results": results, "errors": errors}


def _model_key(m: EmotionModel) -> str:
    import hashlib
    import json

    meta = json.dumps(m.meta, sort_keys=True, default=str)
    return hashlib.sha1(f"{m.name}|{meta}".encode()).hexdigest()[:16]


def _cached_prediction(path: Path, fp: Optional[str], m: EmotionModel, cache_dir: Optional[Path],
                       should_stop: ShouldStop) -> dict:
    """:func:`predict_file`, kept on disk by the file's *content* fingerprint ``fp`` (a moved
    or re-copied folder is still a hit) and the model's identity."""
    import json

    cf = Path(cache_dir) / _model_key(m) / f"{fp}.json" if cache_dir is not None and fp else None
    if cf is not None and cf.is_file():
        try:
            r = json.loads(cf.read_text())
            r["file"] = str(path)
            return r
        except (OSError, ValueError):
            pass
    r = predict_file(path, m, should_stop=should_stop)
    if cf is not None:
        from ..jobs import json_line

        cf.parent.mkdir(parents=True, exist_ok=True)
        tmp = cf.with_suffix(f".{os.getpid()}.partial")
        tmp.write_text(json_line(r))
        os.replace(tmp, cf)
    return r


def evaluate_labelled(source, model: ModelArg = None, should_stop: ShouldStop = None,
                      on_progress: OnProgress = None, cache_dir: Optional[Path] = "default") -> dict:
    """Predict every labelled clip of a folder/CSV and compute the metrics.

    Returns the metrics dict of :func:`~musiclab.emotion.metrics.evaluate` plus
    ``skipped`` (labels or files that could not be used, with reasons), ``n_skipped``,
    ``predictions`` (per file: true and predicted quadrant, probabilities, ``in_sample``),
    and the honesty fields: ``in_sample`` (how many clips the model trained on, recognised by
    content fingerprint against the model's metadata), ``in_sample_known`` (whether the
    metadata allowed the check), ``unseen`` (the metrics on the other clips only, None if
    fewer than 4) and ``warning`` (words for the user, or "").
    Predictions are cached by file content and model (``cache_dir=None`` turns that off).
    """
    from ..fingerprint import fp_or_none, known_fingerprints
    from .dataset import load_labelled
    from .metrics import evaluate

    m = get_model(model)
    if cache_dir == "default":
        from ..paths import user_cache_dir

        cache_dir = user_cache_dir() / "emotion-predictions"
    ds = load_labelled(source, should_stop=should_stop)
    skipped = list(ds.skipped)
    known, checked = known_fingerprints(m.meta.get("trained_clips", ()), m.meta.get("trained_on", ()))
    fps = {it.path: fp_or_none(it.path) for it in ds.items}  # each clip read for its fingerprint once
    trained = {str(p) for p, fp in fps.items() if checked and fp in known}
    y, probs, vals, ars, preds = [], [], [], [], []
    n = len(ds.items)
    for i, it in enumerate(ds.items):
        check_stop(should_stop)
        report(on_progress, i, n, it.path.name)
        try:
            r = _cached_prediction(it.path, fps[it.path], m, cache_dir, should_stop)
        except Cancelled:
            raise
        except Exception as exc:
            skipped.append(str(exc) if isinstance(exc, MusiclabError) else f"'{it.path.name}': {exc}")
            continue
        pr = [r["probs"][q] for q in QUADRANTS]
        y.append(it.label)
        probs.append(pr)
        vals.append(it.valence)
        ars.append(it.arousal)
        preds.append({"file": str(it.path), "true": QUADRANTS[it.label], "pred": r["quadrant"], "probs": pr,
                      "valence": r["valence"], "arousal": r["arousal"], "in_sample": str(it.path) in trained})
    report(on_progress, n, n, "done")
    if not y:
        raise MusiclabError(f"None of the {n} labelled files could be read.")
    numeric = all(v is not None for v in vals) and all(a is not None for a in ars)

    def metrics(mask, with_roc=True):
        idx = np.flatnonzero(mask)
        return evaluate(np.array(y)[idx], np.array(probs)[idx],
                        np.array(vals, float)[idx] if numeric else None,
                        np.array(ars, float)[idx] if numeric else None, with_roc=with_roc)

    in_mask = np.array([p["in_sample"] for p in preds])
    out = metrics(np.ones(len(y), bool))
    n_in = int(in_mask.sum())
    out["unseen"] = metrics(~in_mask, with_roc=False) if (~in_mask).sum() >= 4 else None
    out["n_unseen"] = int((~in_mask).sum())
    out["in_sample"] = n_in
    out["in_sample_known"] = checked
    if n_in:
        acc = out["unseen"]["accuracy"] if out["unseen"] else None
        out["warning"] = (f"{n_in} of {len(y)} clips were in the model's training material: the figures on "
                          f"all clips are not a test of the model. "
                          + (f"On the {out['n_unseen']} unseen clips accuracy is {acc:.3f}."
                             if acc is not None else "Too few unseen clips to score."))
    elif not checked:
        out["warning"] = "The model's metadata names no training material, so in-sample clips cannot be detected."
    else:
        out["warning"] = ""
    out["model"] = m.name
    out["skipped"] = skipped
    out["n_skipped"] = len(skipped)
    out["predictions"] = preds
    return out
