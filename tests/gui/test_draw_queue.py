from PySide6.QtCore import QTimer

from gui.draw_queue import DrawQueue


def test_queued_draws_run_one_per_turn_in_order_and_a_repeat_runs_once(qtbot):
    queue, ran, turns = DrawQueue(), [], []
    first, second = (lambda: ran.append("first")), (lambda: ran.append("second"))
    queue.later(first, second)
    queue.later(first)  # queued again before it ran
    assert ran == [] and queue.pending == 2  # nothing on the caller's turn
    beat = QTimer()  # another 0 ms timer: a new turn of the event loop each time it fires
    beat.setInterval(0)
    beat.timeout.connect(lambda: turns.append(list(ran)))
    beat.start()
    qtbot.waitUntil(lambda: queue.pending == 0)
    qtbot.wait(10)
    beat.stop()
    assert ran == ["first", "second"]
    assert ["first"] in turns  # a turn came between the first and the second


def test_flush_runs_everything_now_and_clear_drops_it(qtbot):
    queue, ran = DrawQueue(), []
    queue.later(lambda: ran.append(1), lambda: ran.append(2))
    queue.flush()
    assert ran == [1, 2] and queue.pending == 0
    queue.later(lambda: ran.append(3))
    queue.clear()
    qtbot.wait(20)
    assert ran == [1, 2]


def test_a_draw_that_queues_another_gets_it_run(qtbot):
    queue, ran = DrawQueue(), []
    queue.later(lambda: queue.later(lambda: ran.append("queued by a draw")))
    qtbot.waitUntil(lambda: ran == ["queued by a draw"])
