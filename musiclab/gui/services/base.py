"""A long-lived model service: one worker QObject in its own QThread, and the one job pattern.

The GUI submits jobs (plain callables from the Qt-free core) and gets a :class:`Job` handle
that carries its own callbacks, all called on the GUI thread::

    job = service.submit(core_function, arg, label="Training", key=value)
    job.on_result(self._show).on_error(self._say_failed).on_partial(self._add_point)
    # core_function(arg, key=value, should_stop=event.is_set, on_progress=cb[, on_partial=cb])

``on_partial`` is passed only to functions that take it (a loss point, one row of a batch,
a chunk's score); what they hand it arrives in the job's ``on_partial`` callbacks, in order.

Jobs of one service run one after another on its thread. ``latest=NAME`` (or
``latest_only=True``, which uses the label) makes a job supersede any earlier job of the same
name: the earlier one is cancelled and its result dropped inside the service, so a tab keeps
no request ids of its own. Exceptions in a job come back through ``on_error(message)``;
:class:`~musiclab.errors.MusiclabError` messages are shown as they are, anything else is
prefixed with its type. The main window reports every failed job once (the service's
``error`` signal); a tab's ``on_error`` only updates its own status text.

The service's signals (``job_started``, ``progress``, ``result``, ``error``, ``cancelled``,
``job_finished``, each with the job's ``rid``) serve the window's status bar and tests.
"""

from __future__ import annotations

import inspect
import itertools
import sys
import threading
import time
import traceback
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QThread, Qt, Signal, Slot

from ...errors import Cancelled, MusiclabError


def _takes(fn: Callable, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


_STILL_RUNNING: list = []  # services whose thread outlived shutdown(): kept referenced


class Job:
    """A handle on one submitted job; lives on the GUI thread.

    ``on_result(fn)``, ``on_error(fn)``, ``on_partial(fn)``, ``on_cancel(fn)``,
    ``on_progress(fn)`` and ``on_finished(fn)`` register callbacks and return the job, so they
    chain. ``state`` is "pending", "running", "done", "error" or "cancelled"; ``value`` /
    ``message`` hold the result or the error once there. A callback registered after the job
    ended is called at once.
    """

    def __init__(self, rid: int, fn: Callable, args: tuple, kwargs: dict, label: str,
                 latest: Optional[str], service: "ModelService"):
        self.rid = rid
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.label = label
        self.latest = latest
        self.service = service
        self.stop = threading.Event()
        self.state = "pending"
        self.value: Any = None
        self.message = ""
        self._cbs: dict[str, list[Callable]] = {k: [] for k in
                                                 ("result", "error", "partial", "cancel", "progress", "finished")}

    # -- callbacks ----------------------------------------------------------------------
    def _add(self, kind: str, fn: Callable) -> "Job":
        self._cbs[kind].append(fn)
        if self.done:  # late registration: call at once with what is known
            if kind == "result" and self.state == "done":
                fn(self.value)
            elif kind == "error" and self.state == "error":
                fn(self.message)
            elif kind == "cancel" and self.state == "cancelled":
                fn()
            elif kind == "finished":
                fn()
        return self

    def on_result(self, fn: Callable[[Any], None]) -> "Job":
        return self._add("result", fn)

    def on_error(self, fn: Callable[[str], None]) -> "Job":
        return self._add("error", fn)

    def on_partial(self, fn: Callable[[Any], None]) -> "Job":
        return self._add("partial", fn)

    def on_cancel(self, fn: Callable[[], None]) -> "Job":
        return self._add("cancel", fn)

    def on_progress(self, fn: Callable[[int, int, str], None]) -> "Job":
        return self._add("progress", fn)

    def on_finished(self, fn: Callable[[], None]) -> "Job":
        """Called last, after result, error or cancel."""
        return self._add("finished", fn)

    # -- control ------------------------------------------------------------------------
    def cancel(self) -> None:
        self.stop.set()

    @property
    def done(self) -> bool:
        return self.state in ("done", "error", "cancelled")

    @property
    def running(self) -> bool:
        return self.state == "running"

    def _call(self, kind: str, *args) -> None:
        for fn in list(self._cbs[kind]):
            try:
                fn(*args)
            except Exception:  # a tab's callback must not break the service's bookkeeping
                traceback.print_exc()

    def __repr__(self) -> str:
        return f"<Job {self.rid} {self.label!r} {self.state}>"


class _Worker(QObject):
    def __init__(self, service: "ModelService"):
        super().__init__()
        self._service = service

    @Slot(object)
    def run_job(self, job: Job) -> None:
        svc = self._service
        if job.stop.is_set():
            svc._event.emit(job, "cancelled", None)
            return
        svc._current = job
        svc._event.emit(job, "started", None)
        last = [0.0]

        def on_progress(done: int, total: int, message: str = "") -> None:
            now = time.monotonic()
            if now - last[0] >= 0.05 or (total and done >= total):
                last[0] = now
                svc._event.emit(job, "progress", (int(done), int(total), str(message)))

        def on_partial(item: Any) -> None:
            if not job.stop.is_set():
                svc._event.emit(job, "partial", item)

        kwargs = dict(job.kwargs)
        if _takes(job.fn, "on_partial") and "on_partial" not in kwargs:
            kwargs["on_partial"] = on_partial
        try:
            out = job.fn(*job.args, should_stop=job.stop.is_set, on_progress=on_progress, **kwargs)
        except Cancelled:
            kind, payload = "cancelled", None
        except MusiclabError as exc:
            kind, payload = "error", str(exc)
        except Exception as exc:  # a bug or an unexpected library error: report, keep running
            traceback.print_exc()
            kind, payload = "error", f"{type(exc).__name__}: {exc}"
        else:
            kind, payload = ("cancelled", None) if job.stop.is_set() else ("result", out)
        svc._current = None
        svc._event.emit(job, kind, payload)


class ModelService(QObject):
    """Owns a QThread and a worker; see the module docstring."""

    job_started = Signal(int, str)  # request id, label
    progress = Signal(int, int, int, str)  # request id, done, total, message
    result = Signal(int, object)  # request id, payload
    error = Signal(int, str)  # request id, message
    cancelled = Signal(int)  # request id
    job_finished = Signal(int)  # request id (after result / error / cancelled)
    _dispatch = Signal(object)
    _event = Signal(object, str, object)  # job, kind, payload: worker -> GUI thread

    _ids = itertools.count(1)

    def __init__(self, name: str, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.name = name
        self._thread = QThread()
        self._thread.setObjectName(f"musiclab-{name}")
        self._worker = _Worker(self)
        self._worker.moveToThread(self._thread)
        self._dispatch.connect(self._worker.run_job)
        self._event.connect(self._on_event, Qt.QueuedConnection)
        self._jobs: dict[int, Job] = {}
        self._latest: dict[str, int] = {}
        self._current: Optional[Job] = None
        self._lock = threading.Lock()
        self._thread.start()

    # -- API for tabs ------------------------------------------------------------
    def submit(self, fn: Callable, *args: Any, label: str = "", latest: Optional[str] = None,
               latest_only: bool = False, **kwargs: Any) -> Job:
        """Queue ``fn(*args, **kwargs)`` on this service's thread; returns its :class:`Job`."""
        label = label or getattr(fn, "__name__", "job")
        if latest_only and latest is None:
            latest = label
        job = Job(next(self._ids), fn, args, kwargs, label, latest, self)
        with self._lock:
            self._jobs[job.rid] = job
            if latest is not None:
                prev = self._latest.get(latest)
                if prev is not None and prev in self._jobs:
                    self._jobs[prev].stop.set()
                self._latest[latest] = job.rid
        self._dispatch.emit(job)
        return job

    def cancel(self, job: "Job | int | None" = None) -> None:
        """Cancel one job (a :class:`Job` or its rid), or all of this service's jobs."""
        with self._lock:
            if job is None:
                jobs = list(self._jobs.values())
            else:
                rid = job.rid if isinstance(job, Job) else job
                jobs = [self._jobs[rid]] if rid in self._jobs else []
        for j in jobs:
            j.stop.set()

    def is_busy(self) -> bool:
        with self._lock:
            return bool(self._jobs)

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def running_label(self) -> str:
        job = self._current
        return job.label if job else ""

    def shutdown(self, timeout_ms: int = 60000) -> None:
        """Cancel every job, then wait for the running one to notice and the thread to end.

        The thread is never terminated: killing it in the middle of a torch call (a model
        load, an OpenMP region) leaves locks held that every later torch call in the process
        waits on for ever. Jobs poll ``should_stop``, so the wait is normally short; one that
        outlives ``timeout_ms`` is reported and its service kept alive (not garbage-collected
        while its thread runs) until the process ends.
        """
        self.cancel()
        self._thread.quit()
        if not self._thread.wait(timeout_ms):
            job = self._current
            print(f"musiclab: service {self.name!r} still busy with "
                  f"{job.label if job else 'a job'!r} after {timeout_ms / 1000:.0f} s; left running",
                  file=sys.stderr)
            _STILL_RUNNING.append(self)

    # -- on the GUI thread ---------------------------------------------------------
    @Slot(object, str, object)
    def _on_event(self, job: Job, kind: str, payload: Any) -> None:
        if kind == "started":
            job.state = "running"
            self.job_started.emit(job.rid, job.label)
            return
        if kind == "progress":
            if not job.stop.is_set():
                job._call("progress", *payload)
                self.progress.emit(job.rid, *payload)
            return
        if kind == "partial":
            if not job.stop.is_set():
                job._call("partial", payload)
            return
        with self._lock:
            self._jobs.pop(job.rid, None)
            stale = job.latest is not None and self._latest.get(job.latest) != job.rid
            if job.latest is not None and not stale:
                self._latest.pop(job.latest, None)
        if stale:  # superseded by a newer job of the same name: dropped here, not in the tab
            kind = "cancelled"
        if kind == "result":
            job.state, job.value = "done", payload
            job._call("result", payload)
            self.result.emit(job.rid, payload)
        elif kind == "error":
            job.state, job.message = "error", payload
            job._call("error", payload)
            self.error.emit(job.rid, payload)
        else:
            job.state = "cancelled"
            job._call("cancel")
            self.cancelled.emit(job.rid)
        job._call("finished")
        self.job_finished.emit(job.rid)
