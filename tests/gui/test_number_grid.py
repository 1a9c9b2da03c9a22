"""The Unit tab's small widgets: a grid of numbers and the vote bars, read by hovering as a user would."""
from __future__ import annotations

import numpy as np
import pytest

from gui.number_grid import NumberGrid, short_number
from gui.vote_bars import VoteBars
from tests.gui.user_actions import hover_tooltip


def test_hovering_a_cell_tells_its_exact_value_and_where_it_sits(qtbot):
    values = np.array([[0.0, -0.4242], [1.23456, 12.6]])
    grid = NumberGrid(values, "patch", "pool1 channel 3", rows=(-1, 0), cols=(5, 6), masked=np.array([[True, True], [False, False]]))
    qtbot.addWidget(grid)
    grid.show()
    assert hover_tooltip(grid, grid.cell_centre(1, 0)) == "pool1 channel 3 (row 0, col 5) = 1.23456"
    assert hover_tooltip(grid, grid.cell_centre(0, 1)) == "pool1 channel 3 (row −1, col 6) = −0.4242 (padding)"
    assert [grid.text_at(r, c) for r in range(2) for c in range(2)] == ["0", "−.42", "1.2", "13"]
    assert grid.cell_at(grid.cell_centre(1, 1)) == (1, 1)


def test_a_window_cell_on_max_pooling_padding_says_so(qtbot):
    grid = NumberGrid(np.array([[-np.inf, 2.0]]), "window", "relu1 channel 0", marked=(0, 1))
    qtbot.addWidget(grid)
    assert grid.text_at(0, 0) == "pad" and grid.marked() == (0, 1)
    assert grid.tooltip_at(0, 0) == "relu1 channel 0 (row 0, col 0): padding, never the max"


def test_a_big_kernel_shrinks_its_cells_and_drops_the_numbers(qtbot):
    grid = NumberGrid(np.ones((11, 11)))
    qtbot.addWidget(grid)
    assert grid.width() <= 200 and grid.text_at(0, 0) == ""


@pytest.mark.parametrize(
    ("value", "text"), [(0.0, "0"), (0.004, "≈0"), (0.0712, ".07"), (-0.815, "−.81"), (3.14, "3.1"), (-25.4, "−25")]
)
def test_cells_round_to_a_few_characters(value, text):
    assert short_number(value) == text


def test_each_vote_bar_tells_its_sum_when_hovered(qtbot):
    bars = VoteBars([("pool2 ch 1 (0, 2)", 1.5, "for: 1.5"), ("pool2 ch 3 (1, 1)", -0.75, "against: −0.75")])
    qtbot.addWidget(bars)
    bars.show()
    assert hover_tooltip(bars, bars.row_centre(1)) == "against: −0.75"
    assert [label for label, _, _ in bars.rows()] == ["pool2 ch 1 (0, 2)", "pool2 ch 3 (1, 1)"]
