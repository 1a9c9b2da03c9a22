import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox

from gui.panels.feature_map_view import FeatureMapShapeError, FeatureMapView


@pytest.fixture
def view(qtbot):
    widget = FeatureMapView()
    qtbot.addWidget(widget)
    widget.resize(640, 520)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def relu_maps():
    """Non-negative maps with very different strengths, like a ReLU layer's output."""
    rng = np.random.default_rng(3)
    maps = np.maximum(rng.normal(size=(16, 12, 12)), 0).astype(np.float32)
    maps *= np.geomspace(0.01, 10, 16, dtype=np.float32)[:, None, None]
    return maps


def hover(view, channel, row, col):
    QTest.mouseMove(view.view_widget().viewport(), view.unit_position(channel, row, col))


def test_sixteen_maps_form_a_four_by_four_grid(view, relu_maps):
    view.set_maps(relu_maps, "conv1")
    assert view.grid_shape() == (4, 4)
    assert view.map_count() == 16
    assert view.map_shape() == (12, 12)
    assert view.mosaic().shape == (4 * 13 - 1, 4 * 13 - 1)


def test_grid_follows_the_layer_shape(view):
    view.set_maps(np.ones((6, 24, 24), dtype=np.float32), "conv1")
    few_big = view.grid_shape(), view.mosaic().shape
    view.set_maps(np.ones((16, 8, 8), dtype=np.float32), "conv2")
    many_small = view.grid_shape(), view.mosaic().shape
    assert few_big[0][0] * few_big[0][1] >= 6
    assert few_big != many_small
    assert view.map_shape() == (8, 8)


def test_fc_vector_is_a_hoverable_grid_of_units(view, qtbot):
    scores = np.linspace(-2, 3, 84, dtype=np.float32)
    view.set_maps(scores, "fc1")
    rows, cols = view.grid_shape()
    assert rows * cols >= 84 and view.map_count() == 84 and view.map_shape() == (1, 1)
    np.testing.assert_array_equal(view.mosaic().ravel()[:84], scores)
    with qtbot.waitSignal(view.unitHovered) as hovered:
        hover(view, 41, 0, 0)
    assert hovered.args == [41, 0, 0]
    assert view.hover_text() == f"fc1 · unit 41 = {scores[41]:.3f}"


def test_hover_reports_the_unit_under_the_pointer_and_its_value(view, relu_maps, qtbot):
    view.set_maps(relu_maps, "conv1")
    for unit in [(3, 5, 7), (0, 0, 0), (15, 11, 11), (9, 2, 10)]:
        with qtbot.waitSignal(view.unitHovered) as hovered:
            hover(view, *unit)
        assert tuple(hovered.args) == unit
        channel, row, col = unit
        assert view.hover_text() == f"conv1 · map {channel} · ({row}, {col}) = {relu_maps[unit]:.3f}"


def test_leaving_the_maps_emits_unit_left(view, relu_maps, qtbot):
    view.set_maps(relu_maps, "conv1")
    hover(view, 3, 5, 7)
    with qtbot.waitSignal(view.unitLeft):
        QTest.mouseMove(view.view_widget().viewport(), QPoint(2, 2))
    assert view.hover_text().strip() == ""


def test_click_enlarges_the_map_and_click_or_escape_returns(view, relu_maps, qtbot):
    view.set_maps(relu_maps, "conv1")
    viewport = view.view_widget().viewport()
    with qtbot.waitSignal(view.unitClicked) as clicked:
        QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=view.unit_position(6, 4, 2))
    assert clicked.args == [6, 4, 2]
    assert view.enlarged_map() == 6
    assert view.mosaic().shape == (12, 12)
    np.testing.assert_allclose(view.mosaic(), relu_maps[6])

    with qtbot.waitSignal(view.unitHovered) as hovered:
        hover(view, 6, 11, 0)
    assert hovered.args == [6, 11, 0]

    QTest.keyClick(view.view_widget(), Qt.Key.Key_Escape)
    assert view.enlarged_map() is None
    assert view.grid_shape() == (4, 4) and view.mosaic().shape == (51, 51)

    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=view.unit_position(1, 0, 0))
    assert view.enlarged_map() == 1
    with qtbot.waitSignal(view.unitClicked):
        QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=view.unit_position(1, 3, 3))
    assert view.enlarged_map() is None


def test_shared_scaling_uses_the_layer_range_and_per_map_rescales_each_map(view, relu_maps, qtbot):
    view.set_maps(relu_maps, "conv1")
    low, high = view.levels()
    assert low == 0.0 and relu_maps.max() <= high <= 4 / 3 * relu_maps.max()  # rounded up to a round number
    np.testing.assert_array_equal(view.mosaic()[:12, :12], relu_maps[0])

    assert view.legend_text() == f"range {relu_maps.min():.3g} … {relu_maps.max():.3g}"

    view.findChild(QComboBox).setCurrentText("per map")
    assert view.levels() == (0.0, 1.0)
    weak, strong = view.mosaic()[:12, :12], view.mosaic()[-12:, -12:]
    for shown, original in [(weak, relu_maps[0]), (strong, relu_maps[15])]:
        assert np.nanmax(shown) == pytest.approx(1.0)
        np.testing.assert_allclose(shown, original / original.max(), rtol=1e-5)
    assert view.legend_text().startswith("per map")


def test_signed_values_get_symmetric_levels_centred_on_zero(view):
    maps = np.stack([np.full((4, 4), -0.5), np.full((4, 4), 2.0)]).astype(np.float32)
    view.set_maps(maps, "conv1")
    assert view.levels() == pytest.approx((-2.0, 2.0))


def test_nan_in_a_diverged_layer_does_not_blank_the_levels(view):
    maps = np.arange(32, dtype=np.float32).reshape(2, 4, 4)
    maps[0, 0, 0] = np.nan
    view.set_maps(maps, "conv1")
    assert view.levels() == pytest.approx((1.0, 40.0))
    assert view.legend_text() == "range 1 … 31"


def test_the_colour_scale_holds_still_while_the_range_moves_a_little(view):
    base = np.linspace(0, 3.1, 64, dtype=np.float32).reshape(4, 4, 4)
    view.set_maps(base, "conv1")
    for factor in (1.01, 1.05, 1.1, 1.2):
        view.set_maps(base * factor, "conv1")
        assert view.levels() == (0.0, 4.0)
    view.set_maps(base * 2, "conv1")
    assert view.levels() == (0.0, 8.0)


@pytest.mark.parametrize(
    "low, high, signed, expected",
    [(0, 3.7, False, (0, 4)), (-1.3, 2.1, True, (-2.5, 2.5)), (0.2, 0.9, False, (0.2, 1.0)), (2, 2, False, (2, 3)),
     (-5, -0.3, False, (-5, -0.3)), (0, 0, False, (0, 1)), (0, 1.2e-7, False, (0, 1.2e-7))],
)
def test_nice_levels_contain_the_range_in_round_numbers(low, high, signed, expected):
    from gui.panels.feature_map_view import nice_levels

    assert nice_levels(low, high, signed) == pytest.approx(expected)


@pytest.mark.parametrize("bad", [np.zeros((4, 4)), np.zeros((1, 2, 3, 4)), np.zeros((0,)), np.array(["a", "b"])])
def test_bad_shapes_are_rejected_with_a_clear_message(view, bad):
    with pytest.raises(FeatureMapShapeError, match="feature maps must"):
        view.set_maps(bad, "x")


def test_right_click_or_ctrl_click_toggles_a_channel_without_enlarging(view, relu_maps, qtbot):
    view.set_maps(relu_maps, "conv2")
    viewport = view.view_widget().viewport()
    clicked = []
    view.unitClicked.connect(lambda *unit: clicked.append(unit))
    with qtbot.waitSignal(view.channelToggled) as toggled:
        QTest.mouseClick(viewport, Qt.MouseButton.RightButton, pos=view.unit_position(9, 2, 3))
    assert toggled.args == [9]
    with qtbot.waitSignal(view.channelToggled) as toggled:
        QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, view.unit_position(4, 0, 0))
    assert toggled.args == [4] and view.enlarged_map() is None and clicked == []


def test_a_switched_off_channel_is_drawn_crossed_out(view, relu_maps):
    view.set_maps(relu_maps, "conv2")

    def pixel(channel):
        point = view.unit_position(channel, 5, 5)  # on the cell's diagonal
        return view.view_widget().grab().toImage().pixelColor(point)

    plain = pixel(9)
    view.set_scaled_channels({9: 0.0, 2: 1.5})
    crossed = pixel(9)
    assert crossed.red() > 200 and crossed.green() < 100 and crossed != plain
    assert view.scaled_channels() == {9: 0.0, 2: 1.5}
    assert view.title_text() == "conv2 · 1 switched off · 1 scaled"
    view.set_scaled_channels({})
    assert pixel(9) == plain and view.title_text() == "conv2"


def test_the_hovered_value_follows_new_maps_and_goes_with_its_layer(view, relu_maps, qtbot):
    view.set_maps(relu_maps, "conv1")
    with qtbot.waitSignal(view.unitHovered):
        hover(view, 3, 5, 7)
    view.set_maps(relu_maps * 2, "conv1")  # new weights or a new input, the pointer still on the unit
    assert view.hover_text() == f"conv1 · map 3 · (5, 7) = {2 * relu_maps[3, 5, 7]:.3f}"
    view.set_maps(np.ones((16, 8, 8), dtype=np.float32), "conv2")  # another layer: that unit is gone
    assert view.hover_text().strip() == ""
