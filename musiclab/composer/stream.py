"""Training material as a stream of sub-tokens that is never held whole in memory.

The training loop cuts one long stream (every piece's sub-tokens, shuffled by piece, each
piece transposed by its own augmentation shift) into ``batch`` parallel rows and walks them
``seq_len`` sub-tokens at a time (truncated BPTT). :class:`Stream` gives the same rows as
concatenating everything would, but reads each piece only when a row reaches it: from a
memory-mapped :class:`~musiclab.composer.ingest.EventStore` shard (a Lakh-sized corpus on
disk) or from the pieces' events encoded once (a corpus read into memory). A few pieces per
row are kept decoded at a time, so memory stays at the piece level, not the corpus level.

:func:`stream_batches` yields exactly what ``train._batches`` yields for the concatenated
stream (tested), so training from a store equals training from the MIDI files it came from.
"""

from __future__ import annotations

import bisect
import random
from collections import OrderedDict
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from ..errors import MusiclabError
from . import encoding as enc


class TokenPiece:
    """One training piece: its sub-tokens (BOS first, untransposed), its length, the pitch
    range its transposition augmentation may use, and its events on demand.

    ``events`` of a store piece are decoded from its sub-tokens (music21's MIDI spelling of
    names, see :func:`decode_events`), so the count-based companions (trigram, n-gram
    hashes, the self-copy fit) can be fitted on a store piece by piece."""

    __slots__ = ("name", "source", "length", "lo", "hi", "n_events", "_tokens", "_events")

    def __init__(self, name: str, source: str, tokens: Callable[[], np.ndarray], length: int,
                 lo: Optional[int], hi: Optional[int], n_events: int, events: Optional[Callable[[], list]] = None):
        self.name, self.source = name, source
        self._tokens = tokens
        self.length = int(length)
        self.lo, self.hi = lo, hi
        self.n_events = int(n_events)
        self._events = events

    def tokens(self, shift: int = 0) -> np.ndarray:
        """The piece's sub-tokens (int64), pitch sub-tokens moved by ``shift`` semitones."""
        t = np.asarray(self._tokens(), dtype=np.int64)
        if shift:
            t = t.copy()
            m = (t >= enc.P0) & (t < enc.REST)
            t[m] += shift
        return t

    @property
    def events(self) -> list:
        if self._events is not None:
            return self._events()
        return decode_events(self.tokens())

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"TokenPiece({self.name!r}, {self.length} sub-tokens)"


def decode_events(tokens: Sequence[int]) -> list:
    """Sequential sub-tokens -> events ``(pitches, name, dur)`` with the names music21 gives
    on MIDI import (note names, chords' normal order, ``rest``); onsets are not stored."""
    from .ingest import _normal_order, pitch_name

    out = []
    pitches: list[int] = []
    rest = False
    for t in tokens:
        t = int(t)
        if enc.P0 <= t < enc.REST:
            pitches.append(t - enc.P0)
        elif t == enc.REST:
            rest = True
        elif enc.D0 <= t < enc.DT0:
            dur = enc.dur_string(t - enc.D0)
            if rest or not pitches:
                out.append(((), "rest", dur))
            elif len(pitches) == 1:
                out.append(((pitches[0],), pitch_name(pitches[0]), dur))
            else:
                ps = tuple(sorted(set(pitches)))
                out.append((ps, _normal_order(frozenset(p % 12 for p in ps)), dur))
            pitches, rest = [], False
    return out


def _event_range(events) -> tuple[Optional[int], Optional[int]]:
    ps = [x for e in events for x in e[0]]
    return (min(ps), max(ps)) if ps else (None, None)


def from_pieces(pieces: Iterable, representation: str = "sequential") -> list[TokenPiece]:
    """Token pieces of in-memory :class:`~.events.Piece` objects (encoded once, as uint16).
    The augmentation range comes from *all* the piece's events, as it always did."""
    out = []
    for p in pieces:
        if isinstance(p, TokenPiece):
            out.append(p)
            continue
        arr = np.asarray(enc.encode_piece(p.events, 0, representation), dtype=np.uint16)
        lo, hi = _event_range(p.events)
        evs = p.events
        out.append(TokenPiece(p.name, p.source, (lambda a=arr: a), arr.size, lo, hi, len(evs),
                              events=(lambda e=evs: e)))
    return out


def from_store(store, indices: Optional[Iterable[int]] = None) -> list[TokenPiece]:
    """Token pieces of an :class:`~.ingest.EventStore` (sequential sub-tokens, read from the
    memory-mapped shards when used). The pitch range of each piece is read once here."""
    idx = range(len(store)) if indices is None else indices
    out = []
    for i in idx:
        meta = store.pieces[i]
        t = store.tokens(i)
        ps = t[(t >= enc.P0) & (t < enc.REST)]
        lo, hi = (int(ps.min()) - enc.P0, int(ps.max()) - enc.P0) if ps.size else (None, None)
        out.append(TokenPiece(meta["name"], meta["source"], (lambda s=store, k=i: s.tokens(k)), int(meta["length"]),
                              lo, hi, int(meta.get("events", 0))))
    return out


def split_store(store, val_fraction: float = 0.1, seed: int = 0, max_val: Optional[int] = None):
    """Deterministic train/validation split of a store's pieces by name, the rule
    :func:`.events.split_by_piece` uses (so the same files split the same way)."""
    from .events import is_validation

    train, val = [], []
    for i, p in enumerate(store.pieces):
        (val if is_validation(p["source"], p["name"], val_fraction, seed) else train).append(i)
    if max_val is not None and len(val) > max_val:
        train.extend(val[max_val:])
        val = val[:max_val]
    return train, val


def open_store(path) -> object:
    """An :class:`~.ingest.EventStore`, with a clear message for a folder that is not one."""
    from .ingest import EventStore, StoreFormatError

    try:
        return EventStore(path)
    except StoreFormatError as exc:
        raise MusiclabError(str(exc)) from exc
    except (OSError, ValueError) as exc:
        raise MusiclabError(f"Cannot read the event store {path}: {exc}") from exc


def draw_shifts(items: Sequence[TokenPiece], rng: Optional[random.Random]) -> list[int]:
    """Each piece's transposition for one epoch (−5 … +6 semitones within MIDI's range),
    drawn in order with the same calls the training loop always made."""
    out = []
    for it in items:
        shift = 0
        if rng is not None and it.lo is not None:
            lo, hi = max(-5, -it.lo), min(6, 127 - it.hi)
            if lo <= hi:
                shift = rng.randint(lo, hi)
        out.append(shift)
    return out


class Stream:
    """The concatenation of ``items`` (each transposed by its shift) as a read-only
    sequence: ``len``, ``window(a, b)`` and ``positions(a, b)`` read only the pieces that
    overlap ``[a, b)``. At most ``cache`` pieces are kept decoded."""

    def __init__(self, items: Sequence[TokenPiece], shifts: Optional[Sequence[int]] = None,
                 timed: bool = False, cache: int = 256):
        self.items = list(items)
        self.shifts = list(shifts) if shifts is not None else [0] * len(self.items)
        self.timed = timed
        lens = np.fromiter((it.length for it in self.items), dtype=np.int64, count=len(self.items))
        self.starts = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        self._cache: OrderedDict = OrderedDict()
        self._cap = max(2, int(cache))
        self.loaded = 0  # pieces read so far (tests: it is lazy)

    def __len__(self) -> int:
        return int(self.starts[-1])

    @property
    def n_events(self) -> int:
        return sum(it.n_events for it in self.items)

    def _piece(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        hit = self._cache.get(k)
        if hit is not None:
            self._cache.move_to_end(k)
            return hit
        t = self.items[k].tokens(self.shifts[k])
        if t.size != self.items[k].length:
            raise MusiclabError(f"piece {self.items[k].name!r} has {t.size} sub-tokens, its index says "
                                f"{self.items[k].length}: the event store is damaged; ingest it again.")
        pos = np.asarray(enc.positions(t, timed=self.timed), dtype=np.int64)
        self._cache[k] = (t, pos)
        self.loaded += 1
        if len(self._cache) > self._cap:
            self._cache.popitem(last=False)
        return t, pos

    def _gather(self, a: int, b: int, which: int) -> np.ndarray:
        parts = []
        k = bisect.bisect_right(self.starts, a) - 1
        while a < b and k < len(self.items):
            s0 = int(self.starts[k])
            arr = self._piece(k)[which]
            lo, hi = a - s0, min(b, int(self.starts[k + 1])) - s0
            parts.append(arr[lo:hi])
            a = s0 + hi
            k += 1
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def window(self, a: int, b: int) -> np.ndarray:
        return self._gather(a, b, 0)

    def positions(self, a: int, b: int) -> np.ndarray:
        return self._gather(a, b, 1)


def batch_geometry(N: int, batch: int, seq_len: int, rows: Optional[slice] = None):
    """``(batch, n, mine)`` of a stream of ``N`` sub-tokens cut into ``batch`` rows of ``n``
    (fewer rows when the stream is too short for two steps), ``mine`` the rows this rank reads."""
    n = (N - 1) // batch
    if n < 2:
        batch = max(1, (N - 1) // max(2, seq_len // 4))
        n = (N - 1) // batch
    mine = list(range(batch))[rows] if rows is not None else range(batch)
    return batch, n, mine


def stream_batches(stream: Stream, batch: int, seq_len: int, with_pos: bool = False,
                   rows: Optional[slice] = None):
    """(x, y[, pos]) tensors of ``batch`` rows, exactly as ``train._batches`` cuts the
    concatenated stream: row ``r`` is the stream's ``r``-th equal part, walked ``seq_len``
    sub-tokens at a time; only the pieces under the current step are read. ``rows``: only
    these rows of every batch (a rank's ``rank::size`` under torchrun), so a rank reads only
    its own part of the stream."""
    import torch

    batch, n, mine = batch_geometry(len(stream), batch, seq_len, rows)
    for s in range(0, n, seq_len):
        w = min(seq_len, n - s)
        xs, ys, ps = [], [], []
        for r in mine:
            a = r * n + s
            buf = stream.window(a, a + w + 1)
            xs.append(buf[:w])
            ys.append(buf[1:w + 1])
            if with_pos:
                ps.append(stream.positions(a, a + w))
        x = torch.from_numpy(np.stack(xs))
        y = torch.from_numpy(np.stack(ys))
        if with_pos:
            yield x, y, torch.from_numpy(np.stack(ps))
        else:
            yield x, y
