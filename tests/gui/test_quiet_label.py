from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QVBoxLayout, QWidget

from gui.quiet_label import QuietLabel


class LayoutRequests(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def test_a_new_text_repaints_the_label_without_relayout_of_its_parents(qtbot):
    parent = QWidget()
    label = QuietLabel("7 — 99.4%")
    QVBoxLayout(parent).addWidget(label)
    qtbot.addWidget(parent)
    parent.show()
    qtbot.waitExposed(parent)
    requests = LayoutRequests()
    parent.installEventFilter(requests)
    hint = label.sizeHint()
    for text in ("1 — 12.5%", "a much longer line of text than before, that will be elided", "2"):
        label.setText(text)
        qtbot.wait(5)
    assert label.text() == "2" and label.sizeHint() == hint and requests.count == 0
    image = label.grab().toImage()
    assert any(image.pixelColor(x, image.height() // 2) != image.pixelColor(0, 0) for x in range(image.width()))
