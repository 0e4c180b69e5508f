"""The transport's player: a Qt face over :class:`musiclab.audio.playback.Player`."""

from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from ..audio.playback import Player
from ..errors import NoAudioDeviceError


class PlayerController(QObject):
    """``play(samples, sr, label, owner)``, ``toggle``, ``stop``, ``seek``.

    Emits ``position_changed(seconds)`` ~30 times a second while playing,
    ``state_changed(state)`` ("playing", "paused", "stopped"), ``loaded(label, duration)``
    and ``unavailable(message)`` when there is no audio output.
    """

    position_changed = Signal(float)
    state_changed = Signal(str)
    loaded = Signal(str, float)
    unavailable = Signal(str)

    def __init__(self, player: Optional[Player] = None, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.core = player or Player()
        self.owner: Optional[QObject] = None
        self._state = "stopped"
        self._timer = QTimer(self)
        self._timer.setInterval(33)
        self._timer.timeout.connect(self._poll)

    # -- queries -----------------------------------------------------------------------
    def available(self) -> tuple[bool, str]:
        return self.core.available()

    @property
    def state(self) -> str:
        return self.core.state

    @property
    def duration(self) -> float:
        return self.core.duration

    @property
    def position(self) -> float:
        return self.core.position

    @property
    def label(self) -> str:
        return self.core.label

    # -- control -------------------------------------------------------------------------
    def load(self, samples: np.ndarray, sr: int, label: str = "", owner: Optional[QObject] = None) -> None:
        self.core.load(samples, sr, label)
        self.owner = owner
        self.loaded.emit(label, self.core.duration)
        self._poll()

    def play(self, samples: Optional[np.ndarray] = None, sr: int = 0, label: str = "",
             owner: Optional[QObject] = None) -> bool:
        """Play new samples (if given) or resume; False (and ``unavailable``) if no output."""
        if samples is not None:
            self.load(samples, sr, label, owner)
        try:
            self.core.play()
        except NoAudioDeviceError as exc:
            self.unavailable.emit(str(exc))
            self._poll()
            return False
        self._timer.start()
        self._poll()
        return True

    def pause(self) -> None:
        self.core.pause()
        self._poll()

    def toggle(self) -> bool:
        if self.core.state == "playing":
            self.pause()
            return True
        return self.play()

    def stop(self) -> None:
        self.core.stop()
        self._poll()

    def seek(self, seconds: float) -> None:
        self.core.seek(seconds)
        self.position_changed.emit(self.core.position)

    def shutdown(self) -> None:
        self._timer.stop()
        self.core.close()

    def _poll(self) -> None:
        st = self.core.state
        self.position_changed.emit(self.core.position)
        if st != self._state:
            self._state = st
            self.state_changed.emit(st)
        if st != "playing":
            self._timer.stop()
