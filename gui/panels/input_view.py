"""The input side by side with what the network actually receives, with the receptive field on top."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsRectItem, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from gui.concepts import TOOLTIPS
from gui.two_lines_label import TwoLinesLabel

EMPTY_HINT = "draw a digit or open an image"
THUMBNAIL_SIDE = 160
ERF_OPACITY = 0.75
RF_COLOUR = (255, 200, 40)
Box = tuple[int, int, int, int]


def _erf_lookup_table() -> np.ndarray:
    """Inferno colours whose alpha rises with the value, so weak gradients leave the image visible."""
    table = pg.colormap.get("inferno").getLookupTable(0.0, 1.0, 256, alpha=True)
    table[:, 3] = np.linspace(0, 255, 256).astype(np.ubyte)
    return table


def _image_view_box() -> pg.ViewBox:
    view = pg.ViewBox(lockAspect=True, invertY=True, enableMouse=False, enableMenu=False)
    view.disableAutoRange()
    return view


class InputView(QWidget):
    """Original input beside the model's input, with sample navigation and a receptive-field overlay.

    Every graphics item is created once and only updated, so this keeps up with live drawing.
    Box coordinates are (top, left, bottom, right), half-open, in the model input's pixels.
    """

    previousRequested = Signal()
    nextRequested = Signal()
    randomRequested = Signal()
    openRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inputView")
        self._model_shape: tuple[int, int] | None = None
        self._model_frame: QRectF | None = None

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.addLabel("Original", row=0, col=0)
        self.graphics.addLabel("What the network sees", row=0, col=1)
        self.original_view = _image_view_box()
        self.model_view = _image_view_box()
        self.graphics.addItem(self.original_view, row=1, col=0)
        self.graphics.addItem(self.model_view, row=1, col=1)
        self.graphics.setToolTip(
            f"{TOOLTIPS['receptive field']}\n{TOOLTIPS['effective receptive field']}\n{TOOLTIPS['zero-padding']}"
        )

        self.original_item = pg.ImageItem(axisOrder="row-major")
        self.model_item = pg.ImageItem(axisOrder="row-major")
        self.erf_item = pg.ImageItem(axisOrder="row-major", lut=_erf_lookup_table(), levels=(0.0, 1.0))
        self.erf_item.setOpacity(ERF_OPACITY)
        self.erf_item.setZValue(1)
        self.original_view.addItem(self.original_item)
        self.model_view.addItem(self.model_item)
        self.model_view.addItem(self.erf_item)

        self.image_border = self._rect_item(pg.mkPen(140, 140, 140, width=1, style=Qt.PenStyle.DotLine), z=2)
        self.full_rf_rect = self._rect_item(pg.mkPen(*RF_COLOUR, width=2, style=Qt.PenStyle.DashLine), z=3)
        self.rf_rect = self._rect_item(pg.mkPen(*RF_COLOUR, width=2), z=4)
        self.rf_rect.setBrush(pg.mkBrush(*RF_COLOUR, 40))

        self.original_hint = self._hint(self.original_view)
        self.model_hint = self._hint(self.model_view)

        self.rf_caption = TwoLinesLabel(" ")
        self.rf_caption.setObjectName("receptiveFieldCaption")
        self.rf_caption.setToolTip(TOOLTIPS["effective receptive field"])
        self.caption = QLabel()
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.previous_button = self._button("◀ Previous", "previousSample", "Previous test sample", self.previousRequested)
        self.next_button = self._button("Next ▶", "nextSample", "Next test sample", self.nextRequested)
        self.random_button = self._button("Random", "randomSample", "A random test sample", self.randomRequested)
        self.open_button = self._button(
            "Open image…", "openImage", "Load your own image (PNG, JPEG, …)", self.openRequested
        )
        buttons = QHBoxLayout()
        for button in (self.previous_button, self.next_button, self.random_button, self.open_button):
            buttons.addWidget(button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.rf_caption)
        layout.addWidget(self.caption)
        layout.addLayout(buttons)
        self._original: np.ndarray | None = None
        self.set_images(None, None)

    def set_images(self, original: np.ndarray | None, model_input: np.ndarray | None) -> None:
        """Show a (H,W) gray or (H,W,3) RGB original and a (C,H,W) model input, C 1 or 3, values in [0, 1].

        A model input of a new size drops the receptive field overlay, which was measured on the old one.
        """
        model_pixels = None if model_input is None else _display_model_input(model_input)
        if original is None or original is not self._original:  # a new model shows the same image: keep its
            # thumbnail (shrinking a photo again takes milliseconds)
            original_pixels = None if original is None else display_original(original)
            self._original = original
            self._show(self.original_view, self.original_item, self.original_hint, original_pixels)
        self._show(self.model_view, self.model_item, self.model_hint, model_pixels)
        if model_pixels is None:
            self._model_shape = None
            self.clear_receptive_field()
            self.image_border.hide()
            return
        shape = (model_pixels.shape[0], model_pixels.shape[1])
        if shape != self._model_shape:
            self._model_shape = shape
            self.image_border.setRect(QRectF(0, 0, shape[1], shape[0]))
            self.clear_receptive_field()
            self._fit_model_view()
        self.image_border.show()

    def set_caption(self, text: str) -> None:
        self.caption.setText(text)

    def show_receptive_field(self, box: Box, full_box: Box, erf: np.ndarray | None) -> None:
        """Outline what one unit sees: `box` inside the image (solid), `full_box` including padding (dashed).

        `box` may be empty (bottom == top or right == left) for a unit that sees only padding;
        then only the dashed outline is drawn.
        """
        box = _checked_box("box", box, allow_empty=True)
        full_box = _checked_box("full_box", full_box, allow_empty=False)
        top, left, bottom, right = box
        full_top, full_left, full_bottom, full_right = full_box
        in_image = bottom > top and right > left
        if in_image and not (full_top <= top and full_left <= left and bottom <= full_bottom and right <= full_right):
            raise ValueError(f"box {box} must lie inside full_box {full_box} (it is full_box clipped to the image)")
        if self._model_shape is not None:
            height, width = self._model_shape
            if top < 0 or left < 0 or bottom > height or right > width:
                raise ValueError(f"box {box} must be clipped to the {height}x{width} model input")
        heat = None if erf is None else self._checked_erf(erf)
        self.rf_rect.setRect(_box_rect(box))
        self.full_rf_rect.setRect(_box_rect(full_box))
        self.rf_rect.setVisible(in_image)
        self.full_rf_rect.setVisible(full_box != box)
        if heat is None:
            self.erf_item.clear()
            self.erf_item.hide()
        else:
            self.erf_item.setImage(heat, levels=(0.0, 1.0))
            self.erf_item.show()
        self._fit_model_view()

    def set_receptive_field_caption(self, text: str) -> None:
        """A line about the receptive field on show (e.g. its effective size); it goes with the overlay."""
        self.rf_caption.setText(text or " ")

    def receptive_field_caption(self) -> str:
        return self.rf_caption.text().strip()

    def clear_receptive_field(self) -> None:
        """Drop the overlay; costs nothing when none is shown (it is called on every stroke)."""
        if self.rf_caption.text() != " ":
            self.rf_caption.setText(" ")
        if not (self.rf_rect.isVisible() or self.full_rf_rect.isVisible() or self.erf_item.isVisible()):
            return
        self.rf_rect.hide()
        self.full_rf_rect.hide()
        self.erf_item.clear()
        self.erf_item.hide()
        self._fit_model_view()

    def receptive_field_box(self) -> Box | None:
        """The in-image box as drawn, read back from the solid rectangle item."""
        return _rect_box(self.rf_rect.rect()) if self.rf_rect.isVisible() else None

    def full_receptive_field_box(self) -> Box | None:
        """The unclipped box as drawn: the dashed outline, or the solid one when nothing lies on padding."""
        if self.full_rf_rect.isVisible():
            return _rect_box(self.full_rf_rect.rect())
        return self.receptive_field_box()

    def _checked_erf(self, erf: np.ndarray) -> np.ndarray:
        heat = np.array(erf, dtype=np.float32, copy=True)
        if heat.ndim != 2:
            raise ValueError(f"erf must be a (H, W) array, got shape {heat.shape}")
        if self._model_shape is not None and heat.shape != self._model_shape:
            raise ValueError(f"erf has shape {heat.shape} but the model input is {self._model_shape}")
        if not np.isfinite(heat).all():
            raise ValueError("erf contains NaN or infinity")
        return heat

    def _fit_model_view(self) -> None:
        """Frame the model input, widened to the full receptive field when it reaches onto padding."""
        if self._model_shape is None:
            return
        height, width = self._model_shape
        frame = QRectF(0, 0, width, height)
        if self.full_rf_rect.isVisible():
            frame = frame.united(self.full_rf_rect.rect())
        if frame != self._model_frame:
            self._model_frame = frame
            self.model_view.setRange(rect=frame, padding=0.02)

    def _show(self, view: pg.ViewBox, item: pg.ImageItem, hint: pg.TextItem, pixels: np.ndarray | None) -> None:
        if pixels is None:
            item.clear()
            hint.show()
            view.setRange(rect=QRectF(0, 0, 1, 1), padding=0.0)
            if view is self.model_view:
                self._model_frame = None
            return
        hint.hide()
        previous_shape = None if item.image is None else item.image.shape
        item.setImage(pixels, levels=(0.0, 1.0))
        if view is self.original_view and pixels.shape != previous_shape:
            view.setRange(rect=QRectF(0, 0, pixels.shape[1], pixels.shape[0]), padding=0.02)

    def _rect_item(self, pen, z: float) -> QGraphicsRectItem:
        item = QGraphicsRectItem()
        item.setPen(pen)
        item.setZValue(z)
        item.hide()
        self.model_view.addItem(item)
        return item

    def _button(self, text: str, name: str, tooltip: str, signal: Signal) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setToolTip(tooltip)
        button.clicked.connect(signal.emit)
        return button

    @staticmethod
    def _hint(view: pg.ViewBox) -> pg.TextItem:
        hint = pg.TextItem(EMPTY_HINT, color=(180, 180, 180), anchor=(0.5, 0.5))
        hint.setPos(0.5, 0.5)
        view.addItem(hint)
        return hint


def display_original(original: np.ndarray) -> np.ndarray:
    """A copy to draw, shrunk by whole-pixel averaging to at most THUMBNAIL_SIDE: the panel shows it
    about that size, and the canvas's 280 px drawing arrives on every stroke."""
    pixels = np.asarray(original, dtype=np.float32)
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)):
        raise ValueError(f"original must be (H, W) gray or (H, W, 3) RGB, got shape {pixels.shape}")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ValueError(f"original is empty: shape {pixels.shape}")
    factor = -(-max(pixels.shape[:2]) // THUMBNAIL_SIDE)
    if factor == 1:
        return pixels.copy()
    height, width = (pixels.shape[0] // factor) * factor, (pixels.shape[1] // factor) * factor
    if height == 0 or width == 0:  # a sliver: keep every pixel
        return pixels.copy()
    total = sum(pixels[dy:height:factor, dx:width:factor] for dy in range(factor) for dx in range(factor))
    return (total / np.float32(factor * factor)).astype(np.float32)


def _display_model_input(model_input: np.ndarray) -> np.ndarray:
    """(C, H, W) to what ImageItem draws row-major: (H, W) for one channel, (H, W, 3) for three."""
    tensor = np.asarray(model_input, dtype=np.float32)
    if tensor.ndim != 3 or tensor.shape[0] not in (1, 3):
        raise ValueError(f"model input must be (C, H, W) with C 1 or 3, got shape {tensor.shape}")
    if tensor.shape[1] == 0 or tensor.shape[2] == 0:
        raise ValueError(f"model input is empty: shape {tensor.shape}")
    if tensor.shape[0] == 1:
        return tensor[0].copy()
    return tensor.transpose(1, 2, 0).copy()


def _checked_box(label: str, box: Box, allow_empty: bool) -> Box:
    values = tuple(box)
    if len(values) != 4 or not all(isinstance(v, (int, np.integer)) for v in values):
        raise ValueError(f"{label} must be four integers (top, left, bottom, right), got {box!r}")
    top, left, bottom, right = (int(v) for v in values)
    if bottom < top or right < left or (not allow_empty and (bottom == top or right == left)):
        raise ValueError(f"{label} {box!r} is empty: bottom must exceed top and right must exceed left")
    return top, left, bottom, right


def _box_rect(box: Box) -> QRectF:
    top, left, bottom, right = box
    return QRectF(left, top, right - left, bottom - top)


def _rect_box(rect: QRectF) -> Box:
    return round(rect.top()), round(rect.left()), round(rect.bottom()), round(rect.right())
