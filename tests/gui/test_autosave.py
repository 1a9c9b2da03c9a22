"""Nothing lost: a killed session comes back on the next launch, and closing after training offers to save."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from core.session_store import SessionStore
from core.trainer import HistoryDelta
from core.training_process import Progress, TrainingState
from gui.main_window import MainWindow

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


def test_killed_session_is_offered_and_restored_on_next_launch(qtbot, tmp_path, questions):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CONVSCOPE_HOME": str(tmp_path / "home")}
    first = subprocess.Popen([sys.executable, "-c", FIRST_LAUNCH], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "ready"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    store = SessionStore(tmp_path / "home" / "autosave")
    assert store.crashed()
    saved = store.load()

    questions.answers.append(QMessageBox.StandardButton.Yes)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, store=store)
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
    assert not store.crashed()  # a clean close is not offered again


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
