import math
import re
import threading

import numpy as np
import pytest
import torch

from core.architecture import PRESETS, build_model
from core.data import Dataset, load_mnist_subset, make_xo
from core.trainer import DivergedError, TrainConfig, Trainer, confusion_matrix


@pytest.fixture(scope="module")
def xo():
    return make_xo(200, seed=0), make_xo(100, seed=1)


def _trainer(data, **config) -> Trainer:
    torch.manual_seed(0)
    train, test = data
    return Trainer(build_model(PRESETS["xo"]), train, test, TrainConfig(**{"batch_size": 20, "lr": 0.05, **config}))


def test_step_trains_one_batch_and_records_metrics(xo):
    trainer = _trainer(xo, epochs=2)
    before = trainer.snapshot().weights["conv1.weight"]
    result = trainer.step()
    assert result.step == 1 and result.batch == 1 and result.batches_per_epoch == 10
    assert trainer.history.steps == [1] and math.isfinite(trainer.history.loss[0])
    assert not np.array_equal(before, trainer.snapshot().weights["conv1.weight"])


def test_epoch_end_records_test_accuracy_and_finishes(xo):
    trainer = _trainer(xo, epochs=2)
    while not trainer.finished:
        trainer.step()
    assert trainer.step_count == 20
    assert trainer.history.test_steps == [10, 20]
    assert trainer.history.test_accuracy[-1] > 0.8  # X vs O is easy for this net


def test_same_seed_same_run(xo):
    a, b = _trainer(xo, seed=3), _trainer(xo, seed=3)
    for _ in range(5):
        a.step(), b.step()
    assert a.history.loss == b.history.loss
    c = _trainer(xo, seed=4)
    for _ in range(5):
        c.step()
    assert c.history.loss != a.history.loss


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_both_optimizers_reduce_loss(xo, optimizer):
    trainer = _trainer(xo, optimizer=optimizer, lr=0.01 if optimizer == "adam" else 0.05, epochs=5)
    while not trainer.finished:
        trainer.step()
    assert np.mean(trainer.history.loss[-10:]) < np.mean(trainer.history.loss[:10])


def test_an_exploding_loss_stops_with_the_numbers_and_restores_the_last_good_weights(xo):
    trainer = _trainer(xo, lr=10.0, epochs=50)
    initial = trainer.snapshot().weights
    with pytest.raises(DivergedError) as caught:
        for _ in range(500):
            trainer.step()
    error = caught.value
    assert re.fullmatch(
        r"training diverged: the loss went from [0-9.]+ to [0-9.e+]+ in \d+ steps: the learning rate 10 is too "
        r"high; the last good weights from step \d+ are back", str(error)), str(error)
    assert error.loss > 1e3 and error.step > error.restored_step == trainer.step_count
    weights = trainer.snapshot().weights
    assert all(np.isfinite(w).all() for w in weights.values())
    if error.restored_step == 0:
        assert all(np.array_equal(weights[k], initial[k]) for k in initial)
    assert len(trainer.history.steps) == len(trainer.history.loss) == trainer.step_count


def test_a_nan_loss_diverges_at_once(xo):
    train, test = xo
    images = np.array(train.images)
    images[:] = np.nan
    poisoned = Dataset(train.name, images, train.labels, train.classes, train.normalization)
    trainer = _trainer((poisoned, test))
    with pytest.raises(DivergedError, match="the loss became NaN in 1 step: .* from step 0 are back"):
        trainer.step()
    assert trainer.step_count == 0 and trainer.history.steps == []


def test_one_wild_batch_is_not_a_divergence(xo):
    trainer = _trainer(xo, epochs=5)
    trainer.step()  # the reference loss, below 1
    wild = trainer.loss_fn
    calls = []

    def once_huge(logits, labels):
        """Like one confidently wrong example: a loss of thousands, but cross-entropy's bounded gradient."""
        calls.append(1)
        loss = wild(logits, labels)
        return loss + 5000.0 if len(calls) == 2 else loss

    trainer.loss_fn = once_huge
    for _ in range(5):
        trainer.step()  # a single loss of thousands, then normal ones: training goes on
    assert trainer.step_count == 6 and max(trainer.history.loss) > 1e3


def test_a_batch_larger_than_the_data_is_lowered_and_samples_are_counted_for_real(xo):
    trainer = _trainer(xo, batch_size=1_000_000_000)
    assert trainer.config.batch_size == 200 and trainer.batches_per_epoch == 1
    assert trainer.notices == ["the batch size 1000000000 is larger than the 200 training examples: using batches of 200"]
    assert trainer.step().samples == 200
    short = _trainer(xo, batch_size=64)  # 200 = 3 x 64 + 8
    assert [short.step().samples for _ in range(4)] == [64, 64, 64, 8]


def test_snapshot_is_consistent_while_another_thread_trains(xo):
    trainer = _trainer(xo, epochs=20)
    snapshots = []
    done = threading.Event()

    def train():
        while not trainer.finished:
            trainer.step()
        done.set()

    worker = threading.Thread(target=train)
    worker.start()
    while not done.is_set():
        snapshots.append(trainer.snapshot())
    worker.join()
    assert len(snapshots) > 1
    steps = [s.step for s in snapshots]
    assert steps == sorted(steps)
    snapshot = snapshots[-1]
    snapshot.weights["conv1.weight"][:] = 0  # a copy: mutating it leaves the model alone
    assert trainer.model.conv1.weight.abs().sum() > 0


def test_bad_config_is_refused_with_a_message():
    with pytest.raises(ValueError, match="learning rate"):
        TrainConfig(lr=-1)
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="batch size"):
        TrainConfig(batch_size=0)


def test_confusion_matrix_counts_pairs():
    m = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_mnist_subset_trains_above_chance_in_one_epoch():
    torch.manual_seed(0)
    trainer = Trainer(build_model(PRESETS["lenet"]), load_mnist_subset("train"), load_mnist_subset("test"), TrainConfig(epochs=1))
    while not trainer.finished:
        trainer.step()
    assert trainer.history.test_accuracy[-1] > 0.5  # chance is 0.1


def test_history_thins_its_older_half_and_drops_steps_after_a_restore():
    from core.trainer import MetricsHistory

    history = MetricsHistory(steps=list(range(1, 101)), loss=[float(i) for i in range(1, 101)],
                             accuracy=[0.5] * 100)
    history.thin(100)
    assert len(history.steps) == 100  # within the limit: untouched
    history.thin(80)
    assert history.steps[:3] == [1, 3, 5] and history.steps[-50:] == list(range(51, 101))
    assert history.loss == [float(s) for s in history.steps] and len(history.accuracy) == 75
    history.drop_after(60)
    assert history.steps[-1] == 60 and len(history.loss) == len(history.steps)
