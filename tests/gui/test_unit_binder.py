"""The Unit tab driven like a user: click a unit, read how its value is made; step to the class scores."""
from __future__ import annotations

import copy

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from core.insight import erf_over_training, erf_stats
from core.receptive_field import unit_box
from core.weights import WeightsSnapshot
from gui.unit_presentation import n
from tests.gui.user_actions import click, click_unit, hover_tooltip, hover_unit, open_tab


def step_layers(window, count: int) -> None:
    for _ in range(count):
        QTest.keyClick(window, Qt.Key.Key_Right)


def hovered_value(window) -> float:
    """The value the feature-map view prints for the unit under the mouse, e.g. 'conv1 · map 3 · (10, 12) = 0.094'."""
    return float(window.feature_maps.hover_text().rsplit("= ", 1)[1])


def test_clicking_a_conv1_unit_shows_the_products_that_add_up_to_its_value(window):
    session, view = window.state.session, window.insight.unit.view
    click_unit(window.feature_maps, 3, 10, 12)
    assert window.tabs.currentWidget() is view
    assert view.title() == f"conv1 · map 3 · unit (10, 12) = {n(session.activation('conv1')[3, 10, 12])}"
    patch, weights, products = view.grids()
    np.testing.assert_array_equal(patch.values(), session.input[0, 10:15, 12:17])
    np.testing.assert_allclose(weights.values(), session.filters()["conv1"][3, 0], rtol=1e-6)
    np.testing.assert_allclose(products.values(), patch.values() * weights.values())
    value = products.values().sum() + float(session.weights()["conv1.bias"][3])
    assert value == pytest.approx(float(session.activation("conv1")[3, 10, 12]), abs=1e-5)
    assert value == pytest.approx(hovered_value(window), abs=5e-4)
    assert f"the model computed {n(session.activation('conv1')[3, 10, 12])}" in view.equation()
    pixel = session.input[0, 12, 13]
    assert hover_tooltip(patch, patch.cell_centre(2, 1)) == f"image channel 0 (row 12, col 13) = {pixel:.6g}".replace("-", "−")


def test_a_new_input_explains_the_same_unit_again_and_a_new_layer_forgets_it(window, qtbot):
    view = window.insight.unit.view
    click_unit(window.feature_maps, 0, 5, 5)
    before = view.equation()
    click(window, "nextSample")
    now = f"the model computed {n(window.state.session.activation('conv1')[0, 5, 5])}"
    qtbot.waitUntil(lambda: now in view.equation(), timeout=5_000)  # it follows at most every 80 ms
    assert view.title().startswith("conv1 · map 0 · unit (5, 5) = ") and view.equation() != before
    for _ in range(5):  # faster than it follows: the newest input is explained last
        click(window, "nextSample")
    newest = f"the model computed {n(window.state.session.activation('conv1')[0, 5, 5])}"
    qtbot.waitUntil(lambda: newest in view.equation(), timeout=5_000)
    step_layers(window, 1)
    assert view.title() == "Click a unit in the feature maps of relu1 to see how its value is made."
    assert view.grids() == []


def test_stepping_to_fc3_reads_the_class_names_logits_and_probabilities(window):
    session, view = window.state.session, window.insight.unit.view
    open_tab(window, "Unit")
    step_layers(window, 11)
    assert window.current_layer_name() == "fc3"
    probabilities, logits = window.current_probabilities(), session.activation("fc3")
    top = int(np.argmax(probabilities))
    assert view.title().startswith(f"fc3 · unit {top}, the score (logit) of class {session.classes[top]} = ")
    rows = view.class_rows()
    assert [row[0] for row in rows] == list(session.classes)
    assert [float(row[1].replace("−", "-")) for row in rows] == pytest.approx(logits, abs=1e-3)
    assert [row[2] for row in rows] == [f"{p:.1%}" for p in probabilities]
    click_unit(window.feature_maps, 3, 0, 0)  # why is it not a 3?
    assert view.title().startswith("fc3 · unit 3, the score (logit) of class 3 = ")
    votes = [value for _, value, _ in view.vote_bars().rows()]
    assert votes == sorted(votes, reverse=True) and len(votes) > 0
    assert f"the model computed {n(logits[3])}" in view.equation()


def test_a_pool_unit_marks_its_winner_and_a_flatten_position_names_its_source(window):
    session, view = window.state.session, window.insight.unit.view
    step_layers(window, 2)
    click_unit(window.feature_maps, 2, 4, 4)
    (window_grid,) = view.grids()
    row, col = window_grid.marked()
    assert window_grid.values()[row, col] == window_grid.values().max() == pytest.approx(session.activation("pool1")[2, 4, 4])
    step_layers(window, 4)
    assert window.current_layer_name() == "flatten"
    click_unit(window.feature_maps, 17, 0, 0)
    assert "is channel 1, row 0, col 1 of pool2's 16×4×4 maps" in view.equation()


def test_the_erf_is_measured_under_the_input_and_over_the_kept_weights(window, qtbot):
    state, view = window.state, window.insight.unit.view
    step_layers(window, 3)
    hover_unit(window.feature_maps, 5, 3, 3)
    field = state.session.unit_receptive_field("conv2", 5, 3, 3)
    stats = erf_stats(field.erf, unit_box(state.session.layer("conv2").rf, 3, 3, (28, 28)))
    caption = window.input_view.receptive_field_caption()
    assert f"half the gradient within r = {stats.radius50:.1f} px" in caption
    assert f"95% within r = {stats.radius95:.1f} px ({stats.area_fraction95:.0%})" in caption
    assert "14×14 receptive field" in caption
    QTest.mouseMove(window.feature_maps.view_widget().viewport(), QPoint(1, 1))  # off the unit: the numbers go
    assert window.input_view.receptive_field_caption() == ""
    state.begin_run()  # as a run does: the weights at its start, then at each epoch end
    start, weights = state.session.step, state.session.weights()
    for epochs, factor in ((1, 0.6), (2, 0.8)):
        scaled = {name: value * factor for name, value in weights.items()}
        state.epoch_ended(WeightsSnapshot(start + 100 * epochs, scaled, state.session.id))
    click_unit(window.feature_maps, 5, 3, 3)
    qtbot.waitUntil(lambda: len(view.erf_curves()[0]) == 3, timeout=20_000)
    steps, radius50, radius95 = view.erf_curves()
    kept = [state.timeline_snapshot(i).weights for i in range(3)]
    expected = erf_over_training(copy.deepcopy(state.session.model), kept, state.session.input, "conv2", 5, 3, 3)
    assert list(steps) == state.timeline_steps == [start, start + 100, start + 200]
    np.testing.assert_allclose(radius50, [s.radius50 for s in expected])
    np.testing.assert_allclose(radius95, [s.radius95 for s in expected])
    assert "Over training" in view.erf_text()
    newer = {name: value * 0.9 for name, value in weights.items()}
    assert state.apply_snapshot(WeightsSnapshot(start + 250, newer, state.session.id))  # live weights move on
    newest = f"the model computed {n(state.session.activation('conv2')[5, 3, 3])}"
    qtbot.waitUntil(lambda: newest in view.equation(), timeout=5_000)
    assert len(view.erf_curves()[0]) == 3 and "Over training" in view.erf_text()  # the kept steps did not change


def test_a_big_model_is_explained_off_the_gui_thread(window, qtbot, monkeypatch):
    monkeypatch.setattr("gui.unit_binder.INLINE_MACS", 0)
    session, view = window.state.session, window.insight.unit.view
    click_unit(window.feature_maps, 1, 2, 2)
    qtbot.waitUntil(lambda: view.title().startswith("conv1 · map 1 · unit (2, 2)"), timeout=20_000)
    patch, weights, products = view.grids()
    value = products.values().sum() + float(session.weights()["conv1.bias"][1])
    assert value == pytest.approx(float(session.activation("conv1")[1, 2, 2]), abs=1e-5)
    assert view.erf_text().startswith("Effective RF: half the gradient within r = ")
