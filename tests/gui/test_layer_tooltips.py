"""Every layer chip and architecture-table row says why its output has its shape, with its own numbers,
and explains the concepts it is made of (depth, stride, zero-padding, dilation, receptive field, jump)."""
from __future__ import annotations

from PySide6.QtWidgets import QPlainTextEdit

from gui.concepts import TOOLTIPS
from tests.gui.user_actions import hover_tooltip


def test_hovering_a_chip_tells_its_shape_formula_and_concepts(window):
    strip = window.layer_strip
    conv1 = strip.chip_widget(0)
    text = hover_tooltip(conv1, conv1.rect().center())
    assert text == conv1.toolTip()
    assert "conv1: (28 − 5 + 2·0)/1 + 1 = 24" in text
    for concept in ("conv", "depth", "stride", "zero-padding", "dilation", "receptive field", "jump"):
        assert TOOLTIPS[concept] in text, concept
    assert "Here 5×5 pixels" in text and "Here 1 px" in text  # its receptive field and jump
    assert "pool1: (24 − 2 + 2·0)/2 + 1 = 12" in strip.chip_widget(2).toolTip()
    assert "Here 2 px" in strip.chip_widget(3).toolTip()  # conv2's units sit 2 input pixels apart
    assert "flatten: 16·4·4 = 256" in strip.chip_widget(6).toolTip()
    assert "fc3: 84 inputs → 10 units" in strip.chip_widget(11).toolTip()


def test_table_rows_explain_their_shapes_and_follow_the_typed_text(window, qtbot):
    editor = window.editor
    assert "conv2: (12 − 5 + 2·0)/1 + 1 = 8" in editor.row_tooltip(3)
    window.findChild(QPlainTextEdit, "architectureText").setPlainText("INPUT(1x28x28) -> CONV(4,3,s=2,p=1) -> RELU -> FC(10)")
    qtbot.waitUntil(lambda: "conv1: ⌊(28 − 3 + 2·1)/2⌋ + 1 = 14" in editor.row_tooltip(0), timeout=5_000)
    assert TOOLTIPS["stride"] in editor.row_tooltip(0)
    assert "fc1: 784 inputs → 10 units" in editor.row_tooltip(3)
