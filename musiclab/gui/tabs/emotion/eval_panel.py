"""The Evaluate page: a labelled folder or CSV -> metrics, per-class table, confusion matrix, ROC."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QSplitter,
    QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from ....emotion import session as core
from ...widgets.emotion_eval import ConfusionMatrixView, RocView
from ...widgets.emotion_plane import QUADRANT_TITLES

if TYPE_CHECKING:
    from . import EmotionTab

QUADS = core.QUADS


def pick_into(tab: "EmotionTab", edit: QLineEdit, folder: bool, append: bool = False) -> None:
    """A folder or CSV dialog (in the last folder used) whose choice goes into ``edit``."""
    if folder:
        p = tab.ask_folder("Labelled folder (subfolders Q1..Q4)")
    else:
        got = tab.ask_open_paths("Labelled CSV", "CSV (*.csv);;All files (*)")
        p = got[0] if got else None
    if p:
        edit.setText(f"{edit.text()};{p}" if append and edit.text().strip() else str(p))


class EvalPanel(QWidget):
    def __init__(self, tab: "EmotionTab", parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.tab = tab
        bar = QHBoxLayout()
        self.path = QLineEdit()
        self.path.setPlaceholderText("labelled folder (subfolders Q1..Q4) or CSV (file + quadrant or valence/arousal)")
        b1 = QPushButton("Folder\u2026")
        b1.clicked.connect(lambda: pick_into(tab, self.path, folder=True))
        b2 = QPushButton("CSV\u2026")
        b2.clicked.connect(lambda: pick_into(tab, self.path, folder=False))
        self.btn_eval = QPushButton("Evaluate")
        self.btn_eval.setToolTip("Predict every labelled clip with the selected model and compute the metrics")
        self.btn_eval.clicked.connect(lambda: self.start())
        bar.addWidget(QLabel("Data:"))
        bar.addWidget(self.path, 1)
        bar.addWidget(b1)
        bar.addWidget(b2)
        bar.addWidget(self.btn_eval)
        self.summary = QLabel("Pick a labelled folder and press Evaluate. The model selected on the Analyse "
                              "page is used.")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.RichText)
        self.class_table = self._class_table()
        self.skipped = QPlainTextEdit()
        self.skipped.setReadOnly(True)
        self.skipped.setPlaceholderText("Files or labels that could not be used are listed here.")
        self.skipped.setMaximumHeight(90)
        self.skipped.setVisible(False)
        self.cm_view = ConfusionMatrixView()
        self.roc_view = RocView()
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.summary)
        ll.addWidget(self.class_table)
        ll.addWidget(self.cm_view, 1)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(self.roc_view)
        split.setSizes([600, 600])
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(split, 1)
        lay.addWidget(self.skipped)

    @staticmethod
    def _class_table() -> QTableWidget:
        t = QTableWidget(4, 5)
        t.setHorizontalHeaderLabels(["Precision", "Recall", "F1", "AUC", "Clips"])
        t.setVerticalHeaderLabels([QUADRANT_TITLES[q] for q in QUADS])
        for j, tip in enumerate(["Of the clips predicted as this quadrant, the share that really is",
                                 "Of the clips of this quadrant, the share found",
                                 "Harmonic mean of precision and recall",
                                 "Area under the one-vs-rest ROC curve (0.5 = chance, 1 = perfect ranking)",
                                 "Labelled clips of this quadrant"]):
            t.horizontalHeaderItem(j).setToolTip(tip)
        t.setEditTriggers(QAbstractItemView.NoEditTriggers)
        t.setAlternatingRowColors(True)
        t.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        t.verticalHeader().setSectionResizeMode(QHeaderView.Fixed)
        rh = t.fontMetrics().height() + 8
        t.verticalHeader().setDefaultSectionSize(rh)
        t.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        t.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        t.setFixedHeight(4 * rh + t.horizontalHeader().sizeHint().height() + 4)
        return t

    def start(self, source: Optional[str] = None):
        """Evaluate the selected model on ``source`` (default: the path field) in a job."""
        src = source or self.path.text().strip()
        if not src:
            self.tab.ctx.notify("Choose a labelled folder or CSV first.", error=True)
            return None
        self.path.setText(src)
        job = self.tab.svc.submit(core.evaluate, src, self.tab.model_name(), label="Emotion: evaluating")
        job.on_result(self.show_result)
        self.tab.track(job, self.tab.files.status, "Evaluating\u2026")
        return job

    def show_result(self, res: dict) -> None:
        self.tab.session.last_eval = res
        sp = ""
        if "spearman_valence" in res:
            sp = (f"<br>Spearman correlation: valence {res['spearman_valence']:.3f}, "
                  f"arousal {res['spearman_arousal']:.3f}")
        if "mean_confidence" in res:
            sp += (f"<br>How sure it was: mean top probability {res['mean_confidence']:.3f} against accuracy "
                   f"{res['accuracy']:.3f} (close means its probabilities can be taken at their word); "
                   f"log loss {res['log_loss']:.3f}")
        self.summary.setText(
            f"<b>{res['clips']} clips</b>, model <i>{res.get('model', '')}</i>: accuracy <b>{res['accuracy']:.3f}</b>, "
            f"macro F1 <b>{res['macro_f1']:.3f}</b>, arousal (high/low) {res['arousal_accuracy']:.3f}, "
            f"valence (positive/negative) {res['valence_accuracy']:.3f}{sp}")
        for i, q in enumerate(QUADS):
            d = res["per_class"][q]
            vals = [d["precision"], d["recall"], d["f1"], res.get("auc", {}).get(q, float("nan"))]
            vals.append(int(np.sum(res["confusion"][i])))
            for j, v in enumerate(vals):
                if isinstance(v, int):
                    text = str(v)
                else:
                    text = "n/a" if v is None or not np.isfinite(v) else f"{v:.3f}"
                it = QTableWidgetItem(text)
                it.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.class_table.setItem(i, j, it)
        self.cm_view.set_matrix(res["confusion"])
        if "roc" in res:
            self.roc_view.set_roc(res["roc"], res.get("auc", {}))
        skipped = res.get("skipped", [])
        self.skipped.setPlainText(f"{len(skipped)} item(s) skipped:\n" + "\n".join(skipped) if skipped else "")
        self.skipped.setVisible(bool(skipped))
        self.tab.files.status.setText(f"Evaluated {res['clips']} clips: accuracy {res['accuracy']:.3f}")
