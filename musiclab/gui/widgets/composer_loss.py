"""Live training / validation loss plot (nats per sub-token)."""

from __future__ import annotations

import pyqtgraph as pg


class LossPlotWidget(pg.PlotWidget):
    def __init__(self, parent=None):
        super().__init__(parent=parent, background="#1e1f22")
        self.setMenuEnabled(False)
        self.showGrid(x=True, y=True, alpha=0.15)
        self.setLabel("bottom", "epoch")
        self.setLabel("left", "loss (nats / sub-token)")
        self.addLegend(offset=(10, 10))
        self.train_curve = self.plot([], [], pen=pg.mkPen("#4fa3e0", width=1.5), name="training (running)")
        self.val_curve = self.plot([], [], pen=pg.mkPen("#f0a030", width=2), symbol="o", symbolSize=6,
                                   symbolBrush="#f0a030", name="validation")

    def set_history(self, steps: list, epochs: list) -> None:
        """steps: [(fractional epoch, loss)], epochs: [{"epoch", "val_loss"}...]."""
        if steps:
            self.train_curve.setData([s[0] for s in steps], [s[1] for s in steps])
        else:
            self.train_curve.setData([], [])
        if epochs:
            self.val_curve.setData([e["epoch"] for e in epochs], [e["val_loss"] for e in epochs])
        else:
            self.val_curve.setData([], [])
