"""Mouse gestures a user makes, as real Qt events on real widgets."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QHelpEvent, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QPushButton, QToolTip, QWidget


def drag(widget: QWidget, points: list[tuple[float, float]]) -> None:
    """Press at the first point, move with the left button held through the rest, release at the last."""
    first, *rest = [QPointF(x, y) for x, y in points]
    _send(widget, QEvent.Type.MouseButtonPress, first, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton)
    for point in rest:
        _send(widget, QEvent.Type.MouseMove, point, Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton)
    last = rest[-1] if rest else first
    _send(widget, QEvent.Type.MouseButtonRelease, last, Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton)


def _send(widget: QWidget, kind: QEvent.Type, point: QPointF, button, buttons) -> None:
    event = QMouseEvent(kind, point, widget.mapToGlobal(point), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def hover_unit(view, channel: int, row: int, col: int) -> None:
    """Enter the view at its corner, then move onto the unit (Qt may swallow a window's first move)."""
    viewport = view.view_widget().viewport()
    QTest.mouseMove(viewport, QPoint(1, 1))
    QTest.mouseMove(viewport, view.unit_position(channel, row, col))


def drop_file(widget: QWidget, path: Path, wait: bool = True) -> None:
    """Drag a file in from outside (Qt only delivers a drop after an accepted drag-enter) and drop it."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    centre = QPoint(widget.width() // 2, widget.height() // 2)
    action, button, modifier = Qt.DropAction.CopyAction, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(centre, action, mime, button, modifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the window refused the drag"
    QApplication.sendEvent(widget, QDropEvent(QPointF(centre), action, mime, button, modifier))
    if wait and hasattr(widget, "files"):
        settle(widget)


def settle(window, timeout_s: float = 60.0) -> None:
    """Wait, with the event loop running, until the files being opened off the GUI thread are shown."""
    deadline = time.monotonic() + timeout_s
    while window.files.opening and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)  # as in model_built: the opening thread needs the GIL
    assert not window.files.opening, "a file was still being opened"


def model_built(window, timeout_s: float = 60.0) -> None:
    """Wait, with the event loop running, until a new architecture's model (built off the GUI thread
    after Start, Step or Reset weights) is on show."""
    deadline = time.monotonic() + timeout_s
    while window.coordinator.building and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)  # sleeping in Python hands the GIL to the builder thread; QTest.qWait keeps it
    assert not window.coordinator.building, "the new model was still being built"


def views_drawn(window, qtbot) -> None:
    """Wait until the views the latest change touched are all drawn (one per event-loop turn)."""
    qtbot.waitUntil(lambda: not window.binder.drawing, timeout=5_000)


def seven() -> list[tuple[float, float]]:
    """A handwritten-looking 7 on a 280 px canvas: a top bar and a slanted stem."""
    bar = [(80 + 8 * i, 70 + i * 0.5) for i in range(16)]
    stem = [(200 - 5 * i, 78 + 10 * i) for i in range(1, 16)]
    return bar + stem


def click(root: QWidget, object_name: str) -> None:
    """Click the button of that objectName somewhere inside ``root``, as a user would."""
    button = root.findChild(QPushButton, object_name)
    assert button is not None, f"no button named {object_name!r}"
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def choose_training(window, optimizer: str = "sgd", lr: float = 0.01, batch_size: int = 64, epochs: int = 5) -> None:
    """Set the optimiser controls of the training panel."""
    window.training.set_optimizer_settings(optimizer, lr, batch_size, epochs)


def click_unit(view, channel: int, row: int, col: int) -> None:
    """Point at a unit of the feature-map view, then click it."""
    hover_unit(view, channel, row, col)
    QTest.mouseClick(view.view_widget().viewport(), Qt.MouseButton.LeftButton, pos=view.unit_position(channel, row, col))


def open_tab(window, title: str) -> None:
    """Click the tab of that title beside the filters."""
    bar = window.tabs.tabBar()
    index = next((i for i in range(bar.count()) if bar.tabText(i) == title), None)
    assert index is not None, f"no tab titled {title!r}"
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert window.tabs.currentIndex() == index


def hover_tooltip(widget: QWidget, point: QPoint) -> str:
    """What a user reads after resting the mouse there: Qt's tooltip event, as the widget answers it."""
    QApplication.sendEvent(widget, QHelpEvent(QEvent.Type.ToolTip, point, widget.mapToGlobal(point)))
    text = QToolTip.text()
    QToolTip.hideText()
    return text


def choose(combo, text: str) -> None:
    """Pick an entry of a combo box with the keyboard, as a user would (the combo emits ``activated``)."""
    combo.setFocus()
    assert combo.findText(text) >= 0, f"{text!r} is not among {[combo.itemText(i) for i in range(combo.count())]}"
    key = Qt.Key.Key_Down if combo.findText(text) > combo.currentIndex() else Qt.Key.Key_Up
    while combo.currentText() != text:
        QTest.keyClick(combo, key)


def click_table_cell(table, row: int, column: int, button=Qt.MouseButton.LeftButton) -> None:
    """Click the centre of one cell of a QTableWidget."""
    table.scrollToItem(table.item(row, column))
    QTest.mouseClick(table.viewport(), button, pos=table.visualItemRect(table.item(row, column)).center())
