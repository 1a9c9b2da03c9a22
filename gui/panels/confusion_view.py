"""Confusion matrix of the test set; a click on a cell lists those examples so the user can browse them."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

HINT = "Evaluate the model on the test set to see which classes it confuses."
CORRECT = QColor(46, 125, 50)
WRONG = QColor(198, 40, 40)


class ConfusionView(QWidget):
    """Rows are true classes, columns predicted ones; colour strength is the share of the row."""

    evaluateRequested = Signal()
    cellChosen = Signal(int, int)  # true class, predicted class
    showAllRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("confusionView")
        self.summary = QLabel(HINT)
        self.summary.setWordWrap(True)
        self.evaluate_button = QPushButton("Evaluate on test set")
        self.evaluate_button.setObjectName("evaluateButton")
        self.evaluate_button.setToolTip("Run the current weights on every test example")
        self.evaluate_button.clicked.connect(self.evaluateRequested)
        self.all_button = QPushButton("Browse all samples")
        self.all_button.setObjectName("browseAllButton")
        self.all_button.setToolTip("Leave the chosen cell and browse every test example again")
        self.all_button.clicked.connect(self.showAllRequested)
        self.all_button.setEnabled(False)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("Rows: true class. Columns: predicted class. Click a cell to browse its examples.")
        self.table.cellClicked.connect(self._cell_clicked)
        buttons = QHBoxLayout()
        buttons.addWidget(self.evaluate_button)
        buttons.addWidget(self.all_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        self._matrix = np.zeros((0, 0), dtype=np.int64)

    def set_matrix(self, matrix: np.ndarray, classes: Sequence[str], caption: str) -> None:
        matrix = np.asarray(matrix, dtype=np.int64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(classes):
            raise ValueError(f"a confusion matrix for {len(classes)} classes must be square, got {matrix.shape}")
        self._matrix = matrix.copy()
        n = len(classes)
        self.table.setRowCount(n)
        self.table.setColumnCount(n)
        self.table.setHorizontalHeaderLabels([f"→{c}" for c in classes])
        self.table.setVerticalHeaderLabels([str(c) for c in classes])
        row_totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        shares = matrix / row_totals
        for t in range(n):
            for p in range(n):
                item = QTableWidgetItem(str(matrix[t, p]) if matrix[t, p] else "")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                colour = QColor(CORRECT if t == p else WRONG)
                colour.setAlphaF(float(min(1.0, shares[t, p] * (1.0 if t == p else 4.0))))
                item.setBackground(QBrush(colour))
                item.setToolTip(f"true {classes[t]}, predicted {classes[p]}: {matrix[t, p]} examples")
                self.table.setItem(t, p, item)
        self.summary.setText(caption)

    def clear(self, caption: str = HINT) -> None:
        """No matrix: the one shown belonged to weights or a model that are gone."""
        self._matrix = np.zeros((0, 0), dtype=np.int64)
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.summary.setText(caption)

    def set_caption(self, caption: str) -> None:
        self.summary.setText(caption)

    def matrix(self) -> np.ndarray:
        return self._matrix.copy()

    def set_browsing_cell(self, browsing: bool) -> None:
        self.all_button.setEnabled(browsing)

    def select_cell(self, true: int, predicted: int) -> None:
        """Mark the cell being browsed (chosen here or elsewhere, e.g. a point of the embedding)."""
        if 0 <= true < self.table.rowCount() and 0 <= predicted < self.table.columnCount():
            self.table.setCurrentCell(true, predicted)

    def clear_selection(self) -> None:
        self.table.clearSelection()
        self.table.setCurrentCell(-1, -1)

    def selected_cell(self) -> tuple[int, int] | None:
        selected = self.table.selectedIndexes()
        return (selected[0].row(), selected[0].column()) if selected else None

    def _cell_clicked(self, row: int, column: int) -> None:
        if self._matrix.size and self._matrix[row, column] > 0:
            self.cellChosen.emit(row, column)
