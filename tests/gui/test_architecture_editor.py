import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QPlainTextEdit, QTableWidget

from gui.panels.architecture_editor import ArchitectureEditor

PRESETS = {
    "LeNet-ish": "INPUT(1x28x28) -> CONV(6,5) -> RELU -> POOL(2) -> CONV(16,5) -> RELU -> POOL(2) -> FC(10)",
    "Tiny": "INPUT(1x28x28) -> CONV(4,3) -> RELU -> FC(10)",
}
EDIT_WAIT = 400


@pytest.fixture
def editor(qtbot):
    widget = ArchitectureEditor()
    qtbot.addWidget(widget)
    widget.set_presets(PRESETS, "Tiny")
    return widget


def text_box(editor) -> QPlainTextEdit:
    return editor.findChild(QPlainTextEdit, "architectureText")


def test_set_presets_shows_the_current_text_without_reporting_an_edit(editor, qtbot):
    assert editor.text() == PRESETS["Tiny"]
    box = editor.findChild(QComboBox, "presetBox")
    assert [box.itemText(i) for i in range(2)] == list(PRESETS)
    with qtbot.assertNotEmitted(editor.architectureEdited, wait=EDIT_WAIT):
        editor.set_presets(PRESETS, "LeNet-ish")
    assert editor.text() == PRESETS["LeNet-ish"]


def test_loaded_architecture_text_is_shown_but_not_reported_as_an_edit(editor, qtbot):
    with qtbot.assertNotEmitted(editor.architectureEdited, wait=EDIT_WAIT):
        qtbot.keyClicks(text_box(editor), " -> RELU")  # a pending edit is superseded by the loaded text
        editor.set_text(PRESETS["LeNet-ish"])
    assert editor.text() == PRESETS["LeNet-ish"]


def test_unknown_current_preset_is_a_clear_error(editor):
    with pytest.raises(KeyError, match="'VGG' is not among the presets"):
        editor.set_presets(PRESETS, "VGG")


def test_picking_a_preset_puts_its_text_in_the_editor_and_reports_it(editor, qtbot):
    box = editor.findChild(QComboBox, "presetBox")
    box.setFocus()
    with qtbot.waitSignal(editor.architectureEdited, timeout=2000) as edited:
        qtbot.keyClick(box, Qt.Key.Key_Up)
    assert box.currentText() == "LeNet-ish"
    assert editor.text() == PRESETS["LeNet-ish"]
    assert edited.args == [PRESETS["LeNet-ish"]]


def test_typing_emits_one_debounced_architecture_edit(editor, qtbot):
    box = text_box(editor)
    box.moveCursor(box.textCursor().MoveOperation.End)
    received = []
    editor.architectureEdited.connect(received.append)
    with qtbot.waitSignal(editor.architectureEdited, timeout=2000):
        qtbot.keyClicks(box, " -> SOFTMAX")
    assert received == [PRESETS["Tiny"] + " -> SOFTMAX"]
    assert editor.text() == PRESETS["Tiny"] + " -> SOFTMAX"


def test_architecture_table_and_error(editor):
    rows = [
        ("input", "INPUT", "1x28x28", "0", "1"),
        ("conv1", "CONV", "4x26x26", "40", "3"),
        ("fc1", "FC", "10", "27050", "28"),
    ]
    editor.show_error("line 1: CONV needs (filters, size), got CONV(4)")
    assert editor.error() == "line 1: CONV needs (filters, size), got CONV(4)"
    assert "border" in text_box(editor).styleSheet()
    editor.show_table(rows)
    assert editor.table_rows() == rows
    assert editor.error() == ""
    assert text_box(editor).styleSheet() == ""
    editor.show_table(rows[:1])
    assert editor.table_rows() == rows[:1]


def test_height_does_not_follow_the_text_error_or_table(editor, qtbot):
    editor.show()
    qtbot.waitExposed(editor)
    before = editor.sizeHint().height()
    editor.show_error("a very long error message " * 20)
    editor.show_table([("conv", "conv", "1x1x1", "1", "1")] * 40)
    editor.set_text("INPUT(1x28x28) ->\n" * 30 + "FC(10)")
    assert editor.sizeHint().height() == before
    assert editor.findChild(QTableWidget, "architectureTable").rowCount() == 40


def test_a_pasted_megabyte_is_cut_to_the_limit_and_typing_stops_there(editor, qtbot):
    from PySide6.QtWidgets import QApplication

    from gui.panels.architecture_editor import MAX_TEXT

    box = text_box(editor)
    QApplication.clipboard().setText("A" * 1_000_000)
    box.setFocus()
    with qtbot.waitSignal(editor.architectureEdited, timeout=5000):
        qtbot.keyClick(box, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert len(editor.text()) == MAX_TEXT
    qtbot.keyClicks(box, "xyz")
    assert len(editor.text()) == MAX_TEXT
    editor.show_error("unknown layer '" + "A" * 5000 + "'")
    assert len(editor.error()) <= 300
