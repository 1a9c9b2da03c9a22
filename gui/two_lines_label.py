"""A label that always takes two lines of height, whatever its text."""
from __future__ import annotations

from PySide6.QtWidgets import QLabel, QSizePolicy


class TwoLinesLabel(QLabel):
    """Wrapped text in a fixed two lines: the layout around it never moves, whatever the text. A
    height-for-width label would make its column share the height differently for each text; a long one
    (the out-of-domain hint in a narrow panel) squeezed the input pictures above it to a few pixels."""

    def __init__(self, text: str = "") -> None:
        super().__init__(text)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.fontMetrics().lineSpacing() * 2 + 4)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt's name
        return False
