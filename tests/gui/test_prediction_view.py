"""PredictionView: bars follow the probabilities, the top class is called out, bad input is refused."""
import numpy as np
import pytest

from gui.concepts import TOOLTIPS
from gui.panels.prediction_view import PredictionView

DIGITS = [str(d) for d in range(10)]


@pytest.fixture
def view(qtbot):
    widget = PredictionView()
    qtbot.addWidget(widget)
    return widget


def softmax(scores: np.ndarray) -> np.ndarray:
    exp = np.exp(scores - scores.max())
    return exp / exp.sum()


def test_starts_cleared_with_hint(view):
    assert view.top_class() is None
    assert view.bar_heights().size == 0
    assert view.headline.text() == "Draw a digit"


def test_bars_match_probabilities_and_top_class_is_called_out(view):
    probs = softmax(np.random.default_rng(3).normal(size=10) * 3)
    view.set_probabilities(probs, DIGITS)
    np.testing.assert_allclose(view.bar_heights(), probs)
    winner = DIGITS[int(np.argmax(probs))]
    assert view.top_class() == winner
    assert view.headline.text() == f"{winner} — {probs.max():.1%}"


def test_class_names_label_the_x_axis(view):
    classes = ["cat", "dog", "ship"]
    view.set_probabilities(np.array([0.2, 0.7, 0.1]), classes)
    ticks = view.plot.getAxis("bottom")._tickLevels[0]
    assert [label for _, label in ticks] == classes
    assert [position for position, _ in ticks] == [0, 1, 2]
    assert view.top_class() == "dog"


def test_updates_reuse_the_same_bar_item(view):
    items_before = list(view.plot.getPlotItem().items)
    rng = np.random.default_rng(0)
    for _ in range(5):
        view.set_probabilities(softmax(rng.normal(size=10)), DIGITS)
    assert list(view.plot.getPlotItem().items) == items_before


def test_caller_array_is_not_shared(view):
    probs = np.full(10, 0.1)
    view.set_probabilities(probs, DIGITS)
    probs[:] = 0.0
    np.testing.assert_allclose(view.bar_heights(), np.full(10, 0.1))


def test_clear_removes_bars_and_shows_message(view):
    view.set_probabilities(softmax(np.arange(10.0)), DIGITS)
    view.clear("No model yet")
    assert view.top_class() is None
    assert view.bar_heights().size == 0
    assert view.headline.text() == "No model yet"


def test_tooltip_explains_softmax(view):
    assert view.toolTip() == TOOLTIPS["softmax"]


@pytest.mark.parametrize(
    ("probs", "classes", "problem"),
    [
        (np.ones((2, 5)) / 10, DIGITS, "1-D"),
        (np.full(9, 1 / 9), DIGITS, "9 probabilities for 10"),
        (np.array([0.5, np.nan]), ["a", "b"], "NaN"),
        (np.array([1.5, -0.5]), ["a", "b"], r"\[0, 1\]"),
        (np.zeros(0), [], "0 probabilities"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(view, probs, classes, problem):
    view.set_probabilities(np.array([0.3, 0.7]), ["a", "b"])
    with pytest.raises(ValueError, match=problem):
        view.set_probabilities(probs, classes)
    assert view.top_class() == "b", "a refused update leaves the last good prediction"
