"""Spin boxes and combo boxes that take the mouse wheel only when they have the focus.

In a scrolling settings panel the wheel should scroll the panel; a value changes only in
the box the user clicked or tabbed into (``Qt.StrongFocus``: no focus from the wheel).
An ignored wheel event goes on to the parent, so the scroll area scrolls.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QSpinBox


class _WheelWhenFocused:
    def _init_focus(self) -> None:
        self.setFocusPolicy(Qt.StrongFocus)

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class SpinBox(_WheelWhenFocused, QSpinBox):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._init_focus()


class DoubleSpinBox(_WheelWhenFocused, QDoubleSpinBox):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._init_focus()


class ComboBox(_WheelWhenFocused, QComboBox):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._init_focus()
