"""Composer workbench: corpus -> training -> generation -> piano roll, playback, export."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..widgets.composer_loss import LossPlotWidget
from ..widgets.composer_pianoroll import PianoRollWidget
from .base import WorkbenchTab

MIDI_SUFFIXES = {".mid", ".midi"}
SR = 44100
DROPPED = "Dropped MIDI files"


# ------------------------------------------------------------------ core jobs (worker thread)
def _job_load_corpus(paths, builtin_name=None, should_stop=None, on_progress=None):
    from ...composer.events import builtin_corpus_paths, load_corpus

    if builtin_name:
        paths = builtin_corpus_paths(builtin_name)
    return load_corpus(paths, workers=1, should_stop=should_stop, on_progress=on_progress)


def _job_load_model(name, should_stop=None, on_progress=None):
    import torch

    from ...composer.model import load_composer

    torch.set_num_threads(1)
    return load_composer(name)


def _job_generate(model, primer, length, temperature, top_k, top_p, seed, tempo, program, repeat=1.0,
                  should_stop=None, on_progress=None):
    from ...audio.synth import render_midi
    from ...composer.generate import events_to_midi_bytes, generate
    from ...composer.stats import copied_share, self_repeated_share

    events = generate(model, primer, length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                      should_stop=should_stop, on_progress=on_progress, repeat=repeat)
    midi = events_to_midi_bytes(primer + events, tempo=tempo, program=program)
    audio = render_midi(midi, sr=SR)
    return {"events": events, "primer": primer, "midi": midi, "audio": audio, "seed": seed,
            "copied": copied_share(events, model.ngram_hashes), "self_repeated": self_repeated_share(events),
            "tempo": tempo, "program": program}


def _job_render(events, tempo, program, should_stop=None, on_progress=None):
    from ...audio.synth import render_midi
    from ...composer.generate import events_to_midi_bytes

    midi = events_to_midi_bytes(events, tempo=tempo, program=program)
    return {"midi": midi, "audio": render_midi(midi, sr=SR), "tempo": tempo, "program": program}


class ComposerTab(WorkbenchTab):
    key = "composer"
    title = "Composer"

    def __init__(self, ctx, parent: Optional[QWidget] = None):
        super().__init__(ctx, parent)
        self.train_svc = ctx.make_service("composer")
        self.gen_svc = ctx.make_service("composer-generate")
        self.corpus = None
        self.corpus_name = ""
        self.corpus_paths: list = []
        self.dropped: list[Path] = []
        self.dropped_corpus = None
        self.model = None
        self.model_name = ""
        self.result: Optional[dict] = None
        self.audio: Optional[np.ndarray] = None
        self.history: list = []
        self.step_log: list = []
        self._rid_corpus = self._rid_train = self._rid_gen = self._rid_model = self._rid_render = None
        self._pending_generate = False
        self._builtin = {}
        self._build_ui()
        self._connect()
        self._refresh_models()
        self._timer = QTimer(self)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self._poll_training)

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        root = QHBoxLayout(self)
        split = QSplitter(Qt.Horizontal)
        root.addWidget(split)

        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(4, 4, 4, 4)

        # corpus
        g = QGroupBox("Corpus")
        f = QFormLayout(g)
        self.corpus_combo = QComboBox()
        self.corpus_combo.setToolTip("Built-in corpora, or the MIDI files/folders you dropped on this tab")
        self.load_corpus_btn = QPushButton("Load")
        self.load_corpus_btn.setToolTip("Read the corpus (parsed pieces are cached; first time can take minutes)")
        row = QHBoxLayout()
        row.addWidget(self.corpus_combo, 1)
        row.addWidget(self.load_corpus_btn)
        f.addRow("Source", row)
        self.corpus_info = QLabel("No corpus loaded. Drop MIDI files or folders here, or pick one and press Load.")
        self.corpus_info.setWordWrap(True)
        f.addRow(self.corpus_info)
        self.skipped_list = QListWidget()
        self.skipped_list.setMaximumHeight(70)
        self.skipped_list.setToolTip("Files that were skipped, and why")
        f.addRow("Skipped", self.skipped_list)
        sl.addWidget(g)

        # training
        g = QGroupBox("Train")
        f = QFormLayout(g)
        self.preset_combo = QComboBox()
        self.preset_combo.setToolTip("default: sub-token embeddings + 2-layer LSTM over factorised events "
                                     "(pitches, then duration), with each event's metrical position (onset "
                                     "within a 4- and a 3-quarter bar) as an extra input; transposition "
                                     "augmentation, dropout.\nlarge: the same with a 2x384 LSTM (slower).\n"
                                     "seed: the seed study's network (one scalar per step, LSTM 512/1024/1024, "
                                     "batch norm) for comparison; it tends to collapse.")
        self.preset_combo.addItem("default (2x256 LSTM, factorised, metre)", "default")
        self.preset_combo.addItem("large (2x384 LSTM, factorised, metre)", "large")
        self.preset_combo.addItem("small (2x128 LSTM, quick tests)", "small")
        self.preset_combo.addItem("seed (the study's network)", "seed")
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
        sl.addWidget(g)

        # generation
        g = QGroupBox("Generate")
        f = QFormLayout(g)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("Shipped models (folk, jazz) and the ones you trained")
        f.addRow("Model", self.model_combo)
        self.primer_combo = QComboBox()
        self.primer_combo.addItem("From scratch", "scratch")
        self.primer_combo.addItem("Corpus piece", "corpus")
        self.primer_combo.addItem("Dropped MIDI file", "dropped")
        f.addRow("Primer", self.primer_combo)
        self.piece_combo = QComboBox()
        self.piece_combo.setToolTip("The piece whose opening primes the model")
        f.addRow("Piece", self.piece_combo)
        self.primer_len = QSpinBox()
        self.primer_len.setRange(1, 2000)
        self.primer_len.setValue(32)
        self.primer_len.setSuffix(" events")
        f.addRow("Primer length", self.primer_len)
        self.length_spin = QSpinBox()
        self.length_spin.setRange(1, 5000)
        self.length_spin.setValue(200)
        self.length_spin.setSuffix(" events")
        f.addRow("Length", self.length_spin)
        self.temp_spin = QDoubleSpinBox()
        self.temp_spin.setRange(0.0, 3.0)
        self.temp_spin.setSingleStep(0.05)
        self.temp_spin.setValue(0.9)
        self.temp_spin.setToolTip("0 = always the most likely sub-token; higher = more adventurous")
        f.addRow("Temperature", self.temp_spin)
        self.topk_spin = QSpinBox()
        self.topk_spin.setRange(0, 324)
        self.topk_spin.setValue(0)
        self.topk_spin.setSpecialValueText("off")
        f.addRow("Top-k", self.topk_spin)
        self.topp_spin = QDoubleSpinBox()
        self.topp_spin.setRange(0.05, 1.0)
        self.topp_spin.setSingleStep(0.05)
        self.topp_spin.setValue(0.95)
        f.addRow("Top-p", self.topp_spin)
        self.repeat_spin = QSpinBox()
        self.repeat_spin.setRange(0, 100)
        self.repeat_spin.setSingleStep(10)
        self.repeat_spin.setValue(100)
        self.repeat_spin.setSuffix(" %")
        self.repeat_spin.setToolTip(
            "How strongly the model repeats its own earlier phrases (the self-copy mixture fitted with the model):\n"
            "100 % = as much as the music it learnt from (strains and choruses come back), 0 % = the LSTM alone.")
        f.addRow("Repetition", self.repeat_spin)
        row = QHBoxLayout()
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setValue(random.randrange(100000))
        self.seed_spin.setToolTip("Same seed + same settings = same result")
        self.dice_btn = QPushButton("New")
        self.dice_btn.setToolTip("Draw a new random seed")
        self.keep_seed = QCheckBox("keep")
        self.keep_seed.setToolTip("Keep this seed for the next Generate (otherwise a new one is drawn)")
        row.addWidget(self.seed_spin, 1)
        row.addWidget(self.dice_btn)
        row.addWidget(self.keep_seed)
        f.addRow("Random seed", row)
        self.tempo_spin = QDoubleSpinBox()
        self.tempo_spin.setRange(30, 300)
        self.tempo_spin.setValue(120)
        self.tempo_spin.setSuffix(" BPM")
        f.addRow("Tempo", self.tempo_spin)
        from ...audio.synth import GM_CHOICES

        self.instr_combo = QComboBox()
        for prog, name in GM_CHOICES:
            self.instr_combo.addItem(name, prog)
        self.instr_combo.setToolTip("General-MIDI instrument of the TimGM6mb SoundFont")
        f.addRow("Instrument", self.instr_combo)
        row = QHBoxLayout()
        self.gen_btn = QPushButton("Generate")
        self.gen_btn.setToolTip("Generate a continuation (Ctrl+G)")
        self.gen_btn.setDefault(True)
        self.play_btn = QPushButton("Play")
        self.play_btn.setToolTip("Play / pause the result (Ctrl+P)")
        self.export_btn = QPushButton("Export…")
        self.export_btn.setToolTip("Save as MIDI, WAV or MP3 (Ctrl+E)")
        for b in (self.gen_btn, self.play_btn, self.export_btn):
            row.addWidget(b)
        f.addRow(row)
        sl.insertWidget(0, g)
        sl.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(side)
        scroll.setMinimumWidth(440)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        split.addWidget(scroll)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 4, 4, 4)
        self.result_label = QLabel("Press Generate to hear the shipped 'folk' model.")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        rl.addWidget(self.result_label)
        vs = QSplitter(Qt.Vertical)
        self.roll = PianoRollWidget()
        vs.addWidget(self.roll)
        self.loss_plot = LossPlotWidget()
        vs.addWidget(self.loss_plot)
        vs.setSizes([520, 220])
        rl.addWidget(vs, 1)
        split.addWidget(right)
        split.setSizes([460, 820])

        # (Ctrl+E is the window's File > Export, which calls self.export)
        for seq, fn in (("Ctrl+G", self.generate), ("Ctrl+T", self.start_training), ("Ctrl+P", self.toggle_play)):
            QShortcut(QKeySequence(seq), self, activated=fn)
        self._fill_corpus_combo()

    def _fill_corpus_combo(self) -> None:
        from ...composer.events import builtin_corpus_names

        self._builtin = builtin_corpus_names()
        self.corpus_combo.clear()
        for name in self._builtin:
            self.corpus_combo.addItem(name, name)
        self.corpus_combo.addItem(DROPPED, DROPPED)

    def _connect(self) -> None:
        self.load_corpus_btn.clicked.connect(self.load_selected_corpus)
        self.train_btn.clicked.connect(self.start_training)
        self.cancel_train_btn.clicked.connect(lambda: self.train_svc.cancel(self._rid_train))
        self.gen_btn.clicked.connect(self.generate)
        self.play_btn.clicked.connect(self.toggle_play)
        self.export_btn.clicked.connect(self.export)
        self.dice_btn.clicked.connect(lambda: self.seed_spin.setValue(random.randrange(2**31 - 1)))
        self.primer_combo.currentIndexChanged.connect(self._fill_pieces)
        self.instr_combo.currentIndexChanged.connect(self._rerender)
        self.model_combo.currentIndexChanged.connect(lambda _i: setattr(self, "model", None))
        for svc in (self.train_svc, self.gen_svc):
            svc.result.connect(self._on_result)
            svc.error.connect(self._on_error)
            svc.cancelled.connect(self._on_cancelled)
        self.train_svc.progress.connect(self._on_train_progress)

    def _refresh_models(self, select: Optional[str] = None) -> None:
        from ...models import list_models

        cur = select or self.model_combo.currentData() or "folk"
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for name, path in list_models("composer").items():
            self.model_combo.addItem(name, name)
        i = self.model_combo.findData(cur)
        self.model_combo.setCurrentIndex(max(i, 0))
        self.model_combo.blockSignals(False)
        self.model = None

    # ------------------------------------------------------------------ files
    def accepts(self, path: Path) -> bool:
        return Path(path).suffix.lower() in MIDI_SUFFIXES

    def open_files(self, paths: list[Path]) -> None:
        good = []
        for p in paths:
            p = Path(p)
            if p.is_dir() or self.accepts(p):
                good.append(p)
            else:
                self.ctx.notify(f"'{p.name}': not a MIDI file; the Composer reads .mid/.midi.", error=True)
        if not good:
            return
        self.dropped = good
        self.corpus_combo.setCurrentIndex(self.corpus_combo.findData(DROPPED))
        self.primer_combo.setCurrentIndex(self.primer_combo.findData("dropped"))
        self._load_corpus(DROPPED, good)

    def load_selected_corpus(self) -> None:
        name = self.corpus_combo.currentData()
        if name == DROPPED:
            if not self.dropped:
                self.ctx.notify("Drop MIDI files or folders on the Composer tab first.")
                return
            self._load_corpus(DROPPED, self.dropped)
        else:
            self._load_corpus(name, [], builtin=True)

    def _load_corpus(self, name, paths, builtin=False) -> None:
        if self.train_svc.is_busy():
            self.ctx.notify("The Composer is busy (training or reading a corpus); cancel it first.")
            return
        self.corpus_info.setText(f"Reading {name}… (parsed pieces are cached for next time)")
        self._corpus_request = (name, list(paths) or [name])
        self._rid_corpus = self.train_svc.submit(_job_load_corpus, list(paths), name if builtin else None,
                                                 label=f"Reading {name}")

    def _show_corpus(self, name, corpus) -> None:
        s = corpus.summary()
        self.corpus_info.setText(
            f"<b>{name}</b>: {s['pieces']} pieces, {s['events']:,} events, {s['distinct_tokens']:,} distinct "
            f"seed tokens; {s['skipped']} files skipped.")
        self.skipped_list.clear()
        for path, reason in corpus.skipped[:500]:
            self.skipped_list.addItem(f"{Path(path).name}: {reason}")
        for path, reason in corpus.skipped[:3]:
            self.ctx.notify(f"'{Path(path).name}': skipped ({reason})", error=name == DROPPED)
        self._fill_pieces()

    def _fill_pieces(self) -> None:
        mode = self.primer_combo.currentData()
        src = self.corpus if mode == "corpus" else self.dropped_corpus if mode == "dropped" else None
        self.piece_combo.clear()
        self.piece_combo.setEnabled(src is not None)
        if src is not None:
            for i, p in enumerate(src.pieces[:3000]):
                self.piece_combo.addItem(f"{p.name} ({len(p.events)} events)", i)

    # ------------------------------------------------------------------ training
    def start_training(self) -> None:
        from ...composer.train import train_on_corpus
        from ...paths import user_models_dir

        if self.train_svc.is_busy():
            self.ctx.notify("The Composer is busy (training or reading a corpus); cancel it first.")
            return
        if self.corpus is None or not self.corpus.pieces:
            self.ctx.notify("Load a corpus with at least one piece before training.", error=True)
            return
        name = "".join(ch for ch in self.name_edit.text().strip() if ch.isalnum() or ch in "-_") or "my-composer"
        if name in ("folk", "jazz"):
            name += "-mine"
        out = user_models_dir("composer") / f"{name}.pt"
        self.history, self.step_log = [], []
        self.loss_plot.set_history([], [])
        self._train_out = out
        self._rid_train = self.train_svc.submit(
            train_on_corpus, self.corpus, self.preset_combo.currentData(), out,
            epochs=self.epochs_spin.value(), seq_len=self.seq_spin.value(), resume=self.resume_check.isChecked(),
            history=self.history, step_log=self.step_log, sources=[str(p) for p in self.corpus_paths],
            label=f"Training {name}")
        self.train_btn.setEnabled(False)
        self.cancel_train_btn.setEnabled(True)
        self.train_status.setText(f"Training → {out}")
        self._timer.start()

    def _poll_training(self) -> None:
        self.loss_plot.set_history(list(self.step_log), list(self.history))

    def _on_train_progress(self, rid, done, total, message) -> None:
        if rid != self._rid_train:
            return
        self.train_progress.setMaximum(max(total, 1))
        self.train_progress.setValue(min(done, max(total, 1)))
        self.train_status.setText(message)

    def _training_ended(self) -> None:
        self._timer.stop()
        self._poll_training()
        self.train_btn.setEnabled(True)
        self.cancel_train_btn.setEnabled(False)
        self._refresh_models(select=getattr(self, "_train_out", Path("x")).stem)

    # ------------------------------------------------------------------ generation
    def _primer_events(self) -> list:
        mode = self.primer_combo.currentData()
        src = self.corpus if mode == "corpus" else self.dropped_corpus if mode == "dropped" else None
        if src is None or not src.pieces:
            return []
        i = self.piece_combo.currentData() or 0
        return list(src.pieces[int(i)].events[: self.primer_len.value()])

    def generate(self) -> None:
        name = self.model_combo.currentData()
        if not name:
            self.ctx.notify("No composer model found: train one first.", error=True)
            return
        mode = self.primer_combo.currentData()
        if mode == "corpus" and self.corpus is None:
            self.ctx.notify("Load a corpus to take a primer from it (or choose 'From scratch').")
            return
        if mode == "dropped" and self.dropped_corpus is None:
            self.ctx.notify("Drop a MIDI file on this tab to continue it (or choose 'From scratch').")
            return
        if self.result is not None and not self.keep_seed.isChecked():
            self.seed_spin.setValue(random.randrange(2**31 - 1))
        if self.model is None or self.model_name != name:
            self._pending_generate = True
            self.result_label.setText(f"Loading model '{name}'…")
            self._rid_model = self.gen_svc.submit(_job_load_model, name, label=f"Loading {name}")
            return
        self._submit_generate()

    def _submit_generate(self) -> None:
        self.gen_btn.setEnabled(False)
        self.result_label.setText("Generating…")
        self._rid_gen = self.gen_svc.submit(
            _job_generate, self.model, self._primer_events(), self.length_spin.value(), self.temp_spin.value(),
            self.topk_spin.value(), self.topp_spin.value(), self.seed_spin.value(), self.tempo_spin.value(),
            self.instr_combo.currentData(), self.repeat_spin.value() / 100.0, label="Generating", latest_only=True)

    def _rerender(self) -> None:
        if self.result is None:
            return
        self._rid_render = self.gen_svc.submit(
            _job_render, self.result["primer"] + self.result["events"], self.tempo_spin.value(),
            self.instr_combo.currentData(), label="Rendering audio", latest_only=True)

    def _show_result(self, res: dict) -> None:
        from ...composer.generate import events_length_quarters, events_to_notes

        self.result = res
        self.audio = res["audio"]
        spq = 60.0 / res["tempo"]
        pn = events_to_notes(res["primer"])
        t0 = events_length_quarters(res["primer"])
        cn = [(s + t0, d, p) for s, d, p in events_to_notes(res["events"])]
        self.roll.set_notes(pn, cn, spq, t0)
        cop = res["copied"]
        cop_s = "n/a (fewer than 8 events)" if cop is None else f"{cop:.0%}"
        self.result_label.setText(
            f"<b>{self.model_name}</b>: {len(res['events'])} events generated after a {len(res['primer'])}-event "
            f"primer, seed {res['seed']}, {len(self.audio) / SR:.1f} s. "
            f"<b>Copied</b>: {cop_s} of its 8-event n-grams occur verbatim in the training data"
            + (f"; <b>repeats itself</b>: {res['self_repeated']:.0%} of them occurred earlier in this result."
               if res.get("self_repeated") is not None else "."))
        self.playable_changed.emit()

    # ------------------------------------------------------------------ service results
    def _on_result(self, rid, payload) -> None:
        if rid == self._rid_corpus:
            name, paths = self._corpus_request
            if name == DROPPED:
                self.dropped_corpus = payload
            self.corpus, self.corpus_name, self.corpus_paths = payload, name, paths
            self._show_corpus(name, payload)
        elif rid == self._rid_train:
            h = payload.get("history") or []
            best = min((x["val_loss"] for x in h), default=float("nan"))
            self.train_status.setText(
                f"Done after {payload['epochs']} epochs ({payload['stopped_by']}), best validation loss {best:.3f}; "
                f"saved {Path(payload['out']).name}"
                + (f"; self-copy mixture fitted on the validation pieces ({payload['copy']['nll_per_event']:.2f} "
                   f"nats/event with it)." if payload.get("copy") else
                   f"; no self-copy mixture ({payload['copy_error']})." if payload.get("copy_error") else "."))
            self._training_ended()
        elif rid == self._rid_model:
            self.model = payload
            self.model_name = self.model_combo.currentData()
            if self._pending_generate:
                self._pending_generate = False
                self._submit_generate()
        elif rid == self._rid_gen:
            self.gen_btn.setEnabled(True)
            self._show_result(payload)
        elif rid == self._rid_render and self.result is not None:
            self.result.update(payload)
            self.audio = payload["audio"]
            self.playable_changed.emit()

    def _on_error(self, rid, message) -> None:
        self.ctx.notify(message, error=True)
        if rid == self._rid_train:
            self.train_status.setText(f"Training stopped: {message}")
            self._training_ended()
        elif rid in (self._rid_gen, self._rid_model):
            self._pending_generate = False
            self.gen_btn.setEnabled(True)
            self.result_label.setText(f"Error: {message}")
        elif rid == self._rid_corpus:
            self.corpus_info.setText(f"Could not read the corpus: {message}")

    def _on_cancelled(self, rid) -> None:
        if rid == self._rid_train:
            self.train_status.setText("Training cancelled; the best checkpoint so far is kept.")
            self._training_ended()
        elif rid in (self._rid_gen, self._rid_model):
            self.gen_btn.setEnabled(True)
            self.result_label.setText("Cancelled.")
        elif rid == self._rid_corpus:
            self.corpus_info.setText("Reading cancelled.")

    # ------------------------------------------------------------------ transport / export
    def playable_audio(self):
        if self.audio is None or len(self.audio) == 0:
            return None
        return self.audio, SR, f"Composer: {self.model_name} seed {self.result['seed']}"

    def toggle_play(self) -> None:
        pa = self.playable_audio()
        if pa is None:
            self.ctx.notify("Generate something first.")
            return
        player = getattr(self.ctx, "player", None)
        if player is None:
            return
        if getattr(player, "owner", None) is self and player.state in ("playing", "paused"):
            player.toggle()
        else:
            player.play(pa[0], pa[1], pa[2], owner=self)

    def on_playback_position(self, seconds: float) -> None:
        self.roll.set_cursor(seconds)

    def export(self) -> None:
        if self.result is None:
            self.ctx.notify("Nothing to export yet: generate a piece first.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export composition", f"composer-{self.result['seed']}.mid",
                                              "MIDI (*.mid);;WAV audio (*.wav);;MP3 audio (*.mp3)")
        if path:
            self.export_to(path)

    def export_to(self, path) -> Optional[Path]:
        from ...audio.io import save_audio
        from ...errors import MusiclabError

        p = Path(path)
        try:
            if p.suffix.lower() in (".mid", ".midi"):
                p.write_bytes(self.result["midi"])
            else:
                save_audio(p, self.audio, SR)
        except (OSError, MusiclabError) as exc:
            self.ctx.notify(f"'{p.name}': could not export ({exc}).", error=True)
            return None
        self.ctx.notify(f"Exported {p.name}.")
        return p

    # ------------------------------------------------------------------ settings / lifetime
    def save_settings(self, settings) -> None:
        for key, w in (("length", self.length_spin), ("topk", self.topk_spin), ("seq_len", self.seq_spin),
                       ("epochs", self.epochs_spin), ("primer_len", self.primer_len),
                       ("repeat", self.repeat_spin)):
            settings.setValue(key, w.value())
        for key, w in (("temperature", self.temp_spin), ("topp", self.topp_spin), ("tempo", self.tempo_spin)):
            settings.setValue(key, w.value())
        settings.setValue("model", self.model_combo.currentData() or "")
        settings.setValue("instrument", self.instr_combo.currentIndex())

    def restore_settings(self, settings) -> None:
        def num(key, cast, w):
            v = settings.value(key)
            try:
                if v is not None:
                    w.setValue(cast(v))
            except (TypeError, ValueError):
                pass

        for key, w in (("length", self.length_spin), ("topk", self.topk_spin), ("seq_len", self.seq_spin),
                       ("epochs", self.epochs_spin), ("primer_len", self.primer_len),
                       ("repeat", self.repeat_spin)):
            num(key, int, w)
        for key, w in (("temperature", self.temp_spin), ("topp", self.topp_spin), ("tempo", self.tempo_spin)):
            num(key, float, w)
        m = settings.value("model")
        if m:
            i = self.model_combo.findData(str(m))
            if i >= 0:
                self.model_combo.setCurrentIndex(i)
        try:
            self.instr_combo.setCurrentIndex(int(settings.value("instrument", 0)))
        except (TypeError, ValueError):
            pass

    def shutdown(self) -> None:
        self._timer.stop()
