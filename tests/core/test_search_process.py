"""A search started from the window: planned from the texts typed (mistakes named at once), run in its own
process, and stopped with the trial under way closed as a stopped run."""
import time

import pytest

from core.architecture import PRESETS
from core.run_status import RunStatus
from core.runs import RunError, open_run
from core.search import SearchError
from core.search_process import SearchProcess, plan_search
from core.trainer import TrainConfig

PATTERN = "INPUT(1x9x9) -> CONV({c1},3) -> RELU -> POOL(2) -> FC({fc}) -> RELU -> FC(2)"


def test_the_typed_ranges_lists_and_pattern_numbers_become_trials():
    texts = {"lr": "1e-3:1e-1:log", "batch_size": "16,32", "optimizer": "", "weight_decay": ""}
    space, plans = plan_search(PATTERN, texts, "c1=2,4; fc=8:16", TrainConfig(optimizer="adam", lr=0.5), 5, 2)
    assert len(plans) == 5 and list(space.dimensions) == ["lr", "batch_size", "c1", "fc"]
    for plan in plans:
        assert 1e-3 <= plan.config.lr <= 1e-1 and plan.config.batch_size in (16, 32)
        assert plan.config.optimizer == "adam" and plan.config.epochs == 2  # what is not searched is the panel's
        assert f"CONV({plan.values['c1']},3)" in plan.architecture and 8 <= plan.values["fc"] <= 16


@pytest.mark.parametrize("texts, params, words", [
    ({"lr": "0.1:0.01"}, "", "low end 0.1 is above its high end"),
    ({"optimizer": "sgd,rmsprop"}, "", "unknown optimizer 'rmsprop'"),
    ({"lr": "0.01"}, "", "nothing to search"),
    ({"lr": "0.01,0.1"}, "c1 4,8", "should be NAME=VALUES"),
    ({"lr": "0.01,0.1"}, "c1=4", "the architecture uses {fc}"),
])
def test_a_search_that_cannot_run_is_refused_naming_the_setting(texts, params, words):
    with pytest.raises(SearchError, match=words.replace("{", r"\{").replace("}", r"\}")):
        plan_search(PATTERN if "c1" in params else PRESETS["xo"], texts, params, TrainConfig(), 3, 1)


@pytest.mark.slow
def test_stopping_a_search_ends_the_trial_under_way_as_a_stopped_run(tmp_path):
    space, plans = plan_search(PRESETS["xo"], {"lr": "0.01,0.02"}, "", TrainConfig(batch_size=10), 2, 200)
    process = SearchProcess(space, plans, "xo", tmp_path / "search")
    process.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if len(open_run(tmp_path / "search" / "trial-1").metrics) > 5:
                    break
            except RunError:
                pass
            time.sleep(0.1)
    finally:
        process.stop()
    assert not process.is_alive() and process.error() == "the search was stopped"
    run = open_run(tmp_path / "search" / "trial-1")
    assert run.status is RunStatus.STOPPED and "stopped by the user" in run.message
