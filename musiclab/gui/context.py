"""What the main window lends to every tab."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, QSettings, Signal

from .services.base import ModelService


class AppContext(QObject):
    """Settings, the shared player, notifications, recent files and services.

    ``notify(text, error=False)`` shows a message in the status bar (errors also in a
    dialog unless the app runs headless). ``register_service`` connects a service to the
    status bar's progress bar and Cancel button and shuts it down on quit.
    """

    message = Signal(str, bool)  # text, is_error
    service_added = Signal(object)
    recent_added = Signal(str)
    open_in = Signal(str, list)  # tab key, paths: one workbench hands its result to another

    def __init__(self, settings: QSettings, player, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.settings = settings
        self.player = player  # musiclab.gui.player.PlayerController
        self.services: list[ModelService] = []
        self.headless = False

    def notify(self, text: str, error: bool = False) -> None:
        self.message.emit(text, error)

    def register_service(self, service: ModelService) -> ModelService:
        self.services.append(service)
        self.service_added.emit(service)
        return service

    def make_service(self, name: str) -> ModelService:
        return self.register_service(ModelService(name, self))

    def send_to(self, key: str, paths: list) -> None:
        """Open ``paths`` (files a workbench wrote) in the workbench ``key`` and show it: the
        way the workbenches feed each other (a generated tune to the Emotion tab, ...)."""
        self.open_in.emit(key, [str(p) for p in paths])

    def add_recent(self, path: Path | str) -> None:
        self.recent_added.emit(str(path))
