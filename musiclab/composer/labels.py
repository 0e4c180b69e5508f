"""What a score file says about each of its pieces: key signature, mode, metre and the
corpus (style) it belongs to, for the condition inputs of :mod:`.model` ("score"
conditions) and for judging whether generated music keeps what was asked.

The labels are read, never guessed from the notes:

* MIDI: the first time-signature and key-signature meta events (mido, via
  :func:`.midifile.file_meta`);
* ABC (music21's O'Neill's and Ryan's collections, one file may hold many tunes, named
  ``file.abc#k`` for the k-th): the ``M:`` and ``K:`` fields of the k-th ``X:`` tune;
* style: the corpus folder the file lies in (:data:`STYLE_FOLDERS`).

``key`` is the key *signature*, named by its major tonic (``"G"``: one sharp, G major or
E minor); ``mode`` says which of the two the tune is in (``"major"`` / ``"minor"``; ABC's
church modes count by their third: dorian, phrygian, aeolian, locrian minor; lydian and
mixolydian major). ``metre`` is ``"n/d"``, with 2/2 (and ABC's ``C|``) counted as 4/4 and
``C`` as 4/4. A label a file does not give is None.

A piece transposed by ``s`` semitones (training augmentation) keeps its mode, metre and
style; its key moves with it (:func:`shift_key`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Optional

from .midifile import MAJOR_KEYS as PC_NAMES, MINOR_KEYS as MINOR_NAMES  # the key names the MIDI writer uses

GROUPS = ("style", "key", "mode", "metre")
MODES = ("major", "minor")
#: corpus folder (a part of the file's path) -> style name
STYLE_FOLDERS = (("nottingham", "nottingham"), ("oneills1850", "oneills"), ("ryansMammoth", "ryans"),
                 ("bach", "bach"), ("jazz", "jazz"), ("emopia", "emopia"), ("piano-covers", "piano-covers"))
STYLE_TITLES = {"nottingham": "Nottingham (English folk)", "oneills": "O'Neill's (Irish)",
                "ryans": "Ryan's Mammoth (American fiddle)", "bach": "Bach chorales", "jazz": "jazz",
                "emopia": "EMOPIA pop piano", "piano-covers": "piano covers"}
_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
# semitones from a mode's tonic down to its signature's major tonic
_MODE_OFFSET = {"ion": 0, "maj": 0, "": 0, "mix": 7, "lyd": 5, "dor": 2, "phr": 4, "aeo": 9, "min": 9, "m": 9,
                "loc": 11}
_MINORISH = {"dor", "phr", "aeo", "min", "m", "loc"}


def style_of(source: str) -> Optional[str]:
    parts = Path(str(source)).parts
    for folder, name in STYLE_FOLDERS:
        if folder in parts:
            return name
    return None


def shift_key(key: Optional[str], shift: int) -> Optional[str]:
    """A key-signature name moved by ``shift`` semitones."""
    if key is None or not shift:
        return key
    return PC_NAMES[(PC_NAMES.index(key) + int(shift)) % 12]


def key_name(key: str, mode: str) -> str:
    """``("G", "minor")`` -> ``"Em"`` (the signature's relative minor), ``("G", "major")`` -> ``"G"``."""
    pc = PC_NAMES.index(key)
    return MINOR_NAMES[(pc + 9) % 12] if mode == "minor" else PC_NAMES[pc]


def key_title(key: str, mode: str) -> str:
    """``("G", "minor")`` -> ``"E minor"``, ``("G", "major")`` -> ``"G major"`` (for people)."""
    name = key_name(key, mode)
    return f"{name[:-1]} minor" if mode == "minor" else f"{name} major"


def tonic_pc(key: str, mode: str) -> int:
    return (PC_NAMES.index(key) + (9 if mode == "minor" else 0)) % 12


def scale_pcs(key: str) -> frozenset:
    """The 7 pitch classes of key signature ``key`` (its major scale)."""
    pc = PC_NAMES.index(key)
    return frozenset((pc + s) % 12 for s in (0, 2, 4, 5, 7, 9, 11))


def metre_tuple(metre) -> Optional[tuple]:
    """``"6/8"`` -> ``(6, 8)``; None for anything that is not ``"n/d"``."""
    try:
        n, d = str(metre).split("/")
        return int(n), int(d)
    except (TypeError, ValueError):
        return None


def metre_name(num: int, den: int) -> Optional[str]:
    if num <= 0 or den <= 0:
        return None
    if (num, den) == (2, 2):
        return "4/4"
    return f"{int(num)}/{int(den)}"


def _midi_key(name: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """mido's key name (``"G"``, ``"Em"``, ``"Bb"``) -> (signature, mode)."""
    if not name:
        return None, None
    m = re.fullmatch(r"([A-G])([#b]?)(m?)", str(name).strip())
    if not m:
        return None, None
    pc = (_LETTER[m.group(1)] + {"#": 1, "b": -1, "": 0}[m.group(2)]) % 12
    if m.group(3):
        return PC_NAMES[(pc + 3) % 12], "minor"
    return PC_NAMES[pc], "major"


def abc_key(field: str) -> tuple[Optional[str], Optional[str]]:
    """An ABC ``K:`` field -> (signature, mode); (None, None) for what it cannot read
    (``none``, highland pipes, clefs alone)."""
    m = re.match(r"\s*([A-Ga-g])([#b]?)\s*([A-Za-z]*)", field or "")
    if not m or m.group(1).upper() not in _LETTER:
        return None, None
    pc = (_LETTER[m.group(1).upper()] + {"#": 1, "b": -1, "": 0}[m.group(2)]) % 12
    word = m.group(3).lower()
    mode = word[:3] if word[:3] in _MODE_OFFSET else ("m" if word == "m" else "")
    if word and mode == "" and word not in ("", "maj", "major", "ionian"):
        if word.startswith("m") and not word.startswith("mix") and not word.startswith("maj"):
            mode = "m"
        elif word.startswith(("exp", "clef", "treble", "bass", "alto", "tenor")):
            mode = ""
        else:
            return None, None
    sig = PC_NAMES[(pc - _MODE_OFFSET[mode]) % 12]
    return sig, ("minor" if mode in _MINORISH else "major")


def abc_metre(field: str) -> Optional[str]:
    f = (field or "").strip()
    if f.startswith("C|"):
        return "4/4"
    if f.startswith("C"):
        return "4/4"
    m = re.match(r"(\d+)\s*/\s*(\d+)", f)
    return metre_name(int(m.group(1)), int(m.group(2))) if m else None


@lru_cache(maxsize=256)
def _abc_tunes(path: str) -> tuple:
    """(key, mode, metre) of every ``X:`` tune of an ABC file, in order. A field given before
    the first tune is the file's default."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ()
    tunes = []
    cur = None
    default = {"M": None, "K": None}
    for line in text.splitlines():
        m = re.match(r"\s*([XMK]):(.*)", line)
        if not m:
            continue
        f, v = m.group(1), m.group(2).strip()
        if f == "X":
            cur = dict(default)
            tunes.append(cur)
        elif cur is None:
            default[f] = v
        elif cur.get(f"_{f}") is None:  # the first M:/K: of the header (not inline changes)
            cur[f] = v
            cur[f"_{f}"] = True
    out = []
    for t in tunes:
        sig, mode = abc_key(t["K"]) if t["K"] else (None, None)
        out.append((sig, mode, abc_metre(t["M"]) if t["M"] else None))
    return tuple(out)


@lru_cache(maxsize=4096)
def _file_labels(source: str) -> tuple:
    from .midifile import file_meta

    meta = file_meta(source)
    sig, mode = _midi_key(meta.get("key"))
    ts = meta.get("time_signature")
    return sig, mode, (metre_name(*ts) if ts else None)


def piece_labels(source: str, name: str) -> dict:
    """``{"style", "key", "mode", "metre"}`` of piece ``name`` of file ``source`` (module doc);
    a label the file does not give is None."""
    src = str(source)
    out = {"style": style_of(src), "key": None, "mode": None, "metre": None}
    suffix = Path(src).suffix.lower()
    if suffix == ".abc":
        tunes = _abc_tunes(src)
        k = 1
        if "#" in str(name):
            try:
                k = int(str(name).rsplit("#", 1)[1])
            except ValueError:
                return out
        if 1 <= k <= len(tunes):
            out["key"], out["mode"], out["metre"] = tunes[k - 1]
        return out
    if suffix in (".mid", ".midi", ".kar"):
        out["key"], out["mode"], out["metre"] = _file_labels(src)
    return out


def key_request(text: Optional[str]) -> dict:
    """What a user's key text asks for: ``"Em"`` -> ``{"key": "G", "mode": "minor"}``
    (signature and mode), ``"Bb"`` -> major, ``"minor"``/``"major"`` -> the mode alone;
    ``""``/None/``"any"`` -> {}. Anything else is a ValueError."""
    t = (text or "").strip()
    if not t or t.lower() == "any":
        return {}
    if t.lower() in MODES:
        return {"mode": t.lower()}
    t = t.replace(" minor", "m").replace(" major", "").replace("min", "m")
    sig, mode = _midi_key(t[:1].upper() + t[1:])
    if sig is None:
        raise ValueError(f"not a key: {text!r} (use names like G, Em, F#m, Bb, or major / minor)")
    return {"key": sig, "mode": mode}


def group_of(condition: str) -> str:
    """``"key:G"`` -> ``"key"``; a name without a group (the mood quadrants) -> ``""``."""
    return condition.split(":", 1)[0] if ":" in condition else ""


def groups_of(conditions) -> list:
    """The groups of condition names in the order they first appear (``[""]`` for ungrouped ones)."""
    out: list = []
    for c in conditions:
        if group_of(c) not in out:
            out.append(group_of(c))
    return out


def value_of(condition: str) -> str:
    return condition.split(":", 1)[1] if ":" in condition else condition
