"""A one-line label for text that changes on every stroke (a prediction, a value range).

QLabel.setText asks every layout up to the window to recompute (its size hint may change), and the
main window then repaints its background under all of it; this label keeps one size hint, set by its
font, and paints its own background, so a new text costs one repaint of the label alone.
"""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget


class QuietLabel(QWidget):
    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = text
        self._alignment = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # it fills its own background

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:  # noqa: N802 - QLabel's name, so it drops in for one
        if text != self._text:
            self._text = text
            self.update()

    def setAlignment(self, alignment: Qt.AlignmentFlag) -> None:  # noqa: N802
        self._alignment = alignment
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        metrics = self.fontMetrics()
        return QSize(metrics.averageCharWidth() * 20, metrics.height() + 4)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(0, self.fontMetrics().height() + 4)

    def setFont(self, font) -> None:  # noqa: N802
        super().setFont(font)
        self.updateGeometry()  # a new font is the one thing that changes the size

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(event.rect(), self.palette().window())
        painter.setPen(self.palette().windowText().color())
        text = self.fontMetrics().elidedText(self._text, Qt.TextElideMode.ElideRight, self.width())
        painter.drawText(self.rect(), int(self._alignment), text)
        painter.end()
