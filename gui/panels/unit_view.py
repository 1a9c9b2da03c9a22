"""The Unit tab: why one unit has its value, as the numbers that add up to it.

A dumb view: the binder hands it ready-made rows of small grids (patch × filter = products), an FC
unit's votes, the class scores of the last layer, and its effective receptive field over training.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.concepts import TOOLTIPS
from gui.number_grid import NumberGrid
from gui.vote_bars import VoteBars

CLASS_HEADERS = ("class", "logit", "probability")
HIGHLIGHT = QColor("#ffe082")


@dataclass(frozen=True)
class Grid:
    """One small grid: a patch, a filter slice, products... ``what`` names a cell in its tooltip."""

    title: str
    values: np.ndarray
    what: str
    rows: tuple[int, ...] = ()
    cols: tuple[int, ...] = ()
    masked: np.ndarray | None = None
    marked: tuple[int, int] | None = None


@dataclass(frozen=True)
class GridRow:
    """Grids side by side with an operator between each two, then what they come to."""

    label: str
    grids: tuple[Grid, ...]
    operators: tuple[str, ...]
    result: str


@dataclass(frozen=True)
class Vote:
    label: str
    value: float
    tooltip: str


@dataclass(frozen=True)
class ClassScores:
    """The last layer: one row per class; ``unit`` is the row explained, ``top`` the predicted class."""

    names: tuple[str, ...]
    logits: np.ndarray
    probabilities: np.ndarray
    unit: int


class UnitView(QWidget):
    """Emits ``shown`` when it becomes visible, so work skipped while hidden can be done then."""

    shown = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("unitView")
        self._rows: list[GridRow] = []
        self._grids: list[NumberGrid] = []
        self._bars: VoteBars | None = None

        self._title = QLabel()
        self._title.setObjectName("unitTitle")
        self._title.setWordWrap(True)
        bold = QFont(self._title.font())
        bold.setBold(True)
        self._title.setFont(bold)

        self._equation = QLabel()
        self._equation.setObjectName("unitEquation")
        self._equation.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._body = QWidget()
        self._body_layout = QVBoxLayout(self._body)
        self._body_layout.setContentsMargins(4, 4, 4, 4)
        self._body_layout.setSpacing(6)
        self._body_layout.addWidget(self._equation)
        self._scroll = QScrollArea()
        self._scroll.setObjectName("unitBody")
        self._scroll.setWidget(self._body)
        self._scroll.setWidgetResizable(True)


        self._classes = QTableWidget(0, len(CLASS_HEADERS))
        self._classes.setObjectName("unitClasses")
        self._classes.setHorizontalHeaderLabels(list(CLASS_HEADERS))
        self._classes.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self._classes.verticalHeader().hide()
        self._classes.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._classes.setToolTip(f"The class scores (logits) side by side with their probabilities. {TOOLTIPS['softmax']}")
        self._classes.hide()

        self._erf_text = QLabel()
        self._erf_text.setObjectName("unitErfText")
        self._erf_text.setWordWrap(True)
        self._erf_text.setToolTip(TOOLTIPS["effective receptive field"])
        self._erf_plot = pg.PlotWidget()
        self._erf_plot.setObjectName("unitErfPlot")
        self._erf_plot.setMinimumHeight(110)
        self._erf_plot.setMenuEnabled(False)
        self._erf_plot.setMouseEnabled(False, False)
        self._erf_plot.setLabel("bottom", "step")
        self._erf_plot.setLabel("left", "radius (px)")
        self._erf_plot.addLegend(offset=(-5, -5))  # bottom right: the radii start from 0 below
        self._erf_plot.setToolTip(
            "How far from its centre the unit's gradient mass reaches, under each kept look-back weights: "
            "50% and 95% of |d unit / d input| lie within these radii."
        )
        self._curve50 = self._erf_plot.plot([], [], pen=pg.mkPen("#ffb300", width=2), symbol="o", symbolSize=5, name="50%")
        self._curve95 = self._erf_plot.plot([], [], pen=pg.mkPen("#e53935", width=2), symbol="o", symbolSize=5, name="95%")
        self._shown_step = pg.InfiniteLine(angle=90, pen=pg.mkPen(150, 150, 150, style=Qt.PenStyle.DashLine))
        self._erf_plot.addItem(self._shown_step)
        self._shown_step.hide()
        self._erf_plot.hide()

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(4, 0, 0, 0)
        side_layout.addWidget(self._classes, 1)
        side_layout.addWidget(self._erf_text)
        side_layout.addWidget(self._erf_plot, 1)
        side_layout.addStretch(0)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._scroll)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([620, 330])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self._title)
        layout.addWidget(splitter, 1)
        self.show_message("Click a unit in the feature maps to see how its value is made.")

    # ----------------------------------------------------------------- content

    def show_message(self, text: str) -> None:
        """Nothing explained: the line says why, or what to do."""
        self._clear_body()
        self._title.setText(text)
        self._equation.setText("")
        self._classes.hide()
        self.show_erf("")

    def show_explanation(
        self,
        title: str,
        equation: str,
        rows: Sequence[GridRow] = (),
        votes: Sequence[Vote] = (),
        classes: ClassScores | None = None,
    ) -> None:
        self._title.setText(title)
        self._equation.setText(equation)
        if not votes and self._bars is None and self._same_layout(rows):
            # The same unit with new numbers (a new input, new weights): the grids are refilled in place.
            for widget, grid in zip(self._grids, (grid for row in rows for grid in row.grids)):
                widget.set_content(grid.values, grid.title, grid.what, grid.rows, grid.cols, grid.masked, grid.marked)
            self._rows = list(rows)
            self._show_classes(classes)
            return
        self._clear_body()
        self._rows = list(rows)
        for row in self._rows:
            self._body_layout.addWidget(self._grid_row(row))
        if votes:
            heading = QLabel("Largest votes (weight × activation), for and against:")
            self._body_layout.addWidget(heading)
            self._bars = VoteBars([(vote.label, vote.value, vote.tooltip) for vote in votes])
            self._bars.setObjectName("unitVotes")
            self._body_layout.addWidget(self._bars)
        self._body_layout.addStretch(1)
        self._show_classes(classes)

    def show_erf(
        self,
        text: str,
        steps: Sequence[int] = (),
        radius50: Sequence[float] = (),
        radius95: Sequence[float] = (),
        shown_step: int | None = None,
    ) -> None:
        """The effective receptive field's size as a line of numbers, and over the kept weights when given."""
        self._erf_text.setText(text)
        if len(steps) == 0:
            self._erf_plot.hide()
            return
        self._curve50.setData(np.asarray(steps, float), np.asarray(radius50, float))
        self._curve95.setData(np.asarray(steps, float), np.asarray(radius95, float))
        highest = np.nanmax(np.asarray(radius95, float), initial=0.0)
        self._erf_plot.setYRange(0.0, float(highest) * 1.15 if np.isfinite(highest) and highest > 0 else 1.0)
        self._shown_step.setVisible(shown_step is not None)
        if shown_step is not None:
            self._shown_step.setValue(shown_step)
        self._erf_plot.show()

    # ----------------------------------------------------------------- reading back (tests, exports)

    def title(self) -> str:
        return self._title.text()

    def equation(self) -> str:
        return self._equation.text()

    def grid_rows(self) -> list[GridRow]:
        return list(self._rows)

    def grids(self) -> list[NumberGrid]:
        return list(self._grids)

    def vote_bars(self) -> VoteBars | None:
        return self._bars

    def class_rows(self) -> list[tuple[str, str, str]]:
        if self._classes.isHidden():
            return []
        table = self._classes
        return [tuple(table.item(row, col).text() for col in range(table.columnCount())) for row in range(table.rowCount())]

    def erf_text(self) -> str:
        return self._erf_text.text()

    def erf_curves(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps, radius50, radius95) as plotted; empty while no history is shown."""
        if self._erf_plot.isHidden():
            return np.zeros(0), np.zeros(0), np.zeros(0)
        steps, r50 = self._curve50.getData()
        _, r95 = self._curve95.getData()
        return steps, r50, r95

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.shown.emit()

    # ----------------------------------------------------------------- internals

    def _clear_body(self) -> None:
        """Everything below the equation goes (the equation itself stays first in the body)."""
        while self._body_layout.count() > 1:
            item = self._body_layout.takeAt(1)
            if item.widget() is not None:
                item.widget().hide()
                item.widget().deleteLater()
        self._rows, self._grids, self._bars = [], [], None

    def _same_layout(self, rows: Sequence[GridRow]) -> bool:
        """The rows on show have the same grids, operators and labels as these."""
        if not self._rows or len(rows) != len(self._rows):
            return False
        return all(
            (new.label, new.operators, new.result) == (old.label, old.operators, old.result)
            and [grid.values.shape for grid in new.grids] == [grid.values.shape for grid in old.grids]
            for new, old in zip(rows, self._rows)
        )

    def _grid_row(self, row: GridRow) -> QWidget:
        box = QWidget()
        layout = QHBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        if row.label:
            label = QLabel(row.label)
            label.setWordWrap(True)
            label.setFixedWidth(64)
            layout.addWidget(label)
        for index, grid in enumerate(row.grids):
            if index:
                layout.addWidget(_operator(row.operators[index - 1]))
            widget = NumberGrid(grid.values, grid.title, grid.what, grid.rows, grid.cols, grid.masked, grid.marked)
            widget.setObjectName(f"unitGrid{len(self._grids)}")
            self._grids.append(widget)
            layout.addWidget(widget, 0, Qt.AlignmentFlag.AlignBottom)
        if row.result:
            layout.addWidget(_operator(row.result))
        layout.addStretch(1)
        return box

    def _show_classes(self, classes: ClassScores | None) -> None:
        if classes is None:
            self._classes.hide()
            return
        table = self._classes
        table.setRowCount(len(classes.names))
        top = int(np.argmax(classes.probabilities))
        for row, name in enumerate(classes.names):
            cells = (name, f"{classes.logits[row]:.3f}", f"{classes.probabilities[row]:.1%}")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text.replace("-", "−"))
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if row == classes.unit:
                    item.setBackground(HIGHLIGHT)
                if row == top:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                table.setItem(row, col, item)
        table.resizeRowsToContents()
        table.show()


def _operator(text: str) -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    font = QFont(label.font())
    font.setPointSizeF(font.pointSizeF() * 1.2)
    label.setFont(font)
    return label
