"""Render MIDI to audio with a General-MIDI SoundFont (no sound card needed).

Uses ``midirenderer`` (a Rust SoundFont synthesiser) with ``TimGM6mb.sf2``, the GM
SoundFont that ships inside the pretty_midi wheel (GPL-2). Qt-free.
"""

from __future__ import annotations

import io
import os
from functools import lru_cache
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..errors import MusiclabError

#: General-MIDI programs offered in the GUI: (program, name)
GM_CHOICES = [
    (0, "Acoustic grand piano"), (4, "Electric piano"), (11, "Vibraphone"), (19, "Church organ"),
    (24, "Nylon guitar"), (32, "Acoustic bass"), (40, "Violin"), (48, "String ensemble"),
    (56, "Trumpet"), (65, "Alto sax"), (71, "Clarinet"), (73, "Flute"), (105, "Banjo"), (109, "Bagpipe"),
]


def soundfont_path() -> Path:
    env = os.environ.get("MUSICLAB_SOUNDFONT")
    if env:
        return Path(env)
    import pretty_midi

    return Path(pretty_midi.__file__).resolve().parent / "TimGM6mb.sf2"


@lru_cache(maxsize=2)
def _soundfont_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


def _set_program(midi_bytes: bytes, program: int) -> bytes:
    import mido

    mf = mido.MidiFile(file=io.BytesIO(midi_bytes), clip=True)
    for tr in mf.tracks:
        has = False
        for i, msg in enumerate(tr):
            if msg.type == "program_change" and msg.channel != 9:
                tr[i] = msg.copy(program=int(program) % 128)
                has = True
        if not has and any(m.type == "note_on" for m in tr):
            tr.insert(0, mido.Message("program_change", program=int(program) % 128, channel=0, time=0))
    buf = io.BytesIO()
    mf.save(file=buf)
    return buf.getvalue()


def render_midi(midi: Union[str, os.PathLike, bytes], sr: int = 44100, program: Optional[int] = None) -> np.ndarray:
    """Render a MIDI file (path or bytes) to mono float32 samples at ``sr``."""
    import soundfile as sf

    try:
        data = bytes(midi) if isinstance(midi, (bytes, bytearray)) else Path(midi).read_bytes()
    except OSError as exc:
        raise MusiclabError(f"Cannot read MIDI '{Path(str(midi)).name}' ({exc.strerror or exc}).") from exc
    if program is not None:
        try:
            data = _set_program(data, program)
        except Exception as exc:
            raise MusiclabError(f"Not a readable MIDI file ({exc}).") from exc
    sfp = soundfont_path()
    if not sfp.is_file():
        raise MusiclabError(f"SoundFont '{sfp}' not found (it ships with the pretty_midi package).")
    import midirenderer

    try:
        wav = midirenderer.render_wave_from(_soundfont_bytes(str(sfp)), data)
    except Exception as exc:
        raise MusiclabError(f"Could not render the MIDI data ({str(exc)[:200]}).") from exc
    y, sr_in = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    if sr_in != sr:
        from .io import resample

        y = resample(y, sr_in, sr)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.99:
        y = y * (0.99 / peak)
    return np.ascontiguousarray(y, dtype=np.float32)
