"""The six stale-view reproductions of the ViewerState issue, driven through the real window."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox, QPlainTextEdit, QPushButton, QSlider

from core.architecture import PRESETS, parse
from core.checkpoint import load_checkpoint
from tests.gui.user_actions import choose_training, click, drag, model_built, seven

START_TIMEOUT_MS = 60_000  # a spawned worker imports torch before its first batch


def pick_preset(window, name: str) -> None:
    box = window.findChild(QComboBox, "presetBox")
    box.setFocus()
    while box.currentText() != name:
        QTest.keyClick(box, Qt.Key.Key_Down)


def train_one_short_epoch(window, qtbot) -> None:
    choose_training(window, "sgd", 0.01, 512, 1)
    click(window, "startButton")
    qtbot.waitUntil(lambda: window.coordinator.state.value == "finished", timeout=START_TIMEOUT_MS)


def wait_for_steps(window, qtbot, steps: int = 3) -> None:
    model_built(window)  # a new architecture's model first: it starts at its own step
    first = window.state.session.step
    qtbot.waitUntil(lambda: window.state.session.step >= first + steps, timeout=START_TIMEOUT_MS)


@pytest.mark.slow
def test_1_a_new_preset_after_a_finished_run_trains_without_a_size_mismatch(window, qtbot):
    train_one_short_epoch(window, qtbot)
    pick_preset(window, "tinyvgg")
    choose_training(window, "sgd", 0.01, 64, 5)
    click(window, "startButton")
    wait_for_steps(window, qtbot)
    click(window, "stopButton")
    assert window.state.session.architecture == parse(PRESETS["tinyvgg"])
    assert window.error_text() == "" and not any("size mismatch" in m for m in window.messages.history)


@pytest.mark.slow
def test_2_a_new_model_drops_the_old_confusion_matrix_and_browse_caption(window, qtbot):
    click(window, "evaluateButton")
    qtbot.waitUntil(lambda: window.confusion.matrix().size > 0, timeout=30_000)
    matrix = window.confusion.matrix()
    true, predicted = np.unravel_index(np.argmax(matrix - np.diag(np.diag(matrix))), matrix.shape)
    window.state.browse_cell(int(true), int(predicted))
    assert window.input_view.caption.text().startswith(f"true {true}, predicted {predicted}")
    pick_preset(window, "tinyvgg")
    click(window, "startButton")
    wait_for_steps(window, qtbot)
    click(window, "stopButton")
    assert window.confusion.matrix().size == 0 and "97.9%" not in window.confusion.summary.text()
    assert window.input_view.caption.text().startswith("test sample")
    assert not window.findChild(QPushButton, "browseAllButton").isEnabled()
    click(window, "evaluateButton")  # the matrix now describes TinyVGG's weights
    qtbot.waitUntil(lambda: window.confusion.matrix().size > 0, timeout=30_000)
    assert f"step {window.state.session.step:,}" in window.confusion.summary.text()


def test_3_clear_empties_the_maps_and_the_prediction(window):
    window.state.show_sample(4)
    click(window, "clearButton")
    assert window.feature_maps.is_empty() and window.current_probabilities() is None
    assert window.prediction.top_class() is None and window.input_view.caption.text() == ""


def test_3_picking_a_sample_erases_the_drawing(window):
    drag(window.canvas, seven())
    assert not window.canvas.is_empty()
    click(window, "nextSample")
    assert window.canvas.is_empty() and not window.canvas.drawing().any()
    assert window.input_view.caption.text().startswith("test sample")


@pytest.mark.slow
def test_3_stop_and_reset_leave_no_stale_progress_and_a_fixed_error_goes_with_the_next_run(window, qtbot):
    choose_training(window, "sgd", 0.01, 64, 50)
    window.editor.set_text("CONV(4,99) -> FC(10)")
    click(window, "startButton")
    assert "does not fit" in window.error_text()
    window.editor.set_text(PRESETS["lenet"])
    click(window, "startButton")
    wait_for_steps(window, qtbot)
    assert window.error_text() == "" and window.training.message() == ""
    click(window, "pauseButton")
    qtbot.waitUntil(lambda: "paused" in window.training.progress_text(), timeout=10_000)
    click(window, "stopButton")
    assert "paused" not in window.training.progress_text() and "left" not in window.training.progress_text()
    assert window.training.progress_text().startswith("stopped at step")
    click(window, "resetButton")
    model_built(window)
    assert window.training.progress_text() == "" and window.state.history.steps == []


@pytest.mark.slow
def test_4_saving_while_looking_back_keeps_every_view_on_the_weights_shown(window, qtbot, tmp_path, monkeypatch):
    window.state.show_sample(3)
    train_one_short_epoch(window, qtbot)
    slider = window.findChild(QSlider, "lookBackSlider")
    slider.setFocus()
    QTest.keyClick(slider, Qt.Key.Key_Home)
    shown = (window.filters.mosaic().copy(), window.feature_maps.mosaic().copy(), window.current_probabilities().copy())
    target = tmp_path / "saved.pt"
    monkeypatch.setattr("gui.file_actions.QFileDialog.getSaveFileName", lambda *a, **k: (str(target), ""))
    QTest.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert target.exists()
    np.testing.assert_array_equal(window.filters.mosaic(), shown[0])
    np.testing.assert_array_equal(window.feature_maps.mosaic(), shown[1])
    np.testing.assert_array_equal(window.current_probabilities(), shown[2])
    np.testing.assert_array_equal(window.state.session.weights()["conv1.weight"], window.state.session.filters()["conv1"])
    live = window.state.latest.weights
    np.testing.assert_array_equal(load_checkpoint(target).state["conv1.weight"].numpy(), live["conv1.weight"])
    click(window, "stopButton")


def test_5_start_keeps_the_typed_text_and_a_class_mismatch_keeps_the_trained_model(window, qtbot):
    editor = window.findChild(QPlainTextEdit, "architectureText")
    weights = window.state.session.weights()
    editor.setPlainText("INPUT(1x28x28) -> [CONV(4,3) -> RELU]*2 -> FC(3)")
    click(window, "startButton")
    assert "FC(10)" in window.error_text() and not window.coordinator.active
    assert window.state.session.architecture == parse(PRESETS["lenet"])
    np.testing.assert_array_equal(window.state.session.weights()["fc3.weight"], weights["fc3.weight"])
    typed = "INPUT(1x28x28) -> [CONV(4,3) -> RELU]*2 -> POOL(2) -> FC(10)"
    editor.setPlainText(typed)
    click(window, "startButton")
    assert window.editor.text() == typed
    qtbot.wait(400)  # the edit debounce and the session's own repaint have run
    assert window.editor.text() == typed
    click(window, "stopButton")


@pytest.mark.slow
def test_6_start_and_stop_stay_under_the_mouse(window, qtbot):
    window.resize(1560, 960)
    qtbot.wait(50)

    def where() -> list[QPoint]:
        return [window.findChild(QPushButton, name).mapTo(window, QPoint(0, 0)) for name in ("startButton", "stopButton")]

    before = where()
    window.editor.set_text("CONV(4,99) -> FC(10)")
    click(window, "startButton")  # a long error under the buttons
    window.editor.set_text(PRESETS["lenet"])
    assert where() == before
    choose_training(window, "sgd", 0.01, 64, 50)
    click(window, "startButton")
    wait_for_steps(window, qtbot)
    assert where() == before
    click(window, "stopButton")
    click(window, "resetButton")
    model_built(window)
    qtbot.wait(50)
    assert where() == before
