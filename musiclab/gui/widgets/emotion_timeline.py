"""Per-segment emotion over a track: valence and arousal curves, the winning quadrant of
each segment as a coloured band, and a playback cursor."""

from __future__ import annotations

import html
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal

from .emotion_plane import QUADRANT_COLOURS, short_name

QUADS = ("Q1", "Q2", "Q3", "Q4")


class EmotionTimeline(pg.PlotWidget):
    """``seek_requested(seconds)`` when the user clicks on the time axis."""

    seek_requested = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent, background="#1e1f22")
        pi = self.getPlotItem()
        pi.setLabel("bottom", "time", units="s")
        # the colour key sits in the axis label, so no legend box covers the curves
        pi.setLabel("left", "<span style='color:#f2c14e'>valence</span> / "
                            "<span style='color:#ef5d60'>arousal</span>")
        pi.showGrid(x=True, y=True, alpha=0.2)
        pi.setYRange(-1.3, 1.1, padding=0)
        pi.getAxis("left").setTicks([[(-1, "\u22121"), (-0.5, "\u22120.5"), (0, "0"), (0.5, "0.5"), (1, "1")]])
        pi.setMouseEnabled(x=True, y=False)
        self._val = self.plot([], [], pen=pg.mkPen("#f2c14e", width=2))
        self._aro = self.plot([], [], pen=pg.mkPen("#ef5d60", width=2))
        self._bands: list = []
        self._cursor = pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#ffffff", width=1))
        self._cursor.setVisible(False)
        self.addItem(self._cursor)
        self.addItem(pg.InfiniteLine(0, angle=0, pen=pg.mkPen("#666")))
        self.scene().sigMouseClicked.connect(self._clicked)
        self.setToolTip("Valence (yellow) and arousal (red), \u22121 \u2026 +1, of each 10 s segment (hop 5 s); "
                        "the coloured strip at the bottom shows the most likely quadrant per segment. "
                        "Click to play from there.")
        self._duration = 0.0

    def set_result(self, r: Optional[dict]) -> None:
        for b in self._bands:
            self.removeItem(b)
        self._bands = []
        if not r or not r.get("segments"):
            self._val.setData([], [])
            self._aro.setData([], [])
            self.getPlotItem().setTitle("Emotion over time: select a file", color="#bbbbbb", size="10pt")
            return
        segs = r["segments"]
        mid = np.array([(s["start"] + s["end"]) / 2 for s in segs])
        if len(segs) == 1:
            mid = np.array([segs[0]["start"], segs[0]["end"]])
            v = np.array([segs[0]["valence"]] * 2)
            a = np.array([segs[0]["arousal"]] * 2)
        else:
            v = np.array([s["valence"] for s in segs])
            a = np.array([s["arousal"] for s in segs])
        self._val.setData(mid, v)
        self._aro.setData(mid, a)
        # quadrant band: from each segment's middle to the next one's
        edges = [segs[0]["start"]] + [float(x) for x in (mid[:-1] + mid[1:]) / 2] + [segs[-1]["end"]] \
            if len(segs) > 1 else [segs[0]["start"], segs[0]["end"]]
        for i, s in enumerate(segs):
            q = QUADS[int(np.argmax(s["probs"]))]
            conf = float(np.max(s["probs"]))
            c = pg.mkColor(QUADRANT_COLOURS[q])
            c.setAlpha(int(80 + 170 * conf))
            rect = pg.QtWidgets.QGraphicsRectItem(edges[i], -1.28, edges[i + 1] - edges[i], 0.16)
            rect.setBrush(c)
            rect.setPen(pg.mkPen(None))
            self.addItem(rect)
            self._bands.append(rect)
        self._duration = float(r.get("duration", segs[-1]["end"]))
        self.getPlotItem().setXRange(0, max(self._duration, 1.0), padding=0.01)
        self.getPlotItem().setTitle(
            f"{html.escape(short_name(r['name'], 30))} \u2014 {len(segs)} \u00d7 10 s segments",
            color="#bbbbbb", size="10pt")

    def set_position(self, seconds: Optional[float]) -> None:
        if seconds is None:
            self._cursor.setVisible(False)
        else:
            self._cursor.setVisible(True)
            self._cursor.setValue(seconds)

    def _clicked(self, ev):
        vb = self.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        x = vb.mapSceneToView(ev.scenePos()).x()
        if 0 <= x <= max(self._duration, 0):
            self.seek_requested.emit(float(x))
