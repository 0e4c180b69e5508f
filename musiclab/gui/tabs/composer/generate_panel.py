"""The Composer's Generate box and its chain of jobs: load model → generate → render.

Each step is a job on the generate service whose ``on_result`` submits the next, so the
piano roll shows the notes as soon as they exist and the audio follows."""

from __future__ import annotations

import random
from typing import Callable, Optional

from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QPushButton, QSpinBox,
)

from ....audio.synth import GM_CHOICES
from dataclasses import replace

from ....composer.session import (
    MOODS, ComposerSession, GenerateSettings, Rendered, Result, compose, load_model, model_moods, model_score_groups,
    probe_conditions, render,
)
from ....composer.labels import STYLE_TITLES, key_title
from .result_panel import ResultPanel

REPEAT_TIP = ("How strongly the model repeats its own earlier phrases (the self-copy mixture fitted with the model):\n"
              "100 % = as much as the music it learnt from (strains and choruses come back), 0 % = the network alone\n"
              "(a model with a learnt pointer, like folk, still copies some phrases by itself).")


FORM_TIP = ("The model's own: what its card recommends (free form for the chorales and the mood model).\n"
            "AABB: the tune is built from 8-bar strains, each written once and played again (A A B B …),\n"
            "as folk tunes are; every new strain follows on from everything before it.\n"
            "Free: one event after another, only the repetition above brings phrases back.")


CADENCE_TIP = ("AABB, tunes with a melody (folk, fiddle): every strain's last bar is written again until its\n"
               "last note is the key's tonic, held a beat or more, as real tunes close (otherwise that note\n"
               "is made the tonic); the tune ends at the end of a strain's repeat, on a bar line, so the\n"
               "length is about the number of events asked for.")


MOOD_TIP = ("The mood the piece should have: EMOPIA's four quadrants of the valence/arousal plane.\n"
            "Only models trained with a mood input offer it (emopia); 'none' = the model unconditioned.")


SCORE_TIP = ("What the tune should be: a style (the collection it sounds like), a key and a metre.\n"
             "Only models trained with these inputs offer them (fiddle); 'any' = not asked for\n"
             "(any key: one the style's tunes are in, drawn with the seed).")
#: the metres the Metre box offers (a model offers those it was trained on)
METRES = ("2/4", "3/4", "4/4", "6/8", "9/8")
_FIFTHS = ("C", "G", "D", "A", "E", "B", "F#", "Db", "Ab", "Eb", "Bb", "F")


def score_for(want: dict, groups: Optional[dict]) -> Optional[dict]:
    """The values of ``want`` ({group: value}, "" = any) that a model with condition
    ``groups`` ({group: [values]}) takes; ``groups`` None (not known yet): all of them. A mode
    goes with its key: dropped when the model does not know that key."""
    out = {g: v for g, v in want.items() if v}
    if groups is not None:
        out = {g: v for g, v in out.items() if v in groups.get(g, [])}
        if want.get("key") and "key" not in out:
            out.pop("mode", None)
    return out or None


def _spin(lo, hi, value, suffix="", step=None, double=False):
    w = QDoubleSpinBox() if double else QSpinBox()
    w.setRange(lo, hi)
    w.setValue(value)
    if suffix:
        w.setSuffix(suffix)
    if step is not None:
        w.setSingleStep(step)
    return w


class GeneratePanel(QGroupBox):
    """Model, primer, sampling settings, seed, tempo, instrument; Generate / Play / Export.

    ``changed()`` is called whenever the playable audio changes; ``primer_changed()`` when
    the primer choice (mode, piece, length) changes."""

    def __init__(self, ctx, session: ComposerSession, service, view: ResultPanel, changed: Callable[[], None],
                 primer_changed: Callable[[], None]):
        super().__init__("Generate")
        self.ctx, self.session, self.svc, self.view = ctx, session, service, view
        self._changed, self._primer_changed = changed, primer_changed
        self.render_job = None  # the latest render, so Play can wait for it
        f = QFormLayout(self)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("Shipped models (folk, jazz) and the ones you trained")
        f.addRow("Model", self.model_combo)
        self.primer_combo = QComboBox()
        for text, key in (("From scratch", "scratch"), ("Corpus piece", "corpus"), ("Dropped MIDI file", "dropped")):
            self.primer_combo.addItem(text, key)
        f.addRow("Primer", self.primer_combo)
        self.piece_combo = QComboBox()
        self.piece_combo.setToolTip("The piece whose opening primes the model")
        f.addRow("Piece", self.piece_combo)
        self.primer_len = _spin(1, 2000, 32, " events")
        self.primer_len.setToolTip("How many events of the piece's opening prime the model")
        f.addRow("Primer length", self.primer_len)
        self.length_spin = _spin(1, 5000, 200, " events")
        self.length_spin.setToolTip("Free form: exactly this many events. AABB: the tune ends where the strain "
                                    "repeat nearest this length ends.")
        f.addRow("Length", self.length_spin)
        self.temp_spin = _spin(0.0, 3.0, 0.9, step=0.05, double=True)
        self.temp_spin.setToolTip("0 = always the most likely sub-token; higher = more adventurous")
        f.addRow("Temperature", self.temp_spin)
        self.topk_spin = _spin(0, 324, 0)
        self.topk_spin.setSpecialValueText("off")
        f.addRow("Top-k", self.topk_spin)
        self.topp_spin = _spin(0.05, 1.0, 0.95, step=0.05, double=True)
        f.addRow("Top-p", self.topp_spin)
        self.repeat_spin = _spin(0, 100, 100, " %", step=10)
        self.repeat_spin.setToolTip(REPEAT_TIP)
        f.addRow("Repetition", self.repeat_spin)
        self.form_combo = QComboBox()
        for text, key in (("the model's own (AABB; free: bach, emopia)", "auto"),
                          ("AABB: strains played twice", "aabb"), ("Free", "free")):
            self.form_combo.addItem(text, key)
        self.form_combo.setToolTip(FORM_TIP)
        f.addRow("Form", self.form_combo)
        self.cadence_check = QCheckBox("every strain ends on the tonic")
        self.cadence_check.setChecked(True)
        self.cadence_check.setToolTip(CADENCE_TIP)
        f.addRow("Cadences", self.cadence_check)
        self.mood_combo = QComboBox()
        self.mood_combo.addItem("none", "")
        for q, word in MOODS.items():
            self.mood_combo.addItem(f"{q} {word}", q)
        self.mood_combo.setToolTip(MOOD_TIP)
        self.mood_combo.setEnabled(False)
        self._moods: Optional[list] = None  # the selected model's moods; None = not known yet
        f.addRow("Mood", self.mood_combo)
        self.style_combo = QComboBox()
        self.style_combo.addItem("any", "")
        for key, title in STYLE_TITLES.items():
            self.style_combo.addItem(title, key)
        self.key_combo = QComboBox()
        self.key_combo.addItem("any", "")
        self.key_combo.addItem("any major key", "|major")
        self.key_combo.addItem("any minor key", "|minor")
        for sig in _FIFTHS:
            self.key_combo.addItem(key_title(sig, "major"), f"{sig}|major")
            self.key_combo.addItem(key_title(sig, "minor"), f"{sig}|minor")
        self.metre_combo = QComboBox()
        self.metre_combo.addItem("any", "")
        for m in METRES:
            self.metre_combo.addItem(m, m)
        for label, w in (("Style", self.style_combo), ("Key", self.key_combo), ("Metre", self.metre_combo)):
            w.setToolTip(SCORE_TIP)
            w.setEnabled(False)
            f.addRow(label, w)
        self._score: Optional[dict] = None  # the selected model's {group: values}; None = not known yet
        row = QHBoxLayout()
        self.seed_spin = _spin(0, 2**31 - 1, random.randrange(100000))
        self.seed_spin.setToolTip("Same seed + same settings = same result")
        self.dice_btn = QPushButton("New")
        self.dice_btn.setToolTip("Draw a new random seed")
        self.keep_seed = QCheckBox("keep")
        self.keep_seed.setToolTip("Keep this seed for the next Generate (otherwise a new one is drawn)")
        row.addWidget(self.seed_spin, 1)
        row.addWidget(self.dice_btn)
        row.addWidget(self.keep_seed)
        f.addRow("Random seed", row)
        self.tempo_spin = _spin(30, 300, 120, " BPM", double=True)
        f.addRow("Tempo", self.tempo_spin)
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
        self.mood_btn = QPushButton("Mood ▸")
        self.mood_btn.setToolTip("Send the result to the Emotion tab: where does it sit on the valence/arousal plane?")
        for b in (self.gen_btn, self.play_btn, self.export_btn, self.mood_btn):
            row.addWidget(b)
        f.addRow(row)

        self.gen_btn.clicked.connect(self.generate)
        self.dice_btn.clicked.connect(lambda: self.seed_spin.setValue(random.randrange(2**31 - 1)))
        self.primer_combo.currentIndexChanged.connect(lambda _i: self.fill_pieces())
        self.piece_combo.currentIndexChanged.connect(lambda _i: self._primer_changed())
        self.primer_len.valueChanged.connect(lambda _v: self._primer_changed())
        self.instr_combo.currentIndexChanged.connect(lambda _i: self.rerender())
        self.model_combo.currentIndexChanged.connect(lambda _i: self._model_changed())
        self.refresh_models()
        self.fill_pieces(notify=False)

    # -- choices ---------------------------------------------------------------------------
    def refresh_models(self, select: Optional[str] = None) -> None:
        from ....models import list_models

        cur = select or self.model_combo.currentData() or "folk"
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for name in list_models("composer"):
            self.model_combo.addItem(name, name)
        self.model_combo.setCurrentIndex(max(self.model_combo.findData(cur), 0))
        self.model_combo.blockSignals(False)
        self._model_changed()

    def _model_changed(self) -> None:
        """A new model chosen: forget the loaded one; find out (in a job) whether it takes a mood."""
        self.session.forget_model()
        name = self.model_combo.currentData() or ""
        self.set_moods(None)
        self.set_score(None)
        if not name:
            self.set_moods([])
            self.set_score({})
            return
        job = self.svc.submit(probe_conditions, name, label="Reading the model", latest="composer-model-moods")
        job.on_result(lambda what: self._probed(name, what))
        job.on_error(lambda _msg: self._probed(name, {"moods": [], "score": {}}))
        job.on_cancel(self._settle)

    def _probed(self, name: str, what: dict) -> None:
        if (self.model_combo.currentData() or "") == name:
            self.set_moods(what.get("moods") or [])
            self.set_score(what.get("score") or {})
        self._settle()

    def set_score(self, groups: Optional[dict]) -> None:
        """The style/key/mode/metre values the selected model takes (None: not known yet):
        each box is enabled only when the model has that input; choices are kept either way."""
        self._score = None if groups is None else {g: list(v) for g, v in groups.items()}
        have = self._score or {}
        for group, w in (("style", self.style_combo), ("key", self.key_combo), ("metre", self.metre_combo)):
            ok = bool(have.get(group))
            w.setEnabled(ok)
            if group != "key" and self._score is not None:  # only the values this model knows can be picked
                for i in range(1, w.count()):
                    item = w.model().item(i)
                    if item is not None:
                        item.setEnabled(not ok or w.itemData(i) in have[group])
            w.setToolTip(SCORE_TIP if ok or self._score is None else
                         f"This model has no {group} input: choose a model trained with one (fiddle).")

    def score(self) -> Optional[dict]:
        """The requested style, key, mode and metre ({group: value}; None = none): those the
        model knows, or all chosen while the model is not known yet (see :func:`score_for`)."""
        sig, _, mode = str(self.key_combo.currentData() or "").partition("|")
        want = {"style": self.style_combo.currentData() or "", "key": sig, "mode": mode,
                "metre": self.metre_combo.currentData() or ""}
        return score_for(want, self._score)

    def set_moods(self, moods: Optional[list]) -> None:
        """The moods the selected model takes (None: not known yet): the Mood box is enabled
        only for a model with a mood input; the choice is kept (and remembered) either way."""
        self._moods = None if moods is None else list(moods)
        ok = bool(self._moods)
        self.mood_combo.setEnabled(ok)
        if self._moods is None or ok:
            self.mood_combo.setToolTip(MOOD_TIP)
        else:
            self.mood_combo.setToolTip("This model has no mood input: choose 'emopia' (or a model trained with "
                                       "--conditions) to ask for a mood.")

    def mood(self) -> Optional[str]:
        """The requested mood (None = none, or the model takes none)."""
        q = self.mood_combo.currentData() or None
        if q is None or self._moods == []:
            return None
        if self._moods is not None and q not in self._moods:
            return None
        return q

    def primer_mode(self) -> str:
        return self.primer_combo.currentData()

    def set_primer_mode(self, mode: str) -> None:
        self.primer_combo.setCurrentIndex(self.primer_combo.findData(mode))

    def fill_pieces(self, notify: bool = True) -> None:
        """The pieces of the chosen primer source; primer controls only where they apply."""
        mode = self.primer_mode()
        src = self.session.primer_source(mode)
        self.piece_combo.blockSignals(True)
        self.piece_combo.clear()
        if src is not None:
            for i, p in enumerate(src.pieces[:3000]):
                self.piece_combo.addItem(f"{p.name} ({len(p.events)} events)", i)
        self.piece_combo.blockSignals(False)
        self.piece_combo.setEnabled(src is not None)
        self.primer_len.setEnabled(mode != "scratch")
        if notify:
            self._primer_changed()

    def piece_index(self) -> int:
        return int(self.piece_combo.currentData() or 0)

    def form(self) -> str:
        return str(self.form_combo.currentData() or "free")

    def settings(self) -> GenerateSettings:
        return GenerateSettings(length=self.length_spin.value(), temperature=self.temp_spin.value(),
                                top_k=self.topk_spin.value(), top_p=self.topp_spin.value(), seed=self.seed_spin.value(),
                                repeat=self.repeat_spin.value() / 100.0, form=self.form(),
                                tempo=self.tempo_spin.value(),
                                program=int(self.instr_combo.currentData() or 0), mood=self.mood(),
                                score=self.score(), cadence=self.cadence_check.isChecked())

    # -- the chain -------------------------------------------------------------------------
    def generate(self) -> None:
        if not self.gen_btn.isEnabled():
            return  # a chain is running (Ctrl+G pressed again)
        name = self.model_combo.currentData() or ""
        why = self.session.why_not_generate(name, self.primer_mode())
        if why:
            self.ctx.notify(why)
            return
        if self.session.result is not None and not self.keep_seed.isChecked():
            self.seed_spin.setValue(random.randrange(2**31 - 1))
        settings = self.settings()
        primer = self.session.primer_events(self.primer_mode(), self.piece_index(), self.primer_len.value())
        piece = self.session.piece(self.primer_mode(), self.piece_index())
        if primer and piece is not None:  # its file's metre and key go into the written MIDI (read in the job)
            settings.primer_file = piece.source
        self.gen_btn.setEnabled(False)
        if self.session.has_model(name):
            self._compose(primer, settings)
            return
        self.view.set_status(f"Loading model '{name}'…")
        job = self.svc.submit(load_model, name, label=f"Loading {name}", latest="composer-model")
        job.on_result(lambda model: self._loaded(name, model, primer, settings))
        job.on_error(self._failed).on_cancel(self._cancelled)

    def _loaded(self, name: str, model, primer: list, settings: GenerateSettings) -> None:
        self.session.set_model(name, model)
        if (self.model_combo.currentData() or "") == name:
            self.set_moods(model_moods(model))
            self.set_score(model_score_groups(model))
        self._compose(primer, settings)

    def _compose(self, primer: list, settings: GenerateSettings) -> None:
        if settings.mood and settings.mood not in model_moods(self.session.model):
            settings = replace(settings, mood=None)  # asked before the model was known: it takes none
        if settings.score:  # chosen before the model was known: keep what it takes
            settings = replace(settings, score=score_for(settings.score, model_score_groups(self.session.model)))
        self.view.set_status("Generating…")
        job = self.svc.submit(compose, self.session.model, primer, settings, label="Generating",
                              latest="composer-generate")
        job.on_result(self._composed).on_error(self._failed).on_cancel(self._cancelled)

    def _composed(self, result: Result) -> None:
        self.session.set_result(result)
        self.view.show_result(result, "rendering audio…")  # the notes at once; the audio follows
        self._changed()
        self._render(result, result.tempo, result.program)
        self._judge(result)

    #: the service the musicality judge runs on (set by the tab; its own thread, so a first
    #: reading of the corpus never delays rendering)
    judge_svc = None

    def _judge(self, result: Result) -> None:
        if self.judge_svc is None or self.session.model is None:
            return
        from ....composer.generate import events_to_notes
        from ....composer.judge import judge_result

        self.view.show_musicality(None, "<b>Musicality</b>: comparing with the model's corpus…")
        style = ((getattr(result.settings, "score", None) or {}).get("style")) or None
        job = self.judge_svc.submit(judge_result, dict(self.session.model.meta), events_to_notes(result.events),
                                    label="Judging musicality", latest="composer-judge", style=style)
        job.on_result(lambda rep: self._judged(result, rep))
        job.on_error(lambda msg: self.view.show_musicality(None, f"<b>Musicality</b>: not judged ({msg})"))

    def rerender(self) -> None:
        """A new instrument (or tempo) for the current result."""
        res = self.session.result
        if res is None:
            return
        self._render(res, self.tempo_spin.value(), int(self.instr_combo.currentData() or 0))

    def _render(self, result: Result, tempo: float, program: int) -> None:
        self.gen_btn.setEnabled(False)
        self.render_job = self.svc.submit(render, result.all_events, tempo, program, label="Rendering audio",
                                          latest="composer-render", legato=getattr(result, "legato", False))
        self.render_job.on_result(lambda r: self._rendered(result, r))
        self.render_job.on_error(lambda msg: self._failed(f"could not render the audio: {msg}"))
        self.render_job.on_cancel(self._cancelled)

    def _judged(self, result: Result, rep: dict) -> None:
        now = self.session.result  # rendering swaps in a copy with audio: same events, same tune
        if now is not None and now.events is result.events:
            self.view.show_musicality(rep)

    def _rendered(self, result: Result, rendered: Rendered) -> None:
        self._settle()
        if self.session.result is not result:  # a newer result (or none) since: keep that
            return
        self.session.set_rendered(rendered)
        if self.view.showing == "result":
            self.view.update_text(self.session.result)
        self._changed()

    def _settle(self) -> None:
        """Generate is enabled again once no step of a chain (or an export) is left."""
        self.gen_btn.setEnabled(not self.svc.is_busy())

    def _failed(self, message: str) -> None:  # the window reports the error; here only our own text
        self._settle()
        self.view.set_status(f"Error: {message}")

    def _cancelled(self) -> None:
        self._settle()
        if self.session.result is None or self.session.audio is None:
            self.view.set_status("Cancelled.")
