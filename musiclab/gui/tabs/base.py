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
from PySide6.QtWidgets import (
    QAbstractButton, QComboBox, QDoubleSpinBox, QLabel, QLineEdit, QSlider, QSpinBox, QVBoxLayout, QWidget,
)

from ...audio.io import AUDIO_EXTENSIONS, MIDI_EXTENSIONS, is_audio_file

if TYPE_CHECKING:
    from ..context import AppContext


def audio_filter(all_files: bool = True) -> str:
    """The file-dialog filter for every audio type musiclab reads (from ``AUDIO_EXTENSIONS``)."""
    f = f"Audio ({' '.join('*' + e for e in sorted(AUDIO_EXTENSIONS))})"
    return f + ";;All files (*)" if all_files else f


def midi_filter(all_files: bool = True) -> str:
    f = f"MIDI ({' '.join('*' + e for e in sorted(MIDI_EXTENSIONS))})"
    return f + ";;All files (*)" if all_files else f


#: what :meth:`WorkbenchTab.playable_audio` returns while the audio is still being decoded
#: in a job; the tab starts the player itself (``ctx.player.play(..., owner=self)``) when ready.
PLAY_PENDING = object()


def widget_value(w: QWidget):
    """The value a settings widget holds, as saved by :func:`save_widgets`."""
    if isinstance(w, (QSpinBox, QSlider)):
        return w.value()
    if isinstance(w, QDoubleSpinBox):
        return w.value()
    if isinstance(w, QComboBox):
        return w.currentText()
    if isinstance(w, QLineEdit):
        return w.text()
    if isinstance(w, QAbstractButton):
        return w.isChecked()
    raise TypeError(f"no settings rule for {type(w).__name__}")


def set_widget_value(w: QWidget, settings: QSettings, key: str) -> None:
    """Restore one widget from ``settings[key]`` with its own type; unknown values are ignored."""
    if not settings.contains(key):
        return
    if isinstance(w, (QSpinBox, QSlider)):
        w.setValue(settings.value(key, w.value(), type=int))
    elif isinstance(w, QDoubleSpinBox):
        w.setValue(settings.value(key, w.value(), type=float))
    elif isinstance(w, QComboBox):
        i = w.findText(settings.value(key, w.currentText(), type=str))
        if i >= 0:
            w.setCurrentIndex(i)
    elif isinstance(w, QLineEdit):
        w.setText(settings.value(key, w.text(), type=str))
    elif isinstance(w, QAbstractButton):
        w.setChecked(settings.value(key, w.isChecked(), type=bool))
    else:
        raise TypeError(f"no settings rule for {type(w).__name__}")


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

    # -- file dialogs: they open where the user last was, in every tab ---------------------
    def _last_dir(self) -> str:
        d = self.ctx.settings.value("last_dir", "", type=str)
        return d if d and Path(d).is_dir() else str(Path.home())

    def _remember_dir(self, path: str) -> None:
        if path:
            p = Path(path)
            self.ctx.settings.setValue("last_dir", str(p if p.is_dir() else p.parent))

    def ask_save_path(self, caption: str, name: str, filters: str, selected: str = "") -> tuple[Optional[Path], str]:
        """A save dialog in the last folder used (remembered across tabs and restarts);
        returns ``(path or None, chosen filter)``."""
        from PySide6.QtWidgets import QFileDialog

        path, chosen = QFileDialog.getSaveFileName(self, caption, str(Path(self._last_dir()) / name), filters, selected)
        self._remember_dir(path)
        return (Path(path) if path else None), chosen

    def ask_open_paths(self, caption: str, filters: str) -> list[Path]:
        from PySide6.QtWidgets import QFileDialog

        paths, _ = QFileDialog.getOpenFileNames(self, caption, self._last_dir(), filters)
        if paths:
            self._remember_dir(paths[0])
        return [Path(p) for p in paths]

    def ask_folder(self, caption: str) -> Optional[Path]:
        from PySide6.QtWidgets import QFileDialog

        d = QFileDialog.getExistingDirectory(self, caption, self._last_dir())
        if d:
            self._remember_dir(d)
        return Path(d) if d else None

    # -- transport ---------------------------------------------------------------------
    def playable_audio(self) -> Optional[tuple[np.ndarray, int, str]]:
        """``(samples, sample_rate, label)`` the transport plays (mono ``(n,)`` or
        ``(channels, n)`` float32), None if the tab holds nothing playable, or
        :data:`PLAY_PENDING` when it is decoding in a job and will start the player itself.
        Never decode here: this runs on the GUI thread."""
        return None

    def on_playback_position(self, seconds: float) -> None:
        """Called ~30 times a second while this tab's audio plays (move a cursor); the window
        calls it on the player's owner only, so a tab never listens to the player itself."""

    # -- export -------------------------------------------------------------------------
    def export(self) -> None:
        """File > Export… while this tab is current (open a save dialog and write)."""
        self.ctx.notify(f"Nothing to export in {self.title} yet.")

    # -- settings -----------------------------------------------------------------------
    def persist(self) -> dict[str, QWidget]:
        """The tab's settings, declared once: ``{settings key: widget}`` (spin boxes, sliders,
        combo boxes (by text), line edits, check boxes and checkable buttons)."""
        return {}

    def save_settings(self, settings: QSettings) -> None:
        """Store per-tab parameters; ``settings`` is already inside this tab's group.

        The base saves every widget of :meth:`persist`; override to add what is not a widget
        (call ``super()`` first)."""
        for key, w in self.persist().items():
            settings.setValue(key, widget_value(w))

    def restore_settings(self, settings: QSettings) -> None:
        """Read back what :meth:`save_settings` stored, each value with its widget's type."""
        for key, w in self.persist().items():
            set_widget_value(w, settings, key)

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
