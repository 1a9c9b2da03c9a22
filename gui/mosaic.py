"""Lay many small maps out as one image, because one ImageItem draws far faster than one per map."""
from __future__ import annotations

import math

import numpy as np


class MosaicShapeError(ValueError):
    """The maps handed to the mosaic are not a stack of 2-D maps."""


def grid_shape(n: int, h: int, w: int, aspect: float = 1.0) -> tuple[int, int]:
    """Rows and columns for n maps of h x w so the mosaic's width/height is close to `aspect`.

    `aspect` is the width/height of the view the mosaic is drawn in; 1.0 gives a near-square grid.
    """
    if n < 1 or h < 1 or w < 1:
        raise MosaicShapeError(f"need at least one map of at least 1x1 pixels, got n={n}, h={h}, w={w}")
    cols = min(n, max(1, math.ceil(math.sqrt(n * h * aspect / w))))
    rows = math.ceil(n / cols)
    cols = math.ceil(n / rows)  # drop columns that the last row would leave empty
    return rows, cols


def tile(maps: np.ndarray, columns: int | None = None, gap: int = 1, fill: float = np.nan) -> np.ndarray:
    """One C-contiguous float32 image holding every map of (N, H, W), `gap` pixels of `fill` between them."""
    maps = np.asarray(maps)
    if maps.ndim != 3 or 0 in maps.shape:
        raise MosaicShapeError(f"expected non-empty maps shaped (N, H, W), got shape {maps.shape}")
    if gap < 0:
        raise MosaicShapeError(f"gap must be >= 0, got {gap}")
    n, h, w = maps.shape
    if columns is None:
        rows, cols = grid_shape(n, h, w)
    elif columns < 1:
        raise MosaicShapeError(f"columns must be >= 1, got {columns}")
    else:
        cols = min(columns, n)
        rows = math.ceil(n / cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), fill, dtype=np.float32)
    row_stride, col_stride = out.strides
    # A (rows, cols, h, w) window onto the mosaic's map cells, so whole rows of maps copy in one step.
    cells = np.lib.stride_tricks.as_strided(
        out,
        shape=(rows, cols, h, w),
        strides=(row_stride * (h + gap), col_stride * (w + gap), row_stride, col_stride),
        writeable=True,
    )
    full_rows, rest = divmod(n, cols)
    cells[:full_rows] = maps[: full_rows * cols].reshape(full_rows, cols, h, w)
    if rest:
        cells[full_rows, :rest] = maps[full_rows * cols :]
    return out


def locate(
    mosaic_row: int, mosaic_col: int, h: int, w: int, cols: int, gap: int, count: int | None = None
) -> tuple[int, int, int] | None:
    """(map index, row, col) under a mosaic pixel, or None on a gap, outside, or past the last of `count` maps."""
    if mosaic_row < 0 or mosaic_col < 0:
        return None
    grid_row, row = divmod(int(mosaic_row), h + gap)
    grid_col, col = divmod(int(mosaic_col), w + gap)
    if row >= h or col >= w or grid_col >= cols:
        return None
    index = grid_row * cols + grid_col
    if count is not None and index >= count:
        return None
    return index, row, col


def cell_origin(index: int, h: int, w: int, cols: int, gap: int) -> tuple[int, int]:
    """Mosaic (row, col) of the top-left pixel of map `index`; the inverse of `locate`."""
    grid_row, grid_col = divmod(index, cols)
    return grid_row * (h + gap), grid_col * (w + gap)


def normalize_per_map(maps: np.ndarray, symmetric: bool = False) -> np.ndarray:
    """Rescale each map on its own so weak maps stay visible next to strong ones.

    Plain: each map to [0, 1] by its min and max. Symmetric: each map divided by its largest |value|,
    into [-1, 1], so zero stays zero for a diverging colormap. Maps with no range (plain: constant;
    symmetric: all zero) become 0.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise MosaicShapeError(f"expected maps shaped (N, H, W), got shape {maps.shape}")
    if symmetric:
        scale = np.abs(maps).max(axis=(1, 2), keepdims=True)
        return np.divide(maps, scale, out=np.zeros_like(maps), where=scale > 0)
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.divide(maps - low, span, out=np.zeros_like(maps), where=span > 0)
