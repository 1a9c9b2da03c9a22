"""The runs table: every run with its settings, best test accuracy, time and status; tick runs to lay
their curves over the plots, open one to look at it. Plain strings in, folders out through signals."""
from __future__ import annotations

from dataclasses import dataclass

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

COLUMNS = ("", "run", "status", "best test acc", "steps", "time", "settings")
_STATUS_COLOURS = {"diverged": "#c62828", "failed-to-learn": "#ef6c00", "running": "#1565c0", "stopped": "#616161"}
_FOLDER = Qt.ItemDataRole.UserRole
_SORT = Qt.ItemDataRole.UserRole + 1


@dataclass(frozen=True)
class RunRow:
    """One run as the table shows it; ``accuracy`` and ``seconds`` also sort their columns."""

    folder: str
    name: str
    status: str
    accuracy: float | None
    steps: int | None
    seconds: float | None
    settings: str
    tooltip: str


class _SortedItem(QTableWidgetItem):
    """Sorts by the number behind the text (a missing one first, so last when sorted high to low)."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(_SORT), other.data(_SORT)
        if mine is None or theirs is None:
            return mine is None and theirs is not None
        return mine < theirs


class RunsPanel(QWidget):
    overlaysChanged = Signal(list)  # the ticked runs' folders
    openRequested = Signal(str)  # a run's folder
    refreshRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runsPanel")
        self._folder = QLabel("")
        self._folder.setObjectName("runsFolder")
        self._folder.setWordWrap(True)
        self._folder.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._table = QTableWidget(0, len(COLUMNS))
        self._table.setObjectName("runsTable")
        self._table.setHorizontalHeaderLabels(COLUMNS)
        self._table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.verticalHeader().setVisible(False)
        header = self._table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self._table.itemChanged.connect(self._on_item_changed)
        self._table.itemDoubleClicked.connect(lambda item: self._open_row(item.row()))
        self._table.setToolTip("Tick runs to lay their curves over the plots; double-click a run to open it")
        self._open = QPushButton("Open")
        self._open.setObjectName("openRunButton")
        self._open.setToolTip(
            "Show the selected run: every view with its weights, the look-back slider over its snapshots; "
            "a run still being written is followed as it grows"
        )
        self._open.clicked.connect(lambda: self._open_row(self._table.currentRow()))
        refresh = QPushButton("Refresh")
        refresh.setObjectName("refreshRunsButton")
        refresh.clicked.connect(self.refreshRequested)
        buttons = QHBoxLayout()
        buttons.addWidget(self._open)
        buttons.addWidget(refresh)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self._folder)
        layout.addWidget(self._table, 1)
        layout.addLayout(buttons)
        self._filling = False
        self._rows: list[RunRow] = []

    def set_folder(self, text: str) -> None:
        self._folder.setText(text)

    def set_runs(self, rows: list[RunRow]) -> None:
        """Show these runs; ticks and the selection stay on the runs that are still there.

        The same rows as shown change nothing: the table is refreshed every 2 s on the GUI thread, and
        making its items anew took milliseconds that grew with the number of runs."""
        if rows == self._rows:
            return
        self._rows = list(rows)
        ticked, selected = set(self.ticked()), self.selected()
        self._filling = True
        self._table.setSortingEnabled(False)
        self._table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            tick = QTableWidgetItem()
            tick.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            tick.setCheckState(Qt.CheckState.Checked if row.folder in ticked else Qt.CheckState.Unchecked)
            tick.setToolTip("lay this run's curves over the plots")
            cells = [
                tick,
                QTableWidgetItem(row.name),
                QTableWidgetItem(row.status),
                _number("-" if row.accuracy is None else f"{row.accuracy:.1%}", row.accuracy),
                _number("-" if row.steps is None else f"{row.steps:,}", row.steps),
                _number(_duration(row.seconds), row.seconds),
                QTableWidgetItem(row.settings),
            ]
            colour = _STATUS_COLOURS.get(row.status)
            if colour:
                cells[2].setForeground(QBrush(QColor(colour)))
            for column, cell in enumerate(cells):
                cell.setData(_FOLDER, row.folder)
                if column:
                    cell.setToolTip(row.tooltip)
                self._table.setItem(index, column, cell)
        self._table.setSortingEnabled(True)
        self._filling = False
        if selected in self.folders():
            self._table.selectRow(self.folders().index(selected))
        self._open.setEnabled(bool(rows))
        if ticked - set(self.folders()):
            self.overlaysChanged.emit(self.ticked())  # a ticked run went away

    def folders(self) -> list[str]:
        """The runs in the order shown."""
        return [self._table.item(row, 0).data(_FOLDER) for row in range(self._table.rowCount())]

    def ticked(self) -> list[str]:
        return [
            self._table.item(row, 0).data(_FOLDER)
            for row in range(self._table.rowCount())
            if self._table.item(row, 0).checkState() == Qt.CheckState.Checked
        ]

    def set_ticked(self, folder: str, ticked: bool = True) -> None:
        """Tick or untick a run as a user would (emits overlaysChanged)."""
        row = self.folders().index(folder)
        self._table.item(row, 0).setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)

    def set_colours(self, colours: dict[str, str]) -> None:
        """Mark each ticked run with its curves' colour."""
        for row, folder in enumerate(self.folders()):
            item = self._table.item(row, 0)
            self._filling = True
            item.setBackground(QBrush(QColor(colours[folder])) if folder in colours else QBrush())
            self._filling = False

    def selected(self) -> str | None:
        row = self._table.currentRow()
        return self._table.item(row, 0).data(_FOLDER) if row >= 0 and self._table.item(row, 0) else None

    def select(self, folder: str) -> None:
        self._table.selectRow(self.folders().index(folder))

    def cell_text(self, folder: str, column: str) -> str:
        return self._table.item(self.folders().index(folder), COLUMNS.index(column)).text()

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if not self._filling and item.column() == 0:
            self.overlaysChanged.emit(self.ticked())

    def _open_row(self, row: int) -> None:
        if 0 <= row < self._table.rowCount():
            self.openRequested.emit(self._table.item(row, 0).data(_FOLDER))


def _number(text: str, value: float | None) -> QTableWidgetItem:
    item = _SortedItem(text)
    item.setData(_SORT, value)
    return item


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 100:
        return f"{seconds:.1f} s"
    if seconds < 6000:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
