"""The out-of-domain hint under the prediction, driven through the real window."""
from __future__ import annotations

import numpy as np

from core.weights import WeightsSnapshot
from gui import ood_binder
from tests.gui.user_actions import click, drag, seven


def scribble() -> list[tuple[float, float]]:
    """Twenty random pen jumps across the 280 px canvas: nothing like a digit."""
    rng = np.random.default_rng(2)
    return [(float(x), float(y)) for x, y in rng.uniform(20, 260, size=(20, 2))]


def calibrated(window, qtbot):
    ood = window.insight.ood
    ood.calibrate()
    assert ood.wait(60)
    qtbot.waitUntil(lambda: ood.detector is not None)
    return ood


def test_a_scribble_is_flagged_and_a_test_digit_or_a_drawn_seven_is_not(window, qtbot):
    prediction = window.prediction
    ood = calibrated(window, qtbot)
    assert prediction.hint_text().startswith("Like the training data") and not prediction.hint_is_warning()
    drag(window.canvas, scribble())
    qtbot.waitUntil(prediction.hint_is_warning)  # on the event loop's next turn, after the prediction's paint
    assert prediction.hint_text().startswith("⚠ Unlike the training data")
    tooltip = prediction.hint.toolTip()
    assert "5th nearest training sample" in tooltip and "99% percentile over 1,000 test samples" in tooltip
    assert f"{ood.detector.threshold:.2f}" in prediction.hint_text()
    click(window, "clearButton")
    assert prediction.hint_text() == ""
    drag(window.canvas, seven())
    qtbot.waitUntil(lambda: prediction.hint_text().startswith("Like the training data"))
    assert not prediction.hint_is_warning()


def test_new_weights_hide_the_hint_until_it_is_calibrated_for_them(window, qtbot):
    ood = calibrated(window, qtbot)
    state = window.state
    state.apply_snapshot(WeightsSnapshot(5, {k: v * 1.2 for k, v in state.session.weights().items()}, state.session.id))
    assert ood.detector is None and window.prediction.hint_text() == ""
    qtbot.waitUntil(lambda: ood.detector is not None, timeout=30_000)  # calibrated once the weights settled
    assert window.prediction.hint_text().startswith(("Like", "⚠ Unlike"))


def test_with_channels_switched_off_the_hint_still_judges_the_input(window, qtbot):
    calibrated(window, qtbot)
    hint = window.prediction.hint_text()
    for channel in range(16):
        window.state.toggle_channel("conv2", channel)
    window.insight.ood.show_verdict()  # not waiting for the event loop: judged now, with every channel off
    assert window.prediction.hint_text() == hint  # the verdict is about the input, not the altered network


def test_a_model_too_slow_to_calibrate_gets_no_hint_and_a_message_why(window, qtbot, monkeypatch):
    monkeypatch.setattr(ood_binder, "MAX_CALIBRATION_SECONDS", 0.0)  # as VGG-16 at 224x224 would be
    ood = window.insight.ood
    ood.calibrate()
    assert ood.wait(60)
    qtbot.waitUntil(lambda: "no out-of-domain hint: calibrating on 5,000" in window.last_message())
    assert ood.detector is None and window.prediction.hint_text() == ""


def test_a_long_warning_in_a_short_window_leaves_the_input_pictures_their_height(window, qtbot):
    """Under Xvfb at 1560x960 the wrapped warning took the height of the pictures above it (a few pixels
    were left of "Original" and "What the network sees"); the hint keeps two lines whatever it says."""
    window.resize(1560, 760)
    qtbot.waitUntil(lambda: window.height() <= 760)
    pictures, prediction = window.input_view.graphics, window.prediction
    prediction.set_hint("")
    qtbot.wait(50)
    before = pictures.height()
    scribbled = "⚠ Unlike the training data (distance 12.34 > 5.67): the prediction may mean little"
    prediction.set_hint(scribbled + " " + scribbled, warning=True)
    qtbot.wait(50)
    assert pictures.height() == before and before >= 90
    assert prediction.hint.height() == prediction.hint.fontMetrics().lineSpacing() * 2 + 4
