"""The Stitcher's left side: steps 1-4 in a scroll area, the Build button and a status line."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QFrame, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from .chain_panel import BuildPanel
from .pool_panel import PoolPanel
from .train_panel import TrainPanel


MIN_WIDTH = 300
MAX_WIDTH = 560


class SidePanel(QWidget):
    """``pool`` (:class:`.PoolPanel`), ``train`` (:class:`.TrainPanel`) and ``build``
    (:class:`.BuildPanel`) above ``btn_build`` and ``status_label`` (what the jobs are doing)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pool = PoolPanel()
        self.train = TrainPanel()
        self.build = BuildPanel()
        inner = QWidget()
        lv = QVBoxLayout(inner)
        lv.setContentsMargins(4, 4, 4, 4)
        lv.setSpacing(6)
        for panel in (self.pool, self.train, self.build):
            lv.addWidget(panel)
        lv.addStretch(1)
        # a row too wide for the panel ("prefer a change after [4] chunks, weight [1.0]") puts its
        # fields under the label instead of pushing the panel's right edge out of sight
        self.build.layout().setRowWrapPolicy(QFormLayout.WrapLongRows)
        self.inner = inner
        self.scroll = scroll = QScrollArea()
        scroll.setWidget(inner)
        scroll.setWidgetResizable(True)
        # never clipped: should the splitter be dragged narrower than the steps, they scroll sideways
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        scroll.setFrameShape(QFrame.NoFrame)

        self.btn_build = QPushButton("Build new song   (Ctrl+B)")
        self.btn_build.setMinimumHeight(34)
        font = self.btn_build.font()
        font.setBold(True)
        self.btn_build.setFont(font)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setStyleSheet("color: palette(mid);")
        sv = QVBoxLayout(self)
        sv.setContentsMargins(0, 0, 4, 4)
        sv.setSpacing(4)
        sv.addWidget(scroll, 1)
        sv.addWidget(self.btn_build)
        sv.addWidget(self.status_label)
        # no hard minimum beyond a usable one: the window must still fit 1100 px (the splitter's
        # initial size, :meth:`preferred_width`, is what shows every step whole)
        self.setMinimumWidth(MIN_WIDTH)
        self.setMaximumWidth(MAX_WIDTH)

    def preferred_width(self) -> int:
        """The width that shows steps 1-4 whole with no row wrapped: the steps' size hint, the
        vertical scroll bar and this panel's margins (narrower, long rows wrap; narrower than
        the steps' minimum, they scroll sideways)."""
        bar = self.scroll.verticalScrollBar().sizeHint().width()
        m = self.layout().contentsMargins()
        want = self.inner.sizeHint().width() + bar + m.left() + m.right() + 2
        return max(MIN_WIDTH, min(MAX_WIDTH, want))

    def set_busy(self, has_pool: bool, busy: bool) -> None:
        self.btn_build.setEnabled(has_pool and not busy)
        self.btn_build.setToolTip("Chain the best-scoring chunks of the pool into a new song" if has_pool
                                  else "Add songs to the pool first")
