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
from PIL import Image

from core.budget import memory_budget, over_budget

MAX_PIXELS = 50_000_000
"""Largest width x height accepted; checked from the header, before any pixel is decoded."""

MAX_SIDE = 65_535
"""Longest side accepted (JPEG's own limit): a 1x50,000,000 strip has few pixels but takes PNG tens of
seconds to decode row by row, and no picture is that shape."""

DISPLAY_PIXELS = 1024 * 1024
"""Images with more pixels are brought down to this many while decoding (JPEG decodes at 1/2..1/8 size
directly): no view or model needs more, and a 7000x7000 photo then takes well under a second instead
of half a minute of float arithmetic on 49 million pixels."""

_DECODED_BYTES_PER_PIXEL = 4
"""The widest decoded form before scaling: RGBA, 32-bit int or float pixels."""

SUPPORTED_FORMATS = ("PNG", "JPEG", "BMP", "DIB", "GIF", "TIFF", "WEBP", "PPM")
"""Formats Pillow may try. Restricting them keeps random bytes from being guessed as an exotic
format (TGA has no signature; EPS would start Ghostscript)."""

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class ImageLoadError(ValueError):
    """An image could not be loaded; the message names the file and the problem."""


def load_image(source: str | os.PathLike | bytes, max_pixels: int | None = DISPLAY_PIXELS) -> np.ndarray:
    """Decode a file path or encoded bytes into float32 in [0, 1]: (H, W) for gray, (H, W, 3) for colour.

    Animated images give their first frame, the EXIF orientation is applied, and a colour image
    whose three channels are identical comes back gray. Transparent pixels are composited onto
    the background that contrasts with the visible content: a dark drawing on a transparent
    canvas lands on white (as every image viewer shows it) and a light drawing lands on black,
    so the strokes stay visible either way. An image of more than ``max_pixels`` pixels comes
    back scaled down to at most that many, keeping its aspect ratio (None keeps every pixel).
    """
    name, stream = _open_source(source)
    try:
        with stream, Image.open(stream, formats=SUPPORTED_FORMATS) as image:
            _check_size(name, image)
            orientation = _orientation(image)
            target = _target_size(image.size, max_pixels)
            if target != image.size:
                image.draft(image.mode, target)  # JPEG: decode at a fraction of the size; other formats: no-op
            image.load()
            smaller = _downscaled(image, target)
            return _to_float(_upright(smaller, orientation))
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
        raise ImageLoadError(f"{name}: image data is damaged or truncated ({_first_line(error)})") from error


def _target_size(size: tuple[int, int], max_pixels: int | None) -> tuple[int, int]:
    """The size with at most ``max_pixels`` pixels and the same aspect ratio (each side at least 1)."""
    width, height = size
    if max_pixels is None or width * height <= max_pixels:
        return width, height
    scale = (max_pixels / (width * height)) ** 0.5
    new_width, new_height = max(1, int(width * scale)), max(1, int(height * scale))
    if new_width * new_height > max_pixels:  # a 1-pixel side could not shrink: the long side takes it all
        new_width, new_height = min(new_width, max(1, max_pixels // new_height)), min(new_height, max(1, max_pixels // new_width))
    return new_width, new_height


def _scalable(image: Image.Image) -> Image.Image:
    """A mode that reduce() and box resizing average (not palette indices or bits), transparency kept."""
    if _has_transparency(image) and image.mode not in ("RGBA", "LA"):
        return image.convert("RGBA")
    if image.mode.startswith("I;16"):
        return image.convert("I")
    if image.mode == "1":
        return image.convert("L")
    if image.mode == "P":
        return image.convert("RGB")
    return image


def _downscaled(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """Box-average down to ``target``: an integer reduce first (fast), then an exact resize."""
    if image.size[0] <= target[0] and image.size[1] <= target[1]:
        return image
    image = _scalable(image)
    factor = max(1, min(image.size[0] // target[0], image.size[1] // target[1]))
    if factor > 1:
        image = image.reduce(factor)
    if image.size != target:
        image = image.resize(target, Image.Resampling.BOX)
    return image


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
    if max(width, height) > MAX_SIDE:
        raise ImageLoadError(
            f"{name}: image is too long ({width}x{height} pixels; sides longer than {MAX_SIDE:,} are refused)"
        )
    decoded = width * height * _DECODED_BYTES_PER_PIXEL
    if decoded > memory_budget():
        raise ImageLoadError(f"{name}: " + over_budget(f"decoding {width}x{height} pixels", decoded))


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""EXIF orientation -> the transpose that makes the image upright (as ImageOps.exif_transpose does)."""


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation, read before scaling (a scaled copy has no EXIF); damaged EXIF counts as none."""
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception:  # Pillow raises assorted types for malformed EXIF; the pixels are still valid.
        return 1


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return image if method is None else image.transpose(method)


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
