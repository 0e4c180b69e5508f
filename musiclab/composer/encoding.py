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

Two representations (a model file's ``meta["representation"]`` says which; absent =
``sequential``):

* ``sequential`` (the seed's): events follow one another; an event starts where the previous
  one ended. Vocabulary ``VOCAB`` (324).
* ``timed``: every event starts with one more sub-token, its onset relative to the previous
  event's onset, ``DT0 + j`` (``j/12`` quarters, j = 0..192; the first event's is counted from
  the piece's start): ``DT pitches… DUR``. Notes that sound together are written together
  (a chord under a melody note has ``dt`` 0), so melody and accompaniment keep their time.
  Vocabulary ``VOCAB_TIMED`` (517); after ``BOS`` and after a duration only a ``DT`` may
  follow, after a ``DT`` a pitch or ``REST``. The metrical position (:func:`positions`) moves
  on at the ``DT`` sub-token, not at the duration. Onsets off the 1/12 grid are rounded to it;
  gaps over 16 quarters are clipped to 16.
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
DT0 = VOCAB  # timed representation: onset steps k/12 (k = 0..192) since the previous event
VOCAB_TIMED = DT0 + MAX_DUR_K + 1  # 517
REPRESENTATIONS = ("sequential", "timed")
#: the event networks (:mod:`.model`; kept here, torch-free, for modules that must not import torch)
EVENT_ARCHS = ("event-lstm", "event-lstm-v2", "event-lstm-timed", "event-lstm-ptr")
#: those over the sequential representation (the seed's event unit, the self-copy mixture)
SEQUENTIAL_ARCHS = ("event-lstm", "event-lstm-v2", "event-lstm-ptr")


def vocab_size(representation: str = "sequential") -> int:
    return VOCAB_TIMED if representation == "timed" else VOCAB


def check_representation(rep) -> str:
    if rep is None:
        return "sequential"
    if rep not in REPRESENTATIONS:
        raise ValueError(f"unknown event representation {rep!r} (known: {', '.join(REPRESENTATIONS)})")
    return rep


def dt_index(ev) -> int | None:
    """The event's onset relative to the previous event in 1/12 quarters (rounded to the grid,
    clipped to 0..192), or None when the event carries no onset."""
    if len(ev) < 4 or ev[3] is None:
        return None
    try:
        q = Fraction(ev[3])
    except (ValueError, ZeroDivisionError, TypeError):
        return None
    return int(min(max(round(q * DUR_STEPS), 0), MAX_DUR_K))


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
    """Sub-token ids of one event -> ``(pitches, k)`` (a timed event's ``DT`` is ignored: see
    :func:`decode_dt`)."""
    pitches = tuple(t - P0 for t in tokens if P0 <= t < REST)
    k = next((t - D0 for t in tokens if D0 <= t < DT0), 0)
    return pitches, k


def decode_dt(tokens) -> int | None:
    """The ``DT`` step of a timed event's sub-tokens (None if it has none)."""
    return next((int(t) - DT0 for t in tokens if t >= DT0), None)


def is_dt(tok) -> bool:
    return tok >= DT0


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


def allowed_matrix(representation: str = "sequential") -> np.ndarray:
    """(V, V) bool: allowed[prev, next] (V = :func:`vocab_size`)."""
    if representation == "timed":
        V = VOCAB_TIMED
        a = np.zeros((V, V), dtype=bool)
        a[[BOS, PAD], DT0:] = True
        a[D0:DT0, DT0:] = True
        a[DT0:, P0 : REST + 1] = True
        for p in range(128):
            a[P0 + p, P0 + p + 1 : REST] = True
            a[P0 + p, D0:DT0] = True
        a[REST, D0:DT0] = True
        return a
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
    """True for a duration sub-token (the one that closes an event)."""
    return D0 <= tok < DT0


def encode_piece(events, transpose: int = 0, representation: str = "sequential") -> list[int]:
    """BOS + sub-tokens of every representable event (unrepresentable ones are dropped; in the
    timed representation their onset steps pass to the next event, so the time is kept).
    Events without onsets are timed as if each started where the previous one ended."""
    out = [BOS]
    timed = representation == "timed"
    carry = 0  # timed: onset steps of dropped events
    prev_k = None
    for ev in events:
        t = encode_event(ev)
        if timed:
            j = dt_index(ev)
            if j is None:
                j = 0 if prev_k is None else prev_k
            j += carry
        if t is None:
            if timed:
                carry = j
                k = dur_index(ev[2])
                prev_k = k if k is not None else prev_k
            continue
        if transpose:
            t = [x + transpose if P0 <= x < REST else x for x in t]
        if timed:
            carry = 0
            prev_k = t[-1] - D0
            t = [DT0 + min(j, MAX_DUR_K)] + t
        out.extend(t)
    return out


# --------------------------------------------------------------------------- metre
POS_MOD = 144  # LCM of a 4-quarter (48 steps) and a 3-quarter (36 steps) bar, in 1/12 quarters
BAR4, BAR3 = 48, 36


def next_pos(tok: int, pos: int, timed: bool = False) -> int:
    """Onset (mod ``POS_MOD`` steps of 1/12 quarter) of the event that follows input ``tok``
    (timed: of the event being predicted; a ``DT`` moves it on, a duration does not)."""
    if tok == BOS:
        return 0
    if timed:
        if tok >= DT0:
            return (pos + tok - DT0) % POS_MOD
        return pos
    if tok >= D0:
        return (pos + tok - D0) % POS_MOD
    return pos


def positions(tokens, start: int = 0, timed: bool = False) -> list[int]:
    """For every input sub-token, the metrical onset of the event being predicted after it:
    cumulative duration since the last ``BOS`` (mod ``POS_MOD``). Within an event (pitch
    sub-tokens) it stays that event's onset; a duration sub-token moves it on. Timed
    representation: the sum of the ``DT`` steps since the last ``BOS``; after a duration
    (the next ``DT`` being predicted) it is still the last event's onset."""
    out = []
    pos = start
    for t in tokens:
        pos = next_pos(int(t), pos, timed)
        out.append(pos)
    return out
