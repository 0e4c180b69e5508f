"""Ring buffer, fake/file sources and device robustness without PortAudio."""

import types

import numpy as np
import pytest

from musiclab.analysis.streaming import AnalysisParams, LiveEngine
from musiclab.audio import sources
from musiclab.audio.sources import FakeSource, FileSource, RingBuffer, SoundDeviceSource, list_input_devices
from musiclab.errors import NoAudioDeviceError


def test_ring_buffer_double_write_is_contiguous_and_exact():
    rng = np.random.default_rng(0)
    ring = RingBuffer(1000, 2)
    data = rng.standard_normal((5000, 2)).astype(np.float32)
    i = 0
    while i < len(data):
        n = int(rng.integers(1, 700))
        ring.write(data[i:i + n])
        i += n
        w = ring.written
        k = min(w, 1000)
        assert np.array_equal(ring.newest(k), data[w - k:w])
        s = w - int(rng.integers(0, k + 1))
        assert np.array_equal(ring.read(s, w), data[s:w])
    with pytest.raises(IndexError):
        ring.read(0, 10)  # long overwritten
    ring.write(data[:2500])  # a block larger than the ring keeps its newest part
    assert np.array_equal(ring.newest(1000), data[1500:2500])


@pytest.mark.parametrize("channels", [1, 2, 8])
def test_fake_source_channels_are_mixed_on_the_consumer_side(channels):
    sig = np.tile(np.linspace(-0.5, 0.5, 4000, dtype=np.float32)[:, None], (1, channels))
    sig[:, 0] *= 0.5
    src = FakeSource(sig, 8000, block=256)
    assert src.pump(4) == 4
    x = src.read()
    assert x.shape == (1024,)
    assert np.allclose(x, sig[:1024].mean(axis=1), atol=1e-6)
    assert len(src.level_db) == channels
    assert src.level_db[0] < src.level_db[-1] or channels == 1


def test_fake_source_ends_and_counts_drops():
    src = FakeSource(np.zeros(8000 * 10, np.float32), 8000, block=512, capacity_s=1.0)
    src.pump(40)  # 2.5 s without reading: the ring keeps 1 s
    x = src.read()
    assert len(x) == 8000
    assert src.dropped_blocks > 0
    src.pump(10_000)
    src.read()
    assert src.finished and not src.active


def test_device_disappearing_raises_typed_error_and_engine_stops():
    src = FakeSource(np.zeros(48000, np.float32), 48000, block=512, fail_after=5)
    eng = LiveEngine(src, AnalysisParams(n_fft=1024, hop=256))
    src.pump(5)
    assert eng.poll() is not None
    src.pump(1)
    with pytest.raises(NoAudioDeviceError, match="disappeared"):
        eng.poll()


def test_realtime_thread_feeds_and_stops():
    src = FakeSource(np.zeros(48000, np.float32), 48000, block=480, loop=True)
    src.start()
    try:
        import time
        time.sleep(0.15)
    finally:
        src.stop()
    n = src.available()
    assert n > 0 and n % 480 == 0
    assert src._thread is None


def test_file_source_follows_playhead_and_seeks():
    sr = 1000
    y = np.arange(10 * sr, dtype=np.float32)
    src = FileSource(y, sr, name="x.wav", prefill=100)
    src.advance_to(0.5)
    assert np.array_equal(src.read(), y[:500])
    src.advance_to(0.75)
    assert np.array_equal(src.read(), y[500:750])
    src.advance_to(5.0)  # a jump: restart with a short prefill
    assert src.discontinuity
    assert np.array_equal(src.read(), y[4900:5000])
    src.advance_to(2.0)  # backwards
    assert src.discontinuity
    src.advance_to(99.0)
    assert src.finished


def test_no_portaudio_gives_empty_list_and_typed_error(monkeypatch):
    def boom():
        raise NoAudioDeviceError("Audio input is unavailable: the PortAudio library was not found.")

    monkeypatch.setattr(sources, "_import_sounddevice", boom)
    devices, msg = list_input_devices()
    assert devices == [] and "PortAudio" in msg
    with pytest.raises(NoAudioDeviceError, match="PortAudio"):
        SoundDeviceSource()


def test_real_import_without_portaudio_never_crashes():
    devices, msg = list_input_devices()  # this machine has no sound card
    assert isinstance(devices, list) and isinstance(msg, str) and msg


class _FakeSD:
    """Just enough of the sounddevice API to exercise SoundDeviceSource."""

    def __init__(self, refuse_rate=None, devices=None):
        self.refuse_rate = refuse_rate
        self.devices = devices if devices is not None else [
            {"name": "USB Mic", "max_input_channels": 2, "default_samplerate": 48000.0, "hostapi": 0}]
        self.default = types.SimpleNamespace(device=(0, 0))
        self.streams = []

    def query_devices(self, device=None, kind=None):
        if device is None and kind is None:
            return self.devices
        ins = [d for d in self.devices if d["max_input_channels"] > 0]
        if not ins:
            raise ValueError("No input device matching")
        return ins[0] if device is None else self.devices[device]

    def query_hostapis(self):
        return [{"name": "ALSA"}]

    def check_input_settings(self, device=None, samplerate=None, channels=None, dtype=None):
        if samplerate == self.refuse_rate:
            raise ValueError("Invalid sample rate")

    def InputStream(self, **kw):
        sd = self

        class Stream:
            def __init__(self):
                self.kw = kw
                sd.streams.append(self)

            def start(self):
                pass

            def abort(self):
                pass

            def close(self):
                pass

        return Stream()


def test_device_paths_with_fake_sounddevice(monkeypatch):
    fake = _FakeSD(refuse_rate=44100)
    monkeypatch.setattr(sources, "_import_sounddevice", lambda: fake)
    devices, msg = list_input_devices()
    assert devices[0]["name"] == "USB Mic" and devices[0]["channels"] == 2
    with pytest.raises(NoAudioDeviceError, match="refuses 44100 Hz"):
        SoundDeviceSource(sr=44100)
    src = SoundDeviceSource(sr=48000, channels=8)  # asks for 8, device has 2
    assert src.channels == 2
    src.start()
    stream = fake.streams[-1]
    cb = stream.kw["callback"]
    block = np.full((512, 2), 0.25, np.float32)
    cb(block, 512, None, types.SimpleNamespace(input_overflow=True))
    assert np.allclose(src.read(), 0.25) and src.overflows == 1
    stream.kw["finished_callback"]()  # PortAudio ends the stream: device unplugged
    with pytest.raises(NoAudioDeviceError, match="stopped delivering"):
        src.read()
    src.stop()
    # choosing another device recovers
    src2 = SoundDeviceSource(sr=48000)
    src2.start()
    fake.streams[-1].kw["callback"](block[:, :1], 512, None, None)
    assert len(src2.read()) == 512
    src2.stop()
    monkeypatch.setattr(sources, "_import_sounddevice", lambda: _FakeSD(devices=[]))
    assert list_input_devices()[0] == []
    with pytest.raises(NoAudioDeviceError):
        SoundDeviceSource()
