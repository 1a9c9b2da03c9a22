"""Where a layer puts each test sample: a 2-D scatter coloured by true label, misclassified samples
drawn as crosses, the samples of a chosen confusion-matrix cell ringed, the input on show starred.

A dumb panel: the binder hands it points and pictures; it reports which point the pointer is over and
which one was clicked (picked by distance on screen, so dense clusters still give the nearest point).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QImage, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.task_progress import show_busy, show_progress

PICK_RADIUS_PX = 8
THUMBNAIL_PX = 112
FOLLOW = ""  # the layer entry that follows the layer on show
PALETTE = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
]  # matplotlib's tab10: ten classes told apart at a glance


def class_colour(index: int, count: int) -> tuple[int, int, int]:
    if count <= len(PALETTE):
        return PALETTE[index]
    colour = pg.intColor(index, hues=count)
    return colour.red(), colour.green(), colour.blue()


class EmbeddingView(QWidget):
    layerChosen = Signal(str)  # a layer name, or FOLLOW
    methodRequested = Signal(str)  # "pca" or "tsne"
    cancelRequested = Signal()
    pointHovered = Signal(int)  # position in the points, or -1 when the pointer left them
    pointClicked = Signal(int)
    shown = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("embeddingView")
        self._points = np.zeros((0, 2), dtype=np.float32)
        self._labels = np.zeros(0, dtype=np.int64)
        self._highlight = np.zeros(0, dtype=bool)
        self._hovered = -1
        self._starred = -1

        self._layer = QComboBox()
        self._layer.setObjectName("embeddingLayer")
        self._layer.setToolTip("The layer whose activations are projected; by default the layer on show.")
        self._layer.activated.connect(lambda index: self.layerChosen.emit(self._layer.itemData(index)))
        self.pca_button = QPushButton("PCA")
        self.pca_button.setObjectName("pcaButton")
        self.pca_button.setToolTip("Principal components: the two directions of largest variance (at once).")
        self.pca_button.clicked.connect(lambda: self.methodRequested.emit("pca"))
        self.tsne_button = QPushButton("t-SNE")
        self.tsne_button.setObjectName("tsneButton")
        self.tsne_button.setToolTip(
            "t-SNE keeps neighbours together, so clusters show better; it takes seconds and cannot stop "
            "half-way (Cancel drops its result)."
        )
        self.tsne_button.clicked.connect(lambda: self.methodRequested.emit("tsne"))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelEmbedding")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.progress = QProgressBar()
        self.progress.setObjectName("embeddingProgress")
        self.progress.setFormat("")
        controls = QHBoxLayout()
        controls.addWidget(QLabel("layer"))
        controls.addWidget(self._layer)
        controls.addWidget(self.pca_button)
        controls.addWidget(self.tsne_button)
        controls.addWidget(self.cancel_button)
        controls.addWidget(self.progress, 1)

        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setBackground("k")
        self._scatter = pg.ScatterPlotItem(pxMode=True, size=6, pen=None)
        self._wrong = pg.ScatterPlotItem(pxMode=True, size=9, symbol="x", pen=None)
        self._ringed = pg.ScatterPlotItem(pxMode=True, size=13, symbol="o", brush=None, pen=pg.mkPen("w", width=1.5))
        self._current = pg.ScatterPlotItem(
            pxMode=True, size=20, symbol="star", brush=pg.mkBrush(255, 255, 255, 90), pen=pg.mkPen("w", width=2)
        )
        for z, item in enumerate((self._scatter, self._wrong, self._ringed, self._current)):
            item.setZValue(z)
            self.plot.addItem(item)
        self._legend = pg.LegendItem(offset=(-4, 4), labelTextColor="w", brush=pg.mkBrush(0, 0, 0, 160))
        self._legend.setParentItem(self.plot.getPlotItem().getViewBox())
        self.plot.scene().sigMouseClicked.connect(self._on_clicked)
        self.plot.viewport().installEventFilter(self)

        self.thumbnail = QLabel()
        self.thumbnail.setObjectName("embeddingThumbnail")
        self.thumbnail.setFixedSize(THUMBNAIL_PX, THUMBNAIL_PX)
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setStyleSheet("background: black;")
        self.thumbnail_caption = QLabel("Hover a point to see its sample; click it to show it.")
        self.thumbnail_caption.setObjectName("embeddingThumbnailCaption")
        self.thumbnail_caption.setWordWrap(True)
        self.thumbnail_caption.setFixedWidth(THUMBNAIL_PX + 40)
        side = QVBoxLayout()
        side.addWidget(self.thumbnail)
        side.addWidget(self.thumbnail_caption)
        side.addStretch(1)
        middle = QHBoxLayout()
        middle.addWidget(self.plot, 1)
        middle.addLayout(side)
        self.caption = QLabel("")
        self.caption.setObjectName("embeddingCaption")
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        layout.addLayout(middle, 1)
        layout.addWidget(self.caption)

    # ----------------------------------------------------------------- data in

    def set_layers(self, names: Sequence[str], shown_layer: str, chosen: str = FOLLOW) -> None:
        """The layers to choose from; the first entry follows the layer on show (named in brackets)."""
        self._layer.clear()
        self._layer.addItem(f"layer on show ({shown_layer})", FOLLOW)
        for name in names:
            self._layer.addItem(name, name)
        index = self._layer.findData(chosen)
        self._layer.setCurrentIndex(max(index, 0))

    def set_points(
        self, points: np.ndarray, labels: np.ndarray, misclassified: np.ndarray, classes: Sequence[str], caption: str
    ) -> None:
        """One point per sample, coloured by its label (an index into ``classes``)."""
        points = np.asarray(points, dtype=np.float32)
        labels = np.asarray(labels, dtype=np.int64)
        misclassified = np.asarray(misclassified, dtype=bool)
        if points.ndim != 2 or points.shape[1] != 2 or not len(points) == len(labels) == len(misclassified):
            raise ValueError(f"need (N, 2) points with N labels, got {points.shape} and {labels.shape}")
        self._points, self._labels = points, labels
        colours = [class_colour(i, len(classes)) for i in range(len(classes))]
        brushes = np.array([pg.mkBrush(*colour) for colour in colours], dtype=object)
        pens = np.array([pg.mkPen(*colour, width=2) for colour in colours], dtype=object)
        right = ~misclassified
        self._scatter.setData(x=points[right, 0], y=points[right, 1], brush=list(brushes[labels[right]]))
        self._wrong.setData(x=points[misclassified, 0], y=points[misclassified, 1], pen=list(pens[labels[misclassified]]))
        self._legend.clear()
        for name, colour in zip(classes, colours):
            self._legend.addItem(pg.ScatterPlotItem(size=8, brush=pg.mkBrush(*colour), pen=None), str(name))
        self._legend.addItem(pg.ScatterPlotItem(size=9, symbol="x", pen=pg.mkPen("w", width=2)), "misclassified")
        self.caption.setText(caption)
        self.set_highlight(None)
        self.set_current(-1, force=True)

    def set_highlight(self, mask: np.ndarray | None) -> None:
        """Ring these points (e.g. one confusion-matrix cell); None rings none."""
        mask = np.zeros(len(self._points), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        self._highlight = mask
        self._ringed.setData(x=self._points[mask, 0], y=self._points[mask, 1])

    def set_current(self, position: int, force: bool = False) -> None:
        """Star the point of the input on show (-1: none of them is)."""
        position = position if 0 <= position < len(self._points) else -1
        if position == self._starred and not force:
            return  # a pen stroke changes the input, not the star: no repaint of a thousand points
        self._starred = position
        if position >= 0:
            self._current.setData(x=self._points[position : position + 1, 0], y=self._points[position : position + 1, 1])
        else:
            self._current.setData(x=[], y=[])

    def show_thumbnail(self, image: np.ndarray, caption: str) -> None:
        """A sample's picture, (H, W) or (H, W, 3) in [0, 1]."""
        pixels = np.ascontiguousarray(np.clip(np.asarray(image) * 255, 0, 255).astype(np.uint8))
        height, width = pixels.shape[:2]
        if pixels.ndim == 2:
            qimage = QImage(pixels.data, width, height, width, QImage.Format.Format_Grayscale8)
        else:
            qimage = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
        pixmap = QPixmap.fromImage(qimage.copy()).scaled(
            THUMBNAIL_PX, THUMBNAIL_PX, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
        )
        self.thumbnail.setPixmap(pixmap)
        self.thumbnail_caption.setText(caption)

    def show_message(self, text: str) -> None:
        """No points (e.g. the layer cannot be embedded): say why."""
        self._points = np.zeros((0, 2), dtype=np.float32)
        self._labels = np.zeros(0, dtype=np.int64)
        for item in (self._scatter, self._wrong, self._ringed, self._current):
            item.setData(x=[], y=[])
        self._starred = -1
        self._legend.clear()
        self.caption.setText(text)

    def set_busy(self, busy: bool, text: str = "") -> None:
        show_busy(self.progress, self.cancel_button, busy, text)

    def set_progress(self, done: int, total: int) -> None:
        show_progress(self.progress, done, total)

    # ----------------------------------------------------------------- read back (tests)

    def point_count(self) -> int:
        return len(self._points)

    def highlighted(self) -> np.ndarray:
        return self._highlight.copy()

    def point_position(self, position: int) -> QPoint:
        """Where a point is drawn, in the plot viewport's coordinates (where a click would hit it)."""
        x, y = self._points[position]
        scene = self.plot.getPlotItem().getViewBox().mapViewToScene(QPointF(float(x), float(y)))
        return self.plot.mapFromScene(scene)

    def point_at(self, viewport_pos: QPointF) -> int:
        """The point nearest to a viewport position within PICK_RADIUS_PX, or -1."""
        if not len(self._points):
            return -1
        box = self.plot.getPlotItem().getViewBox()
        scene = self.plot.mapToScene(viewport_pos.toPoint())
        if not box.sceneBoundingRect().contains(scene):
            return -1
        point = box.mapSceneToView(scene)
        per_pixel_x, per_pixel_y = box.viewPixelSize()
        distance = ((self._points[:, 0] - point.x()) / per_pixel_x) ** 2 + ((self._points[:, 1] - point.y()) / per_pixel_y) ** 2
        nearest = int(np.argmin(distance))
        return nearest if distance[nearest] <= PICK_RADIUS_PX**2 else -1

    # ----------------------------------------------------------------- events

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.plot.viewport():
            if event.type() == QEvent.Type.MouseMove:
                self._set_hovered(self.point_at(event.position()))
            elif event.type() == QEvent.Type.Leave:
                self._set_hovered(-1)
        return super().eventFilter(watched, event)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.shown.emit()

    def _set_hovered(self, position: int) -> None:
        if position != self._hovered:
            self._hovered = position
            self.pointHovered.emit(position)

    def _on_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        position = self.point_at(QPointF(self.plot.mapFromScene(event.scenePos())))
        if position >= 0:
            self.pointClicked.emit(position)
