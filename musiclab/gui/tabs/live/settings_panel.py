"""The Live tab's right-hand panel: source, analysis, display and export settings.

Only widgets and their wiring: the panel turns its values into a
:class:`~musiclab.analysis.session.LiveSettings` and says when something changed
(``analysis_changed``, ``display_changed``, ``views_changed``). It keeps the Overlap box
in step with n_fft and hop (it reads "75 %" for 2048 / 512 from the start).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QScrollArea, QVBoxLayout, QWidget)

from ....analysis.session import N_FFTS, OVERLAPS, RATES, LiveSettings, hop_for_overlap, overlap_of
from ....analysis.streaming import WINDOWS
from ...widgets.live_views import COLORMAPS
from .inputs import ComboBox, DoubleSpinBox, SpinBox

MODES = ("device", "test", "playing", "file")
MODE_TITLES = {"device": "Input device", "test": "Test signal (tones + sweep)",
               "playing": "Playing file (follows the transport)", "file": "Analyse whole file"}
VIEWS = (("stft", "Spectrogram"), ("mel", "Mel spectrogram"), ("chroma", "Chromagram"),
         ("beat", "Beat-synchronised chroma (file)"), ("wave", "Waveform"))


def _rate_title(rate: int) -> str:
    return "File's own rate" if not rate else f"{rate:,} Hz (faster)"


class SettingsPanel(QScrollArea):
    analysis_changed = Signal()  # n_fft, hop, window, mels, fmin/fmax, rate, scale, history
    display_changed = Signal()  # dB range, colours
    views_changed = Signal()  # which views, beat lines

    def __init__(self, parent=None):
        super().__init__(parent)
        panel = QWidget()
        self._lay = QVBoxLayout(panel)
        self._lay.setContentsMargins(4, 4, 4, 4)
        self._source_group()
        self._analysis_group()
        self._display_group()
        g = QGroupBox("Export")
        f = QHBoxLayout(g)
        self.export_btn = QPushButton("Export…")
        self.export_btn.setToolTip("Save the view as PNG or a feature matrix as NPY / CSV (Ctrl+E)")
        f.addWidget(self.export_btn)
        self._lay.addWidget(g)
        self.file_label = QLabel("")
        self.file_label.setWordWrap(True)
        self._lay.addWidget(self.file_label)
        self._lay.addStretch(1)
        self.setWidget(panel)
        self.setWidgetResizable(True)
        self.setFixedWidth(330)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)

        for w in (self.nfft_box, self.window_box, self.scale_box, self.rate_box):
            w.currentIndexChanged.connect(self._analysis_edited)
        for w in (self.hop_spin, self.mels_spin, self.fmin_spin, self.fmax_spin, self.history_spin):
            w.valueChanged.connect(self._analysis_edited)
        self.overlap_box.currentIndexChanged.connect(self._overlap_chosen)
        for w in (self.dbmin_spin, self.dbmax_spin):
            w.valueChanged.connect(self.display_changed)
        self.cmap_box.currentIndexChanged.connect(self.display_changed)
        for cb in (*self.view_checks.values(), self.beats_check):
            cb.toggled.connect(self.views_changed)
        self._sync_overlap()

    # -- groups ----------------------------------------------------------------------------
    def _source_group(self) -> None:
        g = QGroupBox("Source")
        f = QFormLayout(g)
        self.mode_box = ComboBox()
        for m in MODES:
            self.mode_box.addItem(MODE_TITLES[m], m)
        self.mode_box.setToolTip("Where the audio comes from")
        f.addRow("Mode", self.mode_box)
        row = QHBoxLayout()
        self.device_box = ComboBox()
        self.device_box.setToolTip("Input devices found by PortAudio")
        self.device_box.setMinimumContentsLength(14)
        row.addWidget(self.device_box, 1)
        self.refresh_btn = QPushButton("↻")
        self.refresh_btn.setToolTip("Look for input devices again")
        self.refresh_btn.setFixedWidth(28)
        row.addWidget(self.refresh_btn)
        f.addRow("Device", row)
        self.start_btn = QPushButton("Start")
        self.start_btn.setToolTip("Start or stop the live view (Ctrl+R)")
        self.start_btn.setCheckable(True)
        self.freeze_btn = QPushButton("Freeze")
        self.freeze_btn.setCheckable(True)
        self.freeze_btn.setToolTip("Hold the picture; audio keeps being read (F)")
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
        self._lay.addWidget(g)

    def _analysis_group(self) -> None:
        d = LiveSettings()
        g = QGroupBox("Analysis")
        f = QFormLayout(g)
        self.nfft_box = ComboBox()
        for n in N_FFTS:
            self.nfft_box.addItem(str(n), n)
        self.nfft_box.setCurrentIndex(N_FFTS.index(d.n_fft))
        self.nfft_box.setToolTip("FFT size: longer windows resolve frequency better, time worse")
        f.addRow("n_fft", self.nfft_box)
        self.hop_spin = SpinBox()
        self.hop_spin.setRange(32, 16384)
        self.hop_spin.setValue(d.hop)
        self.hop_spin.setSuffix(" samples")
        self.hop_spin.setToolTip("Hop between frames; overlap = 1 - hop / n_fft")
        f.addRow("Hop", self.hop_spin)
        self.overlap_box = ComboBox()
        self.overlap_box.addItem("custom", None)
        for v, label in OVERLAPS:
            self.overlap_box.addItem(label, v)
        self.overlap_box.setToolTip("Set the hop from an overlap")
        f.addRow("Overlap", self.overlap_box)
        self.window_box = ComboBox()
        for w in WINDOWS:
            self.window_box.addItem(w.capitalize(), w)
        f.addRow("Window", self.window_box)
        self.mels_spin = SpinBox()
        self.mels_spin.setRange(8, 512)
        self.mels_spin.setValue(d.n_mels)
        f.addRow("Mel bands", self.mels_spin)
        self.fmin_spin = DoubleSpinBox()
        self.fmin_spin.setRange(0, 20000)
        self.fmin_spin.setSuffix(" Hz")
        self.fmin_spin.setDecimals(0)
        f.addRow("fmin", self.fmin_spin)
        self.fmax_spin = DoubleSpinBox()
        self.fmax_spin.setRange(0, 96000)
        self.fmax_spin.setSuffix(" Hz")
        self.fmax_spin.setDecimals(0)
        self.fmax_spin.setSpecialValueText("Nyquist")
        f.addRow("fmax", self.fmax_spin)
        self.rate_box = ComboBox()
        for r in RATES:
            self.rate_box.addItem(_rate_title(r), r)
        self.rate_box.setToolTip("Rate a whole file is analysed at: its own (the spectrogram reaches its "
                                 "Nyquist frequency, e.g. 24 kHz for 48 kHz audio) or a lower one (faster)")
        f.addRow("File rate", self.rate_box)
        self._lay.addWidget(g)

    def _display_group(self) -> None:
        g = QGroupBox("Display")
        f = QFormLayout(g)
        self.scale_box = ComboBox()
        self.scale_box.addItem("Linear", "linear")
        self.scale_box.addItem("Logarithmic", "log")
        self.scale_box.setToolTip("Frequency axis of the spectrogram")
        f.addRow("Frequency", self.scale_box)
        self.dbmin_spin = DoubleSpinBox()
        self.dbmin_spin.setRange(-160, 0)
        self.dbmin_spin.setValue(-100)
        self.dbmin_spin.setSuffix(" dB")
        self.dbmax_spin = DoubleSpinBox()
        self.dbmax_spin.setRange(-150, 40)
        self.dbmax_spin.setValue(0)
        self.dbmax_spin.setSuffix(" dB")
        r3 = QHBoxLayout()
        r3.addWidget(self.dbmin_spin)
        r3.addWidget(QLabel("to"))
        r3.addWidget(self.dbmax_spin)
        f.addRow("Range", r3)
        self.cmap_box = ComboBox()
        for c in COLORMAPS:
            self.cmap_box.addItem(c, c)
        f.addRow("Colours", self.cmap_box)
        self.history_spin = DoubleSpinBox()
        self.history_spin.setRange(2, 60)
        self.history_spin.setValue(10)
        self.history_spin.setSuffix(" s")
        self.history_spin.setToolTip("Length of the scrolling history")
        f.addRow("History", self.history_spin)
        self.view_checks: dict[str, QCheckBox] = {}
        r4 = QVBoxLayout()
        for key, label in VIEWS:
            cb = QCheckBox(label)
            cb.setChecked(key != "beat")
            self.view_checks[key] = cb
            r4.addWidget(cb)
        f.addRow("Views", r4)
        self.beats_check = QCheckBox("Beat lines (file)")
        self.beats_check.setChecked(True)
        self.beats_check.setToolTip("Lines at the tracked beats; when they would crowd the view, only every "
                                    "4th beat (a bar in 4/4), every 4 bars, … is drawn; zoom in for all")
        f.addRow("Beats", self.beats_check)
        self._lay.addWidget(g)

    # -- values ------------------------------------------------------------------------------
    def mode(self) -> str:
        return self.mode_box.currentData()

    def set_mode(self, mode: str, signal: bool = True) -> None:
        self.mode_box.blockSignals(not signal)
        self.mode_box.setCurrentIndex(MODES.index(mode))
        self.mode_box.blockSignals(False)

    def settings(self) -> LiveSettings:
        return LiveSettings(n_fft=self.nfft_box.currentData(), hop=self.hop_spin.value(),
                            window=self.window_box.currentData(), n_mels=self.mels_spin.value(),
                            fmin=self.fmin_spin.value(), fmax=self.fmax_spin.value(),
                            rate=self.rate_box.currentData(), freq_scale=self.scale_box.currentData())

    def visible_views(self) -> dict:
        return {k: cb.isChecked() for k, cb in self.view_checks.items()}

    def persist(self) -> dict:
        """Every setting, declared once (saved and restored by the base tab)."""
        out = {"n_fft": self.nfft_box, "hop": self.hop_spin, "window": self.window_box, "n_mels": self.mels_spin,
               "fmin": self.fmin_spin, "fmax": self.fmax_spin, "rate": self.rate_box, "scale": self.scale_box,
               "db_min": self.dbmin_spin, "db_max": self.dbmax_spin, "cmap": self.cmap_box,
               "history": self.history_spin, "beat_lines": self.beats_check}
        out.update({f"view_{k}": cb for k, cb in self.view_checks.items()})
        return out

    # -- overlap <-> hop ----------------------------------------------------------------------
    def _overlap_chosen(self) -> None:
        v = self.overlap_box.currentData()
        if v is not None:
            self.hop_spin.setValue(hop_for_overlap(self.nfft_box.currentData(), v))

    def _sync_overlap(self) -> None:
        n_fft = self.nfft_box.currentData()
        self.hop_spin.setMaximum(n_fft)
        ov = overlap_of(n_fft, self.hop_spin.value())
        idx = 0 if ov is None else self.overlap_box.findData(ov)
        self.overlap_box.blockSignals(True)
        self.overlap_box.setCurrentIndex(max(idx, 0))
        self.overlap_box.blockSignals(False)

    def _analysis_edited(self) -> None:
        self._sync_overlap()
        self.analysis_changed.emit()
