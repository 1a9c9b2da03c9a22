"""What the Unit tab says about each kind of unit: grids and equations that add up to the model's value."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from core.insight import explain_unit
from gui.unit_presentation import MOST_CHANNEL_ROWS, n, unit_content
from tests.core.insight._bundled import mnist_test, trained_lenet

pytestmark = pytest.mark.no_qt

CLASSES = tuple("0123456789")


@pytest.fixture(scope="module")
def lenet():
    return trained_lenet()


@pytest.fixture(scope="module")
def digit():
    return mnist_test().images[0]


def test_a_conv_unit_is_patch_times_filter_summed_plus_bias(lenet, digit):
    e = explain_unit(lenet, digit, "conv2", 5, 3, 3, class_names=CLASSES)
    content = unit_content(e, "pool1", "relu2", spatial=True)
    assert content.title == f"conv2 · map 5 · unit (3, 3) = {n(e.value)}"
    assert len(content.rows) == 8  # one row per input channel of conv2
    for channel, row in enumerate(content.rows):
        patch, weights, products = (grid.values for grid in row.grids)
        np.testing.assert_allclose(products, patch * weights)
        assert row.grids[0].title == f"pool1 ch {channel}" and row.operators == ("×", "=")
        assert row.grids[2].title == f"Σ = {n(products.sum())}"
    lines = content.equation.splitlines()
    assert lines[0].endswith(f"= {n(e.terms.sum())}") and lines[1] == f"+ bias {n(e.bias)}"
    assert f"the model computed {n(e.value)}" in lines[2]
    assert lines[-1] == f"ReLU({n(e.value)}) = {n(max(e.value, 0.0))}, what relu2 shows"


def test_a_conv_with_many_input_channels_draws_the_strongest_and_sums_the_rest():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(20, 2, 3, padding=1)).eval()
    x = np.random.default_rng(0).normal(size=(20, 6, 6)).astype(np.float32)
    e = explain_unit(model, x, "0", 1, 0, 2)
    content = unit_content(e, "image")
    sums = e.terms.reshape(20, -1).sum(axis=1)
    drawn = [int(row.grids[0].title.split("ch ")[1]) for row in content.rows]
    assert len(drawn) == MOST_CHANNEL_ROWS
    assert min(abs(sums[drawn])) >= max(abs(np.delete(sums, drawn)))
    rest = np.delete(sums, drawn).sum()
    assert f"the 8 input channels not drawn add {n(rest)}" in content.equation
    assert "hatched cells lie on the zero-padding" in content.equation  # row 0 reaches over the border
    assert content.rows[0].grids[0].masked[0].all()


def test_a_max_pool_unit_marks_its_winner_and_an_fc_unit_lists_its_votes(lenet, digit):
    pool = explain_unit(lenet, digit, "pool1", 2, 4, 4)
    content = unit_content(pool, "relu1", spatial=True)
    (grid,) = content.rows[0].grids
    row, col = grid.marked
    assert grid.values[row, col] == grid.values.max() == pytest.approx(pool.value)
    assert content.equation.startswith(f"max of the 2×2 window of relu1 channel 2 = {n(pool.total)}")

    fc = explain_unit(lenet, digit, "fc1", 3, 0, 0, class_names=CLASSES)
    content = unit_content(fc, "flatten", "relu3", spatial=False)
    votes = [vote.value for vote in content.votes]
    assert votes == sorted(votes, reverse=True) and votes[0] > 0 > votes[-1]
    best = fc.top_positive[0]
    channel, row, col = best.source
    assert content.votes[0].label == f"flatten ch {channel} ({row}, {col})"
    assert content.votes[0].tooltip.startswith(f"{content.votes[0].label}: activation ")
    assert f"+ bias {n(fc.bias)}" in content.equation and content.classes is None


def test_the_last_layer_names_its_classes_and_flatten_says_where_a_position_came_from(lenet, digit):
    e = explain_unit(lenet, digit, "fc3", 7, 0, 0, class_names=CLASSES)
    content = unit_content(e, "relu4", spatial=False)
    assert content.title.startswith("fc3 · unit 7, the score (logit) of class 7 = ")
    assert content.classes.names == CLASSES and content.classes.unit == 7
    np.testing.assert_allclose(content.classes.probabilities.sum(), 1.0)
    assert content.votes[0].label.startswith("relu4 unit ")

    flat = explain_unit(lenet, digit, "flatten", 17, 0, 0)
    text = unit_content(flat, "pool2", spatial=False).equation
    assert "position 17 of the flat vector is channel 1, row 0, col 1 of pool2's 16×4×4 maps" in text
    assert "17 = 1·16 + 0·4 + 1" in text


def test_an_activation_unit_is_input_then_output(lenet, digit):
    e = explain_unit(lenet, digit, "conv1", 0, 0, 0)
    relu = explain_unit(lenet, digit, "relu1", 0, 0, 0)
    content = unit_content(relu, "conv1", spatial=True)
    grids = content.rows[0].grids
    assert grids[0].values[0, 0] == pytest.approx(e.value) and grids[1].values[0, 0] == pytest.approx(max(e.value, 0))
    assert f"ReLU({n(e.value)}) = {n(relu.total)}" in content.equation
