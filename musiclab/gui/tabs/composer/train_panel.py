"""The Composer's Train box: a training job whose loss points arrive through ``on_partial``."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton, QSpinBox,
)

from ....composer.session import ComposerSession, safe_model_name

PRESET_TIP = ("default: sub-token embeddings + 2-layer LSTM over factorised events (pitches, then duration), "
              "with each event's metrical position (onset within a 4- and a 3-quarter bar) as an extra input; "
              "transposition augmentation, dropout.\npointer: default plus a learnt pointer that copies from what "
              "the piece already played (how the shipped folk model works; a little slower).\n"
              "large: the same as default with a 2x384 LSTM (slower).\n"
              "seed: the seed study's network (one scalar per step, LSTM 512/1024/1024, batch norm) for "
              "comparison; it tends to collapse.")


def done_text(res: dict) -> str:
    h = res.get("history") or []
    best = min((x["val_loss"] for x in h), default=float("nan"))
    text = (f"Done after {res['epochs']} epochs ({res['stopped_by']}), best validation loss {best:.3f}; "
            f"saved {Path(res['out']).name}")
    if res.get("copy"):
        return text + (f"; self-copy mixture fitted on the validation pieces ({res['copy']['nll_per_event']:.2f} "
                       "nats/event with it).")
    if res.get("copy_error"):
        return text + f"; no self-copy mixture ({res['copy_error']})."
    return text + "."


class TrainPanel(QGroupBox):
    """Preset, sequence length, epochs, name; Train / Cancel; progress and status.

    ``show_loss(steps, epochs)`` draws the curves; ``trained(model name)`` is called when a
    run ends with a saved model."""

    def __init__(self, ctx, session: ComposerSession, service, show_loss: Callable[[list, list], None],
                 trained: Callable[[str], None]):
        super().__init__("Train")
        self.ctx, self.session, self.svc = ctx, session, service
        self._show_loss, self._trained = show_loss, trained
        self.steps: list = []  # (fractional epoch, running training loss)
        self.history: list = []  # one record per epoch (validation loss), as the job reported them
        self._job = None  # the running training job, for Cancel
        f = QFormLayout(self)
        self.preset_combo = QComboBox()
        self.preset_combo.setToolTip(PRESET_TIP)
        for text, key in (("default (2x256 LSTM, factorised, metre)", "default"),
                          ("pointer (default + learnt copying)", "pointer"),
                          ("large (2x384 LSTM, factorised, metre)", "large"),
                          ("small (2x128 LSTM, quick tests)", "small"), ("seed (the study's network)", "seed")):
            self.preset_combo.addItem(text, key)
        f.addRow("Model", self.preset_combo)
        self.seq_spin = QSpinBox()
        self.seq_spin.setRange(16, 1024)
        self.seq_spin.setValue(128)
        self.seq_spin.setSuffix(" sub-tokens")
        self.seq_spin.setToolTip("Back-propagation-through-time length")
        f.addRow("Sequence length", self.seq_spin)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 500)
        self.epochs_spin.setValue(20)
        f.addRow("Epochs", self.epochs_spin)
        self.name_edit = QLineEdit("my-composer")
        self.name_edit.setToolTip("Saved as <user data>/models/composer/<name>.pt (best checkpoint)")
        f.addRow("Save as", self.name_edit)
        self.resume_check = QCheckBox("Resume from the saved checkpoint")
        f.addRow(self.resume_check)
        row = QHBoxLayout()
        self.train_btn = QPushButton("Train")
        self.train_btn.setToolTip("Train in the background (Ctrl+T)")
        self.cancel_train_btn = QPushButton("Cancel")
        self.cancel_train_btn.setEnabled(False)
        row.addWidget(self.train_btn)
        row.addWidget(self.cancel_train_btn)
        f.addRow(row)
        self.train_progress = QProgressBar()
        self.train_progress.setFormat("%p%")
        f.addRow(self.train_progress)
        self.train_status = QLabel("")
        self.train_status.setWordWrap(True)
        f.addRow(self.train_status)
        self.train_btn.clicked.connect(self.start_training)
        self.cancel_train_btn.clicked.connect(self.cancel)

    @property
    def running(self) -> bool:
        return self._job is not None and not self._job.done

    def start_training(self) -> None:
        from ....composer.train import train_on_corpus
        from ....paths import user_models_dir

        if self.running or self.svc.is_busy():
            self.ctx.notify("The Composer is busy (training or reading a corpus); cancel it first.")
            return
        corpus = self.session.corpus
        if corpus is None or not corpus.pieces:
            self.train_status.setText("Load a corpus with at least one piece before training.")
            self.ctx.notify("Load a corpus with at least one piece before training.")
            return
        name = safe_model_name(self.name_edit.text())
        out = user_models_dir("composer") / f"{name}.pt"
        self.steps, self.history = [], []
        self._show_loss([], [])
        self._job = self.svc.submit(
            train_on_corpus, corpus, self.preset_combo.currentData(), out, epochs=self.epochs_spin.value(),
            seq_len=self.seq_spin.value(), resume=self.resume_check.isChecked(),
            sources=list(self.session.corpus_sources), label=f"Training {name}")
        self._job.on_partial(self._on_point).on_progress(self._on_progress)
        self._job.on_result(lambda res: self.train_status.setText(done_text(res)))
        self._job.on_error(lambda msg: self.train_status.setText(f"Training stopped: {msg}"))
        self._job.on_cancel(lambda: self.train_status.setText("Training cancelled; the best checkpoint so far is kept."))
        self._job.on_finished(lambda: self._ended(name, out))
        self.train_btn.setEnabled(False)
        self.cancel_train_btn.setEnabled(True)
        self.train_progress.setValue(0)
        self.train_status.setText(f"Training → {out}")

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def _on_point(self, point) -> None:
        if point.kind == "train":
            self.steps.append((point.epoch, point.loss))
        else:
            self.history.append(point.record or {"epoch": point.epoch, "val_loss": point.loss})
        self._show_loss(self.steps, self.history)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.train_progress.setMaximum(max(total, 1))
        self.train_progress.setValue(min(done, max(total, 1)))
        self.train_status.setText(message)

    def _ended(self, name: str, out: Path) -> None:
        self.train_btn.setEnabled(True)
        self.cancel_train_btn.setEnabled(False)
        self._trained(name if Path(out).is_file() else "")

    def shutdown(self) -> None:
        self.cancel()
