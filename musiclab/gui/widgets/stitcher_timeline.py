"""Stitcher timelines (pyqtgraph): a song with its chunk boundaries, and the built song
coloured by source song with each join's score."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor

#: the first ten songs: Tableau 10 (one green only); beyond, golden-angle hues (below)
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac"]
_GOLDEN = 0.381966  # 1 - 1/phi: successive hues as far apart as possible, never repeating


def song_color(i: int) -> QColor:
    """Song ``i``'s colour, unique within any pool: Tableau 10, then hues stepped by the golden
    angle (offset into the gaps between the palette's hues) with lightness and saturation
    cycling over three levels, so even neighbours in a pool of 20+ songs differ in hue
    and brightness."""
    i = max(0, int(i))
    if i < len(PALETTE):
        return QColor(PALETTE[i])
    j = i - len(PALETTE)
    hue = (0.07 + j * _GOLDEN) % 1.0
    level = j % 3
    return QColor.fromHslF(hue, (0.85, 0.55, 0.7)[level], (0.45, 0.62, 0.33)[level])


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


def pretty_name(name: str, limit: int = 0) -> str:
    """A song's file stem as a musician reads it: underscores as spaces, optionally shortened."""
    s = " ".join(name.replace("_", " ").split())
    if limit and len(s) > limit:
        s = s[: limit - 1].rstrip() + "…"
    return s


def fmt_seconds(x: float) -> str:
    """``75.5`` -> ``1:15.5``; below a minute plain seconds."""
    if abs(x) < 60:
        return f"{x:.1f} s"
    m, s = divmod(x, 60)
    return f"{int(m)}:{s:04.1f}"


class TimeAxis(pg.AxisItem):
    """Seconds below a minute, m:ss beyond (no SI prefixes: never 'ms' on an empty plot)."""

    def __init__(self, **kw):
        super().__init__("bottom", **kw)
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph naming)
        lo, hi = (getattr(self, "range", None) or (0, 0))[:2]
        minutes = max(abs(lo), abs(hi)) >= 60  # one format for all tick levels of a view
        out = []
        for v in values:
            if v < 0:
                out.append("")
            elif minutes:
                m, s = divmod(v, 60)
                out.append(f"{int(m)}:{s:02.0f}" if spacing >= 1 else f"{int(m)}:{s:04.1f}")
            else:
                out.append(f"{v:g}")
        return out


class _Base(pg.PlotWidget):
    #: the x range shown while empty (s)
    EMPTY_RANGE = 10.0

    def __init__(self, parent=None, hint: str = ""):
        super().__init__(parent=parent, background="#1e1f22", axisItems={"bottom": TimeAxis()})
        self.setMenuEnabled(False)
        self.getPlotItem().hideButtons()
        self.setMouseEnabled(x=True, y=False)
        self.setYRange(-1.08, 1.08, padding=0)
        self.hideAxis("left")
        self._cursor = pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#ffffff", width=1.5))
        self._cursor.setZValue(50)
        self._cursor.hide()
        self.addItem(self._cursor)
        self._wave_hi = self.plot([], [], pen=pg.mkPen("#c8ccd4", width=1))
        self._wave_lo = self.plot([], [], pen=pg.mkPen("#c8ccd4", width=1))
        self._fill = pg.FillBetweenItem(self._wave_lo, self._wave_hi, brush=pg.mkBrush(200, 204, 212, 110))
        self.addItem(self._fill)
        self._hint = pg.TextItem("", color="#9aa0a6", anchor=(0.5, 0.5))
        self._hint.setZValue(60)
        self.addItem(self._hint, ignoreBounds=True)
        self.duration = 0.0
        self.set_hint(hint)
        self.scene().sigMouseClicked.connect(self._clicked)

    def set_hint(self, text: str) -> None:
        """Show ``text`` in the middle of an empty plot (with a 0..10 s axis)."""
        html = "<br>".join(line.replace("&", "&amp;").replace("<", "&lt;") for line in text.split("\n"))
        self._hint.setHtml(f"<div style='text-align:center; color:#9aa0a6'>{html}</div>")
        self._hint.textItem.setTextWidth(560)
        self._hint.setVisible(bool(text))
        if text:
            self.duration = 0.0
            self.getPlotItem().vb.setLimits(xMin=None, xMax=None, minXRange=None)
            self.getAxis("bottom").setLabel("time (s)")
            self.setXRange(0, self.EMPTY_RANGE, padding=0.02)
            self._hint.setPos(self.EMPTY_RANGE / 2, 0)

    def is_empty(self) -> bool:
        return self._hint.isVisible()

    def _set_wave(self, y: np.ndarray, sr: int) -> None:
        self._hint.hide()
        t, lo, hi = envelope(y, sr)
        self._wave_hi.setData(t, hi)
        self._wave_lo.setData(t, lo)
        dur = max(1e-3, len(y) / sr)
        self.duration = dur
        vb = self.getPlotItem().vb
        vb.setLimits(xMin=-0.02 * dur, xMax=1.02 * dur, minXRange=min(0.05, dur))
        self.getAxis("bottom").setLabel("time (s)" if dur < 60 else "time (min:s)")
        self.setXRange(0, dur, padding=0.01)

    def _clear_wave(self, hint: str) -> None:
        self._wave_hi.setData([], [])
        self._wave_lo.setData([], [])
        self.set_cursor(None)
        self.set_hint(hint)

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
    HINT = ("No song yet.\nPress Demo pool, or drop songs or a folder on the window,\n"
            "to see a song and its chunks here.")

    def __init__(self, parent=None):
        super().__init__(parent, hint=self.HINT)
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
            self._clear_wave(self.HINT)
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
    HINT = ("Nothing built yet.\nBuild a song (Ctrl+B): it appears here coloured by source song,\n"
            "with the scorer's score at every join.")
    #: least horizontal room (px) between two visible score labels
    LABEL_GAP = 38

    def __init__(self, parent=None):
        super().__init__(parent, hint=self.HINT)
        self._items: list = []
        self._joins: list[float] = []
        self._labels: list = []  # (time, TextItem, bad)
        #: how a join score is written (the tab sets it per scorer)
        self.score_fmt = lambda s: f"{s:.2f}"
        self._sel = pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#ffd250", width=3))
        self._sel.hide()
        self.addItem(self._sel)
        self.getPlotItem().vb.sigXRangeChanged.connect(self._thin_labels)
        self.setToolTip("The built song, coloured by source song. Numbers are join scores (higher = a better fit;\n"
                        "for the learned default, match probabilities normalised over the pool).\n"
                        "Click a join to see alternatives; click elsewhere to move the play cursor.")

    def set_result(self, y: Optional[np.ndarray], sr: int, segments: list[tuple[float, float, int]],
                   joins: list[tuple[float, float, Optional[float]]]) -> None:
        """``segments``: (start s, end s, song index); ``joins``: (time s, score, z or None)."""
        for it in self._items:
            self.removeItem(it)
        self._items = []
        self._sel.hide()
        self._joins = [j[0] for j in joins]
        self._labels = []
        if y is None:
            self._clear_wave(self.HINT)
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
            txt = pg.TextItem(self.score_fmt(score), color="#ff8080" if bad else "#e8e8e8", anchor=(0.5, 0))
            txt.setPos(t, 1.07)
            lab = self.score_fmt(score)
            txt.setToolTip(f"join at {fmt_seconds(t)}: " + (f"{lab} clean (calibrated P that the seam audit "
                           "finds it inaudible)" if lab.endswith("%") else f"join cost {lab}")
                           + (f", novelty z {z:+.2f}" if z is not None else ""))
            self.addItem(txt, ignoreBounds=True)
            self._items.append(txt)
            self._labels.append((t, txt, bad))
        self._thin_labels()

    def _thin_labels(self, *_a) -> None:
        """Show as many score labels as fit without overlapping (rough seams first)."""
        if not getattr(self, "_labels", None):
            return
        (x0, x1), _ = self.getPlotItem().vb.viewRange()
        width = max(1.0, self.getPlotItem().vb.width())
        px = width / max(1e-9, x1 - x0)
        taken: list[float] = []
        for t, txt, bad in sorted(self._labels, key=lambda r: not r[2]):  # bad seams win
            x = (t - x0) * px
            ok = 0 <= x <= width and all(abs(x - o) >= self.LABEL_GAP for o in taken)
            txt.setVisible(ok)
            if ok:
                taken.append(x)

    def resizeEvent(self, ev) -> None:  # noqa: N802
        super().resizeEvent(ev)
        self._thin_labels()

    def visible_labels(self) -> int:
        return sum(1 for _t, txt, _b in self._labels if txt.isVisible())

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
