"""Live audio sources feeding a ring buffer. No Qt.

Every source writes incoming audio into a :class:`RingBuffer` and the consumer (a GUI
timer, a benchmark loop) drains it with :meth:`AudioSource.read`. The ring buffer keeps
each sample twice, at ``i`` and ``i + N`` (Friture's trick), so any of the newest ``N``
samples can be read as one contiguous slice without wrap-around logic.

* :class:`SoundDeviceSource` wraps a ``sounddevice.InputStream``. Its callback does
  nothing but copy the block into the ring buffer (and count PortAudio overflows);
  sounddevice/PortAudio are imported only when the stream is started.
* :class:`FakeSource` feeds blocks of a given signal at real-time block sizes, either
  on demand (:meth:`FakeSource.pump`) or from a thread at the real-time pace; tests and
  benchmarks use it instead of a sound card.
* :class:`FileSource` follows a playhead (the transport's position) through a decoded
  signal, so the live view can show what is being played.

Problems with devices (no PortAudio, no input device, a refused sample rate, a device
that disappears while streaming) raise :class:`~musiclab.errors.NoAudioDeviceError`
with a message a user can act on.
"""

from __future__ import annotations

import threading
import time
from typing import Optional

import numpy as np

from ..errors import NoAudioDeviceError

__all__ = [
    "RingBuffer",
    "AudioSource",
    "FakeSource",
    "FileSource",
    "SoundDeviceSource",
    "list_input_devices",
]


class RingBuffer:
    """A single-producer / single-consumer ring of float32 frames ``(n, channels)``.

    ``written`` counts every frame ever written (it never wraps), so positions are
    absolute sample indices. Frames ``[written - capacity, written)`` are readable.
    """

    def __init__(self, capacity: int, channels: int = 1):
        if capacity < 1 or channels < 1:
            raise ValueError("capacity and channels must be positive")
        self.capacity = int(capacity)
        self.channels = int(channels)
        self._buf = np.zeros((2 * self.capacity, self.channels), dtype=np.float32)
        self.written = 0
        self._lock = threading.Lock()

    def write(self, block: np.ndarray) -> None:
        """Copy ``block`` (``(n,)`` or ``(n, channels)``) in; nothing else happens here."""
        x = np.asarray(block)
        if x.ndim == 1:
            x = x[:, None]
        n = x.shape[0]
        if n == 0:
            return
        cap = self.capacity
        with self._lock:
            if n > cap:  # only the newest `cap` frames can be kept
                self.written += n - cap
                x = x[n - cap:]
                n = cap
            pos = self.written % cap
            first = min(n, cap - pos)
            buf = self._buf
            buf[pos:pos + first] = x[:first]
            buf[pos + cap:pos + cap + first] = x[:first]
            rest = n - first
            if rest:
                buf[:rest] = x[first:]
                buf[cap:cap + rest] = x[first:]
            self.written += n

    def read(self, start: int, stop: int) -> np.ndarray:
        """A copy of absolute frames ``[start, stop)``; they must still be in the ring."""
        with self._lock:
            if stop > self.written or start < self.written - self.capacity or stop < start:
                raise IndexError(
                    f"frames [{start}, {stop}) not available (written {self.written}, capacity {self.capacity})"
                )
            off = start % self.capacity
            return self._buf[off:off + (stop - start)].copy()

    def newest(self, n: int) -> np.ndarray:
        """The newest ``n`` frames (fewer if fewer were written), one contiguous copy."""
        with self._lock:
            w = self.written
        n = min(n, w, self.capacity)
        return self.read(w - n, w)

    def clear(self) -> None:
        with self._lock:
            self.written = 0
            self._buf[:] = 0.0


class AudioSource:
    """Base class: a ring buffer plus the consumer's read position and statistics.

    ``read()`` returns all frames written since the previous call as mono float32
    (channels averaged on the consumer side, never in the audio callback). If the
    consumer fell so far behind that the ring overwrote unread frames, those frames are
    skipped and counted in ``dropped_blocks``.
    """

    name = "source"

    def __init__(self, sr: int, channels: int = 1, block: int = 512, capacity_s: float = 4.0):
        self.sr = int(sr)
        self.channels = int(channels)
        self.block = int(block)
        self.ring = RingBuffer(max(int(capacity_s * self.sr), 4 * self.block), self.channels)
        self._read_pos = 0
        self.dropped_blocks = 0
        self.overflows = 0  # reported by the device (PortAudio input overflow)
        self.level_db = np.full(self.channels, -np.inf, dtype=np.float32)
        self.finished = False  # a file or fake signal reached its end
        self.discontinuity = False  # the consumer should restart its analysis (seek)
        self.error: Optional[str] = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        self.stop()

    @property
    def active(self) -> bool:
        return not self.finished and self.error is None

    # -- consumer side -------------------------------------------------------------------
    def available(self) -> int:
        return self.ring.written - self._read_pos

    def read_frames(self) -> np.ndarray:
        """All unread frames ``(n, channels)`` (float32); updates the level meter."""
        self.check()
        w = self.ring.written
        lost = w - self._read_pos - self.ring.capacity
        if lost > 0:
            self.dropped_blocks += int(np.ceil(lost / self.block))
            self._read_pos = w - self.ring.capacity
        if w <= self._read_pos:
            return np.zeros((0, self.channels), dtype=np.float32)
        x = self.ring.read(self._read_pos, w)
        self._read_pos = w
        peak = np.max(np.abs(x), axis=0)
        with np.errstate(divide="ignore"):
            self.level_db = (20 * np.log10(np.maximum(peak, 1e-10))).astype(np.float32)
        return x

    def read(self) -> np.ndarray:
        """All unread audio as a mono float32 vector."""
        x = self.read_frames()
        if x.shape[1] == 1:
            return x[:, 0].copy()
        return x.mean(axis=1, dtype=np.float32)

    def check(self) -> None:
        """Raise :class:`NoAudioDeviceError` if the source failed since the last call."""
        if self.error is not None:
            raise NoAudioDeviceError(self.error)

    def reset_position(self) -> None:
        """Forget unread audio (after a seek or a restart)."""
        self._read_pos = self.ring.written
        self.discontinuity = False


class FakeSource(AudioSource):
    """Feeds a given signal in blocks of ``block`` frames, like a sound card would.

    ``signal`` is ``(n,)`` or ``(n, channels)``. With ``pump(k)`` the caller pushes ``k``
    blocks synchronously (tests); ``start()`` runs a thread that pushes one block every
    ``block / sr`` seconds (benchmarks, GUI demos). ``loop`` restarts the signal at its
    end; otherwise ``finished`` becomes True. ``fail_after`` makes the source report a
    vanished device after that many blocks (robustness tests).
    """

    name = "Test signal"

    def __init__(self, signal: np.ndarray, sr: int, block: int = 512, loop: bool = False,
                 capacity_s: float = 4.0, fail_after: Optional[int] = None, name: str = ""):
        sig = np.asarray(signal, dtype=np.float32)
        if sig.ndim == 1:
            sig = sig[:, None]
        super().__init__(sr, sig.shape[1], block, capacity_s)
        self.signal = sig
        self.loop = loop
        self.fail_after = fail_after
        self.blocks_fed = 0
        self.write_times: list = []  # (monotonic time, absolute end frame) of each write, if recording
        self.record_times = False
        self._pos = 0
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        if name:
            self.name = name

    def _next_block(self) -> Optional[np.ndarray]:
        n = self.signal.shape[0]
        if self._pos >= n:
            if not self.loop or n == 0:
                self.finished = True
                return None
            self._pos = 0
        out = self.signal[self._pos:self._pos + self.block]
        if out.shape[0] < self.block and self.loop:
            need = self.block - out.shape[0]
            reps = int(np.ceil(need / n))
            extra = np.concatenate([self.signal] * reps)[:need]
            out = np.concatenate([out, extra])
            self._pos = need
        else:
            self._pos += out.shape[0]
        return out

    def _callback(self, block: np.ndarray) -> None:
        # what a sounddevice callback would do: copy into the ring, nothing else
        self.ring.write(block)
        if self.record_times:
            self.write_times.append((time.perf_counter(), self.ring.written))

    def pump(self, n_blocks: int = 1) -> int:
        """Push up to ``n_blocks`` blocks now; returns how many were pushed."""
        done = 0
        for _ in range(n_blocks):
            if self.fail_after is not None and self.blocks_fed >= self.fail_after:
                self.error = f"The input device '{self.name}' disappeared while recording."
                break
            blk = self._next_block()
            if blk is None:
                break
            self._callback(blk)
            self.blocks_fed += 1
            done += 1
        return done

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()

        def run():
            period = self.block / self.sr
            t_next = time.perf_counter()
            while not self._stop.is_set():
                if self.pump(1) == 0:
                    break
                t_next += period
                delay = t_next - time.perf_counter()
                if delay > 0:
                    self._stop.wait(delay)

        self._thread = threading.Thread(target=run, name="fake-audio", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None


class FileSource(AudioSource):
    """Follows a playhead through a decoded signal (the file the transport plays).

    Call :meth:`advance_to` with the player's position (seconds); the frames between the
    previous and the new position are written to the ring. A backwards move or a jump
    of more than ``max_jump_s`` is a seek: ``discontinuity`` is set and the consumer
    restarts its analysis from there (the analysis window is pre-filled with the audio
    just before the new position so the view is complete at once).
    """

    def __init__(self, signal: np.ndarray, sr: int, name: str = "file", block: int = 512,
                 max_jump_s: float = 1.0, prefill: int = 0):
        y = np.asarray(signal, dtype=np.float32)
        if y.ndim == 2:  # (channels, n) as load_audio returns
            y = y.mean(axis=0)
        super().__init__(sr, 1, block, capacity_s=max(4.0, 2 * max_jump_s + 1))
        self.signal = y
        self.name = name
        self.max_jump_s = float(max_jump_s)
        self.prefill = int(prefill)
        self.position = 0  # frames
        self.duration = len(y) / self.sr if self.sr else 0.0

    def advance_to(self, seconds: float) -> None:
        target = int(round(max(0.0, seconds) * self.sr))
        target = min(target, len(self.signal))
        if target < self.position or target - self.position > self.max_jump_s * self.sr:
            start = max(0, target - self.prefill)
            self.ring.write(self.signal[start:target])
            self.reset_position()
            self._read_pos = self.ring.written - (target - start)
            self.discontinuity = True
        elif target > self.position:
            self.ring.write(self.signal[self.position:target])
        self.position = target
        self.finished = target >= len(self.signal)


def _import_sounddevice():
    try:
        import sounddevice as sd  # noqa: WPS433 (lazy: PortAudio is loaded here)
    except OSError as exc:
        raise NoAudioDeviceError(
            "Audio input is unavailable: the PortAudio library was not found "
            "(install PortAudio, e.g. 'libportaudio2', and restart)."
        ) from exc
    except ImportError as exc:
        raise NoAudioDeviceError("Audio input is unavailable: the 'sounddevice' package is not installed.") from exc
    return sd


def list_input_devices() -> tuple[list[dict], str]:
    """Input devices as ``[{index, name, channels, default_sr, hostapi}]`` and a message.

    Never raises: without PortAudio or without any input device the list is empty and
    the message says why.
    """
    try:
        sd = _import_sounddevice()
    except NoAudioDeviceError as exc:
        return [], str(exc)
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
        try:
            default_in = sd.default.device[0]
        except Exception:
            default_in = -1
    except Exception as exc:
        return [], f"Audio devices could not be listed ({exc})."
    out = []
    for i, d in enumerate(devices):
        if d.get("max_input_channels", 0) > 0:
            api = hostapis[d["hostapi"]]["name"] if d.get("hostapi") is not None else ""
            out.append({"index": i, "name": d["name"], "channels": int(d["max_input_channels"]),
                        "default_sr": float(d["default_samplerate"]), "hostapi": api,
                        "default": i == default_in})
    if not out:
        return [], "No audio input device was found (connect a microphone or enable an input)."
    return out, f"{len(out)} input device(s)."


class SoundDeviceSource(AudioSource):
    """A live input device via ``sounddevice.InputStream`` (1–8 channels).

    The callback only copies into the ring buffer and counts overflows. When the stream
    stops by itself (device unplugged) or delivers nothing for ``stall_s`` seconds,
    :meth:`read` raises :class:`NoAudioDeviceError`.
    """

    def __init__(self, device: Optional[int] = None, sr: Optional[int] = None, channels: int = 1,
                 block: int = 512, capacity_s: float = 4.0, stall_s: float = 1.5):
        self.device = device
        sd = _import_sounddevice()
        try:
            info = sd.query_devices(device, "input")
        except Exception as exc:
            raise NoAudioDeviceError(f"No usable audio input device ({exc}).") from exc
        self.name = str(info["name"])
        max_ch = int(info["max_input_channels"])
        if max_ch < 1:
            raise NoAudioDeviceError(f"'{self.name}' has no input channels.")
        channels = max(1, min(int(channels), max_ch, 8))
        rate = int(sr or info["default_samplerate"])
        try:
            sd.check_input_settings(device=device, samplerate=rate, channels=channels, dtype="float32")
        except Exception as exc:
            raise NoAudioDeviceError(
                f"'{self.name}' refuses {rate} Hz with {channels} channel(s) ({exc}); "
                f"try its default rate ({int(info['default_samplerate'])} Hz)."
            ) from exc
        super().__init__(rate, channels, block, capacity_s)
        self._sd = sd
        self._stream = None
        self._last_data = 0.0
        self._stopping = False
        self.stall_s = stall_s

    def _callback(self, indata, frames, time_info, status) -> None:  # audio thread
        if status and status.input_overflow:
            self.overflows += 1
        self.ring.write(indata)
        self._last_data = time.monotonic()

    def _finished(self) -> None:  # PortAudio says the stream ended
        if self._stream is not None and self.error is None and not self._stopping:
            self.error = f"The input device '{self.name}' stopped delivering audio (disconnected?)."

    def start(self) -> None:
        if self._stream is not None:
            return
        self._stopping = False
        try:
            self._stream = self._sd.InputStream(
                device=self.device, samplerate=self.sr, channels=self.channels, dtype="float32",
                blocksize=self.block, callback=self._callback, finished_callback=self._finished)
            self._stream.start()
        except Exception as exc:
            self._stream = None
            raise NoAudioDeviceError(f"Could not open '{self.name}' at {self.sr} Hz ({exc}).") from exc
        self._last_data = time.monotonic()
        self.reset_position()

    def check(self) -> None:
        if self.error is None and self._stream is not None:
            if time.monotonic() - self._last_data > self.stall_s:
                self.error = f"The input device '{self.name}' delivered no audio for {self.stall_s:.1f} s (disconnected?)."
        super().check()

    def stop(self) -> None:
        self._stopping = True
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:
                pass
