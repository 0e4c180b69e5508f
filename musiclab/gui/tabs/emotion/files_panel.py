"""The Analyse page: files -> table (a model over the session), plane, timeline; playback."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from ....emotion import session as core
from ...widgets.emotion_plane import QUADRANT_COLOURS, EmotionPlane
from ...widgets.emotion_table import EmotionTableModel, EmotionTableView
from ...widgets.emotion_timeline import EmotionTimeline
from ..base import PLAY_PENDING, audio_filter

if TYPE_CHECKING:
    from . import EmotionTab


class FilesPanel(QWidget):
    """Analysed files of ``tab.session``: predictions arrive one by one through the job's
    ``on_partial``; the selected file is shown on the plane and the timeline and plays through
    the window's transport (decoded in a job on ``tab.audio_svc``)."""

    def __init__(self, tab: "EmotionTab", parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.tab = tab
        self.session = tab.session
        self._current: Optional[dict] = None  # the selected result (the dict itself, so rows may move)
        self._audio_cache: Optional[tuple[str, tuple]] = None  # (file, (samples, sr)) of the last decoded file

        bar = QHBoxLayout()
        self.btn_files = QPushButton("Add files\u2026")
        self.btn_files.setToolTip("Analyse audio files (you can also drop files or folders on the window)")
        self.btn_files.clicked.connect(self.add_files_dialog)
        self.btn_folder = QPushButton("Add folder\u2026")
        self.btn_folder.setToolTip("Analyse every audio file in a folder (Ctrl+Shift+O)")
        self.btn_folder.clicked.connect(self.add_folder_dialog)
        self.model_box = QComboBox()
        self.model_box.setToolTip("Model used for analysis and evaluation: 'default' reads two pre-trained musicnn "
                                  "networks (the most accurate); 'fast' is three CRNNs and a regression on summary "
                                  "features, trained here only (about 1.5 times as fast); 'seed-cnn' and 'seed-lstm' are "
                                  "the study material's models")
        self.model_box.setMinimumWidth(140)
        self.btn_cancel = QPushButton("Cancel")
        self.btn_cancel.setToolTip("Stop the running analysis, evaluation or training (Esc)")
        self.btn_cancel.clicked.connect(lambda: tab.svc.cancel())
        self.btn_cancel.setEnabled(False)
        self.btn_export = QPushButton("Export CSV\u2026")
        self.btn_export.setToolTip("Save the results table as CSV (File > Export)")
        self.btn_export.clicked.connect(lambda: tab.export())
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

        self.model = EmotionTableModel(self.session, self)
        self.table = EmotionTableView(self.model)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_table_selection())
        self.table.doubleClicked.connect(lambda _i: self.play_selected())
        self.table.installEventFilter(self)

        self.plane = EmotionPlane()
        self.plane.point_clicked.connect(self.select_result)
        self.timeline = EmotionTimeline()
        self.timeline.seek_requested.connect(self.seek)
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
        self.split = split
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(split, 1)
        self.timeline.set_result(None)

    # -- analysing ----------------------------------------------------------------------------
    def analyse(self, paths: list, what: str = ""):
        """Predict ``paths`` (files or folders) in a job; rows appear as files finish."""
        n = len(paths)
        job = self.tab.svc.submit(core.predict, list(paths), self.tab.model_name(),
                                  label=f"Emotion: analysing {n} item(s)")
        job.on_partial(self.add_result).on_result(self._analysed)
        self.tab.track(job, self.status, f"{what or 'Analysing'} {n} item(s)\u2026")
        return job

    def _analysed(self, payload: dict) -> None:
        errors = payload.get("errors", [])
        msg = core.errors_message(errors)
        if msg:  # files the batch skipped (not a failed job): one message naming each
            self.tab.ctx.notify(msg, error=True)
        n, k = len(payload.get("results", [])), len(errors)
        self.status.setText(f"Analysed {n} file(s)" + (f", {k} skipped (see messages)" if k else ""))

    def add_files_dialog(self) -> None:
        files = self.tab.ask_open_paths("Analyse audio files", audio_filter())
        if files:
            self.tab.open_files(files)

    def add_folder_dialog(self) -> None:
        d = self.tab.ask_folder("Analyse a folder of audio files")
        if d:
            self.tab.open_files([d])

    # -- the table ----------------------------------------------------------------------------
    @property
    def results(self) -> list[dict]:
        return self.session.results

    @property
    def selected(self) -> Optional[int]:
        """Index into ``results`` of the file shown on the plane and timeline."""
        return self.session.index_of(self._current)

    def add_result(self, r: dict) -> None:
        idx = self.model.append(r)
        self.plane.set_results(self.results, self.selected)
        if self._current is None:
            self.select_result(idx)

    def selected_indices(self) -> list[int]:
        """Indices into ``results`` of the selected rows, in table order."""
        return self.table.selected_rows()

    def _on_table_selection(self) -> None:
        idx = self.table.current_source_row()
        if idx is not None:
            self.show_result(idx)

    def select_result(self, idx: int) -> None:
        self.table.select_source_row(idx)
        self.show_result(idx)

    def show_result(self, idx: int) -> None:
        if not (0 <= idx < len(self.results)):
            return
        r = self.results[idx]
        changed = r is not self._current
        self._current = r
        self.plane.select(idx)
        self.timeline.set_result(r)
        probs = " &nbsp; ".join(
            f"<span style='color:{QUADRANT_COLOURS[q]}'>{q} {100 * r['probs'][q]:.0f}%</span>" for q in core.QUADS)
        warn = f"<br><span style='color:#e0a040'>\u26a0 {'; '.join(r['warnings'])}</span>" if r["warnings"] else ""
        self.detail.setText(
            f"<b>{r['name']}</b>: {r['quadrant']} ({r['mood']}) \u2014 valence {r['valence']:+.2f}, "
            f"arousal {r['arousal']:+.2f}, uncertainty {r['uncertainty']:.2f} (0 sure \u2026 1 no idea)<br>"
            f"{probs}{warn}")
        if changed:
            self.tab.playable_changed.emit()

    def remove_selected(self) -> int:
        """Delete the selected rows (Delete key); returns how many were removed."""
        gone = self.selected_indices()
        if not gone:
            return 0
        view_rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        next_row = max(0, min(view_rows[0], self.table.proxy.rowCount() - len(view_rows) - 1))
        self.model.remove_rows(gone)
        if not self.results:
            self.clear_results()
        else:
            if self.selected is None:  # the file shown went: show the row that took its place
                self._current = None
                self.select_result(self.table.source_row(next_row))
            self.plane.set_results(self.results, self.selected)
        self.status.setText(f"Removed {len(gone)} file(s); {len(self.results)} left")
        return len(gone)

    def clear_results(self) -> None:
        self.model.clear()
        self._current = None
        self.plane.set_results([])
        self.timeline.set_result(None)
        self.detail.setText("")
        self.tab.playable_changed.emit()

    def eventFilter(self, obj, ev):  # noqa: N802
        if obj is self.table and ev.type() == QEvent.KeyPress:
            if ev.key() in (Qt.Key_Return, Qt.Key_Enter):
                self.play_selected()
                return True
            if ev.key() in (Qt.Key_Delete, Qt.Key_Backspace):
                self.remove_selected()
                return True
        return super().eventFilter(obj, ev)

    # -- playback -----------------------------------------------------------------------------
    def playable_audio(self):
        """The selected file's audio if decoded already, else :data:`PLAY_PENDING` (decoding in
        a job, which starts the player when done), or None with nothing selected."""
        r = self._current if self.selected is not None else None
        if r is None:
            return None
        label = core.playback_label(r)
        if self._audio_cache and self._audio_cache[0] == r["file"]:
            y, sr = self._audio_cache[1]
            return y, sr, label
        job = self.tab.audio_svc.submit(core.decode_for_playback, r["file"], r["duration"],
                                        label=f"Emotion: reading {r['name']}", latest="play")
        job.on_result(lambda audio, r=r: self._decoded(r, audio))
        job.on_error(lambda msg: self.status.setText("Cannot play: " + msg[:120]))
        self.status.setText(f"Reading {r['name']} for playback\u2026")
        return PLAY_PENDING

    def _decoded(self, r: dict, audio: tuple) -> None:
        self._audio_cache = (r["file"], audio)
        if r is self._current:  # still the file the user wants to hear
            self.status.setText(f"Playing {r['name']}")
            self._play(*audio, core.playback_label(r))

    def _play(self, y, sr: int, label: str) -> bool:
        player = getattr(self.tab.ctx, "player", None)
        if player is None:
            return False
        return player.play(y, sr, label, owner=self.tab) is not False

    def play_selected(self) -> bool:
        """Play the selected file through the window's transport (double-click / Enter); False
        when there is nothing to play. Starts at once when decoded, else when the job is done."""
        if self.table.selectionModel().selectedRows() and self._current is None:
            self._on_table_selection()
        audio = self.playable_audio()
        if audio is None:
            return False
        if audio is PLAY_PENDING:
            return True
        return self._play(*audio)

    def on_playback_position(self, seconds: float) -> None:
        playing = getattr(getattr(self.tab.ctx, "player", None), "label", None)
        sel = self._current if self.selected is not None else None
        # the cursor belongs to the file that plays; hide it while another file is shown
        if sel is not None and isinstance(playing, str) and playing and not playing.startswith(sel["name"]):
            self.timeline.set_position(None)
        else:
            self.timeline.set_position(seconds)

    def seek(self, seconds: float) -> None:
        player = getattr(self.tab.ctx, "player", None)
        if player is not None and getattr(player, "owner", None) is self.tab:  # only what this tab plays
            player.seek(seconds)

    # -- export -------------------------------------------------------------------------------
    def export_csv(self, path) -> Path:
        """Write the results (in the table's current order) as CSV."""
        return self.session.export_csv(path, order=self.table.view_order())
