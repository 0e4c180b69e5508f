"""The Live workbench's state and operations, without Qt.

:class:`LiveSession` holds what the user works on in the Live tab: the settings
(:class:`LiveSettings`), the file that is open and its analysed :class:`FileResult`, and
the live engine with its scrolling images. The tab drives it (slow steps run as jobs on
its service: :func:`analyse`), tests and the CLI drive it directly::

    s = LiveSession()
    s.analyse_now("song.ogg")           # decode + analyse here (a job in the GUI)
    s.export("song.chroma.csv")         # the matrix the view shows, as CSV or NPY

Everything numeric the tab used to do itself lives here: the demo signal, the coercion of
the settings into :class:`~musiclab.analysis.streaming.AnalysisParams`, the rate of
analysis (the file's own by default, so a 48 kHz song is shown up to 24 kHz), beats and
the beat-synchronised image, the whole-file images, beat-line thinning and the shaping of
exported matrices. Nothing here imports librosa at module level.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..jobs import OnProgress, ShouldStop, check_stop, report
from .streaming import NOTE_NAMES, AnalysisParams

N_FFTS = tuple(2 ** k for k in range(8, 15))
OVERLAPS = ((0.5, "50 %"), (0.75, "75 %"), (0.875, "87.5 %"), (0.9375, "93.75 %"))
#: analysis rates offered besides the file's own (0)
RATES = (0, 22050, 16000)
#: beats are tracked at most at this rate: the tempo grid is fine enough there, and
#: librosa's tracker at 48 kHz costs several times as much for the same beats
BEAT_RATE = 22050
#: the live sources' rate before any device is chosen (the test signal's rate too)
DEFAULT_LIVE_SR = 48000
FEATURE_NAMES = ("stft", "mel", "chroma", "beat")


def demo_signal(sr: int, seconds: float = 8.0) -> np.ndarray:
    """A C-major arpeggio over a slow log sweep: something to look at without a microphone."""
    t = np.arange(int(sr * seconds)) / sr
    notes = [261.63, 329.63, 392.0, 523.25]
    idx = (t // 0.5).astype(int) % len(notes)
    f = np.array(notes)[idx]
    phase = 2 * np.pi * np.cumsum(f) / sr
    sweep = 0.15 * np.sin(2 * np.pi * 100 * seconds / np.log(80) * (80 ** (t / seconds) - 1))
    env = np.exp(-3 * (t % 0.5))
    y = 0.4 * env * (np.sin(phase) + 0.3 * np.sin(2 * phase)) + sweep
    return y.astype(np.float32)


def overlap_of(n_fft: int, hop: int) -> Optional[float]:
    """The named overlap (0.75 for 2048 / 512) or None when the hop is a custom one."""
    ov = 1 - hop / n_fft
    return next((v for v, _ in OVERLAPS if abs(v - ov) < 1e-9), None)


def hop_for_overlap(n_fft: int, overlap: float) -> int:
    return max(1, int(round(n_fft * (1 - overlap))))


def mel_band_hz(n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Centre frequencies of ``n_mels`` Slaney mel bands (what ``librosa.mel_frequencies``
    returns for the filter bank), in plain numpy: the empty axes need them before librosa
    is imported."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0

    def to_mel(hz: float) -> float:
        return hz / f_sp if hz < min_log_hz else min_log_mel + math.log(hz / min_log_hz) / logstep

    mels = np.linspace(to_mel(fmin), to_mel(fmax), n_mels + 2)
    hz = np.where(mels < min_log_mel, f_sp * mels, min_log_hz * np.exp(logstep * (mels - min_log_mel)))
    return hz[1:-1]


@dataclass
class LiveSettings:
    """The user's analysis choices (what the settings panel shows)."""

    n_fft: int = 2048
    hop: int = 512
    window: str = "hann"
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float = 0.0  # 0 = the Nyquist frequency of the analysed signal
    rate: int = 0  # 0 = the file's own rate; else analyse files at most at this rate
    freq_scale: str = "linear"  # or "log"
    rows: int = 1024  # spectrogram image rows

    def params(self, sr: int) -> AnalysisParams:
        """Validated :class:`AnalysisParams` at ``sr``; an fmin/fmax that does not fit the
        rate falls back to 0 / Nyquist instead of failing."""
        n_fft = int(self.n_fft)
        p = AnalysisParams(sr=int(sr), n_fft=n_fft, hop=max(1, min(int(self.hop), n_fft)), window=self.window,
                           n_mels=int(self.n_mels), fmin=float(self.fmin), fmax=float(self.fmax) or None)
        if p.fmax is not None and p.fmax <= p.fmin:
            p.fmax = None
        if p.fmin >= sr / 2:
            p.fmin = 0.0
        return p.validated()

    def analysis_rate(self, native: int) -> int:
        """The rate a file of rate ``native`` is analysed at (never above its own)."""
        return int(native) if not self.rate or self.rate >= native else int(self.rate)

    def analysis_key(self) -> tuple:
        """What the analysis (not only the images) depends on."""
        return (self.n_fft, self.hop, self.window, self.n_mels, self.fmin, self.fmax, self.rate)


@dataclass
class Audio:
    """A decoded file: mono float32 at its native rate (what the transport plays)."""

    y: np.ndarray
    sr: int
    name: str

    @property
    def duration(self) -> float:
        return len(self.y) / self.sr if self.sr else 0.0


@dataclass
class FileResult:
    """A whole file, analysed and turned into the images the views show.

    ``images``: ``stft`` (rows, frames) dB on the display rows, ``mel`` (bands, frames) dB,
    ``chroma`` and ``beat`` (12, frames) 0..1 (``beat`` holds each beat's median chroma over
    its frames). ``envelope``: (times in s, min, max) of the waveform.
    """

    audio: Audio
    analysis: object  # features.WholeFileAnalysis (time-major matrices at the analysis rate)
    settings: LiveSettings
    images: dict
    edges_hz: np.ndarray
    mel_freqs: np.ndarray
    envelope: tuple
    beat_times: np.ndarray
    tempo: float

    @property
    def name(self) -> str:
        return self.audio.name

    @property
    def sr(self) -> int:
        return int(self.analysis.sr)

    @property
    def hop(self) -> int:
        return int(self.analysis.params.hop)

    @property
    def duration(self) -> float:
        return self.audio.duration

    @property
    def nyquist(self) -> float:
        return self.sr / 2

    def summary(self) -> str:
        return (f"'{self.name}': {self.duration:.1f} s at {self.audio.sr} Hz, analysed at {self.sr} Hz "
                f"(up to {self.nyquist / 1000:.3g} kHz), tempo {self.tempo:.1f} BPM, {len(self.beat_times)} beats.")


# -- the whole-file pipeline (runs in a job) -----------------------------------------------
def beats_of(y: np.ndarray, sr: int, should_stop: ShouldStop = None) -> tuple[float, np.ndarray]:
    """(tempo, beat times) with librosa's tracker, on a copy at most at :data:`BEAT_RATE`."""
    from .features import beat_track

    if sr > BEAT_RATE:
        from ..audio.io import resample

        check_stop(should_stop)
        y, sr = resample(y, sr, BEAT_RATE), BEAT_RATE
    check_stop(should_stop)
    return beat_track(y, sr)


def beat_sync(chroma: np.ndarray, beat_times: np.ndarray, sr: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Median chroma per beat interval of time-major ``chroma`` ``(frames, 12)``:
    ``(beat_chroma (intervals, 12), interval bounds in s)`` (the first interval starts at 0,
    the last ends with the file)."""
    n = len(chroma)
    if not n:
        return np.zeros((0, 12), np.float32), np.zeros(0)
    bf = np.round(np.asarray(beat_times) * sr / hop).astype(int)
    bounds = np.unique(np.concatenate([[0], bf[(bf > 0) & (bf < n)], [n]]))
    sync = np.stack([np.median(chroma[a:b], axis=0) for a, b in zip(bounds[:-1], bounds[1:])])
    return sync.astype(np.float32), bounds * hop / sr


def beat_image(beat_chroma: np.ndarray, bounds_s: np.ndarray, sr: int, hop: int, frames: int) -> np.ndarray:
    """The beat-synchronised chroma spread back over the frames: ``(12, frames)`` float32."""
    img = np.zeros((12, max(int(frames), 1)), np.float32)
    if len(beat_chroma):
        b = np.clip(np.round(np.asarray(bounds_s) * sr / hop).astype(int), 0, frames)
        for i, (s, e) in enumerate(zip(b[:-1], b[1:])):
            img[:, s:e] = beat_chroma[i][:, None]
    return img


def make_images(analysis, settings: LiveSettings, should_stop: ShouldStop = None) -> dict:
    """The view images of a :class:`~musiclab.analysis.features.WholeFileAnalysis` (plus its
    mapper's edges and the mel band centres)."""
    from .display import file_images, mel_band_frequencies, waveform_envelope

    a = analysis
    check_stop(should_stop)
    imgs = file_images(a.power, a.mel, a.chroma, a.params, a.power_ref(), rows=settings.rows,
                       freq_scale=settings.freq_scale)
    mapper = imgs.pop("mapper")
    imgs["beat"] = beat_image(a.beat_chroma, a.beat_bounds, a.sr, a.params.hop, a.chroma.shape[0])
    t, lo, hi = waveform_envelope(a.y, 4000)
    return {"images": imgs, "edges_hz": np.asarray(mapper.edges_hz, float),
            "mel_freqs": np.asarray(mel_band_frequencies(a.params), float), "envelope": (t / a.sr, lo, hi)}


def analyse(source: Union[str, Path, Audio], settings: LiveSettings, prev: Optional[FileResult] = None,
            should_stop: ShouldStop = None, on_progress: OnProgress = None) -> FileResult:
    """Decode (a path) and analyse a whole file with ``settings``; a new :class:`FileResult`.

    With ``prev`` of the same audio and the same analysis settings only the images are
    made again (a change of frequency scale); equal settings return ``prev`` itself.
    """
    from .features import analyze_signal

    if isinstance(source, Audio):
        audio = source
    else:
        from ..audio.io import load_audio
        from ..errors import AudioFileError

        path = Path(source)
        check_stop(should_stop)
        report(on_progress, 0, 100, f"decoding {path.name}")
        y, sr = load_audio(path, sr=None, mono=True)
        if len(y) == 0:
            raise AudioFileError(f"'{path.name}' contains no audio samples.")
        audio = Audio(np.asarray(y, np.float32), int(sr), path.name)
    if prev is not None and prev.audio is audio and prev.settings.analysis_key() == settings.analysis_key():
        if prev.settings == settings:
            return prev
        report(on_progress, 90, 100, "images")
        return replace(prev, settings=replace(settings), **make_images(prev.analysis, settings, should_stop))

    rate = settings.analysis_rate(audio.sr)
    y = audio.y
    if rate != audio.sr:
        from ..audio.io import resample

        check_stop(should_stop)
        y = resample(y, audio.sr, rate)
    params = settings.params(rate)

    def spectro_progress(done, total, message=""):
        report(on_progress, 5 + 65 * done / max(total, 1), 100, "spectrogram")

    a = analyze_signal(y, rate, params, audio.name, beats=False, should_stop=should_stop,
                       on_progress=spectro_progress)
    a.play_y, a.play_sr = audio.y, audio.sr
    if len(a.chroma):
        report(on_progress, 70, 100, "beats")
        a.tempo, a.beat_times = beats_of(y, rate, should_stop)
        a.beat_chroma, a.beat_bounds = beat_sync(a.chroma, a.beat_times, a.sr, a.params.hop)
    check_stop(should_stop)
    report(on_progress, 92, 100, "images")
    made = make_images(a, settings, should_stop)
    report(on_progress, 100, 100, "done")
    return FileResult(audio, a, replace(settings), beat_times=np.asarray(a.beat_times, float),
                      tempo=float(a.tempo), **made)


# -- beat lines ------------------------------------------------------------------------------
def beat_marks(beat_times: np.ndarray, span_s: float, width_px: float, min_px: float = 8.0,
               per_bar: int = 4) -> tuple[np.ndarray, int]:
    """The beat lines worth drawing when ``span_s`` seconds take ``width_px`` pixels:
    ``(times, step)`` with every beat (step 1) while beats are ``min_px`` apart on screen,
    else every ``per_bar``-th beat (bar lines in 4/4, counted from the first beat), every
    4 bars, ...; step 0 and no times when there are none."""
    bt = np.asarray(beat_times, dtype=float)
    if len(bt) < 2 or span_s <= 0 or width_px <= 0:
        return bt, (1 if len(bt) else 0)
    gap_px = float(np.median(np.diff(bt))) / span_s * width_px
    step = 1
    while gap_px * step < min_px:
        step = per_bar if step == 1 else step * 4
    return bt[::step], step


# -- export shaping ----------------------------------------------------------------------------
def feature_from_name(path: Union[str, Path], default: str = "mel") -> str:
    """``x.mel.npy`` -> mel, ``x.chroma.csv`` -> chroma; ``default`` when the name says none."""
    parts = Path(path).name.lower().split(".")
    return next((f for f in FEATURE_NAMES if f in parts[:-1]), default)


def file_feature(result: FileResult, feature: str):
    """The matrix of one whole-file view as a :class:`~musiclab.analysis.features.Feature`:
    ``stft`` is dB re full scale on every FFT bin (labels: bin frequencies), ``mel`` and
    ``chroma`` / ``beat`` as shown (labels: band centres in Hz / pitch classes)."""
    from .features import Feature
    from .streaming import power_to_db

    a = result.analysis
    if feature == "stft":
        data = np.ascontiguousarray(power_to_db(a.power.copy(), ref=a.power_ref()).T)
        labels = [round(float(f), 2) for f in np.arange(data.shape[0]) * a.sr / a.params.n_fft]
    else:
        data = result.images[feature]
        labels = _labels(feature, data.shape[0], result.mel_freqs, result.edges_hz)
    times = np.arange(data.shape[1]) * a.params.hop / a.sr
    return Feature(feature, data, a.sr, a.params.hop, labels, times)


def live_feature(scroll, feature: str, mel_freqs: np.ndarray):
    """The newest history of a :class:`~musiclab.analysis.display.ScrollingViews` (times
    negative, 0 = now); ``beat`` exports the chroma (live views have no beats)."""
    from .features import Feature

    key = "chroma" if feature == "beat" else feature
    data = np.array(scroll.image(key))
    p = scroll.params
    times = (np.arange(data.shape[1]) - data.shape[1]) * p.hop / p.sr
    labels = _labels(feature, data.shape[0], mel_freqs, np.asarray(scroll.mapper.edges_hz, float))
    return Feature(feature, data, p.sr, p.hop, labels, times)


def _labels(feature: str, n: int, mel_freqs: np.ndarray, edges_hz: np.ndarray) -> list:
    if feature in ("chroma", "beat"):
        return list(NOTE_NAMES)
    if feature == "mel":
        return [round(float(f), 2) for f in mel_freqs][:n]
    return [round(float(f), 2) for f in edges_hz[:n]]


# -- the session ---------------------------------------------------------------------------------
@dataclass
class LiveSession:
    """The Live workbench's state. Not thread-safe: one owner (the tab, or a script) calls
    it; only :func:`analyse` runs elsewhere (a job), and its result comes back through
    :meth:`accept`."""

    settings: LiveSettings = field(default_factory=LiveSettings)
    path: Optional[Path] = None
    result: Optional[FileResult] = None
    engine: object = None  # streaming.LiveEngine of the running live source
    scroll: object = None  # display.ScrollingViews it fills
    frozen: bool = False

    # -- the file --------------------------------------------------------------------
    def open(self, path: Union[str, Path]) -> None:
        """Make ``path`` the current file (not decoded yet: submit :meth:`analysis_args`)."""
        self.path = Path(path)
        self.result = None

    @property
    def audio(self) -> Optional[Audio]:
        return self.result.audio if self.result is not None else None

    def analysis_args(self) -> tuple:
        """The arguments of :func:`analyse` for the current file and settings: the decoded
        audio when there is one (no second decode), else the path."""
        if self.path is None and self.result is None:
            from ..errors import MusiclabError

            raise MusiclabError("No file is open.")
        source = self.result.audio if self.result is not None else self.path
        return source, replace(self.settings), self.result

    def accept(self, result: FileResult) -> bool:
        """Take a finished analysis; returns True when it is the first one of this file."""
        first = self.result is None or self.result.audio is not result.audio
        self.result = result
        return first

    def failed(self) -> None:
        """The current file could not be analysed: forget it unless an earlier analysis of
        it is still there."""
        if self.result is None:
            self.path = None

    def analyse_now(self, path: Union[str, Path, None] = None, should_stop: ShouldStop = None,
                    on_progress: OnProgress = None) -> FileResult:
        """Open (if given) and analyse here, synchronously (scripts, the CLI, tests)."""
        if path is not None:
            self.open(path)
        self.accept(analyse(*self.analysis_args(), should_stop=should_stop, on_progress=on_progress))
        return self.result

    # -- live sources ----------------------------------------------------------------
    def start_live(self, source, history_s: float = 10.0):
        """A :class:`~musiclab.analysis.streaming.LiveEngine` on ``source`` with the current
        settings and a fresh scrolling history; returns the engine."""
        from .display import ScrollingViews
        from .streaming import LiveEngine

        self.engine = LiveEngine(source, self.settings.params(source.sr))
        self.scroll = ScrollingViews(self.engine.params, seconds=history_s, rows=self.settings.rows,
                                     freq_scale=self.settings.freq_scale,
                                     power_ref=self.engine.analyzer.power_ref)
        return self.engine

    def stop_live(self) -> None:
        self.engine = None

    def poll(self):
        """Drain the live source into the history (unless frozen); the new batch or None."""
        if self.engine is None:
            return None
        batch = self.engine.poll()
        if batch is not None and not self.frozen:
            self.scroll.append(batch)
        return batch

    def live_mel_freqs(self) -> np.ndarray:
        p = self.scroll.params
        return mel_band_hz(p.n_mels, p.fmin, p.fmax)

    def empty_axes(self, sr: int = DEFAULT_LIVE_SR) -> dict:
        """What the views show before anything arrives: 0 … Nyquist of ``sr``, the mel band
        centres there, for the current settings."""
        p = self.settings.params(sr)
        return {"nyquist": p.sr / 2, "fmin": p.fmin, "fmax": p.fmax, "scale": self.settings.freq_scale,
                "mel_freqs": mel_band_hz(p.n_mels, p.fmin, p.fmax)}

    # -- values and export -------------------------------------------------------------
    def value_at(self, key: str, col: int, row: int, live: bool) -> Optional[float]:
        if live and self.scroll is not None:
            return self.scroll.value_at(key, col, row)
        if not live and self.result is not None:
            img = self.result.images.get(key)
            if img is not None and 0 <= row < img.shape[0] and 0 <= col < img.shape[1]:
                return float(img[row, col])
        return None

    def feature(self, feature: str, live: bool = False):
        """The matrix to export: the whole file's (``live=False``) or the live history."""
        if feature not in FEATURE_NAMES:
            raise ValueError(f"feature must be one of {', '.join(FEATURE_NAMES)}")
        if not live and self.result is not None:
            return file_feature(self.result, feature)
        if self.scroll is not None:
            return live_feature(self.scroll, feature, self.live_mel_freqs())
        from ..errors import MusiclabError

        raise MusiclabError("Nothing to export yet: start a source or open a file.")

    def export(self, path: Union[str, Path], feature: Optional[str] = None, live: bool = False) -> Path:
        """Write a feature matrix as ``.npy`` / ``.csv`` (the feature from ``feature`` or
        the name: ``x.mel.npy``, ``x.chroma.csv``; default mel)."""
        from .features import save_feature

        return save_feature(self.feature(feature or feature_from_name(path), live), path)

    def to_dict(self) -> dict:
        return {"settings": asdict(self.settings), "path": str(self.path) if self.path else None}
