import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFileDialog, QLabel, QProgressBar, QPushButton, QSpinBox

from gui.concepts import TOOLTIPS
from gui.panels.training_panel import TrainingPanel


@pytest.fixture
def panel(qtbot):
    widget = TrainingPanel()
    qtbot.addWidget(widget)
    return widget


def button(panel, name) -> QPushButton:
    return panel.findChild(QPushButton, name)


def test_dataset_choice_and_folder_dialog(panel, qtbot, monkeypatch, tmp_path):
    box = panel.findChild(QComboBox, "datasetBox")
    assert panel.dataset_source() == "mnist"
    box.setFocus()
    with qtbot.waitSignal(panel.datasetChanged) as changed:
        qtbot.keyClick(box, Qt.Key.Key_Down)
    assert changed.args == ["xo"] and panel.dataset_source() == "xo"

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(tmp_path))
    with qtbot.waitSignal(panel.datasetChanged) as changed:
        qtbot.keyClick(box, Qt.Key.Key_Down)
    assert changed.args == [str(tmp_path)] and panel.dataset_source() == str(tmp_path)


def test_cancelled_folder_dialog_keeps_the_previous_dataset(panel, qtbot, monkeypatch):
    box = panel.findChild(QComboBox, "datasetBox")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: "")
    box.setFocus()
    with qtbot.assertNotEmitted(panel.datasetChanged):
        qtbot.keyClick(box, Qt.Key.Key_End)
    assert box.currentText() == "Bundled MNIST" and panel.dataset_source() == "mnist"


def test_optimiser_values_reflect_the_controls(panel):
    panel.findChild(QComboBox, "optimizerBox").setCurrentText("Adam")
    lr = panel.findChild(QDoubleSpinBox, "learningRate")
    lr.setValue(0.00031)
    batch, epochs = panel.findChild(QSpinBox, "batchSize"), panel.findChild(QSpinBox, "epochs")
    batch.setValue(128)
    epochs.setValue(3)
    assert (panel.optimizer(), panel.learning_rate(), panel.batch_size(), panel.epochs()) == (
        "adam", pytest.approx(0.00031), 128, 3)
    assert lr.minimum() == pytest.approx(1e-5) and lr.maximum() == 10 and lr.decimals() == 5
    assert (batch.minimum(), batch.maximum(), epochs.minimum(), epochs.maximum()) == (1, 4096, 1, 1000)


def test_saved_choices_are_shown_without_emitting_and_impossible_ones_refused(panel, qtbot):
    with qtbot.assertNotEmitted(panel.datasetChanged):
        panel.set_dataset_source("/data/shapes")
        panel.set_optimizer_settings("adam", 0.003, 32, 7)
    assert panel.dataset_source() == "/data/shapes"
    assert (panel.optimizer(), panel.learning_rate(), panel.batch_size(), panel.epochs()) == ("adam", 0.003, 32, 7)
    panel.set_optimizer_settings("sgd", 0.02, 64, 20, weight_decay=5e-4, schedule="cosine", augment=True)
    assert (panel.weight_decay(), panel.schedule(), panel.augment()) == (5e-4, "cosine", True)
    for bad in [("rmsprop", 0.1, 8, 2), ("sgd", float("nan"), 8, 2), ("sgd", 0.1, 10**30, 2), ("sgd", 0.1, 8, 2, 0.0, "step")]:
        with pytest.raises(ValueError):
            panel.set_optimizer_settings(*bad)
    assert panel.batch_size() == 64 and panel.schedule() == "cosine"


def test_buttons_emit_their_requests(panel, qtbot):
    for name, signal in [
        ("startButton", panel.startRequested),
        ("stepButton", panel.stepRequested),
        ("resetButton", panel.resetRequested),
    ]:
        with qtbot.waitSignal(signal, timeout=500):
            qtbot.mouseClick(button(panel, name), Qt.MouseButton.LeftButton)
    panel.set_state("running")
    for name, signal in [("pauseButton", panel.pauseRequested), ("stopButton", panel.stopRequested)]:
        with qtbot.waitSignal(signal, timeout=500):
            qtbot.mouseClick(button(panel, name), Qt.MouseButton.LeftButton)


@pytest.mark.parametrize(
    "state, start_text, enabled",
    [
        ("idle", "Start", {"startButton", "stepButton", "resetButton"}),
        ("starting", "Start", {"pauseButton", "stopButton"}),
        ("running", "Start", {"pauseButton", "stopButton"}),
        ("paused", "Resume", {"startButton", "stepButton", "stopButton", "resetButton"}),
        ("finished", "Start", {"startButton", "stepButton", "stopButton", "resetButton"}),
    ],
)
def test_set_state_enables_the_sensible_buttons(panel, state, start_text, enabled):
    panel.set_state(state)
    buttons = panel.findChildren(QPushButton)
    assert {b.objectName() for b in buttons if b.isEnabled()} == enabled
    assert button(panel, "startButton").text() == start_text
    assert panel.findChild(QComboBox, "datasetBox").isEnabled() == (state in ("idle", "finished"))


def test_disabled_button_does_not_emit(panel, qtbot):
    panel.set_state("running")
    with qtbot.assertNotEmitted(panel.startRequested):
        qtbot.mouseClick(button(panel, "startButton"), Qt.MouseButton.LeftButton)


def test_unknown_state_is_rejected(panel):
    with pytest.raises(ValueError, match="unknown training state 'exploded'"):
        panel.set_state("exploded")


def test_progress_and_messages(panel):
    panel.set_progress(0.4, "epoch 2/5 · batch 120/630 · 14,200 samples/s · 12 s left")
    assert panel.progress_text() == "epoch 2/5 · batch 120/630 · 14,200 samples/s · 12 s left"
    bar = panel.findChild(QProgressBar)
    assert (bar.value() - bar.minimum()) / (bar.maximum() - bar.minimum()) == pytest.approx(0.4)
    panel.set_progress(float("nan"), "")
    assert bar.value() == bar.minimum()
    panel.show_message("Training diverged at step 57: loss became NaN. Weights restored to step 56.", error=True)
    assert panel.message().startswith("Training diverged at step 57")


def test_buttons_stay_put_whatever_the_messages(panel, qtbot):
    panel.resize(430, 700)
    panel.show()
    qtbot.waitExposed(panel)
    start = button(panel, "startButton")
    where = start.mapTo(panel, start.rect().topLeft())
    panel.show_message("a long failure message that wraps over several lines " * 8, error=True)
    panel.set_progress(0.5, "epoch 3/5 · batch 12/63 · 21,000 samples/s · 20 s left " * 3)
    panel.set_dataset_source("/a/very/long/path/" * 20)
    qtbot.wait(20)
    assert start.mapTo(panel, start.rect().topLeft()) == where
    assert panel.findChild(QLabel, "trainingStatus").height() < 80


def test_controls_carry_concept_tooltips(panel):
    tips = {w.toolTip() for w in panel.findChildren(QDoubleSpinBox) + panel.findChildren(QSpinBox)}
    assert TOOLTIPS["learning rate"] in tips
    assert {TOOLTIPS["batch size"], TOOLTIPS["epoch"]} <= tips


def test_slow_motion_is_off_by_default_and_can_change_while_training_runs(panel, qtbot):
    pace = panel.findChild(QDoubleSpinBox, "slowMotion")
    assert panel.pace() == 0.0 and pace.text() == "off (full speed)"
    panel.set_state("running")
    assert pace.isEnabled() and not panel.findChild(QDoubleSpinBox, "learningRate").isEnabled()
    pace.setFocus()
    with qtbot.waitSignal(panel.paceChanged) as changed:
        qtbot.keyClick(pace, Qt.Key.Key_Up)
    assert changed.args == [1.0] and panel.pace() == 1.0
