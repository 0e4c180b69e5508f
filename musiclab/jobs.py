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

import json
import math
import sys
import time
from typing import Callable, Optional

from .errors import Cancelled

ShouldStop = Optional[Callable[[], bool]]
OnProgress = Optional[Callable[[int, int, str], None]]
OnPartial = Optional[Callable[[object], None]]

#: Set by the tests (``tests/conftest.py``) to catch slow work on the GUI thread:
#: called with the name of every slow core entry point (decoding, probing) before it runs.
slow_call_hook: Optional[Callable[[str], None]] = None


def slow_call(name: str) -> None:
    """Mark the start of slow work (decoding a file, probing it); see :data:`slow_call_hook`."""
    if slow_call_hook is not None:
        slow_call_hook(name)


def check_stop(should_stop: ShouldStop) -> None:
    """Raise :class:`Cancelled` if the job was asked to stop."""
    if should_stop is not None and should_stop():
        raise Cancelled()


def report(on_progress: OnProgress, done: int, total: int, message: str = "") -> None:
    """Call ``on_progress`` if given."""
    if on_progress is not None:
        on_progress(int(done), int(total), message)


def json_line(obj) -> str:
    """One line of strict JSON (NaN and infinities become null)."""

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", 1) == 0:
            return clean(x.item())
        if hasattr(x, "tolist"):
            return clean(x.tolist())
        return x

    return json.dumps(clean(obj), allow_nan=False)


class TextProgress:
    """An ``on_progress`` for the terminal: one updating line on stderr."""

    def __init__(self, label: str = "", stream=None):
        self.label = label
        self.stream = stream or sys.stderr
        self._last = 0.0

    def __call__(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        if now - self._last < 0.5 and done != total:
            return
        self._last = now
        pct = f"{100 * done / total:5.1f}%" if total else f"{done}"
        end = "\n" if total and done >= total else "\r"
        if self.stream.isatty():
            self.stream.write(f"{self.label} {pct} {message}"[:120].ljust(120) + end)
        elif end == "\n" or now - getattr(self, "_lastline", 0) > 10:
            self._lastline = now
            self.stream.write(f"{self.label} {pct} {message}\n")
        self.stream.flush()
