"""The Emotion workbench: where a song sits on the valence/arousal plane, and how sure
the model is. Three pages: Analyse (files -> table, plane, timeline), Evaluate (a
labelled folder -> metrics, confusion matrix, ROC) and Train (fine-tune or train a
model in the background with a loss plot and per-epoch validation metrics)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import QEvent, QSettings, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
    QHeaderView, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QSpinBox, QSplitter, QStyle, QTableWidget,
    QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from .base import WorkbenchTab
from ..widgets.emotion_eval import ConfusionMatrixView, RocView, TrainingPlot
from ..widgets.emotion_plane import QUADRANT_COLOURS, QUADRANT_TITLES, EmotionPlane
from ..widgets.emotion_timeline import EmotionTimeline

QUADS = ("Q1", "Q2", "Q3", "Q4")
COLUMNS = ["File", "Quadrant", "Mood", "Valence", "Arousal", "Uncertainty", "P(Q1)", "P(Q2)", "P(Q3)", "P(Q4)",
           "Length", "Notes"]
COLUMN_TIPS = [
    "File name (hover for the full path; a warning sign marks a file with a warning). "
    "Double-click or Enter plays it; Delete removes the selected rows. Right-click a header to show or hide columns.",
    "Most likely quadrant of Russell's valence/arousal plane",
    "Mood words of that quadrant",
    "Valence: negative (\u22121) \u2026 positive (+1)",
    "Arousal: low energy (\u22121) \u2026 high energy (+1)",
    "0 = the model is sure, 1 = no idea (normalised entropy of the four quadrant probabilities)",
    "Probability of Q1 happy / excited", "Probability of Q2 angry / tense",
    "Probability of Q3 sad / depressed", "Probability of Q4 calm / relaxed",
    "Duration (minutes:seconds)",
    "Warnings about the file (silence, very short audio)",
]
NOTES_COL = 11
PLAY_MAX_S = 600.0  # the transport gets at most the first 10 minutes of a file


def _mmss(seconds: float) -> str:
    s = int(round(float(seconds)))
    return f"{s // 60}:{s % 60:02d}"


class _NumItem(QTableWidgetItem):
    """Sorts by the number, shows formatted text (``fmt``: a format string or a function)."""

    def __init__(self, value: float, fmt="{:+.2f}"):
        super().__init__(fmt(value) if callable(fmt) else fmt.format(value))
        self.value = float(value)
        self.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)

    def __lt__(self, other):
        if isinstance(other, _NumItem):
            return self.value < other.value
        return super().__lt__(other)


class EmotionTab(WorkbenchTab):
    key = "emotion"
    title = "Emotion"

    _file_done = Signal(object)  # a predict result, emitted on the worker thread
    _epoch_done = Signal(object)  # a training epoch record, emitted on the worker thread

    def __init__(self, ctx, parent: Optional[QWidget] = None):
        super().__init__(ctx, parent)
        self.svc = ctx.make_service("emotion")
        self.svc.result.connect(self._on_result)
        self.svc.error.connect(self._on_error)
        self.svc.cancelled.connect(self._on_cancelled)
        self.svc.progress.connect(self._on_progress)
        self._file_done.connect(self._add_result)
        self._epoch_done.connect(self._add_epoch)
        self.results: list[dict] = []
        self._jobs: dict[int, str] = {}
        self._selected: Optional[int] = None
        self._audio_cache: Optional[tuple[str, tuple]] = None
        self.last_eval: Optional[dict] = None
        self.last_train: Optional[dict] = None

        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        self.pages.addTab(self._build_analyse(), "Analyse")
        self.pages.addTab(self._build_evaluate(), "Evaluate")
        self.pages.addTab(self._build_train(), "Train")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.pages)
        self.refresh_models()
        QShortcut(QKeySequence("Ctrl+Shift+O"), self, activated=self._add_folder_dialog)
        self._playing_file: Optional[str] = None
        pos = getattr(ctx.player, "position_changed", None)
        if pos is not None:  # the cursor also moves for audio this tab started itself (double-click)
            pos.connect(self._on_player_position)

    # -- pages ----------------------------------------------------------------------------------
    def _build_analyse(self) -> QWidget:
        w = QWidget()
        bar = QHBoxLayout()
        self.btn_files = QPushButton("Add files\u2026")
        self.btn_files.setToolTip("Analyse audio files (you can also drop files or folders on the window)")
        self.btn_files.clicked.connect(self._add_files_dialog)
        self.btn_folder = QPushButton("Add folder\u2026")
        self.btn_folder.setToolTip("Analyse every audio file in a folder (Ctrl+Shift+O)")
        self.btn_folder.clicked.connect(self._add_folder_dialog)
        self.model_box = QComboBox()
        self.model_box.setToolTip("Model used for analysis and evaluation: 'default' reads two pre-trained musicnn "
                                  "networks (the most accurate); 'fast' is three CRNNs and a regression on summary "
                                  "features, trained here only (about 1.5 times as fast); 'seed-cnn' and 'seed-lstm' are "
                                  "the study material's models")
        self.model_box.setMinimumWidth(140)
        self.btn_cancel = QPushButton("Cancel")
        self.btn_cancel.setToolTip("Stop the running analysis, evaluation or training (Esc)")
        self.btn_cancel.clicked.connect(lambda: self.svc.cancel())
        self.btn_cancel.setEnabled(False)
        self.btn_export = QPushButton("Export CSV\u2026")
        self.btn_export.setToolTip("Save the results table as CSV (File > Export)")
        self.btn_export.clicked.connect(self.export)
        self.btn_clear = QPushButton("Clear")
        self.btn_clear.setToolTip("Remove all results")
        self.btn_clear.clicked.connect(self.clear_results)
        self.status = QLabel("Drop audio files or a folder here, or use Add files\u2026")
        self.status.setStyleSheet("color: #999;")
        for b in (self.btn_files, self.btn_folder):
            bar.addWidget(b)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Model:"))
        bar.addWidget(self.model_box)
        bar.addWidget(self.btn_cancel)
        bar.addSpacing(12)
        bar.addWidget(self.btn_export)
        bar.addWidget(self.btn_clear)
        bar.addSpacing(12)
        bar.addWidget(self.status, 1)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for j, tip in enumerate(COLUMN_TIPS):
            self.table.horizontalHeaderItem(j).setToolTip(tip)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.ElideMiddle)
        self.table.setAlternatingRowColors(True)
        self._size_columns()
        self.table.setColumnHidden(NOTES_COL, True)  # warnings: an icon before the name + its tooltip
        hh = self.table.horizontalHeader()
        hh.setContextMenuPolicy(Qt.CustomContextMenu)
        hh.customContextMenuRequested.connect(self._column_menu)
        self.table.itemSelectionChanged.connect(self._on_table_selection)
        self.table.doubleClicked.connect(lambda _i: self.play_selected())
        self.table.installEventFilter(self)
        self.table.setToolTip("Click a column header to sort. Select a row to see it on the plane and timeline; "
                              "double-click or Enter plays it, Delete removes the selected rows, Ctrl+A selects all.")

        self.plane = EmotionPlane()
        self.plane.point_clicked.connect(self._select_result)
        self.timeline = EmotionTimeline()
        self.timeline.seek_requested.connect(self._seek)
        self.detail = QLabel("")
        self.detail.setWordWrap(True)
        self.detail.setTextFormat(Qt.RichText)

        right = QSplitter(Qt.Vertical)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.plane, 1)
        tl.addWidget(self.detail)
        right.addWidget(top)
        right.addWidget(self.timeline)
        right.setSizes([580, 210])
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.table)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([800, 460])
        self.analyse_split = split
        lay = QVBoxLayout(w)
        lay.addLayout(bar)
        lay.addWidget(split, 1)
        self.timeline.set_result(None)
        return w

    def _build_evaluate(self) -> QWidget:
        w = QWidget()
        bar = QHBoxLayout()
        self.eval_path = QLineEdit()
        self.eval_path.setPlaceholderText("labelled folder (subfolders Q1..Q4) or CSV (file + quadrant or valence/arousal)")
        b1 = QPushButton("Folder\u2026")
        b1.clicked.connect(lambda: self._pick_into(self.eval_path, folder=True))
        b2 = QPushButton("CSV\u2026")
        b2.clicked.connect(lambda: self._pick_into(self.eval_path, folder=False))
        self.btn_eval = QPushButton("Evaluate")
        self.btn_eval.setToolTip("Predict every labelled clip with the selected model and compute the metrics")
        self.btn_eval.clicked.connect(self.start_evaluation)
        bar.addWidget(QLabel("Data:"))
        bar.addWidget(self.eval_path, 1)
        bar.addWidget(b1)
        bar.addWidget(b2)
        bar.addWidget(self.btn_eval)
        self.eval_summary = QLabel("Pick a labelled folder and press Evaluate. The model selected on the Analyse "
                                   "page is used.")
        self.eval_summary.setWordWrap(True)
        self.eval_summary.setTextFormat(Qt.RichText)
        self.class_table = QTableWidget(4, 5)
        self.class_table.setHorizontalHeaderLabels(["Precision", "Recall", "F1", "AUC", "Clips"])
        self.class_table.setVerticalHeaderLabels([QUADRANT_TITLES[q] for q in QUADS])
        for j, tip in enumerate(["Of the clips predicted as this quadrant, the share that really is",
                                 "Of the clips of this quadrant, the share found",
                                 "Harmonic mean of precision and recall",
                                 "Area under the one-vs-rest ROC curve (0.5 = chance, 1 = perfect ranking)",
                                 "Labelled clips of this quadrant"]):
            self.class_table.horizontalHeaderItem(j).setToolTip(tip)
        self.class_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.class_table.setAlternatingRowColors(True)
        self.class_table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.class_table.verticalHeader().setSectionResizeMode(QHeaderView.Fixed)
        rh = self.class_table.fontMetrics().height() + 8
        self.class_table.verticalHeader().setDefaultSectionSize(rh)
        self.class_table.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.class_table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.class_table.setFixedHeight(4 * rh + self.class_table.horizontalHeader().sizeHint().height() + 4)
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
        ll.addWidget(self.eval_summary)
        ll.addWidget(self.class_table)
        ll.addWidget(self.cm_view, 1)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(self.roc_view)
        split.setSizes([600, 600])
        lay = QVBoxLayout(w)
        lay.addLayout(bar)
        lay.addWidget(split, 1)
        lay.addWidget(self.skipped)
        return w

    def _build_train(self) -> QWidget:
        w = QWidget()
        box = QGroupBox("Train or fine-tune on a labelled folder")
        form = QFormLayout(box)
        row = QHBoxLayout()
        self.train_path = QLineEdit()
        self.train_path.setPlaceholderText("labelled folder(s) or CSV; separate several with ';'")
        bt = QPushButton("Folder\u2026")
        bt.clicked.connect(lambda: self._pick_into(self.train_path, folder=True, append=True))
        row.addWidget(self.train_path, 1)
        row.addWidget(bt)
        form.addRow("Data:", row)
        self.arch_box = QComboBox()
        self.arch_box.addItems(["ensemble", "musicnn", "musicnn-mtt", "crnn", "linear", "seed-cnn", "seed-lstm"])
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
        self.btn_train.clicked.connect(self.start_training)
        self.btn_train_cancel = QPushButton("Cancel")
        self.btn_train_cancel.clicked.connect(lambda: self.svc.cancel())
        brow.addWidget(self.btn_train)
        brow.addWidget(self.btn_train_cancel)
        brow.addStretch(1)
        form.addRow(brow)
        self.train_plot = TrainingPlot()
        self.epoch_table = QTableWidget(0, 7)
        self.epoch_table.setHorizontalHeaderLabels(["Model", "Epoch", "Train loss", "Val loss", "Val accuracy",
                                                    "Val macro F1", "s"])
        self.epoch_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.epoch_table.verticalHeader().setVisible(False)
        self.epoch_table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.train_log = QLabel("")
        self.train_log.setWordWrap(True)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(box)
        ll.addWidget(self.epoch_table, 1)
        ll.addWidget(self.train_log)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(self.train_plot)
        split.setSizes([520, 680])
        lay = QVBoxLayout(w)
        lay.addWidget(split)
        return w

    # -- models ------------------------------------------------------------------------------------
    def refresh_models(self) -> None:
        from ...emotion.model import available

        current = self.model_box.currentText() or "default"
        names = list(available().keys())
        if "default" in names:
            names.remove("default")
            names.insert(0, "default")
        self.model_box.blockSignals(True)
        self.model_box.clear()
        self.model_box.addItems(names or ["default"])
        i = self.model_box.findText(current)
        self.model_box.setCurrentIndex(max(0, i))
        self.model_box.blockSignals(False)

    def model_name(self) -> str:
        from ...emotion.model import available

        name = self.model_box.currentText() or "default"
        return str(available().get(name, name))

    # -- files -------------------------------------------------------------------------------------
    def open_files(self, paths: list[Path]) -> None:
        paths = [Path(p) for p in paths]
        if not paths:
            return
        self.pages.setCurrentIndex(0)
        from ...emotion.predict import predict_files

        rid = self.svc.submit(predict_files, paths, self.model_name(), on_result=self._file_done.emit,
                              label=f"Emotion: analysing {len(paths)} item(s)")
        self._jobs[rid] = "predict"
        self._busy(True, f"Analysing {len(paths)} item(s)\u2026")

    def _add_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Analyse audio files", "",
                                                "Audio (*.wav *.flac *.ogg *.mp3 *.opus *.aif *.aiff);;All files (*)")
        if files:
            self.open_files([Path(f) for f in files])

    def _add_folder_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Analyse a folder of audio files")
        if d:
            self.open_files([Path(d)])

    def _pick_into(self, edit: QLineEdit, folder: bool, append: bool = False) -> None:
        if folder:
            p = QFileDialog.getExistingDirectory(self, "Labelled folder (subfolders Q1..Q4)")
        else:
            p, _ = QFileDialog.getOpenFileName(self, "Labelled CSV", "", "CSV (*.csv)")
        if p:
            edit.setText(f"{edit.text()};{p}" if append and edit.text().strip() else p)

    # -- results -----------------------------------------------------------------------------------
    def _add_result(self, r: dict) -> None:
        self.results.append(r)
        idx = len(self.results) - 1
        self.table.setSortingEnabled(False)
        row = self.table.rowCount()
        self.table.insertRow(row)
        name = QTableWidgetItem(r["name"])
        name.setData(Qt.UserRole, idx)
        name.setToolTip(r["file"])
        self.table.setItem(row, 0, name)
        q = QTableWidgetItem(r["quadrant"])
        q.setForeground(pg_colour(QUADRANT_COLOURS[r["quadrant"]]))
        self.table.setItem(row, 1, q)
        self.table.setItem(row, 2, QTableWidgetItem(r["mood"]))
        self.table.setItem(row, 3, _NumItem(r["valence"]))
        self.table.setItem(row, 4, _NumItem(r["arousal"]))
        self.table.setItem(row, 5, _NumItem(r["uncertainty"], "{:.2f}"))
        for j, qq in enumerate(QUADS):
            self.table.setItem(row, 6 + j, _NumItem(r["probs"][qq], "{:.2f}"))
        self.table.setItem(row, 10, _NumItem(r["duration"], _mmss))
        notes = QTableWidgetItem("; ".join(r.get("warnings", [])))
        notes.setToolTip(notes.text())
        self.table.setItem(row, NOTES_COL, notes)
        if r.get("warnings"):
            name.setIcon(self.style().standardIcon(QStyle.SP_MessageBoxWarning))  # the name still sorts as is
            name.setToolTip(f"{r['file']}\n\u26a0 " + "; ".join(r["warnings"]))
        self.table.setSortingEnabled(True)
        self.plane.set_results(self.results, self._selected)
        if self._selected is None:
            self._select_result(idx)

    def _size_columns(self) -> None:
        """File stretches; every other column is as wide as its header or its widest value."""
        fm = self.table.fontMetrics()
        hfm = self.table.horizontalHeader().fontMetrics()
        samples = {1: "Q4", 2: "happy / excited", 3: "+0.00", 4: "+0.00", 5: "0.00", 6: "0.00", 7: "0.00",
                   8: "0.00", 9: "0.00", 10: "00:00", 11: "nearly silent"}
        hh = self.table.horizontalHeader()
        hh.setMinimumSectionSize(24)
        for j, sample in samples.items():
            w = max(hfm.horizontalAdvance(COLUMNS[j]) + 12, fm.horizontalAdvance(sample) + 12)
            hh.setSectionResizeMode(j, QHeaderView.Interactive)
            hh.resizeSection(j, w)
        hh.setSectionResizeMode(0, QHeaderView.Stretch)
        hh.setStretchLastSection(False)

    def _column_menu(self, pos) -> None:
        """Right-click on the header: show or hide columns (the file name always stays)."""
        from PySide6.QtWidgets import QMenu

        menu = QMenu(self)
        for j in range(1, len(COLUMNS)):
            act = menu.addAction(COLUMNS[j])
            act.setCheckable(True)
            act.setChecked(not self.table.isColumnHidden(j))
            act.toggled.connect(lambda on, j=j: self.table.setColumnHidden(j, not on))
        menu.exec(self.table.horizontalHeader().mapToGlobal(pos))

    def eventFilter(self, obj, ev):  # noqa: N802
        if obj is self.table and ev.type() == QEvent.KeyPress:
            if ev.key() in (Qt.Key_Return, Qt.Key_Enter):
                self.play_selected()
                return True
            if ev.key() in (Qt.Key_Delete, Qt.Key_Backspace):
                self.remove_selected()
                return True
        return super().eventFilter(obj, ev)

    def selected_indices(self) -> list[int]:
        """Indices into ``results`` of the selected rows, in table order."""
        rows = sorted(r.row() for r in self.table.selectionModel().selectedRows())
        return [int(self.table.item(r, 0).data(Qt.UserRole)) for r in rows]

    def _on_table_selection(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        cur = self.table.currentRow()
        row = cur if cur >= 0 and self.table.selectionModel().isRowSelected(cur) else rows[0].row()
        idx = self.table.item(row, 0).data(Qt.UserRole)
        self._show(int(idx))

    def play_selected(self) -> bool:
        """Play the selected file through the window's transport (double-click / Enter)."""
        rows = self.table.selectionModel().selectedRows()
        if rows and self._selected is None:
            self._on_table_selection()
        audio = self.playable_audio()
        player = getattr(self.ctx, "player", None)
        if audio is None or player is None:
            return False
        y, sr, label = audio
        self._playing_file = self.results[self._selected]["file"]
        ok = player.play(y, sr, label, owner=self)
        return ok is not False

    def remove_selected(self) -> int:
        """Delete the selected rows (Delete key); returns how many were removed."""
        gone = set(self.selected_indices())
        if not gone:
            return 0
        rows = sorted({r.row() for r in self.table.selectionModel().selectedRows()})
        next_row = min(rows[0], self.table.rowCount() - len(rows) - 1)
        keep = [i for i in range(len(self.results)) if i not in gone]
        remap = {old: new for new, old in enumerate(keep)}
        self.table.blockSignals(True)
        self.table.setSortingEnabled(False)
        for r in reversed(rows):
            self.table.removeRow(r)
        for r in range(self.table.rowCount()):
            it = self.table.item(r, 0)
            it.setData(Qt.UserRole, remap[int(it.data(Qt.UserRole))])
        self.table.setSortingEnabled(True)
        self.table.blockSignals(False)
        self.results = [self.results[i] for i in keep]
        old_sel = self._selected
        self._selected = remap.get(old_sel) if old_sel is not None else None
        self.plane.set_results(self.results, self._selected)
        if not self.results:
            self.clear_results()
        elif old_sel in gone or self._selected is None:
            self._selected = None
            row = max(0, next_row)
            self.table.selectRow(row)
            self._show(int(self.table.item(row, 0).data(Qt.UserRole)))
        self.status.setText(f"Removed {len(gone)} file(s); {len(self.results)} left")
        return len(gone)

    def _select_result(self, idx: int) -> None:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.UserRole) == idx:
                self.table.selectRow(row)
                self.table.scrollToItem(self.table.item(row, 0))
                break
        self._show(idx)

    def _show(self, idx: int) -> None:
        if not (0 <= idx < len(self.results)):
            return
        changed = idx != self._selected
        self._selected = idx
        r = self.results[idx]
        self.plane.select(idx)
        self.timeline.set_result(r)
        probs = " &nbsp; ".join(
            f"<span style='color:{QUADRANT_COLOURS[q]}'>{q} {100 * r['probs'][q]:.0f}%</span>" for q in QUADS)
        warn = f"<br><span style='color:#e0a040'>\u26a0 {'; '.join(r['warnings'])}</span>" if r["warnings"] else ""
        self.detail.setText(
            f"<b>{r['name']}</b>: {r['quadrant']} ({r['mood']}) \u2014 valence {r['valence']:+.2f}, "
            f"arousal {r['arousal']:+.2f}, uncertainty {r['uncertainty']:.2f} (0 sure \u2026 1 no idea)<br>"
            f"{probs}{warn}")
        if changed:
            self.playable_changed.emit()

    def clear_results(self) -> None:
        self.results = []
        self._selected = None
        self.table.setRowCount(0)
        self.plane.set_results([])
        self.timeline.set_result(None)
        self.detail.setText("")
        self.playable_changed.emit()

    def export_csv(self, path) -> Path:
        """Write the results (in the table's current order) as CSV."""
        p = Path(path)
        order = [self.table.item(r, 0).data(Qt.UserRole) for r in range(self.table.rowCount())]
        with open(p, "w", newline="", encoding="utf-8") as fh:
            wr = csv.writer(fh)
            wr.writerow(["file", "quadrant", "mood", "valence", "arousal", "uncertainty", "p_q1", "p_q2", "p_q3",
                         "p_q4", "duration_s", "model", "notes"])
            for i in order:
                r = self.results[i]
                wr.writerow([r["file"], r["quadrant"], r["mood"], r["valence"], r["arousal"], r["uncertainty"],
                             *[r["probs"][q] for q in QUADS], r["duration"], r["model"], "; ".join(r["warnings"])])
        return p

    def export(self) -> None:
        if not self.results:
            self.ctx.notify("Nothing to export in Emotion yet: analyse some files first.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export emotion results", "emotion.csv", "CSV (*.csv)")
        if path:
            try:
                self.export_csv(path)
                self.ctx.notify(f"Exported {len(self.results)} results to '{Path(path).name}'.")
            except OSError as exc:
                self.ctx.notify(f"'{Path(path).name}': could not write ({exc}).", error=True)

    # -- evaluation / training ------------------------------------------------------------------------
    def start_evaluation(self, source: Optional[str] = None) -> Optional[int]:
        src = source or self.eval_path.text().strip()
        if not src:
            self.ctx.notify("Choose a labelled folder or CSV first.", error=True)
            return None
        self.eval_path.setText(src)
        from ...emotion.predict import evaluate_labelled

        rid = self.svc.submit(evaluate_labelled, src, self.model_name(), label="Emotion: evaluating")
        self._jobs[rid] = "eval"
        self._busy(True, "Evaluating\u2026")
        return rid

    def _show_eval(self, res: dict) -> None:
        self.last_eval = res
        sp = ""
        if "spearman_valence" in res:
            sp = (f"<br>Spearman correlation: valence {res['spearman_valence']:.3f}, "
                  f"arousal {res['spearman_arousal']:.3f}")
        if "mean_confidence" in res:
            sp += (f"<br>How sure it was: mean top probability {res['mean_confidence']:.3f} against accuracy "
                   f"{res['accuracy']:.3f} (close means its probabilities can be taken at their word); "
                   f"log loss {res['log_loss']:.3f}")
        self.eval_summary.setText(
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

    def start_training(self, sources: Optional[list] = None, out: Optional[Path] = None) -> Optional[int]:
        srcs = sources or [s.strip() for s in self.train_path.text().split(";") if s.strip()]
        if not srcs:
            self.ctx.notify("Choose a labelled folder to train on first.", error=True)
            return None
        from ...models import user_models_dir
        from ...emotion.train import train

        name = (self.out_name.text().strip() or "my-emotion-model").replace("/", "_")
        out = Path(out) if out else user_models_dir("emotion") / f"{name}.pt"
        arch = self.arch_box.currentText()
        init = self.model_name() if self.finetune.isChecked() else None
        self.train_plot.clear_history()
        self.epoch_table.setRowCount(0)
        rid = self.svc.submit(train, srcs, out, arch=arch, epochs=self.epochs.value() or None,
                              val_fraction=self.val_frac.value(), init=init, on_epoch=self._epoch_done.emit,
                              log=lambda s: None, label=f"Emotion: training {arch}")
        self._jobs[rid] = "train"
        self._busy(True, f"Training {arch}\u2026")
        self.train_log.setText(f"Training {arch} \u2192 {out}")
        return rid

    def _add_epoch(self, rec: dict) -> None:
        self.train_plot.add_epoch(rec)
        row = self.epoch_table.rowCount()
        self.epoch_table.insertRow(row)
        vals = [rec.get("arch", ""), f"{rec['epoch']}/{rec['epochs']}", f"{rec['train_loss']:.3f}"]
        for k in ("val_loss", "val_accuracy", "val_macro_f1"):
            vals.append(f"{rec[k]:.3f}" if k in rec else "\u2014")
        vals.append(f"{rec.get('seconds', 0):.0f}")
        for j, v in enumerate(vals):
            self.epoch_table.setItem(row, j, QTableWidgetItem(str(v)))
        self.epoch_table.scrollToBottom()

    # -- service callbacks -------------------------------------------------------------------------------
    def _busy(self, busy: bool, text: str = "") -> None:
        self.btn_cancel.setEnabled(busy)
        self.btn_train_cancel.setEnabled(busy)
        if text:
            self.status.setText(text)

    def _on_progress(self, rid: int, done: int, total: int, msg: str) -> None:
        if rid in self._jobs:
            pct = f"{100 * done / total:.0f}% " if total else ""
            self.status.setText(f"{pct}{msg}")

    def _on_result(self, rid: int, payload) -> None:
        kind = self._jobs.pop(rid, None)
        self._busy(bool(self._jobs))
        if kind == "predict":
            for e in payload.get("errors", []):
                self.ctx.notify(e["error"], error=True)
            n, k = len(payload.get("results", [])), len(payload.get("errors", []))
            self.status.setText(f"Analysed {n} file(s)" + (f", {k} skipped (see messages)" if k else ""))
        elif kind == "eval":
            self._show_eval(payload)
            self.status.setText(f"Evaluated {payload['clips']} clips: accuracy {payload['accuracy']:.3f}")
        elif kind == "train":
            self.last_train = payload
            v = payload.get("validation")
            txt = f"Saved {payload['out']}"
            if v:
                n = payload["val_clips"]
                txt += (f" \u2014 validation on {n} clip{'s' if n != 1 else ''} of unseen artists: accuracy "
                        f"{v['accuracy']:.3f}, macro F1 {v['macro_f1']:.3f}")
            self.train_log.setText(txt)
            self.status.setText("Training finished")
            self.refresh_models()
            self.ctx.notify(txt)

    def _on_error(self, rid: int, message: str) -> None:
        self._jobs.pop(rid, None)
        self._busy(bool(self._jobs), "Failed: " + message[:120])
        self.ctx.notify(message, error=True)

    def _on_cancelled(self, rid: int) -> None:
        kind = self._jobs.pop(rid, None)
        self._busy(bool(self._jobs), "Cancelled")
        if kind == "train":
            self.train_log.setText("Training cancelled; no model was written.")

    # -- transport ------------------------------------------------------------------------------------
    def playable_audio(self):
        if self._selected is None or not (0 <= self._selected < len(self.results)):
            return None
        r = self.results[self._selected]
        label = r["name"] + (" (first 10 min)" if r["duration"] > PLAY_MAX_S else "")
        if self._audio_cache and self._audio_cache[0] == r["file"]:
            y, sr = self._audio_cache[1]
            return y, sr, label
        from ...audio.io import load_audio
        from ...errors import MusiclabError

        try:
            y, sr = load_audio(r["file"], sr=None, mono=False, duration=min(r["duration"], PLAY_MAX_S))
        except MusiclabError as exc:
            self.ctx.notify(str(exc), error=True)
            return None
        self._audio_cache = (r["file"], (y, sr))
        return y, sr, label

    def on_playback_position(self, seconds: float) -> None:
        player = getattr(self.ctx, "player", None)
        playing = getattr(player, "label", None)
        sel = self.results[self._selected] if self._selected is not None and self._selected < len(self.results) \
            else None
        # the cursor belongs to the file that plays; hide it while another file is shown
        if sel is not None and isinstance(playing, str) and playing and not playing.startswith(sel["name"]):
            self.timeline.set_position(None)
        else:
            self.timeline.set_position(seconds)

    def _on_player_position(self, seconds: float) -> None:
        if getattr(self.ctx.player, "owner", None) is self:
            self.on_playback_position(seconds)

    def _seek(self, seconds: float) -> None:
        player = getattr(self.ctx, "player", None)
        if player is not None and hasattr(player, "seek"):
            try:
                player.seek(seconds)
            except Exception:
                pass

    # -- settings ------------------------------------------------------------------------------------------
    def save_settings(self, settings: QSettings) -> None:
        settings.setValue("model", self.model_box.currentText())
        settings.setValue("eval_path", self.eval_path.text())
        settings.setValue("train_path", self.train_path.text())
        settings.setValue("arch", self.arch_box.currentText())
        settings.setValue("out_name", self.out_name.text())
        settings.setValue("page", self.pages.currentIndex())

    def restore_settings(self, settings: QSettings) -> None:
        m = settings.value("model")
        if m and self.model_box.findText(str(m)) >= 0:
            self.model_box.setCurrentIndex(self.model_box.findText(str(m)))
        self.eval_path.setText(str(settings.value("eval_path", "") or ""))
        self.train_path.setText(str(settings.value("train_path", "") or ""))
        a = settings.value("arch")
        if a and self.arch_box.findText(str(a)) >= 0:
            self.arch_box.setCurrentIndex(self.arch_box.findText(str(a)))
        o = settings.value("out_name")
        if o:
            self.out_name.setText(str(o))
        try:
            self.pages.setCurrentIndex(int(settings.value("page", 0) or 0))
        except (TypeError, ValueError):
            pass

    def first_render_done(self) -> bool:
        return True

    def shutdown(self) -> None:
        self.svc.cancel()


def pg_colour(hex_colour: str):
    from PySide6.QtGui import QBrush, QColor

    return QBrush(QColor(hex_colour))
