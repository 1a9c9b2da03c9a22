"""What switching channels off does: the change of each class probability, and which channels of the
layer on show matter most for this input (the probability drop when each is switched off alone).

A dumb panel: the binder hands it the numbers; it sends back a reset, and the channel of a ranking row
the user clicked. Channels are switched off on the feature maps themselves (right-click or Ctrl+click).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

UP = pg.mkBrush(46, 160, 67)
DOWN = pg.mkBrush(214, 39, 40)
HELP = (
    "Right-click (or Ctrl+click) a feature map to switch that channel off; again to switch it back on. "
    "The prediction, every later layer and the attribution follow at once; the weights never change."
)


class ChannelsView(QWidget):
    resetRequested = Signal()
    channelToggled = Signal(int)  # a ranking row was clicked
    shown = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("channelsView")
        self._rows: list[int] = []
        self._deltas = np.zeros(0)

        self.status = QLabel("No channel is switched off.")
        self.status.setObjectName("interventionStatus")
        self.status.setWordWrap(True)
        help_text = QLabel(HELP)
        help_text.setWordWrap(True)
        help_text.setStyleSheet("color: gray;")
        self.factor = QDoubleSpinBox()
        self.factor.setObjectName("channelFactor")
        self.factor.setRange(-4.0, 4.0)
        self.factor.setSingleStep(0.25)
        self.factor.setValue(0.0)
        self.factor.setToolTip("What a click multiplies a channel by: 0 switches it off, 2 doubles it, -1 flips it.")
        factor_row = QHBoxLayout()
        factor_row.addWidget(QLabel("a click multiplies by"))
        factor_row.addWidget(self.factor)
        factor_row.addStretch(1)
        self.reset_button = QPushButton("Reset all channels")
        self.reset_button.setObjectName("resetInterventions")
        self.reset_button.setToolTip("Every channel of every layer back to normal")
        self.reset_button.clicked.connect(self.resetRequested)
        self.reset_button.setEnabled(False)
        left = QVBoxLayout()
        left.addWidget(self.status)
        left.addWidget(help_text)
        left.addLayout(factor_row)
        left.addWidget(self.reset_button)
        left.addStretch(1)

        self.plot = pg.PlotWidget()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setLabel("left", "Δ probability")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.addLine(y=0, pen=pg.mkPen(150, 150, 150))
        self._bars = pg.BarGraphItem(x=np.zeros(0), height=np.zeros(0), width=0.7)
        self.plot.addItem(self._bars)
        self._classes: tuple[str, ...] = ()
        self.change = QLabel("")
        self.change.setObjectName("predictionChange")
        self.change.setWordWrap(True)
        middle = QVBoxLayout()
        middle.addWidget(self.change)
        middle.addWidget(self.plot, 1)

        self.ranking_title = QLabel("")
        self.ranking_title.setWordWrap(True)
        self.ranking = QTableWidget(0, 3)
        self.ranking.setObjectName("channelRanking")
        self.ranking.setHorizontalHeaderLabels(["channel", "Δ P off alone", "now"])
        self.ranking.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.ranking.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.ranking.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.ranking.verticalHeader().setVisible(False)
        self.ranking.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.ranking.setToolTip("Click a row to switch that channel off or back on.")
        self.ranking.cellClicked.connect(lambda row, _column: self.channelToggled.emit(self._rows[row]))
        right = QVBoxLayout()
        right.addWidget(self.ranking_title)
        right.addWidget(self.ranking, 1)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(left, 2)
        layout.addLayout(middle, 3)
        layout.addLayout(right, 3)

    def set_status(self, text: str, any_scaled: bool) -> None:
        self.status.setText(text)
        self.reset_button.setEnabled(any_scaled)

    def set_deltas(self, deltas: np.ndarray, classes: Sequence[str], change: str) -> None:
        """Probability with the interventions minus without, per class."""
        deltas = np.asarray(deltas, dtype=np.float64)
        classes = tuple(str(c) for c in classes)
        if classes == self._classes and np.array_equal(deltas, self._deltas) and change == self.change.text():
            return  # e.g. each pen stroke with no channel switched off: nothing to repaint
        if classes != self._classes:
            self._classes = classes
            self.plot.getAxis("bottom").setTicks([list(enumerate(classes))])
            self.plot.setXRange(-0.5, len(classes) - 0.5, padding=0.02)
        self._deltas = deltas.copy()
        brushes = [UP if d >= 0 else DOWN for d in deltas]
        self._bars.setOpts(x=np.arange(len(deltas)), height=deltas, brushes=brushes)
        bound = max(0.05, float(np.abs(deltas).max(initial=0.0)) * 1.1)
        self.plot.setYRange(-bound, bound, padding=0)
        self.change.setText(change)

    def set_ranking(self, title: str, rows: Sequence[tuple[int, float]], factors: Mapping[int, float]) -> None:
        """(channel, drop of the class probability when it alone is off), largest drop first; ``factors``
        are the channels scaled now."""
        self.ranking_title.setText(title)
        self._rows = [int(channel) for channel, _ in rows]
        self.ranking.setRowCount(len(rows))
        for row, (channel, drop) in enumerate(rows):
            self.ranking.setItem(row, 0, _cell(str(channel)))
            self.ranking.setItem(row, 1, _cell(f"{-drop:+.1%}"))
        self.set_factors(factors)

    def set_factors(self, factors: Mapping[int, float]) -> None:
        """The 'now' column: which ranked channels are switched off or scaled."""
        for row, channel in enumerate(self._rows):
            factor = factors.get(channel)
            text = "" if factor is None else "off" if factor == 0 else f"×{factor:g}"
            self.ranking.setItem(row, 2, _cell(text))

    def clear_ranking(self, title: str) -> None:
        self._rows = []
        self.ranking.setRowCount(0)
        self.ranking_title.setText(title)

    def deltas(self) -> np.ndarray:
        return self._deltas.copy()

    def ranked_channels(self) -> list[int]:
        return list(self._rows)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.shown.emit()


def _cell(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
    return item
