"""A small grid of numbers drawn as coloured cells, the tutorials' picture of a patch or a filter.

Each cell shows its value rounded to fit; hovering a cell shows the exact value and where it sits.
Colours are diverging around zero (the feature maps' blue-white-red), each grid on its own scale.
The picture is drawn once per content into a pixmap, so repaints (scrolling, exposing) cost nothing
and new numbers for the same grid (a new input, new weights) reuse the widget.
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QRect, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QToolTip, QWidget

from gui.colormaps import DIVERGING_LUT

LARGEST_CELL = 24
SMALLEST_CELL = 6
WIDEST = 192  # px: a big kernel shrinks its cells to this width
SMALLEST_CELL_WITH_TEXT = 20
PADDING_RGB = (200, 200, 200)
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
        self._font = QFont(self.font())
        self._font.setPointSizeF(max(6.0, self._font.pointSizeF() * 0.75))
        self._pixmap: QPixmap | None = None
        self.setMouseTracking(True)
        self.set_content(values, title, what, rows, cols, masked, marked)

    def set_content(
        self,
        values: np.ndarray,
        title: str = "",
        what: str = "value",
        rows: tuple[int, ...] = (),
        cols: tuple[int, ...] = (),
        masked: np.ndarray | None = None,
        marked: tuple[int, int] | None = None,
    ) -> None:
        """New numbers (and labels) for this grid; drawn at once."""
        array = np.atleast_2d(np.asarray(values, dtype=np.float64))
        if array.ndim != 2 or array.size == 0:
            raise ValueError(f"a number grid needs a non-empty 2-D array, got shape {np.shape(values)}")
        height, width = array.shape
        self._values = array
        self._title = title
        self._what = what
        self._rows = tuple(rows) or tuple(range(height))
        self._cols = tuple(cols) or tuple(range(width))
        self._masked = np.zeros((height, width), bool) if masked is None else np.asarray(masked, bool)
        self._marked = marked
        self._cell = max(SMALLEST_CELL, min(LARGEST_CELL, WIDEST // width))
        self._title_height = self.fontMetrics().height() + 2 if title else 0
        title_width = self.fontMetrics().horizontalAdvance(title) + 2 if title else 0
        self.setFixedSize(max(width * self._cell + 1, title_width), self._title_height + height * self._cell + 1)
        self._pixmap = None  # drawn when first painted: a grid scrolled out of sight costs nothing
        self.update()

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
        if self._pixmap is None:
            self._pixmap = self._render()
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._pixmap)
        painter.end()

    def _render(self) -> QPixmap:
        pixmap = QPixmap(self.size())
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setPen(self.palette().windowText().color())
        if self._title:
            painter.drawText(QRect(0, 0, self.width(), self._title_height), Qt.AlignmentFlag.AlignLeft, self._title)
        cell, top = self._cell, self._title_height
        height, width = self._values.shape
        rgb = self._colours()
        packed = np.ascontiguousarray(0xFF000000 | (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2])
        swatch = QImage(packed.data, width, height, 4 * width, QImage.Format.Format_RGB32)  # reads `packed`
        painter.drawImage(QRect(0, top, width * cell, height * cell), swatch)  # one cell per pixel, scaled up
        hatch = QBrush(QColor(120, 120, 120), Qt.BrushStyle.BDiagPattern)
        for row, col in zip(*np.nonzero(self._masked)):
            painter.fillRect(QRect(int(col) * cell, top + int(row) * cell, cell, cell), hatch)
        if cell >= SMALLEST_CELL_WITH_TEXT:
            painter.setFont(self._font)
            dark = rgb.astype(np.int32).sum(axis=2) < 330
            for (row, col), _ in np.ndenumerate(self._values):
                painter.setPen(Qt.GlobalColor.white if dark[row, col] else Qt.GlobalColor.black)
                painter.drawText(QRect(col * cell, top + row * cell, cell, cell), Qt.AlignmentFlag.AlignCenter, self.text_at(row, col))
        painter.setPen(QPen(QColor(90, 90, 90), 1))
        painter.drawRect(0, top, width * cell, height * cell)
        if self._marked is not None:
            row, col = self._marked
            painter.setPen(QPen(MARK_COLOUR, 3))
            painter.drawRect(col * cell + 1, top + row * cell + 1, cell - 2, cell - 2)
        painter.end()
        return pixmap

    def _colours(self) -> np.ndarray:
        """(rows, cols, 3) uint8: the diverging map on this grid's own ±max scale; padding grey."""
        values = self._values
        finite = np.isfinite(values)
        largest = float(np.abs(values[finite]).max()) if finite.any() else 0.0
        bound = largest if largest > 0 else 1.0
        index = np.clip((np.where(finite, values, 0.0) / bound + 1.0) * 0.5 * 255 + 0.5, 0, 255).astype(np.intp)
        rgb = DIVERGING_LUT[index][..., :3].astype(np.uint8)
        rgb[self._masked | ~finite] = PADDING_RGB
        return rgb


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
