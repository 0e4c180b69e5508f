"""The sources at full quality, decoded only where the render reads them. No Qt.

The render (:func:`.chain.render`) takes, per chosen chunk, a slice of its song at the output's
sample rate and channel count. :func:`source_audio` here returns a :class:`LazySource`: an
``(channels, n)`` array-like whose slices ``y[:, lo:hi]`` are decoded from the song's file on
demand where the file is at the output's rate (libsndfile seeks sample-exactly; Ogg Vorbis too,
except into the last page, which is decoded forward from a little earlier), so a 3-minute song
from twenty 5-minute 48 kHz sources decodes about 3 minutes of audio instead of 100. A song at
another rate is decoded whole and resampled once (memoised), as :func:`.joins.source_audio` does:
a slice resampled on its own differs by ~1e-7, and Rubber Band turns that into other output
samples. Either way the samples are exactly those of :func:`.joins.source_audio`.
:func:`output_format` reads only the files' headers. Same signatures as in :mod:`.joins`.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Optional

import numpy as np

#: slices within this many seconds of a file's end are decoded from there on (see ``_read_native``)
TAIL_S = 3.0


class _Info:
    __slots__ = ("sr", "frames", "channels")

    def __init__(self, sr: int, frames: int, channels: int):
        self.sr, self.frames, self.channels = int(sr), int(frames), int(channels)


def _file_info(song) -> Optional[_Info]:
    """The song's file's rate, length and channels when it is the audio that was analysed (as
    :func:`.joins._native` decides), else None (then the analysis copy is used)."""
    d = song.__dict__
    if "_src_info" in d:
        return d["_src_info"]
    info = None
    p = Path(song.path) if getattr(song, "path", "") else None
    if p is not None and p.is_file():
        try:
            import soundfile as sf

            i = sf.info(str(p))
            if i.frames > 0 and i.samplerate > 0 and abs(i.frames / i.samplerate - len(song.y) / song.sr) < 0.25:
                info = _Info(i.samplerate, i.frames, min(2, i.channels))
        except Exception:
            info = None
    d["_src_info"] = info
    return info


_WHOLE: "OrderedDict[tuple, np.ndarray]" = OrderedDict()
_WHOLE_MAX = 4


def _whole(song, sr: int, ch: int) -> np.ndarray:
    """:func:`.joins.source_audio` of the song, memoised for the last few songs."""
    key = (str(song.path), len(song.y), int(song.sr), int(sr), int(ch))
    y = _WHOLE.get(key)
    if y is None:
        from .joins import source_audio as whole

        y = _WHOLE[key] = whole(song, sr, ch)
        while len(_WHOLE) > _WHOLE_MAX:
            _WHOLE.popitem(last=False)
    else:
        _WHOLE.move_to_end(key)
    return y


class LazySource:
    """``(ch, n)`` float32 audio of one song at ``sr``: ``shape``, and ``[:, lo:hi]`` slices that
    decode only what they cover."""

    def __init__(self, song, sr: int, ch: int):
        self.song, self.sr, self.ch = song, int(sr), int(ch)
        self.info = _file_info(song)
        self._full: Optional[np.ndarray] = None
        if self.info is None or self.info.sr != self.sr:
            # no file (the analysis copy), or another rate: the whole song, resampled once, exactly as
            # joins.source_audio makes it (Rubber Band turns even 1e-7 of difference in its input into
            # other output samples, so a slice resampled on its own would not render the same)
            self._full = _whole(song, self.sr, self.ch)
            n = self._full.shape[1]
        else:
            n = self.info.frames
        self.shape = (self.ch, int(n))
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return self.ch

    def _read_native(self, a: int, b: int) -> np.ndarray:
        """Native samples ``[a, b)`` (zeros outside the file), ``(file channels, b - a)``."""
        import soundfile as sf

        info = self.info
        out = np.zeros((info.channels, b - a), np.float32)
        lo, hi = max(0, a), min(info.frames, b)
        if hi > lo:
            # seeks are sample-exact except into an Ogg file's last page (end trimming): near the
            # end, seek earlier and decode forward
            s0 = max(0, min(lo, info.frames - int(TAIL_S * info.sr)))
            with sf.SoundFile(str(self.song.path)) as f:
                f.seek(s0)
                z = f.read(hi - s0, dtype="float32", always_2d=True)[lo - s0:]
            z = np.nan_to_num(z.T[: info.channels])
            out[:, lo - a: lo - a + z.shape[1]] = z
        return out

    def _map_channels(self, y: np.ndarray) -> np.ndarray:
        if y.shape[0] < self.ch:
            y = np.repeat(y[:1], self.ch, axis=0)
        elif y.shape[0] > self.ch:
            y = y.mean(axis=0, keepdims=True)
        return y

    def slice(self, lo: int, hi: int) -> np.ndarray:
        lo, hi = max(0, int(lo)), min(self.shape[1], int(hi))
        if hi <= lo:
            return np.zeros((self.ch, 0), np.float32)
        if self._full is not None:
            return self._full[:, lo:hi]
        return np.ascontiguousarray(self._map_channels(self._read_native(lo, hi)), np.float32)

    def __getitem__(self, idx):
        if isinstance(idx, tuple) and len(idx) == 2 and idx[0] == slice(None) and isinstance(idx[1], slice) \
                and idx[1].step in (None, 1):
            s = idx[1]
            lo = 0 if s.start is None else s.start
            hi = self.shape[1] if s.stop is None else s.stop
            if lo < 0:
                lo += self.shape[1]
            if hi < 0:
                hi += self.shape[1]
            return self.slice(lo, hi)
        return np.asarray(self)[idx]

    def __array__(self, dtype=None, copy=None):
        y = self.slice(0, self.shape[1])
        return y.astype(dtype) if dtype is not None else y


def output_format(pool, song_ids) -> tuple[int, int]:
    """``(sample rate, channels)`` of the render: the highest among the songs used (file headers only)."""
    rates, chans = [], []
    for s in song_ids:
        song = pool.songs[s]
        info = _file_info(song)
        if info is None:
            rates.append(int(song.sr))
            chans.append(1)
        else:
            rates.append(info.sr)
            chans.append(info.channels)
    return (max(rates) if rates else pool.sr), (max(chans) if chans else 1)


def source_audio(song, sr: int, ch: int) -> LazySource:
    """The song at ``sr`` with ``ch`` channels, ``(ch, n)``, decoded slice by slice."""
    return LazySource(song, sr, ch)


def stretch(x: np.ndarray, sr: int, speed: float, shift: int) -> np.ndarray:
    """Rubber Band time-stretch and pitch shift (:func:`.joins.stretch`). Where every channel is the
    same (a mono source in a stereo render) one channel is stretched and repeated: Rubber Band
    gives identical channels identical output, so the result is the same at a fraction of the cost."""
    from .joins import stretch as rb

    x = np.asarray(x)
    if x.ndim == 2 and x.shape[0] > 1 and all(np.array_equal(x[0], x[c]) for c in range(1, x.shape[0])):
        one = rb(np.ascontiguousarray(x[:1]), sr, speed, shift)
        return np.ascontiguousarray(np.repeat(one, x.shape[0], axis=0))
    return rb(x, sr, speed, shift)
