"""The layer-pattern editor: presets, the text as the user types it, and a live table of its layers."""
from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QLabel,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from gui.concepts import TOOLTIPS

TABLE_HEADERS = ("layer", "kind", "output shape", "params", "receptive field")
EDIT_DEBOUNCE_MS = 250
MAX_TEXT = 20_000  # far past any real layer pattern; a pasted megabyte would stall Qt's text layout
MAX_SHOWN_ERROR = 300
EDITOR_LINES = 3
TABLE_ROWS = 6
_ERROR_STYLE = "color: #c62828;"
_EDITOR_ERROR_STYLE = "QPlainTextEdit { border: 2px solid #c62828; }"


class BoundedTextEdit(QPlainTextEdit):
    """Plain text of at most ``max_chars``, wrapped anywhere: Qt's word wrap took minutes to lay out a
    one-megabyte word, and a paste beyond the limit is cut to fit."""

    def __init__(self, max_chars: int) -> None:
        super().__init__()
        self.max_chars = max_chars
        self.setWordWrapMode(QTextOption.WrapMode.WrapAnywhere)

    def insertFromMimeData(self, source) -> None:
        room = self.max_chars - len(self.toPlainText()) + len(self.textCursor().selectedText())
        if source.hasText() and room >= 0:
            self.insertPlainText(source.text()[:room])

    def keyPressEvent(self, event) -> None:
        full = len(self.toPlainText()) >= self.max_chars and not self.textCursor().hasSelection()
        if full and event.text() and event.text().isprintable():
            return
        super().keyPressEvent(event)


class ArchitectureEditor(QGroupBox):
    """Emits the text after typing pauses; never rewrites what the user typed.

    Its height is fixed whatever the text, error or table length, so the controls below never move.
    """

    architectureEdited = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__("Architecture", parent)
        self.setObjectName("architectureEditor")
        self._presets: dict[str, str] = {}
        self._presets_box = QComboBox()
        self._presets_box.setObjectName("presetBox")
        self._presets_box.setToolTip("Start from a known network, then edit its layer pattern below.")
        self._presets_box.activated.connect(self._on_preset_activated)
        self._editor = BoundedTextEdit(MAX_TEXT)
        self._editor.setObjectName("architectureText")
        self._editor.setPlaceholderText("INPUT(1x28x28) -> CONV(8,5) -> RELU -> POOL(2) -> FC(10)")
        self._editor.setToolTip("\n".join(TOOLTIPS[key] for key in ("conv", "relu", "pooling", "fc")))
        line = self._editor.fontMetrics().lineSpacing()
        self._editor.setFixedHeight(line * EDITOR_LINES + 12)
        self._editor.textChanged.connect(self._on_text_changed)
        self._edit_timer = QTimer(self)
        self._edit_timer.setSingleShot(True)
        self._edit_timer.setInterval(EDIT_DEBOUNCE_MS)
        self._edit_timer.timeout.connect(self._emit_architecture)
        self._error = QLabel("")
        self._error.setObjectName("architectureError")
        self._error.setStyleSheet(_ERROR_STYLE)
        self._error.setWordWrap(True)
        self._error.setFixedHeight(self._error.fontMetrics().lineSpacing() * 2 + 4)
        self._table = QTableWidget(0, len(TABLE_HEADERS))
        self._table.setObjectName("architectureTable")
        self._table.setHorizontalHeaderLabels(list(TABLE_HEADERS))
        self._table.verticalHeader().hide()
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.setToolTip(TOOLTIPS["receptive field"])
        header_tips = {
            "output shape": f"depth × height × width. {TOOLTIPS['depth']} Hover a row for how its size comes about.",
            "params": TOOLTIPS["filter"],
            "receptive field": f"{TOOLTIPS['receptive field']} {TOOLTIPS['jump']}",
        }
        for column, header in enumerate(TABLE_HEADERS):
            if header in header_tips:
                self._table.horizontalHeaderItem(column).setToolTip(header_tips[header])
        row_height = self._table.verticalHeader().defaultSectionSize()
        self._table.setFixedHeight(row_height * TABLE_ROWS + self._table.horizontalHeader().sizeHint().height() + 4)
        box = QVBoxLayout(self)
        box.addWidget(self._presets_box)
        box.addWidget(self._editor)
        box.addWidget(self._error)
        box.addWidget(self._table)

    def set_presets(self, presets: dict[str, str], current: str) -> None:
        """Offer these named architectures and show `current`'s text without announcing it as an edit."""
        if current not in presets:
            raise KeyError(f"preset {current!r} is not among the presets: {', '.join(presets) or 'none given'}")
        self._presets = dict(presets)
        self._presets_box.clear()
        self._presets_box.addItems(list(presets))
        self._presets_box.setCurrentText(current)
        self.set_text(presets[current])

    def set_text(self, text: str) -> None:
        """Show an architecture the app loaded itself (a checkpoint, a run) without reporting it as an edit."""
        if text == self._editor.toPlainText():
            return
        self._edit_timer.stop()
        self._editor.blockSignals(True)
        self._editor.setPlainText(text[:MAX_TEXT])
        self._editor.blockSignals(False)

    def text(self) -> str:
        return self._editor.toPlainText()

    def cancel_pending_edit(self) -> None:
        """Forget typing not yet reported (the window is closing)."""
        self._edit_timer.stop()

    def set_editable(self, editable: bool) -> None:
        for widget in (self._presets_box, self._editor):
            widget.setEnabled(editable)

    def show_table(self, rows: Sequence[tuple[str, str, str, str, str]], tooltips: Sequence[str] = ()) -> None:
        """List the layers, each row with its tooltip if given (e.g. why it has its shape); a valid
        architecture also clears any earlier error."""
        self._table.setRowCount(len(rows))
        for row_index, row in enumerate(rows):
            if len(row) != len(TABLE_HEADERS):
                raise ValueError(
                    f"architecture table row {row_index} has {len(row)} cells, expected {len(TABLE_HEADERS)}"
                )
            for column, text in enumerate(row):
                item = QTableWidgetItem(str(text))
                if row_index < len(tooltips):
                    item.setToolTip(tooltips[row_index])
                self._table.setItem(row_index, column, item)
        self._table.resizeColumnsToContents()
        self._error.setText("")
        self._editor.setStyleSheet("")

    def row_tooltip(self, row: int) -> str:
        return self._table.item(row, 0).toolTip()

    def table_rows(self) -> list[tuple[str, ...]]:
        return [
            tuple(self._table.item(row, column).text() for column in range(self._table.columnCount()))
            for row in range(self._table.rowCount())
        ]

    def show_error(self, message: str) -> None:
        shown = message if len(message) <= MAX_SHOWN_ERROR else message[: MAX_SHOWN_ERROR - 1] + "…"
        self._error.setText(shown)
        self._error.setToolTip(shown)
        self._editor.setStyleSheet(_EDITOR_ERROR_STYLE)

    def error(self) -> str:
        """The error shown under the editor, or '' when the architecture is valid."""
        return self._error.text()

    def _on_preset_activated(self, index: int) -> None:
        self._editor.setPlainText(self._presets[self._presets_box.itemText(index)])

    def _on_text_changed(self) -> None:
        self._edit_timer.start()

    def _emit_architecture(self) -> None:
        self.architectureEdited.emit(self.text())
