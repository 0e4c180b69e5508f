"""Audio loading, streaming and saving: real formats, bad input, typed errors."""

import numpy as np
import pytest
import soundfile as sf

from musiclab.audio.io import audio_info, expand_paths, iter_blocks, load_audio, save_audio
from musiclab.errors import AudioFileError

from conftest import data_file


def sine(sr, seconds=0.5, freq=440.0, channels=1, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    y = amp * np.sin(2 * np.pi * freq * t)
    return np.stack([y * (0.5 + 0.5 * c / max(1, channels)) for c in range(channels)], axis=1)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT"])
def test_bit_depths_load_to_float32(tmp_path, subtype):
    sr = 16000
    x = sine(sr)
    p = tmp_path / f"s {subtype}'s.wav"
    sf.write(p, x, sr, subtype=subtype)
    y, got_sr = load_audio(p)
    assert got_sr == sr and y.dtype == np.float32 and y.shape == (len(x),)
    tol = 0.02 if subtype == "PCM_U8" else 1e-3
    assert np.max(np.abs(y - x[:, 0])) < tol


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 96000, 192000])
def test_sample_rates_and_resampling(tmp_path, sr):
    p = tmp_path / "rate.flac"
    sf.write(p, sine(sr, freq=1000), sr)
    y, got = load_audio(p, sr=22050)
    assert got == 22050
    assert abs(len(y) - 0.5 * 22050) <= 2
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    peak_hz = np.argmax(spec) * 22050 / len(y)
    assert abs(peak_hz - 1000) < 5


@pytest.mark.parametrize("channels", [1, 2, 6, 8])
def test_channels_kept_or_mixed(tmp_path, channels):
    sr = 8000
    x = sine(sr, channels=channels)
    p = tmp_path / "ch.wav"
    sf.write(p, x, sr)
    y, _ = load_audio(p, mono=False)
    assert y.shape == ((len(x),) if channels == 1 else (channels, len(x)))
    m, _ = load_audio(p, mono=True)
    assert np.allclose(m, x.mean(axis=1), atol=1e-4)
    info = audio_info(p)
    assert info.channels == channels and info.sample_rate == sr
    assert info.peak_dbfs == pytest.approx(20 * np.log10(np.max(np.abs(x))), abs=0.1)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioFileError, match="empty"):
        load_audio(p)


def test_not_audio(tmp_path):
    p = tmp_path / "notes.mp3"
    p.write_text("this is not audio at all " * 50)
    with pytest.raises(AudioFileError, match="notes.mp3"):
        load_audio(p)
    with pytest.raises(AudioFileError):
        audio_info(p)


def test_a_renamed_text_file_is_refused_without_starting_ffmpeg(tmp_path, monkeypatch):
    """A folder of thousands of renamed text files must not start ffmpeg once per file."""
    import musiclab.audio.io as aio

    started = []
    monkeypatch.setattr(aio.subprocess, "run", lambda *a, **k: started.append(a) or (_ for _ in ()).throw(
        AssertionError("ffmpeg started")))
    p = tmp_path / "lyrics.ogg"
    p.write_text("Verse 1 — la la la, über alles\n" * 300)  # > 4 KB, non-ASCII text
    with pytest.raises(AudioFileError, match="text file"):
        audio_info(p, peak=False)
    assert not started


def test_truncated_file_gives_audio_or_error(tmp_path):
    p = tmp_path / "cut.wav"
    sf.write(p, sine(16000, seconds=2.0), 16000)
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2 + 1])
    try:
        y, sr = load_audio(p)
    except AudioFileError as exc:
        assert "cut.wav" in str(exc)
    else:
        assert sr == 16000 and 0 < len(y) <= 32000 and np.all(np.isfinite(y))


def test_midi_is_not_audio(tmp_path):
    p = tmp_path / "tune.mid"
    p.write_bytes(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60")
    with pytest.raises(AudioFileError, match="MIDI"):
        load_audio(p)


def test_missing_file():
    with pytest.raises(AudioFileError, match="not found"):
        load_audio("/nonexistent/x.wav")


def test_offset_and_duration(tmp_path):
    sr = 8000
    x = np.arange(sr * 3, dtype=np.float32) / (sr * 3)
    p = tmp_path / "ramp.wav"
    sf.write(p, x, sr, subtype="FLOAT")
    y, _ = load_audio(p, offset=1.0, duration=0.5)
    assert len(y) == sr // 2 and y[0] == pytest.approx(x[sr])


def test_streaming_matches_whole_file_resample(tmp_path):
    sr = 44100
    x = sine(sr, seconds=3.0, freq=330)[:, 0].astype(np.float32)
    p = tmp_path / "stream.wav"
    sf.write(p, x, sr, subtype="FLOAT")
    whole, _ = load_audio(p, sr=22050)
    blocks = [b for b, _ in iter_blocks(p, 4096, sr=22050)]
    streamed = np.concatenate(blocks)
    n = min(len(whole), len(streamed))
    assert abs(len(whole) - len(streamed)) < 64
    assert np.max(np.abs(whole[1000:n - 1000] - streamed[1000:n - 1000])) < 1e-3


def test_hour_long_file_is_streamed_in_bounded_blocks(tmp_path):
    sr = 8000
    p = tmp_path / "hour.wav"
    with sf.SoundFile(p, "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        block = (0.25 * np.sin(np.arange(sr * 60) * 0.05)).astype(np.float32)
        for _ in range(60):
            f.write(block)
    info = audio_info(p)
    assert info.duration == pytest.approx(3600.0)
    assert info.peak_dbfs == pytest.approx(20 * np.log10(0.25), abs=0.1)
    biggest = max(len(b) for b, _ in iter_blocks(p, 65536))
    assert biggest <= 65536


@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg", ".mp3"])
def test_save_roundtrip(tmp_path, ext):
    sr = 44100
    x = sine(sr, seconds=1.0, channels=2).T.astype(np.float32)
    p = save_audio(tmp_path / f"out{ext}", x, sr)
    y, got = load_audio(p, mono=False)
    assert got == sr and y.shape[0] == 2
    n = min(y.shape[1], x.shape[1])
    # lossy codecs shift and smear a little; compare energy and the spectral peak
    assert abs(np.sqrt(np.mean(y ** 2)) - np.sqrt(np.mean(x ** 2))) < 0.05
    spec = np.abs(np.fft.rfft(y[0, :n]))
    assert abs(np.argmax(spec) * sr / n - 440) < 3
    assert not list(tmp_path.glob(".*partial*"))


def test_save_rejects_unknown_extension(tmp_path):
    with pytest.raises(AudioFileError, match="choose one of"):
        save_audio(tmp_path / "x.xyz", np.zeros(10), 8000)


def test_real_shared_ogg_loads():
    p = data_file("audio", "librosa")
    f = sorted(p.glob("*.ogg"))[0]
    y, sr = load_audio(f, duration=2.0)
    assert sr > 8000 and len(y) == pytest.approx(2.0 * sr, abs=2) and np.max(np.abs(y)) > 0.001


def test_expand_paths_recurses_and_sorts(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ["b/z.wav", "a.mid", "b/readme.txt", "c.ogg"]:
        (tmp_path / name).write_bytes(b"x")
    got = [q.relative_to(tmp_path).as_posix() for q in expand_paths([tmp_path])]
    assert got == ["a.mid", "b/z.wav", "c.ogg"]


@pytest.mark.parametrize("ext,fmt", [(".aiff", "AIFF"), (".aif", "AIFF")])
def test_aiff_loads(tmp_path, ext, fmt):
    sr = 44100
    x = sine(sr, channels=2)
    p = tmp_path / f"take{ext}"
    sf.write(p, x, sr, format=fmt, subtype="PCM_24")
    y, got = load_audio(p, mono=False)
    assert got == sr and y.shape == (2, len(x))
    assert np.max(np.abs(y - x.T)) < 1e-4
    assert audio_info(p).format == "AIFF"
