"""The Channel tab: what one channel looks for. Its filter, an input synthesised to excite it, and
the test images that excite it most, each cropped to what its strongest unit sees."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.concepts import TOOLTIPS
from gui.pixmaps import picture_pixmap, signed_pixmap

PICTURE_SIZE = 140
THUMBNAIL_SIZE = 48
COLUMNS = 3
WHOLE_MAP = "whole map"
CENTRE_UNIT = "centre unit"


@dataclass(frozen=True)
class Thumbnail:
    """One top example: its crop as a [0, 1] picture, the test index a click shows, a caption and a tooltip."""

    picture: np.ndarray
    index: int
    caption: str
    tooltip: str


class ChannelView(QWidget):
    channelChosen = Signal(int)
    objectiveChanged = Signal(str)
    visualizeRequested = Signal()
    cancelRequested = Signal()
    refreshRequested = Signal()
    exampleChosen = Signal(int)  # a test-set index
    shown = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("channelView")
        self._thumbnails: list[Thumbnail] = []
        self._buttons: list[QToolButton] = []
        self._visualization: np.ndarray | None = None

        self._title = QLabel()
        self._title.setObjectName("channelTitle")
        self._channel = QSpinBox()
        self._channel.setObjectName("channelBox")
        self._channel.setToolTip("Which channel (feature map) to look at; clicking a map picks it too.")
        self._channel.valueChanged.connect(self.channelChosen.emit)
        self._count = QLabel()
        header = QHBoxLayout()
        header.addWidget(self._title, 1)
        header.addWidget(self._channel)
        header.addWidget(self._count)

        self._filter = _picture_label("channelFilter")
        self._filter_caption = _caption("filterCaption")
        self._filter_caption.setToolTip(TOOLTIPS["filter"])
        filter_box = _group("Filter", self._filter, self._filter_caption)

        self._picture = _picture_label("visualization")
        self._objective = QComboBox()
        self._objective.setObjectName("objectiveBox")
        self._objective.addItems([WHOLE_MAP, CENTRE_UNIT])
        self._objective.currentTextChanged.connect(self.objectiveChanged.emit)
        self._objective.setToolTip(
            "whole map: excite the channel's mean over the map (textures); "
            "centre unit: excite one unit, so the pattern fits its receptive field"
        )
        self._visualize = _button("Visualize", "visualizeButton", "Synthesise an input that excites this channel: gradient ascent from noise")
        self._visualize.clicked.connect(self.visualizeRequested.emit)
        self._cancel = _button("Cancel", "cancelVisualizeButton", "Stop the synthesis")
        self._cancel.clicked.connect(self.cancelRequested.emit)
        self._cancel.setEnabled(False)
        self._visual_progress = _progress("visualizeProgress")
        self._visual_caption = _caption("visualizationCaption")
        buttons = QHBoxLayout()
        for widget in (self._objective, self._visualize, self._cancel):
            buttons.addWidget(widget)
        visual_box = _group("What it looks for", self._picture, buttons, self._visual_progress, self._visual_caption)

        self._grid = QGridLayout()
        self._grid.setSpacing(2)
        grid_holder = QWidget()
        grid_holder.setLayout(self._grid)
        self._refresh = _button("Refresh", "refreshExamplesButton", "Find the top examples again with the weights on show")
        self._refresh.clicked.connect(self.refreshRequested.emit)
        self._examples_progress = _progress("examplesProgress")
        self._examples_caption = _caption("examplesCaption")
        examples_box = _group("Test images that excite it most", grid_holder, self._refresh, self._examples_progress, self._examples_caption)

        body = QWidget()
        columns = QHBoxLayout(body)
        columns.setContentsMargins(0, 0, 0, 0)
        columns.addWidget(filter_box, 1)
        columns.addWidget(visual_box, 1)
        columns.addWidget(examples_box, 1)
        scroll = QScrollArea()  # the tab keeps whatever height the window gives it
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(header)
        layout.addWidget(scroll, 1)

    # ----------------------------------------------------------------- content

    def set_layer(self, title: str, count: int, unit_word: str, channel: int) -> None:
        """A layer with ``count`` channels (or units); picks ``channel`` without announcing it."""
        self._title.setText(title)
        self._channel.blockSignals(True)
        self._channel.setRange(0, max(count - 1, 0))
        self._channel.setValue(channel)
        self._channel.blockSignals(False)
        self._channel.setEnabled(count > 0)
        self._objective.setEnabled(unit_word == "channel")  # a flat layer's unit has no map to average
        self._count.setText(f"of {count} {unit_word}s (0 to {count - 1})" if count else "")

    def set_channel(self, channel: int) -> None:
        """Pick a channel as the user would (announced through channelChosen when it changes)."""
        self._channel.setValue(channel)

    def channel(self) -> int:
        return self._channel.value()

    def objective(self) -> str:
        return self._objective.currentText()

    def show_filter(self, values: np.ndarray | None, caption: str, picture: bool = False) -> None:
        """(H, W) weights on the diverging map, or with ``picture`` a [0, 1] (C, H, W) colour filter."""
        if values is None:
            self._filter.clear()
        elif picture:
            self._filter.setPixmap(picture_pixmap(values, PICTURE_SIZE))
        else:
            self._filter.setPixmap(signed_pixmap(values, PICTURE_SIZE))
        self._filter_caption.setText(caption)

    def show_visualization(self, picture: np.ndarray | None, caption: str) -> None:
        self._visualization = None if picture is None else np.asarray(picture)
        if picture is None:
            self._picture.clear()
        else:
            self._picture.setPixmap(picture_pixmap(picture, PICTURE_SIZE))
        self._visual_caption.setText(caption)

    def set_visualizing(self, busy: bool) -> None:
        self._visualize.setEnabled(not busy)
        self._cancel.setEnabled(busy)
        self._visual_progress.setVisible(busy)
        if busy:
            self._visual_progress.setValue(0)

    def set_visualization_progress(self, done: int, total: int) -> None:
        self._visual_progress.setMaximum(max(total, 1))
        self._visual_progress.setValue(done)

    def show_examples(self, thumbnails: Sequence[Thumbnail], caption: str) -> None:
        for button in self._buttons:
            self._grid.removeWidget(button)
            button.hide()
            button.deleteLater()
        self._thumbnails = list(thumbnails)
        self._buttons = []
        for position, thumbnail in enumerate(self._thumbnails):
            button = QToolButton()
            button.setObjectName(f"topExample{position}")
            button.setIcon(QIcon(picture_pixmap(thumbnail.picture, THUMBNAIL_SIZE)))
            button.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            button.setText(thumbnail.caption)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.setToolTip(thumbnail.tooltip)
            button.clicked.connect(lambda _=False, index=thumbnail.index: self.exampleChosen.emit(index))
            self._grid.addWidget(button, position // COLUMNS, position % COLUMNS)
            self._buttons.append(button)
        self._examples_caption.setText(caption)

    def set_refreshing(self, busy: bool) -> None:
        self._refresh.setEnabled(not busy)
        self._examples_progress.setVisible(busy)
        if busy:
            self._examples_progress.setValue(0)

    def set_examples_progress(self, done: int, total: int) -> None:
        self._examples_progress.setMaximum(max(total, 1))
        self._examples_progress.setValue(done)

    # ----------------------------------------------------------------- reading back (tests)

    def title(self) -> str:
        return self._title.text()

    def thumbnails(self) -> list[Thumbnail]:
        return list(self._thumbnails)

    def example_button(self, position: int) -> QToolButton:
        return self._buttons[position]

    def visualization(self) -> np.ndarray | None:
        return self._visualization

    def captions(self) -> dict[str, str]:
        return {
            "filter": self._filter_caption.text(),
            "visualization": self._visual_caption.text(),
            "examples": self._examples_caption.text(),
        }

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.shown.emit()


def _group(title: str, *items) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(4, 4, 4, 4)
    for item in items:
        if isinstance(item, QWidget):
            layout.addWidget(item)
        else:
            layout.addLayout(item)
    layout.addStretch(1)
    return box


def _picture_label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setMinimumSize(PICTURE_SIZE // 2, PICTURE_SIZE // 2)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label


def _caption(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    return label


def _button(text: str, name: str, tooltip: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setToolTip(tooltip)
    return button


def _progress(name: str) -> QProgressBar:
    bar = QProgressBar()
    bar.setObjectName(name)
    bar.setTextVisible(False)
    bar.setMaximumHeight(8)
    bar.hide()
    return bar
