"""Stitcher timelines (pyqtgraph): a song with its chunk boundaries, and the built song
coloured by source song with each join's score."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor

PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


def song_color(i: int) -> QColor:
    return QColor(PALETTE[i % len(PALETTE)])


def envelope(y: np.ndarray, sr: int, bins: int = 4000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, min, max) of ``y`` in ``bins`` blocks: cheap to draw at full-song zoom."""
    n = len(y)
    if n == 0:
        return np.zeros(1), np.zeros(1), np.zeros(1)
    bins = max(1, min(bins, n))
    step = n // bins
    m = y[: step * bins].reshape(bins, step)
    t = (np.arange(bins) * step + step / 2) / sr
    return t, m.min(axis=1), m.max(axis=1)


class _Base(pg.PlotWidget):
    def __init__(self, parent=None):
        super().__init__(parent=parent, background="#1e1f22")
        self.setMenuEnabled(False)
        self.getPlotItem().hideButtons()
        self.setMouseEnabled(x=True, y=False)
        self.setYRange(-1.05, 1.05, padding=0)
        self.getAxis("left").setWidth(36)
        self.setLabel("bottom", "time", units="s")
        self.getAxis("left").setTicks([[(-1, "-1"), (0, "0"), (1, "1")]])
        self._cursor = pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#ffffff", width=1.5))
        self._cursor.setZValue(50)
        self._cursor.hide()
        self.addItem(self._cursor)
        self._wave_hi = self.plot([], [], pen=pg.mkPen("#c8ccd4", width=1))
        self._wave_lo = self.plot([], [], pen=pg.mkPen("#c8ccd4", width=1))
        self._fill = pg.FillBetweenItem(self._wave_lo, self._wave_hi, brush=pg.mkBrush(200, 204, 212, 110))
        self.addItem(self._fill)
        self.scene().sigMouseClicked.connect(self._clicked)

    def _set_wave(self, y: np.ndarray, sr: int) -> None:
        t, lo, hi = envelope(y, sr)
        self._wave_hi.setData(t, hi)
        self._wave_lo.setData(t, lo)
        self.setXRange(0, max(1e-3, len(y) / sr), padding=0.01)

    def set_cursor(self, seconds: Optional[float]) -> None:
        if seconds is None:
            self._cursor.hide()
        else:
            self._cursor.setValue(seconds)
            self._cursor.show()

    def _x_of(self, ev) -> Optional[float]:
        vb = self.getPlotItem().vb
        pos = ev.scenePos()
        if not vb.sceneBoundingRect().contains(pos):
            return None
        return float(vb.mapSceneToView(pos).x())

    def _clicked(self, ev) -> None:  # pragma: no cover - overridden
        pass


class SongTimeline(_Base):
    """One song's waveform with its chunk boundaries; a click on a chunk emits its index."""

    chunk_clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._spans: list[tuple[int, float, float]] = []
        self._lines: list = []
        self._regions: list = []
        self._hl = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(255, 210, 80, 60),
                                       pen=pg.mkPen("#ffd250"))
        self._hl.setZValue(20)
        self._hl.hide()
        self.addItem(self._hl)
        self.setToolTip("Waveform of the selected song; lines are chunk boundaries.\n"
                        "Click a chunk to hear it.")

    def set_song(self, y: Optional[np.ndarray], sr: int, spans: list[tuple[int, float, float]]) -> None:
        """``spans``: (chunk index, start s, end s) of this song's chunks."""
        for it in self._lines + self._regions:
            self.removeItem(it)
        self._lines, self._regions = [], []
        self._hl.hide()
        self._spans = list(spans)
        if y is None:
            self._wave_hi.setData([], [])
            self._wave_lo.setData([], [])
            return
        self._set_wave(y, sr)
        edges = sorted({round(s, 4) for _i, s, _e in spans} | {round(e, 4) for _i, _s, e in spans})
        pen = pg.mkPen(QColor(120, 200, 255, 200), width=1)
        # one item for all boundaries (fast even with hundreds of chunks)
        if edges:
            xs = np.repeat(np.array(edges), 3)
            ys = np.tile(np.array([-1.05, 1.05, np.nan]), len(edges))
            item = pg.PlotCurveItem(xs, ys, pen=pen, connect="finite")
            self.addItem(item)
            self._lines.append(item)
        for k, (_i, s, e) in enumerate(spans):
            if k % 2 == 0:
                r = pg.LinearRegionItem((s, e), movable=False, brush=pg.mkBrush(120, 200, 255, 22),
                                        pen=pg.mkPen(None))
                r.setZValue(-10)
                self.addItem(r)
                self._regions.append(r)

    def highlight(self, chunk: Optional[int]) -> None:
        for i, s, e in self._spans:
            if i == chunk:
                self._hl.setRegion((s, e))
                self._hl.show()
                return
        self._hl.hide()

    def chunk_at(self, x: float) -> Optional[int]:
        for i, s, e in self._spans:
            if s <= x < e:
                return i
        return None

    def _clicked(self, ev) -> None:
        if ev.button() != Qt.LeftButton:
            return
        x = self._x_of(ev)
        if x is None:
            return
        i = self.chunk_at(x)
        if i is not None:
            self.highlight(i)
            self.chunk_clicked.emit(i)


class ResultTimeline(_Base):
    """The built song: segments coloured by source song, joins with their score.

    A click near a join (within 2 % of the view) emits ``join_clicked(k)`` (k = the chain
    position after the join); elsewhere it emits ``seek_requested(seconds)``."""

    join_clicked = Signal(int)
    seek_requested = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._items: list = []
        self._joins: list[float] = []
        self._sel = pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#ffd250", width=3))
        self._sel.hide()
        self.addItem(self._sel)
        self.setToolTip("The built song, coloured by source song. Numbers are join scores.\n"
                        "Click a join to see alternatives; click elsewhere to move the play cursor.")

    def set_result(self, y: Optional[np.ndarray], sr: int, segments: list[tuple[float, float, int]],
                   joins: list[tuple[float, float, Optional[float]]]) -> None:
        """``segments``: (start s, end s, song index); ``joins``: (time s, score, z or None)."""
        for it in self._items:
            self.removeItem(it)
        self._items = []
        self._sel.hide()
        self._joins = [j[0] for j in joins]
        if y is None:
            self._wave_hi.setData([], [])
            self._wave_lo.setData([], [])
            return
        self._set_wave(y, sr)
        for s, e, song in segments:
            c = song_color(song)
            c.setAlpha(90)
            r = pg.LinearRegionItem((s, e), movable=False, brush=pg.mkBrush(c), pen=pg.mkPen(None))
            r.setZValue(-10)
            self.addItem(r)
            self._items.append(r)
        for t, score, z in joins:
            bad = z is not None and z > 2.0
            line = pg.InfiniteLine(t, angle=90, pen=pg.mkPen("#ff6060" if bad else "#ffffff", width=1,
                                                             style=Qt.DashLine))
            self.addItem(line)
            self._items.append(line)
            txt = pg.TextItem(f"{score:.2f}", color="#ff8080" if bad else "#e8e8e8", anchor=(0.5, 0))
            txt.setPos(t, 1.04)
            self.addItem(txt)
            self._items.append(txt)

    def select_join(self, k: Optional[int]) -> None:
        if k is None or not 1 <= k <= len(self._joins):
            self._sel.hide()
            return
        self._sel.setValue(self._joins[k - 1])
        self._sel.show()

    def _clicked(self, ev) -> None:
        if ev.button() != Qt.LeftButton:
            return
        x = self._x_of(ev)
        if x is None:
            return
        (x0, x1), _ = self.getPlotItem().vb.viewRange()
        tol = 0.02 * (x1 - x0)
        if self._joins:
            d = np.abs(np.array(self._joins) - x)
            j = int(np.argmin(d))
            if d[j] <= tol:
                self.select_join(j + 1)
                self.join_clicked.emit(j + 1)
                return
        self.seek_requested.emit(max(0.0, x))


class LossPlot(pg.PlotWidget):
    """Training loss against step."""

    def __init__(self, parent=None):
        super().__init__(parent=parent, background="#1e1f22")
        self.setMenuEnabled(False)
        self.getPlotItem().hideButtons()
        self.setLabel("bottom", "step")
        self.setLabel("left", "loss")
        self._curve = self.plot([], [], pen=pg.mkPen("#f28e2b", width=2))
        self.setToolTip("Contrastive (InfoNCE) training loss; lower is better.")

    def set_points(self, steps, losses) -> None:
        self._curve.setData(np.asarray(steps, float), np.asarray(losses, float))
