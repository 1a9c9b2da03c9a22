import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.quiet_label import QuietLabel

TEXTS = ("1 — 12.5%", "a much longer line of text than before, that will be elided", "2")


class LayoutRequests(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def relayouts_while_texts_change(qtbot, parent: QWidget, label) -> int:
    QVBoxLayout(parent).addWidget(label)
    qtbot.addWidget(parent)
    parent.show()
    qtbot.waitExposed(parent)
    qtbot.wait(20)  # the first layout is done
    requests = LayoutRequests()
    parent.installEventFilter(requests)
    for text in TEXTS:
        label.setText(text)
        qtbot.wait(5)
    return requests.count


@pytest.mark.parametrize("kind, relayouts", [(QuietLabel, 0), (QLabel, len(TEXTS))])
def test_a_new_text_repaints_the_label_without_relayout_of_its_parents(qtbot, kind, relayouts):
    parent, label = QWidget(), kind("7 — 99.4%")
    hint = label.sizeHint()
    assert relayouts_while_texts_change(qtbot, parent, label) == relayouts  # a QLabel asks its parents every time
    assert label.text() == "2"
    if kind is QuietLabel:
        assert label.sizeHint() == hint
        image = label.grab().toImage()
        assert any(image.pixelColor(x, image.height() // 2) != image.pixelColor(0, 0) for x in range(image.width()))
