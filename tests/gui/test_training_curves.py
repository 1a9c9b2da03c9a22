import numpy as np
import pytest
from PySide6.QtWidgets import QSlider

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
