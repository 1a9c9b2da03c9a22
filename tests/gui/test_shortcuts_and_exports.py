"""Keyboard shortcuts and file exports, pressed and used as a user would."""
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest

from core.checkpoint import load_checkpoint
from tests.gui.user_actions import click, settle


@pytest.mark.slow
def test_space_starts_and_pauses_training(window, qtbot):
    window.activateWindow()
    QTest.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.coordinator.state.value == "running", timeout=60_000)
    QTest.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.coordinator.state.value == "paused", timeout=10_000)
    click(window, "stopButton")
    assert window.coordinator.state.value == "idle"


def test_ctrl_s_saves_a_checkpoint_that_reopens_with_the_same_weights(window, tmp_path, monkeypatch):
    target = tmp_path / "mine.pt"
    monkeypatch.setattr("gui.file_actions.QFileDialog.getSaveFileName", lambda *a, **k: (str(target), ""))
    QTest.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    saved = load_checkpoint(target)
    for key, value in window.state.session.weights().items():
        np.testing.assert_array_equal(saved.state[key].numpy(), value)
    assert saved.history.steps == window.state.history.steps
    assert window.settings.value("last_checkpoint_folder") == str(tmp_path)


def test_ctrl_o_opens_an_image_and_remembers_its_folder(window, tmp_path, monkeypatch):
    image = QImage(64, 64, QImage.Format.Format_Grayscale8)
    image.fill(255)
    for x in range(20, 44):
        image.setPixel(31, x, 0)
        image.setPixel(32, x, 0)
    path = tmp_path / "one.png"
    image.save(str(path))
    monkeypatch.setattr("gui.file_actions.QFileDialog.getOpenFileName", lambda *a, **k: (str(path), ""))
    QTest.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    settle(window)
    assert window.input_view.caption.text() == "one.png"
    assert window.prediction.top_class() == "1"
    assert window.settings.value("last_image_folder") == str(tmp_path)


def test_exports_write_the_view_and_the_current_activations(window, tmp_path):
    window.layer_strip.step(2)
    assert window.files.export_png(str(tmp_path / "view.png"))
    picture = QImage(str(tmp_path / "view.png"))
    assert picture.width() > 800 and picture.height() > 500
    assert window.files.export_activations(str(tmp_path / "pool1.npy"))
    saved = np.load(tmp_path / "pool1.npy")
    np.testing.assert_array_equal(saved, window.state.session.inspection.activations["pool1"])
    assert saved.shape == (8, 12, 12)


def test_geometry_persists_between_windows(window, qtbot):
    from gui.main_window import MainWindow

    window.resize(1300, 700)
    window.close()
    again = MainWindow(settings=window.settings)
    qtbot.addWidget(again)
    assert again.height() == 700  # not the default 960 (the 800 px offscreen screen clamps the width)
    again.close()
