"""InputView: both images show what they are given, navigation emits, the RF overlay draws the boxes given."""
import numpy as np
import pytest
from PySide6.QtCore import QRectF, Qt

from gui.panels.input_view import EMPTY_HINT, InputView


@pytest.fixture
def view(qtbot):
    widget = InputView()
    qtbot.addWidget(widget)
    widget.resize(600, 400)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def digit() -> np.ndarray:
    """A drawn ring, 280x280, like DrawCanvas gives."""
    yy, xx = np.mgrid[:280, :280]
    radius = np.hypot(yy - 140, xx - 140)
    return ((radius > 60) & (radius < 90)).astype(np.float32)


def downsampled(image: np.ndarray) -> np.ndarray:
    return image.reshape(28, 10, 28, 10).mean(axis=(1, 3))[None]


def gaussian_erf(centre: tuple[int, int], shape=(28, 28)) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / 8.0)


def view_contains(view, rect: QRectF) -> bool:
    (x0, x1), (y0, y1) = view.viewRange()
    return x0 <= rect.left() and rect.right() <= x1 and y0 <= rect.top() and rect.bottom() <= y1


def test_starts_empty_with_a_hint(view):
    assert view.original_item.image is None and view.model_item.image is None
    assert view.original_hint.isVisible() and view.model_hint.isVisible()
    assert view.model_hint.textItem.toPlainText() == EMPTY_HINT
    assert view.receptive_field_box() is None


def test_gray_drawing_and_one_channel_input_are_shown(view, digit):
    model_input = downsampled(digit)
    view.set_images(digit, model_input)
    # the 280 px drawing is shown as a 140 px thumbnail, each pixel the mean of a 2x2 block
    np.testing.assert_allclose(view.original_item.image, digit.reshape(140, 2, 140, 2).mean(axis=(1, 3)), atol=1e-6)
    np.testing.assert_array_equal(view.model_item.image, model_input[0])
    assert tuple(view.model_item.getLevels()) == (0.0, 1.0)
    assert not view.original_hint.isVisible() and not view.model_hint.isVisible()
    assert view_contains(view.original_view, QRectF(0, 0, 140, 140))
    assert view_contains(view.model_view, QRectF(0, 0, 28, 28))
    assert view.image_border.rect() == QRectF(0, 0, 28, 28)


def test_rgb_original_and_three_channel_input(view):
    rng = np.random.default_rng(1)
    photo = rng.random((48, 64, 3))
    model_input = rng.random((3, 32, 32)).astype(np.float32)
    view.set_images(photo, model_input)
    assert view.original_item.image.shape == (48, 64, 3)
    np.testing.assert_allclose(view.original_item.image, photo, rtol=1e-6)
    np.testing.assert_array_equal(view.model_item.image, model_input.transpose(1, 2, 0))
    assert view_contains(view.original_view, QRectF(0, 0, 64, 48))


def test_images_are_copied_so_the_caller_may_reuse_its_arrays(view, digit):
    model_input = downsampled(digit)
    view.set_images(digit, model_input)
    digit[:] = 0.5
    model_input[:] = 0.5
    assert view.original_item.image.max() == 1.0
    assert view.model_item.image.max() > 0.5


def test_the_same_original_with_a_new_model_input_keeps_its_thumbnail(view):
    """A new model shows the same photo: shrinking it again would cost milliseconds on the GUI thread."""
    photo = np.random.default_rng(2).random((960, 1280, 3)).astype(np.float32)  # whole 8x8 blocks
    view.set_images(photo, np.zeros((1, 28, 28), np.float32))
    thumbnail = view.original_item.image
    assert max(thumbnail.shape[:2]) <= 160
    view.set_images(photo, np.ones((3, 32, 32), np.float32))
    assert view.original_item.image is thumbnail and view.model_item.image.shape == (32, 32, 3)
    other = photo[::-1].copy()
    view.set_images(other, np.ones((3, 32, 32), np.float32))
    assert view.original_item.image is not thumbnail
    np.testing.assert_allclose(view.original_item.image, thumbnail[::-1], atol=1e-5)


def test_none_shows_the_hint_again(view, digit):
    view.set_images(digit, downsampled(digit))
    view.set_images(digit, None)
    assert view.model_item.image is None and view.model_hint.isVisible()
    assert view.original_item.image is not None and not view.original_hint.isVisible()
    view.set_images(None, None)
    assert view.original_item.image is None and view.original_hint.isVisible()


@pytest.mark.parametrize(
    ("original", "model_input", "problem"),
    [
        (np.zeros((4, 4, 4)), None, r"\(H, W, 3\)"),
        (np.zeros(10), None, r"\(H, W\) gray"),
        (np.zeros((0, 5)), None, "empty"),
        (None, np.zeros((28, 28)), r"\(C, H, W\)"),
        (None, np.zeros((2, 28, 28)), "C 1 or 3"),
        (None, np.zeros((1, 0, 28)), "empty"),
    ],
)
def test_bad_image_shapes_are_refused(view, original, model_input, problem):
    with pytest.raises(ValueError, match=problem):
        view.set_images(original, model_input)


def test_caption(view):
    view.set_caption("test sample 17 / 1000 — true label 7")
    assert view.caption.text() == "test sample 17 / 1000 — true label 7"


@pytest.mark.parametrize(
    ("button", "signal"),
    [
        ("previous_button", "previousRequested"),
        ("next_button", "nextRequested"),
        ("random_button", "randomRequested"),
        ("open_button", "openRequested"),
    ],
)
def test_navigation_buttons_emit(view, qtbot, button, signal):
    with qtbot.waitSignal(getattr(view, signal), timeout=1000):
        qtbot.mouseClick(getattr(view, button), Qt.MouseButton.LeftButton)


def test_receptive_field_inside_the_image(view, digit):
    view.set_images(digit, downsampled(digit))
    erf = gaussian_erf((14, 12))
    view.show_receptive_field((10, 8, 19, 17), (10, 8, 19, 17), erf)
    assert view.rf_rect.rect() == QRectF(8, 10, 9, 9)
    assert view.receptive_field_box() == (10, 8, 19, 17)
    assert view.full_receptive_field_box() == (10, 8, 19, 17)
    assert not view.full_rf_rect.isVisible(), "no padding involved, so no dashed outline"
    np.testing.assert_allclose(view.erf_item.image, erf, rtol=1e-6)
    assert view.erf_item.isVisible() and 0.0 < view.erf_item.opacity() < 1.0
    assert view.erf_item.zValue() > view.model_item.zValue()


def test_receptive_field_reaching_onto_padding(view, digit):
    view.set_images(digit, downsampled(digit))
    view.show_receptive_field((0, 0, 4, 5), (-3, -2, 4, 5), None)
    assert view.receptive_field_box() == (0, 0, 4, 5)
    assert view.full_receptive_field_box() == (-3, -2, 4, 5)
    assert view.full_rf_rect.rect() == QRectF(-2, -3, 7, 7)
    assert view.full_rf_rect.isVisible()
    assert view.full_rf_rect.pen().style() == Qt.PenStyle.DashLine
    assert view.rf_rect.pen().style() == Qt.PenStyle.SolidLine
    assert view_contains(view.model_view, QRectF(-2, -3, 30, 31)), "the view widens to show the padding"
    assert view.erf_item.image is None and not view.erf_item.isVisible()


def test_unit_that_sees_only_padding_gets_just_the_dashed_outline(view, digit):
    view.set_images(digit, downsampled(digit))
    view.show_receptive_field((0, 0, 0, 0), (-6, -6, -1, -1), None)
    assert view.receptive_field_box() is None
    assert not view.rf_rect.isVisible()
    assert view.full_receptive_field_box() == (-6, -6, -1, -1)
    assert view_contains(view.model_view, QRectF(-6, -6, 34, 34))


def test_clear_receptive_field_restores_the_view(view, digit):
    view.set_images(digit, downsampled(digit))
    view.show_receptive_field((20, 20, 28, 28), (20, 20, 34, 34), gaussian_erf((27, 27)))
    assert view_contains(view.model_view, QRectF(0, 0, 34, 34))
    view.clear_receptive_field()
    assert view.receptive_field_box() is None and view.full_receptive_field_box() is None
    assert not view.rf_rect.isVisible() and not view.full_rf_rect.isVisible()
    assert not view.erf_item.isVisible()
    (x0, x1), _ = view.model_view.viewRange()
    assert x1 < 31, "the view shrinks back to the image"


def test_overlay_stays_while_drawing_continues(view, digit):
    view.set_images(digit, downsampled(digit))
    view.show_receptive_field((5, 5, 10, 10), (5, 5, 10, 10), gaussian_erf((7, 7)))
    digit[100:120] = 1.0
    view.set_images(digit, downsampled(digit))
    assert view.receptive_field_box() == (5, 5, 10, 10)
    assert view.erf_item.isVisible()


def test_new_input_size_or_no_input_drops_the_overlay(view, digit):
    view.set_images(digit, downsampled(digit))
    view.show_receptive_field((5, 5, 10, 10), (5, 5, 10, 10), gaussian_erf((7, 7)))
    view.set_images(None, np.zeros((3, 32, 32), dtype=np.float32))
    assert view.receptive_field_box() is None and not view.erf_item.isVisible()
    view.show_receptive_field((5, 5, 10, 10), (5, 5, 10, 10), gaussian_erf((7, 7), shape=(32, 32)))
    view.set_images(None, None)
    assert view.receptive_field_box() is None


@pytest.mark.parametrize(
    ("box", "full_box", "erf", "problem"),
    [
        ((0, 0, 4, 5), (1, 0, 4, 5), None, "inside full_box"),
        ((-1, 0, 4, 5), (-3, -2, 4, 5), None, "clipped to the 28x28"),
        ((20, 20, 30, 30), (20, 20, 30, 30), None, "clipped to the 28x28"),
        ((5, 5, 5, 9), (5, 5, 5, 9), None, "full_box .* is empty"),
        ((5, 5, 3, 9), (0, 0, 10, 10), None, "box .* is empty"),
        ((0, 0, 4), (0, 0, 4, 5), None, "four integers"),
        ((0.5, 0, 4, 5), (0, 0, 4, 5), None, "four integers"),
        ((0, 0, 4, 5), (0, 0, 4, 5), np.zeros((14, 14)), r"\(14, 14\)"),
        ((0, 0, 4, 5), (0, 0, 4, 5), np.zeros((1, 28, 28)), r"\(H, W\)"),
        ((0, 0, 4, 5), (0, 0, 4, 5), np.full((28, 28), np.nan), "NaN"),
    ],
)
def test_bad_receptive_field_is_refused_and_keeps_the_old_one(view, digit, box, full_box, erf, problem):
    view.set_images(digit, downsampled(digit))
    view.show_receptive_field((1, 2, 3, 4), (1, 2, 3, 4), None)
    with pytest.raises(ValueError, match=problem):
        view.show_receptive_field(box, full_box, erf)
    assert view.receptive_field_box() == (1, 2, 3, 4)


def test_numpy_integer_boxes_are_accepted(view, digit):
    view.set_images(digit, downsampled(digit))
    box = tuple(np.array([3, 4, 9, 10]))
    view.show_receptive_field(box, box, None)
    assert view.receptive_field_box() == (3, 4, 9, 10)
