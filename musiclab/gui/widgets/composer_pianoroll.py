"""Piano roll of a primer (blue-grey) and its generated continuation (orange), with a
playback cursor. Time axis in seconds at the playback tempo; pitch axis in MIDI notes."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

PRIMER_BRUSH = (110, 150, 200, 220)
CONT_BRUSH = (240, 150, 50, 230)
REST_BRUSH = (120, 124, 130, 170)  # the rest of an opened piece, after its primer
_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


class PianoRollWidget(pg.PlotWidget):
    def __init__(self, parent=None):
        super().__init__(parent=parent, background="#1e1f22")
        self.setMenuEnabled(False)
        self.showGrid(x=True, y=True, alpha=0.15)
        self.setLabel("bottom", "time", units="s")
        self.setLabel("left", "pitch (MIDI note)")
        self.getPlotItem().getAxis("left").setTicks([[(m, f"C{m // 12 - 1}") for m in range(0, 128, 12)]])
        self.setMouseEnabled(x=True, y=False)
        self._bars = []
        self.cursor = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#f5f5f5", width=1.5))
        self.cursor.setZValue(10)
        self.addItem(self.cursor)
        self.boundary = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#9aa0a6", width=1, style=Qt.DashLine))
        self.addItem(self.boundary)
        self.boundary.hide()
        self.legend = self.addLegend(offset=(10, 10))
        self.n_notes = 0
        self.setYRange(36, 96)
        self.setXRange(0, 10)

    def clear_notes(self) -> None:
        for b in self._bars:
            self.removeItem(b)
        self._bars = []
        self.legend.clear()
        self.n_notes = 0
        self.boundary.hide()

    def set_notes(self, primer_notes, cont_notes, seconds_per_quarter: float, boundary_quarters: float,
                  primer_label: str = "primer", cont_label: str = "generated", preview: bool = False) -> None:
        """``*_notes``: lists of (start quarter, length quarter, pitch). ``preview``: an
        opened piece (the part after its primer in grey) rather than a generated result."""
        self.clear_notes()
        spq = float(seconds_per_quarter)
        allp = []
        cont_brush = REST_BRUSH if preview else CONT_BRUSH
        for notes, brush, name in ((primer_notes, PRIMER_BRUSH, primer_label), (cont_notes, cont_brush, cont_label)):
            if not notes:
                continue
            a = np.asarray(notes, dtype=float)
            bar = pg.BarGraphItem(x0=a[:, 0] * spq, y0=a[:, 2] - 0.4, width=a[:, 1] * spq, height=0.8,
                                  brush=pg.mkBrush(*brush), pen=pg.mkPen(None))
            self.addItem(bar)
            self.legend.addItem(bar, f"{name} ({len(a)} notes)")
            self._bars.append(bar)
            allp.append(a)
            self.n_notes += len(a)
        if primer_notes and cont_notes:
            self.boundary.setPos(boundary_quarters * spq)
            self.boundary.show()
        if allp:
            a = np.concatenate(allp)
            lo, hi = a[:, 2].min(), a[:, 2].max()
            # headroom above the highest note keeps the legend (top left) off the notes
            self.setYRange(max(0, lo - 3), min(136, hi + 10), padding=0)
            end = float((a[:, 0] + a[:, 1]).max()) * spq
            self.setXRange(0, max(end, 1.0), padding=0.01)
        self.cursor.setPos(0)

    def set_cursor(self, seconds: float) -> None:
        self.cursor.setPos(float(seconds))
