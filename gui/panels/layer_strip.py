"""A horizontal strip of the network's layers, one chip each, to pick the layer the other views show."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QScrollArea, QSizePolicy, QToolButton, QWidget

# One colour per family of the engine's layer kinds, so the conv / pool / fc rhythm shows at a glance.
KIND_COLOURS: dict[str, str] = {
    "conv": "#1e6fb8",
    "maxpool": "#2e8b57",
    "avgpool": "#2e8b57",
    "relu": "#d9822b",
    "tanh": "#d9822b",
    "sigmoid": "#d9822b",
    "bn": "#8d6e63",
    "dropout": "#78909c",
    "flatten": "#5c6bc0",
    "fc": "#7b3fa0",
    "softmax": "#c0392b",
}
OTHER_KIND_COLOUR = "#546e7a"
CURRENT_BORDER_COLOUR = "#ffd54a"


@dataclass(frozen=True)
class LayerChip:
    """What one chip shows about a layer; built by the main window from the engine's layer facts."""

    name: str
    kind: str
    shape: str
    rf: str
    tooltip: str


class LayerStrip(QWidget):
    """Layer picker: click a chip, use the ◀ ▶ buttons, or Left/Right while the strip has focus.

    Chips change only in set_layers (a new model); moving the selection only restyles them.
    """

    layerSelected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("layerStrip")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._chips: list[QPushButton] = []
        self._current = -1

        self.previous_button = self._arrow_button("◀", "Previous layer (Left arrow)", -1)
        self.next_button = self._arrow_button("▶", "Next layer (Right arrow)", +1)

        self._chip_row = QWidget()
        self._chip_layout = QHBoxLayout(self._chip_row)
        self._chip_layout.setContentsMargins(2, 2, 2, 2)
        self._chip_layout.setSpacing(4)
        self._chip_layout.addStretch(1)
        self._scroll = QScrollArea()
        self._scroll.setWidget(self._chip_row)
        self._scroll.setWidgetResizable(True)
        self._scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._scroll.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.previous_button)
        layout.addWidget(self._scroll, 1)
        layout.addWidget(self.next_button)
        self._update_arrows()

    def set_layers(self, chips: Sequence[LayerChip], current: int = 0) -> None:
        """Show these chips (a new model) and select `current`, clamped; does not emit layerSelected.

        The chips there are get the new layers' texts: making a styled button costs about half a
        millisecond, and a new model arrives on the GUI thread while training shares the CPU."""
        for button in self._chips[len(chips):]:
            self._chip_layout.removeWidget(button)
            button.hide()  # deleteLater waits for the event loop; the old chip must vanish now
            button.deleteLater()
        del self._chips[len(chips):]
        for index, chip in enumerate(chips):
            if index < len(self._chips):
                self._describe(self._chips[index], chip)
            else:
                self._chips.append(self._make_chip(index, chip))
                self._chip_layout.insertWidget(self._chip_layout.count() - 1, self._chips[-1])
        tallest = max((chip.sizeHint().height() for chip in self._chips), default=0)
        self._scroll.setFixedHeight(tallest + self._scroll.horizontalScrollBar().sizeHint().height() + 8)
        self._current = self._clamp(current)
        self._show_current()

    def set_tooltips(self, tooltips: Sequence[str]) -> None:
        """New tooltips for the chips there are (a new model's size formulas come a turn after its chips)."""
        for button, tooltip in zip(self._chips, tooltips):
            button.setToolTip(tooltip)

    def set_current(self, index: int, notify: bool = True) -> None:
        """Select a layer, clamped to the chips there are; emits layerSelected only if it changed (and
        ``notify``: False shows a choice made elsewhere)."""
        index = self._clamp(index)
        changed = index != self._current
        self._current = index
        self._show_current()
        if changed and notify:
            self.layerSelected.emit(index)

    def current_index(self) -> int:
        """The selected layer, or -1 while there are no layers."""
        return self._current

    def step(self, delta: int) -> None:
        if self._chips:
            self.set_current(self._current + delta)

    def chip_widget(self, index: int) -> QWidget:
        if not 0 <= index < len(self._chips):
            raise IndexError(f"no layer chip {index}: the strip has {len(self._chips)} layers")
        return self._chips[index]

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Left:
            self.step(-1)
        elif event.key() == Qt.Key.Key_Right:
            self.step(+1)
        else:
            super().keyPressEvent(event)

    def _clamp(self, index: int) -> int:
        return min(max(index, 0), len(self._chips) - 1)

    def _arrow_button(self, text: str, tooltip: str, delta: int) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tooltip)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.clicked.connect(lambda: self.step(delta))
        return button

    def _make_chip(self, index: int, chip: LayerChip) -> QPushButton:
        button = QPushButton()
        button.setObjectName(f"layerChip{index}")
        button.setCheckable(True)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.clicked.connect(lambda: self._chip_clicked(index))
        self._describe(button, chip)
        return button

    @staticmethod
    def _describe(button: QPushButton, chip: LayerChip) -> None:
        """A chip's text, tooltip and colour; the style sheet (the costly part) only when the colour changes."""
        button.setText(f"{chip.name}\n{chip.shape}\n{chip.rf}")
        button.setToolTip(chip.tooltip)
        colour = KIND_COLOURS.get(chip.kind.lower(), OTHER_KIND_COLOUR)
        if button.property("kindColour") != colour:
            button.setProperty("kindColour", colour)
            button.setStyleSheet(
                f"QPushButton {{ background: {colour}; color: white; border: 3px solid {colour};"
                " border-radius: 6px; padding: 3px 8px; }"
                f" QPushButton:checked {{ border-color: {CURRENT_BORDER_COLOUR}; font-weight: bold; }}"
            )
        bold = QFont(button.font())
        bold.setBold(True)
        widest = max(QFontMetrics(bold).horizontalAdvance(line) for line in button.text().splitlines())
        button.setMinimumWidth(widest + 26)  # the current chip is bold: leave it room for its text

    def _chip_clicked(self, index: int) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self.set_current(index)

    def _show_current(self) -> None:
        """Restyle every chip, since a click on the current chip toggles its checked state off."""
        for index, chip in enumerate(self._chips):
            chip.setChecked(index == self._current)
        if self._current >= 0:
            self._scroll.ensureWidgetVisible(self._chips[self._current])
        self._update_arrows()

    def _update_arrows(self) -> None:
        self.previous_button.setEnabled(self._current > 0)
        self.next_button.setEnabled(0 <= self._current < len(self._chips) - 1)
