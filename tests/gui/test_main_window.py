"""The main window driven like a user: draw, step layers, train, hover units, drop files."""
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from core.receptive_field import receptive_fields, unit_box
from gui.main_window import MainWindow
from tests.gui.user_actions import choose_training, click, drag, drop_file, hover_unit, seven, views_drawn


def test_builds_with_no_arguments_and_shows_the_default_model(qtbot):
    win = MainWindow()
    qtbot.addWidget(win)
    assert win.current_layer_name() == "conv1"
    probabilities = win.current_probabilities()
    assert probabilities.shape == (10,) and abs(probabilities.sum() - 1) < 1e-5
    win.close()


def test_drawing_a_seven_predicts_seven_while_drawing(window, qtbot):
    canvas = window.findChild(type(window.canvas), "drawCanvas")
    QTest.mouseClick(canvas.clear_button, Qt.MouseButton.LeftButton)
    assert window.current_probabilities() is None
    stroke = seven()
    drag(canvas, stroke[:10])
    partial = window.current_probabilities().copy()
    drag(canvas, stroke[9:])
    probabilities = window.current_probabilities()
    assert not np.allclose(partial, probabilities)  # the prediction followed the pen
    assert int(np.argmax(probabilities)) == 7
    assert window.prediction.top_class() == "7"
    assert window.input_view.caption.text() == "your drawing"


def test_right_key_steps_layers_and_the_feature_map_grid_changes_shape(window, qtbot):
    strip = window.findChild(type(window.layer_strip), "layerStrip")
    assert window.current_layer_name() == "conv1"
    conv1_shape = window.feature_maps.map_shape()
    assert window.feature_maps.map_count() == 8 and conv1_shape == (24, 24)
    names = [window.current_layer_name()]
    for _ in range(3):
        QTest.keyClick(window, Qt.Key.Key_Right)
        names.append(window.current_layer_name())
    assert names == ["conv1", "relu1", "pool1", "conv2"]
    assert strip.current_index() == 3
    assert window.feature_maps.map_count() == 16 and window.feature_maps.map_shape() == (8, 8)
    QTest.keyClick(window, Qt.Key.Key_Left)
    assert window.current_layer_name() == "pool1" and window.feature_maps.map_shape() == (12, 12)


@pytest.mark.slow
def test_training_a_few_batches_changes_the_filters_shown(window, qtbot):
    window.state.show_sample(3)
    first_step = window.state.session.step
    filters_before = window.filters.mosaic().copy()
    maps_before = window.feature_maps.mosaic().copy()
    click(window, "stepButton")
    qtbot.waitUntil(lambda: window.state.session.step == first_step + 1, timeout=60_000)
    assert window.training.state() == "paused"
    click(window, "startButton")
    qtbot.waitUntil(lambda: window.state.session.step >= first_step + 5, timeout=60_000)
    assert window.training.state() == "running"
    click(window, "stopButton")
    qtbot.waitUntil(lambda: window.coordinator.state.value == "idle", timeout=10_000)
    assert not np.array_equal(window.filters.mosaic(), filters_before)
    assert not np.array_equal(window.feature_maps.mosaic(), maps_before)
    assert window.state.history.steps[-1] >= first_step + 5  # the loss curve continued from the checkpoint's


def test_hovering_a_unit_draws_core_receptive_field_box(window, qtbot):
    for _ in range(3):
        QTest.keyClick(window, Qt.Key.Key_Right)
    assert window.current_layer_name() == "conv2"
    fields = {rf.name: rf for rf in receptive_fields(window.state.session.model, (1, 28, 28))}
    for channel, row, col in [(2, 3, 4), (0, 0, 0), (15, 7, 7)]:
        hover_unit(window.feature_maps, channel, row, col)
        expected = unit_box(fields["conv2"], row, col, (28, 28))
        assert window.input_view.receptive_field_box() == (expected.top, expected.left, expected.bottom, expected.right)
        erf = window.input_view.erf_item.image
        assert erf is not None and erf.shape == (28, 28)
        outside = np.ones((28, 28), bool)
        outside[expected.top : expected.bottom, expected.left : expected.right] = False
        assert erf[~outside].max() > 0 and np.all(erf[outside] == 0)


def test_dropping_a_corrupt_image_shows_a_message_and_keeps_the_input(window, qtbot, tmp_path):
    window.state.show_sample(5)
    input_before = window.state.session.input.copy()
    probabilities = window.current_probabilities().copy()
    corrupt = tmp_path / "photo.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    drop_file(window, corrupt)
    assert "photo.png" in window.last_message()
    assert "photo.png" in window.error_text() and window.messages.isVisible()
    np.testing.assert_array_equal(window.state.session.input, input_before)
    np.testing.assert_allclose(window.current_probabilities(), probabilities)
    QTest.keyClick(window, Qt.Key.Key_Right)  # still working
    assert window.current_layer_name() == "relu1"


def test_dropping_a_good_image_makes_it_the_input(window, tmp_path):
    from PIL import Image

    from core.data import mnist_subset_raw

    images, labels = mnist_subset_raw("test")
    index = int(np.flatnonzero(labels == 3)[0])
    Image.fromarray(255 - images[index]).save(tmp_path / "three.png")  # dark ink on white, like a scan
    drop_file(window, tmp_path / "three.png")
    assert window.input_view.caption.text() == "three.png"
    assert int(np.argmax(window.current_probabilities())) == 3


def test_sample_navigation_shows_the_true_label(window, qtbot):
    click(window, "nextSample")
    assert window.input_view.caption.text().startswith("test sample 2 / 1000")
    click(window, "previousSample")
    click(window, "previousSample")
    assert window.input_view.caption.text().startswith("test sample 1000 / 1000")


def test_an_error_escaping_a_slot_reaches_the_user(window):
    from gui.app import _report_to

    report = _report_to(window)
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        report(type(exc), exc, exc.__traceback__)
    assert "unexpected RuntimeError: boom" in window.error_text()


def test_confusion_matrix_of_the_bundled_model_lets_the_user_browse_its_mistakes(window, qtbot):
    from PySide6.QtWidgets import QTabWidget

    from tests.gui.test_confusion_view import click_cell

    tabs = window.findChild(QTabWidget, "viewTabs")
    bar = tabs.tabBar()
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(tabs.indexOf(window.confusion)).center())
    assert window.confusion.isVisible()
    QTest.mouseClick(window.confusion.evaluate_button, Qt.MouseButton.LeftButton)
    assert window.confusion.summary.text().startswith("evaluating")  # off the GUI thread
    qtbot.waitUntil(lambda: window.confusion.matrix().size > 0, timeout=30_000)
    matrix = window.confusion.matrix()
    assert matrix.sum() == 1000 and np.trace(matrix) >= 970
    assert "accuracy 9" in window.confusion.summary.text()
    true, predicted = np.unravel_index(np.argmax(matrix - np.diag(np.diag(matrix))), matrix.shape)
    click_cell(window.confusion, int(true), int(predicted))
    assert window.input_view.caption.text().startswith(f"true {true}, predicted {predicted}: 1 of {matrix[true, predicted]}")
    assert int(np.argmax(window.current_probabilities())) == predicted
    click(window, "nextSample")
    assert int(np.argmax(window.current_probabilities())) == predicted
    QTest.mouseClick(window.confusion.all_button, Qt.MouseButton.LeftButton)
    assert window.input_view.caption.text().startswith("test sample")


@pytest.mark.slow
def test_each_epoch_adds_a_test_accuracy_point_measured_by_the_window(window, qtbot):
    before = len(window.state.history.test_steps)
    choose_training(window, "sgd", 0.005, 256, 1)
    click(window, "startButton")
    qtbot.waitUntil(lambda: len(window.state.history.test_steps) == before + 1, timeout=60_000)
    qtbot.waitUntil(lambda: window.coordinator.state.value == "finished", timeout=60_000)
    assert window.state.history.test_steps[-1] == window.state.history.steps[-1]
    assert window.state.history.test_accuracy[-1] > 0.95  # fine-tuning the trained model at a small rate
    click(window, "stopButton")


@pytest.mark.slow
def test_looking_back_shows_the_filters_of_an_earlier_epoch(window, qtbot):
    from PySide6.QtWidgets import QSlider

    start_filters = window.filters.mosaic().copy()
    ended = []
    window.coordinator.run_ended.connect(ended.append)
    choose_training(window, "sgd", 0.05, 256, 2)
    click(window, "startButton")
    # The run's final weights come with its verdict, after the last epoch's test pass: "finished" can
    # be shown a poll before them.
    qtbot.waitUntil(lambda: window.coordinator.state.value == "finished" and bool(ended), timeout=60_000)
    assert len(window.state.timeline_steps) == 3  # the start and both epoch ends
    views_drawn(window, qtbot)
    end_filters = window.filters.mosaic().copy()
    assert not np.array_equal(end_filters, start_filters)
    slider = window.findChild(QSlider, "lookBackSlider")
    slider.setFocus()
    QTest.keyClick(slider, Qt.Key.Key_Home)  # all the way back, as a user would with the keyboard
    assert window.curves.timeline_position() == 0
    views_drawn(window, qtbot)  # the filters follow the maps a turn later
    np.testing.assert_array_equal(window.filters.mosaic(), start_filters)
    assert "step" in window.last_message()
    QTest.keyClick(slider, Qt.Key.Key_End)
    assert window.curves.timeline_position() == -1
    views_drawn(window, qtbot)
    np.testing.assert_array_equal(window.filters.mosaic(), end_filters)
    click(window, "stopButton")


def test_a_new_model_shows_its_maps_at_once_and_its_other_views_on_the_next_turns(window, qtbot):
    from core.architecture import PRESETS, parse
    from core.model_session import ModelSession

    old_filters, session = window.filters.mosaic().copy(), window.state.session
    tinyvgg = ModelSession.from_architecture(parse(PRESETS["tinyvgg"]), session.classes, session.normalization, seed=1)
    window.state.show_sample(0)
    window.state.replace_session(tinyvgg, architecture_text=PRESETS["tinyvgg"])
    # on the turn of the new model: its chips, and the maps of its layer for the input on show
    assert window.layer_strip.chip_widget(len(tinyvgg.layers) - 1).text().startswith(tinyvgg.layers[-1].name)
    assert window.feature_maps.title_text().startswith(window.state.layer)
    assert window.binder.drawing  # the rest waits for the next turns
    np.testing.assert_array_equal(window.filters.mosaic(), old_filters)
    views_drawn(window, qtbot)
    new_filters = window.filters.mosaic()
    assert new_filters.shape != old_filters.shape or not np.array_equal(new_filters, old_filters, equal_nan=True)
    assert window.editor.text() == PRESETS["tinyvgg"]


def test_a_large_dropped_image_is_shrunk_for_display_while_it_is_opened(window, tmp_path):
    from PIL import Image

    gradient = np.linspace(0, 255, 1200, dtype=np.float32)
    pixels = np.stack([np.add.outer(gradient, gradient) / 2] * 3, axis=-1).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "large.png")
    drop_file(window, tmp_path / "large.png")
    shown = window.state.input
    assert max(shown.original.shape[:2]) > 160  # decoded at about a megapixel
    assert shown.thumbnail is not None and max(shown.thumbnail.shape[:2]) <= 160
    np.testing.assert_array_equal(window.input_view.original_item.image, shown.thumbnail)  # drawn as made
