"""The Composer's work and its operations, without Qt: driven by the tab and the CLI.

:class:`ComposerSession` holds what the user has: the corpus (and the MIDI files they
opened), the loaded model and the last result. The slow operations are plain functions
that take what they need and return a new object, so they run on a service thread (or in
the CLI) and never touch the session: the caller hands their result to the session on its
own thread (``set_corpus``, ``set_model``, ``set_result``, ``set_rendered``)::

    model = load_model("folk")
    result = compose(model, primer, GenerateSettings(length=200, seed=7))
    result = with_audio(result, render(result.all_events, result.tempo, result.program))
    export(result, "out.wav")

Rendered audio is normalised to −14 LUFS integrated, true peak ≤ −1 dBFS
(:func:`musiclab.audio.loudness.normalize_loudness`); audio exported as MP3/OGG gets a
−1.5 dBFS ceiling first, so the decoded file keeps its true peak under −1 dBFS too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from ..errors import MusiclabError
from ..jobs import OnProgress, ShouldStop, check_stop, report
from .events import SCORE_EXTS, Corpus, Piece

SR = 44100
DROPPED = "Dropped MIDI files"
MIDI_SUFFIXES = {".mid", ".midi"}
SHIPPED = ("folk", "jazz", "bach", "emopia")
#: lossy encoders overshoot the peaks a little (about 0.1 dB for MP3 here): audio written
#: as MP3 or OGG gets this ceiling, so the decoded file still peaks at or below -1 dBFS
LOSSY_CEILING_DBFS = -1.5


@dataclass
class GenerateSettings:
    """What the Generate controls hold (the CLI's flags of the same names)."""

    length: int = 200
    temperature: float = 0.9
    top_k: int = 0
    top_p: float = 0.95
    seed: int = 0
    repeat: float = 1.0  # strength of the self-copy mixture: 1 = as fitted, 0 = the LSTM alone
    # "aabb": strains of ``strain_bars`` bars, each played twice; "free"; "auto": what the model's
    # file recommends (``generate.model_form``: free for the chorales, AABB otherwise)
    form: str = "auto"
    strain_bars: int = 8
    tempo: float = 120.0
    program: int = 0
    # what the primer's file says (``midifile.file_meta``); None: estimated from the notes
    time_signature: Optional[tuple] = None
    key: Optional[str] = None
    primer_file: Optional[str] = None  # the score file the primer came from: its metre/key fill the two above
    # the requested mood: an EMOPIA quadrant name ("Q1" happy, "Q2" tense, "Q3" sad, "Q4" calm) for
    # models with a mood input (``model.conditions``); None = unconditioned
    mood: Optional[str] = None
    # models with score conditions (``meta["condition_kind"]`` "score": style, key signature, mode,
    # metre, see labels.py): {group: value}, e.g. {"style": "oneills", "key": "G", "mode": "minor",
    # "metre": "6/8"}; a group left out (or None) is not asked for; None = unconditioned
    score: Optional[dict] = None
    # > 1: push the mood harder (classifier-free guidance, see generate.py); None = the model's own
    # recommendation (``meta["guidance"]``, 1 when it has none)
    guidance: Optional[float] = None
    # pointer nets: the weight of the net's own pointer in sampling (0..1); None = the model's own
    # (``generate.model_pointer``, chosen by musicality)
    pointer: Optional[float] = None
    # form "aabb", melody models: every strain's last bar closes on the tonic (generate.py: cadence)
    cadence: bool = True


@dataclass
class Rendered:
    midi: bytes
    audio: np.ndarray  # mono float32 at SR, loudness-normalised
    tempo: float
    program: int
    loudness: dict = field(default_factory=dict)  # {"lufs", "true_peak_dbfs"} of ``audio``


@dataclass
class Result:
    """One generated continuation: the primer, the new events and their statistics;
    ``midi``/``audio`` are filled once rendered."""

    events: list
    primer: list
    seed: int
    model_name: str
    tempo: float = 120.0
    program: int = 0
    copied: Optional[float] = None  # share of 8-event n-grams found verbatim in the training data
    self_repeated: Optional[float] = None  # share that occurred earlier in this result
    midi: bytes = b""
    audio: Optional[np.ndarray] = None
    loudness: dict = field(default_factory=dict)
    time_signature: Optional[tuple] = None  # written into exported MIDI (None: estimated)
    key: Optional[str] = None
    settings: Optional[GenerateSettings] = None  # what was asked for (``settings.mood``: the requested mood)
    legato: bool = False  # the model writes slices of held voices: written as held notes (``model_legato``)

    @property
    def all_events(self) -> list:
        return list(self.primer) + list(self.events)

    @property
    def seconds(self) -> float:
        return 0.0 if self.audio is None else len(self.audio) / SR

    def stats(self) -> dict:
        """The figures shown under the piano roll and printed by the CLI."""
        return {"events": len(self.events), "primer_events": len(self.primer), "seed": self.seed,
                "copied": self.copied, "self_repeated": self.self_repeated, "seconds": round(self.seconds, 2),
                **({"lufs": self.loudness.get("lufs"), "true_peak_dbfs": self.loudness.get("true_peak_dbfs")}
                   if self.loudness else {})}


@dataclass
class RollNotes:
    """What the piano roll draws: ``(start quarter, length quarter, pitch)`` lists."""

    primer: list
    continuation: list
    seconds_per_quarter: float
    boundary_quarters: float
    primer_label: str = "primer"
    continuation_label: str = "generated"


# --------------------------------------------------------------------------- operations (any thread)
def read_corpus(paths: Sequence, builtin: Optional[str] = None, workers: int = 1,
                should_stop: ShouldStop = None, on_progress: OnProgress = None) -> Corpus:
    """Parse MIDI/score files and folders (or the built-in corpus ``builtin``); unusable
    files are listed in ``corpus.skipped`` with a reason."""
    from .events import builtin_corpus_paths, load_corpus

    if builtin:
        paths = builtin_corpus_paths(builtin)
    return load_corpus(list(paths), workers=workers, should_stop=should_stop, on_progress=on_progress)


def load_model(name: str, should_stop: ShouldStop = None, on_progress: OnProgress = None):
    """A composer model by name (shipped or user) or path, validated."""
    from .model import load_composer

    report(on_progress, 0, 1, f"loading {name}")
    model = load_composer(name)
    report(on_progress, 1, 1, "loaded")
    return model


def compose(model, primer: list, settings: GenerateSettings, should_stop: ShouldStop = None,
            on_progress: OnProgress = None) -> Result:
    """``settings.length`` new events after ``primer`` and their copy statistics (no audio)."""
    from .generate import generate
    from .stats import copied_share, self_repeated_share

    s = settings
    ts, key = s.time_signature, s.key
    if primer and s.primer_file and (ts is None or key is None) and Path(s.primer_file).suffix.lower() in SCORE_EXTS:
        from .midifile import file_meta

        meta = file_meta(s.primer_file)  # what the primer's file says goes into the written MIDI
        ts, key = ts or meta.get("time_signature"), key or meta.get("key")
    from .generate import model_form, model_legato

    form = model_form(model) if str(s.form).strip().lower() == "auto" else s.form
    mood = normalize_mood(s.mood)
    if mood is not None and mood.lower() not in [m.lower() for m in model_moods(model)]:
        have = model_moods(model)
        raise MusiclabError(f"Model '{model.name}' has no mood input: choose a model trained with one (emopia) "
                            f"or no mood." if not have else
                            f"Model '{model.name}' knows no mood {mood!r} (choose {', '.join(have)}).")
    score = {g: v for g, v in (s.score or {}).items() if v not in (None, "")} or None
    if model_score_groups(model) and not primer and not (score or {}).get("key") and mood is None:
        drawn = draw_key(model, score, int(s.seed))  # "any key" from scratch: one the style's tunes are in
        if drawn:
            score = {**(score or {}), **drawn}
    if score is not None:
        if not model_score_groups(model):
            raise MusiclabError(f"Model '{model.name}' takes no style, key or metre input: choose a model trained "
                                f"with one (--conditions score) or leave them at 'any'.")
        if mood is not None:
            raise MusiclabError("Ask for a mood or for a style/key/metre, not both: no model takes both.")
        model.condition_ids(score)  # a clear message for a value the model does not know
        from .labels import key_name, metre_tuple

        ts = ts or metre_tuple(score.get("metre"))
        if key is None and score.get("key"):
            key = key_name(score["key"], score.get("mode") or "major")
    events = generate(model, list(primer), int(s.length), temperature=s.temperature, top_k=s.top_k, top_p=s.top_p,
                      seed=int(s.seed), should_stop=should_stop, on_progress=on_progress, repeat=s.repeat,
                      form=form, strain_bars=int(s.strain_bars), condition=mood if score is None else score,
                      guidance=model_guidance(model) if s.guidance is None else float(s.guidance),
                      pointer=s.pointer, cadence=bool(getattr(s, "cadence", True)))
    return Result(events=events, primer=list(primer), seed=int(s.seed), model_name=model.name, tempo=s.tempo,
                  program=s.program, copied=copied_share(events, model.ngram_hashes),
                  self_repeated=self_repeated_share(events), time_signature=ts, key=key,
                  settings=replace(s, mood=mood, form=form, score=score), legato=model_legato(model))


def draw_key(model, score: Optional[dict], seed: int) -> Optional[dict]:
    """A key for a model with a key input when none is asked for: drawn (seeded by the
    generation's seed) from how often each key is the key of the training tunes of the style
    asked for, or of all of them (``meta["key_prior"]``, written by ``fit-conditions``),
    keeping a mode that was asked for. None when the file has no prior (the net then chooses)."""
    prior = (getattr(model, "meta", None) or {}).get("key_prior")
    if not isinstance(prior, dict):
        return None
    style = (score or {}).get("style") or ""
    counts = prior.get(style) or prior.get("") or {}
    mode = (score or {}).get("mode")
    keys = model.condition_values("key")
    items = [(k, float(n)) for k, n in counts.items() if isinstance(k, str) and "|" in k
             and isinstance(n, (int, float)) and n > 0 and k.split("|")[0] in keys
             and (mode is None or k.split("|")[1] == mode)]
    if not items:
        return None
    w = np.array([n for _, n in items])
    k = items[int(np.random.default_rng([int(seed) % (2**32), 7919]).choice(len(items), p=w / w.sum()))][0]
    sig, m = k.split("|")
    return {"key": sig, "mode": m}


def model_score_groups(model) -> dict:
    """``{group: [values]}`` of a model with score conditions (style, key, mode, metre;
    ``meta["condition_kind"]`` "score"); {} for any other model."""
    meta = getattr(model, "meta", None) or {}
    return score_groups(meta.get("conditions"), meta.get("condition_kind"))


def score_groups(conds, kind) -> dict:
    from .labels import group_of, value_of

    if str(kind or "") != "score" or not isinstance(conds, list):
        return {}
    out: dict = {}
    for c in conds:
        if isinstance(c, str) and ":" in c:
            out.setdefault(group_of(c), []).append(value_of(c))
    return out


def probe_conditions(name: str, should_stop: ShouldStop = None, on_progress: OnProgress = None) -> dict:
    """What the model ``name`` can be asked for, read from its file's metadata without torch:
    ``{"moods": [...], "score": {group: [values]}}`` (both empty for an unconditioned model
    or a file that cannot be read; Generate reports that error itself)."""
    from ..errors import MusiclabError
    from ..models import read_meta, resolve_model

    try:
        meta = read_meta(resolve_model("composer", str(name)))
    except MusiclabError:
        return {"moods": [], "score": {}}
    return {"moods": _moods_of(meta), "score": score_groups(meta.get("conditions"), meta.get("condition_kind"))}


MOODS = {"Q1": "happy", "Q2": "tense", "Q3": "sad", "Q4": "calm"}


def normalize_mood(mood) -> Optional[str]:
    """``"q3"``/``" Q3 "`` -> ``"Q3"``; None/""/"none" -> None; other text kept as given
    (a model with other conditions judges it)."""
    if mood is None:
        return None
    m = str(mood).strip()
    if not m or m.lower() == "none":
        return None
    return m.upper() if m.upper() in MOODS else m


def model_moods(model) -> list:
    """The mood names a loaded model takes (empty: it has no mood input)."""
    if model is None or str(getattr(model, "meta", {}).get("condition_kind", "")) != "mood":
        return []
    return list(getattr(model, "conditions", []) or [])


def model_guidance(model) -> float:
    """The condition guidance a model file recommends (``meta["guidance"]``; 1 = plain)."""
    try:
        g = float((getattr(model, "meta", None) or {}).get("guidance", 1.0))
    except (TypeError, ValueError):
        return 1.0
    return g if 0.0 <= g <= 10.0 else 1.0


def probe_moods(name: str, should_stop: ShouldStop = None, on_progress: OnProgress = None) -> list:
    """The mood names the model ``name`` (shipped, user or path) takes, read from its file's
    metadata without torch (:func:`musiclab.models.read_meta`); [] when it has none or cannot be read
    (Generate reports that error itself). Generation checks the weights when it loads them."""
    from ..errors import MusiclabError
    from ..models import read_meta, resolve_model

    try:
        meta = read_meta(resolve_model("composer", str(name)))
    except MusiclabError:
        return []
    return _moods_of(meta)


def _moods_of(meta: dict) -> list:
    conds = meta.get("conditions")
    if str(meta.get("condition_kind", "")) != "mood" or not isinstance(conds, list):
        return []
    if not conds or not all(isinstance(c, str) and c.strip() for c in conds):
        return []
    return list(conds)


def render(events: list, tempo: float = 120.0, program: int = 0, normalize: bool = True,
           should_stop: ShouldStop = None, on_progress: OnProgress = None, legato: bool = False) -> Rendered:
    """MIDI bytes of ``events`` and their audio through the SoundFont, loudness-normalised."""
    from ..audio.loudness import loudness_report, normalize_loudness
    from ..audio.synth import render_midi
    from .generate import events_to_midi_bytes

    report(on_progress, 0, 3, "writing MIDI")
    midi = events_to_midi_bytes(list(events), tempo=tempo, program=program, legato=legato)
    report(on_progress, 1, 3, "rendering audio")
    audio = render_midi(midi, sr=SR)
    check_stop(should_stop)
    report(on_progress, 2, 3, "normalising loudness")
    if normalize:
        audio = normalize_loudness(audio, SR)
    check_stop(should_stop)
    report(on_progress, 3, 3, "rendered")
    return Rendered(midi, audio, float(tempo), int(program), loudness_report(audio, SR))


def with_audio(result: Result, rendered: Rendered) -> Result:
    """A copy of ``result`` carrying ``rendered``'s MIDI and audio (and its tempo/instrument)."""
    return replace(result, midi=rendered.midi, audio=rendered.audio, tempo=rendered.tempo, program=rendered.program,
                   loudness=dict(rendered.loudness))


def export(result: Result, path, should_stop: ShouldStop = None, on_progress: OnProgress = None) -> Path:
    """Write ``result`` as .mid/.midi, or as audio (.wav, .mp3, .flac, .ogg), rendering it
    first if it has no audio yet. Written next to the target and renamed into place."""
    from ..audio.io import SAVE_FORMATS, save_audio
    from .generate import events_to_midi_bytes

    p = Path(path)
    ext = p.suffix.lower()
    if ext in MIDI_SUFFIXES:
        # written from the events (not ``result.midi``): the primer is its own track
        data = events_to_midi_bytes(result.all_events, tempo=result.tempo, program=result.program,
                                    primer_events=len(result.primer), name=result.model_name,
                                    time_signature=result.time_signature, key=result.key, legato=result.legato)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.stem}.partial{ext}")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, p)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise MusiclabError(f"Could not write '{p.name}' ({exc.strerror or exc}).") from exc
        return p
    if ext not in SAVE_FORMATS:
        raise MusiclabError(f"Cannot write '{p.name}': choose .mid, .wav or .mp3.")
    audio = result.audio
    if audio is None:
        audio = render(result.all_events, result.tempo, result.program, should_stop=should_stop,
                       on_progress=on_progress, legato=result.legato).audio
    if ext in (".mp3", ".ogg"):
        from ..audio.loudness import normalize_loudness

        audio = normalize_loudness(audio, SR, ceiling_dbfs=LOSSY_CEILING_DBFS)
    return save_audio(p, audio, SR)


def roll_notes(primer: list, events: list, tempo: float) -> RollNotes:
    """Piano-roll notes of a primer and its continuation at ``tempo`` BPM."""
    from .generate import continuation_notes

    pnotes, cont, t0 = continuation_notes(primer, events)  # events with onsets keep their time
    return RollNotes(pnotes, cont, 60.0 / float(tempo), t0)


def piece_preview(piece: Piece, primer_len: Optional[int], tempo: float) -> RollNotes:
    """An opened piece in the piano roll before any Generate: its first ``primer_len``
    events as the primer, the rest after them (``primer_len`` None: the whole piece)."""
    n = len(piece.events) if primer_len is None else max(0, int(primer_len))
    notes = roll_notes(piece.events[:n], piece.events[n:], tempo)
    notes.primer_label = f"{piece.name}: primer" if primer_len is not None else piece.name
    notes.continuation_label = "rest of the piece"
    return notes


def safe_model_name(text: str) -> str:
    """A file-name-safe model name that never overwrites a shipped model."""
    name = "".join(ch for ch in text.strip() if ch.isalnum() or ch in "-_") or "my-composer"
    return name + "-mine" if name in SHIPPED else name


def skipped_message(skipped: Sequence[tuple], limit: int = 10) -> str:
    """One message naming every skipped file (the first ``limit``) and why."""
    if not skipped:
        return ""
    lines = [f"'{Path(p).name}': {why}" for p, why in skipped[:limit]]
    if len(skipped) > limit:
        lines.append(f"… and {len(skipped) - limit} more")
    if len(skipped) == 1:
        return f"{lines[0]} (skipped)"
    return f"{len(skipped)} files skipped:\n" + "\n".join(lines)


# --------------------------------------------------------------------------- the session
class ComposerSession:
    """The user's work in the Composer. Methods here are cheap and run on the caller's
    thread; the slow steps are the module's functions, whose results come back through
    ``set_*``."""

    def __init__(self):
        self.corpus: Optional[Corpus] = None  # what Train uses and "Corpus piece" primes from
        self.corpus_name = ""
        self.corpus_sources: list[str] = []
        self.dropped: list[Path] = []  # MIDI files the user opened
        self.dropped_corpus: Optional[Corpus] = None
        self.model = None
        self.model_name = ""
        self.result: Optional[Result] = None

    # -- what came back from a job -------------------------------------------------------
    def set_corpus(self, name: str, corpus: Corpus, sources: Iterable = ()) -> None:
        self.corpus, self.corpus_name = corpus, name
        self.corpus_sources = [str(s) for s in sources] or [name]
        if name == DROPPED:
            self.dropped_corpus = corpus

    def set_model(self, name: str, model) -> None:
        self.model, self.model_name = model, name

    def forget_model(self) -> None:
        self.model, self.model_name = None, ""

    def has_model(self, name: str) -> bool:
        return self.model is not None and self.model_name == name

    def set_result(self, result: Optional[Result]) -> None:
        self.result = result

    def set_rendered(self, rendered: Rendered) -> bool:
        """Attach new audio to the current result; False if there is none."""
        if self.result is None:
            return False
        self.result = with_audio(self.result, rendered)
        return True

    # -- questions ------------------------------------------------------------------------
    @property
    def audio(self) -> Optional[np.ndarray]:
        return None if self.result is None else self.result.audio

    def open_dropped(self, paths: Iterable) -> tuple[list[Path], list[str]]:
        """Keep the MIDI files among ``paths`` as the opened files; returns ``(kept,
        messages for the others)``."""
        good, bad = [], []
        for p in map(Path, paths):
            if p.is_dir() or p.suffix.lower() in MIDI_SUFFIXES:
                good.append(p)
            else:
                bad.append(f"'{p.name}': not a MIDI file; the Composer reads .mid/.midi.")
        if good:
            self.dropped = good
        return good, bad

    def primer_source(self, mode: str) -> Optional[Corpus]:
        return self.corpus if mode == "corpus" else self.dropped_corpus if mode == "dropped" else None

    def piece(self, mode: str, index: int) -> Optional[Piece]:
        src = self.primer_source(mode)
        if src is None or not src.pieces:
            return None
        return src.pieces[min(max(0, int(index)), len(src.pieces) - 1)]

    def primer_events(self, mode: str, index: int, length: int) -> list:
        piece = self.piece(mode, index)
        return [] if piece is None else list(piece.events[: int(length)])

    def why_not_generate(self, model_name: str, mode: str) -> str:
        """Empty when Generate can start, else what the user should do first."""
        if not model_name:
            return "No composer model found: train one first."
        if mode == "corpus" and self.corpus is None:
            return "Load a corpus to take a primer from it (or choose 'From scratch')."
        if mode == "dropped" and self.dropped_corpus is None:
            return "Drop a MIDI file on this tab to continue it (or choose 'From scratch')."
        return ""

    def stats(self) -> Optional[dict]:
        return None if self.result is None else self.result.stats()

    def export(self, path) -> Path:
        if self.result is None:
            raise MusiclabError("Nothing to export yet: generate a piece first.")
        return export(self.result, path)
