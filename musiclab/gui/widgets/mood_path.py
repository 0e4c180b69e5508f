"""Widgets of the Stitcher's mood path (issue 18): a small valence/arousal plane on which the user
drags the path's points (:class:`MoodPathPlane`), and the built song's predicted valence and
arousal over time drawn over the requested curve (:class:`MoodTimeline`).

Positions are the Emotion tab's plane coordinates (:func:`musiclab.emotion.session.plane_coords`)."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal

from .emotion_plane import QUADRANT_COLOURS, SHORT_TITLES

VAL_COLOUR, ARO_COLOUR = "#f2c14e", "#ef5d60"
PATH_COLOUR = "#ffffff"
START_COLOUR, END_COLOUR = "#4caf7a", "#f2a93b"
#: a click within this many plane units of a point grabs it
GRAB = 0.12


class MoodPathPlane(pg.PlotWidget):
    """The path on the plane: the first point (start mood, green) and the last (end mood, orange)
    and any points between, joined in time order. Drag a point to move it; double-click the plane
    to add a point on the nearest leg; right-click a middle point to remove it.
    ``path_changed(points)`` after every change (a list of ``(valence, arousal)``)."""

    path_changed = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent, background="#1e1f22")
        pi = self.getPlotItem()
        pi.setXRange(-1.05, 1.05, padding=0)
        pi.setYRange(-1.05, 1.05, padding=0)
        pi.setMouseEnabled(x=False, y=False)
        pi.hideButtons()
        pi.setMenuEnabled(False)
        pi.setLabel("bottom", "valence")
        pi.setLabel("left", "arousal")
        pi.getViewBox().setAspectLocked(True)
        for ax in ("bottom", "left"):
            pi.getAxis(ax).setTicks([[(-1, "\u22121"), (0, "0"), (1, "1")]])
        for q, (x0, y0) in {"Q1": (0, 0), "Q2": (-1, 0), "Q3": (-1, -1), "Q4": (0, -1)}.items():
            c = pg.mkColor(QUADRANT_COLOURS[q])
            c.setAlpha(38)
            r = pg.QtWidgets.QGraphicsRectItem(x0, y0, 1, 1)
            r.setBrush(c)
            r.setPen(pg.mkPen(None))
            self.addItem(r)
            t = pg.TextItem(SHORT_TITLES[q], color=QUADRANT_COLOURS[q], anchor=(0.5, 0.5))
            t.setPos(x0 + 0.5, y0 + (0.9 if y0 == 0 else 0.1))
            self.addItem(t)
        self.addItem(pg.InfiniteLine(0, angle=0, pen=pg.mkPen("#555")))
        self.addItem(pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#555")))
        self._chunks = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(200, 200, 200, 90))
        self.addItem(self._chunks)
        self._line = self.plot([], [], pen=pg.mkPen(PATH_COLOUR, width=2, style=Qt.DashLine))
        self._dots = pg.ScatterPlotItem(size=13, pen=pg.mkPen("#111", width=1))
        self.addItem(self._dots)
        self._got = pg.ScatterPlotItem(size=16, symbol="star", pen=pg.mkPen("#111"), brush=pg.mkBrush("#ffffff"))
        self.addItem(self._got)
        self._points: list[tuple[float, float]] = [(0.3, -0.6), (0.5, 0.7)]
        self._drag: Optional[int] = None
        self._editable = True
        self.setToolTip("The mood path: green = the start mood, orange = the end mood. Drag a point to move it; "
                        "double-click to add a point in between; right-click a middle point to remove it.\n"
                        "Grey dots: the pool's chunks as the Emotion model hears them; the star: the built song.")
        self.scene().sigMouseClicked.connect(self._clicked)
        self._redraw()

    def sizeHint(self) -> QSize:  # noqa: N802 - small: it sits in the side panel, which must not widen
        return QSize(260, 240)

    # -- data -----------------------------------------------------------------------------------
    def points(self) -> list[tuple[float, float]]:
        return list(self._points)

    def set_points(self, points, emit: bool = True) -> None:
        pts = [(float(np.clip(v, -1, 1)), float(np.clip(a, -1, 1))) for v, a in points]
        if len(pts) < 2:
            raise ValueError("a mood path needs at least two points")
        self._points = pts
        self._redraw()
        if emit:
            self.path_changed.emit(self.points())

    def set_chunk_moods(self, xy: Optional[np.ndarray]) -> None:
        """The pool's chunks as grey dots (None: none)."""
        if xy is None or len(xy) == 0:
            self._chunks.setData([], [])
        else:
            xy = np.asarray(xy, float)
            self._chunks.setData(xy[:, 0], xy[:, 1])

    def set_result_point(self, xy: Optional[tuple[float, float]]) -> None:
        """The built song's predicted plane point (a star), or None."""
        self._got.setData([] if xy is None else [xy[0]], [] if xy is None else [xy[1]])

    def set_editable(self, on: bool) -> None:
        self._editable = bool(on)
        self._redraw()

    def chunk_count(self) -> int:
        return len(self._chunks.data)

    # -- drawing / mouse --------------------------------------------------------------------------
    def _redraw(self) -> None:
        p = np.array(self._points)
        self._line.setData(p[:, 0], p[:, 1])
        n = len(p)
        brushes = [pg.mkBrush(START_COLOUR if i == 0 else END_COLOUR if i == n - 1 else "#dddddd")
                   for i in range(n)]
        if not self._editable:
            brushes = [pg.mkBrush(120, 120, 120) for _ in range(n)]
        self._dots.setData(p[:, 0], p[:, 1], brush=brushes)

    def _view_pos(self, scene_pos):
        vb = self.getPlotItem().vb
        q = vb.mapSceneToView(scene_pos)
        return float(q.x()), float(q.y())

    def _nearest(self, x: float, y: float) -> Optional[int]:
        if not self._points:
            return None
        d = [np.hypot(x - v, y - a) for v, a in self._points]
        i = int(np.argmin(d))
        return i if d[i] <= GRAB else None

    def add_point(self, x: float, y: float) -> int:
        """Insert a point on the leg of the path nearest ``(x, y)``; returns its index."""
        p = np.array(self._points)
        best, at = np.inf, 1
        for k in range(len(p) - 1):
            a, b = p[k], p[k + 1]
            ab = b - a
            t = float(np.clip(np.dot([x, y] - a, ab) / max(np.dot(ab, ab), 1e-12), 0, 1))
            d = float(np.hypot(*(a + t * ab - [x, y])))
            if d < best:
                best, at = d, k + 1
        self._points.insert(at, (float(np.clip(x, -1, 1)), float(np.clip(y, -1, 1))))
        self._redraw()
        self.path_changed.emit(self.points())
        return at

    def remove_point(self, i: int) -> bool:
        """Remove a middle point (the start and the end stay)."""
        if 0 < i < len(self._points) - 1:
            del self._points[i]
            self._redraw()
            self.path_changed.emit(self.points())
            return True
        return False

    def _clicked(self, ev) -> None:
        if not self._editable:
            return
        x, y = self._view_pos(ev.scenePos())
        if abs(x) > 1.05 or abs(y) > 1.05:
            return
        if ev.button() == Qt.RightButton:
            i = self._nearest(x, y)
            if i is not None:
                self.remove_point(i)
            ev.accept()
        elif ev.double():
            self.add_point(x, y)
            ev.accept()

    def mousePressEvent(self, ev):  # noqa: N802
        if self._editable and ev.button() == Qt.LeftButton:
            x, y = self._view_pos(self.mapToScene(ev.position().toPoint()))
            self._drag = self._nearest(x, y)
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev):  # noqa: N802
        if self._drag is not None:
            x, y = self._view_pos(self.mapToScene(ev.position().toPoint()))
            self._points[self._drag] = (float(np.clip(x, -1, 1)), float(np.clip(y, -1, 1)))
            self._redraw()
            ev.accept()
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev):  # noqa: N802
        if self._drag is not None:
            self._drag = None
            self.path_changed.emit(self.points())
            ev.accept()
            return
        super().mouseReleaseEvent(ev)


class MoodTimeline(pg.PlotWidget):
    """The built song's predicted valence and arousal per 10 s window (solid) over the requested
    curve (dashed), against time; ``set_report(None)`` clears it."""

    def __init__(self, parent=None):
        super().__init__(parent, background="#1e1f22")
        pi = self.getPlotItem()
        pi.setLabel("bottom", "time", units="s")
        pi.showGrid(x=True, y=True, alpha=0.2)
        pi.setYRange(-1.3, 1.3, padding=0)  # room for the −1 and 1 tick labels
        pi.setMouseEnabled(x=False, y=False)
        pi.hideButtons()
        pi.getAxis("left").setTicks([[(-1, "\u22121"), (0, "0"), (1, "1")]])
        self.addItem(pg.InfiniteLine(0, angle=0, pen=pg.mkPen("#555")))
        self.want_v = self.plot([], [], pen=pg.mkPen(VAL_COLOUR, width=2, style=Qt.DashLine))
        self.want_a = self.plot([], [], pen=pg.mkPen(ARO_COLOUR, width=2, style=Qt.DashLine))
        self.got_v = self.plot([], [], pen=pg.mkPen(VAL_COLOUR, width=2), symbol="o", symbolSize=5,
                               symbolBrush=VAL_COLOUR, symbolPen=None)
        self.got_a = self.plot([], [], pen=pg.mkPen(ARO_COLOUR, width=2), symbol="o", symbolSize=5,
                               symbolBrush=ARO_COLOUR, symbolPen=None)
        self._cursor = pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#ffffff", width=1))
        self._cursor.setVisible(False)
        self.addItem(self._cursor)
        self.setToolTip("The built song as the Emotion model hears it: valence (yellow) and arousal (red) of each "
                        "10 s window (solid), over the mood path that was asked for (dashed).")
        self.set_report(None)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(600, 150)

    def set_report(self, rep: Optional[dict]) -> None:
        pi = self.getPlotItem()
        for c in (self.want_v, self.want_a, self.got_v, self.got_a):
            c.setData([], [])
        # shown only with a rating: an empty plot before the first build says nothing
        self.setVisible(bool(rep and rep.get("segments")))
        if not rep or not rep.get("segments"):
            pi.setTitle("Mood over time: build a song", color="#bbbbbb", size="9pt")
            return
        segs = rep["segments"]
        t = np.array([s["t"] for s in segs], float)
        self.got_v.setData(t, [s["valence"] for s in segs])
        self.got_a.setData(t, [s["arousal"] for s in segs])
        dur = float(rep.get("duration") or (segs[-1]["end"] if segs else 1.0))
        path = rep.get("path")
        if path:
            pts, times = np.array(path["points"], float), np.array(path["times"], float)
            tt = np.linspace(0, 1, 101)
            self.want_v.setData(tt * dur, np.interp(tt, times, pts[:, 0]))
            self.want_a.setData(tt * dur, np.interp(tt, times, pts[:, 1]))
        pi.setXRange(0, max(dur, 1.0), padding=0.01)
        key = (f"<span style='color:{VAL_COLOUR}'>valence</span> and "
               f"<span style='color:{ARO_COLOUR}'>arousal</span> over time")
        # the song's quadrant and what was asked are in the Mood path panel's text beside it
        title = f"{key} \u00b7 solid: the song, dashed: asked" if path else f"{key} \u00b7 no path asked"
        if rep.get("mean_distance") is not None:
            title += f" \u00b7 mean distance {rep['mean_distance']:.2f}"
        pi.setTitle(title, color="#bbbbbb", size="9pt")

    def set_position(self, seconds: Optional[float]) -> None:
        self._cursor.setVisible(seconds is not None)
        if seconds is not None:
            self._cursor.setValue(seconds)
