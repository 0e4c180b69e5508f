"""Evaluation and training views: confusion matrix, ROC curves per quadrant, and the
training loss / validation metric plot."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from .emotion_plane import QUADRANT_COLOURS

QUADS = ("Q1", "Q2", "Q3", "Q4")
MOODS = {"Q1": "happy", "Q2": "angry", "Q3": "sad", "Q4": "calm"}


class ConfusionMatrixView(pg.PlotWidget):
    """Counts with row-normalised colour (rows: true quadrant, columns: predicted)."""

    def __init__(self, parent=None):
        super().__init__(parent, background="#1e1f22")
        pi = self.getPlotItem()
        pi.setTitle("Confusion matrix: clips and share of each true quadrant (row)")
        pi.setMouseEnabled(False, False)
        pi.setMenuEnabled(False)
        self.hideButtons()
        self._img = pg.ImageItem()
        self._img.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))
        self.addItem(self._img)
        self._texts: list = []
        for ax, name in (("bottom", "predicted quadrant"), ("left", "true quadrant")):
            a = pi.getAxis(ax)
            a.setTicks([[(i + 0.5, f"{q} {MOODS[q]}") for i, q in enumerate(QUADS)]])
            pi.setLabel(ax, name)
        pi.getViewBox().invertY(True)
        self.setRange(xRange=(0, 4), yRange=(0, 4), padding=0.01)
        self.setToolTip("Rows: the labelled (true) quadrant; columns: what the model predicted. Each cell shows "
                        "the number of clips and their share of the row; the diagonal is correct.")

    def set_matrix(self, cm) -> None:
        for t in self._texts:
            self.removeItem(t)
        self._texts = []
        cm = np.asarray(cm, dtype=float)
        if cm.size == 0:
            self._img.clear()
            return
        rows = cm.sum(axis=1, keepdims=True)
        norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
        # ImageItem is indexed [x, y]: transpose so rows run down the y axis
        self._img.setImage(norm.T, levels=(0, 1))
        self._img.setRect(0, 0, 4, 4)
        for i in range(4):
            for j in range(4):
                col = "#000000" if norm[i, j] > 0.6 else "#ffffff"
                t = pg.TextItem(html=f"<div style='text-align:center; color:{col}'><span style='font-size:12pt'>"
                                     f"<b>{int(cm[i, j])}</b></span><br>{100 * norm[i, j]:.0f}%</div>",
                                anchor=(0.5, 0.5))
                t.setTextWidth(64)  # a fixed width lets the two lines centre on each other
                t.setPos(j + 0.5, i + 0.5)
                self.addItem(t)
                self._texts.append(t)


class RocView(pg.PlotWidget):
    """One-vs-rest ROC curve and AUC per quadrant."""

    def __init__(self, parent=None):
        super().__init__(parent, background="#1e1f22")
        pi = self.getPlotItem()
        pi.setTitle("ROC per quadrant (one vs rest)")
        pi.setLabel("bottom", "false positive rate")
        pi.setLabel("left", "true positive rate")
        pi.setRange(xRange=(0, 1), yRange=(0, 1), padding=0.02)
        pi.setMouseEnabled(False, False)
        pi.setMenuEnabled(False)
        self.hideButtons()
        self.setAspectLocked(True)
        pi.showGrid(x=True, y=True, alpha=0.2)
        self.setToolTip("One-vs-rest ROC: how well each quadrant's probability ranks its clips above the others. "
                        "The dashed diagonal is chance (AUC 0.5); a curve hugging the top-left corner is best.")
        self._legend = self.addLegend(offset=(-10, -10))
        self.plot([0, 1], [0, 1], pen=pg.mkPen("#666", style=pg.QtCore.Qt.DashLine))
        self._curves = {}

    def set_roc(self, roc: dict, auc: dict) -> None:
        for c in self._curves.values():
            self.removeItem(c)
            self._legend.removeItem(c)
        self._curves = {}
        for k, q in enumerate(QUADS):
            if q not in roc:
                continue
            a = auc.get(q)
            label = (f"{q} {MOODS[q]}  AUC {a:.3f}" if isinstance(a, (int, float)) and np.isfinite(a)
                     else f"{q} {MOODS[q]}  AUC n/a")
            # later curves are thinner and dashed, so overlapping steps stay visible
            style = (pg.QtCore.Qt.SolidLine, pg.QtCore.Qt.SolidLine, pg.QtCore.Qt.DashLine, pg.QtCore.Qt.DashLine)[k]
            pen = pg.mkPen(QUADRANT_COLOURS[q], width=(5, 3.5, 2.5, 2)[k], style=style)
            self._curves[q] = self.plot(roc[q]["fpr"], roc[q]["tpr"], pen=pen, name=label)


class TrainingPlot(pg.PlotWidget):
    """Training loss per epoch (left axis) and validation accuracy / macro F1."""

    def __init__(self, parent=None):
        super().__init__(parent, background="#1e1f22")
        pi = self.getPlotItem()
        pi.setTitle("Training")
        pi.setLabel("bottom", "epoch")
        pi.setLabel("left", "loss / score")
        pi.showGrid(x=True, y=True, alpha=0.2)
        self.addLegend(offset=(-10, 10))
        self._loss = self.plot([], [], pen=pg.mkPen("#ef5d60", width=2), symbol="o", symbolSize=4, name="train loss")
        self._vloss = self.plot([], [], pen=pg.mkPen("#f2a93b", width=2), symbol="o", symbolSize=4,
                                name="validation loss")
        self._acc = self.plot([], [], pen=pg.mkPen("#4caf7a", width=2), symbol="t", symbolSize=5,
                              name="validation accuracy")
        self._f1 = self.plot([], [], pen=pg.mkPen("#5b9bd5", width=2), symbol="s", symbolSize=4,
                             name="validation macro F1")
        self.clear_history()

    def clear_history(self) -> None:
        self._hist: list[dict] = []
        for c in (self._loss, self._vloss, self._acc, self._f1):
            c.setData([], [])

    def add_epoch(self, rec: dict) -> None:
        self._hist.append(rec)
        # epochs of several members (ensemble) are numbered consecutively
        x = np.arange(1, len(self._hist) + 1)
        def col(k):
            return np.array([h.get(k, np.nan) for h in self._hist], dtype=float)
        self._loss.setData(x, col("train_loss"))
        for curve, k in ((self._vloss, "val_loss"), (self._acc, "val_accuracy"), (self._f1, "val_macro_f1")):
            y = col(k)
            ok = np.isfinite(y)
            curve.setData(x[ok], y[ok])
