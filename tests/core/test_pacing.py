import pytest

from core.pacing import Pacer


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_full_speed_never_waits():
    time = FakeTime()
    pacer = Pacer(None, time.clock, time.sleep)
    for _ in range(5):
        pacer.wait()
    assert time.slept == [] and pacer.due_in() == 0


def test_steps_are_spaced_by_the_pace_and_a_slow_step_brings_no_burst():
    time = FakeTime()
    pacer = Pacer(4.0, time.clock, time.sleep)
    starts = []
    for _ in range(4):
        pacer.wait()
        starts.append(time.now)
    assert [round(b - a, 6) for a, b in zip(starts, starts[1:])] == [0.25, 0.25, 0.25]
    time.now += 2.0  # a step that took two seconds
    pacer.wait()
    assert pacer.due_in() == pytest.approx(0.25)  # the next one is a quarter second away, not at once


def test_changing_the_pace_takes_effect_now():
    time = FakeTime()
    pacer = Pacer(0.1, time.clock, time.sleep)
    pacer.wait()
    assert pacer.due_in() == pytest.approx(10.0)
    pacer.set_rate(None)
    assert pacer.due_in() == 0
    with pytest.raises(ValueError, match="positive"):
        pacer.set_rate(0)
