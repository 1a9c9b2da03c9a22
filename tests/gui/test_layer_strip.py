"""LayerStrip: chips show each layer, and clicks, keys and arrow buttons move one clamped selection."""
import pytest
from PySide6.QtCore import Qt

from gui.concepts import TOOLTIPS
from gui.panels.layer_strip import KIND_COLOURS, OTHER_KIND_COLOUR, LayerChip, LayerStrip

LENET_CHIPS = [
    LayerChip("conv1", "conv", "8x24x24", "RF 5", TOOLTIPS["conv"]),
    LayerChip("relu1", "relu", "8x24x24", "RF 5", TOOLTIPS["relu"]),
    LayerChip("pool1", "maxpool", "8x12x12", "RF 6", TOOLTIPS["pooling"]),
    LayerChip("conv2", "conv", "16x8x8", "RF 14", TOOLTIPS["conv"]),
    LayerChip("fc", "fc", "10", "RF all", TOOLTIPS["fc"]),
]


@pytest.fixture
def strip(qtbot):
    widget = LayerStrip()
    qtbot.addWidget(widget)
    widget.set_layers(LENET_CHIPS)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def highlighted(strip: LayerStrip) -> list[int]:
    return [i for i in range(len(LENET_CHIPS)) if strip.chip_widget(i).isChecked()]


def record(strip: LayerStrip) -> list[int]:
    emitted: list[int] = []
    strip.layerSelected.connect(emitted.append)
    return emitted


def test_chips_show_name_shape_and_receptive_field(strip):
    assert strip.objectName() == "layerStrip"
    for index, chip in enumerate(LENET_CHIPS):
        widget = strip.chip_widget(index)
        assert widget.text().split("\n") == [chip.name, chip.shape, chip.rf]
        assert widget.toolTip() == chip.tooltip
        assert KIND_COLOURS[chip.kind] in widget.styleSheet()
    assert strip.current_index() == 0
    assert highlighted(strip) == [0]


def test_chip_click_selects_and_emits(strip, qtbot):
    emitted = record(strip)
    qtbot.mouseClick(strip.chip_widget(3), Qt.MouseButton.LeftButton)
    assert strip.current_index() == 3
    assert emitted == [3]
    assert highlighted(strip) == [3]


def test_clicking_the_current_chip_keeps_it_highlighted_without_emitting(strip, qtbot):
    emitted = record(strip)
    qtbot.mouseClick(strip.chip_widget(0), Qt.MouseButton.LeftButton)
    assert highlighted(strip) == [0]
    assert emitted == []


def test_arrow_keys_step_when_focused(strip, qtbot):
    emitted = record(strip)
    strip.setFocus()
    qtbot.keyClick(strip, Qt.Key.Key_Right)
    qtbot.keyClick(strip, Qt.Key.Key_Right)
    qtbot.keyClick(strip, Qt.Key.Key_Left)
    assert emitted == [1, 2, 1]
    assert highlighted(strip) == [1]


def test_click_then_keys_keep_working(strip, qtbot):
    qtbot.mouseClick(strip.chip_widget(2), Qt.MouseButton.LeftButton)
    assert strip.hasFocus(), "clicking a chip gives the strip the keyboard"
    qtbot.keyClick(strip, Qt.Key.Key_Right)
    assert strip.current_index() == 3


def test_arrow_buttons_step_and_disable_at_the_ends(strip, qtbot):
    emitted = record(strip)
    assert not strip.previous_button.isEnabled()
    for _ in range(len(LENET_CHIPS) - 1):
        qtbot.mouseClick(strip.next_button, Qt.MouseButton.LeftButton)
    assert strip.current_index() == len(LENET_CHIPS) - 1
    assert not strip.next_button.isEnabled()
    qtbot.mouseClick(strip.previous_button, Qt.MouseButton.LeftButton)
    assert emitted == [1, 2, 3, 4, 3]


def test_set_current_clamps_and_emits_only_on_change(strip):
    emitted = record(strip)
    strip.set_current(99)
    strip.set_current(42)
    strip.set_current(-5)
    strip.set_current(0)
    assert emitted == [4, 0]
    assert strip.current_index() == 0


def test_step_past_the_ends_is_clamped(strip):
    emitted = record(strip)
    strip.step(-1)
    strip.step(10)
    strip.step(1)
    assert emitted == [4]
    assert strip.current_index() == 4


def test_set_layers_replaces_chips_without_emitting(strip):
    emitted = record(strip)
    strip.set_layers(LENET_CHIPS[:2], current=7)
    assert emitted == []
    assert strip.current_index() == 1
    assert strip.chip_widget(1).isChecked()
    with pytest.raises(IndexError, match="2 layers"):
        strip.chip_widget(2)


def test_a_new_model_relabels_recolours_and_adds_chips_that_all_work(strip, qtbot):
    """The strip reuses its chips for a new model's layers: each must show and select its new layer."""
    bigger = [LayerChip("c1", "fc", "64", "RF all", "first"), LayerChip("c2", "conv", "4x4x4", "RF 3", "second")]
    bigger += [LayerChip(f"x{i}", "relu", "4x4x4", "RF 3", f"extra {i}") for i in range(6)]
    strip.set_layers(bigger)
    assert [strip.chip_widget(i).text().splitlines()[0] for i in range(8)] == ["c1", "c2"] + [f"x{i}" for i in range(6)]
    assert KIND_COLOURS["fc"] in strip.chip_widget(0).styleSheet() and KIND_COLOURS["conv"] not in strip.chip_widget(0).styleSheet()
    assert strip.chip_widget(1).toolTip() == "second" and KIND_COLOURS["conv"] in strip.chip_widget(1).styleSheet()
    emitted = record(strip)
    for index in (7, 1):
        qtbot.mouseClick(strip.chip_widget(index), Qt.MouseButton.LeftButton)
    assert emitted == [7, 1] and [i for i in range(8) if strip.chip_widget(i).isChecked()] == [1]
    strip.set_layers(LENET_CHIPS[:3], current=2)
    assert strip.chip_widget(2).text().startswith("pool1") and strip.chip_widget(2).isChecked()
    assert sum(chip.isVisible() for chip in strip.findChildren(type(strip.chip_widget(0)))) == 3


def test_unknown_kind_still_gets_a_colour(strip):
    strip.set_layers([LayerChip("mystery", "SwishGate", "4x4", "RF 3", "custom layer")])
    assert OTHER_KIND_COLOUR in strip.chip_widget(0).styleSheet()


def test_empty_strip_has_no_selection(qtbot):
    strip = LayerStrip()
    qtbot.addWidget(strip)
    emitted = record(strip)
    strip.step(1)
    strip.set_current(3)
    assert strip.current_index() == -1
    assert emitted == []
    assert not strip.next_button.isEnabled() and not strip.previous_button.isEnabled()
