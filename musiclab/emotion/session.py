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

from ..jobs import OnPartial, OnProgress, ShouldStop

QUADS = ("Q1", "Q2", "Q3", "Q4")
#: the CSV columns of :meth:`EmotionSession.export_csv`
CSV_FIELDS = ["file", "quadrant", "mood", "valence", "arousal", "uncertainty", "p_q1", "p_q2", "p_q3", "p_q4",
              "duration_s", "model", "notes"]
#: the transport gets at most the first 10 minutes of a file
PLAY_MAX_S = 600.0
#: at most this many files of the last session are re-predicted at start (paths are cheap, predictions are not)
RESTORE_MAX_FILES = 200


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
