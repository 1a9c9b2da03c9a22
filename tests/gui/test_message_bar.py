from gui.message_bar import MessageBar


def test_errors_stay_until_dismissed_and_messages_fade(qtbot):
    bar = MessageBar()
    qtbot.addWidget(bar)
    bar._timer.setInterval(300)  # the 8 s a user gets to read a message, shortened for the test
    bar.show()
    height = bar.sizeHint().height()
    bar.show_message("saved model.pt")
    assert bar.label.text() == "saved model.pt" and bar.error() == ""
    qtbot.waitUntil(lambda: bar.label.text() == " ", timeout=5000)
    bar.show_error("model.pt is not a readable checkpoint")
    bar.show_message("showing the live weights")  # does not hide the error
    assert bar.error() == "model.pt is not a readable checkpoint" and "model.pt" in bar.label.text()
    assert bar.sizeHint().height() == height
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QToolButton

    qtbot.mouseClick(bar.findChild(QToolButton, "dismissMessage"), Qt.MouseButton.LeftButton)
    assert bar.error() == "" and bar.history[-1] == "showing the live weights"
