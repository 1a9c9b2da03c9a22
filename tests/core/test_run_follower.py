import torch

from core.architecture import PRESETS, build_model
from core.run_follower import RunFollower
from core.run_status import RunStatus
from core.runs import RunWriter

XO = PRESETS["xo"]


def _state(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return build_model(XO).state_dict()


def test_a_growing_run_hands_out_only_what_is_new(tmp_path):
    folder = tmp_path / "run"
    follower = RunFollower(folder)
    assert "does not exist" in follower.poll().error
    writer = RunWriter(folder, XO)
    first = follower.poll()
    assert first.opened and first.error is None and first.weights is None and first.status is RunStatus.RUNNING
    for step in (1, 2, 3):
        writer.log(step, loss=1.0 / step)
    writer.snapshot(3, _state(3))
    update = follower.poll()
    assert [m["step"] for m in update.new_metrics] == [1, 2, 3] and not update.opened
    assert update.weights_step == 3 and torch.equal(update.weights["conv1.weight"], _state(3)["conv1.weight"])
    assert follower.poll().weights is None and follower.poll().new_metrics == []  # nothing new: nothing read
    writer.log(4, loss=0.2)
    writer.snapshot(4, _state(4))
    writer.close("diverged", "the loss went up")
    update = follower.poll()
    assert update.steps == [3, 4] and update.weights_step == 4 and [m["step"] for m in update.new_metrics] == [4]
    assert update.status is RunStatus.DIVERGED and update.message == "the loss went up"


def test_a_snapshot_that_does_not_fit_is_reported_and_the_last_good_one_stays(tmp_path):
    writer = RunWriter(tmp_path / "run", XO)
    writer.snapshot(1, _state(1))
    follower = RunFollower(tmp_path / "run")
    assert follower.poll().weights_step == 1
    writer.snapshot(2, {**_state(2), "fc1.weight": torch.zeros(3, 64)})
    update = follower.poll()
    assert update.weights is None and "the snapshot of step 2 does not fit the run's architecture: fc1.weight has shape (3, 64)" in update.error
    assert follower.shown_step == 1
    assert follower.poll().error is None  # reported once, not re-read on every poll
    writer.snapshot(3, _state(3))
    assert follower.poll().weights_step == 3


def test_an_empty_or_foreign_folder_gets_a_message_until_a_run_appears(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    follower = RunFollower(folder)
    assert "is empty" in follower.poll().error
    (folder / "notes.txt").write_text("hello")
    assert "not a Convscope run folder" in follower.poll().error
    (folder / "notes.txt").unlink()
    writer = RunWriter(folder, XO)
    writer.log(1, loss=0.5)
    update = follower.poll()
    assert update.opened and update.error is None and update.new_metrics == [{"step": 1, "loss": 0.5}]


def test_a_run_folder_that_vanishes_is_reported_and_reopened_when_back(tmp_path):
    import shutil

    writer = RunWriter(tmp_path / "run", XO)
    writer.log(1, loss=0.5)
    writer.snapshot(1, _state(1))
    writer.close()
    follower = RunFollower(tmp_path / "run")
    assert follower.poll().weights_step == 1
    shutil.move(tmp_path / "run", tmp_path / "elsewhere")
    assert "does not exist" in follower.poll().error
    shutil.move(tmp_path / "elsewhere", tmp_path / "run")
    update = follower.poll()
    assert update.opened and update.weights_step == 1 and len(update.new_metrics) == 1
