"""The network's answer: softmax probabilities as bars, with the winning class called out big."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from gui.concepts import TOOLTIPS
from gui.quiet_label import QuietLabel
from gui.two_lines_label import TwoLinesLabel

BAR_WIDTH = 0.7
BAR_BRUSH = pg.mkBrush(90, 140, 200)
TOP_BAR_BRUSH = pg.mkBrush(255, 170, 40)


class PredictionView(QWidget):
    """Bar chart of class probabilities; the bar item and axis ticks are reused across updates."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("predictionView")
        self.setToolTip(TOOLTIPS["softmax"])
        self._classes: tuple[str, ...] = ()
        self._top_class: str | None = None

        self.headline = QuietLabel()
        self.headline.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self.headline.font()
        font.setPointSizeF(font.pointSizeF() * 2.2)
        font.setBold(True)
        self.headline.setFont(font)
        self.headline.setToolTip(TOOLTIPS["softmax"])
        self.hint = TwoLinesLabel()  # is the input like the training data? under the headline
        self.hint.setObjectName("oodHint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._warning = False

        self.plot = pg.PlotWidget()
        self.plot.setToolTip(TOOLTIPS["softmax"])
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setYRange(0.0, 1.0, padding=0.02)
        self.plot.setLabel("left", "probability")
        self.plot.getAxis("left").setTicks([[(v, f"{v:.0%}") for v in (0.0, 0.25, 0.5, 0.75, 1.0)]])
        self._bars = pg.BarGraphItem(x=np.zeros(0), height=np.zeros(0), width=BAR_WIDTH, brush=BAR_BRUSH)
        self.plot.addItem(self._bars)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.headline)
        layout.addWidget(self.hint)
        layout.addWidget(self.plot, 1)
        self.clear()

    def set_probabilities(self, probs: np.ndarray, classes: Sequence[str]) -> None:
        """Draw one bar per class; probabilities must be finite, in [0, 1], one per class name."""
        heights = np.array(probs, dtype=np.float64, copy=True)
        if heights.ndim != 1:
            raise ValueError(f"probabilities must be a 1-D array, got shape {heights.shape}")
        if len(heights) == 0 or len(heights) != len(classes):
            raise ValueError(f"got {len(heights)} probabilities for {len(classes)} class names")
        if not np.isfinite(heights).all():
            raise ValueError("probabilities contain NaN or infinity")
        if heights.min() < 0.0 or heights.max() > 1.0 + 1e-6:
            raise ValueError(f"probabilities must lie in [0, 1], got range [{heights.min():g}, {heights.max():g}]")
        class_names = tuple(str(name) for name in classes)
        if class_names != self._classes:
            self._set_classes(class_names)
        top = int(np.argmax(heights))
        brushes = [BAR_BRUSH] * len(heights)
        brushes[top] = TOP_BAR_BRUSH
        self._bars.setOpts(x=np.arange(len(heights)), height=heights, brushes=brushes)
        self._top_class = class_names[top]
        self.headline.setText(f"{self._top_class} — {heights[top]:.1%}")

    def clear(self, message: str = "Draw a digit") -> None:
        """Show no bars and a hint instead of a prediction, e.g. while there is no input."""
        self._bars.setOpts(x=np.zeros(0), height=np.zeros(0), brushes=[])
        self._top_class = None
        self.headline.setText(message)
        self.set_hint("")

    def set_hint(self, text: str, warning: bool = False, tooltip: str = "") -> None:
        """A line under the headline, e.g. that the input is unlike the training data (``warning``)."""
        warning = warning and bool(text)
        if (text, warning, tooltip) == (self.hint.text(), self._warning, self.hint.toolTip()):
            return  # new weights 12.5 times a second while training: no restyling each time
        self._warning = warning
        self.hint.setText(text)
        self.hint.setToolTip(tooltip)
        self.hint.setStyleSheet("color: #e65100; font-weight: bold;" if self._warning else "color: gray;")

    def hint_text(self) -> str:
        return self.hint.text()

    def hint_is_warning(self) -> bool:
        return self._warning

    def top_class(self) -> str | None:
        return self._top_class

    def bar_heights(self) -> np.ndarray:
        """The heights of the bars as drawn (empty when cleared)."""
        return np.array(self._bars.opts["height"], dtype=np.float64)

    def _set_classes(self, class_names: tuple[str, ...]) -> None:
        self._classes = class_names
        self.plot.getAxis("bottom").setTicks([list(enumerate(class_names))])
        self.plot.setXRange(-0.5, len(class_names) - 0.5, padding=0.02)
