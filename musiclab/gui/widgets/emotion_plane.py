"""The valence/arousal plane: Russell's four quadrants, mood words, predicted points and
their uncertainty (an ellipse: spread of the segment predictions, widened by the
entropy of the quadrant probabilities)."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont

QUADRANT_COLOURS = {"Q1": "#f2a93b", "Q2": "#d9534f", "Q3": "#5b7db1", "Q4": "#4caf7a"}
QUADRANT_TITLES = {"Q1": "Q1 happy / excited", "Q2": "Q2 angry / tense",
                   "Q3": "Q3 sad / depressed", "Q4": "Q4 calm / relaxed"}
MOOD_WORDS = {
    "Q1": [("joyful", 0.55, 0.75), ("excited", 0.3, 0.65), ("cheerful", 0.8, 0.45)],
    "Q2": [("angry", -0.6, 0.78), ("tense", -0.3, 0.62), ("anxious", -0.8, 0.45)],
    "Q3": [("sad", -0.6, -0.45), ("gloomy", -0.3, -0.8), ("depressed", -0.75, -0.75)],
    "Q4": [("calm", 0.55, -0.5), ("relaxed", 0.3, -0.82), ("serene", 0.82, -0.78)],
}


class EmotionPlane(pg.PlotWidget):
    """Shows results as points; the selected one gets an uncertainty ellipse and its
    segment trajectory. ``point_clicked(index)`` when a point is clicked."""

    point_clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent, background="#1e1f22")
        self.setAspectLocked(True)
        self.setRange(xRange=(-1.05, 1.05), yRange=(-1.05, 1.05), padding=0)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        pi = self.getPlotItem()
        pi.setLabel("bottom", "valence  (negative \u2190 \u2192 positive)")
        pi.setLabel("left", "arousal  (low \u2190 \u2192 high)")
        pi.showGrid(x=False, y=False)
        for q, (x0, y0) in {"Q1": (0, 0), "Q2": (-1, 0), "Q3": (-1, -1), "Q4": (0, -1)}.items():
            c = QColor(QUADRANT_COLOURS[q])
            c.setAlpha(28)
            rect = pg.QtWidgets.QGraphicsRectItem(x0, y0, 1, 1)
            rect.setBrush(c)
            rect.setPen(pg.mkPen(None))
            self.addItem(rect)
        self.addItem(pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#777", width=1)))
        self.addItem(pg.InfiniteLine(0, angle=0, pen=pg.mkPen("#777", width=1)))
        title_pos = {"Q1": (0.98, 1.0, (1, 0)), "Q2": (-0.98, 1.0, (0, 0)),
                     "Q3": (-0.98, -1.0, (0, 1)), "Q4": (0.98, -1.0, (1, 1))}
        bold = QFont()
        bold.setBold(True)
        for q, (x, y, anchor) in title_pos.items():
            t = pg.TextItem(QUADRANT_TITLES[q], color=QUADRANT_COLOURS[q], anchor=anchor)
            t.setFont(bold)
            t.setPos(x, y)
            self.addItem(t)
            for word, wx, wy in MOOD_WORDS[q]:
                w = pg.TextItem(word, color="#9a9a9a", anchor=(0.5, 0.5))
                w.setPos(wx, wy)
                self.addItem(w)
        self._scatter = pg.ScatterPlotItem(size=9, pen=pg.mkPen("#111"), hoverable=True)
        self._scatter.sigClicked.connect(self._on_click)
        self.addItem(self._scatter)
        self._traj = pg.PlotDataItem(pen=pg.mkPen("#dddddd", width=1, style=Qt.DashLine),
                                     symbol="o", symbolSize=4, symbolBrush="#cccccc", symbolPen=None)
        self.addItem(self._traj)
        self._ellipse = pg.PlotDataItem(pen=pg.mkPen("#ffffff", width=2), fillLevel=None)
        self.addItem(self._ellipse)
        self._sel = pg.ScatterPlotItem(size=16, pen=pg.mkPen("#ffffff", width=2), brush=pg.mkBrush(0, 0, 0, 0))
        self.addItem(self._sel)
        self._label = pg.TextItem("", color="#ffffff", anchor=(0, 0), fill=pg.mkBrush(30, 31, 34, 200))
        self.addItem(self._label)
        self._results: list[dict] = []
        self.setToolTip("Valence (x) and arousal (y) of each analysed file. The ring around the selected file "
                        "shows how uncertain the model is: spread over the segments and over the quadrants.")

    def set_results(self, results: list[dict], selected: Optional[int] = None) -> None:
        self._results = list(results)
        spots = []
        for i, r in enumerate(self._results):
            spots.append({"pos": (r["valence"], r["arousal"]), "data": i,
                          "brush": pg.mkBrush(QUADRANT_COLOURS.get(r["quadrant"], "#ccc"))})
        self._scatter.setData(spots)
        self.select(selected)

    def select(self, index: Optional[int]) -> None:
        if index is None or not (0 <= index < len(self._results)):
            self._sel.setData([])
            self._ellipse.setData([], [])
            self._traj.setData([], [])
            self._label.setText("")
            return
        r = self._results[index]
        v, a = r["valence"], r["arousal"]
        self._sel.setData([v], [a])
        rx, ry = self.uncertainty_radii(r)
        t = np.linspace(0, 2 * np.pi, 64)
        self._ellipse.setData(np.clip(v + rx * np.cos(t), -1.05, 1.05), np.clip(a + ry * np.sin(t), -1.05, 1.05))
        segs = r.get("segments") or []
        if len(segs) > 1:
            self._traj.setData([s["valence"] for s in segs], [s["arousal"] for s in segs])
        else:
            self._traj.setData([], [])
        self._label.setText(f"{r['name']}\n{r['quadrant']}  uncertainty {r['uncertainty']:.2f}")
        # beside the point, kept inside the plane and off the quadrant titles
        self._label.setPos(float(np.clip(v + 0.05, -0.95, 0.45)), float(np.clip(a - 0.05, -0.75, 0.85)))

    @staticmethod
    def uncertainty_radii(r: dict) -> tuple[float, float]:
        """Ellipse half-axes: segment spread plus a term growing with the entropy."""
        u = float(r.get("uncertainty", 0.0))
        base = 0.05 + 0.6 * u ** 2
        return base + float(r.get("valence_std", 0.0)), base + float(r.get("arousal_std", 0.0))

    def _on_click(self, item, points, ev=None):
        if points is not None and len(points):
            self.point_clicked.emit(int(points[0].data()))
