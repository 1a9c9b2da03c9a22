"""A small grid of numbers drawn as coloured cells, the tutorials' picture of a patch or a filter.

Each cell shows its value rounded to fit; hovering a cell shows the exact value and where it sits.
Colours are diverging around zero (the feature maps' blue-white-red), each grid on its own scale.
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QRect, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QToolTip, QWidget

from gui.colormaps import DIVERGING_LUT

LARGEST_CELL = 24
SMALLEST_CELL = 6
WIDEST = 192  # px: a big kernel shrinks its cells to this width
SMALLEST_CELL_WITH_TEXT = 20
PADDING_COLOUR = QColor(200, 200, 200)
MARK_COLOUR = QColor("#ff8f00")


class NumberGrid(QWidget):
    """``values`` (rows, cols); ``rows``/``cols`` name each cell's coordinates in the tooltip (default
    0, 1, ...); ``masked`` cells lie on padding (grey, hatched); ``marked`` is a cell to outline."""

    def __init__(
        self,
        values: np.ndarray,
        title: str = "",
        what: str = "value",
        rows: tuple[int, ...] = (),
        cols: tuple[int, ...] = (),
        masked: np.ndarray | None = None,
        marked: tuple[int, int] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._values = np.atleast_2d(np.asarray(values, dtype=np.float64))
        if self._values.ndim != 2 or self._values.size == 0:
            raise ValueError(f"a number grid needs a non-empty 2-D array, got shape {np.shape(values)}")
        height, width = self._values.shape
        self._title = title
        self._what = what
        self._rows = tuple(rows) or tuple(range(height))
        self._cols = tuple(cols) or tuple(range(width))
        self._masked = np.zeros((height, width), bool) if masked is None else np.asarray(masked, bool)
        self._marked = marked
        self._cell = max(SMALLEST_CELL, min(LARGEST_CELL, WIDEST // width))
        self._font = QFont(self.font())
        self._font.setPointSizeF(max(6.0, self._font.pointSizeF() * 0.75))
        self._title_height = self.fontMetrics().height() + 2 if title else 0
        finite = self._values[np.isfinite(self._values)]
        self._bound = float(np.abs(finite).max()) if finite.size and np.abs(finite).max() > 0 else 1.0
        title_width = self.fontMetrics().horizontalAdvance(title) + 2 if title else 0
        self.setFixedSize(max(width * self._cell + 1, title_width), self._title_height + height * self._cell + 1)
        self.setMouseTracking(True)

    def values(self) -> np.ndarray:
        return self._values

    def title(self) -> str:
        return self._title

    def marked(self) -> tuple[int, int] | None:
        return self._marked

    def text_at(self, row: int, col: int) -> str:
        """What the cell shows (empty when the cells are too small for text)."""
        if self._cell < SMALLEST_CELL_WITH_TEXT:
            return ""
        value = self._values[row, col]
        return short_number(value) if math.isfinite(value) else "pad"

    def tooltip_at(self, row: int, col: int) -> str:
        value = self._values[row, col]
        where = f"{self._what} (row {self._rows[row]}, col {self._cols[col]})"
        text = f"{where} = {value:.6g}" if math.isfinite(value) else f"{where}: padding, never the max"
        if self._masked[row, col] and math.isfinite(value):
            text += " (padding)"
        return text.replace("-", "−")

    def cell_centre(self, row: int, col: int) -> QPoint:
        return QPoint(col * self._cell + self._cell // 2, self._title_height + row * self._cell + self._cell // 2)

    def cell_at(self, point: QPoint) -> tuple[int, int] | None:
        row = (point.y() - self._title_height) // self._cell
        col = point.x() // self._cell
        if point.y() < self._title_height or not (0 <= row < self._values.shape[0] and 0 <= col < self._values.shape[1]):
            return None
        return int(row), int(col)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            cell = self.cell_at(event.pos())
            if cell is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), self.tooltip_at(*cell), self)
            return True
        return super().event(event)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        if self._title:
            painter.drawText(QRect(0, 0, self.width(), self._title_height), Qt.AlignmentFlag.AlignLeft, self._title)
        painter.setFont(self._font)
        cell = self._cell
        for (row, col), value in np.ndenumerate(self._values):
            rect = QRect(col * cell, self._title_height + row * cell, cell, cell)
            background = self._colour(value, self._masked[row, col])
            painter.fillRect(rect, background)
            if self._masked[row, col]:
                painter.fillRect(rect, QBrush(QColor(120, 120, 120), Qt.BrushStyle.BDiagPattern))
            text = self.text_at(row, col)
            if text:
                painter.setPen(Qt.GlobalColor.white if background.lightness() < 110 else Qt.GlobalColor.black)
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.setPen(QPen(QColor(90, 90, 90), 1))
        height, width = self._values.shape
        painter.drawRect(0, self._title_height, width * cell, height * cell)
        if self._marked is not None:
            row, col = self._marked
            painter.setPen(QPen(MARK_COLOUR, 3))
            painter.drawRect(col * cell + 1, self._title_height + row * cell + 1, cell - 2, cell - 2)
        painter.end()

    def _colour(self, value: float, masked: bool) -> QColor:
        if masked or not math.isfinite(value):
            return PADDING_COLOUR
        index = int(np.clip((value / self._bound + 1.0) * 0.5 * 255 + 0.5, 0, 255))
        red, green, blue = (int(v) for v in DIVERGING_LUT[index][:3])
        return QColor(red, green, blue)


def short_number(value: float) -> str:
    """A value in four characters or so, for a cell: 12, 3.4, .81, −.07, ≈0 (the tooltip has it exactly)."""
    size = abs(value)
    if size == 0:
        text = "0"
    elif size >= 9.95:
        text = f"{value:.0f}"
    elif size >= 0.995:
        text = f"{value:.1f}"
    elif size >= 0.005:
        text = f"{value:.2f}".replace("0.", ".", 1)
    else:
        return "≈0"
    return text.replace("-", "−")
