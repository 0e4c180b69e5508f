"""The Chunk stitcher tab: pool -> chunks -> scorer -> chain -> seamless new song."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import Qt, QSettings
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QFrame, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QScrollArea, QSpinBox, QSplitter, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from ...audio.io import is_audio_file
from ..widgets.stitcher_timeline import (LossPlot, ResultTimeline, SongTimeline, fmt_seconds, pretty_name,
                                         song_color)
from .base import WorkbenchTab

SCORERS = [("edge", "Learned (default model)"), ("boundary", "Boundary similarity (hand-made)"),
           ("seed", "Seed CNN-LSTM (preset)"), ("random", "Random (chance)")]
CHUNKINGS = [("beats", "Beats"), ("bars", "Bars (4 beats)"), ("fixed", "Fixed length"), ("silence", "On silence")]
EMPTY_POOL = "Empty pool: press <b>Demo pool</b>, add files or a folder, or drop songs on the window."
NO_JOIN = "Click a join (dashed line) in the result, or press Alt+Right, to see the next-best chunks."


def text_color(song: int):
    """The song's colour, darkened where it would be pale as text on a light list."""
    c = song_color(song)
    return c.darker(150) if c.lightness() > 150 else c


SEAM_FIELDS = [
    ("joins", "Joins", "Number of joins in the built song"),
    ("median_z", "Median seam novelty", "Spectral novelty at each join as a z-score against ordinary moments "
     "inside the source songs.\n≤ 1: a join is no more surprising than the music itself."),
    ("max_z", "Roughest seam", "The join with the highest novelty z-score (drawn red in the result if above 2)"),
    ("jump", "Largest sample jump", "Largest sample-to-sample jump at a join, against the 99th percentile "
     "of jumps inside the source songs (a crossfade keeps it small: no clicks)"),
]


class StitcherTab(WorkbenchTab):
    key = "stitcher"
    title = "Stitcher"

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.svc = ctx.make_service("stitcher")
        self.pool = None  # musiclab.stitcher.pool.Pool
        self.enc = None
        self.enc_key = None
        self.built = None  # musiclab.stitcher.session.Built
        self.model_path: Optional[str] = None
        self._pending: dict[int, tuple] = {}
        self._loss: list[tuple[int, float]] = []
        self._train_rid: Optional[int] = None
        self._sel_join: Optional[int] = None
        self._chunk_play: Optional[tuple[str, float]] = None
        self._after_encode = None
        self._build_ui()
        self.svc.result.connect(self._on_result)
        self.svc.error.connect(self._on_error)
        self.svc.cancelled.connect(self._on_cancelled)
        self.svc.progress.connect(self._on_progress)
        self.svc.job_started.connect(self._on_job_started)
        self.svc.job_finished.connect(lambda _rid: self._update_buttons())
        pos = getattr(ctx.player, "position_changed", None)
        if pos is not None:  # cursors move for audio this tab started itself, too
            pos.connect(self._on_player_position)
        self._update_buttons()

    # -- UI ---------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(4, 4, 4, 4)
        lv.setSpacing(6)

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
        self.song_list.currentRowChanged.connect(self._show_song)
        self.song_list.setMinimumHeight(80)
        self.song_list.setMaximumHeight(130)
        v.addWidget(self.song_list)
        row = QHBoxLayout()
        self.btn_demo = QPushButton("Demo pool")
        self.btn_demo.setToolTip("Load the music in shared/data/audio (about 20 songs; takes a little while)")
        self.btn_demo.clicked.connect(self.load_demo_pool)
        self.btn_add = QPushButton("Add files…")
        self.btn_add.setToolTip("Add songs in any format the app reads (or drop them on the window)")
        self.btn_add.clicked.connect(self._add_files)
        self.btn_folder = QPushButton("Add folder…")
        self.btn_folder.setToolTip("Add every song in a folder (and its sub-folders)")
        self.btn_folder.clicked.connect(self._add_folder)
        self.btn_remove = QPushButton("Remove")
        self.btn_remove.setToolTip("Remove the selected songs from the pool (Del)")
        self.btn_remove.clicked.connect(self._remove_songs)
        for w in (self.btn_demo, self.btn_add, self.btn_folder, self.btn_remove):
            row.addWidget(w)
        v.addLayout(row)
        self.pool_label = QLabel(EMPTY_POOL)
        self.pool_label.setWordWrap(True)
        v.addWidget(self.pool_label)
        lv.addWidget(g)

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
        self.btn_cut.clicked.connect(lambda: self.recut())
        self.chunk_kind.currentIndexChanged.connect(self._chunk_kind_changed)
        row = QHBoxLayout()
        row.addWidget(self.chunk_kind, 3)
        row.addWidget(self.chunk_value, 2)
        f.addRow("Cut by", row)
        f.addRow("Silence below avg.", self.silence_db)
        f.addRow("Min. silence", self.silence_ms)
        f.addRow(self.btn_cut)
        lv.addWidget(g)

        g = QGroupBox("3 · Scorer")
        f = QFormLayout(g)
        f.setVerticalSpacing(4)
        self.scorer = QComboBox()
        for k, label in SCORERS:
            self.scorer.addItem(label, k)
        self.scorer.setToolTip(
            "How well chunk B may follow chunk A.\nThe learned default gives a match probability, normalised "
            "over the pool (100 % = a certain, unambiguous match;\nchunks that fit after almost anything "
            "are marked down). The other scorers give cosine similarities.")
        self.scorer.currentIndexChanged.connect(lambda _i: self._invalidate_enc())
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
        self.btn_train.clicked.connect(self.train)
        self.btn_cancel = QPushButton("Cancel")
        self.btn_cancel.setToolTip("Cancel the running Stitcher job (Esc)")
        self.btn_cancel.clicked.connect(lambda: self.svc.cancel())
        row.addWidget(self.train_steps)
        row.addWidget(self.btn_train)
        row.addWidget(self.btn_cancel)
        f.addRow(row)
        self.loss_plot = LossPlot()
        self.loss_plot.setMinimumHeight(90)
        self.loss_plot.setMaximumHeight(120)
        self.loss_plot.hide()  # shown once training starts
        f.addRow(self.loss_plot)
        lv.addWidget(g)

        g = QGroupBox("4 · Build")
        f = QFormLayout(g)
        f.setVerticalSpacing(4)
        self.start_chunk = QSpinBox()
        self.start_chunk.setRange(-1, 1_000_000)
        self.start_chunk.setValue(-1)
        self.start_chunk.setSpecialValueText("random")
        self.start_chunk.setToolTip("Index of the first chunk (click a chunk in the song view to pick it)")
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.1, 60)
        self.minutes.setValue(3.0)
        self.minutes.setSuffix(" min")
        self.minutes.setToolTip("Length of the new song")
        self.method = QComboBox()
        self.method.addItems(["greedy", "beam"])
        self.method.setToolTip("greedy: best next chunk each time; beam: keeps several chains and picks the best")
        self.beam = QSpinBox()
        self.beam.setRange(2, 32)
        self.beam.setValue(4)
        self.beam.setToolTip("Beam width (beam search only)")
        self.method.currentTextChanged.connect(lambda m: self.beam.setEnabled(m == "beam"))
        self.beam.setEnabled(False)
        self.reuse = QSpinBox()
        self.reuse.setRange(1, 20)
        self.reuse.setToolTip("How often one chunk may appear in the result")
        self.max_run = QSpinBox()
        self.max_run.setRange(0, 100)
        self.max_run.setValue(1)
        self.max_run.setToolTip("How many natural successors (the original order) may follow in a row")
        self.max_same_song = QSpinBox()
        self.max_same_song.setRange(0, 1000)
        self.max_same_song.setValue(4)  # a new song mixes the pool by default
        self.max_same_song.setToolTip("Song variety: after this many chunks of one source song in a row, the next "
                                      "chunk must come from another song (0 = never force a change)")
        self.stay_key = QCheckBox("stay in key")
        self.stay_key.setToolTip("Only chunks in the key of the start chunk")
        self.stay_tempo = QCheckBox("stay in tempo")
        self.stay_tempo.setToolTip("Only chunks at about the tempo of the start chunk")
        self.crossfade = QSpinBox()
        self.crossfade.setRange(2, 2000)
        self.crossfade.setValue(60)
        self.crossfade.setSuffix(" ms")
        self.crossfade.setToolTip("Equal-power crossfade at every join")
        self.beat_align = QCheckBox("on the beat")
        self.beat_align.setToolTip("Move each join onto the nearest beat where beats are known")
        self.beat_align.setChecked(True)
        self.seed = QSpinBox()
        self.seed.setRange(0, 1_000_000)
        self.seed.setToolTip("Same seed, same pool, same settings: the same song")
        row = QHBoxLayout()
        row.addWidget(self.minutes)
        row.addWidget(QLabel("from chunk"))
        row.addWidget(self.start_chunk)
        f.addRow("Length", row)
        row = QHBoxLayout()
        row.addWidget(self.method)
        row.addWidget(QLabel("width"))
        row.addWidget(self.beam)
        f.addRow("Search", row)
        row = QHBoxLayout()
        row.addWidget(self.reuse)
        row.addWidget(QLabel("× per chunk, runs of"))
        row.addWidget(self.max_run)
        f.addRow("Reuse", row)
        row = QHBoxLayout()
        row.addWidget(QLabel("switch after"))
        row.addWidget(self.max_same_song)
        row.addWidget(QLabel("chunks (0 = never force)"))
        f.addRow("Songs", row)
        row = QHBoxLayout()
        row.addWidget(self.stay_key)
        row.addWidget(self.stay_tempo)
        f.addRow("Rules", row)
        row = QHBoxLayout()
        row.addWidget(self.crossfade)
        row.addWidget(self.beat_align)
        f.addRow("Crossfade", row)
        f.addRow("Random seed", self.seed)
        lv.addWidget(g)
        lv.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.NoFrame)

        self.btn_build = QPushButton("Build new song   (Ctrl+B)")
        self.btn_build.setToolTip("Chain the best-scoring chunks of the pool into a new song")
        self.btn_build.setMinimumHeight(34)
        font = self.btn_build.font()
        font.setBold(True)
        self.btn_build.setFont(font)
        self.btn_build.clicked.connect(self.build)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setStyleSheet("color: palette(mid);")
        side = QWidget()
        sv = QVBoxLayout(side)
        sv.setContentsMargins(0, 0, 4, 4)
        sv.setSpacing(4)
        sv.addWidget(scroll, 1)
        sv.addWidget(self.btn_build)
        sv.addWidget(self.status_label)
        side.setMinimumWidth(360)
        side.setMaximumWidth(520)
        self.side = side

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(4, 4, 4, 4)
        rv.setSpacing(3)
        self.song_title = QLabel("<b>Song</b> — pick a song in the pool")
        rv.addWidget(self.song_title)
        self.song_view = SongTimeline()
        self.song_view.setMinimumHeight(110)
        self.song_view.chunk_clicked.connect(self._play_chunk)
        rv.addWidget(self.song_view, 2)
        self.result_title = QLabel("<b>Result</b> — nothing built yet")
        rv.addWidget(self.result_title)
        self.result_view = ResultTimeline()
        self.result_view.setMinimumHeight(140)
        self.result_view.join_clicked.connect(self._select_join)
        self.result_view.seek_requested.connect(self._seek)
        rv.addWidget(self.result_view, 3)
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        rv.addWidget(self.legend)

        bottom = QHBoxLayout()
        g = QGroupBox("Join")
        v = QVBoxLayout(g)
        v.setSpacing(4)
        self.join_label = QLabel(NO_JOIN)
        self.join_label.setWordWrap(True)
        self.join_label.setMinimumHeight(self.join_label.fontMetrics().height() * 2 + 4)
        self.join_label.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        v.addWidget(self.join_label)
        self.alt_list = QTreeWidget()
        self.alt_list.setColumnCount(4)
        self.alt_list.setHeaderLabels(["Score", "Chunk", "Song", "From – to"])
        self.alt_list.setRootIsDecorated(False)
        self.alt_list.setUniformRowHeights(True)
        self.alt_list.setAlternatingRowColors(True)
        self.alt_list.setTextElideMode(Qt.ElideMiddle)
        self.alt_list.setToolTip("Next-best chunks for this join, best first.\n"
                                 "Enter or double-click swaps one in and rebuilds the rest; H hears it.")
        hdr = self.alt_list.header()
        hdr.setStretchLastSection(False)
        hdr.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        hdr.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        hdr.setSectionResizeMode(2, QHeaderView.Stretch)
        hdr.setSectionResizeMode(3, QHeaderView.ResizeToContents)
        self.alt_list.itemDoubleClicked.connect(lambda _it, _c: self.swap_selected())
        self.alt_list.currentItemChanged.connect(lambda *_a: self._update_buttons())
        v.addWidget(self.alt_list)
        row = QHBoxLayout()
        self.btn_hear = QPushButton("Hear alternative  (H)")
        self.btn_hear.setToolTip("Play the selected alternative chunk on its own")
        self.btn_hear.clicked.connect(self._hear_alt)
        self.btn_swap = QPushButton("Swap in, rebuild the rest  (Enter)")
        self.btn_swap.setToolTip("Put the selected chunk after this join and rebuild the chain from there")
        self.btn_swap.clicked.connect(self.swap_selected)
        row.addWidget(self.btn_hear)
        row.addWidget(self.btn_swap)
        v.addLayout(row)
        bottom.addWidget(g, 3)

        g = QGroupBox("Seams and export")
        v = QVBoxLayout(g)
        v.setSpacing(4)
        form = QFormLayout()
        form.setVerticalSpacing(2)
        self.seam_fields = {}
        for key, label, tip in SEAM_FIELDS:
            w = QLabel("—")
            w.setToolTip(tip)
            lab = QLabel(label)
            lab.setToolTip(tip)
            form.addRow(lab, w)
            self.seam_fields[key] = w
        v.addLayout(form)
        self.seam_label = self.seam_fields["joins"]
        v.addStretch(1)
        self.btn_play = QPushButton("Play / pause result  (Space)")
        self.btn_play.setToolTip("Play the built song with the transport (Space); click the result to move the cursor")
        self.btn_play.clicked.connect(self._play_result)
        v.addWidget(self.btn_play)
        row = QHBoxLayout()
        self.btn_wav = QPushButton("WAV…")
        self.btn_wav.setToolTip("Export the song as WAV, with a CSV of the chunks used next to it (Ctrl+E)")
        self.btn_wav.clicked.connect(lambda: self.export_to(kind=".wav"))
        self.btn_mp3 = QPushButton("MP3…")
        self.btn_mp3.setToolTip("Export the song as MP3, with a CSV of the chunks used next to it")
        self.btn_mp3.clicked.connect(lambda: self.export_to(kind=".mp3"))
        self.btn_csv = QPushButton("CSV…")
        self.btn_csv.setToolTip("Export only the list of chunks used (source, start, end, score)")
        self.btn_csv.clicked.connect(lambda: self.export_to(kind=".csv"))
        row.addWidget(QLabel("Export"))
        for b in (self.btn_wav, self.btn_mp3, self.btn_csv):
            row.addWidget(b)
        v.addLayout(row)
        g.setMinimumWidth(300)
        bottom.addWidget(g, 2)
        rv.addLayout(bottom, 2)

        split = QSplitter(Qt.Horizontal)
        split.addWidget(side)
        split.addWidget(right)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setCollapsible(0, False)
        split.setCollapsible(1, False)
        split.setSizes([420, 860])
        self.splitter = split
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

        QShortcut(QKeySequence("Ctrl+B"), self, self.build)
        # keys that only make sense where the focus is (Del in the pool, Enter/H in the alternatives)
        local = [(Qt.Key_Delete, self.song_list, self._remove_songs), (Qt.Key_Return, self.alt_list, self.swap_selected),
                 (Qt.Key_Enter, self.alt_list, self.swap_selected), (Qt.Key_H, self.alt_list, self._hear_alt)]
        for key, widget, slot in local:
            sc = QShortcut(QKeySequence(key), widget, slot)
            sc.setContext(Qt.WidgetShortcut)
        QShortcut(QKeySequence("Alt+Right"), self, lambda: self._step_join(+1))
        QShortcut(QKeySequence("Alt+Left"), self, lambda: self._step_join(-1))
        self.result_view.setToolTip(self.result_view.toolTip() + "\nAlt+Left / Alt+Right step through the joins.")
        self._chunk_kind_changed()

    def _chunk_kind_changed(self) -> None:
        k = self.chunk_kind.currentData()
        self.chunk_value.setVisible(k != "silence")
        self.chunk_form.setRowVisible(self.silence_db, k == "silence")
        self.chunk_form.setRowVisible(self.silence_ms, k == "silence")
        self.chunk_value.setSuffix({"fixed": " s", "beats": " beats", "bars": " bars"}.get(k, ""))
        self.chunk_value.setDecimals(1 if k == "fixed" else 0)

    def chunking(self) -> str:
        k = self.chunk_kind.currentData()
        if k == "silence":
            return f"silence:{self.silence_db.value():g}:{self.silence_ms.value()}"
        if k == "fixed":
            return f"fixed:{self.chunk_value.value():g}"
        return f"{k}:{max(1, int(round(self.chunk_value.value())))}"

    def set_chunking(self, spec: str) -> None:
        from ...stitcher.pool import parse_chunking

        kind, a, b = parse_chunking(spec)
        self.chunk_kind.setCurrentIndex(max(0, self.chunk_kind.findData(kind)))
        if kind == "silence":
            self.silence_db.setValue(a)
            self.silence_ms.setValue(int(b))
        else:
            self.chunk_value.setValue(a)

    def rules(self):
        from ...stitcher.chain import ChainRules

        start = self.start_chunk.value()
        return ChainRules(target_s=self.minutes.value() * 60, start=None if start < 0 else start,
                          seed=self.seed.value(), method=self.method.currentText(), beam=self.beam.value(),
                          reuse=self.reuse.value(), max_run=self.max_run.value(),
                          max_same_song=self.max_same_song.value(),
                          stay_key=self.stay_key.isChecked(), stay_tempo=self.stay_tempo.isChecked())

    def _update_buttons(self) -> None:
        busy = self.svc.is_busy()
        has_pool = self.pool is not None and len(self.pool.chunks) > 0
        has_built = self.built is not None
        self.btn_build.setEnabled(has_pool and not busy)
        self.btn_train.setEnabled(has_pool and not busy)
        self.btn_cut.setEnabled(has_pool and not busy)
        self.btn_cancel.setEnabled(busy)
        has_alt = self.alt_list.currentItem() is not None
        self.btn_swap.setEnabled(has_built and not busy and has_alt)
        self.btn_hear.setEnabled(has_built and has_alt)
        self.btn_remove.setEnabled(self.pool is not None and not busy)
        if not has_pool:
            self.btn_build.setToolTip("Add songs to the pool first")
        else:
            self.btn_build.setToolTip("Chain the best-scoring chunks of the pool into a new song")
        for b in (self.btn_play, self.btn_wav, self.btn_mp3, self.btn_csv):
            b.setEnabled(has_built)

    # -- jobs -----------------------------------------------------------------------------------
    def _submit(self, kind: str, fn, *args, label: str, **kw) -> int:
        rid = self.svc.submit(fn, *args, label=label, **kw)
        self._pending[rid] = (kind,)
        self._update_buttons()
        return rid

    def _on_result(self, rid: int, payload) -> None:
        kind = self._pending.pop(rid, ("?",))[0]
        if kind == "pool":
            self._set_pool(payload)
        elif kind == "encode":
            self.enc, self.enc_key = payload
            if getattr(self, "_after_encode", None):
                fn, self._after_encode = self._after_encode, None
                fn()
        elif kind in ("built", "swap"):
            self._set_built(payload, keep=self._sel_join if kind == "swap" else None)
            dur = len(payload.rendered.y) / payload.rendered.sr
            self.status_label.setText(f"Built {fmt_seconds(dur)} from {len(payload.chain.items)} chunks. "
                                      "Space plays it.")
        elif kind == "train":
            self.model_path = payload
            self.model_label.setText(f"model: {Path(payload).name} (trained on this pool)")
            self.scorer.setCurrentIndex(0)
            self._invalidate_enc()
            self.ctx.notify(f"Stitcher: trained scorer saved to {payload}")
        self._update_buttons()

    def _on_error(self, rid: int, msg: str) -> None:
        # the main window reports every registered service's errors (status bar + dialog);
        # the tab keeps a note next to the Build button and leaves pool and result as they were
        kind = self._pending.pop(rid, ("?",))[0]
        self._after_encode = None
        what = {"pool": "Loading songs", "encode": "Scoring", "built": "Building", "swap": "Swapping",
                "train": "Training"}.get(kind, "The job")
        self.status_label.setText(f"<span style='color:#d9534f'>⚠ {what} failed: {msg}</span>")
        self._update_buttons()

    def _on_cancelled(self, rid: int) -> None:
        self._pending.pop(rid, None)
        self._after_encode = None
        self.status_label.setText("Cancelled; the pool and the result are as they were.")
        self._update_buttons()

    def _on_job_started(self, rid: int, label: str) -> None:
        self.status_label.setText(f"{label}… (Esc cancels)")

    def _on_progress(self, rid: int, done: int, total: int, message: str) -> None:
        if rid in self._pending:
            pct = f" {100 * done / total:.0f}%" if total > 0 else ""
            self.status_label.setText(f"{self.svc.running_label() or 'Working'}{pct}: {message} (Esc cancels)")
        if rid == self._train_rid and self._loss:
            pts = list(self._loss)
            self.loss_plot.set_points([p[0] for p in pts], [p[1] for p in pts])

    # -- pool ---------------------------------------------------------------------------------
    def accepts(self, path: Path) -> bool:
        return is_audio_file(path)

    def open_files(self, paths: list[Path]) -> None:
        self.add_paths(paths)

    def add_paths(self, paths) -> None:
        from ...stitcher import session

        songs = self.pool.songs if self.pool is not None else []
        self._submit("pool", session.add_songs, list(songs), [str(p) for p in paths], self.chunking(),
                     label="Loading songs")

    def load_demo_pool(self) -> None:
        from ...stitcher.pool import demo_song_paths

        paths = demo_song_paths()
        if not paths:
            self.ctx.notify("Stitcher: the demo folder shared/data/audio was not found.", error=True)
            return
        self.add_paths(paths)

    def _add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add songs", "",
                                                "Audio (*.wav *.flac *.ogg *.mp3 *.aif *.aiff *.opus);;All files (*)")
        if files:
            self.add_paths(files)

    def _add_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Add a folder of songs")
        if d:
            self.add_paths([d])

    def _remove_songs(self) -> None:
        if self.pool is None:
            return
        rows = {i.row() for i in self.song_list.selectedIndexes()}
        if not rows:
            return
        keep = [s for k, s in enumerate(self.pool.songs) if k not in rows]
        if not keep:
            self.pool = None
            self._refresh_pool()
            return
        self.recut(songs=keep)

    def recut(self, songs=None) -> None:
        from ...stitcher import session

        if self.pool is None and songs is None:
            return
        self._submit("pool", session.rechunk, list(songs if songs is not None else self.pool.songs),
                     self.chunking(), label="Cutting songs")

    def _set_pool(self, pool) -> None:
        self.pool = pool
        self._invalidate_enc()
        skipped = [m[len("skipped:"):].strip() for m in pool.messages if m.startswith("skipped")]
        notes = [m for m in pool.messages if not m.startswith("skipped")]
        if skipped:  # one message for all bad files (not one dialog per file)
            n = len(skipped)
            self.ctx.notify(f"Stitcher skipped {n} file{'s' if n > 1 else ''}: " + " ".join(skipped), error=True)
        if notes:
            self.ctx.notify("Stitcher: " + " ".join(notes))
        self._refresh_pool()
        self.status_label.setText(f"Pool ready: {pool.summary()}."
                                  + (f" {len(skipped)} file(s) skipped." if skipped else ""))

    def _invalidate_enc(self) -> None:
        self.enc, self.enc_key = None, None

    def _refresh_pool(self) -> None:
        self.song_list.blockSignals(True)
        self.song_list.clear()
        if self.pool is None:
            self.pool_label.setText(EMPTY_POOL)
            self.song_view.set_song(None, 22050, [])
            self.song_title.setText("<b>Song</b> — pick a song in the pool")
            self.song_list.blockSignals(False)
            self._update_buttons()
            return
        counts = np.bincount([c.song for c in self.pool.chunks], minlength=len(self.pool.songs))
        for k, s in enumerate(self.pool.songs):
            it = QListWidgetItem(f"■ {pretty_name(s.name)}  ·  {fmt_seconds(s.duration)} · {counts[k]} chunks")
            it.setForeground(text_color(k))
            it.setToolTip(f"{s.path}\n{s.duration:.1f} s, {counts[k]} chunks")
            self.song_list.addItem(it)
        self.song_list.blockSignals(False)
        self.pool_label.setText(f"{self.pool.summary()}. Click a chunk in the song view to hear it "
                                f"(it also becomes the start chunk).")
        self.start_chunk.setMaximum(max(0, len(self.pool.chunks) - 1))
        self.song_list.setCurrentRow(0)
        self._show_song(0)
        self._update_buttons()

    def _show_song(self, row: int) -> None:
        if self.pool is None or not 0 <= row < len(self.pool.songs):
            return
        s = self.pool.songs[row]
        sr = self.pool.sr
        spans = [(i, c.start / sr, c.end / sr) for i, c in enumerate(self.pool.chunks) if c.song == row]
        self.song_view.set_song(s.y, sr, spans)
        self.song_title.setText(f"<b>{pretty_name(s.name, 70)}</b> — {fmt_seconds(s.duration)}, {len(spans)} chunks "
                                f"({self.pool.chunking}) · click a chunk to hear it")

    def _play_chunk(self, i: int) -> None:
        if self.pool is None:
            return
        c = self.pool.chunks[i]
        self.start_chunk.setValue(i)
        label = f"chunk {i} of {self.pool.songs[c.song].name}"
        self._chunk_play = (label, c.start / self.pool.sr)
        self.ctx.player.play(self.pool.chunk_audio(i).copy(), self.pool.sr, label, owner=self)

    def _score_fmt(self, s: float) -> str:
        """A join score as the user reads it: the learned default's pool-normalised
        log-probabilities as a match probability in %, other scorers' similarities as numbers."""
        import math

        kind = getattr(self, "_built_kind", None) or getattr(self.enc, "score_kind", "")
        if kind == "logprob":
            return f"{100.0 * math.exp(min(0.0, s)):.0f}%" if math.isfinite(s) else "–"
        return f"{s:.2f}" if math.isfinite(s) else "–"

    # -- scorer / training --------------------------------------------------------------------
    def _scorer_key(self):
        return (self.scorer.currentData(), self.model_path, id(self.pool))

    def _ensure_enc(self, then) -> None:
        from ...stitcher import session

        if self.enc is not None and self.enc_key == self._scorer_key():
            then()
            return
        key = self._scorer_key()
        self._after_encode = then

        def job(pool, scorer, model, should_stop=None, on_progress=None):
            return session.encode(pool, scorer, model, should_stop=should_stop, on_progress=on_progress), key

        model = self.model_path if key[0] == "edge" else None
        self._submit("encode", job, self.pool, key[0], model, label="Encoding chunk edges")

    def train(self) -> None:
        from ...paths import user_models_dir
        from ...stitcher import session

        if self.pool is None:
            return
        import time

        out = user_models_dir("stitcher") / f"pool-{time.strftime('%Y%m%d-%H%M%S')}.pt"
        self._loss = []
        self.loss_plot.set_points([], [])
        self.loss_plot.show()

        def on_loss(step, loss, _l=self._loss):
            _l.append((int(step), float(loss)))

        self._train_rid = self._submit("train", session.train, list(self.pool.songs), str(out),
                                       steps=self.train_steps.value(), on_loss=on_loss, label="Training scorer")

    # -- build / swap -----------------------------------------------------------------------
    def build(self) -> None:
        from ...stitcher import session

        if self.pool is None or self.svc.is_busy():
            return

        def go():
            if self.pool is None:
                return
            if self.enc is None or self.enc_key != self._scorer_key():  # pool or scorer changed meanwhile
                self._ensure_enc(go)
                return
            self._submit("built", session.build, self.pool, self.enc, self.rules(), float(self.crossfade.value()),
                         self.beat_align.isChecked(), label="Building song")

        self._ensure_enc(go)

    def _set_built(self, built, keep: Optional[int] = None) -> None:
        """Show ``built``; ``keep``: the join to select again (after a swap)."""
        self.built = built
        self._built_kind = getattr(self.enc, "score_kind", "similarity")  # the scores' kind at build time
        self._sel_join = None
        r, ch, pool = built.rendered, built.chain, built.pool
        segs = [(a, b, pool.chunks[i].song) for a, b, i, _s, _e in r.segments]
        joins = [(t, ch.scores[k + 1], built.seams["joins"][k]["z"] if k < len(built.seams["joins"]) else None)
                 for k, t in enumerate(r.joins)]
        self.result_view.score_fmt = self._score_fmt
        self.result_view.set_result(r.y, r.sr, segs, joins)
        used = sorted({pool.chunks[i].song for i in ch.items})
        self.legend.setText("&nbsp;&nbsp; ".join(
            f"<span style='color:{song_color(s).name()}'>■</span>&nbsp;{pretty_name(pool.songs[s].name, 34)}"
            for s in used))
        self.legend.setToolTip("\n".join(pool.songs[s].name for s in used))
        dur = len(r.y) / r.sr
        self.result_title.setText(f"<b>Result</b> — {fmt_seconds(dur)}, {len(ch.items)} chunks from {len(used)} "
                                  f"song{'s' if len(used) != 1 else ''} · click a join for alternatives, "
                                  "elsewhere to move the cursor")
        sm = built.seams
        joins = sm.get("joins") or []

        def num(x, fmt):
            try:
                return format(float(x), fmt)
            except (TypeError, ValueError):
                return "—"

        self.seam_fields["joins"].setText(str(len(r.joins)))
        med = sm.get("median_z")
        ok = med is not None and num(med, "") != "—" and float(med) <= 1
        self.seam_fields["median_z"].setText(
            f"z {num(med, '+.2f')} " + ("<span style='color:#3a9a4a'>✓ (goal ≤ 1)</span>" if ok else "(goal ≤ 1)"))
        if joins:
            worst = max(range(len(joins)), key=lambda k: joins[k]["z"])
            self.seam_fields["max_z"].setText(f"z {joins[worst]['z']:+.2f} at {fmt_seconds(joins[worst]['time'])} "
                                              f"(join {worst + 1})")
        else:
            self.seam_fields["max_z"].setText("—")
        self.seam_fields["jump"].setText(f"{num(sm.get('max_jump'), '.3f')} "
                                         f"(sources: {num(sm.get('source_jump_p99'), '.3f')})")
        self.alt_list.clear()
        self.join_label.setText(NO_JOIN)
        self.result_view.set_cursor(None)
        self.playable_changed.emit()
        self._update_buttons()
        if keep is not None and 1 <= keep < len(ch.items):
            self._select_join(keep)

    def _select_join(self, k: int) -> None:
        from ...stitcher.chain import alternatives

        if self.built is None:
            return
        ch, pool, enc = self.built.chain, self.built.pool, self.built.enc
        if not 1 <= k < len(ch.items):
            return
        self._sel_join = k
        self.result_view.select_join(k)
        a, b = ch.items[k - 1], ch.items[k]
        j = self.built.seams["joins"][k - 1] if k - 1 < len(self.built.seams["joins"]) else None
        sa, sb = pool.chunks[a].song, pool.chunks[b].song
        col = lambda song: text_color(song).name()  # noqa: E731
        where = f" at {fmt_seconds(j['time'])}" if j else ""
        score = f" · score <b>{self._score_fmt(j['score'])}</b> · novelty z {j['z']:+.2f}" if j else ""
        self.join_label.setText(
            f"<b>Join {k}</b>{where}: chunk {a} (<span style='color:{col(sa)}'>{pretty_name(pool.songs[sa].name, 28)}"
            f"</span>) → chunk {b} (<span style='color:{col(sb)}'>{pretty_name(pool.songs[sb].name, 28)}</span>)"
            f"{score}")
        self.alt_list.clear()
        natural = pool.successor(a)
        for i, sc in alternatives(pool, enc, ch, k, count=8, rules=self.rules()):
            c = pool.chunks[i]
            song = pretty_name(pool.songs[c.song].name) + ("  (its original continuation)" if i == natural else "")
            it = QTreeWidgetItem([self._score_fmt(sc), str(i), song,
                                  f"{fmt_seconds(c.start / pool.sr)} – {fmt_seconds(c.end / pool.sr)}"])
            it.setData(0, Qt.UserRole, i)
            it.setForeground(2, text_color(c.song))
            it.setToolTip(2, pool.songs[c.song].path)
            it.setTextAlignment(0, Qt.AlignRight | Qt.AlignVCenter)
            it.setTextAlignment(1, Qt.AlignRight | Qt.AlignVCenter)
            self.alt_list.addTopLevelItem(it)
        if self.alt_list.topLevelItemCount():
            self.alt_list.setCurrentItem(self.alt_list.topLevelItem(0))
        self._update_buttons()

    def _step_join(self, step: int) -> None:
        if self.built is None or len(self.built.chain.items) < 2:
            return
        n = len(self.built.chain.items) - 1
        k = (self._sel_join or (0 if step > 0 else n + 1)) + step
        self._select_join(min(n, max(1, k)))
        if self._sel_join is not None:
            self.alt_list.setFocus()

    def selected_alternative(self) -> Optional[int]:
        it = self.alt_list.currentItem()
        return None if it is None else int(it.data(0, Qt.UserRole))

    def _hear_alt(self) -> None:
        i = self.selected_alternative()
        if i is not None and self.built is not None:
            pool = self.built.pool
            self._chunk_play = None
            self.ctx.player.play(pool.chunk_audio(i).copy(), pool.sr, f"alternative chunk {i}", owner=self)

    def swap_selected(self) -> None:
        from ...stitcher import session

        i = self.selected_alternative()
        if i is None or self.built is None or self._sel_join is None or self.svc.is_busy():
            return
        b = self.built
        self._submit("swap", session.swap_and_rebuild, b.pool, b.enc, b.chain, self._sel_join,
                     i, self.rules(), float(self.crossfade.value()),
                     self.beat_align.isChecked(), label="Swapping a chunk")

    # -- transport -------------------------------------------------------------------------
    def playable_audio(self):
        if self.built is None:
            return None
        return self.built.rendered.y, self.built.rendered.sr, "stitched song"

    def _play_result(self) -> None:
        if self.built is None:
            return
        act = getattr(self.window(), "act_play", None)
        p = self.ctx.player
        if act is not None and getattr(p, "label", "") in ("", "stitched song"):
            act.trigger()  # the window's transport: same as Space (play / pause, seek slider, time)
            return
        if getattr(p, "owner", None) is self and getattr(p, "label", "") == "stitched song":
            p.toggle()
        else:
            r = self.built.rendered
            self._chunk_play = None
            p.play(r.y, r.sr, "stitched song", owner=self)

    def _seek(self, seconds: float) -> None:
        self.result_view.set_cursor(seconds)
        p = self.ctx.player
        if self.built is not None and getattr(p, "owner", None) is self:
            p.seek(seconds)

    def on_playback_position(self, seconds: float) -> None:
        label = getattr(self.ctx.player, "label", "")
        if self._chunk_play is not None and label == self._chunk_play[0]:
            self.song_view.set_cursor(self._chunk_play[1] + seconds)
        elif label.startswith("alternative chunk"):
            pass
        else:
            self.result_view.set_cursor(seconds)

    def _on_player_position(self, seconds: float) -> None:
        if getattr(self.ctx.player, "owner", None) is self:
            self.on_playback_position(seconds)

    # -- export ---------------------------------------------------------------------------------
    def export(self) -> None:
        self.export_to()

    def export_to(self, path: Optional[str] = None, kind: Optional[str] = None) -> Optional[Path]:
        from ...audio.io import save_audio
        from ...stitcher.chain import write_csv

        if self.built is None:
            self.ctx.notify("Nothing to export in Stitcher yet: build a song first.")
            return None
        if path is None:
            filt = {".wav": "WAV (*.wav)", ".mp3": "MP3 (*.mp3)", ".csv": "CSV (*.csv)"}
            sel = filt.get(kind or ".wav")
            start = self.ctx.settings.value("stitcher/export_dir", "") or ""
            name = str(Path(start) / f"stitched-seed{self.seed.value()}{kind or '.wav'}")
            path, _ = QFileDialog.getSaveFileName(self, "Export the stitched song", name,
                                                  ";;".join(filt.values()), sel)
            if not path:
                return None
        p = Path(path)
        try:
            if p.suffix.lower() == ".csv":
                write_csv(p, self.built.pool, self.built.rendered, self.built.chain)
            else:
                save_audio(p, self.built.rendered.y, self.built.rendered.sr)
                write_csv(p.with_suffix(".csv"), self.built.pool, self.built.rendered, self.built.chain)
        except Exception as exc:
            self.ctx.notify(f"'{p.name}': could not be written ({exc}).", error=True)
            return None
        try:
            self.ctx.settings.setValue("stitcher/export_dir", str(p.parent))
        except Exception:
            pass
        extra = "" if p.suffix.lower() == ".csv" else f" and {p.with_suffix('.csv').name}"
        self.ctx.notify(f"Stitcher: exported {p}{extra}")
        return p

    # -- settings / lifetime ------------------------------------------------------------------
    def save_settings(self, settings: QSettings) -> None:
        settings.setValue("chunking", self.chunking())
        settings.setValue("scorer", self.scorer.currentData())
        settings.setValue("minutes", self.minutes.value())
        settings.setValue("crossfade_ms", self.crossfade.value())
        settings.setValue("method", self.method.currentText())
        settings.setValue("reuse", self.reuse.value())
        settings.setValue("max_run", self.max_run.value())
        settings.setValue("max_same_song", self.max_same_song.value())
        settings.setValue("beam", self.beam.value())
        settings.setValue("beat_align", self.beat_align.isChecked())
        settings.setValue("splitter", self.splitter.saveState())

    def restore_settings(self, settings: QSettings) -> None:
        try:
            if settings.value("chunking"):
                self.set_chunking(str(settings.value("chunking")))
            i = self.scorer.findData(settings.value("scorer"))
            if i >= 0:
                self.scorer.setCurrentIndex(i)
            if settings.value("minutes") is not None:
                self.minutes.setValue(float(settings.value("minutes")))
            if settings.value("crossfade_ms") is not None:
                self.crossfade.setValue(int(float(settings.value("crossfade_ms"))))
            if settings.value("method"):
                self.method.setCurrentText(str(settings.value("method")))
            if settings.value("reuse") is not None:
                self.reuse.setValue(int(float(settings.value("reuse"))))
            if settings.value("max_run") is not None:
                self.max_run.setValue(int(float(settings.value("max_run"))))
            if settings.value("max_same_song") is not None:
                self.max_same_song.setValue(int(float(settings.value("max_same_song"))))
            if settings.value("beam") is not None:
                self.beam.setValue(int(float(settings.value("beam"))))
            if settings.value("beat_align") is not None:
                self.beat_align.setChecked(str(settings.value("beat_align")).lower() in ("true", "1"))
            if settings.value("splitter") is not None:
                self.splitter.restoreState(settings.value("splitter"))
        except (TypeError, ValueError, Exception):
            pass

    def shutdown(self) -> None:
        self.svc.cancel()
