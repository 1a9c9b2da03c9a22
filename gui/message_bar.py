"""One line at the bottom of the window for what the user should read: errors stay until dismissed or
until a new run starts; other messages fade after a few seconds. Its height never changes."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

INFO_SHOWN_MS = 8000
MAX_SHOWN = 500  # characters of a message on show (a message quoting a megabyte of input stays readable)
_ERROR_STYLE = "background:#fde2e1;color:#8a1c1c;padding:2px 6px;border-radius:3px;"
_INFO_STYLE = "color:#333;padding:2px 6px;"


class MessageBar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel(" ")
        self.label.setObjectName("messageBar")
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        dismiss = self._dismiss = QToolButton()
        dismiss.setObjectName("dismissMessage")
        dismiss.setText("✕")
        dismiss.setToolTip("Dismiss the message")
        dismiss.clicked.connect(self.clear)
        keep_place = dismiss.sizePolicy()
        keep_place.setRetainSizeWhenHidden(True)  # shown only with a message; the bar never moves
        dismiss.setSizePolicy(keep_place)
        dismiss.hide()
        self.busy_label = QLabel("")
        self.busy_label.setObjectName("busyLabel")
        self.busy_bar = QProgressBar()
        self.busy_bar.setObjectName("busyBar")
        self.busy_bar.setRange(0, 0)  # a busy indicator, not a measure
        self.busy_bar.setFixedWidth(80)
        self.busy_bar.setMaximumHeight(self.label.sizeHint().height())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.busy_label)
        layout.addWidget(self.busy_bar)
        layout.addWidget(dismiss)
        self.set_busy("")
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(INFO_SHOWN_MS)
        self._timer.timeout.connect(self._expire)
        self._error = ""
        self.history: list[str] = []  # everything shown, newest last

    def show_error(self, text: str) -> None:
        self.history.append(text)
        self._error = text
        self._timer.stop()
        self._show(f"⚠ {text}", text, _ERROR_STYLE)

    def show_message(self, text: str) -> None:
        self.history.append(text)
        if self._error:
            return  # an error stays until dismissed or a new run starts
        self._show(text, text, _INFO_STYLE)
        self._timer.start()

    def set_busy(self, text: str) -> None:
        """Show that something runs in the background ("opening photo.png…"), or nothing with ""."""
        self.busy_label.setText(text)
        self.busy_label.setVisible(bool(text))
        self.busy_bar.setVisible(bool(text))

    def error(self) -> str:
        """The error on show, or '' when none is."""
        return self._error

    def clear(self) -> None:
        self._error = ""
        self._timer.stop()
        self._show(" ", "", _INFO_STYLE)

    def stop(self) -> None:
        self._timer.stop()

    def _expire(self) -> None:
        if not self._error:
            self.clear()

    def _show(self, text: str, tooltip: str, style: str) -> None:
        self.label.setStyleSheet(style)
        self.label.setText(_shortened(text))
        self.label.setToolTip(_shortened(tooltip))
        self._dismiss.setVisible(bool(tooltip))


def _shortened(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"
