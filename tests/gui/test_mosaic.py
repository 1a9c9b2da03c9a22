import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gui.mosaic import MosaicShapeError, cell_origin, grid_shape, locate, normalize_per_map, tile


def test_grid_shape_is_near_square_for_square_maps():
    assert grid_shape(16, 12, 12) == (4, 4)
    rows, cols = grid_shape(6, 24, 24)
    assert rows * cols >= 6 and abs(rows - cols) <= 1
    rows, cols = grid_shape(512, 14, 14)
    assert rows * cols >= 512 and abs(rows - cols) <= 1


def test_grid_shape_follows_the_view_aspect():
    wide_rows, wide_cols = grid_shape(32, 8, 8, aspect=4.0)
    tall_rows, tall_cols = grid_shape(32, 8, 8, aspect=0.25)
    assert wide_cols > wide_rows
    assert tall_rows > tall_cols


def test_grid_shape_leaves_no_empty_last_row():
    for n in range(1, 200):
        rows, cols = grid_shape(n, 5, 7)
        assert (rows - 1) * cols < n <= rows * cols


def test_tile_places_each_map_and_fills_gaps():
    maps = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)
    mosaic = tile(maps, columns=2, gap=1)
    assert mosaic.shape == (3 * 3 - 1, 2 * 4 - 1)
    assert mosaic.dtype == np.float32 and mosaic.flags["C_CONTIGUOUS"]
    for index in range(5):
        top, left = cell_origin(index, 2, 3, 2, 1)
        np.testing.assert_array_equal(mosaic[top : top + 2, left : left + 3], maps[index])
    assert np.isnan(mosaic[2]).all()  # the gap row
    assert np.isnan(mosaic[:, 3]).all()  # the gap column
    assert np.isnan(mosaic[6:, 4:]).all()  # the empty sixth cell


def test_tile_without_gap_and_with_a_fill_value():
    maps = np.arange(12, dtype=np.float64).reshape(3, 2, 2)
    mosaic = tile(maps, columns=3, gap=0)
    np.testing.assert_array_equal(mosaic, np.hstack(list(maps)))
    padded = tile(maps, columns=2, gap=2, fill=-1.0)
    assert padded.shape == (6, 6)
    assert (padded[2:4] == -1).all()


@pytest.mark.parametrize("bad", [np.zeros((3, 4)), np.zeros((0, 4, 4)), np.zeros((2, 3, 4, 5))])
def test_tile_rejects_arrays_that_are_not_a_stack_of_maps(bad):
    with pytest.raises(MosaicShapeError, match="shape"):
        tile(bad)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    gap=st.integers(0, 2),
    data=st.data(),
)
def test_locate_inverts_tile(n, h, w, gap, data):
    maps = np.arange(n * h * w, dtype=np.float32).reshape(n, h, w)
    rows, cols = grid_shape(n, h, w)
    mosaic = tile(maps, gap=gap)
    r = data.draw(st.integers(0, mosaic.shape[0] - 1))
    c = data.draw(st.integers(0, mosaic.shape[1] - 1))
    found = locate(r, c, h, w, cols, gap, count=n)
    if np.isnan(mosaic[r, c]):
        assert found is None
    else:
        index, row, col = found
        assert maps[index, row, col] == mosaic[r, c]


def test_locate_outside_the_mosaic_is_none():
    assert locate(-1, 0, 4, 4, 3, 1) is None
    assert locate(0, 3 * 5, 4, 4, 3, 1) is None
    assert locate(5, 5, 4, 4, 3, 1, count=4) is None  # second row, second cell: only 4 maps
    assert locate(5, 5, 4, 4, 3, 1, count=5) == (4, 0, 0)


def test_normalize_per_map_rescales_each_map_on_its_own():
    rng = np.random.default_rng(1)
    maps = np.stack([rng.normal(0, 0.01, (6, 6)), rng.normal(5, 100, (6, 6)), np.full((6, 6), 3.0)])
    plain = normalize_per_map(maps)
    np.testing.assert_allclose(plain[:2].min(axis=(1, 2)), 0, atol=1e-6)
    np.testing.assert_allclose(plain[:2].max(axis=(1, 2)), 1, atol=1e-6)
    assert (plain[2] == 0).all()
    symmetric = normalize_per_map(maps, symmetric=True)
    np.testing.assert_allclose(np.abs(symmetric[:2]).max(axis=(1, 2)), 1, atol=1e-6)
    assert np.array_equal(np.sign(symmetric[:2]), np.sign(maps[:2]))
