"""A long-lived model service: one worker QObject in its own QThread.

The GUI submits jobs (plain callables from the Qt-free core) and hears back through
queued signals. Each job gets a request id, a cancel flag and a progress callback::

    rid = service.submit(core_function, arg, label="Training", key=value)
    # core_function(arg, key=value, should_stop=event.is_set, on_progress=cb)

Jobs of one service run one after another on its thread. ``latest_only=True`` drops the
result of a request once a newer one was submitted (stale previews). Exceptions in a job
come back as ``error(rid, message)``; :class:`~musiclab.errors.MusiclabError` messages are
shown as they are, anything else is prefixed with its type.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ...errors import Cancelled, MusiclabError


@dataclass
class _Job:
    rid: int
    fn: Callable
    args: tuple
    kwargs: dict
    label: str
    latest_only: bool
    stop: threading.Event = field(default_factory=threading.Event)


class _Worker(QObject):
    def __init__(self, service: "ModelService"):
        super().__init__()
        self._service = service

    @Slot(object)
    def run_job(self, job: _Job) -> None:
        svc = self._service
        if job.stop.is_set():
            svc._finish(job, "cancelled", None)
            return
        svc._current = job
        svc.job_started.emit(job.rid, job.label)
        last = [0.0]

        def on_progress(done: int, total: int, message: str = "") -> None:
            now = time.monotonic()
            if now - last[0] >= 0.05 or (total and done >= total):
                last[0] = now
                svc.progress.emit(job.rid, int(done), int(total), str(message))

        try:
            out = job.fn(*job.args, should_stop=job.stop.is_set, on_progress=on_progress, **job.kwargs)
        except Cancelled:
            svc._finish(job, "cancelled", None)
        except MusiclabError as exc:
            svc._finish(job, "error", str(exc))
        except Exception as exc:  # a bug or an unexpected library error: report, keep running
            traceback.print_exc()
            svc._finish(job, "error", f"{type(exc).__name__}: {exc}")
        else:
            if job.stop.is_set():
                svc._finish(job, "cancelled", None)
            else:
                svc._finish(job, "result", out)


class ModelService(QObject):
    """Owns a QThread and a worker; see the module docstring."""

    job_started = Signal(int, str)  # request id, label
    progress = Signal(int, int, int, str)  # request id, done, total, message
    result = Signal(int, object)  # request id, payload
    error = Signal(int, str)  # request id, message
    cancelled = Signal(int)  # request id
    job_finished = Signal(int)  # request id (after result / error / cancelled)
    _dispatch = Signal(object)

    _ids = itertools.count(1)

    def __init__(self, name: str, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.name = name
        self._thread = QThread()
        self._thread.setObjectName(f"musiclab-{name}")
        self._worker = _Worker(self)
        self._worker.moveToThread(self._thread)
        self._dispatch.connect(self._worker.run_job)
        self._jobs: dict[int, _Job] = {}
        self._latest: dict[str, int] = {}
        self._current: Optional[_Job] = None
        self._lock = threading.Lock()
        self._thread.start()

    # -- API for tabs ------------------------------------------------------------
    def submit(self, fn: Callable, *args: Any, label: str = "", latest_only: bool = False, **kwargs: Any) -> int:
        rid = next(self._ids)
        job = _Job(rid, fn, args, kwargs, label or getattr(fn, "__name__", "job"), latest_only)
        with self._lock:
            self._jobs[rid] = job
            if latest_only:
                prev = self._latest.get(job.label)
                if prev is not None and prev in self._jobs:
                    self._jobs[prev].stop.set()
                self._latest[job.label] = rid
        self._dispatch.emit(job)
        return rid

    def cancel(self, rid: Optional[int] = None) -> None:
        """Cancel one request, or all of this service's pending and running jobs."""
        with self._lock:
            jobs = list(self._jobs.values()) if rid is None else [self._jobs[rid]] if rid in self._jobs else []
        for job in jobs:
            job.stop.set()

    def is_busy(self) -> bool:
        with self._lock:
            return bool(self._jobs)

    def running_label(self) -> str:
        job = self._current
        return job.label if job else ""

    def shutdown(self, timeout_ms: int = 5000) -> None:
        self.cancel()
        self._thread.quit()
        if not self._thread.wait(timeout_ms):
            self._thread.terminate()
            self._thread.wait(1000)

    # -- called on the worker thread ---------------------------------------------
    def _finish(self, job: _Job, kind: str, payload: Any) -> None:
        with self._lock:
            self._jobs.pop(job.rid, None)
            stale = job.latest_only and self._latest.get(job.label) != job.rid
        self._current = None
        if kind == "result" and not stale:
            self.result.emit(job.rid, payload)
        elif kind == "error" and not stale:
            self.error.emit(job.rid, payload)
        elif kind == "cancelled" or stale:
            self.cancelled.emit(job.rid)
        self.job_finished.emit(job.rid)
