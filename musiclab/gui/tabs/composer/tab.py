"""Composer workbench: corpus -> training -> generation -> piano roll, playback, export.

A thin shell: the user's work lives in :class:`musiclab.composer.session.ComposerSession`;
the panels (generate, corpus, train on the left; result on the right) drive it through
jobs on two services ("composer" reads corpora and trains, "composer-generate" loads models,
generates, renders and exports). A dropped (or opened) recording is transcribed on a third
("composer-transcribe", :mod:`musiclab.transcribe`) and becomes the primer; the "Record…" button
records one from the microphone first. Every rendered tune is rated by the Emotion model on a
fourth ("composer-rate", :mod:`musiclab.emotion.rate`), next to the mood asked for; "A/B…"
compares the primer with the continuation (:mod:`musiclab.gui.widgets.ab_compare`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QScrollArea, QSplitter, QVBoxLayout, QWidget

import numpy as np

from ....audio.io import AUDIO_EXTENSIONS
from ....composer.events import Corpus
from ....composer.session import DROPPED, MIDI_SUFFIXES, SR, ComposerSession
from ....composer.session import export as export_result
from ..base import PLAY_PENDING, WorkbenchTab, audio_filter
from .corpus_panel import CorpusPanel
from .generate_panel import GeneratePanel
from .result_panel import ResultPanel
from .train_panel import TrainPanel
from .transcribe_panel import TranscribePanel

EXPORT_FILTERS = "MIDI (*.mid);;WAV audio (*.wav);;MP3 audio (*.mp3)"
TAKE_FILTERS = "WAV audio (*.wav);;FLAC audio (*.flac);;MP3 audio (*.mp3)"


def asked_mood(result) -> Optional[str]:
    """The mood a result was generated for ("Q1".."Q4"), None when none was asked."""
    from ....emotion.rate import normal_quadrant

    for holder in (result, getattr(result, "settings", None)):
        q = normal_quadrant(getattr(holder, "mood", None)) if holder is not None else None
        if q is not None:
            return q
    return None


class ComposerTab(WorkbenchTab):
    key = "composer"
    title = "Composer"

    def __init__(self, ctx, parent: Optional[QWidget] = None):
        super().__init__(ctx, parent)
        self.session = ComposerSession()
        self._play_after = None  # the render job whose audio plays when it arrives
        self.train_svc = ctx.make_service("composer")
        self.gen_svc = ctx.make_service("composer-generate")
        self.view = ResultPanel()
        self.gen_box = GeneratePanel(ctx, self.session, self.gen_svc, self.view, self.playable_changed.emit,
                                     self._primer_changed)
        self.gen_box.judge_svc = ctx.make_service("composer-judge")
        self.train_box = TrainPanel(ctx, self.session, self.train_svc, self.view.set_loss, self._trained)
        self.corpus_box = CorpusPanel(ctx, self.session, self.train_svc, self._corpus_loaded,
                                      busy=lambda: self.train_box.running)
        self.transcription = None  # the last transcribed recording (musiclab.transcribe.Transcription)
        self.transcribe_svc = ctx.make_service("composer-transcribe")
        self.transcribe_box = TranscribePanel(ctx, self.transcribe_svc,
                                              lambda: self.ask_open_paths("Transcribe audio", audio_filter()),
                                              self._transcribed, ask_save=self._ask_take_path)
        #: the Emotion model that rates every rendered tune (a name or a path)
        self.emotion_model = "default"
        self.rate_svc = ctx.make_service("composer-rate")
        self.rate_job = None  # the latest rating of the shown tune
        self._rated_audio = None  # the audio that job rates
        self.playable_changed.connect(self._rate_if_new)
        self._build_ui()

    def _build_ui(self) -> None:
        root = QHBoxLayout(self)
        split = QSplitter(Qt.Horizontal)
        root.addWidget(split)
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(4, 4, 4, 4)
        for box in (self.gen_box, self.transcribe_box, self.corpus_box, self.train_box):
            sl.addWidget(box)
        sl.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(side)
        scroll.setMinimumWidth(440)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        split.addWidget(scroll)
        split.addWidget(self.view)
        split.setSizes([460, 820])
        self.gen_box.play_btn.clicked.connect(self.toggle_play)
        self.gen_box.export_btn.clicked.connect(self.export)
        self.gen_box.mood_btn.clicked.connect(self.rate_mood)
        self.view.ab_btn.clicked.connect(self.compare_ab)
        # (Ctrl+E is the window's File > Export, which calls self.export)
        for seq, fn in (("Ctrl+G", self.generate), ("Ctrl+T", self.start_training), ("Ctrl+P", self.toggle_play)):
            QShortcut(QKeySequence(seq), self, activated=fn)

    # -- the user's work, as tests and the window read it ----------------------------------
    @property
    def result(self):
        return self.session.result

    @result.setter
    def result(self, value) -> None:
        self.session.set_result(value)

    @property
    def audio(self):
        return self.session.audio

    @property
    def corpus(self):
        return self.session.corpus

    @property
    def dropped_corpus(self):
        return self.session.dropped_corpus

    @property
    def history(self) -> list:
        return self.train_box.history

    def generate(self) -> None:
        self.gen_box.generate()

    def start_training(self) -> None:
        self.train_box.start_training()

    # -- panels talking to each other ------------------------------------------------------
    def _corpus_loaded(self, name: str, corpus) -> None:
        self.gen_box.fill_pieces(notify=False)
        if name == DROPPED and corpus.pieces:
            self._show_piece()  # an opened file appears in the roll at once, before any Generate
        else:
            self._primer_changed()

    def _primer_changed(self) -> None:
        if self.session.result is None or self.view.showing == "preview":
            self._show_piece()

    def _show_piece(self) -> None:
        g = self.gen_box
        piece = self.session.piece(g.primer_mode(), g.piece_index())
        if piece is not None:
            self.view.show_piece(piece, g.primer_len.value(), g.tempo_spin.value())
            tr = self.transcription
            if tr is not None and piece.events is self._transcribed_events:
                self.view.note_transcription(tr)

    _transcribed_events = None

    def _transcribed(self, tr) -> None:
        """A transcription with notes: it becomes the primer (the whole of it), at its tempo."""
        self.transcription = tr
        piece = tr.piece()
        self._transcribed_events = piece.events
        self.view.transcribed_primer = (piece.events, tr.name)
        # the primer source "dropped" holds the recording's piece; the training corpus stays as it is
        self.session.dropped_corpus = Corpus(pieces=[piece])
        g = self.gen_box
        for w in (g.primer_combo, g.primer_len, g.tempo_spin):
            w.blockSignals(True)
        g.set_primer_mode("dropped")
        g.primer_len.setValue(min(len(piece.events), g.primer_len.maximum()))
        g.tempo_spin.setValue(min(max(tr.tempo, g.tempo_spin.minimum()), g.tempo_spin.maximum()))
        for w in (g.primer_combo, g.primer_len, g.tempo_spin):
            w.blockSignals(False)
        g.fill_pieces(notify=False)
        self._show_piece()
    def _trained(self, name: str) -> None:
        self.gen_box.refresh_models(select=name or None)

    # -- files -----------------------------------------------------------------------------
    def accepts(self, path: Path) -> bool:
        suffix = Path(path).suffix.lower()
        return suffix in MIDI_SUFFIXES or suffix in AUDIO_EXTENSIONS

    def open_files(self, paths: list[Path]) -> None:
        audio = [Path(p) for p in paths if Path(p).suffix.lower() in AUDIO_EXTENSIONS]
        paths = [Path(p) for p in paths if Path(p).suffix.lower() not in AUDIO_EXTENSIONS]
        if audio:  # a recording: transcribe it (a job) and prime the model with its notes
            if len(audio) > 1:
                self.ctx.notify(f"Transcribing '{audio[0].name}' (one recording at a time; "
                                f"{len(audio) - 1} other audio file(s) not opened).")
            self.transcribe_file(audio[0])
        if not paths:
            return
        good, bad = self.session.open_dropped(paths)
        if bad:  # one message naming every file that is not MIDI
            text = bad[0] if len(bad) == 1 else f"{len(bad)} files skipped:\n" + "\n".join(bad)
            self.ctx.notify(text, error=True)
        if good:
            self.gen_box.set_primer_mode("dropped")
            self.corpus_box.load_dropped(good)

    def _ask_take_path(self, name: str):
        path, chosen = self.ask_save_path("Export the recorded take", name, TAKE_FILTERS)
        if path is not None and not path.suffix:
            path = path.with_suffix(".flac" if "FLAC" in chosen else ".mp3" if "MP3" in chosen else ".wav")
        return path

    def transcribe_file(self, path):
        """Transcribe a recording in a job; its notes become the primer. Returns the Job."""
        return self.transcribe_box.transcribe_file(path)

    # -- transport / export ----------------------------------------------------------------
    def _from_recording(self, res) -> bool:
        """True when ``res`` continues the transcribed recording (its primer is the transcription)."""
        tr = self.transcription
        return (tr is not None and tr.audio is not None and bool(res.primer)
                and list(res.primer) == list(tr.events[: len(res.primer)]))

    def original_then_continuation(self, res):
        """The recording up to where the continuation starts, then the rendered continuation
        (``res.audio`` from the same point); None when ``res`` does not continue the recording."""
        from ....composer.generate import continuation_notes
        from ....transcribe import PLAYBACK_SR, beats_to_seconds

        if res.audio is None or not self._from_recording(res):
            return None
        tr = self.transcription
        t0 = continuation_notes(res.primer, res.events)[2]  # quarters
        cut_rec = beats_to_seconds(t0 / tr.quarters_per_beat + tr.origin_beats, tr.beats, tr.beat_tempo)
        if PLAYBACK_SR != SR:  # both are 44.1 kHz; a change to either must resample here
            return None
        rec = tr.audio[: max(0, int(round(cut_rec * SR)))]
        t0_s = t0 * 60.0 / res.tempo
        cont = res.audio[int(round(t0_s * SR)):]
        # the roll's time during playback: the recording's quarter 0 is at origin_s, the continuation
        # starts at cut_rec in the recording and at t0_s in the render
        origin_s = beats_to_seconds(tr.origin_beats, tr.beats, tr.beat_tempo)
        self._cursor_map = (len(rec) / SR, origin_s, len(rec) / SR - t0_s)
        return np.concatenate([rec, cont]).astype(np.float32, copy=False)

    def playable_audio(self):
        res = self.session.result
        if res is None:
            return None
        if res.audio is None:
            job = self.gen_box.render_job
            if job is None or job.done:
                return None
            if self._play_after is not job:  # rendering: play once it is there
                self._play_after = job
                job.on_result(lambda _r: self._play_now())
            return PLAY_PENDING
        if len(res.audio) == 0:
            return None
        if self.transcribe_box.original_audio():
            both = self.original_then_continuation(res)
            if both is not None:
                return both, SR, f"Composer: {self.transcription.name}, then {res.model_name} seed {res.seed}"
        return res.audio, SR, f"Composer: {res.model_name} seed {res.seed}"

    def _play_now(self) -> None:
        pa = self.playable_audio()
        if pa is not None and pa is not PLAY_PENDING:
            self.ctx.player.play(pa[0], pa[1], pa[2], owner=self)

    def toggle_play(self) -> None:
        player = self.ctx.player
        if getattr(player, "owner", None) is self and player.state in ("playing", "paused"):
            player.toggle()
            return
        if self.session.result is None:
            self.ctx.notify("Generate something first.")
            return
        available = getattr(player, "available", None)
        if available is not None:
            ok, why = available()
            if not ok:  # a note in the status bar, never a dialog
                self.ctx.notify(f"No sound: {why}")
                return
        pa = self.playable_audio()
        if pa is None:
            self.ctx.notify("Generate something first.")
        elif pa is PLAY_PENDING:
            self.ctx.notify("Rendering the audio; it plays when ready.")
        else:
            player.play(pa[0], pa[1], pa[2], owner=self)

    _cursor_map = None  # (recording seconds, recording offset, continuation offset) while it plays

    def on_playback_position(self, seconds: float) -> None:
        player = self.ctx.player
        m = self._cursor_map
        if m is not None and "then" in str(getattr(player, "label", "")):
            seconds = seconds - (m[1] if seconds < m[0] else m[2])
        self.view.set_cursor(seconds)

    def export(self) -> None:
        res = self.session.result
        if res is None:
            self.ctx.notify("Nothing to export yet: generate a piece first.")
            return
        path, chosen = self.ask_save_path("Export composition", f"composer-{res.seed}.mid", EXPORT_FILTERS)
        if path is None:
            return
        if not path.suffix:
            path = path.with_suffix(".wav" if "WAV" in chosen else ".mp3" if "MP3" in chosen else ".mid")
        self.export_to(path)

    def export_to(self, path):
        """Write the result to ``path`` in a job (MIDI, WAV or MP3 by its extension);
        returns the :class:`Job`, whose value is the written path."""
        res = self.session.result
        if res is None:
            self.ctx.notify("Nothing to export yet: generate a piece first.")
            return None
        p = Path(path)
        job = self.gen_svc.submit(export_result, res, p, label=f"Exporting {p.name}")
        job.on_result(lambda out: self.ctx.notify(f"Exported {Path(out).name}."))
        job.on_error(lambda msg: self.view.set_status(f"Could not export '{p.name}': {msg}"))
        return job

    def rate_mood(self):
        """Write the result's audio to the user folder (a job) and hand it to the Emotion tab,
        which predicts where it sits on the valence/arousal plane. Returns the Job (or None)."""
        from ....paths import user_data_dir

        res = self.session.result
        if res is None:
            self.ctx.notify("Nothing to rate yet: generate a piece first.")
            return None
        out = user_data_dir() / "results" / f"composer-{res.model_name}-{res.seed}.wav"
        job = self.gen_svc.submit(export_result, res, out, label="Preparing the tune for the Emotion tab")
        job.on_result(lambda path: self.ctx.send_to("emotion", [path]))
        job.on_error(lambda msg: self.view.set_status(f"Could not hand the tune to Emotion: {msg}"))
        return job

    # -- every result rated; A/B ----------------------------------------------------------
    def _rate_if_new(self) -> None:
        """The playable audio changed: rate a newly rendered tune (a job), or say it will be."""
        res = self.session.result
        self.view.ab_btn.setEnabled(res is not None and res.audio is not None and bool(res.primer))
        if res is None:
            return
        if res.audio is None:
            self._rated_audio = None
            self.view.show_rating(None, "<b>Mood</b>: rated by the Emotion model once the audio is rendered…")
            return
        if res.audio is not self._rated_audio:
            self.rate_result()

    def rate_result(self):
        """Rate the shown tune's rendered audio with the Emotion model (a job on the
        "composer-rate" service; a newer one supersedes it). Returns the Job (or None)."""
        from ....analysis.compare import continuation_start
        from ....emotion.rate import rate_or_reason

        res = self.session.result
        if res is None or res.audio is None or len(res.audio) == 0:
            return None
        audio, asked, t0 = res.audio, asked_mood(res), continuation_start(res)
        self._rated_audio = audio
        self.view.show_rating(None, "<b>Mood</b>: rating the rendered tune with the Emotion model…")
        job = self.rate_svc.submit(rate_or_reason, audio, SR, f"{res.model_name} seed {res.seed}",
                                   self.emotion_model, label="Rating the tune's mood", latest="composer-rate")

        def rated(r: dict) -> None:
            now = self.session.result
            if now is None or now.audio is not audio:
                return  # a newer tune (or render) since: its own rating follows
            if r.get("unrated"):
                self.view.show_rating(None, f"<b>Mood</b>: not rated ({r['unrated']})")
            else:
                self.view.show_rating(r, asked=asked, part_from=t0)

        job.on_result(rated)
        job.on_error(lambda msg: self.view.show_rating(None, f"<b>Mood</b>: not rated ({msg})")
                     if self._rated_audio is audio else None)
        self.rate_job = job
        return job

    def compare_ab(self):
        """A/B: the primer (the original recording when it came from one) against the
        continuation, in a window of its own. Returns the dialog (None with a note why not)."""
        from ....analysis.compare import composer_pair
        from ....errors import MusiclabError
        from ...widgets.ab_compare import open_ab

        res = self.session.result
        if res is None:
            self.ctx.notify("Nothing to compare yet: generate a piece first.")
            return None
        try:
            a, b = composer_pair(res, SR, self.transcription if self._from_recording(res) else None)
        except MusiclabError as exc:
            self.ctx.notify(str(exc))
            return None
        return open_ab(self, self.ctx, a, b, title=f"A/B — Composer: {res.model_name} seed {res.seed}")

    # -- settings / lifetime ---------------------------------------------------------------
    def persist(self) -> dict:
        g, t = self.gen_box, self.train_box
        return {"model": g.model_combo, "length": g.length_spin, "primer_len": g.primer_len,
                "temperature": g.temp_spin, "topk": g.topk_spin, "topp": g.topp_spin, "repeat": g.repeat_spin,
                "form": g.form_combo, "cadence": g.cadence_check, "mood": g.mood_combo,
                "style": g.style_combo, "key": g.key_combo, "metre": g.metre_combo,
                "seed": g.seed_spin, "keep_seed": g.keep_seed, "tempo": g.tempo_spin, "instrument": g.instr_combo,
                "transcribe_melody": self.transcribe_box.melody_check,
                "transcribe_grid": self.transcribe_box.grid_combo,
                "transcribe_original_first": self.transcribe_box.original_first,
                "record_seconds": self.transcribe_box.seconds_spin,
                "preset": t.preset_combo, "seq_len": t.seq_spin, "epochs": t.epochs_spin, "name": t.name_edit,
                "corpus": self.corpus_box.corpus_combo}

    def save_settings(self, settings) -> None:
        super().save_settings(settings)
        settings.setValue("dropped", [str(p) for p in self.session.dropped])

    def restore_settings(self, settings) -> None:
        super().restore_settings(settings)
        saved = settings.value("dropped", [], type=list) or []
        paths = [Path(p) for p in saved if isinstance(p, str) and Path(p).exists()]
        if paths:  # the files the user opened (paths only; read again in a job, from the cache)
            self.open_files(paths)

    def shutdown(self) -> None:
        self.transcribe_box.shutdown()
        self.train_box.shutdown()
