"""The Live workbench's Qt-free session: settings, whole-file analysis, beats, export."""

import sys

import numpy as np
import pytest

from musiclab.analysis.session import (Audio, LiveSession, LiveSettings, analyse, beat_image, beat_marks,
                                       beat_sync, demo_signal, feature_from_name, hop_for_overlap,
                                       mel_band_hz, overlap_of)
from musiclab.audio.io import save_audio
from musiclab.audio.sources import FakeSource
from musiclab.errors import MusiclabError
from conftest import data_file


def _tone(freq, seconds, sr, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _clicks(sr, seconds, bpm=120.0):
    import librosa

    times = np.arange(0.5, seconds - 0.5, 60.0 / bpm)
    return 0.5 * librosa.clicks(times=times, sr=sr, length=int(seconds * sr), click_freq=1500.0).astype(np.float32)


def test_session_module_needs_no_qt_and_no_librosa_at_import():
    import subprocess

    code = ("import sys, musiclab.analysis.session; "
            "print(sorted(m for m in ('PySide6', 'pyqtgraph', 'librosa', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_demo_signal_is_a_c_major_arpeggio():
    sr = 22050
    y = demo_signal(sr, 2.0)
    assert y.dtype == np.float32 and len(y) == 2 * sr and np.abs(y).max() < 1.0
    seg = y[int(0.05 * sr):int(0.45 * sr)]  # the first note: C4
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    f = np.fft.rfftfreq(len(seg), 1 / sr)
    assert abs(f[np.argmax(spec * (f > 150))] - 261.63) < 5


def test_overlap_and_hop():
    assert overlap_of(2048, 512) == 0.75
    assert overlap_of(4096, 512) == 0.875
    assert overlap_of(2048, 500) is None
    assert hop_for_overlap(4096, 0.75) == 1024


def test_mel_band_centres_match_librosa():
    import librosa

    for n, lo, hi in ((128, 0.0, 11025.0), (40, 50.0, 24000.0), (8, 0.0, 8000.0)):
        ours = mel_band_hz(n, lo, hi)
        ref = librosa.mel_frequencies(n_mels=n + 2, fmin=lo, fmax=hi)[1:-1]
        np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6)


def test_settings_coercion_and_rate():
    s = LiveSettings(fmin=30000.0, fmax=0.0)
    p = s.params(22050)
    assert p.fmin == 0.0 and p.fmax == 11025.0  # fmin above Nyquist falls back to 0
    p = LiveSettings(fmin=500.0, fmax=200.0).params(48000)
    assert p.fmax == 24000.0  # fmax below fmin: Nyquist
    assert LiveSettings(hop=4096, n_fft=1024).params(48000).hop == 1024
    assert LiveSettings().analysis_rate(48000) == 48000  # the file's own rate by default
    assert LiveSettings(rate=22050).analysis_rate(48000) == 22050
    assert LiveSettings(rate=22050).analysis_rate(16000) == 16000  # never above the file's rate


def test_a_48k_file_is_analysed_up_to_its_nyquist(tmp_path):
    sr = 48000
    path = tmp_path / "high tone.wav"
    save_audio(path, _tone(15000.0, 2.0, sr), sr)
    r = analyse(path, LiveSettings())
    assert r.sr == 48000 and r.audio.sr == 48000 and r.nyquist == 24000.0
    assert r.edges_hz[-1] == pytest.approx(24000.0)
    stft = r.images["stft"]
    centre = (r.edges_hz[:-1] + r.edges_hz[1:]) / 2
    peak_hz = centre[int(np.argmax(stft[:, stft.shape[1] // 2]))]
    assert abs(peak_hz - 15000) < 50
    # at 22,050 Hz the same tone is above Nyquist: the user's choice, shown as such
    low = analyse(r.audio, LiveSettings(rate=22050))
    assert low.sr == 22050 and low.edges_hz[-1] == pytest.approx(11025.0)
    assert low.audio is r.audio  # no second decode


def test_reanalysis_reuses_what_it_can(tmp_path):
    sr = 22050
    audio = Audio(_tone(440.0, 2.0, sr), sr, "a")
    s = LiveSettings()
    r1 = analyse(audio, s)
    assert analyse(audio, s, r1) is r1  # nothing changed
    r2 = analyse(audio, LiveSettings(freq_scale="log"), r1)
    assert r2.analysis is r1.analysis and r2.edges_hz[0] >= 20.0  # only the images again
    assert r2.images["stft"].shape == r1.images["stft"].shape
    r3 = analyse(audio, LiveSettings(n_fft=4096), r1)
    assert r3.analysis is not r1.analysis and r3.analysis.params.n_fft == 4096


def test_beats_of_a_click_track_and_the_beat_image():
    sr = 22050
    r = analyse(Audio(_clicks(sr, 12.0), sr, "clicks"), LiveSettings())
    assert r.tempo == pytest.approx(120.0, abs=2.5)
    assert len(r.beat_times) >= 18
    a = r.analysis
    img = r.images["beat"]
    assert img.shape == (12, a.chroma.shape[0])
    sync, bounds = beat_sync(a.chroma, r.beat_times, a.sr, a.params.hop)
    assert len(bounds) == len(sync) + 1 and bounds[0] == 0.0
    # each beat interval holds one constant column: the median of its frames
    mid = int(round((bounds[2] + bounds[3]) / 2 * a.sr / a.params.hop))
    np.testing.assert_allclose(img[:, mid], sync[2])
    assert beat_image(np.zeros((0, 12)), np.zeros(0), sr, 512, 5).shape == (12, 5)


def test_beat_lines_thin_out_when_dense():
    bt = np.arange(566) * (360.0 / 566)  # 566 beats in a 6-minute song
    times, step = beat_marks(bt, 360.0, 870)  # the whole song on 870 pixels
    assert step >= 4 and len(times) <= 566 / 4 + 1
    assert np.median(np.diff(times)) / 360.0 * 870 >= 8  # lines at least 8 px apart
    times, step = beat_marks(bt, 10.0, 870)  # zoomed in to 10 s: every beat
    assert step == 1 and len(times) == 566
    assert beat_marks(np.zeros(0), 10.0, 870)[1] == 0


def test_session_export_and_feature_names(tmp_path):
    assert feature_from_name("x.chroma.csv") == "chroma" and feature_from_name("x.npy") == "mel"
    assert feature_from_name("my.stft.npy") == "stft"
    s = LiveSession()
    with pytest.raises(MusiclabError):
        s.export(tmp_path / "nothing.mel.npy")
    sr = 22050
    path = tmp_path / "tone 'A'.wav"
    save_audio(path, _tone(440.0, 3.0, sr), sr)
    r = s.analyse_now(path)
    assert s.path == path and r.duration == pytest.approx(3.0, abs=0.01)
    n = r.analysis.mel.shape[0]
    assert np.load(s.export(tmp_path / "f.mel.npy")).shape == (128, n)
    stft = np.load(s.export(tmp_path / "f.stft.npy"))
    assert stft.shape == (1025, n)
    header = s.export(tmp_path / "f.chroma.csv").read_text().splitlines()[0]
    assert header == "time_s,C,C#,D,D#,E,F,F#,G,G#,A,A#,B"
    feat = s.feature("stft")
    assert feat.labels[1] == pytest.approx(sr / 2048, abs=0.01)  # bin frequencies, not display rows
    chroma = s.feature("chroma")
    assert int(np.argmax(chroma.data.mean(axis=1))) == 9  # A


def test_live_history_through_the_session():
    sr = 48000
    s = LiveSession()
    src = FakeSource(_tone(440.0, 3.0, sr), sr, block=512)
    s.start_live(src, history_s=5.0)
    for _ in range(100):
        src.pump(2)
        s.poll()
    assert s.scroll.frames > 100
    frames = s.scroll.frames
    s.frozen = True
    src.pump(10)
    s.poll()
    assert s.scroll.frames == frames
    feat = s.feature("chroma", live=True)
    assert feat.times[-1] < 0 and int(np.argmax(feat.data[:, -20:].mean(axis=1))) == 9
    mel = s.feature("mel", live=True)
    assert len(mel.labels) == 128 and mel.labels[-1] < 24000
    s.stop_live()
    assert s.engine is None and s.poll() is None


def test_a_broken_file_fails_and_is_forgotten(tmp_path):
    bad = tmp_path / "broken.ogg"
    bad.write_bytes(b"OggS garbage")
    s = LiveSession()
    s.open(bad)
    with pytest.raises(MusiclabError, match="broken.ogg"):
        analyse(*s.analysis_args())
    s.failed()
    assert s.path is None and s.audio is None
    with pytest.raises(MusiclabError):
        s.analysis_args()


def test_a_real_48k_song_shows_its_highs():
    """Eight seconds of a 48 kHz song from the shared data: the spectrogram goes past the
    11 kHz where a 22,050 Hz analysis stops, and there is music up there."""
    import soundfile as sf

    path = data_file("audio", "singularity", "Chimes They Fade.ogg")
    y, sr = sf.read(str(path), start=10 * 48000, frames=8 * 48000, dtype="float32", always_2d=True)
    assert sr == 48000
    r = analyse(Audio(y.mean(axis=1), sr, path.name), LiveSettings())
    assert r.sr == 48000 and r.edges_hz[-1] == pytest.approx(24000.0)
    centre = (r.edges_hz[:-1] + r.edges_hz[1:]) / 2
    db = r.images["stft"]
    high = db[(centre > 12000) & (centre < 16000)].mean()
    assert high > -100  # not the -120 dB floor: there is content above 11 kHz
