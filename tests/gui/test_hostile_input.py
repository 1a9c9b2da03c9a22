"""The window's own thread never freezes on hostile or heavy input, and every refusal is one line
(the issue 13 examples that happen in the window)."""
from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QPlainTextEdit

from core.architecture import PRESETS, build_model, parse
from core.checkpoint import Checkpoint, save_checkpoint
from core.preprocess import MNIST_NORMALIZATION
from core.trainer import TrainConfig
from core.training_process import TrainingJob, TrainingProcess
from tests.gui.user_actions import click, drop_file, model_built, settle


def test_pressing_start_does_not_wait_for_the_worker_to_import_torch(monkeypatch):
    """Start froze the window 1.4-1.8 s: the job rode in spawn's argument pipe, which the child reads
    only after importing torch. It now goes through the command queue, and a starter thread makes the
    queues and the process."""
    from core import training_process

    made = []

    def recorded(*args, **kwargs):
        made.append(kwargs["args"])
        return real(*args, **kwargs)

    real = training_process._CONTEXT.Process
    monkeypatch.setattr(training_process._CONTEXT, "Process", recorded)
    process = TrainingProcess(TrainingJob(PRESETS["lenet"], "mnist", TrainConfig()))
    started = time.perf_counter()
    process.start()
    try:
        assert time.perf_counter() - started < 0.1 and process.is_alive() and process.starting  # not even the spawn waited
        assert process.wait_started(10) and process.pid is not None
        assert len(made) == 1 and not any(isinstance(arg, TrainingJob) for arg in made[0])
    finally:
        process.stop()


@pytest.mark.slow
def test_a_7000x7000_photo_opens_off_the_gui_thread(window, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "huge.jpg"
    Image.fromarray(rng.integers(0, 255, (7000, 7000), dtype=np.uint8)).save(path, quality=70)
    caption = window.input_view.caption.text()
    drop_file(window, path, wait=False)
    assert window.files.opening and window.input_view.caption.text() == caption  # the drop returned at once
    assert window.messages.busy_label.text() == "opening huge.jpg…"
    QTest.keyClick(window, Qt.Key.Key_Right)  # the window answers meanwhile
    assert window.current_layer_name() == "relu1"
    settle(window)
    assert window.input_view.caption.text() == "huge.jpg" and window.messages.busy_label.isHidden()


def test_a_dropped_upper_case_pt_file_is_opened_as_a_checkpoint(window, tmp_path):
    architecture = parse(PRESETS["tinyvgg"])
    path = tmp_path / "MODEL.PT"
    save_checkpoint(path, Checkpoint(architecture, build_model(architecture).state_dict(), tuple("0123456789"),
                                     MNIST_NORMALIZATION))
    drop_file(window, path)
    assert window.state.session.architecture == architecture and "opened MODEL.PT" in window.last_message()


def test_a_dropped_web_address_is_refused_in_words(window):
    mime = QMimeData()
    mime.setUrls([QUrl("https://example.com/digit.png")])
    centre = QPoint(window.width() // 2, window.height() // 2)
    enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    QApplication.sendEvent(window, QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                                              Qt.KeyboardModifier.NoModifier))
    assert window.error_text() == "only files on this computer can be dropped, not https://example.com/digit.png"


def test_a_megabyte_pasted_into_the_editor_leaves_a_working_window(window):
    editor = window.findChild(QPlainTextEdit, "architectureText")
    QApplication.clipboard().setText("CONV(" * 200_000)
    editor.selectAll()
    editor.setFocus()
    QTest.keyClick(editor, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    click(window, "startButton")
    assert window.error_text() and len(window.messages.label.text()) <= 500 and not window.coordinator.active
    for _ in range(3):
        QTest.keyClick(window, Qt.Key.Key_Right)
    assert window.current_layer_name() == "conv2"


def test_resetting_to_a_model_over_the_memory_budget_is_refused_with_the_numbers(window):
    weights = window.state.session.weights()
    window.editor.set_text("INPUT(1x1000x1000) -> CONV(8,5) -> RELU -> POOL(2) -> FC(10)")
    click(window, "resetButton")
    model_built(window)
    assert "budget" in window.error_text() and "GB" in window.error_text()
    np.testing.assert_array_equal(window.state.session.weights()["fc3.bias"], weights["fc3.bias"])


@pytest.mark.slow
def test_reset_weights_on_a_large_input_builds_the_model_off_the_gui_thread(window):
    """Reset weights on a model with a large input held the window for seconds (30 s at 1000x1000): the
    data fitted to the new input size and the weights drawn on the GUI thread. Now the click returns with
    a busy indicator and the old model on show, and the new one follows."""
    big = "INPUT(3x224x224) -> CONV(16,3,p=1) -> RELU -> POOL(4) -> CONV(32,3,p=1) -> RELU -> POOL(4) -> FC(64) -> FC(10)"
    old = window.state.session
    window.editor.set_text(big)
    click(window, "resetButton")
    assert window.coordinator.building and window.state.session is old
    assert window.messages.busy_label.isVisible() and "building" in window.messages.busy_label.text()
    QTest.keyClick(window, Qt.Key.Key_Right)  # the window keeps answering meanwhile
    assert window.current_layer_name() == "relu1"
    model_built(window)
    assert window.state.session.architecture == parse(big) and window.state.session.input_shape == (3, 224, 224)
    assert not window.messages.busy_label.isVisible() and window.error_text() == ""
    assert window.current_probabilities().shape == (10,)


def test_the_files_an_image_folder_could_not_read_are_listed(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QComboBox, QFileDialog

    from core.data import mnist_subset_raw

    images, labels = mnist_subset_raw("test")
    for i in range(40):
        folder = tmp_path / "digits" / ("even" if labels[i] % 2 == 0 else "odd")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(folder / f"{i}.png")
    for name in ("even", "odd"):
        (tmp_path / "digits" / name / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(tmp_path / "digits")))
    box = window.findChild(QComboBox, "datasetBox")
    box.setFocus()
    QTest.keyClick(box, Qt.Key.Key_End)
    assert "skipped 2 files: even/broken.png (not a readable image" in window.last_message()
