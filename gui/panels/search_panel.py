"""Hyperparameter search: what to vary (ranges lo:hi or lo:hi:log, lists a,b,c), how many trials, the
epochs each gets; the results table sorted by test accuracy, and the best run one click away."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

_FOLDER = Qt.ItemDataRole.UserRole
FIELDS = {  # field: (label, objectName, default text, placeholder)
    "architecture": ("architecture", "searchArchitecture", "", "the editor's; numbers to search as {name}, e.g. CONV({c1},5)"),
    "lr": ("learning rate", "searchLr", "1e-3:0.3:log", "a range lo:hi[:log], a list a,b,c, or one value"),
    "batch_size": ("batch size", "searchBatchSize", "", "e.g. 32,64,128 (empty: the training panel's)"),
    "optimizer": ("optimiser", "searchOptimizer", "", "e.g. sgd,adam (empty: the training panel's)"),
    "weight_decay": ("weight decay", "searchWeightDecay", "", "e.g. 0:1e-3 (empty: the training panel's)"),
    "params": ("pattern numbers", "searchParams", "", "values of the {names}, e.g. c1=4,8,16; fc=32:128:log"),
}


class SearchPanel(QWidget):
    searchRequested = Signal(dict)  # the texts of FIELDS, plus "trials" and "epochs"
    stopRequested = Signal()
    openRequested = Signal(str)  # a trial's run folder

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("searchPanel")
        form = QFormLayout()
        self._fields: dict[str, QLineEdit] = {}
        for key, (label, name, default, placeholder) in FIELDS.items():
            edit = QLineEdit(default)
            edit.setObjectName(name)
            edit.setPlaceholderText(placeholder)
            edit.setToolTip(placeholder)
            self._fields[key] = edit
            form.addRow(label, edit)
        self._trials = _spin("searchTrials", 1, 500, 8, "How many trials: each draws its settings at random and is a run")
        self._epochs = _spin("searchEpochs", 1, 1000, 1, "The budget of each trial, in epochs")
        form.addRow("trials", self._trials)
        form.addRow("epochs each", self._epochs)
        self._start = QPushButton("Search")
        self._start.setObjectName("startSearchButton")
        self._start.setToolTip("Run the trials one after another in a separate process; each is a run folder")
        self._start.clicked.connect(lambda: self.searchRequested.emit(self.request()))
        self._stop = QPushButton("Stop")
        self._stop.setObjectName("stopSearchButton")
        self._stop.clicked.connect(self.stopRequested)
        self._open_best = QPushButton("Open best")
        self._open_best.setObjectName("openBestButton")
        self._open_best.setToolTip("Show the trial with the best test accuracy in every view")
        self._open_best.clicked.connect(self._open_first)
        buttons = QHBoxLayout()
        for button in (self._start, self._stop, self._open_best):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self._progress = QLabel("")
        self._progress.setObjectName("searchProgress")
        self._progress.setWordWrap(True)
        self._progress.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._table = QTableWidget(0, 0)
        self._table.setObjectName("searchTable")
        self._table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.verticalHeader().setVisible(False)
        self._table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self._table.horizontalHeader().setStretchLastSection(True)
        self._table.itemDoubleClicked.connect(lambda item: self.openRequested.emit(item.data(_FOLDER)))
        self._table.setToolTip("Sorted by test accuracy, best first; double-click a trial to open its run")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self._progress)
        layout.addWidget(self._table, 1)
        self.set_running(False)
        self._open_best.setEnabled(False)

    def request(self) -> dict:
        """What the user asked for, as typed."""
        return {
            **{key: edit.text().strip() for key, edit in self._fields.items()},
            "trials": self._trials.value(),
            "epochs": self._epochs.value(),
        }

    def set_field(self, key: str, text: str) -> None:
        self._fields[key].setText(text)

    def set_trials(self, trials: int, epochs: int) -> None:
        self._trials.setValue(trials)
        self._epochs.setValue(epochs)

    def set_running(self, running: bool) -> None:
        self._start.setEnabled(not running)
        self._stop.setEnabled(running)
        for widget in (*self._fields.values(), self._trials, self._epochs):
            widget.setEnabled(not running)

    def set_progress(self, text: str) -> None:
        self._progress.setText(text)

    def progress(self) -> str:
        return self._progress.text()

    def set_results(self, columns: list[str], rows: list[tuple[str, list[str]]]) -> None:
        """The trials, best first: (run folder, one text per column) each."""
        self._table.setColumnCount(len(columns))
        self._table.setHorizontalHeaderLabels(columns)
        self._table.setRowCount(len(rows))
        for index, (folder, cells) in enumerate(rows):
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(_FOLDER, folder)
                self._table.setItem(index, column, item)
        self._open_best.setEnabled(bool(rows))

    def results(self) -> list[list[str]]:
        return [
            [self._table.item(row, column).text() for column in range(self._table.columnCount())]
            for row in range(self._table.rowCount())
        ]

    def _open_first(self) -> None:
        if self._table.rowCount():
            self.openRequested.emit(self._table.item(0, 0).data(_FOLDER))


def _spin(name: str, low: int, high: int, value: int, tooltip: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setObjectName(name)
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setToolTip(tooltip)
    return spin
