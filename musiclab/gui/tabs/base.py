"""The contract between the main window and a workbench tab.

A tab is a QWidget that receives an :class:`~musiclab.gui.context.AppContext` (settings,
the shared audio player, notifications, recent files, service registration) and
implements the hooks below. The main window owns menus, the status bar (progress bar +
Cancel for every registered service), the transport and drag and drop.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np
from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...audio.io import is_audio_file

if TYPE_CHECKING:
    from ..context import AppContext


class WorkbenchTab(QWidget):
    #: short key used in settings and ``--tab`` ("live", "composer", "stitcher", "emotion")
    key: str = ""
    #: tab caption
    title: str = ""

    #: emitted when :meth:`playable_audio` would now return something else
    playable_changed = Signal()

    def __init__(self, ctx: "AppContext", parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.ctx = ctx

    # -- files ---------------------------------------------------------------------
    def accepts(self, path: Path) -> bool:
        """Whether :meth:`open_files` takes this file (default: audio files)."""
        return is_audio_file(path)

    def open_files(self, paths: list[Path]) -> None:
        """Files opened with File > Open or dropped on the window while this tab is current.

        Only files for which :meth:`accepts` is true arrive here; folders are expanded.
        Report unreadable files with ``self.ctx.notify(..., error=True)``; keep running.
        """

    # -- transport ---------------------------------------------------------------------
    def playable_audio(self) -> Optional[tuple[np.ndarray, int, str]]:
        """``(samples, sample_rate, label)`` the transport plays (mono ``(n,)`` or
        ``(channels, n)`` float32), or None if the tab holds nothing playable."""
        return None

    def on_playback_position(self, seconds: float) -> None:
        """Called ~30 times a second while this tab's audio plays (move a cursor)."""

    # -- export -------------------------------------------------------------------------
    def export(self) -> None:
        """File > Export… while this tab is current (open a save dialog and write)."""
        self.ctx.notify(f"Nothing to export in {self.title} yet.")

    # -- settings -----------------------------------------------------------------------
    def save_settings(self, settings: QSettings) -> None:
        """Store per-tab parameters; ``settings`` is already inside this tab's group."""

    def restore_settings(self, settings: QSettings) -> None:
        """Read back what :meth:`save_settings` stored (values may be missing or str)."""

    # -- lifetime ------------------------------------------------------------------------
    def first_render_done(self) -> bool:
        """For ``--screenshot``: True once the tab shows what it should show."""
        return True

    def shutdown(self) -> None:
        """The window is closing: stop timers and streams (services are shut down by
        the main window when registered with ``ctx.register_service``)."""


class ComingSoonTab(WorkbenchTab):
    """Placeholder for a workbench whose issue has not landed: says so plainly."""

    def __init__(self, ctx, key: str, title: str, text: str, parent=None):
        super().__init__(ctx, parent)
        self.key, self.title = key, title
        lay = QVBoxLayout(self)
        label = QLabel(f"<h2>{title}</h2><p>{text}</p><p><i>This workbench is not available.</i></p>")
        label.setWordWrap(True)
        lay.addWidget(label)
        lay.addStretch(1)

    def accepts(self, path: Path) -> bool:
        return False
