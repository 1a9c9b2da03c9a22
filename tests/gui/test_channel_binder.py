"""The Channel tab driven like a user: its top examples (click one to see it), its filter, what it looks for."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox, QPushButton, QSpinBox

from core.insight import crop_to_receptive_field, top_examples, value_range_of, visualize_channel
from core.weights import WeightsSnapshot
from tests.gui.user_actions import click, click_unit, open_tab

TIMEOUT_MS = 30_000


def shown_examples(window, qtbot, count: int = 9):
    view = window.insight.channel.view
    qtbot.waitUntil(lambda: len(view.thumbnails()) == count, timeout=TIMEOUT_MS)
    return view.thumbnails()


def expected_tops(window, layer: str, weights=None):
    model = copy.deepcopy(window.state.session.model)
    if weights is not None:
        model.load_state_dict({name: torch.from_numpy(np.array(value)) for name, value in weights.items()})
    return top_examples(model, window.state.samples(), layer)


def test_the_top_examples_are_found_when_the_tab_opens_and_a_click_makes_one_the_input(window, qtbot):
    open_tab(window, "Channel")
    thumbnails = shown_examples(window, qtbot)
    expected = expected_tops(window, "conv1")[0]
    assert [t.index for t in thumbnails] == [e.index for e in expected]
    samples, rf = window.state.samples(), window.state.session.layer("conv1").rf
    best = expected[0]
    crop = crop_to_receptive_field(samples.images[best.index], rf, best.row, best.col, fill=0.0)
    np.testing.assert_allclose(thumbnails[0].picture, samples.normalization.invert(crop))
    assert thumbnails[0].picture.shape == (1, 5, 5)  # conv1 sees 5x5 pixels
    QTest.mouseClick(window.insight.channel.view.example_button(2), Qt.MouseButton.LeftButton)
    chosen = expected[2]
    assert window.input_view.caption.text().startswith(f"test sample {chosen.index + 1} / 1000")
    assert window.state.session.activation("conv1")[0].max() == pytest.approx(chosen.value, rel=1e-5)


def test_clicking_a_map_picks_its_channel_and_the_spin_box_picks_the_next(window, qtbot):
    view = window.insight.channel.view
    open_tab(window, "Channel")
    shown_examples(window, qtbot)
    click_unit(window.feature_maps, 6, 3, 3)
    assert window.tabs.currentWidget() is view  # the Channel tab stays, following the click
    assert view.channel() == 6 and view.captions()["filter"].startswith("conv1 filter 6: 1 × 5 × 5 weights")
    assert [t.index for t in view.thumbnails()] == [e.index for e in expected_tops(window, "conv1")[6]]
    spin = view.findChild(QSpinBox, "channelBox")
    spin.setFocus()
    QTest.keyClick(spin, Qt.Key.Key_Up)
    assert view.channel() == 7 and view.captions()["filter"].startswith("conv1 filter 7")


def test_top_examples_come_with_each_epoch_ends_test_pass_and_refresh_uses_the_weights_on_show(window, qtbot):
    state, view = window.state, window.insight.channel.view
    open_tab(window, "Channel")
    before = [t.index for t in shown_examples(window, qtbot)]
    open_tab(window, "Filters")
    state.begin_run()  # as a run does: the weights at its start, then at each epoch end
    start = state.session.step
    flipped = {name: -value if name.startswith("conv1") else value for name, value in state.session.weights().items()}
    state.epoch_ended(WeightsSnapshot(start + 100, flipped, state.session.id))
    # found by the test pass itself, with the tab hidden: on show at once, no pass of its own
    assert f"weights of step {start + 100:,}" in view.captions()["examples"]
    now = [t.index for t in view.thumbnails()]
    assert now == [e.index for e in expected_tops(window, "conv1", flipped)[0]] and now != before
    open_tab(window, "Channel")
    click(window, "refreshExamplesButton")  # on demand: the weights on show again
    qtbot.waitUntil(lambda: f"weights of step {start:,}" in view.captions()["examples"], timeout=TIMEOUT_MS)
    assert [t.index for t in view.thumbnails()] == before


def test_the_last_layer_picks_classes_and_its_top_examples_are_whole_digits_of_that_class(window, qtbot):
    view = window.insight.channel.view
    open_tab(window, "Channel")
    for _ in range(11):
        QTest.keyClick(window, Qt.Key.Key_Right)
    assert view.title() == "fc3 (fc, 10) · unit 0 is the score of class 0"
    assert view.captions()["filter"].startswith("fc3 has no filter")
    assert not view.findChild(QComboBox, "objectiveBox").isEnabled()
    thumbnails = shown_examples(window, qtbot)
    samples = window.state.samples()
    assert all(t.picture.shape == (1, 28, 28) for t in thumbnails)
    assert sum(samples.labels[t.index] == 0 for t in thumbnails) >= 8


def test_visualize_shows_progress_cancel_stops_it_and_a_finished_one_is_drawn(window, qtbot, monkeypatch):
    view = window.insight.channel.view
    open_tab(window, "Channel")
    click(window, "visualizeButton")
    assert window.findChild(QPushButton, "cancelVisualizeButton").isEnabled()
    assert not window.findChild(QPushButton, "visualizeButton").isEnabled()
    click(window, "cancelVisualizeButton")
    assert view.captions()["visualization"] == "cancelled" and view.visualization() is None
    assert window.findChild(QPushButton, "visualizeButton").isEnabled()
    monkeypatch.setattr("gui.channel_binder.DEFAULT_STEPS", 12)
    click(window, "visualizeButton")
    qtbot.waitUntil(lambda: view.visualization() is not None, timeout=TIMEOUT_MS)
    normalization = window.state.session.normalization
    expected = visualize_channel(
        copy.deepcopy(window.state.session.model), "conv1", 0, (1, 28, 28), 12, seed=0,
        value_range=value_range_of(normalization),
    )
    np.testing.assert_allclose(view.visualization(), normalization.invert(expected), atol=1e-4)
    assert "12 steps of gradient ascent" in view.captions()["visualization"]
