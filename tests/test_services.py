"""The QThread model service: results, progress, cancel, errors, stale requests, shutdown."""

import threading
import time

import pytest

from musiclab.errors import MusiclabError
from musiclab.gui.services.base import ModelService
from musiclab.jobs import check_stop


def count_to(n, *, should_stop=None, on_progress=None, delay=0.0):
    total = 0
    for i in range(n):
        check_stop(should_stop)
        total += i
        if on_progress:
            on_progress(i + 1, n, f"step {i + 1}")
        if delay:
            time.sleep(delay)
    return total


@pytest.fixture
def service(qtbot):
    svc = ModelService("test")
    yield svc
    svc.shutdown()


def test_result_and_progress_on_worker_thread(qtbot, service):
    progress = []
    threads = []
    service.progress.connect(lambda rid, d, t, m: progress.append((d, t, m)))

    def job(*, should_stop, on_progress):
        threads.append(threading.current_thread())
        return count_to(5, should_stop=should_stop, on_progress=on_progress)

    with qtbot.waitSignal(service.result, timeout=5000) as blocker:
        job_ = service.submit(job, label="count")
    assert blocker.args == [job_.rid, 10]
    assert threads[0] is not threading.main_thread()
    qtbot.waitUntil(lambda: progress and progress[-1][0] == 5, timeout=2000)
    assert progress[-1] == (5, 5, "step 5")
    qtbot.waitUntil(lambda: not service.is_busy(), timeout=2000)


def test_cancel_stops_a_running_job(qtbot, service):
    started = threading.Event()

    def job(*, should_stop, on_progress):
        started.set()
        return count_to(10_000, should_stop=should_stop, on_progress=on_progress, delay=0.001)

    results = []
    service.result.connect(lambda rid, v: results.append(v))
    with qtbot.waitSignal(service.cancelled, timeout=5000):
        handle = service.submit(job)
        assert started.wait(2)
        service.cancel(handle)
    assert results == []
    assert not service.is_busy()


def test_exception_becomes_error_signal(qtbot, service):
    def bad(*, should_stop, on_progress):
        raise MusiclabError("'x.ogg' is damaged.")

    def bug(*, should_stop, on_progress):
        return 1 / 0

    with qtbot.waitSignal(service.error, timeout=5000) as b1:
        service.submit(bad)
    assert b1.args[1] == "'x.ogg' is damaged."
    with qtbot.waitSignal(service.error, timeout=5000) as b2:
        service.submit(bug)
    assert b2.args[1].startswith("ZeroDivisionError")
    # the service keeps working after errors
    with qtbot.waitSignal(service.result, timeout=5000) as b3:
        service.submit(count_to, 3)
    assert b3.args[1] == 3


def test_latest_only_drops_stale_results(qtbot, service):
    results = []
    service.result.connect(lambda rid, v: results.append(v))
    gate = threading.Event()

    def slow(value, *, should_stop, on_progress):
        gate.wait(2)
        check_stop(should_stop)
        return value

    service.submit(slow, "old", label="preview", latest_only=True)
    with qtbot.waitSignal(service.result, timeout=5000):
        service.submit(slow, "new", label="preview", latest_only=True)
        gate.set()
    assert results == ["new"]


def test_shutdown_while_running_returns(qtbot):
    svc = ModelService("shutdown")
    svc.submit(count_to, 10_000_000, delay=0.0)
    t0 = time.monotonic()
    svc.shutdown()
    assert not svc._thread.isRunning()
    assert time.monotonic() - t0 < 10


def test_qt_binding_does_not_leak_references_on_emit():
    """PySide6 6.12.0 drops a reference to True on every Signal.emit: CPython 3.11 aborts
    after a few thousand progress signals. pyproject.toml excludes it; this guards that."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from PySide6.QtCore import QObject, Signal\n"
        "from PySide6.QtWidgets import QApplication, QLabel\n"
        "class A(QObject):\n"
        "    s = Signal(int, int, int, str)\n"
        "app = QApplication([]); a = A(); a.s.connect(lambda *x: None)\n"
        "w = QLabel('x'); w.show()\n"
        "t0, n0 = sys.getrefcount(True), sys.getrefcount(None)\n"
        "for i in range(20000):\n"
        "    a.s.emit(i, 2, 3, 'x'); w.update(); app.processEvents()\n"
        "print(sys.getrefcount(True) - t0, sys.getrefcount(None) - n0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    d_true, d_none = (int(x) for x in out.stdout.split())
    assert abs(d_true) < 100 and abs(d_none) < 100


# -- the Job handle -------------------------------------------------------------------------

def test_job_callbacks_run_on_the_gui_thread_in_order(qtbot, service):
    events = []

    def job(n, *, should_stop, on_progress, on_partial):
        for i in range(n):
            on_partial(i)
        return "ok"

    h = service.submit(job, 3, label="partials")
    h.on_partial(lambda x: events.append(("partial", x, threading.current_thread() is threading.main_thread())))
    h.on_result(lambda v: events.append(("result", v, threading.current_thread() is threading.main_thread())))
    h.on_finished(lambda: events.append(("finished",)))
    qtbot.waitUntil(lambda: h.done, timeout=5000)
    assert events == [("partial", 0, True), ("partial", 1, True), ("partial", 2, True),
                      ("result", "ok", True), ("finished",)]
    assert h.state == "done" and h.value == "ok"
    late = []
    h.on_result(late.append)  # registered after the end: called at once
    assert late == ["ok"]


def test_functions_without_on_partial_are_called_without_it(qtbot, service):
    h = service.submit(count_to, 4)
    qtbot.waitUntil(lambda: h.done, timeout=5000)
    assert h.value == 6


def test_job_error_and_cancel_callbacks(qtbot, service):
    def bad(*, should_stop, on_progress):
        raise MusiclabError("no such folder: /nowhere")

    errors, cancels, results = [], [], []
    h = service.submit(bad).on_error(errors.append).on_result(results.append)
    qtbot.waitUntil(lambda: h.done, timeout=5000)
    assert errors == ["no such folder: /nowhere"] and h.state == "error" and results == []

    started = threading.Event()

    def long(*, should_stop, on_progress):
        started.set()
        return count_to(100_000, should_stop=should_stop, delay=0.001)

    h2 = service.submit(long).on_cancel(lambda: cancels.append(1)).on_result(results.append)
    assert started.wait(2)
    h2.cancel()
    qtbot.waitUntil(lambda: h2.done, timeout=5000)
    assert cancels == [1] and results == [] and h2.state == "cancelled"


def test_a_superseded_job_is_dropped_inside_the_service(qtbot, service):
    gate = threading.Event()

    def slow(value, *, should_stop, on_progress):
        gate.wait(2)
        return value  # the old one does not even check should_stop: its result must still be dropped

    got = []
    old = service.submit(slow, "old", latest="preview").on_result(got.append)
    new = service.submit(slow, "new", latest="preview").on_result(got.append)
    gate.set()
    qtbot.waitUntil(lambda: old.done and new.done, timeout=5000)
    assert got == ["new"] and old.state == "cancelled"


def test_shutdown_never_kills_a_job_that_does_not_stop_in_time(qtbot, capsys):
    """A thread killed inside a torch call leaves its locks held for the whole process: a job
    that outlives the wait is reported and left to finish, not terminated."""
    from musiclab.gui.services import base

    gate = threading.Event()
    finished = []

    def stubborn(*, should_stop, on_progress):
        gate.wait(10)  # does not poll should_stop
        finished.append(True)
        return 1

    svc = ModelService("stubborn")
    svc.submit(stubborn, label="Deaf job")
    qtbot.waitUntil(lambda: svc.running_label() == "Deaf job", timeout=5000)
    t0 = time.monotonic()
    svc.shutdown(timeout_ms=300)
    assert time.monotonic() - t0 < 5
    assert svc._thread.isRunning() and svc in base._STILL_RUNNING
    assert "Deaf job" in capsys.readouterr().err
    gate.set()
    qtbot.waitUntil(lambda: not svc._thread.isRunning(), timeout=5000)
    assert finished == [True]  # it ran to its end
    base._STILL_RUNNING.remove(svc)
