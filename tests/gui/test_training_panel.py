import dataclasses

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
)

from gui.concepts import TOOLTIPS
from gui.panels.training_panel import TrainingPanel, TrainSettings

PRESETS = {
    "LeNet-ish": "INPUT(1x28x28) -> CONV(6,5) -> RELU -> POOL(2) -> CONV(16,5) -> RELU -> POOL(2) -> FC(10)",
    "Tiny": "INPUT(1x28x28) -> CONV(4,3) -> RELU -> FC(10)",
}


EDIT_WAIT = 400


@pytest.fixture
def panel(qtbot):
    widget = TrainingPanel()
    qtbot.addWidget(widget)
    widget.set_presets(PRESETS, "Tiny")
    return widget


def dataset_box(panel):
    return next(box for box in panel.findChildren(QComboBox) if box.itemText(0) == "Bundled MNIST")


def preset_box(panel):
    return next(box for box in panel.findChildren(QComboBox) if box.itemText(0) == "LeNet-ish")


def button(panel, text):
    return next(b for b in panel.findChildren(QPushButton) if b.text() == text)


def test_set_presets_shows_the_current_text_without_reporting_an_edit(panel, qtbot):
    assert panel.architecture_text() == PRESETS["Tiny"]
    assert [preset_box(panel).itemText(i) for i in range(2)] == list(PRESETS)
    with qtbot.assertNotEmitted(panel.architectureEdited, wait=EDIT_WAIT):
        panel.set_presets(PRESETS, "LeNet-ish")
    assert panel.architecture_text() == PRESETS["LeNet-ish"]


def test_loaded_architecture_text_is_shown_but_not_reported_as_an_edit(panel, qtbot):
    editor = panel.findChild(QPlainTextEdit)
    with qtbot.assertNotEmitted(panel.architectureEdited, wait=EDIT_WAIT):
        qtbot.keyClicks(editor, " -> RELU")  # a pending edit is superseded by the loaded text
        panel.set_architecture_text(PRESETS["LeNet-ish"])
    assert panel.architecture_text() == PRESETS["LeNet-ish"]


def test_unknown_current_preset_is_a_clear_error(panel):
    with pytest.raises(KeyError, match="'VGG' is not among the presets"):
        panel.set_presets(PRESETS, "VGG")


def test_picking_a_preset_puts_its_text_in_the_editor_and_reports_it(panel, qtbot):
    box = preset_box(panel)
    box.setFocus()
    with qtbot.waitSignal(panel.architectureEdited, timeout=2000) as edited:
        qtbot.keyClick(box, Qt.Key.Key_Up)
    assert box.currentText() == "LeNet-ish"
    assert panel.architecture_text() == PRESETS["LeNet-ish"]
    assert edited.args == [PRESETS["LeNet-ish"]]


def test_typing_emits_one_debounced_architecture_edit(panel, qtbot):
    editor = panel.findChild(QPlainTextEdit)
    editor.moveCursor(editor.textCursor().MoveOperation.End)
    received = []
    panel.architectureEdited.connect(received.append)
    with qtbot.waitSignal(panel.architectureEdited, timeout=2000):
        qtbot.keyClicks(editor, " -> SOFTMAX")
    assert received == [PRESETS["Tiny"] + " -> SOFTMAX"]
    assert panel.settings().architecture == PRESETS["Tiny"] + " -> SOFTMAX"


def test_architecture_table_and_error(panel):
    rows = [
        ("input", "INPUT", "1x28x28", "0", "1"),
        ("conv1", "CONV", "4x26x26", "40", "3"),
        ("fc1", "FC", "10", "27050", "28"),
    ]
    panel.show_architecture_error("line 1: CONV needs (filters, size), got CONV(4)")
    assert panel.architecture_error() == "line 1: CONV needs (filters, size), got CONV(4)"
    assert "border" in panel.findChild(QPlainTextEdit).styleSheet()
    panel.show_architecture_table(rows)
    assert panel.table_rows() == rows
    assert panel.architecture_error() == ""
    assert panel.findChild(QPlainTextEdit).styleSheet() == ""
    panel.show_architecture_table(rows[:1])
    assert panel.table_rows() == rows[:1]


def test_dataset_choice_and_folder_dialog(panel, qtbot, monkeypatch, tmp_path):
    box = dataset_box(panel)
    assert panel.dataset_source() == "mnist"
    box.setFocus()
    with qtbot.waitSignal(panel.datasetChanged) as changed:
        qtbot.keyClick(box, Qt.Key.Key_Down)
    assert changed.args == ["xo"] and panel.dataset_source() == "xo"

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(tmp_path))
    with qtbot.waitSignal(panel.datasetChanged) as changed:
        qtbot.keyClick(box, Qt.Key.Key_Down)
    assert changed.args == [str(tmp_path)] and panel.dataset_source() == str(tmp_path)
    assert panel.settings().dataset == str(tmp_path)


def test_cancelled_folder_dialog_keeps_the_previous_dataset(panel, qtbot, monkeypatch):
    box = dataset_box(panel)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: "")
    box.setFocus()
    with qtbot.assertNotEmitted(panel.datasetChanged):
        qtbot.keyClick(box, Qt.Key.Key_End)
    assert box.currentText() == "Bundled MNIST" and panel.dataset_source() == "mnist"


def test_settings_reflect_the_controls(panel):
    optimizer = next(box for box in panel.findChildren(QComboBox) if box.itemText(0) == "SGD + momentum")
    optimizer.setCurrentText("Adam")
    lr = panel.findChild(QDoubleSpinBox)
    lr.setValue(0.00031)
    batch = next(box for box in panel.findChildren(QSpinBox) if box.maximum() == 4096)
    epochs = next(box for box in panel.findChildren(QSpinBox) if box.maximum() == 1000)
    batch.setValue(128)
    epochs.setValue(3)
    settings = panel.settings()
    assert settings == TrainSettings("mnist", PRESETS["Tiny"], "adam", pytest.approx(0.00031), 128, 3)
    assert lr.minimum() == pytest.approx(1e-5) and lr.maximum() == 10 and lr.decimals() == 5
    assert (batch.minimum(), batch.maximum(), epochs.minimum(), epochs.maximum()) == (1, 4096, 1, 1000)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.lr = 1.0


def test_buttons_emit_their_requests(panel, qtbot):
    for text, signal in [
        ("Start", panel.startRequested),
        ("Step", panel.stepRequested),
        ("Reset weights", panel.resetRequested),
    ]:
        with qtbot.waitSignal(signal, timeout=500):
            qtbot.mouseClick(button(panel, text), Qt.MouseButton.LeftButton)
    panel.set_state("running")
    for text, signal in [("Pause", panel.pauseRequested), ("Stop", panel.stopRequested)]:
        with qtbot.waitSignal(signal, timeout=500):
            qtbot.mouseClick(button(panel, text), Qt.MouseButton.LeftButton)


@pytest.mark.parametrize(
    "state, start_text, enabled",
    [
        ("idle", "Start", {"Start", "Step", "Reset weights"}),
        ("running", "Start", {"Pause", "Stop"}),
        ("paused", "Resume", {"Resume", "Step", "Stop", "Reset weights"}),
        ("finished", "Start", {"Start", "Step", "Reset weights"}),
    ],
)
def test_set_state_enables_the_sensible_buttons(panel, state, start_text, enabled):
    panel.set_state(state)
    buttons = panel.findChildren(QPushButton)
    assert {b.text() for b in buttons if b.isEnabled()} == enabled
    assert start_text in {b.text() for b in buttons}
    assert panel.findChild(QPlainTextEdit).isEnabled() == (state in ("idle", "finished"))


def test_disabled_button_does_not_emit(panel, qtbot):
    panel.set_state("running")
    with qtbot.assertNotEmitted(panel.startRequested):
        qtbot.mouseClick(button(panel, "Start"), Qt.MouseButton.LeftButton)


def test_unknown_state_is_rejected(panel):
    with pytest.raises(ValueError, match="unknown training state 'exploded'"):
        panel.set_state("exploded")


def test_set_history_updates_the_curves(panel):
    rng = np.random.default_rng(2)
    steps = np.arange(1, 1501)  # short enough to be drawn point for point
    loss = 2.3 * np.exp(-steps / 300) + rng.uniform(0, 0.1, steps.size)
    loss[57] = np.nan
    accuracy = 1 - loss / 2.5
    test_steps, test_accuracy = np.array([500, 1000, 1500]), np.array([0.81, 0.9, 0.93])
    panel.set_history(steps, loss, accuracy, test_steps, test_accuracy)
    x, y = panel.loss_curve().getOriginalDataset()
    np.testing.assert_array_equal(x, steps)
    np.testing.assert_array_equal(y, loss)
    np.testing.assert_array_equal(panel.accuracy_curve().getOriginalDataset()[1], accuracy)
    np.testing.assert_array_equal(panel.test_accuracy_points().getOriginalDataset()[0], test_steps)
    np.testing.assert_array_equal(panel.test_accuracy_points().getOriginalDataset()[1], test_accuracy)
    panel.set_history(steps[:10], loss[:10], accuracy[:10], test_steps[:0], test_accuracy[:0])
    assert panel.loss_curve().getOriginalDataset()[0].size == 10


def test_set_history_rejects_mismatched_lengths(panel):
    with pytest.raises(ValueError, match="equally long"):
        panel.set_history(np.arange(3), np.ones(3), np.ones(2), np.arange(0), np.ones(0))


def test_progress_and_messages(panel):
    panel.set_progress(0.4, "epoch 2/5 · batch 120/630 · 14,200 samples/s · 12 s left")
    assert panel.progress_text() == "epoch 2/5 · batch 120/630 · 14,200 samples/s · 12 s left"
    bar = panel.findChild(QProgressBar)
    assert (bar.value() - bar.minimum()) / (bar.maximum() - bar.minimum()) == pytest.approx(0.4)
    panel.set_progress(float("nan"), "")
    assert bar.value() == bar.minimum()
    panel.show_message("Training diverged at step 57: loss became NaN. Weights restored to step 56.", error=True)
    assert panel.message().startswith("Training diverged at step 57")


def test_controls_carry_concept_tooltips(panel):
    tips = {w.toolTip() for w in panel.findChildren(QDoubleSpinBox) + panel.findChildren(QSpinBox)}
    assert TOOLTIPS["learning rate"] in tips
    assert {TOOLTIPS["batch size"], TOOLTIPS["epoch"]} <= tips


def test_set_settings_shows_saved_choices_without_emitting_edits(qtbot):
    from gui.panels.training_panel import TrainingPanel, TrainSettings

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    saved = TrainSettings(dataset="/data/shapes", architecture="CONV(4,3) -> RELU -> FC(3)", optimizer="adam",
                          lr=0.003, batch_size=32, epochs=7)
    with qtbot.assertNotEmitted(panel.architectureEdited, wait=300), qtbot.assertNotEmitted(panel.datasetChanged):
        panel.set_settings(saved)
    assert panel.settings() == saved
    panel.set_settings(TrainSettings("xo", "FC(2)", "sgd", 0.1, 8, 2))
    assert panel.settings() == TrainSettings("xo", "FC(2)", "sgd", 0.1, 8, 2)


def test_steps_that_go_backwards_are_drawn_in_order(qtbot):
    from gui.panels.training_panel import TrainingPanel

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.show()
    steps = np.array([1, 2, 3, 1, 2], float)
    loss = np.array([5, 4, 3, 2, 1], float)
    panel.set_history(steps, loss, loss / 10, np.zeros(0), np.zeros(0))
    qtbot.wait(50)  # the event loop comes back: no endless auto-range loop
    x, y = panel.loss_curve().getData()
    assert list(x) == [1, 1, 2, 2, 3] and list(y) == [5, 2, 4, 1, 3]


def test_timeline_slider_offers_kept_steps_and_stays_live(qtbot):
    from PySide6.QtWidgets import QSlider

    from gui.panels.training_panel import TrainingPanel

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.set_timeline([0, 63, 126])
    assert panel.timeline_position() == -1
    slider = panel.findChild(QSlider)
    with qtbot.waitSignal(panel.timelineMoved) as moved:
        slider.setValue(1)
    assert moved.args == [1] and panel.timeline_position() == 1
    panel.set_timeline([0, 63, 126, 189])  # a new epoch arrives while looking back: stay put
    assert panel.timeline_position() == 1
    panel.set_timeline_position(-1)
    panel.set_timeline([0, 63, 126, 189, 252])  # live stays live
    assert panel.timeline_position() == -1


def test_long_histories_are_drawn_as_a_bounded_envelope_that_keeps_spikes(qtbot):
    from gui.panels.training_panel import MAX_DRAWN_POINTS, TrainingPanel

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    steps = np.arange(1, 100_001, dtype=float)
    loss = np.full(len(steps), 0.1)
    loss[54_321] = 9.0  # one divergent-looking spike
    panel.set_history(steps, loss, np.full(len(steps), 0.9), np.array([50_000.0]), np.array([0.95]))
    x, y = panel.loss_curve().getData()
    assert len(x) <= MAX_DRAWN_POINTS + 1 and y.max() == 9.0 and y.min() == 0.1
    assert np.all(np.diff(x) >= 0)
    x_range = panel._loss_plot.getViewBox().viewRange()[0]
    assert x_range[0] <= 1 and x_range[1] >= 100_000
