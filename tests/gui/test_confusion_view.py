import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from gui.panels.confusion_view import ConfusionView


@pytest.fixture
def view(qtbot):
    widget = ConfusionView()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    return widget


def click_cell(view, row, col):
    table = view.table
    rect = table.visualItemRect(table.item(row, col))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_matrix_is_shown_and_clicking_a_non_empty_cell_emits_it(view, qtbot):
    matrix = np.array([[5, 1, 0], [0, 4, 2], [1, 0, 6]])
    view.set_matrix(matrix, ["a", "b", "c"], "accuracy 79%")
    assert view.summary.text() == "accuracy 79%"
    assert [[view.table.item(r, c).text() for c in range(3)] for r in range(3)] == [
        ["5", "1", ""], ["", "4", "2"], ["1", "", "6"]]
    with qtbot.waitSignal(view.cellChosen) as chosen:
        click_cell(view, 1, 2)
    assert chosen.args == [1, 2]
    with qtbot.assertNotEmitted(view.cellChosen):
        click_cell(view, 0, 2)  # empty cell: nothing to browse


def test_buttons_emit_and_a_wrong_shape_is_refused(view, qtbot):
    with qtbot.waitSignal(view.evaluateRequested):
        QTest.mouseClick(view.evaluate_button, Qt.MouseButton.LeftButton)
    assert not view.all_button.isEnabled()
    view.set_browsing_cell(True)
    with qtbot.waitSignal(view.showAllRequested):
        QTest.mouseClick(view.all_button, Qt.MouseButton.LeftButton)
    with pytest.raises(ValueError, match="square"):
        view.set_matrix(np.zeros((2, 3)), ["a", "b"], "")
