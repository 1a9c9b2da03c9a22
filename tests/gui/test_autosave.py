"""Nothing lost: a killed session comes back on the next launch, and closing after training offers to save."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from core.assets import DEFAULT_CHECKPOINT
from core.checkpoint import load_checkpoint
from core.session_store import INPUT_FILE, MARKER_FILE, SETTINGS_FILE, SessionStore
from core.trainer import HistoryDelta
from core.training_process import Progress, TrainingState
from gui.main_window import MainWindow
from tests.gui.app_process import app_process, interrupt

ROOT = Path(__file__).resolve().parents[2]

FIRST_LAUNCH = """
import sys, torch
from PySide6.QtWidgets import QApplication
app = QApplication([])
from gui.main_window import MainWindow
from core.train_settings import TrainSettings
window = MainWindow()
window.show()
window.state.show_sample(41)
for _ in range(3):
    window.layer_strip.step(1)
window.show_train_settings(TrainSettings("mnist", window.editor.text(), "adam", 0.00321, 32, 3))
weights = window.state.session.weights()
weights["conv1.weight"] = weights["conv1.weight"] * 0.5
window.state.session.load_weights(weights)
window.state.history.loss.append(0.123)
window.state.history.steps.append(9999)
window.state.history.accuracy.append(0.5)
window.autosave.save_now()
print("ready", flush=True)
app.exec()
"""


def launch_and_kill(home: Path) -> None:
    """A first window that autosaves into its own slot under ``home`` and is then killed."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CONVSCOPE_HOME": str(home)}
    first = subprocess.Popen([sys.executable, "-c", FIRST_LAUNCH], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "ready"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)


@pytest.mark.slow
def test_killed_session_is_offered_and_restored_on_next_launch(qtbot, tmp_path, questions, monkeypatch):
    home = tmp_path / "home"
    launch_and_kill(home)
    crashed = SessionStore.crashed_slots(home / "autosave")
    assert [store.folder.name for store in crashed] == ["1"]
    saved = crashed[0].load()

    monkeypatch.setenv("CONVSCOPE_HOME", str(home))
    questions.answers.append(QMessageBox.StandardButton.Yes)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)  # claims a slot of its own: the crashed one is free again
    qtbot.addWidget(window)
    assert questions.asked == ["Restore the last session?"]
    assert window.current_layer_name() == "conv2"
    assert window.state.history.loss[-1] == 0.123 and window.state.history.steps[-1] == 9999
    np.testing.assert_allclose(window.state.session.weights()["conv1.weight"], saved.checkpoint.state["conv1.weight"].numpy())
    np.testing.assert_array_equal(window.state.session.input, saved.input)
    restored = window.train_settings()
    assert (restored.optimizer, restored.lr, restored.batch_size, restored.epochs) == ("adam", 0.00321, 32, 3)
    assert window.input_view.caption.text().startswith("test sample 42 / 1000")
    window.close()
    assert SessionStore.crashed_slots(home / "autosave") == []  # a clean close is not offered again


AT_THE_RESTORE_PROMPT = """
import sys
from PySide6.QtWidgets import QMessageBox
import gui.app

ask = QMessageBox.question


def asking(*args, **kwargs):
    print("asking", flush=True)
    return ask(*args, **kwargs)  # waits on the user, as the real prompt does


QMessageBox.question = staticmethod(asking)
if __name__ == "__main__":
    sys.exit(gui.app.run_app())
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c in the terminal", "sigterm"])
def test_a_signal_at_the_restore_prompt_exits_at_once_and_the_session_is_offered_again(tmp_path, how):
    home = tmp_path / "home"
    launch_and_kill(home)
    script = tmp_path / "app.py"
    script.write_text(AT_THE_RESTORE_PROMPT)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CONVSCOPE_HOME": str(home), "PYTHONPATH": str(ROOT),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    with app_process(script, ROOT, env) as app:
        assert app.stdout.readline().strip() == "asking", app.stderr.read()
        code, stderr = interrupt(app, how, timeout=10)
    assert code == 0 and "Traceback" not in stderr, stderr
    assert "interrupted before the window was up" in stderr
    crashed = SessionStore.crashed_slots(home / "autosave")  # neither restored nor declined: offered next time
    assert len(crashed) == 1 and crashed[0].load().checkpoint.history.steps[-1] == 9999


def test_two_windows_keep_their_own_autosaves(qtbot, tmp_path, questions, monkeypatch):
    monkeypatch.setenv("CONVSCOPE_HOME", str(tmp_path / "home"))
    windows = []
    for loss in (1.5, 2.5):
        window = MainWindow(settings=QSettings(str(tmp_path / f"{loss}.ini"), QSettings.Format.IniFormat))
        qtbot.addWidget(window)
        window.state.history.steps.append(70_000)
        window.state.history.loss.append(loss)
        window.state.history.accuracy.append(0.5)
        window.autosave.save_now()
        windows.append(window)
    first, second = (window.autosave.store for window in windows)
    assert first.folder != second.folder
    assert first.load().checkpoint.history.loss[-1] == 1.5 and second.load().checkpoint.history.loss[-1] == 2.5
    assert questions.asked == []  # neither live window's session is offered to the other
    for window in windows:
        window.close()


@pytest.mark.parametrize("damage", ["nan_weights", "saved_at", "optimizer", "batch_size", "strings_input"])
def test_a_bad_autosave_is_moved_aside_and_the_window_starts_fresh(qtbot, tmp_path, questions, monkeypatch, damage):
    home = tmp_path / "home"
    monkeypatch.setenv("CONVSCOPE_HOME", str(home))
    crashed = SessionStore.claim()
    checkpoint = load_checkpoint(DEFAULT_CHECKPOINT)
    if damage == "nan_weights":
        checkpoint.state["conv1.weight"][0, 0, 0, 0] = float("nan")
    crashed.save(checkpoint, {"training": {"optimizer": "sgd", "batch_size": 64}}, None)
    meta = json.loads((crashed.folder / SETTINGS_FILE).read_text())
    if damage == "saved_at":
        meta["saved_at"] = 1e20
    elif damage == "optimizer":
        meta["settings"]["training"]["optimizer"] = "rmsprop"
    elif damage == "batch_size":
        meta["settings"]["training"]["batch_size"] = 10**30
    elif damage == "strings_input":
        np.save(crashed.folder / INPUT_FILE, np.array(["a", "b"]))
    (crashed.folder / SETTINGS_FILE).write_text(json.dumps(meta))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (crashed.folder / MARKER_FILE).write_text(str(dead.pid))
    crashed.release()  # as if its window died
    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    assert "could not be restored" in window.error_text() and "moved to" in window.error_text()
    assert questions.asked == []
    assert list(home.joinpath("autosave").glob("1.bad-*"))  # kept for the user, not deleted
    assert window.current_probabilities() is not None  # the bundled model, working
    window.close()
    again = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    assert again.error_text() == ""  # offered once, not on every launch
    again.close()


def test_declining_restore_keeps_the_default_model(qtbot, tmp_path, questions):
    store = SessionStore(tmp_path / "autosave")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    first = MainWindow(settings=settings, store=store)
    qtbot.addWidget(first)
    first.state.history.steps.append(99_999)
    first.state.history.loss.append(5.0)
    first.state.history.accuracy.append(0.5)
    first.autosave.save_now()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (store.folder / "running").write_text(str(dead.pid))
    second = MainWindow(settings=settings, store=store)
    qtbot.addWidget(second)
    assert questions.asked == ["Restore the last session?"]
    assert second.state.history.loss[-1] != 5.0
    second.close()


def test_closing_after_training_offers_to_save_and_cancel_keeps_the_window(window, qtbot, tmp_path, questions, monkeypatch):
    window.state.record_progress(trained_one_step(window))  # as after any progress event from the trainer
    assert window.state.unsaved_training
    questions.answers.append(QMessageBox.StandardButton.Cancel)
    assert not window.close()
    assert window.isVisible() and questions.asked == ["Save the trained model?"]
    target = tmp_path / "kept.pt"
    monkeypatch.setattr("gui.file_actions.QFileDialog.getSaveFileName", lambda *a, **k: (str(target), ""))
    questions.answers.append(QMessageBox.StandardButton.Save)
    assert window.close()
    assert target.exists() and window.autosave.store.folder.joinpath("session.pt").exists()


def trained_one_step(window) -> Progress:
    step = window.state.session.step + 1
    return Progress(TrainingState.RUNNING, step, 100, 0, 1, 63, 1000.0, 5.0, HistoryDelta((step,), (0.5,), (0.9,)),
                    session=window.state.session.id)
