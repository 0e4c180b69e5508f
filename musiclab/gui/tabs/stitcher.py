"""The Chunk stitcher tab: pool -> chunks -> scorer -> chain -> seamless new song."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import Qt, QSettings
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QGroupBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QScrollArea, QSpinBox, QSplitter, QVBoxLayout, QWidget)

from ...audio.io import is_audio_file
from ..widgets.stitcher_timeline import LossPlot, ResultTimeline, SongTimeline, song_color
from .base import WorkbenchTab

SCORERS = [("edge", "Learned (default model)"), ("boundary", "Boundary similarity (hand-made)"),
           ("seed", "Seed CNN-LSTM (preset)"), ("random", "Random (chance)")]
CHUNKINGS = [("beats", "Beats"), ("bars", "Bars (4 beats)"), ("fixed", "Fixed length (s)"), ("silence", "On silence")]


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
        self._build_ui()
        self.svc.result.connect(self._on_result)
        self.svc.error.connect(self._on_error)
        self.svc.cancelled.connect(self._on_cancelled)
        self.svc.progress.connect(self._on_progress)
        self.svc.job_finished.connect(lambda _rid: self._update_buttons())
        self._update_buttons()

    # -- UI ---------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(4, 4, 4, 4)

        g = QGroupBox("Pool")
        v = QVBoxLayout(g)
        self.song_list = QListWidget()
        self.song_list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.song_list.setToolTip("Songs in the pool. Drop audio files or folders on the window to add them.")
        self.song_list.currentRowChanged.connect(self._show_song)
        self.song_list.setMinimumHeight(90)
        self.song_list.setMaximumHeight(170)
        v.addWidget(self.song_list)
        row = QHBoxLayout()
        self.btn_add = QPushButton("Add files…")
        self.btn_add.clicked.connect(self._add_files)
        self.btn_folder = QPushButton("Add folder…")
        self.btn_folder.clicked.connect(self._add_folder)
        self.btn_demo = QPushButton("Demo pool")
        self.btn_demo.setToolTip("Load the music in shared/data/audio (20 songs)")
        self.btn_demo.clicked.connect(self.load_demo_pool)
        self.btn_remove = QPushButton("Remove")
        self.btn_remove.setToolTip("Remove the selected songs from the pool (Del)")
        self.btn_remove.clicked.connect(self._remove_songs)
        for b in (self.btn_add, self.btn_folder, self.btn_demo, self.btn_remove):
            row.addWidget(b)
        v.addLayout(row)
        self.pool_label = QLabel("Empty pool: add songs or press Demo pool.")
        self.pool_label.setWordWrap(True)
        v.addWidget(self.pool_label)
        lv.addWidget(g)

        g = QGroupBox("Chunking")
        f = QFormLayout(g)
        self.chunk_kind = QComboBox()
        for k, label in CHUNKINGS:
            self.chunk_kind.addItem(label, k)
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
        self.btn_cut = QPushButton("Cut")
        self.btn_cut.setToolTip("Cut all songs again with these settings")
        self.btn_cut.clicked.connect(self.recut)
        self.chunk_kind.currentIndexChanged.connect(self._chunk_kind_changed)
        f.addRow("Cut by", self.chunk_kind)
        f.addRow("Length", self.chunk_value)
        f.addRow("Silence below avg.", self.silence_db)
        f.addRow("Min. silence", self.silence_ms)
        f.addRow(self.btn_cut)
        lv.addWidget(g)

        g = QGroupBox("Scorer")
        f = QFormLayout(g)
        self.scorer = QComboBox()
        for k, label in SCORERS:
            self.scorer.addItem(label, k)
        self.scorer.setToolTip("How well chunk B may follow chunk A")
        self.scorer.currentIndexChanged.connect(lambda _i: self._invalidate_enc())
        f.addRow("Score with", self.scorer)
        self.model_label = QLabel("model: default")
        f.addRow(self.model_label)
        row = QHBoxLayout()
        self.train_steps = QSpinBox()
        self.train_steps.setRange(20, 20000)
        self.train_steps.setValue(600)
        self.train_steps.setSuffix(" steps")
        self.btn_train = QPushButton("Train on pool")
        self.btn_train.setToolTip("Train a learned scorer on the pool's songs (in the background)")
        self.btn_train.clicked.connect(self.train)
        self.btn_cancel = QPushButton("Cancel")
        self.btn_cancel.clicked.connect(lambda: self.svc.cancel())
        row.addWidget(self.train_steps)
        row.addWidget(self.btn_train)
        row.addWidget(self.btn_cancel)
        f.addRow(row)
        self.loss_plot = LossPlot()
        self.loss_plot.setMinimumHeight(90)
        self.loss_plot.setMaximumHeight(130)
        f.addRow(self.loss_plot)
        lv.addWidget(g)

        g = QGroupBox("Build")
        f = QFormLayout(g)
        self.start_chunk = QSpinBox()
        self.start_chunk.setRange(-1, 1_000_000)
        self.start_chunk.setValue(-1)
        self.start_chunk.setSpecialValueText("random")
        self.start_chunk.setToolTip("Index of the first chunk (click a chunk in the song view to pick it)")
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.1, 60)
        self.minutes.setValue(3.0)
        self.minutes.setSuffix(" min")
        self.method = QComboBox()
        self.method.addItems(["greedy", "beam"])
        self.beam = QSpinBox()
        self.beam.setRange(2, 32)
        self.beam.setValue(4)
        self.reuse = QSpinBox()
        self.reuse.setRange(1, 20)
        self.reuse.setToolTip("How often one chunk may appear in the result")
        self.max_run = QSpinBox()
        self.max_run.setRange(0, 100)
        self.max_run.setValue(1)
        self.max_run.setToolTip("How many natural successors (the original order) may follow in a row")
        self.stay_key = QCheckBox("stay in key")
        self.stay_tempo = QCheckBox("stay in tempo")
        self.crossfade = QSpinBox()
        self.crossfade.setRange(2, 2000)
        self.crossfade.setValue(60)
        self.crossfade.setSuffix(" ms")
        self.crossfade.setToolTip("Equal-power crossfade at every join")
        self.beat_align = QCheckBox("beat-aligned joins")
        self.beat_align.setChecked(True)
        self.seed = QSpinBox()
        self.seed.setRange(0, 1_000_000)
        self.btn_build = QPushButton("Build  (Ctrl+B)")
        self.btn_build.clicked.connect(self.build)
        f.addRow("Start chunk", self.start_chunk)
        f.addRow("Target length", self.minutes)
        row = QHBoxLayout()
        row.addWidget(self.method)
        row.addWidget(QLabel("width"))
        row.addWidget(self.beam)
        f.addRow("Search", row)
        row = QHBoxLayout()
        row.addWidget(self.reuse)
        row.addWidget(QLabel("run"))
        row.addWidget(self.max_run)
        f.addRow("Reuse limit", row)
        row = QHBoxLayout()
        row.addWidget(self.stay_key)
        row.addWidget(self.stay_tempo)
        f.addRow(row)
        row = QHBoxLayout()
        row.addWidget(self.crossfade)
        row.addWidget(self.beat_align)
        f.addRow("Crossfade", row)
        f.addRow("Random seed", self.seed)
        f.addRow(self.btn_build)
        lv.addWidget(g)

        scroll = QScrollArea()
        scroll.setWidget(left)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(380)
        scroll.setMaximumWidth(460)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(4, 4, 4, 4)
        self.song_title = QLabel("<b>Song</b>")
        rv.addWidget(self.song_title)
        self.song_view = SongTimeline()
        self.song_view.chunk_clicked.connect(self._play_chunk)
        rv.addWidget(self.song_view, 2)
        self.result_title = QLabel("<b>Result</b> — nothing built yet")
        rv.addWidget(self.result_title)
        self.result_view = ResultTimeline()
        self.result_view.join_clicked.connect(self._select_join)
        self.result_view.seek_requested.connect(self._seek)
        rv.addWidget(self.result_view, 3)
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        rv.addWidget(self.legend)

        bottom = QHBoxLayout()
        g = QGroupBox("Join")
        v = QVBoxLayout(g)
        self.join_label = QLabel("Click a join in the result to see the next-best chunks.")
        self.join_label.setWordWrap(True)
        v.addWidget(self.join_label)
        self.alt_list = QListWidget()
        self.alt_list.setToolTip("Next-best chunks for this join (double-click to swap)")
        self.alt_list.itemDoubleClicked.connect(lambda _it: self.swap_selected())
        v.addWidget(self.alt_list)
        row = QHBoxLayout()
        self.btn_swap = QPushButton("Swap and rebuild the rest")
        self.btn_swap.clicked.connect(self.swap_selected)
        self.btn_hear = QPushButton("Hear alternative")
        self.btn_hear.clicked.connect(self._hear_alt)
        row.addWidget(self.btn_hear)
        row.addWidget(self.btn_swap)
        v.addLayout(row)
        bottom.addWidget(g, 3)
        g = QGroupBox("Result")
        v = QVBoxLayout(g)
        self.seam_label = QLabel("—")
        self.seam_label.setWordWrap(True)
        v.addWidget(self.seam_label)
        self.btn_play = QPushButton("Play / pause")
        self.btn_play.clicked.connect(self._play_result)
        v.addWidget(self.btn_play)
        row = QHBoxLayout()
        self.btn_wav = QPushButton("Export WAV…")
        self.btn_wav.clicked.connect(lambda: self.export_to(kind=".wav"))
        self.btn_mp3 = QPushButton("Export MP3…")
        self.btn_mp3.clicked.connect(lambda: self.export_to(kind=".mp3"))
        self.btn_csv = QPushButton("Export CSV…")
        self.btn_csv.clicked.connect(lambda: self.export_to(kind=".csv"))
        for b in (self.btn_wav, self.btn_mp3, self.btn_csv):
            row.addWidget(b)
        v.addLayout(row)
        v.addStretch(1)
        bottom.addWidget(g, 2)
        rv.addLayout(bottom, 2)

        split = QSplitter(Qt.Horizontal)
        split.addWidget(scroll)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

        QShortcut(QKeySequence("Ctrl+B"), self, self.build)
        QShortcut(QKeySequence(Qt.Key_Delete), self.song_list, self._remove_songs)
        self._chunk_kind_changed()

    def _chunk_kind_changed(self) -> None:
        k = self.chunk_kind.currentData()
        self.chunk_value.setEnabled(k != "silence")
        self.silence_db.setEnabled(k == "silence")
        self.silence_ms.setEnabled(k == "silence")
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
                          stay_key=self.stay_key.isChecked(), stay_tempo=self.stay_tempo.isChecked())

    def _update_buttons(self) -> None:
        busy = self.svc.is_busy()
        has_pool = self.pool is not None and len(self.pool.chunks) > 0
        has_built = self.built is not None
        self.btn_build.setEnabled(has_pool and not busy)
        self.btn_train.setEnabled(has_pool and not busy)
        self.btn_cut.setEnabled(has_pool and not busy)
        self.btn_cancel.setEnabled(busy)
        self.btn_swap.setEnabled(has_built and not busy and self.alt_list.currentRow() >= 0)
        self.btn_hear.setEnabled(has_built)
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
        elif kind == "built":
            self._set_built(payload)
        elif kind == "train":
            self.model_path = payload
            self.model_label.setText(f"model: {Path(payload).name} (trained on this pool)")
            self.scorer.setCurrentIndex(0)
            self._invalidate_enc()
            self.ctx.notify(f"Stitcher: trained scorer saved to {payload}")
        self._update_buttons()

    def _on_error(self, rid: int, msg: str) -> None:
        self._pending.pop(rid, None)
        self._after_encode = None
        self.ctx.notify(f"Stitcher: {msg}", error=True)
        self._update_buttons()

    def _on_cancelled(self, rid: int) -> None:
        self._pending.pop(rid, None)
        self._after_encode = None
        self._update_buttons()

    def _on_progress(self, rid: int, done: int, total: int, message: str) -> None:
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
        for m in pool.messages:
            self.ctx.notify(f"Stitcher: {m}", error=m.startswith("skipped"))
        self._refresh_pool()

    def _invalidate_enc(self) -> None:
        self.enc, self.enc_key = None, None

    def _refresh_pool(self) -> None:
        self.song_list.blockSignals(True)
        self.song_list.clear()
        if self.pool is None:
            self.pool_label.setText("Empty pool: add songs or press Demo pool.")
            self.song_view.set_song(None, 22050, [])
            self.song_list.blockSignals(False)
            self._update_buttons()
            return
        counts = np.bincount([c.song for c in self.pool.chunks], minlength=len(self.pool.songs))
        for k, s in enumerate(self.pool.songs):
            it = QListWidgetItem(f"{s.name}   {s.duration:.0f} s · {counts[k]} chunks")
            it.setForeground(song_color(k))
            it.setToolTip(s.path)
            self.song_list.addItem(it)
        self.song_list.blockSignals(False)
        self.pool_label.setText(f"{self.pool.summary()}. Click a chunk to hear it.")
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
        self.song_title.setText(f"<b>{s.name}</b> — {s.duration:.1f} s, {len(spans)} chunks ({self.pool.chunking})")

    def _play_chunk(self, i: int) -> None:
        if self.pool is None:
            return
        c = self.pool.chunks[i]
        self.start_chunk.setValue(i)
        label = f"chunk {i} of {self.pool.songs[c.song].name}"
        self._chunk_play = (label, c.start / self.pool.sr)
        self.ctx.player.play(self.pool.chunk_audio(i).copy(), self.pool.sr, label, owner=self)

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
            self._submit("built", session.build, self.pool, self.enc, self.rules(), float(self.crossfade.value()),
                         self.beat_align.isChecked(), label="Building song")

        self._ensure_enc(go)

    def _set_built(self, built) -> None:
        self.built = built
        self._sel_join = None
        r, ch, pool = built.rendered, built.chain, built.pool
        segs = [(a, b, pool.chunks[i].song) for a, b, i, _s, _e in r.segments]
        joins = [(t, ch.scores[k + 1], built.seams["joins"][k]["z"] if k < len(built.seams["joins"]) else None)
                 for k, t in enumerate(r.joins)]
        self.result_view.set_result(r.y, r.sr, segs, joins)
        used = sorted({pool.chunks[i].song for i in ch.items})
        self.legend.setText("  ".join(f"<span style='color:{song_color(s).name()}'>■</span> {pool.songs[s].name}"
                                      for s in used))
        dur = len(r.y) / r.sr
        self.result_title.setText(f"<b>Result</b> — {len(ch.items)} chunks, {int(dur // 60)}:{dur % 60:04.1f}")
        sm = built.seams
        self.seam_label.setText(
            f"{len(r.joins)} joins · median novelty z {sm['median_z']} (goal ≤ 1) · max z {sm['max_z']}<br>"
            f"largest sample jump at a join {sm['max_jump']} (same-length windows inside the sources, 99th pct: {sm['source_jump_p99']})")
        self.alt_list.clear()
        self.join_label.setText("Click a join in the result to see the next-best chunks.")
        self.playable_changed.emit()
        self._update_buttons()

    def _select_join(self, k: int) -> None:
        from ...stitcher.chain import alternatives

        if self.built is None:
            return
        ch, pool, enc = self.built.chain, self.built.pool, self.built.enc
        self._sel_join = k
        a, b = ch.items[k - 1], ch.items[k]
        j = self.built.seams["joins"][k - 1]
        self.join_label.setText(
            f"Join {k} at {j['time']:.2f} s: chunk {a} ({pool.songs[pool.chunks[a].song].name}) → chunk {b} "
            f"({pool.songs[pool.chunks[b].song].name}); score {j['score']:.3f}, novelty z {j['z']:+.2f}")
        self.alt_list.clear()
        for i, s in alternatives(pool, enc, ch, k, count=8, rules=self.rules()):
            c = pool.chunks[i]
            it = QListWidgetItem(f"chunk {i}: {pool.songs[c.song].name} {c.start / pool.sr:.1f}–{c.end / pool.sr:.1f} s"
                                 f"   score {s:.3f}")
            it.setData(Qt.UserRole, i)
            it.setForeground(song_color(c.song))
            self.alt_list.addItem(it)
        if self.alt_list.count():
            self.alt_list.setCurrentRow(0)
        self._update_buttons()

    def _hear_alt(self) -> None:
        it = self.alt_list.currentItem()
        if it is not None and self.built is not None:
            pool, i = self.built.pool, int(it.data(Qt.UserRole))
            self.ctx.player.play(pool.chunk_audio(i).copy(), pool.sr, f"alternative chunk {i}", owner=self)

    def swap_selected(self) -> None:
        from ...stitcher import session

        it = self.alt_list.currentItem()
        if it is None or self.built is None or self._sel_join is None or self.svc.is_busy():
            return
        b = self.built
        self._submit("built", session.swap_and_rebuild, b.pool, b.enc, b.chain, self._sel_join,
                     int(it.data(Qt.UserRole)), self.rules(), float(self.crossfade.value()),
                     self.beat_align.isChecked(), label="Swapping a chunk")

    # -- transport -------------------------------------------------------------------------
    def playable_audio(self):
        if self.built is None:
            return None
        return self.built.rendered.y, self.built.rendered.sr, "stitched song"

    def _play_result(self) -> None:
        p = self.ctx.player
        if self.built is None:
            return
        if getattr(p, "owner", None) is self and getattr(p, "label", "") == "stitched song":
            p.toggle()
        else:
            r = self.built.rendered
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
        else:
            self.result_view.set_cursor(seconds)

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
            path, _ = QFileDialog.getSaveFileName(self, "Export", f"stitched{kind or '.wav'}",
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
        self.ctx.notify(f"Stitcher: exported {p}")
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
        except (TypeError, ValueError, Exception):
            pass

    def shutdown(self) -> None:
        self.svc.cancel()
