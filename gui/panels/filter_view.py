"""A conv layer's learned filters as one mosaic, coloured so that zero weight is always the same colour."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QStackedWidget, QVBoxLayout, QWidget

from gui.colormaps import DIVERGING, DIVERGING_LUT, GRAY, GRAY_LUT
from gui.concepts import TOOLTIPS
from gui.mosaic import tile

ALL_INPUTS = "all input channels"
MEAN_OVER_INPUTS = "mean over input channels"


class FilterShapeError(ValueError):
    """The weights are not a conv layer's (out_channels, in_channels, kh, kw) array."""


class FilterView(QWidget):
    """Shows the weights of one conv layer: RGB or gray patches for the first layer, a diverging map deeper."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._weights: np.ndarray | None = None
        self._first_layer = False
        self._layer_name = ""
        self._drawn = np.zeros((0, 0), dtype=np.float32)
        self._drawn_shape: tuple[int, ...] | None = None
        self._colormap: pg.ColorMap | None = None

        self._title = QLabel("no layer")
        self._title.setToolTip(TOOLTIPS["filter"])
        self._mode = QComboBox()
        self._mode.addItems([ALL_INPUTS, MEAN_OVER_INPUTS])
        self._mode.setToolTip(
            "A deeper filter has one k x k slice per input channel: show every slice "
            "(a row per filter), or their mean (one tile per filter)."
        )
        self._mode.currentTextChanged.connect(self._render)
        self._range_label = QLabel("")
        self._message = QLabel("")
        self._message.setWordWrap(True)

        self._graphics = pg.GraphicsLayoutWidget()
        self._graphics.setBackground("k")
        self._viewbox = self._graphics.addViewBox(row=0, col=0, lockAspect=True, invertY=True, enableMenu=False)
        self._image = pg.ImageItem(axisOrder="row-major")
        self._viewbox.addItem(self._image)
        self._colorbar = pg.ColorBarItem(values=(-1.0, 1.0), colorMap=DIVERGING, interactive=False, width=12)
        self._graphics.addItem(self._colorbar, row=0, col=1)

        self._stack = QStackedWidget()
        self._stack.addWidget(self._graphics)
        self._stack.addWidget(self._message)

        header = QHBoxLayout()
        header.addWidget(self._title, 1)
        header.addWidget(self._mode)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(header)
        layout.addWidget(self._stack, 1)
        layout.addWidget(self._range_label)

    def set_filters(self, weights: np.ndarray, layer_name: str, first_layer: bool) -> None:
        """Show a conv layer's weights shaped (out_channels, in_channels, kh, kw)."""
        weights = np.asarray(weights)
        if weights.ndim != 4 or weights.size == 0:
            raise FilterShapeError(
                f"{layer_name or 'layer'}: filters must be (out_channels, in_channels, kh, kw), "
                f"got shape {weights.shape}"
            )
        if not np.issubdtype(weights.dtype, np.number) or np.iscomplexobj(weights):
            raise FilterShapeError(f"{layer_name or 'layer'}: filters must be real numbers, got dtype {weights.dtype}")
        self._weights = weights.astype(np.float32, copy=False)
        self._layer_name = layer_name
        self._first_layer = first_layer
        self._mode.setEnabled(not first_layer)
        self._stack.setCurrentWidget(self._graphics)
        self._render()

    def show_message(self, text: str) -> None:
        """Replace the filters with an explanation, for layers that have no filters to show."""
        self._weights = None
        self._drawn = np.zeros((0, 0), dtype=np.float32)
        self._image.clear()
        self._drawn_shape = None
        self._message.setText(text)
        self._title.setText("")
        self._range_label.setText("")
        self._mode.setEnabled(False)
        self._stack.setCurrentWidget(self._message)

    def message(self) -> str:
        return self._message.text() if self._stack.currentWidget() is self._message else ""

    def mosaic(self) -> np.ndarray:
        """What is drawn: (rows, cols) weights, or (rows, cols, 3) in [0, 1] for an RGB first layer."""
        return self._drawn

    def levels(self) -> tuple[float, float]:
        low, high = self._image.getLevels()
        return float(low), float(high)

    def weight_range(self) -> tuple[float, float]:
        """Smallest and largest weight of the layer; NaN when no filters are shown."""
        if self._weights is None:
            return float("nan"), float("nan")
        return float(np.nanmin(self._weights)), float(np.nanmax(self._weights))

    def range_text(self) -> str:
        return self._range_label.text()

    def _render(self) -> None:
        weights = self._weights
        if weights is None:
            return
        low, high = self.weight_range()
        bound = max(abs(low), abs(high)) or 1.0
        out_channels, in_channels = weights.shape[:2]
        if self._first_layer and in_channels == 3:
            # Zero weight maps to mid-gray in every channel, so colour shows which way a filter leans.
            rgb = 0.5 + weights / (2 * bound)
            drawn = np.stack([tile(rgb[:, channel]) for channel in range(3)], axis=-1)
            self._show(drawn, (0.0, 1.0), None, None)
        elif self._first_layer:
            self._show(tile(weights.mean(axis=1)), (-bound, bound), GRAY_LUT, GRAY)
        elif self._mode.currentText() == ALL_INPUTS:
            # One column per filter, one row per input channel: deep layers have more filters than
            # inputs, so this lies wide like the panel.
            slices = weights.transpose(1, 0, 2, 3).reshape(in_channels * out_channels, *weights.shape[2:])
            self._show(tile(slices, columns=out_channels), (-bound, bound), DIVERGING_LUT, DIVERGING)
        else:
            self._show(tile(weights.mean(axis=1)), (-bound, bound), DIVERGING_LUT, DIVERGING)
        kind = f"{out_channels} filters of {in_channels} x {weights.shape[2]} x {weights.shape[3]}"
        self._title.setText(f"{self._layer_name} · {kind}")
        self._range_label.setText(f"weights: min {low:.3g} · max {high:.3g} · colour scale ±{bound:.3g}")

    def _show(
        self, drawn: np.ndarray, levels: tuple[float, float], lut: np.ndarray | None, colormap: pg.ColorMap | None
    ) -> None:
        self._drawn = drawn
        self._image.setImage(drawn, autoLevels=False, levels=levels, lut=lut, axisOrder="row-major")
        self._colorbar.setVisible(colormap is not None)
        if colormap is not None and colormap is not self._colormap:
            self._colorbar.setColorMap(colormap)
        self._colormap = colormap
        self._colorbar.setLevels(levels, update_items=False)
        if drawn.shape != self._drawn_shape:
            self._drawn_shape = drawn.shape
            self._viewbox.setRange(xRange=(0, drawn.shape[1]), yRange=(0, drawn.shape[0]), padding=0.02)
