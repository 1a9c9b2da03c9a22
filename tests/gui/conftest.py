"""Qt hygiene: a test that leaves a QThread running or a QTimer active fails (napari's approach).

A module marked ``no_qt`` (the Qt-free coordinators) gets none of this and no QApplication.
"""
from pathlib import Path

import pytest
from PySide6.QtCore import QThread, QTimer


HERE = Path(__file__).parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in item.path.parents and item.get_closest_marker("no_qt") is None:
            item.fixturenames[:0] = ["qt_hygiene"]


@pytest.fixture
def qt_hygiene(no_dangling_qthreads_or_timers, questions, empty_clipboard_afterwards):
    """What every test that touches Qt gets."""


@pytest.fixture
def no_dangling_qthreads_or_timers(monkeypatch, qapp):
    threads: list[QThread] = []
    timers: list[QTimer] = []
    thread_start = QThread.start
    timer_start = QTimer.start

    def record_thread(self, *args):
        threads.append(self)
        return thread_start(self, *args)

    def record_timer(self, *args):
        timers.append(self)
        return timer_start(self, *args)

    monkeypatch.setattr(QThread, "start", record_thread)
    monkeypatch.setattr(QTimer, "start", record_timer)
    yield
    qapp.processEvents()
    running = [t for t in threads if _alive(t) and t.isRunning()]
    active = [t for t in timers if _alive(t) and t.isActive()]
    for t in active:
        t.stop()
    for t in running:
        t.quit()
        t.wait(2000)
    assert not running, f"test left {len(running)} QThread(s) running"
    assert not active, f"test left {len(active)} QTimer(s) active"


def _alive(obj) -> bool:
    import shiboken6

    return shiboken6.isValid(obj)


@pytest.fixture
def questions(monkeypatch):
    """Modal questions would block an offscreen test: record them and answer from a list (default: Discard/No)."""
    from PySide6.QtWidgets import QMessageBox

    asked: list[str] = []
    answers: list = []

    def answer(parent, title, text, *args, **kwargs):
        asked.append(title)
        if answers:
            return answers.pop(0)
        buttons = args[0] if args else QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
        if buttons & QMessageBox.StandardButton.Discard:
            return QMessageBox.StandardButton.Discard
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", answer)
    return _Questions(asked, answers)


class _Questions:
    def __init__(self, asked: list[str], answers: list) -> None:
        self.asked = asked
        self.answers = answers


@pytest.fixture
def window(qtbot, tmp_path):
    """The real main window with the bundled model, its settings kept in a temporary file."""
    from PySide6.QtCore import QSettings

    from gui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


@pytest.fixture
def empty_clipboard_afterwards(qapp):
    """Data left on the offscreen clipboard crashes Qt's teardown at interpreter exit."""
    yield
    qapp.clipboard().clear()
