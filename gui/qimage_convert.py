"""QImage -> numpy for pasted and dropped images (core decodes files; Qt hands us pixels)."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def qimage_to_array(image: QImage) -> np.ndarray:
    """(H, W) gray or (H, W, 3) RGB float32 in [0, 1]; transparency is composited on white."""
    if image.isNull() or image.width() == 0 or image.height() == 0:
        raise ValueError("the image is empty")
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    h, w = rgba.height(), rgba.width()
    raw = np.frombuffer(rgba.constBits(), dtype=np.uint8, count=rgba.bytesPerLine() * h)
    pixels = raw.reshape(h, rgba.bytesPerLine())[:, : w * 4].reshape(h, w, 4).astype(np.float32) / 255.0
    alpha = pixels[..., 3:4]
    rgb = pixels[..., :3] * alpha + (1.0 - alpha)
    if np.allclose(rgb[..., 0], rgb[..., 1]) and np.allclose(rgb[..., 1], rgb[..., 2]):
        return np.ascontiguousarray(rgb[..., 0])
    return np.ascontiguousarray(rgb)
