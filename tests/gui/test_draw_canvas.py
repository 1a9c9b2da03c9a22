"""DrawCanvas: real mouse events become ink, signals fire per segment, and both clear paths work."""
import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from gui.panels.draw_canvas import DrawCanvas


@pytest.fixture
def canvas(qtbot):
    widget = DrawCanvas()
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def drag(widget, points: list[tuple[int, int]]) -> None:
    """Press at the first point, move with the left button held through the rest, release at the last."""
    first, *rest = [QPointF(x, y) for x, y in points]
    press(widget, first)
    for point in rest:
        move = QMouseEvent(
            QEvent.Type.MouseMove,
            point,
            widget.mapToGlobal(point),
            Qt.MouseButton.NoButton,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(widget, move)
    release = QMouseEvent(
        QEvent.Type.MouseButtonRelease,
        rest[-1] if rest else first,
        widget.mapToGlobal(rest[-1] if rest else first),
        Qt.MouseButton.LeftButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, release)


def press(widget, point: QPointF) -> None:
    press = QMouseEvent(
        QEvent.Type.MouseButtonPress,
        point,
        widget.mapToGlobal(point),
        Qt.MouseButton.LeftButton,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, press)


def test_starts_empty_and_black(canvas):
    assert canvas.objectName() == "drawCanvas"
    assert canvas.is_empty()
    drawing = canvas.drawing()
    assert drawing.shape == (280, 280)
    assert drawing.dtype == np.float32
    assert drawing.max() == 0.0


def test_stroke_puts_ink_along_the_path_only(canvas):
    drag(canvas, [(40, 140), (100, 140), (160, 140), (240, 140)])
    drawing = canvas.drawing()
    assert not canvas.is_empty()
    assert 0.0 <= drawing.min() and drawing.max() <= 1.0
    row = drawing[140]
    assert (row[45:235] > 0.9).all(), "the horizontal stroke should be solid ink along its length"
    assert drawing[20].max() == 0.0 and drawing[260].max() == 0.0, "rows far from the stroke stay black"
    assert drawing[140, 5] == 0.0 and drawing[140, 275] == 0.0, "ink does not extend far past the ends"
    stroke_width = int((drawing[:, 140] > 0.5).sum())
    assert 280 / 14 <= stroke_width <= 280 / 8, f"pen should be MNIST-like, got {stroke_width} px wide"


def test_press_alone_leaves_a_round_dot(canvas):
    press(canvas, QPointF(140, 140))
    drawing = canvas.drawing()
    assert drawing[140, 140] > 0.9
    ys, xs = np.nonzero(drawing > 0.5)
    assert abs(np.ptp(ys) - np.ptp(xs)) <= 1


def test_signal_fires_on_press_and_every_move_with_fresh_copies(canvas, qtbot):
    received: list[np.ndarray] = []
    canvas.drawingChanged.connect(received.append)
    drag(canvas, [(50, 50), (80, 60), (110, 70), (140, 80)])
    assert len(received) == 4, "one emission for the press and one per move"
    ink = [float(frame.sum()) for frame in received]
    assert ink == sorted(ink) and ink[-1] > ink[0], "each segment adds ink"
    assert all(frame.dtype == np.float32 and frame.shape == (280, 280) for frame in received)
    received[0][:] = 0.5
    assert received[1].max() == 1.0 and canvas.drawing()[0, 0] == 0.0, "emitted arrays are independent copies"
    np.testing.assert_array_equal(received[-1], canvas.drawing())


def test_move_without_button_does_not_draw(canvas):
    hover = QMouseEvent(
        QEvent.Type.MouseMove,
        QPointF(100, 100),
        canvas.mapToGlobal(QPointF(100, 100)),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(canvas, hover)
    assert canvas.is_empty()
    assert canvas.drawing().max() == 0.0


def test_right_button_does_not_draw(canvas, qtbot):
    qtbot.mousePress(canvas, Qt.MouseButton.RightButton, pos=QPoint(100, 100))
    assert canvas.is_empty()


def test_qtbot_press_draws(canvas, qtbot):
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(70, 200))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(70, 200))
    assert canvas.drawing()[200, 70] > 0.9


@pytest.mark.parametrize("key", [Qt.Key.Key_Delete, Qt.Key.Key_Backspace])
def test_delete_and_backspace_clear(canvas, qtbot, key):
    drag(canvas, [(60, 60), (200, 200)])
    assert canvas.hasFocus(), "drawing gives the canvas keyboard focus"
    with qtbot.waitSignal(canvas.cleared, timeout=1000):
        qtbot.keyClick(canvas, key)
    assert canvas.is_empty()
    assert canvas.drawing().max() == 0.0


def test_clear_button_clears(canvas, qtbot):
    drag(canvas, [(60, 200), (200, 60)])
    assert canvas.drawing().max() > 0.0
    with qtbot.waitSignal(canvas.cleared, timeout=1000):
        qtbot.mouseClick(canvas.clear_button, Qt.MouseButton.LeftButton)
    assert canvas.is_empty()
    assert canvas.drawing().max() == 0.0


def test_clear_button_sits_below_the_drawing_area(canvas):
    button_top = canvas.clear_button.geometry().top()
    assert button_top >= canvas.drawing().shape[0]


def test_can_draw_again_after_clear(canvas):
    drag(canvas, [(30, 30), (60, 30)])
    canvas.clear()
    drag(canvas, [(200, 250), (250, 250)])
    drawing = canvas.drawing()
    assert drawing[30, 45] == 0.0
    assert drawing[250, 225] > 0.9


def test_rejects_tiny_canvas():
    with pytest.raises(ValueError, match="at least 28"):
        DrawCanvas(side=10)
