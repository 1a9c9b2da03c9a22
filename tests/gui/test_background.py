"""Slow work off the GUI thread: results arrive on the GUI thread, newer requests win, cancel drops."""
import gc
import threading
import time

import pytest

from gui.background import BackgroundTask, Cancelled, GuiThreadCollection


@pytest.fixture
def task(qtbot):
    runner = BackgroundTask("test")
    yield runner
    runner.close()


def test_the_result_and_progress_arrive_on_the_gui_thread(task, qtbot):
    threads, reports = [], []
    gui_thread = threading.current_thread()

    def work(progress, n):
        threads.append(threading.current_thread())
        for i in range(n):
            progress(i + 1, n)
        return n * 2

    task.progressed.connect(lambda done, total: reports.append((done, total, threading.current_thread())))
    with qtbot.waitSignal(task.finished, timeout=5000) as finished:
        task.start(work, 3)
        assert task.busy
    assert finished.args == [6] and not task.busy
    assert threads[0] is not gui_thread
    assert [(d, t) for d, t, _ in reports] == [(1, 3), (2, 3), (3, 3)]
    assert all(thread is gui_thread for _, _, thread in reports)


def test_a_newer_request_supersedes_the_running_one(task, qtbot):
    release = threading.Event()
    results = []
    task.finished.connect(results.append)

    def slow(progress):
        release.wait(5)
        if progress.cancelled:
            raise Cancelled()
        return "old"

    task.start(slow)
    with qtbot.waitSignal(task.finished, timeout=5000):
        task.start(lambda progress: "new")
        release.set()
    task.wait(5)
    qtbot.wait(50)
    assert results == ["new"]


def test_cancel_drops_the_result_and_errors_become_one_line(task, qtbot):
    results, errors = [], []
    task.finished.connect(results.append)
    task.failed.connect(errors.append)
    task.start(lambda progress: time.sleep(0.2) or "late")
    task.cancel()
    assert not task.busy
    task.wait(5)
    qtbot.wait(50)
    assert results == []
    with qtbot.waitSignal(task.failed, timeout=5000):
        task.start(lambda progress: 1 / 0)
    assert errors == ["division by zero"]


def test_automatic_collection_is_off_while_a_window_lives_and_back_after_the_last_closes(window):
    assert not gc.isenabled()  # the window collects on the GUI thread
    assert gc.get_freeze_count() > 10_000  # what the window was built of is left out of its collections
    other = GuiThreadCollection()
    window.close()
    assert not gc.isenabled() and gc.get_freeze_count() > 0
    other.close()
    other.close()
    assert gc.isenabled() and gc.get_freeze_count() == 0  # and collected again once no window is open

