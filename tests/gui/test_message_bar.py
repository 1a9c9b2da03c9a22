from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton

from gui.message_bar import MessageBar


def test_errors_stay_until_dismissed_and_messages_fade(qtbot):
    bar = MessageBar()
    qtbot.addWidget(bar)
    bar._timer.setInterval(300)  # the 8 s a user gets to read a message, shortened for the test
    bar.show()
    dismiss = bar.findChild(QToolButton, "dismissMessage")
    height, width = bar.sizeHint().height(), bar.label.width()
    assert not dismiss.isVisible()  # nothing to dismiss
    bar.show_message("saved model.pt")
    assert bar.label.text() == "saved model.pt" and bar.error() == "" and dismiss.isVisible()
    qtbot.waitUntil(lambda: bar.label.text() == " ", timeout=5000)
    assert not dismiss.isVisible() and bar.label.width() == width  # the line keeps its place
    bar.show_error("model.pt is not a readable checkpoint")
    bar.show_message("showing the live weights")  # does not hide the error
    assert bar.error() == "model.pt is not a readable checkpoint" and "model.pt" in bar.label.text()
    assert bar.sizeHint().height() == height
    qtbot.mouseClick(dismiss, Qt.MouseButton.LeftButton)
    assert bar.error() == "" and bar.history[-1] == "showing the live weights"
