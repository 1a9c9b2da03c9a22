"""Turn drawings and arbitrary images into what a model was trained on.

A network only understands inputs that look like its training data, so a digit drawn on a big
canvas is reduced exactly the way MNIST digits were made, and any other picture is brought to the
model's channel count, size and normalization.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

MNIST_SIDE = 28
MNIST_BOX = 20
"""MNIST digits were scaled so the longer side of the ink fits 20 px, then centred in 28x28."""

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)
"""ITU-R 601 luma weights, the same ones Pillow uses for RGB -> L."""


@dataclass(frozen=True)
class Normalization:
    """Per-channel mean and std a model's inputs were standardized with."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.mean) == 0 or len(self.mean) != len(self.std):
            raise ValueError(
                f"Normalization needs one mean and one std per channel, got {len(self.mean)} means "
                f"and {len(self.std)} stds"
            )
        if not all(np.isfinite(self.mean)) or not all(np.isfinite(s) and s > 0 for s in self.std):
            raise ValueError(f"Normalization values must be finite with std > 0, got {self}")

    @property
    def channels(self) -> int:
        return len(self.mean)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(C, H, W) in [0, 1] -> standardized float32, the values the model sees."""
        mean, std = self._broadcast(x)
        return ((np.asarray(x, dtype=np.float32) - mean) / std).astype(np.float32)

    def invert(self, x: np.ndarray) -> np.ndarray:
        """Standardized (C, H, W) -> [0, 1], for showing a model input as a picture."""
        mean, std = self._broadcast(x)
        return np.clip(np.asarray(x, dtype=np.float32) * std + mean, 0.0, 1.0).astype(np.float32)

    def _broadcast(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if np.ndim(x) != 3 or np.shape(x)[0] != self.channels:
            raise ValueError(
                f"expected a ({self.channels}, H, W) array for this normalization, got shape {np.shape(x)}"
            )
        mean = np.asarray(self.mean, dtype=np.float32).reshape(-1, 1, 1)
        std = np.asarray(self.std, dtype=np.float32).reshape(-1, 1, 1)
        return mean, std


MNIST_NORMALIZATION = Normalization((0.1317,), (0.3089,))
"""Measured on the bundled MNIST training split (4,000 digits, pixels scaled to [0, 1]); the full
60,000-digit training set gives the familiar 0.1307 / 0.3081."""


def identity_normalization(channels: int) -> Normalization:
    """Mean 0, std 1: for data that is already in the range the model expects."""
    return Normalization((0.0,) * channels, (1.0,) * channels)


def mnist_style(drawing: np.ndarray) -> np.ndarray | None:
    """Reduce a drawing (2-D, ink = high values, any dtype) to a 28x28 float32 digit in [0, 1].

    Follows how MNIST was built: the ink is cropped, its longer side scaled to 20 px keeping the
    aspect ratio (antialiased), and it is pasted into 28x28 so its centre of mass sits at the
    centre (shifted back inside where a lopsided stroke would otherwise be cut off). The strongest
    ink becomes 1, so a faint pen and a uint16 canvas give the same digit. A drawing without ink
    gives None.
    """
    values = _checked_drawing(drawing)
    inked = values > 0
    rows = np.flatnonzero(inked.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(inked.any(axis=0))
    cropped = values[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # scaled after cropping: a canvas is mostly empty
    glyph = _resize_longer_side(np.clip(cropped, 0.0, None) / values.max(), MNIST_BOX)
    if not glyph.any():
        return None
    return _paste_centred_on_mass(glyph, MNIST_SIDE)


def drawing_to_input(
    drawing: np.ndarray, normalization: Normalization = MNIST_NORMALIZATION
) -> np.ndarray | None:
    """A canvas drawing -> the (1, 28, 28) float32 input of an MNIST model, or None when it is empty."""
    digit = mnist_style(drawing)
    if digit is None:
        return None
    return normalization.apply(digit[np.newaxis])


def fit_drawing(drawing: np.ndarray, input_shape: tuple[int, int, int]) -> np.ndarray | None:
    """A canvas drawing as the model's (C, H, W) picture in [0, 1], not yet normalized; None without ink.

    A 1x28x28 model gets the MNIST recipe; any other input shape is fitted like an image.
    """
    if tuple(input_shape) == (1, MNIST_SIDE, MNIST_SIDE):
        digit = mnist_style(drawing)
        return None if digit is None else digit[np.newaxis]
    return fit_image(drawing, input_shape) if np.asarray(drawing).any() else None


def image_to_input(
    image: np.ndarray, input_shape: tuple[int, int, int], normalization: Normalization
) -> np.ndarray:
    """Any decoded image -> the model's (C, H, W) float32 input: ``fit_image`` then normalization."""
    return normalization.apply(fit_image(image, input_shape))


def fit_image(image: np.ndarray, input_shape: tuple[int, int, int]) -> np.ndarray:
    """Any decoded image -> the model's (C, H, W) picture in [0, 1], before normalization.

    Steps:
    1. Channels: an RGB image for a 1-channel model becomes its luminance; a gray image for a
       3-channel model is replicated into R, G and B.
    2. Polarity (1-channel models only): MNIST-like data is light ink on a dark background, so an
       image whose border is mostly light (a scan of dark pen on paper) is inverted.
    3. Size: a 1x28x28 model gets the MNIST recipe (`mnist_style`); an image without ink then
       gives an all-background input. Any other size is resized keeping the aspect ratio to fit
       H x W and centred, padded with the image's mean border colour so no frame appears.

    `image` is (H, W) gray or (H, W, 3) RGB in [0, 1], as `core.image_io.load_image` returns.
    """
    channels, height, width = check_input_shape(input_shape)
    pixels = _to_channels(_check_image(image), channels)
    if channels == 1 and _border(pixels).mean() > 0.5:
        pixels = 1.0 - pixels
    if (channels, height, width) == (1, MNIST_SIDE, MNIST_SIDE):
        digit = mnist_style(pixels[0])
        fitted = np.zeros((1, MNIST_SIDE, MNIST_SIDE), np.float32) if digit is None else digit[np.newaxis]
    else:
        fitted = _fit_and_pad(pixels, height, width)
    return fitted


def _checked_drawing(drawing: np.ndarray) -> np.ndarray:
    """A drawing of any dtype as float32 ink (higher = more ink, at or below 0 = none)."""
    values = np.asarray(drawing)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"a drawing must be a non-empty 2-D array, got shape {values.shape}")
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_):
        raise ValueError(f"a drawing must hold numbers, got dtype {values.dtype}")
    values = values.astype(np.float32, copy=False)
    if not (np.isfinite(values.max()) and np.isfinite(values.min())):  # NaN or an infinity reaches one of them
        raise ValueError("a drawing must not contain NaN or infinite values")
    return values


def _resize_longer_side(ink: np.ndarray, longer: int) -> np.ndarray:
    height, width = ink.shape
    scale = longer / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return _resize(ink, size)


def _resize(channel: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Antialiased resize of one float channel to (width, height); Lanczos ringing is clipped off."""
    # reducing_gap: a box pre-reduction for big shrinks (a 280 px stroke to 20 px), twice as fast and
    # within 0.004 of a pure Lanczos resize
    resized = Image.fromarray(channel.astype(np.float32)).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _paste_centred_on_mass(glyph: np.ndarray, side: int) -> np.ndarray:
    height, width = glyph.shape
    total = float(glyph.sum())
    centre_y = float((glyph.sum(axis=1) * np.arange(height)).sum() / total)
    centre_x = float((glyph.sum(axis=0) * np.arange(width)).sum() / total)
    middle = side / 2  # MNIST puts the mass at pixel (14, 14): the bundled digits average 13.99, 14.00
    top = int(np.clip(round(middle - centre_y), 0, side - height))
    left = int(np.clip(round(middle - centre_x), 0, side - width))
    canvas = np.zeros((side, side), dtype=np.float32)
    canvas[top : top + height, left : left + width] = glyph
    return canvas


def check_input_shape(input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """Validate a model input shape that images can be made into: (1 or 3, H, W), all positive."""
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(n, (int, np.integer)) and n > 0 for n in shape):
        raise ValueError(f"input_shape must be three positive integers (C, H, W), got {input_shape!r}")
    if shape[0] not in (1, 3):
        raise ValueError(f"images can be made into 1- or 3-channel inputs, not {shape[0]} channels")
    return int(shape[0]), int(shape[1]), int(shape[2])


def _check_image(image: np.ndarray) -> np.ndarray:
    pixels = np.asarray(image)
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)) or pixels.size == 0:
        raise ValueError(f"expected an (H, W) gray or (H, W, 3) RGB image, got shape {pixels.shape}")
    pixels = pixels.astype(np.float32)
    if not np.isfinite(pixels).all():
        raise ValueError("image must not contain NaN or infinite values")
    return np.clip(pixels, 0.0, 1.0)


def _to_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """(H, W) or (H, W, 3) -> (channels, H, W)."""
    if pixels.ndim == 3 and channels == 1:
        return (pixels @ _LUMA.astype(np.float32))[np.newaxis]
    if pixels.ndim == 2:
        return np.repeat(pixels[np.newaxis], channels, axis=0)
    return np.transpose(pixels, (2, 0, 1))


def _border(pixels: np.ndarray) -> np.ndarray:
    """All pixels on the outer ring of a (C, H, W) image, as (C, n)."""
    return np.concatenate(
        [pixels[:, 0, :], pixels[:, -1, :], pixels[:, :, 0], pixels[:, :, -1]], axis=1
    )


def _fit_and_pad(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    background = _border(pixels).mean(axis=1)
    _, source_height, source_width = pixels.shape
    scale = min(height / source_height, width / source_width)
    size = (
        min(width, max(1, round(source_width * scale))),
        min(height, max(1, round(source_height * scale))),
    )
    canvas = np.empty((pixels.shape[0], height, width), dtype=np.float32)
    canvas[:] = background[:, np.newaxis, np.newaxis]
    top, left = (height - size[1]) // 2, (width - size[0]) // 2
    for channel, plane in enumerate(pixels):
        canvas[channel, top : top + size[1], left : left + size[0]] = _resize(plane, size)
    return canvas
