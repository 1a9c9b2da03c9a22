"""Which input pixels make the network say a class: a heatmap over the input, with its colour scale.

A dumb panel: the binder hands it the picture, the heatmap and the texts; it sends back which method,
class, second class and layer the user picked. The input is drawn dimmed with the heatmap over it
(transparent where the map is near 0), and the heatmap alone beside it with its colour bar: a
diverging scale centred on 0 for signed maps ("for" red, "against" blue), a sequential one otherwise.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.task_progress import show_busy, show_progress

PREDICTED = -1  # the class entry that follows the prediction
NO_CLASS = -1  # no second class to compare with
OVERLAY_ALPHA = 220  # opacity of the strongest heatmap value over the input


@cache
def colormap(signed: bool) -> pg.ColorMap:
    """Red-blue about 0 for signed maps, inferno for the others (read on first use: start-up matters)."""
    return pg.colormap.get("CET-D1" if signed else "inferno")


@cache
def lookup_table(signed: bool, alpha: bool) -> np.ndarray:
    """256 colours; with ``alpha`` the opacity grows with the value (signed: with its size)."""
    colours = colormap(signed).getLookupTable(nPts=256, alpha=False)
    if not alpha:
        return colours
    ramp = np.abs(np.linspace(-1.0, 1.0, 256)) if signed else np.linspace(0.0, 1.0, 256)
    return np.column_stack([colours, (ramp * OVERLAY_ALPHA).astype(np.uint8)])


class AttributionView(QWidget):
    methodChosen = Signal(str)
    targetChosen = Signal(int)  # a class index, or PREDICTED
    otherChosen = Signal(int)  # a class index, or NO_CLASS
    layerChosen = Signal(str)
    cancelRequested = Signal()
    shown = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("attributionView")
        self._heatmap: np.ndarray | None = None
        self._signed = False
        self._classes: tuple[str, ...] = ()
        self._method = ""

        self._methods = QButtonGroup(self)
        self._methods.setExclusive(True)
        self._methods.buttonClicked.connect(lambda button: self.methodChosen.emit(button.property("method")))
        self._method_column = QVBoxLayout()
        self._target = QComboBox()
        self._target.setObjectName("attributionTarget")
        self._target.setToolTip("The class the heatmap explains: by default the one the network predicts.")
        self._target.activated.connect(lambda index: self.targetChosen.emit(PREDICTED if index == 0 else index - 1))
        self._other = QComboBox()
        self._other.setObjectName("attributionOther")
        self._other.setToolTip(
            "Compare with a second class: the heatmap then explains the difference of the two class scores "
            "('why a 4 and not a 9')."
        )
        self._other.activated.connect(lambda index: self.otherChosen.emit(NO_CLASS if index == 0 else index - 1))
        self._layer = QComboBox()
        self._layer.setObjectName("attributionLayer")
        self._layer.setToolTip("The layer Grad-CAM weighs: by default the last convolution.")
        self._layer.activated.connect(lambda _index: self.layerChosen.emit(self._layer.currentText()))
        choices = QFormLayout()
        choices.addRow("class", self._target)
        choices.addRow("and not", self._other)
        choices.addRow("Grad-CAM at", self._layer)
        self.progress = QProgressBar()
        self.progress.setObjectName("attributionProgress")
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelAttribution")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancelRequested)
        busy_row = QHBoxLayout()
        busy_row.addWidget(self.progress, 1)
        busy_row.addWidget(self.cancel_button)
        controls = QVBoxLayout()
        controls.addLayout(self._method_column)
        controls.addLayout(choices)
        controls.addStretch(1)
        controls.addLayout(busy_row)

        self._graphics = pg.GraphicsLayoutWidget()
        self._graphics.setBackground("k")
        self._graphics.addLabel("input with heatmap", row=0, col=0, size="9pt")
        self._graphics.addLabel("heatmap", row=0, col=1, size="9pt")
        self._overlay_box = self._graphics.addViewBox(row=1, col=0, lockAspect=True, invertY=True, enableMouse=False, enableMenu=False)
        self._heat_box = self._graphics.addViewBox(row=1, col=1, lockAspect=True, invertY=True, enableMouse=False, enableMenu=False)
        self._picture = pg.ImageItem(axisOrder="row-major")
        self._overlay = pg.ImageItem(axisOrder="row-major")
        self._overlay.setZValue(1)
        self._heat = pg.ImageItem(axisOrder="row-major")
        self._overlay_box.addItem(self._picture)
        self._overlay_box.addItem(self._overlay)
        self._heat_box.addItem(self._heat)
        self._colorbar = pg.ColorBarItem(values=(0.0, 1.0), interactive=False, width=12)
        self._graphics.addItem(self._colorbar, row=1, col=2)

        self._title = QLabel("")
        self._title.setObjectName("attributionTitle")
        self._title.setWordWrap(True)
        self._note = QLabel("")
        self._note.setStyleSheet("color: gray;")
        self._faithfulness = QLabel("")
        self._faithfulness.setObjectName("faithfulness")
        self._faithfulness.setWordWrap(True)
        self._faithfulness.setMinimumHeight(2 * self._faithfulness.fontMetrics().lineSpacing() + 4)  # two lines
        self._faithfulness.setToolTip(
            "Faithfulness: the class probability after the 10% most-attributed pixels are set to black, against "
            "10% random pixels. A map that points at what the network uses loses far more with its top pixels."
        )
        shown = QVBoxLayout()
        shown.addWidget(self._title)
        shown.addWidget(self._graphics, 1)
        shown.addWidget(self._note)
        shown.addWidget(self._faithfulness)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        layout.addLayout(shown, 1)

    # ----------------------------------------------------------------- data in

    def set_methods(self, methods: Sequence[tuple[str, str, str]], current: str) -> None:
        """One button per (name, title, tooltip); ``current`` is checked."""
        for button in self._methods.buttons():
            self._methods.removeButton(button)
            button.deleteLater()
        for name, title, tooltip in methods:
            button = QPushButton(title)
            button.setObjectName(f"attribution_{name}")
            button.setCheckable(True)
            button.setToolTip(tooltip)
            button.setProperty("method", name)
            self._methods.addButton(button)
            self._method_column.addWidget(button)
        self.set_method(current)

    def set_method(self, name: str) -> None:
        self._method = name
        for button in self._methods.buttons():
            button.setChecked(button.property("method") == name)
        self._layer.setEnabled(name == "gradcam" and self._layer.count() > 0)

    def set_classes(self, classes: Sequence[str]) -> None:
        """The class names of the model; the choices go back to 'predicted' and 'none' when they change."""
        classes = tuple(str(c) for c in classes)
        if classes == self._classes:
            return
        self._classes = classes
        self._target.clear()
        self._target.addItems(["predicted", *classes])
        self._other.clear()
        self._other.addItems(["—", *classes])

    def set_predicted(self, name: str | None) -> None:
        """The label of the 'predicted' entry, e.g. 'predicted (7)'."""
        if self._target.count():
            self._target.setItemText(0, f"predicted ({name})" if name is not None else "predicted")

    def set_choices(self, target: int, other: int) -> None:
        """Show these choices (PREDICTED / NO_CLASS or class indices) without emitting."""
        self._target.setCurrentIndex(0 if target == PREDICTED else target + 1)
        self._other.setCurrentIndex(0 if other == NO_CLASS else other + 1)

    def set_layers(self, names: Sequence[str], current: str | None) -> None:
        """The layers Grad-CAM can weigh; an empty list disables the choice."""
        self._layer.clear()
        self._layer.addItems(list(names))
        if current in names:
            self._layer.setCurrentText(current)
        self.set_method(self._method)

    def set_picture(self, image: np.ndarray | None) -> None:
        """The model's input as (H, W) or (H, W, 3) in [0, 1], drawn dimmed under the heatmap."""
        if image is None:
            self._picture.clear()
            return
        self._picture.setImage(np.asarray(image, dtype=np.float32) * 0.6, autoLevels=False, levels=(0.0, 1.0))
        height, width = image.shape[:2]
        for box in (self._overlay_box, self._heat_box):
            box.setRange(xRange=(0, width), yRange=(0, height), padding=0.02)

    def set_heatmap(self, heatmap: np.ndarray, signed: bool, title: str, scale: str, about: str) -> None:
        """An (H, W) map; signed maps get a scale symmetric about 0, unsigned ones start at 0. ``scale``
        is said under the map, ``about`` (what the method measures) in its tooltip."""
        heatmap = np.asarray(heatmap, dtype=np.float32)
        if heatmap.ndim != 2 or not np.isfinite(heatmap).all():
            raise ValueError(f"a heatmap must be a finite (H, W) array, got shape {heatmap.shape}")
        self._heatmap = heatmap.copy()
        self._signed = signed
        peak = float(np.abs(heatmap).max()) or 1.0
        levels = (-peak, peak) if signed else (0.0, peak)
        self._overlay.setImage(self._heatmap, autoLevels=False, levels=levels, lut=lookup_table(signed, True))
        self._heat.setImage(self._heatmap, autoLevels=False, levels=levels, lut=lookup_table(signed, False))
        self._colorbar.setColorMap(colormap(signed))
        self._colorbar.setLevels(levels, update_items=False)
        self._title.setText(title)
        self._note.setText(scale)
        for widget in (self._note, self._graphics):
            widget.setToolTip(about)

    def set_faithfulness(self, text: str) -> None:
        self._faithfulness.setText(text)

    def show_message(self, text: str) -> None:
        """No heatmap (no input, or the method cannot run on this model): say why."""
        self._heatmap = None
        self._picture.clear()
        self._overlay.clear()
        self._heat.clear()
        self._title.setText(text)
        self._note.setText("")
        self._faithfulness.setText("")

    def set_busy(self, busy: bool, text: str = "") -> None:
        show_busy(self.progress, self.cancel_button, busy, text)

    def set_progress(self, done: int, total: int) -> None:
        show_progress(self.progress, done, total)

    # ----------------------------------------------------------------- read back (tests, exports)

    def heatmap(self) -> np.ndarray | None:
        return None if self._heatmap is None else self._heatmap.copy()

    def is_signed(self) -> bool:
        return self._signed

    def levels(self) -> tuple[float, float]:
        low, high = self._heat.getLevels()
        return float(low), float(high)

    def method(self) -> str:
        return self._method

    def title_text(self) -> str:
        return self._title.text()

    def faithfulness_text(self) -> str:
        return self._faithfulness.text()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.shown.emit()
