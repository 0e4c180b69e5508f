"""Known signals give known answers (streaming views, whole-file view, beat tracker)."""

import numpy as np
import pytest

librosa = pytest.importorskip("librosa")

from musiclab.analysis.features import analyze_signal
from musiclab.analysis.streaming import NOTE_NAMES, AnalysisParams, StreamingAnalyzer

SR = 22050


def _tone(freqs, seconds=2.0, sr=SR):
    t = np.arange(int(sr * seconds)) / sr
    return (sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs) * 0.5).astype(np.float32)


def _stream(y, **kw):
    an = StreamingAnalyzer(AnalysisParams(sr=SR, **kw))
    return an, an.process_all(y, block=512)


def test_440_sine_peaks_at_A():
    an, b = _stream(_tone([440.0]))
    chroma = b.chroma.mean(axis=0)
    assert NOTE_NAMES[int(np.argmax(chroma))] == "A"
    assert chroma[9] > 2 * np.delete(chroma, 9).max()
    peak_hz = an.bin_frequencies()[int(np.argmax(b.power.mean(axis=0)))]
    assert abs(peak_hz - 440) < SR / 2048
    mel_f = librosa.mel_frequencies(n_mels=130, fmax=SR / 2)[1:-1]
    assert abs(mel_f[int(np.argmax(b.mel.mean(axis=0)))] - 440) < 40


def test_c_major_triad_lights_c_e_g():
    _, b = _stream(_tone([261.63, 329.63, 392.00]), n_fft=4096)
    chroma = b.chroma.mean(axis=0)
    top3 = {NOTE_NAMES[i] for i in np.argsort(chroma)[-3:]}
    assert top3 == {"C", "E", "G"}
    others = np.delete(chroma, [0, 4, 7])
    assert chroma[[0, 4, 7]].min() > 1.5 * others.max()


def test_chirp_climbs():
    y = librosa.chirp(fmin=200, fmax=4000, sr=SR, duration=3.0).astype(np.float32)
    an, b = _stream(y)
    f = an.bin_frequencies()[np.argmax(b.power, axis=1)]
    assert f[-1] > 3000 and f[0] < 400
    assert np.mean(np.diff(f) >= 0) > 0.95
    assert np.corrcoef(np.arange(len(f)), np.log(f))[0, 1] > 0.99


def test_whole_file_view_matches_librosa_centered_stft():
    y = _tone([440.0, 660.0], seconds=1.5)
    a = analyze_signal(y, SR, AnalysisParams(n_fft=1024, hop=256), beats=False)
    S = np.abs(librosa.stft(y, n_fft=1024, hop_length=256, center=True, pad_mode="constant")) ** 2
    assert a.power.shape == S.T.shape
    assert np.max(np.abs(a.power - S.T)) <= 1e-5 * S.max()
    assert np.allclose(a.frame_times, librosa.frames_to_time(np.arange(S.shape[1]), sr=SR, hop_length=256))


def test_click_track_120_bpm_beats_on_clicks():
    # one beat-tracker test only: librosa's first call compiles numba code (~10 s)
    clicks = np.arange(0.5, 20.0, 0.5)
    y = librosa.clicks(times=clicks, sr=SR, length=int(20.5 * SR), click_freq=1500.0).astype(np.float32)
    a = analyze_signal(y * 0.5, SR, AnalysisParams(n_fft=2048, hop=512), beats=True)
    assert abs(a.tempo - 120.0) < 2.5
    assert len(a.beat_times) >= 30
    err = np.min(np.abs(a.beat_times[:, None] - clicks[None, :]), axis=1)
    assert np.max(err) < 0.05  # every beat within 50 ms (about 2 frames) of a click
    assert a.beat_chroma.shape[1] == 12 and a.beat_chroma.shape[0] == len(a.beat_bounds) - 1
    assert len(a.beat_chroma) < a.chroma.shape[0] / 10
