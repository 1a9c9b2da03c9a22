import json
import math
import random

import pytest

from core.architecture import PRESETS
from core.run_status import RunStatus
from core.runs import open_run
from core.search import (
    SearchError,
    SearchSpace,
    TrialResult,
    format_table,
    parse_dimension,
    plan_trials,
    read_search,
    run_search,
    sort_results,
)
from core.trainer import TrainConfig

XO_TEMPLATE = "INPUT(1x9x9) -> CONV({c1},3,p=1) -> RELU -> POOL(2) -> FC(2)"


def test_ranges_lists_and_fixed_values_are_read_from_text():
    lr = parse_dimension("--lr", "1e-3:1:log")
    assert (lr.low, lr.high, lr.log, lr.varies) == (0.001, 1.0, True, True)
    assert parse_dimension("--weight-decay", "0:1e-3").log is False
    assert parse_dimension("--batch-size", "32, 64,128", "int").choices == (32, 64, 128)
    assert parse_dimension("--optimizer", "SGD,adam", "word").choices == ("sgd", "adam")
    fixed = parse_dimension("--lr", "0.01")
    assert fixed.choices == (0.01,) and not fixed.varies


@pytest.mark.parametrize("text, kind, message", [
    ("1e-3:1:lin", "float", "is not a range"),
    ("1:1e-3", "float", "low end 1 is above its high end 0.001"),
    ("0:1:log", "float", "log range must start above 0"),
    ("32,sixty", "int", "'sixty' is not a whole number"),
    ("sgd,rmsprop", "word", "unknown optimizer 'rmsprop'"),
    ("nan", "float", "not a finite number"),
    ("", "float", "is empty"),
])
def test_bad_ranges_are_refused_naming_the_setting(text, kind, message):
    with pytest.raises(SearchError, match=message) as caught:
        parse_dimension("--lr", text, kind)
    assert str(caught.value).startswith("--lr")


def test_random_draws_stay_in_range_follow_the_log_scale_and_repeat_with_the_seed():
    lr = parse_dimension("--lr", "1e-4:1:log")
    rng = random.Random(0)
    draws = [lr.sample(rng) for _ in range(2000)]
    assert all(1e-4 <= x <= 1 for x in draws)
    decades = [sum(10 ** -(k + 1) <= x < 10 ** -k for x in draws) for k in range(4)]
    assert min(decades) > 350  # about 500 per decade: uniform in log, not in value
    space = SearchSpace(PRESETS["xo"], training={"lr": lr})
    assert [p.config.lr for p in plan_trials(space, 5, seed=1)] == [p.config.lr for p in plan_trials(space, 5, seed=1)]
    assert [p.config.lr for p in plan_trials(space, 5, seed=1)] != [p.config.lr for p in plan_trials(space, 5, seed=2)]


def test_the_layer_patterns_numbers_are_filled_in_and_checked():
    space = SearchSpace(XO_TEMPLATE, params={"c1": parse_dimension("c1", "2,4,8", "int")})
    plans = plan_trials(space, 6, seed=0)
    for plan in plans:
        assert plan.architecture == XO_TEMPLATE.replace("{c1}", str(plan.values["c1"]))
    with pytest.raises(SearchError, match=r"uses \{c2\} but no --param c2"):
        SearchSpace(XO_TEMPLATE.replace("c1", "c2"), params={"c1": parse_dimension("c1", "2,4", "int")})
    with pytest.raises(SearchError, match="--param c9 is not used"):
        SearchSpace(XO_TEMPLATE, params={"c1": parse_dimension("c1", "2,4", "int"), "c9": parse_dimension("c9", "1,2", "int")})
    impossible = SearchSpace("INPUT(1x9x9) -> CONV(4,{k}) -> FC(2)", params={"k": parse_dimension("k", "11,12", "int")})
    with pytest.raises(SearchError, match=r"trial 1 \(k 1[12]\) is impossible: .*does not fit"):
        plan_trials(impossible, 2)


def test_a_search_with_nothing_to_vary_is_refused():
    with pytest.raises(SearchError, match="nothing to search"):
        SearchSpace(PRESETS["xo"], training={"lr": parse_dimension("--lr", "0.1")})


def test_grid_search_takes_every_combination_of_lists():
    space = SearchSpace(XO_TEMPLATE, training={"optimizer": parse_dimension("o", "sgd,adam", "word")},
                        params={"c1": parse_dimension("c1", "2,4,8", "int")})
    plans = plan_trials(space, grid=True)
    assert sorted((p.config.optimizer, p.values["c1"]) for p in plans) == sorted(
        (o, c) for o in ("sgd", "adam") for c in (2, 4, 8))
    with pytest.raises(SearchError, match="the grid has 6 points but --trials is 4"):
        plan_trials(space, 4, grid=True)
    ranged = SearchSpace(PRESETS["xo"], training={"lr": parse_dimension("--lr", "0.01:0.1")})
    with pytest.raises(SearchError, match="needs lists, not ranges"):
        plan_trials(ranged, grid=True)


def _result(number, accuracy, loss=1.0, status=RunStatus.FINISHED, tmp=None):
    return TrialResult(number, {"lr": 0.1 * number}, status, accuracy, loss, 1.5, tmp / f"trial-{number}")


def test_results_are_ranked_by_test_accuracy_with_unmeasured_trials_last(tmp_path):
    results = [_result(1, 0.5, tmp=tmp_path), _result(2, None, math.nan, RunStatus.DIVERGED, tmp=tmp_path),
               _result(3, 0.9, tmp=tmp_path), _result(4, 0.9, 0.5, tmp=tmp_path)]
    assert [r.number for r in sort_results(results)] == [4, 3, 1, 2]
    table = format_table(sort_results(results), ["lr"]).splitlines()
    assert table[0].split() == ["trial", "lr", "test", "acc", "final", "loss", "status", "time", "folder"]
    assert table[1].split()[:4] == ["4", "0.4", "0.9000", "0.5"] and "diverged" in table[-1] and " - " in table[-1]


def test_a_small_search_writes_a_run_per_trial_and_a_sorted_table(tmp_path):
    space = SearchSpace(PRESETS["xo"], TrainConfig(epochs=1, batch_size=50),
                        training={"lr": parse_dimension("--lr", "1e-3:0.5:log")})
    seen = []
    report = run_search(space, plan_trials(space, 3, seed=0), "xo", tmp_path / "search", max_steps=4,
                        on_trial=seen.append)
    assert [r.number for r in seen] == [1, 2, 3]
    accuracies = [r.best_test_accuracy for r in report.results]
    assert accuracies == sorted(accuracies, reverse=True)
    for result in report.results:
        run = open_run(result.folder)
        assert run.settings["lr"] == result.values["lr"] and run.settings["trial"] == result.number
        assert run.metrics[-1]["step"] == 4 and run.metrics[-1]["test_accuracy"] == result.best_test_accuracy
    again = read_search(tmp_path / "search")
    assert [r.number for r in again.results] == [r.number for r in report.results]
    assert again.best.folder == report.best.folder and again.settings["searched"] == {"lr": "1e-3:0.5:log"}
    stored = json.loads((tmp_path / "search" / "search.json").read_text())
    assert [r["folder"] for r in stored["results"]] == [r.folder.name for r in report.results]  # relative: movable
    with pytest.raises(SearchError, match="already holds a search"):
        run_search(space, plan_trials(space, 1), "xo", tmp_path / "search")
