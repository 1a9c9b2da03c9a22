"""All feature maps of one layer as a single colour-mapped mosaic, hoverable down to the unit.

The whole layer is one ImageItem fed one float32 mosaic: that is what keeps repainting on every
mouse-move cheap (one item draws 600+ mosaics/s where 64 separate views manage ~120/s).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QComboBox, QGraphicsPathItem, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui.colormaps import DIVERGING, DIVERGING_LUT, SEQUENTIAL, SEQUENTIAL_LUT
from gui.concepts import TOOLTIPS
from gui.quiet_label import QuietLabel
from gui.mosaic import cell_origin, grid_shape, locate, normalize_per_map, tile

SHARED = "shared"
PER_MAP = "per map"
MAPS_TOOLTIP = (
    "Hover a unit: its value and its receptive field on the input. Click a map: enlarge it (click or Esc: back). "
    "Right-click or Ctrl+click a map: switch that channel off or on (the Channels tab shows what it changes)."
)


class FeatureMapShapeError(ValueError):
    """The activations are neither (C, H, W) maps nor an (N,) vector."""


class FeatureMapView(QWidget):
    """Shows one layer's activations; emits which unit the user points at or clicks, and which channel
    the user switches off or on (right-click or Ctrl+click); switched-off channels are drawn crossed out."""

    unitHovered = Signal(int, int, int)
    unitClicked = Signal(int, int, int)
    unitLeft = Signal()
    channelToggled = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._maps = np.zeros((1, 1, 1), dtype=np.float32)
        self._is_vector = False
        self._layer_name = ""
        self._grid = (1, 1)
        self._enlarged: int | None = None
        self._hovered: tuple[int, int, int] | None = None
        self._drawn = np.full((1, 1), np.nan, dtype=np.float32)
        self._drawn_shape: tuple[int, int] | None = None
        self._signed: bool | None = None
        self._levels: tuple[float, float] | None = None
        self._empty = True
        self._scaled: dict[int, float] = {}

        self._title = QLabel("no layer")
        self._title.setToolTip(f"{TOOLTIPS['feature map']}\n\n{MAPS_TOOLTIP}")
        self._scaling = QComboBox()
        self._scaling.addItems([SHARED, PER_MAP])
        self._scaling.setToolTip(
            "shared: one colour scale for the whole layer, so maps compare directly; "
            "per map: each map stretched to its own range, so weak maps stay visible."
        )
        self._scaling.currentTextChanged.connect(self._render)
        self._range_label = QuietLabel("")
        self._hover_label = QuietLabel(" ")
        self._hover_label.setToolTip(MAPS_TOOLTIP)

        self._graphics = pg.GraphicsLayoutWidget()
        self._graphics.setBackground("k")
        self._viewbox = self._graphics.addViewBox(
            row=0, col=0, lockAspect=True, invertY=True, enableMouse=False, enableMenu=False
        )
        self._image = pg.ImageItem(axisOrder="row-major")
        self._viewbox.addItem(self._image)
        self._off_marks = QGraphicsPathItem()  # channels switched off: dimmed and crossed out
        self._off_marks.setPen(_cosmetic_pen(QColor(255, 60, 60), 2))
        self._off_marks.setBrush(QColor(0, 0, 0, 150))
        self._scaled_marks = QGraphicsPathItem()  # channels scaled by another factor: outlined
        self._scaled_marks.setPen(_cosmetic_pen(QColor(255, 170, 40), 2))
        for marks in (self._off_marks, self._scaled_marks):
            marks.setZValue(10)
            self._viewbox.addItem(marks)
        self._colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=SEQUENTIAL, interactive=False, width=12)
        self._graphics.addItem(self._colorbar, row=0, col=1)

        # Mouse moves come through an event filter, not scene.sigMouseMoved: pyqtgraph rate-limits that
        # signal and can drop the last move, leaving the hover readout on a unit the pointer has left.
        self._graphics.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self._graphics.viewport().installEventFilter(self)
        self._graphics.installEventFilter(self)

        header = QHBoxLayout()
        header.addWidget(self._title, 1)
        header.addWidget(QLabel("scale:"))
        header.addWidget(self._scaling)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(header)
        layout.addWidget(self._graphics, 1)
        layout.addWidget(self._range_label)
        layout.addWidget(self._hover_label)

    def set_maps(self, maps: np.ndarray, layer_name: str = "") -> None:
        """Show a layer's activations: (C, H, W) as a grid of maps, (N,) as a near-square grid of units."""
        maps = np.asarray(maps)
        if maps.ndim not in (1, 3) or maps.size == 0:
            raise FeatureMapShapeError(
                f"feature maps must be (channels, height, width) or a flat (units,) vector, got shape {maps.shape}"
            )
        if not np.issubdtype(maps.dtype, np.number) or np.iscomplexobj(maps):
            raise FeatureMapShapeError(f"feature maps must be real numbers, got dtype {maps.dtype}")
        is_vector = maps.ndim == 1
        maps = maps.reshape(-1, 1, 1) if is_vector else maps
        if layer_name != self._layer_name or maps.shape != self._maps.shape:
            self._enlarged = None
            self._hovered = None
            self._hover_label.setText(" ")  # its unit is not on show any more
        self._maps = maps.astype(np.float32, copy=False)
        self._is_vector = is_vector
        self._layer_name = layer_name
        self._grid = grid_shape(*self._maps.shape)
        self._scaling.setEnabled(not is_vector)
        self._empty = False
        self._render()
        if self._hovered is not None:
            self._show_value(*self._hovered)  # the unit under the pointer, with its new value

    def show_message(self, text: str) -> None:
        """No maps (e.g. no input): an empty view and a line saying why, never the last input's maps."""
        self._maps = np.zeros((1, 1, 1), dtype=np.float32)
        self._is_vector = False
        self._enlarged = None
        self._hovered = None
        self._grid = (1, 1)
        self._drawn = np.full((1, 1), np.nan, dtype=np.float32)
        self._image.clear()
        self._scaled = {}
        self._draw_marks()
        self._title.setText(text)
        self._range_label.setText("")
        self._hover_label.setText(" ")
        self._empty = True

    def is_empty(self) -> bool:
        return self._empty

    def set_scaled_channels(self, factors: Mapping[int, float]) -> None:
        """Mark the channels an intervention scales ({channel: factor}; factor 0 = switched off)."""
        factors = {int(channel): float(factor) for channel, factor in factors.items()}
        if factors != self._scaled:
            self._scaled = factors
            self._draw_marks()
            self._render_title()

    def scaled_channels(self) -> dict[int, float]:
        return dict(self._scaled)

    def show_grid(self) -> None:
        """Leave the single-map view and show the whole layer again."""
        if self._enlarged is not None:
            self._enlarged = None
            self._render()

    def grid_shape(self) -> tuple[int, int]:
        return self._grid

    def map_count(self) -> int:
        return self._maps.shape[0]

    def map_shape(self) -> tuple[int, int]:
        return self._maps.shape[1], self._maps.shape[2]

    def mosaic(self) -> np.ndarray:
        """The array being drawn (scaled values, NaN in the gaps); read it, don't write to it."""
        return self._drawn

    def levels(self) -> tuple[float, float]:
        """The value range mapped onto the colormap's ends."""
        low, high = self._image.getLevels()
        return float(low), float(high)

    def enlarged_map(self) -> int | None:
        return self._enlarged

    def view_widget(self) -> pg.GraphicsLayoutWidget:
        return self._graphics

    def legend_text(self) -> str:
        """The value range the colours stand for, as the legend states it."""
        return self._range_label.text()

    def hover_text(self) -> str:
        return self._hover_label.text()

    def title_text(self) -> str:
        return self._title.text()

    def unit_position(self, channel: int, row: int, col: int) -> QPoint:
        """Centre of a unit in the view's viewport coordinates, where a mouse event would hit it."""
        h, w = self.map_shape()
        if self._enlarged is None:
            top, left = cell_origin(channel, h, w, self._grid[1], self._gap())
        elif channel == self._enlarged:
            top, left = 0, 0
        else:
            raise ValueError(f"map {channel} is not on screen: map {self._enlarged} is enlarged")
        scene_point = self._viewbox.mapViewToScene(QPointF(left + col + 0.5, top + row + 0.5))
        return self._graphics.mapFromScene(scene_point)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._graphics.viewport() and event.type() == QEvent.Type.MouseMove:
            self._set_hovered(self._unit_at(self._graphics.mapToScene(event.position().toPoint())))
        elif watched is self._graphics.viewport() and event.type() == QEvent.Type.Leave:
            self._set_hovered(None)
        elif (
            watched is self._graphics
            and event.type() == QEvent.Type.KeyPress
            and event.key() == Qt.Key.Key_Escape
            and self._enlarged is not None
        ):
            self.show_grid()
            return True
        return super().eventFilter(watched, event)

    def _gap(self) -> int:
        return 0 if self._is_vector else 1

    def _render(self) -> None:
        if self._empty:
            return
        maps = self._maps
        finite_low, finite_high = _finite_range(maps)
        signed = finite_low < 0 < finite_high
        per_map = self._scaling.currentText() == PER_MAP and not self._is_vector
        shown = maps if self._enlarged is None else maps[self._enlarged : self._enlarged + 1]
        if per_map:
            shown = normalize_per_map(shown, symmetric=signed)
            levels = (-1.0, 1.0) if signed else (0.0, 1.0)
            self._range_label.setText(
                f"per map: each map stretched to its own range · layer range {finite_low:.3g} … {finite_high:.3g}"
            )
        else:
            levels = nice_levels(finite_low, finite_high, signed)
            self._range_label.setText(f"range {finite_low:.3g} … {finite_high:.3g}")
        columns = self._grid[1] if self._enlarged is None else 1
        self._drawn = tile(shown, columns=columns, gap=self._gap())
        if signed != self._signed:
            self._signed = signed
            self._colorbar.setColorMap(DIVERGING if signed else SEQUENTIAL)
        if levels != self._levels:  # the colour bar's axis is the costliest thing to repaint
            self._levels = levels
            self._colorbar.setLevels(levels, update_items=False)
        self._image.setImage(
            self._drawn,
            autoLevels=False,
            levels=levels,
            lut=DIVERGING_LUT if signed else SEQUENTIAL_LUT,
            axisOrder="row-major",
        )
        if self._drawn.shape != self._drawn_shape:
            self._drawn_shape = self._drawn.shape
            height, width = self._drawn.shape
            self._viewbox.setRange(xRange=(0, width), yRange=(0, height), padding=0.02)
        if self._scaled:
            self._draw_marks()
        self._render_title()
        if self._hovered is not None:
            self._show_value(*self._hovered)

    def _render_title(self) -> None:
        if self._empty:
            return
        title = self._layer_name or "layer"
        off = sum(1 for factor in self._scaled.values() if factor == 0)
        if off:
            title += f" · {off} switched off"
        if len(self._scaled) > off:
            title += f" · {len(self._scaled) - off} scaled"
        if self._enlarged is not None:
            title += f" · map {self._enlarged} (click or Esc: back to all maps)"
        self._title.setText(title)

    def _draw_marks(self) -> None:
        off, scaled = QPainterPath(), QPainterPath()
        if not self._empty:
            h, w = self.map_shape()
            for channel, factor in self._scaled.items():
                if channel >= self.map_count() or (self._enlarged is not None and channel != self._enlarged):
                    continue
                top, left = (0, 0) if self._enlarged is not None else cell_origin(channel, h, w, self._grid[1], self._gap())
                cell = QRectF(left, top, w, h)
                if factor == 0:
                    off.addRect(cell)
                    off.moveTo(cell.topLeft())
                    off.lineTo(cell.bottomRight())
                    off.moveTo(cell.topRight())
                    off.lineTo(cell.bottomLeft())
                else:
                    scaled.addRect(cell)
        self._off_marks.setPath(off)
        self._scaled_marks.setPath(scaled)

    def _unit_at(self, scene_pos: QPointF) -> tuple[int, int, int] | None:
        if self._empty or not self._viewbox.sceneBoundingRect().contains(scene_pos):
            return None
        point = self._viewbox.mapSceneToView(scene_pos)
        h, w = self.map_shape()
        if self._enlarged is None:
            columns, count, first = self._grid[1], self.map_count(), 0
        else:
            columns, count, first = 1, 1, self._enlarged
        found = locate(math.floor(point.y()), math.floor(point.x()), h, w, columns, self._gap(), count=count)
        if found is None:
            return None
        index, row, col = found
        return first + index, row, col

    def _on_mouse_clicked(self, event) -> None:
        toggle = event.button() == Qt.MouseButton.RightButton or (
            event.button() == Qt.MouseButton.LeftButton and event.modifiers() & Qt.KeyboardModifier.ControlModifier
        )
        if event.button() != Qt.MouseButton.LeftButton and not toggle:
            return
        unit = self._unit_at(event.scenePos())
        if unit is None:
            return
        if toggle:
            self.channelToggled.emit(unit[0])
            return
        self.unitClicked.emit(*unit)
        if self._enlarged is not None:
            self.show_grid()
        elif not self._is_vector:
            self._enlarged = unit[0]
            self._render()

    def _set_hovered(self, unit: tuple[int, int, int] | None) -> None:
        if unit == self._hovered:
            return
        self._hovered = unit
        if unit is None:
            self._hover_label.setText(" ")
            self.unitLeft.emit()
            return
        self._show_value(*unit)
        self.unitHovered.emit(*unit)

    def _show_value(self, channel: int, row: int, col: int) -> None:
        value = self._maps[channel, row, col]
        name = self._layer_name or "layer"
        where = f"unit {channel}" if self._is_vector else f"map {channel} · ({row}, {col})"
        self._hover_label.setText(f"{name} · {where} = {value:.3f}")


def _cosmetic_pen(colour: QColor, width: float) -> QPen:
    """A pen as wide on screen whatever the zoom (the mosaic is drawn at one unit per map pixel)."""
    pen = QPen(colour, width)
    pen.setCosmetic(True)
    return pen


def _finite_range(maps: np.ndarray) -> tuple[float, float]:
    """Min and max ignoring NaN/inf, so one diverged unit does not blank the whole layer."""
    low, high = float(maps.min()), float(maps.max())
    if math.isfinite(low) and math.isfinite(high):
        return low, high
    finite = maps[np.isfinite(maps)]
    if finite.size == 0:
        return 0.0, 0.0
    return float(finite.min()), float(finite.max())


NICE_STEPS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def nice_levels(low: float, high: float, signed: bool) -> tuple[float, float]:
    """The colour scale's ends: the data range widened to round numbers, so it holds still while the
    user draws (each stroke moves the range a little) and its labels read cleanly."""
    if signed:
        bound = _nice_up(max(-low, high))
        return -bound, bound
    top = _nice_up(high) if high >= 0 else -_nice_down(-high)
    bottom = _nice_down(low) if low >= 0 else -_nice_up(-low)
    return (bottom, top) if top > bottom else (bottom, bottom + 1.0)


def _nice_up(value: float) -> float:
    """The smallest round number >= value (0 stays 0)."""
    if value <= 0:
        return 0.0
    scale = 10.0 ** math.floor(math.log10(value))
    return next(step * scale for step in NICE_STEPS if step * scale >= value * (1 - 1e-9))


def _nice_down(value: float) -> float:
    """The largest round number <= value (0 stays 0)."""
    if value <= 0:
        return 0.0
    scale = 10.0 ** math.floor(math.log10(value))
    return max(step * scale for step in (0.0, *NICE_STEPS) if step * scale <= value * (1 + 1e-9))
