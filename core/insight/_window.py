"""Sliding-window facts of torch layers, read the way torch itself applies them."""
from __future__ import annotations

from torch import nn


def pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def conv_padding(module: nn.Conv2d) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), with torch's placement of the odd pixel of 'same' at bottom/right."""
    if module.padding == "valid":
        return 0, 0, 0, 0
    if module.padding == "same":
        kernel, dilation = pair(module.kernel_size), pair(module.dilation)
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return totals[0] // 2, totals[0] - totals[0] // 2, totals[1] // 2, totals[1] - totals[1] // 2
    rows, cols = pair(module.padding)
    return rows, rows, cols, cols
