"""Stacked spectrogram / mel / chroma / waveform views with a shared time axis.

Images are pyqtgraph ``ImageItem``s fed float32 row-major arrays with fixed ``levels``
and a 256-entry lookup table (pyqtgraph's fast path). All numbers come from
:mod:`musiclab.analysis.display`; this module only draws.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont

from ...analysis.session import beat_marks
from ...analysis.streaming import NOTE_NAMES, hz_to_note_name

COLORMAPS = ("inferno", "magma", "viridis", "plasma", "cividis", "grey")
VIEW_TITLES = {"stft": "Spectrogram", "mel": "Mel spectrogram", "chroma": "Chromagram",
               "beat": "Beat-synchronised chroma", "wave": "Waveform"}
#: relative heights; the chroma views get room for twelve labels in a normal window
STRETCH = {"stft": 3, "mel": 2, "chroma": 3, "beat": 3, "wave": 1}
#: a pitch-class label needs this many pixels per semitone (one line of the 8 pt tick font)
LABEL_PX = 13


def make_lut(name: str) -> np.ndarray:
    """A 256-entry RGBA lookup table."""
    if name == "grey":
        cmap = pg.ColorMap([0.0, 1.0], [(0, 0, 0), (255, 255, 255)])
    else:
        try:
            cmap = pg.colormap.get(name)
        except Exception:
            cmap = pg.colormap.get("inferno")
    return cmap.getLookupTable(0.0, 1.0, 256, alpha=True)


class FuncAxis(pg.AxisItem):
    """An axis whose tick labels are ``fmt(value)`` (log-frequency, mel bands)."""

    def __init__(self, orientation: str, fmt: Optional[Callable[[float], str]] = None, **kw):
        super().__init__(orientation, **kw)
        self.fmt = fmt

    def tickStrings(self, values, scale, spacing):
        if self.fmt is None:
            return super().tickStrings(values, scale, spacing)
        return [self.fmt(v) for v in values]


MEL_TICK_HZ = (20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50)


def mel_ticks(mel_freqs: np.ndarray, px_per_band: float = 1e9, min_px: float = 14.0) -> list:
    """Round frequencies at their places on a mel-band axis (band ``i`` spans ``i .. i+1``),
    so the axis reads 100, 500, 1k, 5k … instead of whatever band a tick falls on; from
    the top down, a tick closer than ``min_px`` to the one above is left out."""
    mf = np.asarray(mel_freqs, dtype=float)
    if len(mf) < 2:
        return [[], []]
    pos = np.arange(len(mf)) + 0.5
    major: list = []
    for f in MEL_TICK_HZ:
        if mf[0] <= f <= mf[-1]:
            y = float(np.interp(f, mf, pos))
            if not major or (major[-1][0] - y) * px_per_band >= min_px:
                major.append((y, _hz_label(f)))
    return [major, []]


def _hz_label(hz: float) -> str:
    if hz >= 1000:
        return f"{hz / 1000:.3g}k"
    return f"{hz:.0f}"


class LiveViews(pg.GraphicsLayoutWidget):
    """The view stack. ``cursor_moved(text)`` carries the read-out under the mouse."""

    cursor_moved = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("#15171c")
        self.ci.setSpacing(2)
        self._lut = make_lut("inferno")
        self._levels = (-100.0, 0.0)
        self.freq_scale = "linear"
        self.mel_freqs = np.zeros(1)
        self._edges = np.array([0.0, 1.0])
        self._stft_y = (0.0, 1.0)
        self.mode = "live"  # or "file"
        self._visible = {"stft": True, "mel": True, "chroma": True, "beat": False, "wave": True}
        self.plots: dict[str, pg.PlotItem] = {}
        self.images: dict[str, pg.ImageItem] = {}
        self._axes: dict[str, FuncAxis] = {}
        tick_font = QFont()
        tick_font.setPointSize(8)
        for key in ("stft", "mel", "chroma", "beat", "wave"):
            left = FuncAxis("left")
            self._axes[key] = left
            bottom = pg.AxisItem("bottom")
            for ax in (left, bottom):
                ax.enableAutoSIPrefix(False)  # never "Hz (x0.001)"
                ax.setStyle(tickFont=tick_font)
            plot = pg.PlotItem(axisItems={"left": left, "bottom": bottom})
            plot.setMouseEnabled(x=True, y=False)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plot.getAxis("left").setWidth(58)
            plot.setTitle(f"<span style='color:#ccc'>{VIEW_TITLES[key]}</span>", size="9pt")
            plot.layout.setRowFixedHeight(0, 18)  # pyqtgraph's 30 px title row leaves the chroma no room
            if key != "wave":
                # autoDownsample: a 6-minute song at 48 kHz is 30,000 columns; draw what the screen shows
                img = pg.ImageItem(axisOrder="row-major", autoDownsample=True)
                plot.addItem(img)
                self.images[key] = img
            self.plots[key] = plot
        first = self.plots["stft"]
        for key, plot in self.plots.items():
            if plot is not first:
                plot.setXLink(first)
        self.plots["stft"].setLabel("left", "Hz")
        self.plots["mel"].setLabel("left", "mel (Hz)")
        self.plots["chroma"].setLabel("left", "pitch class")
        self.plots["beat"].setLabel("left", "pitch class")
        self.plots["wave"].setLabel("left", "amplitude")
        self.plots["mel"].getViewBox().sigResized.connect(lambda *_: self._mel_ticks())
        for key in ("chroma", "beat"):
            vb = self.plots[key].getViewBox()
            vb.sigResized.connect(lambda _vb=None, k=key: self._pitch_ticks(k))
            self._pitch_ticks(key)
        self.plots["wave"].setYRange(-1, 1, padding=0.02)
        # min/max envelope as one vertical segment per column (cheap to redraw)
        self._wave = pg.PlotCurveItem(pen=pg.mkPen("#7fb3ff", width=1), connect="pairs")
        self.plots["wave"].addItem(self._wave)
        self._beat_lines = {k: pg.PlotDataItem(pen=pg.mkPen(QColor(120, 255, 160, 150), width=1), connect="pairs")
                            for k in ("stft", "chroma", "wave")}
        for k, item in self._beat_lines.items():
            self.plots[k].addItem(item)
        self._beat_times = np.zeros(0)
        self.beats_visible = True
        self.beat_step = 0  # 1: every beat drawn, 4: every 4th (bar lines), 16 ...; 0: none
        self.plots["stft"].vb.sigXRangeChanged.connect(lambda *_: self._draw_beats())
        self.plots["stft"].vb.sigResized.connect(lambda *_: self._draw_beats())
        self._playhead = {k: pg.InfiniteLine(angle=90, pen=pg.mkPen("#ffffff", width=1)) for k in self.plots}
        for k, line in self._playhead.items():
            line.setVisible(False)
            self.plots[k].addItem(line, ignoreBounds=True)
        self._cursor = {k: pg.InfiniteLine(angle=90, pen=pg.mkPen(QColor(255, 255, 255, 90), style=Qt.DashLine))
                        for k in self.plots}
        for k, line in self._cursor.items():
            self.plots[k].addItem(line, ignoreBounds=True)
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        self._value_source: Optional[Callable[[str, float, float], Optional[float]]] = None
        self._layout()
        self.geometry_info = {}  # key -> (x0, dx, y0, dy, columns, rows) used by the read-out

    # -- layout and appearance -------------------------------------------------------
    def _pitch_ticks(self, key: str) -> None:
        """Pitch-class labels that fit the plot's height: all twelve when a semitone has
        room for a line of text, fewer when the view is short (E and F, B and C are one
        semitone apart and would overlap)."""
        px = self.plots[key].getViewBox().height() / 12.0
        if px >= LABEL_PX:
            names = list(NOTE_NAMES)
        elif px >= 7:
            names = ["C", "D", "E", "G", "A", "B"]
        elif px >= 4:
            names = ["C", "E", "G"]
        elif px >= 1.8:
            names = ["C", "G"]
        else:
            names = ["C"]
        major = [(NOTE_NAMES.index(n) + 0.5, n) for n in names]
        self.plots[key].getAxis("left").setTicks([major, []])

    def _mel_ticks(self) -> None:
        n = max(1, len(self.mel_freqs))
        self._axes["mel"].setTicks(mel_ticks(self.mel_freqs, self.plots["mel"].getViewBox().height() / n))

    def set_visible_views(self, visible: dict) -> None:
        self._visible.update(visible)
        self._layout()

    def visible_views(self) -> list[str]:
        return [k for k in self.plots if self._visible.get(k)]

    def _layout(self) -> None:
        self.ci.clear()
        keys = self.visible_views() or ["stft"]
        for i, k in enumerate(keys):
            self.ci.addItem(self.plots[k], row=i, col=0)
            self.ci.layout.setRowStretchFactor(i, STRETCH[k])
            self.plots[k].getAxis("bottom").setStyle(showValues=(k == keys[-1]))
            self.plots[k].setLabel("bottom", "time (s)" if k == keys[-1] else None)

    def set_colormap(self, name: str) -> None:
        self._lut = make_lut(name)
        for img in self.images.values():
            img.setLookupTable(self._lut)

    def set_db_range(self, lo: float, hi: float) -> None:
        self._levels = (float(lo), float(max(hi, lo + 1)))
        for k in ("stft", "mel"):
            self.images[k].setLevels(self._levels)

    def set_freq_axes(self, scale: str, fmin: float, fmax: float, mel_freqs: np.ndarray, rows: int,
                      edges_hz: np.ndarray) -> None:
        """Configure the y axes: stft rows on linear or log-spaced ``edges_hz``; mel bands."""
        self.freq_scale = scale
        self.mel_freqs = np.asarray(mel_freqs, dtype=float)
        self._edges = np.asarray(edges_hz, dtype=float)
        ax = self._axes["stft"]
        if scale == "log":
            ax.fmt = lambda v: _hz_label(10 ** v)
            ax.setLabel("Hz (log)")
        else:
            ax.fmt = lambda v: _hz_label(v)
            ax.setLabel("Hz")
        mf = self.mel_freqs
        self._axes["mel"].fmt = lambda v: _hz_label(float(np.interp(v, np.arange(len(mf)) + 0.5, mf))) if len(mf) else ""
        self._mel_ticks()
        self._stft_y = (np.log10(edges_hz[0]), np.log10(edges_hz[-1])) if scale == "log" else (edges_hz[0], edges_hz[-1])
        for k in ("stft", "mel", "chroma", "beat"):
            self.plots[k].enableAutoRange(axis="y", enable=False)
        self.plots["stft"].setYRange(*self._stft_y, padding=0)
        self.plots["mel"].setYRange(0, max(1, len(mf)), padding=0)
        self.plots["chroma"].setYRange(0, 12, padding=0)
        self.plots["beat"].setYRange(0, 12, padding=0)

    def show_empty(self, nyquist: float, history_s: float, mel_freqs: np.ndarray, fmin: float = 0.0,
                   fmax: Optional[float] = None, scale: str = "linear") -> None:
        """Sensible axes before any audio: 0 … Nyquist, the mel bands, 12 pitch classes,
        the history from -``history_s`` to now."""
        fmax = nyquist if fmax is None else fmax
        edges = np.array([max(fmin, 20.0) if scale == "log" else fmin, fmax])
        self.set_freq_axes(scale, edges[0], edges[-1], mel_freqs, 1, edges)
        for img in self.images.values():
            img.clear()
        self._wave.setData([], [])
        self.geometry_info = {}
        self.mode = "live"
        self.clear_beats()
        self.set_playhead(None)
        self.plots["stft"].vb.setLimits(xMin=-history_s, xMax=0)
        self.plots["stft"].setXRange(-history_s, 0, padding=0)

    # -- images ------------------------------------------------------------------------
    def _set(self, key: str, data: np.ndarray, x0: float, dx: float) -> None:
        img = self.images[key]
        levels = (0.0, 1.0) if key in ("chroma", "beat") else self._levels
        img.setImage(data, autoLevels=False, levels=levels, lut=self._lut)
        rows, cols = data.shape
        if key == "stft":
            y0, y1 = self._stft_y
        else:
            y0, y1 = 0.0, float(rows)
        img.setRect(QRectF(x0, y0, dx * cols, y1 - y0))
        self.geometry_info[key] = (x0, dx, y0, (y1 - y0) / rows, cols, rows)

    def show_live(self, images: dict, seconds: float, dx: float) -> None:
        """``images``: key -> ``(rows, columns)`` arrays, newest column at t = 0."""
        x0 = -seconds
        for key in ("stft", "mel", "chroma"):
            if self._visible.get(key) and key in images:
                self._set(key, images[key], x0, dx)
        if self._visible.get("wave") and "wave" in images:
            w = images["wave"]
            x = x0 + (np.arange(w.shape[1]) + 1) * dx
            self._set_wave(x, w[0], w[1])
        if self.mode != "live":
            self.mode = "live"
            self.clear_beats()
            for line in self._playhead.values():
                line.setVisible(False)
        self.plots["stft"].setXRange(x0, 0, padding=0)
        self.plots["stft"].vb.setLimits(xMin=x0, xMax=0)

    def show_file(self, images: dict, frame_dx: float, duration: float, wave: tuple, beat_times: np.ndarray,
                  beat_chroma: Optional[np.ndarray] = None) -> None:
        """Whole-file images (frame centres at ``k * frame_dx``), envelope, beats."""
        self.mode = "file"
        x0 = -frame_dx / 2
        for key in ("stft", "mel", "chroma"):
            self._set(key, images[key], x0, frame_dx)
        if beat_chroma is not None:
            self._set("beat", beat_chroma, x0, frame_dx)
        t, lo, hi = wave
        self._set_wave(t, lo, hi)
        self.set_beats(beat_times)
        vb = self.plots["stft"].vb
        vb.setLimits(xMin=x0, xMax=max(duration, frame_dx))
        self.plots["stft"].setXRange(0, max(duration, frame_dx), padding=0)

    def _set_wave(self, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        xs = np.repeat(np.asarray(x, dtype=np.float64), 2)
        ys = np.empty(2 * len(lo), dtype=np.float64)
        ys[0::2] = lo
        ys[1::2] = np.maximum(hi, np.asarray(lo) + 1e-4)  # keep silent columns visible as a line
        self._wave.setData(xs, ys)

    def set_beats(self, beat_times: np.ndarray) -> None:
        self._beat_times = np.asarray(beat_times, dtype=float)
        self._draw_beats()

    def set_beats_visible(self, on: bool) -> None:
        self.beats_visible = bool(on)
        self._draw_beats()

    def _draw_beats(self) -> None:
        """Beat lines, thinned to every 4th beat (bars in 4/4), every 4 bars, ... when they
        would be closer than 8 pixels at the current zoom."""
        bt = self._beat_times if self.beats_visible else np.zeros(0)
        if len(bt):
            (x0, x1), _ = self.plots["stft"].vb.viewRange()
            bt, self.beat_step = beat_marks(bt, x1 - x0, self.plots["stft"].vb.width())
        else:
            self.beat_step = 0
        for k, item in self._beat_lines.items():
            if not len(bt):
                item.setData([], [])
                continue
            if k == "stft":
                y0, y1 = self._stft_y
            elif k == "wave":
                y0, y1 = -1.0, 1.0
            else:
                y0, y1 = 0.0, 12.0
            item.setData(np.repeat(bt, 2), np.tile([y0, y1], len(bt)))

    def clear_beats(self) -> None:
        self.set_beats(np.zeros(0))

    def set_playhead(self, seconds: Optional[float]) -> None:
        for line in self._playhead.values():
            line.setVisible(seconds is not None)
            if seconds is not None:
                line.setValue(seconds)

    # -- cursor read-out -------------------------------------------------------------------
    def set_value_source(self, fn: Callable[[str, int, int], Optional[float]]) -> None:
        """``fn(view, column, row)`` returns the value under the cursor (dB or chroma)."""
        self._value_source = fn

    def readout(self, key: str, x: float, y: float) -> str:
        """The read-out text for view ``key`` at data coordinates (x, y)."""
        g = self.geometry_info.get(key)
        t = f"t {x:+.3f} s" if self.mode == "live" else f"t {x:.3f} s"
        if key == "wave" or g is None:
            return t
        x0, dx, y0, dy, cols, rows = g
        col = int(np.floor((x - x0) / dx)) if dx else 0
        row = int(np.floor((y - y0) / dy)) if dy else 0
        if not (0 <= col < cols and 0 <= row < rows):
            return t
        val = self._value_source(key, col, row) if self._value_source else None
        if key == "stft":
            hz = 10 ** y if self.freq_scale == "log" else y
        elif key == "mel":
            hz = float(self.mel_freqs[min(row, len(self.mel_freqs) - 1)]) if len(self.mel_freqs) else 0.0
        else:
            name = NOTE_NAMES[row % 12]
            return f"{t}   pitch class {name}   chroma {val:.2f}" if val is not None else f"{t}   {name}"
        note = hz_to_note_name(hz, cents=True)
        db = f"   {val:.1f} dB" if val is not None else ""
        return f"{t}   {hz:,.1f} Hz   {note}{db}"

    def _mouse_moved(self, pos) -> None:
        for key in self.visible_views():
            plot = self.plots[key]
            if plot.sceneBoundingRect().contains(pos):
                p = plot.vb.mapSceneToView(pos)
                for line in self._cursor.values():
                    line.setValue(p.x())
                self.cursor_moved.emit(f"{VIEW_TITLES[key]}: " + self.readout(key, p.x(), p.y()))
                return
