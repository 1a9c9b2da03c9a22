import numpy as np
import pytest
from PySide6.QtWidgets import QComboBox

from gui.mosaic import cell_origin
from gui.panels.filter_view import ALL_INPUTS, MEAN_OVER_INPUTS, FilterShapeError, FilterView


@pytest.fixture
def view(qtbot):
    widget = FilterView()
    qtbot.addWidget(widget)
    widget.resize(500, 400)
    return widget


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_rgb_first_layer_shows_one_colour_patch_per_filter(view, rng):
    weights = rng.normal(0, 0.2, size=(8, 3, 5, 5)).astype(np.float32)
    view.set_filters(weights, "conv1", first_layer=True)
    drawn = view.mosaic()
    assert drawn.ndim == 3 and drawn.shape[2] == 3
    assert np.nanmin(drawn) >= 0 and np.nanmax(drawn) <= 1
    bound = np.abs(weights).max()
    for index in range(8):
        top, left = cell_origin(index, 5, 5, 3, 1)  # 8 filters -> 3 columns
        patch = drawn[top : top + 5, left : left + 5]
        np.testing.assert_allclose(patch, 0.5 + weights[index].transpose(1, 2, 0) / (2 * bound), rtol=1e-5)
    assert not view.findChild(QComboBox).isEnabled()


def test_gray_first_layer_is_centred_on_zero(view, rng):
    weights = rng.normal(0, 0.3, size=(6, 1, 5, 5)).astype(np.float32)
    view.set_filters(weights, "conv1", first_layer=True)
    assert view.mosaic().ndim == 2
    bound = float(np.abs(weights).max())
    assert view.levels() == pytest.approx((-bound, bound))
    np.testing.assert_array_equal(view.mosaic()[:5, :5], weights[0, 0])


def test_deep_layer_all_inputs_is_a_filter_by_input_grid(view, rng):
    weights = rng.normal(0, 0.1, size=(4, 6, 3, 3)).astype(np.float32)
    view.set_filters(weights, "conv2", first_layer=False)
    assert view.findChild(QComboBox).currentText() == ALL_INPUTS
    drawn = view.mosaic()
    assert drawn.shape == (6 * 4 - 1, 4 * 4 - 1)  # a column per filter, a row per input channel
    for out_channel, in_channel in [(0, 0), (2, 5), (3, 1)]:
        top, left = in_channel * 4, out_channel * 4
        np.testing.assert_array_equal(drawn[top : top + 3, left : left + 3], weights[out_channel, in_channel])


def test_deep_layer_mean_mode_shows_one_tile_per_filter(view, rng):
    weights = rng.normal(0, 0.1, size=(9, 6, 3, 3)).astype(np.float32)
    view.set_filters(weights, "conv2", first_layer=False)
    view.findChild(QComboBox).setCurrentText(MEAN_OVER_INPUTS)
    drawn = view.mosaic()
    assert drawn.shape == (3 * 4 - 1, 3 * 4 - 1)
    np.testing.assert_allclose(drawn[4:7, 8:11], weights[5].mean(axis=0), rtol=1e-6)
    bound = float(np.abs(weights).max())
    assert view.levels() == pytest.approx((-bound, bound))


def test_range_label_names_the_weight_range(view, rng):
    weights = rng.normal(0.05, 0.1, size=(4, 2, 3, 3)).astype(np.float32)
    view.set_filters(weights, "conv2", first_layer=False)
    low, high = view.weight_range()
    assert (low, high) == pytest.approx((weights.min(), weights.max()))
    assert f"min {low:.3g}" in view.range_text() and f"max {high:.3g}" in view.range_text()


def test_message_replaces_the_filters_until_new_filters_arrive(view, rng):
    view.set_filters(rng.normal(size=(2, 1, 3, 3)), "conv1", first_layer=True)
    view.show_message("relu1 has no weights — pick a conv layer")
    assert view.message() == "relu1 has no weights — pick a conv layer"
    assert view.mosaic().size == 0
    assert np.isnan(view.weight_range()).all()
    view.set_filters(rng.normal(size=(2, 1, 3, 3)), "conv1", first_layer=True)
    assert view.message() == ""
    assert view.mosaic().size > 0


@pytest.mark.parametrize("bad", [np.zeros((4, 3, 3)), np.zeros((0, 1, 3, 3)), np.zeros((10, 84))])
def test_weights_that_are_not_conv_filters_are_rejected(view, bad):
    with pytest.raises(FilterShapeError, match=r"fc1: filters must be \(out_channels"):
        view.set_filters(bad, "fc1", first_layer=False)
