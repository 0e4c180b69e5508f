"""The factorised event encoding of the default model.

An event becomes a short run of sub-tokens: its pitches in ascending order (or ``REST``),
then one duration token. Any pitch set with any duration on a 1/12-quarter grid up to 16
quarters is representable, so an unseen pitch/duration pair is never "unknown"; the
probability of an event is the product of its sub-token probabilities.

Sub-token ids::

    0 PAD, 1 BOS, 2..129 pitch 0..127, 130 REST, 131..323 duration k/12 (k = 0..192)

``allowed[prev]`` says which sub-tokens may follow ``prev`` (pitches strictly ascending,
a duration closes an event, after ``REST`` only a duration), so the model's probability
mass goes only to canonical encodings.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

PAD, BOS = 0, 1
P0 = 2
REST = 130
D0 = 131
DUR_STEPS = 12  # per quarter note
MAX_DUR_K = 192  # 16 quarters
VOCAB = D0 + MAX_DUR_K + 1  # 324


def dur_index(dur: str) -> int | None:
    """Duration string -> k (duration = k/12 quarters), or None if not on the grid."""
    try:
        q = Fraction(dur)
    except (ValueError, ZeroDivisionError):
        return None
    k = q * DUR_STEPS
    if k.denominator != 1:
        kf = float(k)
        kr = round(kf)
        if abs(kf - kr) > 1e-3:
            return None
        k = Fraction(kr)
    k = int(k)
    if 0 <= k <= MAX_DUR_K:
        return k
    return None


def dur_string(k: int) -> str:
    q = Fraction(k, DUR_STEPS)
    return str(float(q)) if q.denominator in (1, 2, 4, 8) else f"{q.numerator}/{q.denominator}"


def encode_event(ev) -> list[int] | None:
    """Event -> sub-token ids, or None if it cannot be represented (duration off-grid)."""
    k = dur_index(ev[2])
    if k is None:
        return None
    pitches = ev[0]
    if not pitches:
        return [REST, D0 + k]
    if any(p < 0 or p > 127 for p in pitches):
        return None
    return [P0 + p for p in sorted(set(pitches))] + [D0 + k]


def decode_event(tokens) -> tuple:
    """Sub-token ids of one event -> ``(pitches, k)``."""
    pitches = tuple(t - P0 for t in tokens if P0 <= t < REST)
    k = next((t - D0 for t in tokens if t >= D0), 0)
    return pitches, k


def key_tokens(key) -> list[int]:
    """Sub-tokens of an event key ``(pitches, k)`` (see :func:`event_key`)."""
    pitches, k = key
    return ([P0 + p for p in pitches] if pitches else [REST]) + [D0 + k]


def event_key(ev) -> tuple | None:
    """Identity of an event for top-1 matching: (pitches, duration index)."""
    k = dur_index(ev[2])
    if k is None:
        return None
    return (tuple(sorted(set(ev[0]))), k)


def allowed_matrix() -> np.ndarray:
    """(VOCAB, VOCAB) bool: allowed[prev, next]."""
    a = np.zeros((VOCAB, VOCAB), dtype=bool)
    starts = list(range(P0, REST + 1))  # any pitch or REST
    for prev in [BOS, PAD] + list(range(D0, VOCAB)):
        a[prev, starts] = True
    for p in range(128):
        a[P0 + p, P0 + p + 1 : REST] = True
        a[P0 + p, D0:] = True
    a[REST, D0:] = True
    return a


def is_dur(tok) -> bool:
    return tok >= D0


def encode_piece(events, transpose: int = 0) -> list[int]:
    """BOS + sub-tokens of every representable event (unrepresentable ones are dropped)."""
    out = [BOS]
    for ev in events:
        t = encode_event(ev)
        if t is None:
            continue
        if transpose:
            t = [x + transpose if P0 <= x < REST else x for x in t]
        out.extend(t)
    return out


# --------------------------------------------------------------------------- metre
POS_MOD = 144  # LCM of a 4-quarter (48 steps) and a 3-quarter (36 steps) bar, in 1/12 quarters
BAR4, BAR3 = 48, 36


def next_pos(tok: int, pos: int) -> int:
    """Onset (mod ``POS_MOD`` steps of 1/12 quarter) of the event that follows input ``tok``."""
    if tok == BOS:
        return 0
    if tok >= D0:
        return (pos + tok - D0) % POS_MOD
    return pos


def positions(tokens, start: int = 0) -> list[int]:
    """For every input sub-token, the metrical onset of the event being predicted after it:
    cumulative duration since the last ``BOS`` (mod ``POS_MOD``). Within an event (pitch
    sub-tokens) it stays that event's onset; a duration sub-token moves it on."""
    out = []
    pos = start
    for t in tokens:
        pos = next_pos(int(t), pos)
        out.append(pos)
    return out
