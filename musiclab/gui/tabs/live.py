"""The Live tab: scrolling spectrogram, mel spectrogram, chromagram and waveform.

Sources: an input device (sounddevice), a generated test signal, the file the
transport is playing (the view follows the playhead), or a whole file (a zoomable
view with beat markers and a beat-synchronised chromagram, computed in the "live"
service). A ~50 Hz QTimer drains the live source; the audio callback only copies into
a ring buffer. Tests inject a :class:`~musiclab.audio.sources.FakeSource` with
:meth:`LiveTab.set_source`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QProgressBar, QPushButton, QScrollArea, QSpinBox,
                               QVBoxLayout, QWidget)

from ...analysis.streaming import WINDOWS, AnalysisParams, LiveEngine
from ...audio.sources import AudioSource, FakeSource, FileSource
from ...errors import MusiclabError, NoAudioDeviceError
from ..widgets.live_views import COLORMAPS, LiveViews
from .base import WorkbenchTab

MODES = ("device", "test", "playing", "file")
MODE_TITLES = {"device": "Input device", "test": "Test signal (tones + sweep)",
               "playing": "Playing file (follows the transport)", "file": "Analyse whole file"}
N_FFTS = [2 ** k for k in range(8, 15)]
OVERLAPS = [(0.5, "50 %"), (0.75, "75 %"), (0.875, "87.5 %"), (0.9375, "93.75 %")]


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


class LiveTab(WorkbenchTab):
    key = "live"
    title = "Live"

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self._source: Optional[AudioSource] = None
        self._engine: Optional[LiveEngine] = None
        self._scroll = None
        self._frozen = False
        self._file_path: Optional[Path] = None
        self._file_audio: Optional[tuple] = None  # (y, sr, label) native rate
        self._analysis = None  # WholeFileAnalysis
        self._file_images = None
        self._rendered = False
        self._pending_rid = None
        self._devices: list[dict] = []
        self._service = None
        self._build_ui()
        self._timer = QTimer(self)
        self._timer.setInterval(20)  # 50 Hz, like Friture
        self._timer.timeout.connect(self._tick)
        self._reanalyse = QTimer(self)
        self._reanalyse.setSingleShot(True)
        self._reanalyse.setInterval(300)
        self._reanalyse.timeout.connect(self._submit_file_analysis)
        self.refresh_devices()
        self._apply_display()

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        self.views = LiveViews(self)
        self.views.cursor_moved.connect(self._show_readout)
        self.views.set_value_source(self._value_at)

        panel = QWidget()
        pl = QVBoxLayout(panel)
        pl.setContentsMargins(4, 4, 4, 4)

        # source
        g = QGroupBox("Source")
        f = QFormLayout(g)
        self.mode_box = QComboBox()
        for m in MODES:
            self.mode_box.addItem(MODE_TITLES[m], m)
        self.mode_box.setToolTip("Where the audio comes from")
        self.mode_box.currentIndexChanged.connect(self._mode_changed)
        f.addRow("Mode", self.mode_box)
        row = QHBoxLayout()
        self.device_box = QComboBox()
        self.device_box.setToolTip("Input devices found by PortAudio")
        self.device_box.setMinimumContentsLength(14)
        row.addWidget(self.device_box, 1)
        self.refresh_btn = QPushButton("↻")
        self.refresh_btn.setToolTip("Look for input devices again")
        self.refresh_btn.setFixedWidth(28)
        self.refresh_btn.clicked.connect(self.refresh_devices)
        row.addWidget(self.refresh_btn)
        f.addRow("Device", row)
        self.start_btn = QPushButton("Start")
        self.start_btn.setToolTip("Start or stop the live view (Ctrl+R)")
        self.start_btn.setCheckable(True)
        self.start_btn.clicked.connect(self._start_clicked)
        self.freeze_btn = QPushButton("Freeze")
        self.freeze_btn.setCheckable(True)
        self.freeze_btn.setToolTip("Hold the picture; audio keeps being read (F)")
        self.freeze_btn.toggled.connect(self.set_frozen)
        r2 = QHBoxLayout()
        r2.addWidget(self.start_btn)
        r2.addWidget(self.freeze_btn)
        f.addRow(r2)
        self.level = QProgressBar()
        self.level.setRange(-60, 0)
        self.level.setValue(-60)
        self.level.setFormat("%v dBFS")
        self.level.setToolTip("Input peak level")
        f.addRow("Level", self.level)
        self.stats_label = QLabel("—")
        self.stats_label.setToolTip("PortAudio overflows / blocks dropped because the view fell behind")
        f.addRow("Overflows", self.stats_label)
        self.source_msg = QLabel("")
        self.source_msg.setWordWrap(True)
        self.source_msg.setStyleSheet("color: #9ab;")
        f.addRow(self.source_msg)
        pl.addWidget(g)

        # analysis
        g = QGroupBox("Analysis")
        f = QFormLayout(g)
        self.nfft_box = QComboBox()
        for n in N_FFTS:
            self.nfft_box.addItem(str(n), n)
        self.nfft_box.setCurrentIndex(N_FFTS.index(2048))
        self.nfft_box.setToolTip("FFT size: longer windows resolve frequency better, time worse")
        f.addRow("n_fft", self.nfft_box)
        self.hop_spin = QSpinBox()
        self.hop_spin.setRange(32, 16384)
        self.hop_spin.setValue(512)
        self.hop_spin.setSuffix(" samples")
        self.hop_spin.setToolTip("Hop between frames; overlap = 1 - hop / n_fft")
        f.addRow("Hop", self.hop_spin)
        self.overlap_box = QComboBox()
        self.overlap_box.addItem("custom", None)
        for v, label in OVERLAPS:
            self.overlap_box.addItem(label, v)
        self.overlap_box.setToolTip("Set the hop from an overlap")
        f.addRow("Overlap", self.overlap_box)
        self.window_box = QComboBox()
        for w in WINDOWS:
            self.window_box.addItem(w.capitalize(), w)
        f.addRow("Window", self.window_box)
        self.mels_spin = QSpinBox()
        self.mels_spin.setRange(8, 512)
        self.mels_spin.setValue(128)
        f.addRow("Mel bands", self.mels_spin)
        self.fmin_spin = QDoubleSpinBox()
        self.fmin_spin.setRange(0, 20000)
        self.fmin_spin.setSuffix(" Hz")
        self.fmin_spin.setDecimals(0)
        f.addRow("fmin", self.fmin_spin)
        self.fmax_spin = QDoubleSpinBox()
        self.fmax_spin.setRange(0, 48000)
        self.fmax_spin.setSuffix(" Hz")
        self.fmax_spin.setDecimals(0)
        self.fmax_spin.setSpecialValueText("Nyquist")
        f.addRow("fmax", self.fmax_spin)
        pl.addWidget(g)

        # display
        g = QGroupBox("Display")
        f = QFormLayout(g)
        self.scale_box = QComboBox()
        self.scale_box.addItem("Linear", "linear")
        self.scale_box.addItem("Logarithmic", "log")
        self.scale_box.setToolTip("Frequency axis of the spectrogram")
        f.addRow("Frequency", self.scale_box)
        self.dbmin_spin = QDoubleSpinBox()
        self.dbmin_spin.setRange(-160, 0)
        self.dbmin_spin.setValue(-100)
        self.dbmin_spin.setSuffix(" dB")
        self.dbmax_spin = QDoubleSpinBox()
        self.dbmax_spin.setRange(-150, 40)
        self.dbmax_spin.setValue(0)
        self.dbmax_spin.setSuffix(" dB")
        r3 = QHBoxLayout()
        r3.addWidget(self.dbmin_spin)
        r3.addWidget(QLabel("to"))
        r3.addWidget(self.dbmax_spin)
        f.addRow("Range", r3)
        self.cmap_box = QComboBox()
        for c in COLORMAPS:
            self.cmap_box.addItem(c, c)
        f.addRow("Colours", self.cmap_box)
        self.history_spin = QDoubleSpinBox()
        self.history_spin.setRange(2, 60)
        self.history_spin.setValue(10)
        self.history_spin.setSuffix(" s")
        self.history_spin.setToolTip("Length of the scrolling history")
        f.addRow("History", self.history_spin)
        self.view_checks = {}
        r4 = QVBoxLayout()
        for key, label in (("stft", "Spectrogram"), ("mel", "Mel spectrogram"), ("chroma", "Chromagram"),
                           ("beat", "Beat-synchronised chroma (file)"), ("wave", "Waveform")):
            cb = QCheckBox(label)
            cb.setChecked(key != "beat")
            cb.toggled.connect(self._apply_views)
            self.view_checks[key] = cb
            r4.addWidget(cb)
        f.addRow("Views", r4)
        pl.addWidget(g)

        g = QGroupBox("Export")
        f = QHBoxLayout(g)
        self.export_btn = QPushButton("Export…")
        self.export_btn.setToolTip("Save the view as PNG or a feature matrix as NPY / CSV (Ctrl+E)")
        self.export_btn.clicked.connect(self.export)
        f.addWidget(self.export_btn)
        pl.addWidget(g)
        self.file_label = QLabel("")
        self.file_label.setWordWrap(True)
        pl.addWidget(self.file_label)
        pl.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidget(panel)
        scroll.setWidgetResizable(True)
        scroll.setFixedWidth(330)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)

        self.readout = QLabel("Move the mouse over a view to read time, frequency, note and level.")
        self.readout.setStyleSheet("font-family: monospace; padding: 2px;")
        left = QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        left.addWidget(self.views, 1)
        left.addWidget(self.readout)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(left, 1)
        lay.addWidget(scroll)

        for w in (self.nfft_box, self.window_box, self.scale_box):
            w.currentIndexChanged.connect(self._params_changed)
        self.overlap_box.currentIndexChanged.connect(self._overlap_chosen)
        for w in (self.hop_spin, self.mels_spin, self.fmin_spin, self.fmax_spin, self.history_spin):
            w.valueChanged.connect(self._params_changed)
        for w in (self.dbmin_spin, self.dbmax_spin):
            w.valueChanged.connect(self._apply_display)
        self.cmap_box.currentIndexChanged.connect(self._apply_display)
        QShortcut(QKeySequence("F"), self, activated=self.freeze_btn.toggle)
        QShortcut(QKeySequence("Ctrl+R"), self, activated=self.start_btn.click)
        # Ctrl+E is the window's File > Export, which calls self.export
        self._update_mode_widgets()

    # ------------------------------------------------------------------ helpers
    def mode(self) -> str:
        return self.mode_box.currentData()

    def params(self, sr: int) -> AnalysisParams:
        fmax = self.fmax_spin.value() or None
        p = AnalysisParams(sr=sr, n_fft=self.nfft_box.currentData(), hop=min(self.hop_spin.value(), self.nfft_box.currentData()),
                           window=self.window_box.currentData(), n_mels=self.mels_spin.value(),
                           fmin=self.fmin_spin.value(), fmax=fmax)
        if p.fmax is not None and p.fmax <= p.fmin:
            p.fmax = None
        if p.fmin >= sr / 2:
            p.fmin = 0.0
        return p.validated()

    def _show_readout(self, text: str) -> None:
        self.readout.setText(text)

    def _value_at(self, key: str, col: int, row: int) -> Optional[float]:
        if self.views.mode == "live" and self._scroll is not None:
            return self._scroll.value_at(key, col, row)
        if self._file_images is not None:
            img = self._file_images.get(key if key != "beat" else "beat")
            if img is not None and 0 <= row < img.shape[0] and 0 <= col < img.shape[1]:
                return float(img[row, col])
        return None

    def _update_mode_widgets(self) -> None:
        m = self.mode()
        live = m in ("device", "test")
        self.device_box.setEnabled(m == "device")
        self.refresh_btn.setEnabled(m == "device")
        self.start_btn.setEnabled(live)
        self.level.setEnabled(live)

    def _mode_changed(self) -> None:
        self.stop_source()
        self._update_mode_widgets()
        m = self.mode()
        if m == "file" and self._analysis is not None:
            self._show_file_analysis()
        elif m == "file" and self._file_path is not None:
            self._submit_file_analysis()
        elif m == "playing":
            self._start_playing_source()

    def refresh_devices(self) -> None:
        from ...audio.sources import list_input_devices

        self._devices, msg = list_input_devices()
        self.device_box.clear()
        for d in self._devices:
            self.device_box.addItem(f"{d['name']} ({d['channels']} ch, {d['default_sr']:.0f} Hz)", d["index"])
            if d.get("default"):
                self.device_box.setCurrentIndex(self.device_box.count() - 1)
        if not self._devices:
            self.device_box.addItem("(no input device)", None)
        self.source_msg.setText("" if self._devices else msg)

    # ------------------------------------------------------------------ live sources
    def set_source(self, source: AudioSource, start: bool = True) -> None:
        """Use ``source`` (tests inject a FakeSource) and start draining it."""
        self.stop_source()
        self._source = source
        try:
            self._make_engine()
            if start:
                source.start()
        except NoAudioDeviceError as exc:
            self._source_failed(str(exc))
            return
        self._timer.start()
        self.start_btn.setChecked(True)
        self.start_btn.setText("Stop")
        self.source_msg.setText("")

    def _make_engine(self) -> None:
        src = self._source
        p = self.params(src.sr)
        self._engine = LiveEngine(src, p)
        from ...analysis.display import ScrollingViews, mel_band_frequencies

        self._scroll = ScrollingViews(self._engine.params, seconds=self.history_spin.value(), rows=1024,
                                      freq_scale=self.scale_box.currentData(),
                                      power_ref=self._engine.analyzer.power_ref)
        m = self._scroll.mapper
        self.views.set_freq_axes(m.scale, m.edges_hz[0], m.edges_hz[-1], mel_band_frequencies(self._engine.params),
                                 m.rows, m.edges_hz)
        self.views.set_playhead(None)

    def stop_source(self) -> None:
        self._timer.stop()
        if self._source is not None:
            try:
                self._source.close()
            except Exception:
                pass
        self._source = None
        self._engine = None
        self.start_btn.setChecked(False)
        self.start_btn.setText("Start")

    def _source_failed(self, message: str) -> None:
        self.stop_source()
        self.source_msg.setText(message)
        self.ctx.notify(message, error=True)

    def _start_clicked(self, checked: bool) -> None:
        if not checked:
            self.stop_source()
            return
        m = self.mode()
        if m == "test":
            sr = 48000
            self.set_source(FakeSource(demo_signal(sr), sr, block=512, loop=True, name="Test signal"))
        elif m == "device":
            idx = self.device_box.currentData()
            if idx is None and not self._devices:
                self.start_btn.setChecked(False)
                self._source_failed(self.source_msg.text() or "No audio input device is available.")
                return
            try:
                from ...audio.sources import SoundDeviceSource

                src = SoundDeviceSource(device=idx, channels=2)
            except NoAudioDeviceError as exc:
                self._source_failed(str(exc))
                return
            self.set_source(src)

    def _start_playing_source(self) -> None:
        if self._file_audio is None:
            self.source_msg.setText("Open a file (File ▸ Open or drop it here), then press Play.")
            return
        y, sr, label = self._file_audio
        p = self.params(sr)
        src = FileSource(y, sr, name=label, prefill=p.n_fft)
        self.set_source(src, start=False)
        self.source_msg.setText(f"Following the transport through '{label}'.")

    def set_frozen(self, frozen: bool) -> None:
        self._frozen = bool(frozen)
        if self.freeze_btn.isChecked() != self._frozen:
            self.freeze_btn.setChecked(self._frozen)

    def _tick(self) -> None:
        eng = self._engine
        if eng is None:
            return
        try:
            batch = eng.poll()
        except NoAudioDeviceError as exc:
            self._source_failed(str(exc))
            return
        except Exception as exc:  # never let a timer tick crash the app
            self._source_failed(f"Live analysis stopped: {type(exc).__name__}: {exc}")
            return
        src = self._source
        lvl = float(np.max(src.level_db)) if len(src.level_db) else -60.0
        self.level.setValue(int(max(-60, min(0, lvl if np.isfinite(lvl) else -60))))
        self.stats_label.setText(f"{src.overflows} overflow(s), {src.dropped_blocks} dropped block(s)")
        if batch is not None and not self._frozen:
            self._scroll.append(batch)
            self.refresh_view()
        if isinstance(src, FileSource) and src.finished:
            self.source_msg.setText(f"'{src.name}' ended.")
        elif isinstance(src, FakeSource) and src.finished:
            self.source_msg.setText("The test signal ended.")
            self._timer.stop()

    def refresh_view(self) -> None:
        s = self._scroll
        if s is None:
            return
        imgs = {k: s.image(k) for k in ("stft", "mel", "chroma", "wave")}
        p = s.params
        self.views.show_live(imgs, s.seconds, p.hop / p.sr)
        self._rendered = True

    # ------------------------------------------------------------------ parameters
    def _overlap_chosen(self) -> None:
        v = self.overlap_box.currentData()
        if v is not None:
            self.hop_spin.setValue(max(1, int(round(self.nfft_box.currentData() * (1 - v)))))

    def _params_changed(self) -> None:
        n_fft = self.nfft_box.currentData()
        self.hop_spin.setMaximum(n_fft)
        ov = 1 - self.hop_spin.value() / n_fft
        idx = next((i for i in range(1, self.overlap_box.count()) if abs(self.overlap_box.itemData(i) - ov) < 1e-9), 0)
        self.overlap_box.blockSignals(True)
        self.overlap_box.setCurrentIndex(idx)
        self.overlap_box.blockSignals(False)
        if self._source is not None:
            try:
                self._make_engine()
            except (ValueError, MusiclabError) as exc:
                self.source_msg.setText(str(exc))
        if self.mode() == "file" and self._file_path is not None:
            self._reanalyse.start()

    def _apply_display(self) -> None:
        self.views.set_colormap(self.cmap_box.currentData())
        self.views.set_db_range(self.dbmin_spin.value(), self.dbmax_spin.value())
        if self._scroll is not None and self.views.mode == "live":
            self.refresh_view()

    def _apply_views(self) -> None:
        self.views.set_visible_views({k: cb.isChecked() for k, cb in self.view_checks.items()})
        if self.views.mode == "live":
            self.refresh_view()

    # ------------------------------------------------------------------ files
    def open_files(self, paths: list[Path]) -> None:
        """Load and analyse the first file in the "live" service (decoding included)."""
        if not paths:
            return
        from ...analysis.features import analyze_file

        path = Path(paths[0])
        self._file_path = path
        self._file_audio = None
        self._analysis = None
        self.file_label.setText(f"<b>{path.name}</b><br>loading…")
        if self.mode() != "file":
            self.mode_box.blockSignals(True)
            self.mode_box.setCurrentIndex(MODES.index("file"))
            self.mode_box.blockSignals(False)
            self.stop_source()
            self._update_mode_widgets()
        self.source_msg.setText(f"Analysing '{path.name}'…")
        self._pending_rid = self._svc().submit(analyze_file, path, self.params(22050), 22050,
                                               label=f"Analysing {path.name}", latest_only=True)

    def _svc(self):
        if self._service is None:
            self._service = self.ctx.make_service("live")
            self._service.result.connect(self._analysis_done)
            self._service.error.connect(self._analysis_failed)
        return self._service

    def _submit_file_analysis(self) -> None:
        """Re-analyse the loaded file (after a parameter change), without decoding again."""
        if self._file_audio is None:
            if self._file_path is not None and self._analysis is None:
                self.open_files([self._file_path])
            return
        from ...analysis.features import analyze_signal

        y, sr, label = self._file_audio
        self.source_msg.setText(f"Analysing '{label}'…")
        self._pending_rid = self._svc().submit(analyze_signal, y, sr, self.params(min(sr, 22050)), label,
                                               label=f"Analysing {label}", latest_only=True, max_sr=22050)

    def _analysis_done(self, rid: int, result) -> None:
        if rid != self._pending_rid:
            return
        self._analysis = result
        first = self._file_audio is None
        self._file_audio = (result.play_y, result.play_sr, result.name)
        if first:
            self.file_label.setText(f"<b>{result.name}</b><br>{len(result.play_y) / result.play_sr:.1f} s, "
                                    f"{result.play_sr} Hz")
            if self._file_path is not None:
                self.ctx.add_recent(self._file_path)
            self.playable_changed.emit()
        self.source_msg.setText(f"'{result.name}': {result.duration:.1f} s, tempo {result.tempo:.1f} BPM, "
                                f"{len(result.beat_times)} beats.")
        if self.mode() == "file":
            self._show_file_analysis()

    def _analysis_failed(self, rid: int, message: str) -> None:
        if rid == self._pending_rid:
            self.source_msg.setText(message)
            if self._file_audio is None:
                self.file_label.setText("")
                self._file_path = None
            self.ctx.notify(message, error=True)

    def _show_file_analysis(self) -> None:
        from ...analysis.display import file_images, mel_band_frequencies, waveform_envelope

        a = self._analysis
        imgs = file_images(a.power, a.mel, a.chroma, a.params, a.power_ref(), rows=1024,
                           freq_scale=self.scale_box.currentData())
        n = a.chroma.shape[0]
        beat = np.zeros((12, max(n, 1)), np.float32)
        if len(a.beat_chroma):
            bounds = np.clip(np.round(a.beat_bounds * a.sr / a.params.hop).astype(int), 0, n)
            for i, (s, e) in enumerate(zip(bounds[:-1], bounds[1:])):
                beat[:, s:e] = a.beat_chroma[i][:, None]
        imgs["beat"] = beat
        self._file_images = imgs
        m = imgs["mapper"]
        self.views.set_freq_axes(m.scale, m.edges_hz[0], m.edges_hz[-1], mel_band_frequencies(a.params),
                                 m.rows, m.edges_hz)
        t, lo, hi = waveform_envelope(a.y, 4000)
        self.views.show_file(imgs, a.params.hop / a.sr, a.duration, (t / a.sr, lo, hi), a.beat_times, beat)
        self._rendered = True

    def playable_audio(self):
        if self._file_audio is None:
            return None
        return self._file_audio

    def on_playback_position(self, seconds: float) -> None:
        if self.mode() == "playing" and isinstance(self._source, FileSource):
            self._source.advance_to(seconds)
        elif self.mode() == "file":
            self.views.set_playhead(seconds)

    # ------------------------------------------------------------------ export
    def export(self) -> None:
        if self.ctx.headless:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export view or features", str(Path.home() / "musiclab-live.png"),
            "PNG image (*.png);;Mel matrix NPY (*.mel.npy);;Chroma matrix NPY (*.chroma.npy);;"
            "STFT matrix NPY (*.stft.npy);;Mel matrix CSV (*.mel.csv);;Chroma matrix CSV (*.chroma.csv)")
        if path:
            try:
                out = self.export_to(path)
            except (MusiclabError, OSError, ValueError) as exc:
                self.ctx.notify(f"Export failed: {exc}", error=True)
                return
            self.ctx.notify(f"Exported {out}")

    def export_to(self, path, feature: Optional[str] = None) -> Path:
        """PNG of the views, or a feature matrix (.npy / .csv); the feature is taken from
        ``feature`` or the name (``x.mel.npy``, ``x.chroma.csv``; default mel)."""
        p = Path(path)
        if p.suffix.lower() == ".png":
            p.parent.mkdir(parents=True, exist_ok=True)
            if not self.views.grab().save(str(p)):
                raise MusiclabError(f"Could not write '{p.name}'.")
            return p
        from ...analysis.features import Feature, save_feature

        if feature is None:
            parts = p.name.lower().split(".")
            feature = next((f for f in ("stft", "mel", "chroma", "beat") if f in parts[:-1]), "mel")
        if self.views.mode == "file" and self._file_images is not None and self._analysis is not None:
            a = self._analysis
            data = self._file_images[feature] if feature != "stft" else None
            if feature == "stft":
                from ...analysis.streaming import power_to_db

                data = np.ascontiguousarray(power_to_db(a.power.copy(), ref=a.power_ref()).T)
            hop, sr = a.params.hop, a.sr
            times = np.arange(data.shape[1]) * hop / sr
        elif self._scroll is not None:
            key = "chroma" if feature == "beat" else feature
            s = self._scroll
            data = np.array(s.image(key))
            hop, sr = s.params.hop, s.params.sr
            times = (np.arange(data.shape[1]) - data.shape[1]) * hop / sr
        else:
            raise MusiclabError("Nothing to export yet: start a source or open a file.")
        labels = self._labels(feature, data.shape[0])
        save_feature(Feature(feature, data, sr, hop, labels, times), p)
        return p

    def _labels(self, feature: str, n: int) -> list:
        from ...analysis.streaming import NOTE_NAMES

        if feature in ("chroma", "beat"):
            return list(NOTE_NAMES)
        if feature == "mel":
            return [round(float(f), 2) for f in self.views.mel_freqs][:n]
        edges = getattr(self.views, "_edges", np.arange(n + 1))
        return [round(float(f), 2) for f in edges[:n]]

    # ------------------------------------------------------------------ settings / lifetime
    _SETTINGS = ("n_fft", "hop", "window", "n_mels", "fmin", "fmax", "scale", "db_min", "db_max", "cmap",
                 "history", "views")

    def save_settings(self, settings: QSettings) -> None:
        settings.setValue("mode", self.mode())
        settings.setValue("n_fft", self.nfft_box.currentData())
        settings.setValue("hop", self.hop_spin.value())
        settings.setValue("window", self.window_box.currentData())
        settings.setValue("n_mels", self.mels_spin.value())
        settings.setValue("fmin", self.fmin_spin.value())
        settings.setValue("fmax", self.fmax_spin.value())
        settings.setValue("scale", self.scale_box.currentData())
        settings.setValue("db_min", self.dbmin_spin.value())
        settings.setValue("db_max", self.dbmax_spin.value())
        settings.setValue("cmap", self.cmap_box.currentData())
        settings.setValue("history", self.history_spin.value())
        settings.setValue("views", ",".join(k for k, cb in self.view_checks.items() if cb.isChecked()))

    def restore_settings(self, settings: QSettings) -> None:
        def num(key, cast, default):
            try:
                v = settings.value(key, default)
                return cast(v) if v is not None else default
            except (TypeError, ValueError):
                return default

        def pick(box, value):
            i = box.findData(value)
            if i >= 0:
                box.setCurrentIndex(i)

        pick(self.nfft_box, num("n_fft", int, 2048))
        self.hop_spin.setValue(num("hop", int, 512))
        pick(self.window_box, settings.value("window", "hann"))
        self.mels_spin.setValue(num("n_mels", int, 128))
        self.fmin_spin.setValue(num("fmin", float, 0.0))
        self.fmax_spin.setValue(num("fmax", float, 0.0))
        pick(self.scale_box, settings.value("scale", "linear"))
        self.dbmin_spin.setValue(num("db_min", float, -100.0))
        self.dbmax_spin.setValue(num("db_max", float, 0.0))
        pick(self.cmap_box, settings.value("cmap", "inferno"))
        self.history_spin.setValue(num("history", float, 10.0))
        views = settings.value("views", None)
        if isinstance(views, str) and views:
            on = set(views.split(","))
            for k, cb in self.view_checks.items():
                cb.setChecked(k in on)
        mode = settings.value("mode", "device")
        if mode in MODES and mode != "file":  # a whole-file view needs a file first
            self.mode_box.setCurrentIndex(MODES.index(mode))

    def first_render_done(self) -> bool:
        return self._rendered or self.mode() == "device"

    def shutdown(self) -> None:
        self._reanalyse.stop()
        self.stop_source()
