"""Conventions for long-running core functions.

Every long function in the core takes two optional keyword arguments:

* ``should_stop``: a callable returning True when the user pressed Cancel. Loops call
  :func:`check_stop` often (at least every ~100 ms of work); it raises
  :class:`~musiclab.errors.Cancelled`.
* ``on_progress``: a callable ``on_progress(done, total, message)``; ``total`` may be 0
  when unknown.

The GUI's model services pass a ``threading.Event.is_set`` and a signal emitter; the CLI
passes a text progress printer or nothing.
"""

from __future__ import annotations

from typing import Callable, Optional

from .errors import Cancelled

ShouldStop = Optional[Callable[[], bool]]
OnProgress = Optional[Callable[[int, int, str], None]]


def check_stop(should_stop: ShouldStop) -> None:
    """Raise :class:`Cancelled` if the job was asked to stop."""
    if should_stop is not None and should_stop():
        raise Cancelled()


def report(on_progress: OnProgress, done: int, total: int, message: str = "") -> None:
    """Call ``on_progress`` if given."""
    if on_progress is not None:
        on_progress(int(done), int(total), message)
