"""The streaming frame processor equals librosa's offline STFT, mel and chroma.

Stated tolerance: for every window type and for random block sizes (1..3000 samples),
``max|streaming - librosa| <= 1e-5 * max|librosa|`` for the power spectrogram and the
mel spectrogram, and ``<= 1e-5`` absolute for chroma (values in 0..1). librosa is run
with ``center=False`` (the stream cannot look ahead) and ``tuning=0.0`` for chroma.
"""

import numpy as np
import pytest

librosa = pytest.importorskip("librosa")

from musiclab.analysis.streaming import (AnalysisParams, DisplayMapper, StreamingAnalyzer, WINDOWS,
                                         concat_batches, hz_to_note_name, power_to_db)

TOL = 1e-5


def _signal(sr, seconds=2.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    y = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1234.5 * t * (1 + t))
    return (y + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


def _stream(analyzer, y, seed=1):
    rng = np.random.default_rng(seed)
    parts, i = [], 0
    while i < len(y):
        n = int(rng.integers(1, 3000))
        analyzer.push(y[i:i + n])
        i += n
        b = analyzer.process()
        if b is not None:
            parts.append(b)
    return concat_batches(parts)


@pytest.mark.parametrize("window", WINDOWS)
def test_streaming_matches_librosa_all_views(window):
    sr, n_fft, hop = 22050, 2048, 512
    y = _signal(sr)
    p = AnalysisParams(sr=sr, n_fft=n_fft, hop=hop, window=window, n_mels=64, fmin=30.0, fmax=9000.0)
    got = _stream(StreamingAnalyzer(p), y)
    S = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, window=window, center=False)) ** 2
    M = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop, window=window,
                                       center=False, n_mels=64, fmin=30.0, fmax=9000.0)
    C = librosa.feature.chroma_stft(y=y, sr=sr, n_fft=n_fft, hop_length=hop, window=window,
                                    center=False, tuning=0.0)
    assert got.power.shape == S.T.shape and got.mel.shape == M.T.shape and got.chroma.shape == C.T.shape
    assert np.max(np.abs(got.power - S.T)) <= TOL * S.max()
    assert np.max(np.abs(got.mel - M.T)) <= TOL * M.max()
    assert np.max(np.abs(got.chroma - C.T)) <= TOL


def test_streaming_other_sizes_and_silence():
    sr = 48000
    y = np.concatenate([np.zeros(sr // 2, np.float32), _signal(sr, 1.0)])
    p = AnalysisParams(sr=sr, n_fft=4096, hop=1000, n_mels=128)
    got = _stream(StreamingAnalyzer(p), y, seed=5)
    S = np.abs(librosa.stft(y, n_fft=4096, hop_length=1000, center=False)) ** 2
    C = librosa.feature.chroma_stft(y=y, sr=sr, n_fft=4096, hop_length=1000, center=False, tuning=0.0)
    assert np.max(np.abs(got.power - S.T)) <= TOL * S.max()
    assert np.max(np.abs(got.chroma - C.T)) <= TOL  # silent columns stay 0 as in librosa
    assert np.all(got.chroma[0] == 0)


def test_falling_behind_skips_frames_instead_of_growing():
    p = AnalysisParams(sr=8000, n_fft=256, hop=128)
    an = StreamingAnalyzer(p, capacity_s=1.0)
    an.push(np.zeros(8000 * 3, np.float32))  # 3 s pushed, ring holds 1 s
    b = an.process()
    assert an.dropped_frames > 0
    assert len(b) <= 8000 // 128
    assert an.pending_frames() == 0


def test_params_validation():
    with pytest.raises(ValueError):
        AnalysisParams(n_fft=100).validated()
    with pytest.raises(ValueError):
        AnalysisParams(n_fft=1024, hop=2048).validated()
    with pytest.raises(ValueError):
        AnalysisParams(window="kaiser").validated()
    assert AnalysisParams(sr=16000, fmax=None).validated().fmax == 8000


def test_note_names_and_db():
    assert hz_to_note_name(440.0) == "A4"
    assert hz_to_note_name(261.63) == "C4"
    assert hz_to_note_name(27.5) == "A0"
    assert hz_to_note_name(0) == ""
    db = power_to_db(np.array([1.0, 0.01, 0.0], np.float32))
    assert np.allclose(db, librosa.power_to_db(np.array([1.0, 0.01, 0.0]), top_db=None), atol=1e-4)


@pytest.mark.parametrize("scale", ["linear", "log"])
def test_display_mapper_keeps_peak_in_right_row(scale):
    sr, n_fft = 48000, 4096
    m = DisplayMapper(sr, n_fft, rows=1024, scale=scale, fmax=sr / 2)
    col = np.zeros((1, n_fft // 2 + 1), np.float32)
    k = int(round(1000 * n_fft / sr))  # bin of 1 kHz
    col[0, k] = 1.0
    rows = m.map(col)
    assert rows.shape == (1, 1024)
    r = int(np.argmax(rows[0]))
    assert abs(m.row_to_hz(r + 0.5) - 1000) < (60 if scale == "linear" else 30)


def test_scrolling_views_keep_newest_columns_in_order():
    from musiclab.analysis.display import ScrollingViews

    sr = 8000
    p = AnalysisParams(sr=sr, n_fft=512, hop=128, n_mels=32)
    y = _signal(sr, 3.0)
    full = StreamingAnalyzer(p).process_all(y, block=4096)
    views = ScrollingViews(p, seconds=1.0, rows=64)
    an = StreamingAnalyzer(p)
    rng = np.random.default_rng(3)
    i = 0
    while i < len(y):
        n = int(rng.integers(1, 2500))
        an.push(y[i:i + n])
        i += n
        views.append(an.process())
    W = views.columns
    assert views.frames == len(full)
    assert np.allclose(views.image("chroma"), full.chroma[-W:].T)
    assert np.allclose(views.image("mel"), power_to_db(full.mel[-W:].T.copy()), atol=1e-3)
    assert np.allclose(views.image("wave")[1], full.wave[-W:, 1])
    big = ScrollingViews(p, seconds=1.0, rows=64)
    big.append(full)  # one batch longer than the history
    assert np.allclose(big.image("chroma"), views.image("chroma"))
