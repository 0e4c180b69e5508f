"""The Emotion workbench's work, without Qt: the table of predictions and its operations.

:class:`EmotionSession` holds the analysed files (one prediction dict per file, as
:func:`~musiclab.emotion.predict.predict_file` makes it) and what the user does with them:
add, remove, clear, export as CSV, remember the paths for the next start. The slow
operations are plain functions (:func:`predict`, :func:`evaluate`, :func:`train_model`,
:func:`decode_for_playback`) that take the usual ``should_stop`` / ``on_progress`` /
``on_partial`` callables and never touch a session: the caller adds what they return (the
CLI at once, the tab on the GUI thread, from a job's ``on_partial``). The CLI and the tab
both drive it; ``tests/test_emotion_session.py`` drives it alone.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from ..jobs import OnPartial, OnProgress, ShouldStop

QUADS = ("Q1", "Q2", "Q3", "Q4")
#: the CSV columns of :meth:`EmotionSession.export_csv`
CSV_FIELDS = ["file", "quadrant", "mood", "valence", "arousal", "uncertainty", "p_q1", "p_q2", "p_q3", "p_q4",
              "duration_s", "model", "notes"]
#: the transport gets at most the first 10 minutes of a file
PLAY_MAX_S = 600.0
#: at most this many files of the last session are re-predicted at start (paths are cheap, predictions are not)
RESTORE_MAX_FILES = 200


# -- where a prediction sits on the valence/arousal plane ----------------------------------------

#: the plane's scale: each quarter of a half-axis is a factor of ten in the odds of that side, so
#: the edge (+-1) is odds of 10,000 : 1 (the precision of the 4-decimal probabilities)
PLANE_DECADES = 4.0
_PLANE_EPS = 1.0 / (1.0 + 10.0 ** PLANE_DECADES)
PLANE_NOTE = (
    "Where a point sits: the model gives four quadrant probabilities. Valence = P(Q1) + P(Q4) \u2212 P(Q2) "
    "\u2212 P(Q3) and arousal = P(Q1) + P(Q2) \u2212 P(Q3) \u2212 P(Q4) (the table and the CSV) are "
    "expected values: they saturate, so every confident file would sit in the very corner. The plane "
    "draws the log-odds of each side instead: position = log10(P(positive side) / P(negative side)) / 4. "
    "0 = even odds, 0.25 = 10 : 1, 0.5 = 100 : 1, 0.75 = 1,000 : 1, the edge = 10,000 : 1 or more. "
    "The quadrant a point falls in is the same as with the expected values; confident files are "
    "spread out instead of piled up in the corner.")


def _axis_position(pos: float, neg: float) -> float:
    """Plane coordinate of one axis from the probabilities of its two sides."""
    tot = pos + neg
    p = 0.5 if tot <= 0 else min(max(pos / tot, _PLANE_EPS), 1.0 - _PLANE_EPS)
    return float(np.log10(p / (1.0 - p)) / PLANE_DECADES)


def plane_coords(r: dict) -> tuple[float, float]:
    """``(x, y)`` on the valence/arousal plane of a prediction (a file's or a segment's dict):
    the log-odds of each axis's side over :data:`PLANE_DECADES` decades, in [-1, 1] (see
    :data:`PLANE_NOTE`). From ``probs`` (a dict by quadrant or a list Q1..Q4) where there are
    some, else from the expected ``valence`` / ``arousal`` (which are 2 P(side) - 1)."""
    probs = r.get("probs")
    if probs is not None and len(probs) == 4:
        q1, q2, q3, q4 = (float(probs[q]) for q in QUADS) if isinstance(probs, dict) else map(float, probs)
        return _axis_position(q1 + q4, q2 + q3), _axis_position(q1 + q2, q3 + q4)
    v, a = float(r["valence"]), float(r["arousal"])
    return _axis_position(1.0 + v, 1.0 - v), _axis_position(1.0 + a, 1.0 - a)


def plane_spread(r: dict) -> tuple[float, float]:
    """Standard deviations of the plane coordinates of a file's segments (0 for one segment)."""
    segs = r.get("segments") or []
    if len(segs) < 2:
        return 0.0, 0.0
    xy = np.array([plane_coords(s) for s in segs])
    return float(xy[:, 0].std()), float(xy[:, 1].std())


def csv_row(r: dict) -> list:
    """One prediction as a row of :data:`CSV_FIELDS`."""
    return [r["file"], r["quadrant"], r["mood"], r["valence"], r["arousal"], r["uncertainty"],
            *[r["probs"][q] for q in QUADS], r["duration"], r["model"], "; ".join(r.get("warnings", []))]


class EmotionSession:
    """The analysed files of one workbench: ``results`` in the order they arrived."""

    def __init__(self, model: str = "default"):
        self.model = model
        self.results: list[dict] = []
        self.last_eval: Optional[dict] = None
        self.last_train: Optional[dict] = None

    def __len__(self) -> int:
        return len(self.results)

    # -- the table -----------------------------------------------------------------------
    def add(self, result: dict) -> int:
        """Append one prediction; returns its index."""
        self.results.append(result)
        return len(self.results) - 1

    def extend(self, results: Iterable[dict]) -> None:
        for r in results:
            self.add(r)

    def remove(self, indices: Iterable[int]) -> int:
        """Remove the predictions at ``indices``; returns how many went."""
        gone = {int(i) for i in indices if 0 <= int(i) < len(self.results)}
        self.results = [r for i, r in enumerate(self.results) if i not in gone]
        return len(gone)

    def clear(self) -> None:
        self.results = []

    def index_of(self, result: Optional[dict]) -> Optional[int]:
        """Where ``result`` (the very dict) sits now, or None."""
        return next((i for i, r in enumerate(self.results) if r is result), None)

    def paths(self) -> list[str]:
        """The analysed files, in order (what a restart restores)."""
        return [r["file"] for r in self.results]

    # -- export ---------------------------------------------------------------------------
    def export_csv(self, path, order: Optional[Sequence[int]] = None) -> Path:
        """Write the predictions (in ``order``, indices into ``results``; default: as they
        arrived) as CSV with the columns :data:`CSV_FIELDS`; returns the path."""
        p = Path(path)
        rows = range(len(self.results)) if order is None else order
        with open(p, "w", newline="", encoding="utf-8") as fh:
            wr = csv.writer(fh)
            wr.writerow(CSV_FIELDS)
            for i in rows:
                wr.writerow(csv_row(self.results[i]))
        return p

    # -- restart ---------------------------------------------------------------------------
    @staticmethod
    def restorable(paths: Iterable[str], limit: int = RESTORE_MAX_FILES) -> tuple[list[Path], int]:
        """Of the paths saved at the last exit, those that still exist (at most ``limit``),
        and how many were left out (gone or over the limit)."""
        given = [Path(p) for p in paths if p]
        there = [p for p in given if p.is_file()]
        keep = there[:limit]
        return keep, len(given) - len(keep)


# -- operations: jobs for the tab's service, plain calls for the CLI ------------------------------

def predict(paths, model=None, should_stop: ShouldStop = None, on_progress: OnProgress = None,
            on_partial: OnPartial = None) -> dict:
    """Predict files and folders; each file's prediction goes to ``on_partial`` as it is ready.

    Returns ``{"results": [...], "errors": [{"file", "error"}]}``
    (:func:`~musiclab.emotion.predict.predict_files`): a bad file is reported, the batch goes on.
    """
    from .predict import predict_files

    return predict_files(paths, model, should_stop=should_stop, on_progress=on_progress, on_result=on_partial)


def errors_message(errors: Sequence[dict]) -> str:
    """One message naming every file a batch could not analyse ("" for none)."""
    if not errors:
        return ""
    if len(errors) == 1:
        return errors[0]["error"]
    return f"{len(errors)} files could not be analysed:\n" + "\n".join(e["error"] for e in errors)


def evaluate(source, model=None, should_stop: ShouldStop = None, on_progress: OnProgress = None) -> dict:
    """Metrics of ``model`` on a labelled folder or CSV
    (:func:`~musiclab.emotion.predict.evaluate_labelled`)."""
    from .predict import evaluate_labelled

    return evaluate_labelled(source, model, should_stop=should_stop, on_progress=on_progress)


def train_model(sources, out, should_stop: ShouldStop = None, on_progress: OnProgress = None,
                on_partial: OnPartial = None, log=None, **options) -> dict:
    """Train (or fine-tune) a model; every epoch's record goes to ``on_partial``.
    ``options`` are :class:`~musiclab.emotion.train.TrainOptions` fields."""
    from .train import train

    return train(sources, out, should_stop=should_stop, on_progress=on_progress, on_epoch=on_partial,
                 log=log or (lambda s: None), **options)


def decode_for_playback(path, duration: float, should_stop: ShouldStop = None,
                        on_progress: OnProgress = None):
    """``(samples, sample_rate)`` of the file at its own rate and channels, at most the first
    :data:`PLAY_MAX_S` seconds (what the transport plays)."""
    from ..audio.io import load_audio

    return load_audio(path, sr=None, mono=False, duration=min(float(duration), PLAY_MAX_S))


def playback_label(r: dict) -> str:
    return r["name"] + (" (first 10 min)" if r["duration"] > PLAY_MAX_S else "")
