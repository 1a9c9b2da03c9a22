"""Decode an image file (or its bytes) into a plain float array, with one error type for every failure.

The app feeds whatever a user drops on it into the network, so this module is the single place that
turns "some file" into either a float32 array in [0, 1] or an ImageLoadError that says, in plain
words, which file failed and why.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

MAX_PIXELS = 50_000_000
"""Largest width x height accepted; checked from the header, before any pixel is decoded."""

SUPPORTED_FORMATS = ("PNG", "JPEG", "BMP", "DIB", "GIF", "TIFF", "WEBP", "PPM")
"""Formats Pillow may try. Restricting them keeps random bytes from being guessed as an exotic
format (TGA has no signature; EPS would start Ghostscript)."""

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class ImageLoadError(ValueError):
    """An image could not be loaded; the message names the file and the problem."""


def load_image(source: str | os.PathLike | bytes) -> np.ndarray:
    """Decode a file path or encoded bytes into float32 in [0, 1]: (H, W) for gray, (H, W, 3) for colour.

    Animated images give their first frame, the EXIF orientation is applied, and a colour image
    whose three channels are identical comes back gray. Transparent pixels are composited onto
    the background that contrasts with the visible content: a dark drawing on a transparent
    canvas lands on white (as every image viewer shows it) and a light drawing lands on black,
    so the strokes stay visible either way.
    """
    name, stream = _open_source(source)
    try:
        with stream, Image.open(stream, formats=SUPPORTED_FORMATS) as image:
            _check_size(name, image)
            image.load()
            upright = _upright(image)
            return _to_float(upright)
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageLoadError(f"{name}: image is too large to load safely ({error})") from error
    except Image.UnidentifiedImageError as error:
        raise ImageLoadError(
            f"{name}: not a readable image (supported: {', '.join(SUPPORTED_FORMATS)})"
        ) from error
    except MemoryError as error:
        raise ImageLoadError(f"{name}: not enough memory to decode this image") from error
    except Exception as error:  # Pillow raises many types (OSError, SyntaxError, struct.error...) for damaged data.
        raise ImageLoadError(f"{name}: image data is damaged or truncated ({error})") from error


def _open_source(source: str | os.PathLike | bytes) -> tuple[str, BinaryIO]:
    """Give a display name and a binary stream, refusing sources that cannot hold an image."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageLoadError("<bytes>: empty data, not an image")
        return "<bytes>", io.BytesIO(bytes(source))
    if not isinstance(source, (str, os.PathLike)):
        raise ImageLoadError(f"{source!r}: expected a file path or bytes, got {type(source).__name__}")
    path = Path(source)
    name = str(path)
    try:
        if not path.exists():
            raise ImageLoadError(f"{name}: file not found")
        if path.is_dir():
            raise ImageLoadError(f"{name}: is a folder, not an image file")
        if path.stat().st_size == 0:
            raise ImageLoadError(f"{name}: file is empty")
        return name, path.open("rb")
    except (OSError, ValueError) as error:  # ValueError: a path Python cannot use, e.g. with a NUL byte
        raise ImageLoadError(f"{name}: cannot read file ({getattr(error, 'strerror', None) or error})") from error


def _check_size(name: str, image: Image.Image) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageLoadError(f"{name}: image has no pixels ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise ImageLoadError(
            f"{name}: image is too large ({width}x{height} pixels; the limit is {MAX_PIXELS:,} pixels)"
        )


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a damaged EXIF block must not reject otherwise good pixels."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # Pillow raises assorted types for malformed EXIF; the pixels are still valid.
        return image


def _to_float(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to float32 in [0, 1], keeping 16-bit precision where there is some."""
    mode = image.mode
    if mode.startswith("I;16"):
        pixels = np.asarray(image).astype(np.float32) / 65535.0
    elif mode == "I":
        pixels = _rescale(np.asarray(image, dtype=np.float64), full_scale=65535.0)
    elif mode == "F":
        pixels = _rescale(np.asarray(image, dtype=np.float64), full_scale=1.0)
    elif _has_transparency(image):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        pixels = _composite(rgba[..., :3], rgba[..., 3:])
    elif mode in ("1", "L"):
        pixels = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    else:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return _gray_if_equal_channels(np.clip(pixels, 0.0, 1.0).astype(np.float32))


def _rescale(values: np.ndarray, full_scale: float) -> np.ndarray:
    """Map 32-bit int or float pixels to [0, 1]: by the nominal full scale when they fit it, else min..max."""
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(values.min()), float(values.max())
    if low >= 0.0 and high <= full_scale:
        return (values / full_scale).astype(np.float32)
    span = high - low
    return ((values - low) / span if span > 0 else np.zeros_like(values)).astype(np.float32)


def _has_transparency(image: Image.Image) -> bool:
    return "A" in image.getbands() or "transparency" in image.info


def _composite(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Put the visible pixels on white if they are mostly dark, on black if they are mostly light."""
    weight = float(alpha.sum())
    content_luma = float((rgb @ _LUMA * alpha[..., 0]).sum() / weight) if weight > 0 else 0.0
    background = 1.0 if content_luma < 0.5 else 0.0
    return rgb * alpha + background * (1.0 - alpha)


def _gray_if_equal_channels(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 3 and np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(
        pixels[..., 0], pixels[..., 2]
    ):
        return np.ascontiguousarray(pixels[..., 0])
    return np.ascontiguousarray(pixels)
