"""Steps 1 and 2 of the Stitcher: the pool of songs and how they are cut into chunks."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QListWidget, QListWidgetItem, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from ...widgets.stitcher_timeline import fmt_seconds, pretty_name
from .common import CHUNKINGS, EMPTY_POOL, text_color


class PoolPanel(QWidget):
    """The song list with Demo / Add / Remove, and the chunking settings with "Cut again".

    The tab connects the buttons and ``song_list.currentRowChanged``; the panel shows a
    pool (:meth:`show_pool`) and turns its settings into a chunking spec (:meth:`chunking`)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        lay.addWidget(self._pool_box())
        lay.addWidget(self._chunk_box())
        self.chunk_kind.currentIndexChanged.connect(self._chunk_kind_changed)
        self._chunk_kind_changed()

    def _pool_box(self) -> QGroupBox:
        g = QGroupBox("1 · Pool")
        v = QVBoxLayout(g)
        v.setSpacing(4)
        self.song_list = QListWidget()
        self.song_list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.song_list.setToolTip("Songs in the pool (click one to see its chunks).\n"
                                  "Drop audio files or folders on the window to add them; Del removes.")
        self.song_list.setTextElideMode(Qt.ElideMiddle)
        self.song_list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.song_list.setUniformItemSizes(True)
        self.song_list.setMinimumHeight(80)
        self.song_list.setMaximumHeight(130)
        v.addWidget(self.song_list)
        row = QHBoxLayout()
        self.btn_demo = QPushButton("Demo pool")
        self.btn_demo.setToolTip("Load the music in shared/data/audio (about 20 songs; takes a little while)")
        self.btn_add = QPushButton("Add files…")
        self.btn_add.setToolTip("Add songs in any format the app reads (or drop them on the window)")
        self.btn_folder = QPushButton("Add folder…")
        self.btn_folder.setToolTip("Add every song in a folder (and its sub-folders)")
        self.btn_remove = QPushButton("Remove")
        self.btn_remove.setToolTip("Remove the selected songs from the pool (Del)")
        for w in (self.btn_demo, self.btn_add, self.btn_folder, self.btn_remove):
            row.addWidget(w)
        v.addLayout(row)
        self.pool_label = QLabel(EMPTY_POOL)
        self.pool_label.setWordWrap(True)
        v.addWidget(self.pool_label)
        return g

    def _chunk_box(self) -> QGroupBox:
        g = QGroupBox("2 · Chunks")
        f = QFormLayout(g)
        f.setVerticalSpacing(4)
        self.chunk_form = f
        self.chunk_kind = QComboBox()
        for k, label in CHUNKINGS:
            self.chunk_kind.addItem(label, k)
        self.chunk_kind.setToolTip("How every song is cut: on beats or bars (librosa's beat tracker), "
                                   "in fixed lengths, or at silences")
        self.chunk_value = QDoubleSpinBox()
        self.chunk_value.setRange(0.5, 64)
        self.chunk_value.setDecimals(1)
        self.chunk_value.setValue(8)
        self.silence_db = QDoubleSpinBox()
        self.silence_db.setRange(-80, -1)
        self.silence_db.setValue(-16)
        self.silence_db.setSuffix(" dB")
        self.silence_db.setToolTip("Silence = quieter than the song's average level minus this")
        self.silence_ms = QSpinBox()
        self.silence_ms.setRange(20, 5000)
        self.silence_ms.setValue(300)
        self.silence_ms.setSuffix(" ms")
        self.silence_ms.setToolTip("Shortest silence that splits a song")
        self.btn_cut = QPushButton("Cut again")
        self.btn_cut.setToolTip("Cut all songs again with these settings (the pool is kept)")
        row = QHBoxLayout()
        row.addWidget(self.chunk_kind, 3)
        row.addWidget(self.chunk_value, 2)
        f.addRow("Cut by", row)
        f.addRow("Silence below avg.", self.silence_db)
        f.addRow("Min. silence", self.silence_ms)
        f.addRow(self.btn_cut)
        return g

    # -- chunking --------------------------------------------------------------------------
    def _chunk_kind_changed(self) -> None:
        k = self.chunk_kind.currentData()
        self.chunk_value.setVisible(k != "silence")
        self.chunk_form.setRowVisible(self.silence_db, k == "silence")
        self.chunk_form.setRowVisible(self.silence_ms, k == "silence")
        self.chunk_value.setSuffix({"fixed": " s", "beats": " beats", "bars": " bars"}.get(k, ""))
        self.chunk_value.setDecimals(1 if k == "fixed" else 0)

    def chunking(self) -> str:
        """The chunking spec of the settings (``fixed:2``, ``beats:8``, ``silence:-16:300``)."""
        k = self.chunk_kind.currentData()
        if k == "silence":
            return f"silence:{self.silence_db.value():g}:{self.silence_ms.value()}"
        if k == "fixed":
            return f"fixed:{self.chunk_value.value():g}"
        return f"{k}:{max(1, int(round(self.chunk_value.value())))}"

    def set_chunking(self, spec: str) -> None:
        from ....stitcher.pool import parse_chunking

        kind, a, b = parse_chunking(spec)
        self.chunk_kind.setCurrentIndex(max(0, self.chunk_kind.findData(kind)))
        if kind == "silence":
            self.silence_db.setValue(a)
            self.silence_ms.setValue(int(b))
        else:
            self.chunk_value.setValue(a)

    # -- the pool -----------------------------------------------------------------------------
    def selected_rows(self) -> set[int]:
        return {i.row() for i in self.song_list.selectedIndexes()}

    def show_pool(self, pool) -> None:
        """List ``pool``'s songs (None: the empty state); selects the first song."""
        self.song_list.blockSignals(True)
        self.song_list.clear()
        if pool is None:
            self.pool_label.setText(EMPTY_POOL)
            self.song_list.blockSignals(False)
            return
        counts = np.bincount([c.song for c in pool.chunks], minlength=len(pool.songs))
        for k, s in enumerate(pool.songs):
            it = QListWidgetItem(f"■ {pretty_name(s.name)}  ·  {fmt_seconds(s.duration)} · {counts[k]} chunks")
            it.setForeground(text_color(k))
            it.setToolTip(f"{s.path}\n{s.duration:.1f} s, {counts[k]} chunks")
            self.song_list.addItem(it)
        self.song_list.setCurrentRow(0)
        self.song_list.blockSignals(False)
        self.pool_label.setText(f"{pool.summary()}. Click a chunk in the song view to hear it "
                                f"(it also becomes the start chunk).")

    def set_busy(self, has_pool: bool, pool_exists: bool, busy: bool) -> None:
        self.btn_cut.setEnabled(has_pool and not busy)
        self.btn_remove.setEnabled(pool_exists and not busy)
