"""Audio playback through sounddevice (PortAudio), imported lazily. No Qt.

:class:`Player` plays one float32 array at a time with play / pause / stop / seek. The
audio callback only copies the next slice of the array into PortAudio's buffer. Without
the PortAudio library or an output device, :meth:`Player.available` says why, and
:meth:`Player.play` raises :class:`~musiclab.errors.NoAudioDeviceError`; nothing else in
the app depends on a sound card.

Tests inject ``stream_factory``: a callable with sounddevice.OutputStream's signature.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

import numpy as np

from ..errors import NoAudioDeviceError

_sd = None
_sd_error: Optional[str] = None


def import_sounddevice():
    """Import sounddevice once; return the module or raise NoAudioDeviceError."""
    global _sd, _sd_error
    if _sd is not None:
        return _sd
    if _sd_error is not None:
        raise NoAudioDeviceError(_sd_error)
    try:
        import sounddevice

        _sd = sounddevice
        return _sd
    except (OSError, ImportError) as exc:
        _sd_error = f"No audio output: the PortAudio library is not available ({exc})."
        raise NoAudioDeviceError(_sd_error) from exc


def output_devices() -> list[dict]:
    """Output devices as dicts (index, name, channels, default_samplerate); [] if none."""
    try:
        sd = import_sounddevice()
        devs = sd.query_devices()
    except Exception:
        return []
    return [
        {"index": i, "name": d["name"], "channels": d["max_output_channels"],
         "default_samplerate": d["default_samplerate"]}
        for i, d in enumerate(devs) if d["max_output_channels"] > 0
    ]


class Player:
    """Plays a float32 array; thread-safe position; states: stopped, playing, paused."""

    def __init__(self, stream_factory: Optional[Callable] = None, device=None):
        self._factory = stream_factory
        self.device = device
        self._lock = threading.Lock()
        self._data = np.zeros((0, 2), dtype=np.float32)  # (frames, channels)
        self._sr = 44100
        self._pos = 0
        self._stream = None
        self.state = "stopped"
        self.label = ""
        self.on_finished: Optional[Callable[[], None]] = None

    # -- availability -----------------------------------------------------------------
    def _make_stream(self, sr: int, channels: int):
        if self._factory is not None:
            return self._factory(samplerate=sr, channels=channels, dtype="float32",
                                 callback=self._callback, device=self.device)
        sd = import_sounddevice()
        try:
            return sd.OutputStream(samplerate=sr, channels=channels, dtype="float32",
                                   callback=self._callback, device=self.device)
        except Exception as exc:
            raise NoAudioDeviceError(f"No audio output: {exc}") from exc

    def available(self) -> tuple[bool, str]:
        """(True, device name) or (False, reason) without opening a stream."""
        if self._factory is not None:
            return True, "injected output"
        try:
            sd = import_sounddevice()
            info = sd.query_devices(self.device, "output")
            return True, str(info["name"])
        except NoAudioDeviceError as exc:
            return False, str(exc)
        except Exception as exc:
            return False, f"No audio output device ({exc})."

    # -- control -------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self._sr

    @property
    def duration(self) -> float:
        return len(self._data) / self._sr if self._sr else 0.0

    @property
    def position(self) -> float:
        return self._pos / self._sr if self._sr else 0.0

    def load(self, y: np.ndarray, sr: int, label: str = "") -> None:
        """Replace what is loaded (stops playback)."""
        self.stop()
        a = np.asarray(y, dtype=np.float32)
        if a.ndim == 1:
            a = np.stack([a, a], axis=1)
        else:
            a = a.T if a.shape[0] < a.shape[1] else a
            if a.shape[1] == 1:
                a = np.repeat(a, 2, axis=1)
            elif a.shape[1] > 2:
                a = a[:, :2]
        with self._lock:
            self._data = np.ascontiguousarray(np.clip(np.nan_to_num(a), -1.0, 1.0))
            self._sr = int(sr)
            self._pos = 0
        self.label = label

    def play(self) -> None:
        if not len(self._data):
            return
        if self.state == "playing":
            return
        if self._pos >= len(self._data):
            self._pos = 0
        if self.state == "stopped":
            self._close_stream()  # a stream that ran to its end cannot be restarted
        if self._stream is None:
            self._stream = self._make_stream(self._sr, self._data.shape[1])
        self.state = "playing"  # before start(): the callback may finish a short clip at once
        try:
            self._stream.start()
        except Exception as exc:
            self.state = "stopped"
            self._close_stream()
            raise NoAudioDeviceError(f"No audio output: {exc}") from exc

    def pause(self) -> None:
        if self.state == "playing":
            self.state = "paused"
            if self._stream is not None:
                try:
                    self._stream.stop()
                except Exception:
                    self._close_stream()

    def toggle(self) -> None:
        self.pause() if self.state == "playing" else self.play()

    def stop(self) -> None:
        self._close_stream()
        with self._lock:
            self._pos = 0
        self.state = "stopped"

    def finished(self) -> bool:
        """True when playback ran to the end of the loaded audio."""
        return self.state == "stopped" and len(self._data) > 0 and self._pos >= len(self._data)

    def seek(self, seconds: float) -> None:
        with self._lock:
            self._pos = int(np.clip(seconds * self._sr, 0, len(self._data)))

    def close(self) -> None:
        self.stop()

    def _close_stream(self) -> None:
        s, self._stream = self._stream, None
        if s is not None:
            try:
                s.stop()
                s.close()
            except Exception:
                pass

    # -- audio thread --------------------------------------------------------------------
    def _callback(self, outdata, frames, time_info, status) -> None:
        with self._lock:
            start = self._pos
            chunk = self._data[start:start + frames]
            n = len(chunk)
            outdata[:n] = chunk
            if n < frames:
                outdata[n:] = 0
            self._pos = start + n
            ended = self._pos >= len(self._data)
        if ended:  # this buffer holds the last samples: PortAudio plays it out, then stops
            self.state = "stopped"
            cb = self.on_finished
            if cb is not None:
                cb()
            if _sd is not None and self._factory is None:
                raise _sd.CallbackStop()
