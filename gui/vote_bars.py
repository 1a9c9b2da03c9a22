"""Signed horizontal bars with a label each: an FC unit's largest votes for and against.

Bars grow right (red, for) or left (blue, against) from a shared zero line, on one scale, so their
lengths compare; each row names its input and shows its number; hovering a row shows its sum.
"""
from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QPoint, QRect, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QToolTip, QWidget

from gui.number_grid import short_number

ROW_HEIGHT = 18
BAR_WIDTH = 220  # px for the zero line to the longest bar, both sides together
FOR_COLOUR = QColor("#c0392b")
AGAINST_COLOUR = QColor("#2e6fba")


class VoteBars(QWidget):
    """``rows``: (label, value, tooltip) per bar, drawn in the order given."""

    def __init__(self, rows: Sequence[tuple[str, float, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows = [(str(label), float(value), str(tip)) for label, value, tip in rows]
        metrics = self.fontMetrics()
        self._label_width = max((metrics.horizontalAdvance(label) for label, _, _ in self._rows), default=0) + 8
        self._number_width = metrics.horizontalAdvance("−0.000") + 8
        self._bound = max((abs(value) for _, value, _ in self._rows), default=0.0) or 1.0
        width = self._label_width + BAR_WIDTH + 2 * self._number_width
        self.setFixedSize(width, max(1, len(self._rows)) * ROW_HEIGHT + 2)
        self.setMouseTracking(True)

    def rows(self) -> list[tuple[str, float, str]]:
        return list(self._rows)

    def row_centre(self, index: int) -> QPoint:
        return QPoint(self._zero_x(), index * ROW_HEIGHT + ROW_HEIGHT // 2)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            index = event.pos().y() // ROW_HEIGHT
            if 0 <= index < len(self._rows):
                QToolTip.showText(event.globalPos(), self._rows[index][2], self)
            else:
                QToolTip.hideText()
            return True
        return super().event(event)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        zero, half = self._zero_x(), BAR_WIDTH // 2
        for index, (label, value, _) in enumerate(self._rows):
            top = index * ROW_HEIGHT
            painter.setPen(self.palette().windowText().color())
            painter.drawText(
                QRect(0, top, self._label_width - 6, ROW_HEIGHT),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                label,
            )
            length = round(abs(value) / self._bound * half)
            left = zero if value >= 0 else zero - length
            painter.fillRect(QRect(left, top + 3, max(length, 1), ROW_HEIGHT - 6), FOR_COLOUR if value >= 0 else AGAINST_COLOUR)
            number = QRect(zero + length + 4, top, self._number_width, ROW_HEIGHT)
            align = Qt.AlignmentFlag.AlignLeft
            if value < 0:
                number = QRect(zero - length - 4 - self._number_width, top, self._number_width, ROW_HEIGHT)
                align = Qt.AlignmentFlag.AlignRight
            painter.drawText(number, align | Qt.AlignmentFlag.AlignVCenter, short_number(value))
        painter.setPen(QPen(QColor(120, 120, 120), 1))
        painter.drawLine(zero, 0, zero, self.height())
        painter.end()

    def _zero_x(self) -> int:
        return self._label_width + self._number_width + BAR_WIDTH // 2
