"""A square pad where the user draws a digit with the mouse, MNIST style: white ink on black."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, Qt, Signal
from PySide6.QtGui import QImage, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

CANVAS_SIDE = 280
# MNIST strokes are roughly 2-3 px wide on a 28 px digit, i.e. about a tenth of the side.
PEN_WIDTH_FRACTION = 1 / 11


class DrawCanvas(QWidget):
    """Drawing pad that reports its pixels on every stroke segment so predictions follow the pen live.

    The widget itself receives the mouse; the ink lives in a Grayscale8 QImage painted with
    QPainter, so the numpy view is one buffer copy with no Python loops.
    """

    drawingChanged = Signal(object)
    cleared = Signal()

    def __init__(self, side: int = CANVAS_SIDE, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if side < 28:
            raise ValueError(f"DrawCanvas side must be at least 28 pixels, got {side}")
        self.setObjectName("drawCanvas")
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # the ink image covers what it repaints
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setToolTip("Draw a digit with the left mouse button. Delete or Backspace clears it.")
        self._side = side
        self._image = QImage(side, side, QImage.Format.Format_Grayscale8)
        self._image.fill(0)
        self._has_ink = False
        self._last_point: QPointF | None = None
        self._pen = QPen(Qt.GlobalColor.white, max(1.0, side * PEN_WIDTH_FRACTION))
        self._pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        self._pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)

        self.clear_button = QPushButton("Clear")
        self.clear_button.setObjectName("clearButton")
        self.clear_button.setToolTip("Erase the drawing (Delete / Backspace)")
        self.clear_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.clear_button.clicked.connect(self.clear)
        button_row = QHBoxLayout()
        button_row.addStretch(1)
        button_row.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addSpacing(side)
        layout.addLayout(button_row)
        self.setFixedSize(side, side + 2 + self.clear_button.sizeHint().height())

    def drawing(self) -> np.ndarray:
        """The ink as a fresh float32 (H, W) array in [0, 1], ink = 1."""
        bytes_per_line = self._image.bytesPerLine()
        raw = np.frombuffer(self._image.constBits(), dtype=np.uint8, count=bytes_per_line * self._side)
        pixels = raw.reshape(self._side, bytes_per_line)[:, : self._side]
        return pixels.astype(np.float32) * np.float32(1 / 255)

    def is_empty(self) -> bool:
        return not self._has_ink

    def clear(self) -> None:
        """The user's Clear: erase and announce it."""
        self.erase()
        self.cleared.emit()

    def erase(self) -> None:
        """Wipe the ink without announcing it, e.g. because another input replaced the drawing."""
        self._image.fill(0)
        self._has_ink = False
        self._last_point = None
        self.update()

    def _canvas_rect(self) -> QRect:
        return QRect(0, 0, self._side, self._side)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(event.rect(), self.palette().window())  # opaque: the strip under the ink is ours too
        painter.drawImage(QPoint(0, 0), self._image)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or not self._canvas_rect().contains(event.position().toPoint()):
            super().mousePressEvent(event)
            return
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self._last_point = event.position()
        self._stroke(self._last_point, self._last_point)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._last_point is None or not event.buttons() & Qt.MouseButton.LeftButton:
            super().mouseMoveEvent(event)
            return
        point = event.position()
        self._stroke(self._last_point, point)
        self._last_point = point

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._last_point = None
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.clear()
            return
        super().keyPressEvent(event)

    def _stroke(self, start: QPointF, end: QPointF) -> None:
        """Paint one segment, repaint only the area it touched, and publish the new pixels."""
        painter = QPainter(self._image)  # no antialiasing: the ink is shrunk tenfold for the model anyway
        painter.setPen(self._pen)
        if start == end:
            painter.drawPoint(start)
        else:
            painter.drawLine(start, end)
        painter.end()
        self._has_ink = True
        margin = int(self._pen.widthF()) + 2
        dirty = QRect(start.toPoint(), end.toPoint()).normalized().adjusted(-margin, -margin, margin, margin)
        self.update(dirty & self._canvas_rect())
        self.drawingChanged.emit(self.drawing())
