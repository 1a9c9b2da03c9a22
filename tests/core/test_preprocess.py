"""Preprocessing: drawings become MNIST-style digits, any image becomes a model input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core.data import mnist_subset_raw
from core.preprocess import (
    MNIST_NORMALIZATION,
    Normalization,
    drawing_to_input,
    image_to_input,
    mnist_style,
)


def ink_box(image: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    total = image.sum()
    return (
        float((image.sum(axis=1) * np.arange(image.shape[0])).sum() / total),
        float((image.sum(axis=0) * np.arange(image.shape[1])).sum() / total),
    )


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b))


def seven(canvas: int = 200, top: int = 40, left: int = 60, scale: int = 1) -> np.ndarray:
    """A "7" drawn with a thick pen on a black canvas, like the app's drawing pad."""
    drawing = np.zeros((canvas, canvas), np.uint8)
    drawing[top : top + 12 * scale, left : left + 80 * scale] = 255
    for step in range(100 * scale):
        row = top + step
        col = left + 80 * scale - 6 * scale - step * 45 // 100
        drawing[row, col : col + 12 * scale] = 255
    return drawing


@pytest.fixture(scope="module")
def real_digits() -> tuple[np.ndarray, np.ndarray]:
    images, labels = mnist_subset_raw("test")
    return images[::20], labels[::20]


def test_mnist_normalization_matches_the_bundled_training_split():
    pixels = mnist_subset_raw("train")[0] / 255.0
    assert MNIST_NORMALIZATION.mean[0] == pytest.approx(pixels.mean(), abs=1e-4)
    assert MNIST_NORMALIZATION.std[0] == pytest.approx(pixels.std(), abs=1e-4)


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.float32, (3, 4, 5), elements=st.floats(0, 1, width=32)),
    st.tuples(*[st.floats(-2, 2)] * 3),
    st.tuples(*[st.floats(0.05, 5)] * 3),
)
def test_normalization_invert_undoes_apply(x, mean, std):
    normalization = Normalization(mean, std)
    standardized = normalization.apply(x)
    assert standardized.dtype == np.float32
    np.testing.assert_allclose(normalization.invert(standardized), x, atol=1e-5)


def test_normalization_standardizes_held_out_digits():
    pixels = mnist_subset_raw("test")[0] / 255.0
    standardized = np.stack([MNIST_NORMALIZATION.apply(p[np.newaxis]) for p in pixels])
    assert abs(standardized.mean()) < 0.05
    assert abs(standardized.std() - 1.0) < 0.05


@pytest.mark.parametrize(
    ("mean", "std", "problem"),
    [((0.5,), (0.2, 0.2), "one mean and one std"), ((), (), "one mean"), ((0.5,), (0.0,), "std > 0")],
)
def test_invalid_normalization_is_refused(mean, std, problem):
    with pytest.raises(ValueError, match=problem):
        Normalization(mean, std)


def test_normalization_refuses_the_wrong_channel_count():
    with pytest.raises(ValueError, match=r"\(1, H, W\)"):
        MNIST_NORMALIZATION.apply(np.zeros((3, 28, 28)))


def test_upscaled_real_digits_come_back_as_themselves(real_digits):
    images, _ = real_digits
    similarities = [
        cosine(mnist_style(np.kron(digit, np.ones((6, 6), np.uint8))), digit / 255.0) for digit in images
    ]
    assert np.mean(similarities) > 0.98
    assert min(similarities) > 0.8


def test_mnist_style_fits_the_longer_side_to_20_pixels_and_centres_the_mass():
    digit = mnist_style(seven())
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    assert digit.min() >= 0.0 and digit.max() <= 1.0
    top, bottom, left, right = ink_box(digit > 0)
    assert max(bottom - top, right - left) == 20
    row, col = centre_of_mass(digit)
    assert abs(row - 14) <= 0.5 and abs(col - 14) <= 0.5


def test_mnist_style_keeps_the_aspect_ratio():
    bar = np.zeros((300, 300))
    bar[50:250, 140:180] = 1.0  # 200 tall, 40 wide
    top, bottom, left, right = ink_box(mnist_style(bar) > 0.5)
    assert (bottom - top, right - left) == (20, 4)


def test_position_and_size_on_the_canvas_do_not_matter():
    reference = mnist_style(seven())
    np.testing.assert_allclose(mnist_style(seven(canvas=400, top=250, left=10)), reference, atol=1e-6)
    assert cosine(mnist_style(seven(canvas=400, scale=2)), reference) > 0.97


@pytest.mark.parametrize("dtype", [np.uint16, np.float64, np.int32, bool])
def test_any_dtype_gives_the_same_digit(dtype):
    drawing = seven()
    scaled = (drawing > 0).astype(dtype) if dtype is bool else (drawing > 0).astype(dtype) * 1000
    np.testing.assert_allclose(mnist_style(scaled), mnist_style(drawing), atol=1e-6)


def test_lopsided_drawing_is_not_cut_off():
    drawing = np.zeros((100, 100))
    drawing[10:30, 10:90] = 1.0  # heavy bar on top, so the mass sits high
    drawing[10:90, 48:50] = 1.0  # long thin stem below it
    digit = mnist_style(drawing)
    top, bottom, _, _ = ink_box(digit > 0.2)
    assert bottom - top == 20
    assert 0 <= top and bottom <= 28


@pytest.mark.parametrize("blank", [np.zeros((50, 80)), np.zeros((3, 3), bool), -np.ones((10, 10))])
def test_blank_drawing_gives_none(blank):
    assert mnist_style(blank) is None
    assert drawing_to_input(blank) is None


@pytest.mark.parametrize(
    ("drawing", "problem"),
    [
        (np.zeros((4, 4, 3)), "2-D"),
        (np.zeros((0, 5)), "2-D"),
        (np.full((4, 4), np.nan), "NaN"),
        (np.array([["a"]]), "numbers"),
    ],
)
def test_bad_drawing_is_refused(drawing, problem):
    with pytest.raises(ValueError, match=problem):
        mnist_style(drawing)


def test_drawing_to_input_is_the_normalized_digit():
    model_input = drawing_to_input(seven())
    assert model_input.shape == (1, 28, 28) and model_input.dtype == np.float32
    np.testing.assert_allclose(MNIST_NORMALIZATION.invert(model_input)[0], mnist_style(seven()), atol=1e-6)


def test_image_to_input_reproduces_real_mnist_digits(real_digits):
    images, _ = real_digits
    for digit in images[:10]:
        made = image_to_input(digit / 255.0, (1, 28, 28), MNIST_NORMALIZATION)
        assert cosine(MNIST_NORMALIZATION.invert(made)[0], digit / 255.0) > 0.8


def test_dark_ink_on_paper_is_inverted_for_a_one_channel_model():
    ink = seven() / 255.0
    on_paper = 1.0 - ink
    expected = image_to_input(ink, (1, 28, 28), MNIST_NORMALIZATION)
    np.testing.assert_allclose(image_to_input(on_paper, (1, 28, 28), MNIST_NORMALIZATION), expected, atol=1e-5)


def test_colour_image_becomes_luminance_for_a_one_channel_model():
    rng = np.random.default_rng(3)
    gray = rng.random((30, 40)).astype(np.float32) * 0.4
    rgb = np.stack([gray] * 3, axis=-1)
    shape, normalization = (1, 16, 16), Normalization((0.2,), (0.3,))
    from_rgb, from_gray = image_to_input(rgb, shape, normalization), image_to_input(gray, shape, normalization)
    np.testing.assert_allclose(from_rgb, from_gray, atol=1e-5)
    red = np.zeros((30, 40, 3), np.float32)
    red[..., 0] = 1.0
    assert image_to_input(red, shape, normalization) == pytest.approx(np.full(shape, (0.299 - 0.2) / 0.3), abs=1e-4)


def test_gray_image_is_replicated_for_a_three_channel_model():
    gray = np.random.default_rng(4).random((20, 20)).astype(np.float32)
    made = image_to_input(gray, (3, 20, 20), Normalization((0.0,) * 3, (1.0,) * 3))
    np.testing.assert_allclose(made[0], gray, atol=1e-4)
    np.testing.assert_array_equal(made[0], made[1])
    np.testing.assert_array_equal(made[0], made[2])


def test_other_sizes_keep_the_aspect_ratio_and_pad_with_the_border_colour():
    wide = np.zeros((40, 80, 3), np.float32)
    wide[...] = (0.2, 0.4, 0.6)
    wide[10:30, 20:60] = (1.0, 1.0, 1.0)
    made = image_to_input(wide, (3, 32, 32), Normalization((0.0,) * 3, (1.0,) * 3))
    assert made.shape == (3, 32, 32) and made.dtype == np.float32
    bright_rows = np.flatnonzero((made[0] > 0.9).any(axis=1))
    bright_cols = np.flatnonzero((made[0] > 0.9).any(axis=0))
    assert 7 <= len(bright_rows) <= 9 and 15 <= len(bright_cols) <= 17  # 20x40 of 40x80, scaled by 0.4
    np.testing.assert_allclose(made[:, 0, 0], (0.2, 0.4, 0.6), atol=1e-4)
    np.testing.assert_allclose(made[:, -1, -1], (0.2, 0.4, 0.6), atol=1e-4)


def test_blank_image_still_gives_a_valid_input():
    made = image_to_input(np.ones((50, 50)), (1, 28, 28), MNIST_NORMALIZATION)
    assert made.shape == (1, 28, 28) and np.isfinite(made).all()
    np.testing.assert_allclose(MNIST_NORMALIZATION.invert(made), 0.0)


@pytest.mark.parametrize(
    ("image", "shape", "problem"),
    [
        (np.zeros((8, 8)), (2, 8, 8), "1- or 3-channel"),
        (np.zeros((8, 8)), (1, 0, 8), "positive integers"),
        (np.zeros((8, 8)), (1, 8), "positive integers"),
        (np.zeros((8, 8, 4)), (1, 8, 8), r"\(H, W, 3\)"),
        (np.full((8, 8), np.inf), (1, 8, 8), "NaN or infinite"),
    ],
)
def test_image_to_input_refuses_bad_arguments(image, shape, problem):
    with pytest.raises(ValueError, match=problem):
        image_to_input(image, shape, MNIST_NORMALIZATION)
