import math

import pytest
import torch

from core.architecture import PRESETS, build_model
from core.data import make_xo
from core.run_status import RunStatus
from core.runs import RunWriter, open_run
from core.trainer import TrainConfig, Trainer
from core.training_run import RunRecorder, train_and_record


@pytest.fixture(scope="module")
def xo():
    return make_xo(200, seed=0), make_xo(100, seed=1)


def _trainer(data, **config) -> Trainer:
    torch.manual_seed(0)
    train, test = data
    return Trainer(build_model(PRESETS["xo"]), train, test, TrainConfig(**{"batch_size": 20, "lr": 0.05, **config}))


def _writer(folder, trainer: Trainer) -> RunWriter:
    train = trainer.train_set
    return RunWriter(folder, PRESETS["xo"], settings=trainer.config, classes=train.classes,
                     normalization=train.normalization)


def test_the_apps_training_reads_back_with_the_same_metrics_and_weights(xo, tmp_path):
    trainer = _trainer(xo, epochs=3)
    initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    outcome = train_and_record(trainer, _writer(tmp_path / "run", trainer))
    assert outcome.status is RunStatus.FINISHED and outcome.steps == 30

    run = open_run(tmp_path / "run")
    history = run.history()
    assert history.steps == trainer.history.steps == list(range(1, 31))
    assert history.loss == pytest.approx(trainer.history.loss) and history.accuracy == pytest.approx(trainer.history.accuracy)
    assert history.test_steps == [10, 20, 30] and history.test_accuracy == pytest.approx(trainer.history.test_accuracy)
    assert outcome.best_test_accuracy == max(trainer.history.test_accuracy) > 0.8
    assert {m["epoch"] for m in run.metrics} == {1, 2, 3} and all(m["lr"] == 0.05 for m in run.metrics)
    assert all(m["samples_per_s"] > 0 for m in run.metrics)
    steps = run.steps()
    assert steps[0] == 0 and {10, 20, 30} <= set(steps)  # the start and every epoch end
    assert all(torch.equal(run.load(0)[k], initial[k]) for k in initial)
    final = run.load(30)
    assert all(torch.equal(final[k], v) for k, v in trainer.model.state_dict().items())
    assert run.status is RunStatus.FINISHED and run.settings["lr"] == 0.05 and run.classes == ("X", "O")


def test_learning_rate_ten_marks_the_run_diverged_and_restores_the_weights(xo, tmp_path):
    trainer = _trainer(xo, lr=10.0, epochs=50)
    initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    outcome = train_and_record(trainer, _writer(tmp_path / "run", trainer))
    assert outcome.status is RunStatus.DIVERGED
    run = open_run(tmp_path / "run")
    assert run.status is RunStatus.DIVERGED
    assert run.message.startswith("training diverged: the loss went from") and "learning rate 10 is too high" in run.message
    restored = int(run.message.rsplit("from step ", 1)[1].split()[0])
    assert run.newest_step == restored == trainer.step_count  # no snapshot newer than the good weights
    back = run.load()
    assert all(torch.equal(back[k], v) for k, v in trainer.model.state_dict().items())
    if restored == 0:
        assert all(torch.equal(back[k], initial[k]) for k in initial)
    blown = run.metrics[-1]
    assert blown["step"] > restored and (blown["loss"] is None or blown["loss"] > 1e3)  # the curve shows it


def test_a_dead_relu_layer_ends_the_run_as_failed_to_learn(xo, tmp_path):
    trainer = _trainer(xo, epochs=20)
    with torch.no_grad():
        trainer.model.conv1.bias.fill_(-1e4)  # every unit of relu1 off for every input
    outcome = train_and_record(trainer, _writer(tmp_path / "run", trainer))
    assert outcome.status is RunStatus.FAILED_TO_LEARN and trainer.step_count == 10  # stopped after epoch 1
    run = open_run(tmp_path / "run")
    assert run.status is RunStatus.FAILED_TO_LEARN and "every ReLU in relu1 outputs 0" in run.message
    assert run.newest_step == 10


def test_max_steps_cuts_the_run_short_and_still_measures_test_accuracy(xo, tmp_path):
    trainer = _trainer(xo, epochs=5)
    outcome = train_and_record(trainer, _writer(tmp_path / "run", trainer), max_steps=7)
    run = open_run(tmp_path / "run")
    assert outcome.steps == 7 and run.metrics[-1]["step"] == 7 and "test_accuracy" in run.metrics[-1]
    assert run.newest_step == 7 and outcome.test_accuracy == run.metrics[-1]["test_accuracy"]


def test_an_interrupted_run_is_closed_as_stopped_with_its_weights(xo, tmp_path):
    trainer = _trainer(xo, epochs=5)

    def interrupt(result, recorder):
        if result.step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_and_record(trainer, _writer(tmp_path / "run", trainer), on_step=interrupt)
    run = open_run(tmp_path / "run")
    assert run.status is RunStatus.STOPPED and run.newest_step == 4 and len(run.metrics) == 4


def test_snapshots_come_every_second_at_first_and_thin_out_as_the_run_ages(xo, tmp_path):
    trainer = _trainer(xo, epochs=1000, batch_size=2)  # 100 steps an epoch
    now = [0.0]
    recorder = RunRecorder(_writer(tmp_path / "run", trainer), trainer, snapshot_every_s=1.0, clock=lambda: now[0])
    recorder.snapshot()
    snapshot_times = []
    for _ in range(600):  # one step every 0.5 s for 5 minutes
        now[0] += 0.5
        before = recorder.snapshot_step
        recorder.record(trainer.step())
        if recorder.snapshot_step != before:
            snapshot_times.append(now[0])
    gaps = [b - a for a, b in zip(snapshot_times, snapshot_times[1:])]
    assert gaps[:5] == [1.0] * 5  # a follower sees the run move every second
    assert max(gaps) >= 5.0 and len(snapshot_times) < 150  # not 300: later ones spaced out (t / 50)


def test_the_test_accuracy_measured_elsewhere_joins_the_metrics(xo, tmp_path):
    trainer = _trainer(xo, epochs=1)
    writer = _writer(tmp_path / "run", trainer)
    recorder = RunRecorder(writer, trainer)
    recorder.record(trainer.step())
    recorder.record_test_accuracy(1, 0.75)
    recorder.finish(RunStatus.STOPPED, "paused for the night")
    run = open_run(tmp_path / "run")
    assert run.history().test_accuracy == [0.75] and run.message == "paused for the night"
    assert math.isfinite(run.history().loss[0])
