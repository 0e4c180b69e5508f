"""The valence/arousal plane: Russell's four quadrants, mood words, predicted points and
their uncertainty (an ellipse: spread of the segment predictions, widened by the
entropy of the quadrant probabilities).

A point's position is :func:`~musiclab.emotion.session.plane_coords`: the log-odds of each
axis's side (a quarter of a half-axis per factor of ten), not the saturating expected
values of the table, so confident files are spread out instead of piled up in a corner.

The plane is always square (valence and arousal both run from -1 to +1, with a thin
margin that holds the quadrant titles, outside the coloured square, so no point or
label ever covers them)."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QGraphicsRectItem, QLabel, QVBoxLayout, QWidget

from ...emotion.session import PLANE_NOTE, plane_coords, plane_spread

QUADRANT_COLOURS = {"Q1": "#f2a93b", "Q2": "#d9534f", "Q3": "#5b7db1", "Q4": "#4caf7a"}
QUADRANT_TITLES = {"Q1": "Q1 happy / excited", "Q2": "Q2 angry / tense",
                   "Q3": "Q3 sad / depressed", "Q4": "Q4 calm / relaxed"}
MOOD_WORDS = {
    "Q1": [("joyful", 0.55, 0.75), ("excited", 0.3, 0.55), ("cheerful", 0.8, 0.35)],
    "Q2": [("angry", -0.6, 0.75), ("tense", -0.3, 0.55), ("anxious", -0.8, 0.35)],
    "Q3": [("sad", -0.6, -0.35), ("gloomy", -0.3, -0.6), ("depressed", -0.7, -0.8)],
    "Q4": [("calm", 0.55, -0.35), ("relaxed", 0.3, -0.6), ("serene", 0.75, -0.8)],
}
LABEL_MAX_CHARS = 30
CAPTION = ("<span style='color:#aaa'>\u25cf file (colour = quadrant) &nbsp; \u25ef <b>ring = uncertainty</b> "
           "(bigger = less sure) &nbsp; \u2504 segments &nbsp; position: log\u2011odds (\u00bc axis = \u00d710) "
           "&nbsp; <i>(hover for details)</i></span>")
CAPTION_TIP = ("Each dot is one analysed file, coloured by its most likely quadrant. Hover a dot to see its name; "
               "click it to select it (white outline and name label).\n\n" + PLANE_NOTE + "\n\n"
               "The white ring around the selected file shows how uncertain the model is. Its half-width is "
               "the spread of the segments' positions over the file's 10 s segments plus a term that grows "
               "with the uncertainty number (0 = the model puts all probability on one quadrant, 1 = equal "
               "probability for all four). A small ring: the model is sure and the music keeps one mood; "
               "a big ring: the mood changes over time or the model cannot decide.\n\n"
               "The dashed path joins the file's segments in time order (see the timeline below).")
SHORT_TITLES = {"Q1": "Q1 happy", "Q2": "Q2 angry", "Q3": "Q3 sad", "Q4": "Q4 calm"}


def short_name(name: str, limit: int = LABEL_MAX_CHARS) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "\u2026"


def point_tip(r: dict) -> str:
    """Hover text of one point: the expected valence / arousal (as in the table) and where the
    plane draws it (the log-odds position)."""
    x, y = plane_coords(r)
    return (f"{r['name']}\n{r['quadrant']} {r.get('mood', '')}\nvalence {r['valence']:+.2f}, arousal "
            f"{r['arousal']:+.2f}\nplane position ({x:+.2f}, {y:+.2f}) = log-odds / 4\n"
            f"uncertainty {r['uncertainty']:.2f} (0 sure \u2026 1 no idea)")


class _PlanePlot(pg.PlotWidget):
    def __init__(self, parent=None):
        super().__init__(parent, background="#1e1f22")


class _Area(QWidget):
    def __init__(self, on_resize, parent=None):
        super().__init__(parent)
        self._on_resize = on_resize

    def resizeEvent(self, ev):  # noqa: N802
        super().resizeEvent(ev)
        self._on_resize()


class EmotionPlane(QWidget):
    """Shows results as points; the selected one is ringed, gets an uncertainty ellipse,
    its segment trajectory and a name label. ``point_clicked(index)`` when a point is clicked."""

    point_clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._area = _Area(self._fit)
        self.plot = _PlanePlot(self._area)
        self.caption = QLabel(CAPTION)
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.RichText)
        self.caption.setToolTip(CAPTION_TIP)
        self.caption.setAlignment(Qt.AlignHCenter)
        f = self.caption.font()
        f.setPointSizeF(max(7.0, f.pointSizeF() * 0.85))
        self.caption.setFont(f)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self._area, 1)
        lay.addWidget(self.caption)
        self.setMinimumSize(220, 220)

        p = self.plot
        p.setAspectLocked(True)
        p.setMouseEnabled(False, False)
        p.hideButtons()
        pi = p.getPlotItem()
        pi.setMenuEnabled(False)
        pi.setLabel("bottom", "valence  (negative \u2190 \u2192 positive)")
        pi.setLabel("left", "arousal  (low \u2190 \u2192 high)")
        for ax in ("bottom", "left"):
            pi.getAxis(ax).setTicks([[(-1, "\u22121"), (-0.5, "\u22120.5"), (0, "0"), (0.5, "0.5"), (1, "1")]])
        pi.showGrid(x=False, y=False)
        for q, (x0, y0) in {"Q1": (0, 0), "Q2": (-1, 0), "Q3": (-1, -1), "Q4": (0, -1)}.items():
            c = QColor(QUADRANT_COLOURS[q])
            c.setAlpha(28)
            rect = QGraphicsRectItem(x0, y0, 1, 1)
            rect.setBrush(c)
            rect.setPen(pg.mkPen(None))
            p.addItem(rect)
        border = QGraphicsRectItem(-1, -1, 2, 2)
        border.setPen(pg.mkPen("#555", width=1))
        p.addItem(border)
        p.addItem(pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#777", width=1)))
        p.addItem(pg.InfiniteLine(0, angle=0, pen=pg.mkPen("#777", width=1)))
        # titles sit in the margin outside the coloured square: never covered by a point or label
        title_pos = {"Q1": (1.0, 1.0, (1, 1)), "Q2": (-1.0, 1.0, (0, 1)),
                     "Q3": (-1.0, -1.0, (0, 0)), "Q4": (1.0, -1.0, (1, 0))}
        self._title_font = QFont()
        self._title_font.setBold(True)
        self.titles: dict[str, pg.TextItem] = {}
        for q, (x, y, anchor) in title_pos.items():
            t = pg.TextItem(QUADRANT_TITLES[q], color=QUADRANT_COLOURS[q], anchor=anchor)
            t.setFont(self._title_font)
            t.setPos(x, y)
            p.addItem(t)
            self.titles[q] = t
            for word, wx, wy in MOOD_WORDS[q]:
                w = pg.TextItem(word, color="#8a8a8a", anchor=(0.5, 0.5))
                w.setPos(wx, wy)
                w.setZValue(-5)
                p.addItem(w)
        # uncertainty ellipse, clipped cleanly at the edge of the square
        self._clip = QGraphicsRectItem(-1, -1, 2, 2)
        self._clip.setPen(pg.mkPen(None))
        self._clip.setFlag(QGraphicsItem.ItemClipsChildrenToShape, True)
        p.addItem(self._clip)
        self._ellipse = QGraphicsEllipseItem(self._clip)
        self._ellipse.setPen(pg.mkPen("#ffffff", width=2))
        self._ellipse.setBrush(pg.mkBrush(255, 255, 255, 22))
        self._ellipse.setVisible(False)
        self._scatter = pg.ScatterPlotItem(size=10, pen=pg.mkPen("#111"), hoverable=True, hoverSize=15,
                                           hoverPen=pg.mkPen("#ffffff", width=2), tip=self._tip)
        self._scatter.sigClicked.connect(self._on_click)
        self._scatter.setZValue(10)
        p.addItem(self._scatter)
        self._traj = pg.PlotDataItem(pen=pg.mkPen("#dddddd", width=1, style=Qt.DashLine),
                                     symbol="o", symbolSize=4, symbolBrush="#cccccc", symbolPen=None)
        self._traj.setZValue(5)
        p.addItem(self._traj)
        self._sel = pg.ScatterPlotItem(size=15, pen=pg.mkPen("#ffffff", width=2.5))
        self._sel.setZValue(20)
        p.addItem(self._sel)
        self._label = pg.TextItem("", color="#ffffff", anchor=(0, 0), fill=pg.mkBrush(30, 31, 34, 200),
                                  border=pg.mkPen("#666"))
        self._label.setZValue(8)  # under the dots: a label never hides another file's point
        self._label.setVisible(False)  # shown with a selection: no empty framed box on an empty plane
        p.addItem(self._label)
        self._results: list[dict] = []
        self._xy: list[tuple[float, float]] = []  # plane_coords of each result
        self._selected: Optional[int] = None
        self._margin = 0.1
        self._refits = 0
        pi.vb.sigResized.connect(self._on_view_resized)
        self._set_range()

    # -- geometry ---------------------------------------------------------------------------
    def _fit(self) -> None:
        """Give the plot a size whose view box is square, centred in the available area."""
        self._refits = 0
        self._fit_once()

    def _fit_once(self) -> None:
        W, H = self._area.width(), self._area.height()
        vb = self.plot.getPlotItem().vb
        vw, vh = vb.size().width(), vb.size().height()
        if vw > 10 and vh > 10 and self.plot.width() > vw:
            extra_w = min(max(self.plot.width() - vw, 20), 140)
            extra_h = min(max(self.plot.height() - vh, 20), 140)
        else:
            extra_w, extra_h = 62, 48
        side = max(60, min(W - extra_w, H - extra_h))
        w, h = int(side + extra_w), int(side + extra_h)
        geo = (max(0, (W - w) // 2), max(0, (H - h) // 2), min(w, W), min(h, H))
        if self.plot.geometry().getRect() != geo:
            self.plot.setGeometry(*geo)

    def _on_view_resized(self, *_):
        vb = self.plot.getPlotItem().vb
        vw, vh = vb.size().width(), vb.size().height()
        if abs(vw - vh) > 2 and self._refits < 3:  # axis widths changed: fit again
            self._refits += 1
            QTimer.singleShot(0, self._fit_once)
        fm = QFontMetrics(self._title_font)
        th = fm.height() + 3
        half = vw / 2 - 8
        for q, t in self.titles.items():  # long titles only when both of a row fit beside each other
            t.setText(QUADRANT_TITLES[q] if fm.horizontalAdvance(QUADRANT_TITLES[q]) < half else SHORT_TITLES[q])
        side = max(min(vw, vh), 60.0)
        f = 2 * th / side
        self._margin = float(np.clip(f / max(1 - f, 0.2), 0.06, 0.35))
        self._set_range()
        if self._selected is not None:
            self._place_label()

    def _set_range(self) -> None:
        r = 1.0 + self._margin
        self.plot.setRange(xRange=(-r, r), yRange=(-r, r), padding=0)

    def view_range(self):
        """((x0, x1), (y0, y1)) shown now."""
        (x0, x1), (y0, y1) = self.plot.getPlotItem().vb.viewRange()
        return (x0, x1), (y0, y1)

    # -- content ----------------------------------------------------------------------------
    def set_results(self, results: list[dict], selected: Optional[int] = None) -> None:
        self._results = list(results)
        self._xy = [plane_coords(r) for r in self._results]
        spots = []
        for i, r in enumerate(self._results):
            spots.append({"pos": self._xy[i], "data": i,
                          "brush": pg.mkBrush(QUADRANT_COLOURS.get(r["quadrant"], "#ccc"))})
        self._scatter.setData(spots)
        self.select(selected)

    def select(self, index: Optional[int]) -> None:
        if index is None or not (0 <= index < len(self._results)):
            self._selected = None
            self._sel.setData([])
            self._ellipse.setVisible(False)
            self._traj.setData([], [])
            self._label.setText("")
            self._label.setVisible(False)
            return
        self._selected = index
        r = self._results[index]
        v, a = self._xy[index]
        self._sel.setData([{"pos": (v, a), "brush": pg.mkBrush(QUADRANT_COLOURS.get(r["quadrant"], "#ccc"))}])
        rx, ry = self.uncertainty_radii(r)
        self._ellipse.setRect(QRectF(v - rx, a - ry, 2 * rx, 2 * ry))
        self._ellipse.setVisible(True)
        segs = r.get("segments") or []
        if len(segs) > 1:
            xy = np.array([plane_coords(s) for s in segs])
            self._traj.setData(xy[:, 0], xy[:, 1])
        else:
            self._traj.setData([], [])
        self._label.setText(f"{short_name(r['name'])}\n{r['quadrant']} \u00b7 uncertainty {r['uncertainty']:.2f}")
        self._label.setVisible(True)
        self._place_label()

    def _place_label(self) -> None:
        """Beside the selected point, towards the centre, kept inside the coloured square
        (the quadrant titles are outside it, so the label never covers them)."""
        if self._selected is None:
            return
        v, a = self._xy[self._selected]
        vb = self.plot.getPlotItem().vb
        px, py = vb.viewPixelSize()
        br = self._label.boundingRect()
        w = min(br.width() * abs(px), 1.9) if px else 0.8
        h = min(br.height() * abs(py), 1.9) if py else 0.2
        gap = 0.05
        left = v - gap - w if v > 0 else v + gap  # extend towards the centre
        top = a - gap if a > 0 else a + gap + h  # y grows upwards: 'top' is the larger value
        left = float(np.clip(left, -1.0, 1.0 - w))
        top = float(np.clip(top, -1.0 + h, 1.0))
        self._label.setAnchor((0, 0))
        self._label.setPos(left, top)

    def label_rect(self) -> QRectF:
        """The selected point's label in data coordinates (for tests)."""
        vb = self.plot.getPlotItem().vb
        px, py = vb.viewPixelSize()
        br = self._label.boundingRect()
        pos = self._label.pos()
        return QRectF(pos.x(), pos.y() - br.height() * abs(py), br.width() * abs(px), br.height() * abs(py))

    def point_position(self, index: int) -> tuple[float, float]:
        """Where result ``index`` is drawn (:func:`~musiclab.emotion.session.plane_coords`)."""
        return self._xy[index]

    @staticmethod
    def uncertainty_radii(r: dict) -> tuple[float, float]:
        """Ellipse half-axes: the spread of the segments' plane positions (else the stored spread
        of their expected values) plus a term growing with the entropy."""
        u = float(r.get("uncertainty", 0.0))
        base = 0.05 + 0.6 * u ** 2
        if len(r.get("segments") or []) > 1:
            sx, sy = plane_spread(r)
        else:
            sx, sy = float(r.get("valence_std", 0.0)), float(r.get("arousal_std", 0.0))
        return base + sx, base + sy

    def _tip(self, x=0.0, y=0.0, data=None) -> str:
        if data is None or not (0 <= int(data) < len(self._results)):
            return ""
        return point_tip(self._results[int(data)])

    def _on_click(self, item, points, ev=None):
        if points is not None and len(points):
            self.point_clicked.emit(int(points[0].data()))
