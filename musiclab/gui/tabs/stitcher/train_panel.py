"""Step 3 of the Stitcher: the scorer, and training a learned one on the pool (with its loss)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSpinBox

from ...widgets.stitcher_timeline import LossPlot
from .common import SCORERS


class TrainPanel(QGroupBox):
    """Which scorer rates the joins, and "Train on pool" with a live loss plot.

    ``loss_points`` holds the ``(step, loss)`` points of the running (or last) training,
    added by :meth:`add_loss_point` from the training job's ``on_partial``."""

    def __init__(self, parent=None):
        super().__init__("3 · Scorer", parent)
        f = QFormLayout(self)
        f.setVerticalSpacing(4)
        self.scorer = QComboBox()
        for k, label in SCORERS:
            self.scorer.addItem(label, k)
        self.scorer.setToolTip(
            "How well chunk B may follow chunk A.\nThe learned default gives a match probability, normalised "
            "over the pool (100 % = a certain, unambiguous match;\nchunks that fit after almost anything "
            "are marked down). The other scorers give cosine similarities.")
        f.addRow("Score with", self.scorer)
        self.model_label = QLabel("model: shipped default")
        self.model_label.setStyleSheet("color: palette(mid);")
        f.addRow(self.model_label)
        row = QHBoxLayout()
        self.train_steps = QSpinBox()
        self.train_steps.setRange(20, 20000)
        self.train_steps.setValue(600)
        self.train_steps.setSuffix(" steps")
        self.train_steps.setToolTip("Training steps (600 take a few minutes on a laptop CPU)")
        self.btn_train = QPushButton("Train on pool")
        self.btn_train.setToolTip("Train a learned scorer on the pool's songs (in the background; "
                                  "the loss is plotted below)")
        self.btn_cancel = QPushButton("Cancel")
        self.btn_cancel.setToolTip("Cancel the running Stitcher job (Esc)")
        row.addWidget(self.train_steps)
        row.addWidget(self.btn_train)
        row.addWidget(self.btn_cancel)
        f.addRow(row)
        self.loss_plot = LossPlot()
        self.loss_plot.setMinimumHeight(90)
        self.loss_plot.setMaximumHeight(120)
        self.loss_plot.hide()  # shown once training starts
        f.addRow(self.loss_plot)
        self.loss_points: list[tuple[int, float]] = []

    def scorer_name(self) -> str:
        return self.scorer.currentData()

    def set_scorer(self, name: str) -> None:
        i = self.scorer.findData(name)
        if i >= 0:
            self.scorer.setCurrentIndex(i)

    def start_training(self) -> None:
        self.loss_points = []
        self.loss_plot.set_points([], [])
        self.loss_plot.show()

    def add_loss_point(self, point: tuple[int, float]) -> None:
        step, loss = point
        self.loss_points.append((int(step), float(loss)))
        self.loss_plot.set_points([p[0] for p in self.loss_points], [p[1] for p in self.loss_points])

    def set_model(self, path: Optional[str]) -> None:
        self.model_label.setText("model: shipped default" if not path
                                 else f"model: {Path(path).name} (trained on this pool)")

    def set_busy(self, has_pool: bool, busy: bool) -> None:
        self.btn_train.setEnabled(has_pool and not busy)
        self.btn_cancel.setEnabled(busy)
