"""Channel interventions, driven through the real window: right-click a map, click a ranking row, Reset."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDoubleSpinBox, QPushButton, QTableWidget

from core.insight import rank_channels
from gui.mosaic import cell_origin
from tests.gui.user_actions import click, click_table_cell, open_tab

TIMEOUT_MS = 30_000


def right_click_map(window, channel: int, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    maps = window.feature_maps
    button = Qt.MouseButton.LeftButton if modifier != Qt.KeyboardModifier.NoModifier else Qt.MouseButton.RightButton
    QTest.mouseClick(maps.view_widget().viewport(), button, modifier, maps.unit_position(channel, 3, 3))


@pytest.fixture
def on_conv2(window):
    window.state.select_layer("conv2")
    session = window.state.session
    top = rank_channels(session.model, session.input, "conv2")[0][0]  # the channel this 7 needs most
    return top


def test_right_click_on_a_conv2_map_changes_the_prediction_and_later_layers_and_reset_restores(window, on_conv2, qtbot):
    state, session = window.state, window.state.session
    weights, bars = session.weights(), window.prediction.bar_heights()
    pool2 = session.activation("pool2").copy()
    open_tab(window, "Attribution")
    attribution = window.insight.attribution_view
    qtbot.waitUntil(lambda: attribution.heatmap() is not None, timeout=TIMEOUT_MS)
    heatmap = attribution.heatmap()

    right_click_map(window, on_conv2)
    assert state.interventions == {"conv2": {on_conv2: 0.0}}
    assert window.feature_maps.scaled_channels() == {on_conv2: 0.0}  # drawn crossed out
    top, left = cell_origin(on_conv2, 8, 8, window.feature_maps.grid_shape()[1], 1)
    assert not window.feature_maps.mosaic()[top : top + 8, left : left + 8].any()
    assert window.prediction.bar_heights()[7] < bars[7] - 0.01  # the prediction follows at once
    qtbot.waitUntil(lambda: not np.array_equal(attribution.heatmap(), heatmap), timeout=TIMEOUT_MS)
    QTest.keyClick(window, Qt.Key.Key_Right)
    QTest.keyClick(window, Qt.Key.Key_Right)  # on to pool2: its map of that channel is dark, others changed
    assert window.current_layer_name() == "pool2"
    shown = session.activation("pool2")
    assert not shown[on_conv2].any() and pool2[on_conv2].any()
    np.testing.assert_array_equal(shown[on_conv2 - 1 if on_conv2 else 1], pool2[on_conv2 - 1 if on_conv2 else 1])
    assert window.feature_maps.scaled_channels() == {}  # the cross marks the layer switched, not later ones

    open_tab(window, "Channel switches")
    deltas = window.insight.channels_view.deltas()
    np.testing.assert_allclose(deltas, window.prediction.bar_heights() - bars, atol=1e-6)
    click(window, "resetInterventions")
    assert state.interventions == {} and not window.findChild(QPushButton, "resetInterventions").isEnabled()
    np.testing.assert_allclose(window.prediction.bar_heights(), bars, atol=1e-6)
    for name, value in weights.items():
        np.testing.assert_array_equal(session.weights()[name], value)


def test_ctrl_click_with_a_factor_scales_a_channel_and_again_restores(window, on_conv2):
    window.findChild(QDoubleSpinBox, "channelFactor").setValue(2.0)
    right_click_map(window, 5, Qt.KeyboardModifier.ControlModifier)
    assert window.state.interventions == {"conv2": {5: 2.0}} and window.feature_maps.enlarged_map() is None
    right_click_map(window, 5)
    assert window.state.interventions == {}


def test_the_ranking_puts_the_channel_that_matters_first_and_a_row_click_toggles_it(window, on_conv2, qtbot):
    open_tab(window, "Channel switches")
    view = window.insight.channels_view
    qtbot.waitUntil(lambda: len(view.ranked_channels()) == 16, timeout=TIMEOUT_MS)
    assert view.ranked_channels()[0] == on_conv2
    table = window.findChild(QTableWidget, "channelRanking")
    click_table_cell(table, 0, 0)
    assert window.state.interventions == {"conv2": {on_conv2: 0.0}}
    assert table.item(0, 2).text() == "off" and view.deltas()[7] < 0
    assert window.insight.channels_view.status.text() == f"Channels changed — conv2: {on_conv2} off."
    click_table_cell(table, 0, 1)
    assert window.state.interventions == {} and table.item(0, 2).text() == ""
