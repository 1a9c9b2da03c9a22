"""Small numpy pictures as QPixmaps, scaled up with square pixels, for thumbnails and swatches."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap

from gui.colormaps import DIVERGING_LUT


def picture_pixmap(picture: np.ndarray, size: int) -> QPixmap:
    """(H, W) gray, (H, W, 3) RGB or (C, H, W) with C 1 or 3, values in [0, 1], fitted into size x size."""
    pixels = np.asarray(picture, dtype=np.float32)
    if pixels.ndim == 3 and pixels.shape[0] in (1, 3) and pixels.shape[2] not in (1, 3):
        pixels = np.moveaxis(pixels, 0, -1)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or 0 in pixels.shape:
        raise ValueError(f"a picture must be (H, W), (H, W, 3) or (C, H, W), got shape {np.shape(picture)}")
    rgb = (np.clip(np.nan_to_num(pixels), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    return _scaled(rgb, size)


def signed_pixmap(values: np.ndarray, size: int, bound: float | None = None) -> QPixmap:
    """(H, W) values on the diverging colour map, zero in the middle, ±bound (default max |value|) at the ends."""
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"values must be a non-empty (H, W) array, got shape {values.shape}")
    finite = np.nan_to_num(values)
    bound = bound or float(np.abs(finite).max()) or 1.0
    index = np.clip((finite / bound + 1.0) * 0.5 * 255 + 0.5, 0, 255).astype(np.intp)
    rgb = DIVERGING_LUT[index][..., :3].astype(np.uint8)
    rgb[~np.isfinite(values)] = 128  # the gaps of a mosaic: grey, not a colour of the scale
    return _scaled(rgb, size)


def _scaled(rgb: np.ndarray, size: int) -> QPixmap:
    height, width = rgb.shape[:2]
    data = np.ascontiguousarray(rgb)
    image = QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    pixmap = QPixmap.fromImage(image)
    keep = Qt.AspectRatioMode.KeepAspectRatio
    if max(height, width) > size:  # a big picture shrinks smoothly to fit
        return pixmap.scaled(size, size, keep, Qt.TransformationMode.SmoothTransformation)
    scale = size // max(height, width)  # a small one grows by a whole factor, its pixels kept square
    return pixmap.scaled(width * scale, height * scale, keep, Qt.TransformationMode.FastTransformation)
