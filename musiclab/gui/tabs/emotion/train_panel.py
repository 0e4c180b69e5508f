"""The Train page: fit or fine-tune a model on labelled folders in a job, epoch by epoch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView,
    QLabel, QLineEdit, QPushButton, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from ....emotion import session as core
from ...widgets.emotion_eval import TrainingPlot
from .eval_panel import pick_into

if TYPE_CHECKING:
    from . import EmotionTab

ARCHS = ["ensemble", "musicnn", "musicnn-mtt", "crnn", "linear", "seed-cnn", "seed-lstm"]


class TrainPanel(QWidget):
    """The form, a per-epoch table and the loss plot. Its Cancel stops the training job and is
    enabled only while one runs."""

    def __init__(self, tab: "EmotionTab", parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.tab = tab
        self.job = None  # the running training job, if any
        box = QGroupBox("Train or fine-tune on a labelled folder")
        form = QFormLayout(box)
        row = QHBoxLayout()
        self.path = QLineEdit()
        self.path.setPlaceholderText("labelled folder(s) or CSV; separate several with ';'")
        bt = QPushButton("Folder\u2026")
        bt.clicked.connect(lambda: pick_into(tab, self.path, folder=True, append=True))
        row.addWidget(self.path, 1)
        row.addWidget(bt)
        form.addRow("Data:", row)
        self.arch_box = QComboBox()
        self.arch_box.addItems(ARCHS)
        self.arch_box.setToolTip("ensemble = logistic regressions on the features of two pre-trained musicnn "
                                 "networks (the default's design; no epochs, so no loss curve); musicnn / musicnn-mtt "
                                 "= one of them alone; crnn, seed-cnn, seed-lstm = networks trained epoch by epoch")
        form.addRow("Architecture:", self.arch_box)
        self.epochs = QSpinBox()
        self.epochs.setRange(0, 500)
        self.epochs.setSpecialValueText("default")
        self.epochs.setToolTip("Epochs of the neural part (default: 30 for crnn, 25 for the seed models)")
        form.addRow("Epochs:", self.epochs)
        self.val_frac = QDoubleSpinBox()
        self.val_frac.setRange(0.0, 0.5)
        self.val_frac.setSingleStep(0.05)
        self.val_frac.setValue(0.2)
        self.val_frac.setToolTip("Share of artists held out for validation (no artist on both sides)")
        form.addRow("Validation share:", self.val_frac)
        self.finetune = QCheckBox("Start from the model selected on the Analyse page (same architecture)")
        form.addRow("Fine-tune:", self.finetune)
        self.out_name = QLineEdit("my-emotion-model")
        self.out_name.setToolTip("Saved in your models folder; it then appears in the model list")
        form.addRow("Save as:", self.out_name)
        brow = QHBoxLayout()
        self.btn_train = QPushButton("Train")
        self.btn_train.clicked.connect(lambda: self.start())
        self.btn_cancel = QPushButton("Cancel")
        self.btn_cancel.setToolTip("Stop the training; no model is written")
        self.btn_cancel.clicked.connect(self.cancel)
        self.btn_cancel.setEnabled(False)  # nothing to cancel until a training runs
        brow.addWidget(self.btn_train)
        brow.addWidget(self.btn_cancel)
        brow.addStretch(1)
        form.addRow(brow)
        self.plot = TrainingPlot()
        self.epoch_table = QTableWidget(0, 7)
        self.epoch_table.setHorizontalHeaderLabels(["Model", "Epoch", "Train loss", "Val loss", "Val accuracy",
                                                    "Val macro F1", "s"])
        self.epoch_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.epoch_table.verticalHeader().setVisible(False)
        self.epoch_table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.log = QLabel("")
        self.log.setWordWrap(True)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(box)
        ll.addWidget(self.epoch_table, 1)
        ll.addWidget(self.log)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(self.plot)
        split.setSizes([520, 680])
        lay = QVBoxLayout(self)
        lay.addWidget(split)

    def start(self, sources: Optional[list] = None, out: Optional[Path] = None):
        """Train with the form's settings in a job; epochs arrive through its ``on_partial``."""
        srcs = sources or [s.strip() for s in self.path.text().split(";") if s.strip()]
        if not srcs:
            self.tab.ctx.notify("Choose a labelled folder to train on first.", error=True)
            return None
        from ....models import user_models_dir

        name = (self.out_name.text().strip() or "my-emotion-model").replace("/", "_")
        out = Path(out) if out else user_models_dir("emotion") / f"{name}.pt"
        arch = self.arch_box.currentText()
        init = self.tab.model_name() if self.finetune.isChecked() else None
        self.plot.clear_history()
        self.epoch_table.setRowCount(0)
        job = self.tab.svc.submit(core.train_model, [str(s) for s in srcs], out, arch=arch,
                                  epochs=self.epochs.value() or None, val_fraction=self.val_frac.value(), init=init,
                                  label=f"Emotion: training {arch}")
        job.on_partial(self.add_epoch).on_result(self._trained)
        job.on_cancel(lambda: self.log.setText("Training cancelled; no model was written."))
        job.on_error(lambda msg: self.log.setText("Training failed: " + msg[:200]))
        job.on_finished(lambda: self._set_running(None))
        self._set_running(job)
        self.tab.track(job, self.tab.files.status, f"Training {arch}\u2026")
        self.log.setText(f"Training {arch} \u2192 {out}")
        return job

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _set_running(self, job) -> None:
        self.job = job
        self.btn_cancel.setEnabled(job is not None)

    def add_epoch(self, rec: dict) -> None:
        self.plot.add_epoch(rec)
        row = self.epoch_table.rowCount()
        self.epoch_table.insertRow(row)
        vals = [rec.get("arch", ""), f"{rec['epoch']}/{rec['epochs']}", f"{rec['train_loss']:.3f}"]
        for k in ("val_loss", "val_accuracy", "val_macro_f1"):
            vals.append(f"{rec[k]:.3f}" if k in rec else "\u2014")
        vals.append(f"{rec.get('seconds', 0):.0f}")
        for j, v in enumerate(vals):
            self.epoch_table.setItem(row, j, QTableWidgetItem(str(v)))
        self.epoch_table.scrollToBottom()

    def _trained(self, payload: dict) -> None:
        self.tab.session.last_train = payload
        v = payload.get("validation")
        txt = f"Saved {payload['out']}"
        if v:
            n = payload["val_clips"]
            txt += (f" \u2014 validation on {n} clip{'s' if n != 1 else ''} of unseen artists: accuracy "
                    f"{v['accuracy']:.3f}, macro F1 {v['macro_f1']:.3f}")
        self.log.setText(txt)
        self.tab.files.status.setText("Training finished")
        self.tab.refresh_models()
        self.tab.ctx.notify(txt)
