import numpy as np
import pytest
from PySide6.QtWidgets import QCheckBox, QLabel, QPushButton, QSlider

from gui.panels.training_curves import MAX_DRAWN_POINTS, TrainingCurves


@pytest.fixture
def curves(qtbot):
    widget = TrainingCurves()
    qtbot.addWidget(widget)
    return widget


def test_set_history_updates_the_curves(curves):
    rng = np.random.default_rng(2)
    steps = np.arange(1, 1501)  # short enough to be drawn point for point
    loss = 2.3 * np.exp(-steps / 300) + rng.uniform(0, 0.1, steps.size)
    loss[57] = np.nan
    accuracy = 1 - loss / 2.5
    test_steps, test_accuracy = np.array([500, 1000, 1500]), np.array([0.81, 0.9, 0.93])
    curves.set_history(steps, loss, accuracy, test_steps, test_accuracy)
    x, y = curves.loss_curve().getOriginalDataset()
    np.testing.assert_array_equal(x, steps)
    np.testing.assert_array_equal(y, loss)
    np.testing.assert_array_equal(curves.accuracy_curve().getOriginalDataset()[1], accuracy)
    np.testing.assert_array_equal(curves.test_accuracy_points().getOriginalDataset()[0], test_steps)
    np.testing.assert_array_equal(curves.test_accuracy_points().getOriginalDataset()[1], test_accuracy)
    curves.set_history(steps[:10], loss[:10], accuracy[:10], test_steps[:0], test_accuracy[:0])
    assert curves.loss_curve().getOriginalDataset()[0].size == 10


def test_set_history_rejects_mismatched_lengths(curves):
    with pytest.raises(ValueError, match="equally long"):
        curves.set_history(np.arange(3), np.ones(3), np.ones(2), np.arange(0), np.ones(0))


def test_steps_that_go_backwards_are_drawn_in_order(curves, qtbot):
    curves.show()
    steps = np.array([1, 2, 3, 1, 2], float)
    loss = np.array([5, 4, 3, 2, 1], float)
    curves.set_history(steps, loss, loss / 10, np.zeros(0), np.zeros(0))
    qtbot.wait(50)  # the event loop comes back: no endless auto-range loop
    x, y = curves.loss_curve().getData()
    assert list(x) == [1, 1, 2, 2, 3] and list(y) == [5, 2, 4, 1, 3]


def test_timeline_slider_offers_kept_steps_and_reports_moves(curves, qtbot):
    curves.set_timeline([0, 63, 126])
    assert curves.timeline_position() == -1
    slider = curves.findChild(QSlider, "lookBackSlider")
    with qtbot.waitSignal(curves.timelineMoved) as moved:
        slider.setValue(1)
    assert moved.args == [1] and curves.timeline_position() == 1
    with qtbot.assertNotEmitted(curves.timelineMoved):
        curves.set_timeline([0, 63, 126, 189], position=1)  # a new epoch arrives while looking back
    assert curves.timeline_position() == 1
    with qtbot.waitSignal(curves.timelineMoved) as moved:
        curves.set_timeline_position(-1)
    assert moved.args == [-1]
    curves.set_timeline([0, 63, 126, 189, 252])
    assert curves.timeline_position() == -1


def test_long_histories_are_drawn_as_a_bounded_envelope_that_keeps_spikes(curves):
    steps = np.arange(1, 100_001, dtype=float)
    loss = np.full(len(steps), 0.1)
    loss[54_321] = 9.0  # one divergent-looking spike
    curves.set_history(steps, loss, np.full(len(steps), 0.9), np.array([50_000.0]), np.array([0.95]))
    x, y = curves.loss_curve().getData()
    assert len(x) <= MAX_DRAWN_POINTS + 1 and y.max() == 9.0 and y.min() == 0.1
    assert np.all(np.diff(x) >= 0)
    x_range = curves._loss_plot.getViewBox().viewRange()[0]
    assert x_range[0] <= 1 and x_range[1] >= 100_000


def test_the_log_scale_keeps_an_exploding_loss_and_the_small_ones_readable(curves):
    steps = np.arange(1, 41, dtype=float)
    loss = np.concatenate([np.linspace(2.3, 0.2, 37), [40.0, 9e3, 5e22]])
    curves.set_history(steps, loss, np.full(40, 0.5), np.zeros(0), np.zeros(0))
    low, high = curves._loss_plot.getViewBox().viewRange()[1]
    assert low == 0 and high >= 5e22  # linear: everything but the explosion is squashed onto the axis
    curves.findChild(QCheckBox, "logScaleBox").click()
    assert curves.log_scale()
    low, high = curves._loss_plot.getViewBox().viewRange()[1]
    assert low <= np.log10(0.2) and 22.7 <= high <= 24  # log10 units: 0.2 and 5e22 both on the plot
    np.testing.assert_array_equal(curves.loss_curve().getOriginalDataset()[1], loss)


def test_the_status_line_and_the_current_numbers(curves, qtbot):
    """A status that comes and goes leaves the plots their size: re-laying them out held the GUI thread."""
    status, plot = curves.findChild(QLabel, "curveStatus"), curves._loss_plot
    curves.show()
    qtbot.waitExposed(curves)
    size = plot.size()
    curves.set_status("training diverged: the learning rate 10 is too high", error=True)
    qtbot.wait(20)
    assert status.isVisibleTo(curves) and "learning rate 10" in curves.status() and plot.size() == size
    assert "learning rate 10" in status.toolTip()
    curves.set_latest(0.31234, 0.91, None)
    assert curves.readout() == "loss 0.312 · accuracy 91.0%"
    curves.set_latest(0.31234, 0.91, 0.971)
    assert curves.readout() == "loss 0.312 · accuracy 91.0% · test 97.1%"


def test_smoothing_is_chosen_on_a_slider_and_announced(curves, qtbot):
    assert curves.smoothing() == 0.0
    with qtbot.waitSignal(curves.smoothingChanged) as changed:
        curves.findChild(QSlider, "smoothingSlider").setValue(60)
    assert changed.args == [0.6] and curves.smoothing() == 0.6


def test_play_walks_the_slider_to_live_and_stops(curves, qtbot):
    curves.set_timeline([0, 10, 20])
    moves = []
    curves.timelineMoved.connect(moves.append)
    curves.findChild(QPushButton, "playButton").click()
    assert curves.is_playing()
    qtbot.waitUntil(lambda: not curves.is_playing(), timeout=5_000)
    assert moves == [0, 1, 2, -1]
    curves.set_timeline([])  # nothing to play: the buttons are off
    assert not curves.findChild(QPushButton, "playButton").isEnabled()
    assert not curves.findChild(QPushButton, "forkButton").isEnabled()
