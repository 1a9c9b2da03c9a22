"""Training faults driven through the real training panel: divergence, unusable image folders, and
stopping, resetting or switching model or data while the worker process is training."""
from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFileDialog, QPlainTextEdit, QPushButton, QSpinBox

from core.architecture import PRESETS, build_model, parse
from core.checkpoint import Checkpoint, save_checkpoint
from core.preprocess import MNIST_NORMALIZATION
from core.run_status import RunStatus
from core.runs import open_run
from tests.gui.user_actions import drop_file, model_built

pytestmark = pytest.mark.slow  # every test here runs real training processes

START_TIMEOUT_MS = 60_000  # a spawned worker imports torch before its first batch


BUTTONS = {"Start": "startButton", "Pause": "pauseButton", "Stop": "stopButton", "Reset weights": "resetButton"}


def button(window, text: str) -> QPushButton:
    return window.findChild(QPushButton, BUTTONS[text])


def click(window, text: str) -> None:
    found = button(window, text)
    assert found.isEnabled(), f"the {text} button is disabled"
    QTest.mouseClick(found, Qt.MouseButton.LeftButton)


def dataset_box(window) -> QComboBox:
    return window.findChild(QComboBox, "datasetBox")


def preset_box(window) -> QComboBox:
    return window.findChild(QComboBox, "presetBox")


def epochs_box(window) -> QSpinBox:
    return window.findChild(QSpinBox, "epochs")


def weights_equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def all_finite(weights: dict[str, np.ndarray]) -> bool:
    return all(np.isfinite(v).all() for v in weights.values())


def no_worker_left() -> bool:
    return not any(p.name == "convscope-trainer" for p in multiprocessing.active_children())


def workers_end(qtbot) -> bool:
    """A stopped worker may wait for its last epoch's test accuracy (measured by the window) before it ends."""
    qtbot.waitUntil(no_worker_left, timeout=15_000)
    return True


class SnapshotLog:
    """Every version of the weights the window has shown, in order."""

    def __init__(self, window) -> None:
        self.weights: list[dict[str, np.ndarray]] = []
        window.state.weights_changed.connect(lambda: self.weights.append(window.state.session.weights()))


def start_and_wait_for_steps(window, qtbot, steps: int = 3) -> int:
    click(window, "Start")
    model_built(window)  # a new architecture starts a new model at its own step, built off the GUI thread
    first = window.state.session.step
    qtbot.waitUntil(lambda: window.state.session.step >= first + steps, timeout=START_TIMEOUT_MS)
    assert window.coordinator.state.value == "running" and window.training.state() == "running"
    return first


@pytest.fixture
def trainer_window(window):
    """The window on a sample, with enough epochs that no test's run ends by itself."""
    window.state.show_sample(3)
    epochs_box(window).setValue(50)
    return window


# ----------------------------------------------------------------------------- divergence


def test_learning_rate_ten_ends_the_run_as_diverged_with_a_message_and_the_last_good_weights(trainer_window, qtbot):
    window = trainer_window
    gaps = [np.isnan(view.mosaic()) for view in (window.feature_maps, window.filters)]  # NaN marks tile gaps
    window.findChild(QDoubleSpinBox, "learningRate").setValue(10.0)
    click(window, "Start")
    qtbot.waitUntil(lambda: "diverged" in window.training.message(), timeout=START_TIMEOUT_MS)
    assert "learning rate 10" in window.training.message()
    assert "diverged" in window.error_text()
    qtbot.waitUntil(lambda: window.coordinator.state.value == "idle", timeout=10_000)  # the run is over
    assert workers_end(qtbot) and not button(window, "Stop").isEnabled()
    assert "learning rate 10 is too high" in window.curves.status()  # said next to the curve
    assert all_finite(window.state.session.weights())
    assert np.isfinite(window.current_probabilities()).all()
    for view, gap in zip((window.feature_maps, window.filters), gaps):
        np.testing.assert_array_equal(np.isnan(view.mosaic()), gap)
        assert np.isfinite(view.mosaic()[~gap]).all()
    run = open_run(window.state.run_folder)  # the run says the same, with the restored weights last
    assert run.status is RunStatus.DIVERGED and run.message in window.curves.status()
    assert weights_equal(window.state.session.weights(), {k: v.numpy() for k, v in run.load().items()})


# ----------------------------------------------------------------------------- unusable image folders


def broken_folder(kind: str, root: Path) -> tuple[Path, str]:
    """An image folder a user might pick, and the words that must explain why it cannot be used."""
    folder = root / kind
    if kind == "one_class":
        (folder / "cats").mkdir(parents=True)
        for i in range(6):
            Image.new("L", (12, 12), 40 * i).save(folder / "cats" / f"{i}.png")
        return folder, "only one class"
    if kind == "no_images":
        for name in ("cats", "dogs"):
            (folder / name).mkdir(parents=True)
            (folder / name / "readme.txt").write_text("pictures go here")
        return folder, "no image files"
    if kind == "unreadable_files":
        for name in ("cats", "dogs"):
            (folder / name).mkdir(parents=True)
            for i in range(3):
                (folder / name / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([i]) * 40)
        return folder, "none of its 3 image files could be read"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["one_class", "no_images", "unreadable_files"])
def test_an_unusable_image_folder_gets_a_clear_message_and_the_app_keeps_working(
    trainer_window, qtbot, monkeypatch, tmp_path, kind
):
    window = trainer_window
    folder, reason = broken_folder(kind, tmp_path)
    input_before = window.state.session.input.copy()
    weights_before = window.state.session.weights()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *args, **kwargs: str(folder)))
    box = dataset_box(window)
    box.setFocus()
    QTest.keyClick(box, Qt.Key.Key_End)  # the keyboard's way to pick "Image folder…"
    assert box.currentText() == "Image folder…"
    assert reason in window.last_message() and str(folder) in window.last_message()
    np.testing.assert_array_equal(window.state.session.input, input_before)

    click(window, "Start")
    qtbot.waitUntil(lambda: reason in window.training.message(), timeout=START_TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.coordinator.state.value == "idle", timeout=10_000)
    assert reason in window.last_message()
    assert window.training.state() == "idle" and workers_end(qtbot)
    assert weights_equal(window.state.session.weights(), weights_before)

    QTest.keyClick(box, Qt.Key.Key_Home)  # back to the bundled digits: everything works again
    assert window.input_view.caption.text().startswith("test sample 1 / 1000")
    QTest.keyClick(window, Qt.Key.Key_Right)
    assert window.current_layer_name() == "relu1"


# ----------------------------------------------------------------------------- stop, reset, switch


def test_stop_mid_epoch_goes_idle_and_keeps_the_last_snapshot(trainer_window, qtbot):
    window = trainer_window
    log = SnapshotLog(window)
    weights_before = window.state.session.weights()
    first = start_and_wait_for_steps(window, qtbot)
    click(window, "Stop")
    assert window.coordinator.state.value == "idle" and window.training.state() == "idle"
    assert not window.coordinator.active and workers_end(qtbot)
    assert first < window.state.session.step < first + 50 * 63  # stopped well inside the run
    assert weights_equal(window.state.session.weights(), log.weights[-1])
    assert not weights_equal(window.state.session.weights(), weights_before)
    stopped_at = window.state.session.step
    qtbot.wait(300)
    assert window.state.session.step == stopped_at and weights_equal(window.state.session.weights(), log.weights[-1])
    assert window.state.history.steps[-1] <= stopped_at


def test_reset_after_pausing_a_run_gives_new_weights_and_clears_the_history(trainer_window, qtbot):
    window = trainer_window
    start_and_wait_for_steps(window, qtbot)
    assert not button(window, "Reset weights").isEnabled()  # the panel does not offer Reset mid-batch
    click(window, "Pause")
    qtbot.waitUntil(lambda: window.coordinator.state.value == "paused", timeout=10_000)
    trained = window.state.session.weights()
    click(window, "Reset weights")
    assert not window.coordinator.active and window.coordinator.state.value == "idle" and workers_end(qtbot)
    # The new model is built off the GUI thread; a worker from the fork server can end before it is in.
    qtbot.waitUntil(lambda: not window.coordinator.building, timeout=15_000)
    assert window.state.history.steps == [] and window.state.history.test_steps == []
    qtbot.waitUntil(lambda: window.curves.loss_curve().getData()[0] is None
                    or len(window.curves.loss_curve().getData()[0]) == 0)  # the event loop's next turn
    reset = window.state.session.weights()
    assert reset.keys() == trained.keys() and not weights_equal(reset, trained) and all_finite(reset)
    qtbot.wait(300)  # nothing from the stopped worker arrives afterwards
    assert weights_equal(window.state.session.weights(), reset)


def test_reset_requested_while_running_stops_the_worker_first(trainer_window, qtbot):
    window = trainer_window
    start_and_wait_for_steps(window, qtbot)
    window.training.resetRequested.emit()
    assert not window.coordinator.active and window.coordinator.state.value == "idle" and workers_end(qtbot)
    # The new model is built off the GUI thread; a worker from the fork server can end before it is in.
    qtbot.waitUntil(lambda: not window.coordinator.building, timeout=15_000)
    assert window.state.history.steps == []
    reset = window.state.session.weights()
    qtbot.wait(300)
    assert weights_equal(window.state.session.weights(), reset)
    assert "weights reset" in window.last_message()


def test_switching_to_the_tinyvgg_preset_between_runs_trains_the_new_model(trainer_window, qtbot):
    window = trainer_window
    start_and_wait_for_steps(window, qtbot)
    presets, editor = preset_box(window), window.findChild(QPlainTextEdit, "architectureText")
    assert not presets.isEnabled() and not editor.isEnabled()  # no switching under a running worker
    click(window, "Stop")
    presets.setFocus()
    QTest.keyClick(presets, Qt.Key.Key_Down)  # lenet -> tinyvgg
    assert window.editor.text() == PRESETS["tinyvgg"]
    start_and_wait_for_steps(window, qtbot)
    assert window.state.session.architecture == parse(PRESETS["tinyvgg"])
    assert window.state.session.weights().keys() == build_model(parse(PRESETS["tinyvgg"])).state_dict().keys()
    assert window.current_probabilities().shape == (10,)
    click(window, "Stop")
    assert workers_end(qtbot)


def test_dropping_a_checkpoint_of_another_architecture_while_training_switches_safely(trainer_window, qtbot, tmp_path):
    window = trainer_window
    torch.manual_seed(2)
    architecture = parse(PRESETS["tinyvgg"])
    model = build_model(architecture)
    path = tmp_path / "tinyvgg.pt"
    save_checkpoint(path, Checkpoint(architecture, model.state_dict(), tuple("0123456789"), MNIST_NORMALIZATION))
    start_and_wait_for_steps(window, qtbot)
    drop_file(window, path)
    assert not window.coordinator.active and window.coordinator.state.value == "idle" and workers_end(qtbot)
    assert window.state.session.architecture == architecture
    expected = {k: v.numpy() for k, v in model.state_dict().items()}
    assert weights_equal(window.state.session.weights(), expected)
    qtbot.wait(300)  # no late LeNet snapshot lands on the TinyVGG model
    assert weights_equal(window.state.session.weights(), expected)
    assert window.editor.text() == architecture.to_text()


def test_changing_the_dataset_while_training_stops_the_run_and_shows_the_new_data(trainer_window, qtbot):
    window = trainer_window
    log = SnapshotLog(window)
    start_and_wait_for_steps(window, qtbot)
    assert not dataset_box(window).isEnabled()  # the panel locks the data set during a run
    window.training.datasetChanged.emit("xo")
    assert not window.coordinator.active and window.coordinator.state.value == "idle" and workers_end(qtbot)
    assert "data set changed" in window.last_message()
    assert weights_equal(window.state.session.weights(), log.weights[-1])
    assert "test sample 1 / 500" in window.input_view.caption.text()
    assert window.current_probabilities().shape == (10,)
