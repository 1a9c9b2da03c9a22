import numpy as np

from core.weight_timeline import WeightTimeline
from core.weights import WeightsSnapshot


def weights(value: float, size: int = 250) -> dict[str, np.ndarray]:
    return {"w": np.full(size, value, np.float32)}  # 1,000 bytes


def test_entries_are_copies_in_step_order():
    timeline = WeightTimeline()
    source = weights(1.0)
    timeline.add(WeightsSnapshot(10, source))
    source["w"][:] = 5.0
    timeline.add(WeightsSnapshot(20, weights(2.0)))
    assert timeline.steps() == [10, 20]
    assert timeline.at(0).weights["w"][0] == 1.0


def test_over_budget_it_thins_evenly_and_keeps_first_and_newest():
    timeline = WeightTimeline(max_bytes=10_000)
    for step in range(1, 31):
        assert timeline.add(WeightsSnapshot(step, weights(step)))
        assert sum(timeline.at(i).nbytes for i in range(len(timeline))) <= 10_000
    steps = timeline.steps()
    assert steps[0] == 1 and steps[-1] == 30 and len(steps) <= 10
    gaps = np.diff(steps[:-1])
    assert gaps.max() <= 2 * gaps.min() + 1  # evenly spread, not just the end of the run


def test_too_big_snapshots_are_refused_and_a_restart_replaces_later_steps():
    timeline = WeightTimeline(max_bytes=500)
    assert not timeline.add(WeightsSnapshot(1, weights(1.0))) and len(timeline) == 0
    timeline = WeightTimeline()
    for step in (10, 20, 30):
        timeline.add(WeightsSnapshot(step, weights(step)))
    timeline.add(WeightsSnapshot(15, weights(15)))  # e.g. the weights were restored after a divergence
    assert timeline.steps() == [10, 15]
