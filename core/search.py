"""Hyperparameter search: trials one after another, each a run folder, ranked by test accuracy.

A searched setting is written as text, the same on the command line and in the window:
``1e-3:1:log`` (log-uniform range), ``0:1e-3`` (uniform range), ``32,64,128`` or ``sgd,adam`` (a list to
pick from), ``0.01`` (fixed). The layer pattern may hold named numbers, ``CONV({c1},5)``, each given a
range or list of its own (``c1=4,8,16``). Random search draws every setting independently per trial;
grid search takes every combination of lists.

The results go to ``<out>/search.json`` after every trial (sorted, best first), so a window can show the
table while the search runs and open the best run with one click.
"""
from __future__ import annotations

import itertools
import json
import math
import random
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch

from core.architecture import ArchitectureError, build_model, parse
from core.data import DataError, Dataset, load_dataset
from core.run_status import RunStatus
from core.runs import RunWriter, write_atomically
from core.trainer import TrainConfig, Trainer
from core.training_run import train_and_record

SEARCH_FILE = "search.json"
FORMAT = "convscope-search"
VERSION = 1
DEFAULT_TRIALS = 8
TRAINING_SETTINGS = {"lr": "float", "batch_size": "int", "optimizer": "word", "weight_decay": "float"}
OPTIMIZERS = ("sgd", "adam")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SearchError(ValueError):
    """A search that cannot run as asked; the message names the setting or trial."""


@dataclass(frozen=True)
class Dimension:
    """One searched setting: a list of choices, or a range (uniform, or uniform in log) to sample."""

    text: str
    choices: tuple = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    integer: bool = False

    @property
    def varies(self) -> bool:
        return len(self.choices) > 1 or (not self.choices and self.low != self.high)

    def sample(self, rng: random.Random) -> Any:
        if self.choices:
            return rng.choice(self.choices)
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        return int(round(value)) if self.integer else float(f"{value:.4g}")


def parse_dimension(name: str, text: str, kind: str = "float") -> Dimension:
    """``kind``: "float", "int" or "word" (an optimizer name). Raises SearchError naming ``name``."""
    text = str(text).strip()
    where = f"{name} '{text}'"
    if not text:
        raise SearchError(f"{name} is empty: give a value, a list a,b,c or a range lo:hi[:log]")
    if ":" in text:
        if kind == "word":
            raise SearchError(f"{where}: a range needs numbers; give a list such as sgd,adam")
        parts = text.split(":")
        log = len(parts) == 3 and parts[2].strip().lower() == "log"
        if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
            raise SearchError(f"{where} is not a range: write lo:hi or lo:hi:log")
        low, high = (_number(where, part, kind) for part in parts[:2])
        if not low <= high:
            raise SearchError(f"{where}: the range's low end {low:g} is above its high end {high:g}")
        if log and low <= 0:
            raise SearchError(f"{where}: a log range must start above 0")
        return Dimension(text, low=low, high=high, log=log, integer=kind == "int")
    values = [part.strip() for part in text.split(",")]
    if kind == "word":
        unknown = [v for v in values if v.lower() not in OPTIMIZERS]
        if unknown:
            raise SearchError(f"{where}: unknown optimizer '{unknown[0]}': choose from {', '.join(OPTIMIZERS)}")
        return Dimension(text, choices=tuple(dict.fromkeys(v.lower() for v in values)))
    return Dimension(text, choices=tuple(dict.fromkeys(_number(where, v, kind) for v in values)), integer=kind == "int")


def _number(where: str, text: str, kind: str) -> float | int:
    try:
        value = int(text) if kind == "int" else float(text)
    except ValueError:
        expected = "a whole number" if kind == "int" else "a number"
        raise SearchError(f"{where}: '{text.strip()}' is not {expected}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise SearchError(f"{where}: '{text.strip()}' is not a finite number")
    return value


@dataclass(frozen=True)
class SearchSpace:
    """What varies between trials: training settings (``training``, keyed by TrainConfig field) and the
    layer pattern's named numbers (``params``); everything else comes from ``base``."""

    architecture: str
    base: TrainConfig = field(default_factory=TrainConfig)
    training: dict[str, Dimension] = field(default_factory=dict)
    params: dict[str, Dimension] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.training) - set(TRAINING_SETTINGS)
        if unknown:
            raise SearchError(f"cannot search {', '.join(sorted(unknown))}: only {', '.join(TRAINING_SETTINGS)}")
        used = set(_PLACEHOLDER.findall(self.architecture))
        missing, unused = used - set(self.params), set(self.params) - used
        if missing:
            name = sorted(missing)[0]
            raise SearchError(f"the architecture uses {{{name}}} but no --param {name}=... gives its values")
        if unused:
            name = sorted(unused)[0]
            raise SearchError(f"--param {name} is not used: the architecture has no {{{name}}}")
        if not any(d.varies for d in self.dimensions.values()):
            raise SearchError(
                "nothing to search: give a range or list for --lr, --batch-size, --optimizer, --weight-decay or --param"
            )

    @property
    def dimensions(self) -> dict[str, Dimension]:
        """Every searched setting by the name shown in the table (training settings first)."""
        return {**self.training, **self.params}

    def plan(self, number: int, values: dict[str, Any]) -> "TrialPlan":
        """The trial for one set of values; SearchError if that architecture or setting is impossible."""
        architecture = _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), self.architecture)
        described = ", ".join(f"{k} {format_value(v)}" for k, v in values.items())
        try:
            config = replace(self.base, **{k: values[k] for k in self.training})
            parse(architecture)
        except (ArchitectureError, ValueError) as exc:
            raise SearchError(f"trial {number} ({described}) is impossible: {exc}") from None
        return TrialPlan(number, architecture, config, dict(values))


@dataclass(frozen=True)
class TrialPlan:
    number: int
    architecture: str  # the layer pattern with its numbers filled in
    config: TrainConfig
    values: dict[str, Any]  # the searched settings' values for this trial


def plan_trials(space: SearchSpace, trials: int | None = None, seed: int = 0, grid: bool = False) -> list[TrialPlan]:
    """Random search: ``trials`` (default 8) independent draws, reproducible from ``seed``. Grid search:
    every combination of the lists (ranges are refused), at most ``trials`` of them."""
    names = list(space.dimensions)
    if grid:
        ranges = [n for n, d in space.dimensions.items() if not d.choices]
        if ranges:
            raise SearchError(f"a grid search needs lists, not ranges: write {ranges[0]} as a,b,c")
        points = list(itertools.product(*(space.dimensions[n].choices for n in names)))
        if trials is not None and trials < len(points):
            raise SearchError(f"the grid has {len(points)} points but --trials is {trials}: raise --trials or shorten the lists")
        draws = [dict(zip(names, point)) for point in points]
    else:
        trials = DEFAULT_TRIALS if trials is None else trials
        if trials < 1:
            raise SearchError(f"--trials must be at least 1, not {trials}")
        rng = random.Random(seed)
        draws = [{n: space.dimensions[n].sample(rng) for n in names} for _ in range(trials)]
    return [space.plan(number, values) for number, values in enumerate(draws, start=1)]


@dataclass(frozen=True)
class TrialResult:
    number: int
    values: dict[str, Any]
    status: RunStatus
    best_test_accuracy: float | None
    final_loss: float | None
    seconds: float
    folder: Path
    message: str = ""

    def to_dict(self, relative_to: Path) -> dict:
        data = asdict(self)
        data.update(status=self.status.value, folder=_relative(self.folder, relative_to))
        return data

    @classmethod
    def from_dict(cls, data: dict, folder: Path) -> "TrialResult":
        return cls(
            number=int(data["number"]),
            values=dict(data["values"]),
            status=RunStatus.parse(data["status"]),
            best_test_accuracy=data.get("best_test_accuracy"),
            final_loss=data.get("final_loss"),
            seconds=float(data["seconds"]),
            folder=folder / data["folder"],
            message=str(data.get("message", "")),
        )


@dataclass(frozen=True)
class SearchReport:
    """A search read back from its folder: what was searched and the trials so far, best first."""

    folder: Path
    settings: dict
    results: list[TrialResult]

    @property
    def best(self) -> TrialResult | None:
        return self.results[0] if self.results else None


def sort_results(results: list[TrialResult]) -> list[TrialResult]:
    """Best test accuracy first; trials without one last; ties broken by the lower final loss."""
    def key(r: TrialResult):
        accuracy = r.best_test_accuracy if r.best_test_accuracy is not None else -1.0
        loss = r.final_loss if r.final_loss is not None else math.inf
        return (-accuracy, loss, r.number)

    return sorted(results, key=key)


def run_search(
    space: SearchSpace,
    plans: list[TrialPlan],
    data: str,
    out: str | Path,
    *,
    max_steps: int | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    on_trial: Callable[[TrialResult], None] | None = None,
) -> SearchReport:
    """Run the trials in order, each in ``out/trial-N``, rewriting ``out/search.json`` after each."""
    out = Path(out)
    folders = [out / f"trial-{plan.number:0{len(str(len(plans)))}d}" for plan in plans]
    _check_out(out, folders)
    datasets = _DataCache(data)
    for plan in plans:  # every trial's data is checked before the first one trains
        datasets.get(plan)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SearchError(f"cannot create {out}: {exc.strerror or exc}") from None
    settings = {
        "architecture": space.architecture,
        "data": data,
        "searched": {name: d.text for name, d in space.dimensions.items()},
        "trials": len(plans),
        "epochs": space.base.epochs,
        "max_steps": max_steps,
        "seed": seed,
        "base": asdict(space.base),
    }
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # torch's first optimizer imports its compiler
    # (seconds): paid here, so trial 1's time compares with the others'
    results: list[TrialResult] = []
    for plan, folder in zip(plans, folders):
        results.append(run_trial(plan, *datasets.get(plan), folder, data, max_steps=max_steps, device=device))
        _write_report(out, settings, results)
        if on_trial is not None:
            on_trial(results[-1])
    return SearchReport(out, settings, sort_results(results))


def run_trial(
    plan: TrialPlan,
    train: Dataset,
    test: Dataset,
    folder: Path,
    data: str,
    *,
    max_steps: int | None = None,
    device: str | torch.device | None = None,
) -> TrialResult:
    """Train one trial into its own run folder (the window may run two of these at once)."""
    started = time.perf_counter()
    torch.manual_seed(plan.config.seed)
    architecture = parse(plan.architecture)
    trainer = Trainer(build_model(architecture), train, test, plan.config, device=device)
    settings = {**asdict(trainer.config), "dataset": data, "max_steps": max_steps, "trial": plan.number,
                "searched": plan.values}
    writer = RunWriter(folder, architecture, settings=settings, classes=train.classes, normalization=train.normalization)
    outcome = train_and_record(trainer, writer, max_steps=max_steps)
    return TrialResult(
        number=plan.number,
        values=plan.values,
        status=outcome.status,
        best_test_accuracy=outcome.best_test_accuracy,
        final_loss=outcome.final_loss,
        seconds=time.perf_counter() - started,
        folder=folder,
        message=outcome.message,
    )


def read_search(folder: str | Path) -> SearchReport:
    """The table of a search folder (finished or still running), best first."""
    folder = Path(folder)
    path = folder / SEARCH_FILE
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SearchError(f"{folder} holds no search (no {SEARCH_FILE})") from None
    except (OSError, ValueError) as exc:
        raise SearchError(f"{path} is unreadable: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise SearchError(f"{path} was not written by a Convscope search")
    try:
        results = [TrialResult.from_dict(item, folder) for item in payload["results"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise SearchError(f"{path} has a malformed result: {exc}") from None
    return SearchReport(folder, dict(payload.get("settings") or {}), sort_results(results))


def format_table(results: list[TrialResult], names: list[str] | None = None) -> str:
    """The results as aligned text, in the order given: trial, each searched setting, best test
    accuracy, final loss, status, time, folder."""
    names = names if names is not None else list(results[0].values) if results else []
    header = ["trial", *names, "test acc", "final loss", "status", "time", "folder"]
    rows = [
        [
            str(r.number),
            *(format_value(r.values.get(n)) for n in names),
            "-" if r.best_test_accuracy is None else f"{r.best_test_accuracy:.4f}",
            "-" if r.final_loss is None else f"{r.final_loss:.4g}",
            r.status.value,
            f"{r.seconds:.1f} s",
            str(r.folder),
        ]
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows])


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "-" if value is None else str(value)


class _DataCache:
    """Each input shape's train and test split, loaded once and checked against the trials' class counts."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.loaded: dict[tuple, tuple[Dataset, Dataset]] = {}

    def get(self, plan: TrialPlan) -> tuple[Dataset, Dataset]:
        architecture = parse(plan.architecture)
        shape = architecture.input_shape
        if shape not in self.loaded:
            self.loaded[shape] = (load_dataset(self.source, "train", shape), load_dataset(self.source, "test", shape))
        train, test = self.loaded[shape]
        if len(train.classes) != architecture.num_classes:
            raise DataError(
                f"the data has {len(train.classes)} classes but trial {plan.number}'s last layer has "
                f"{architecture.num_classes} outputs"
            )
        return train, test


def _check_out(out: Path, folders: list[Path]) -> None:
    if out.exists() and not out.is_dir():
        raise SearchError(f"cannot search into {out}: it is a file")
    if (out / SEARCH_FILE).exists():
        raise SearchError(f"{out} already holds a search: choose a new folder")
    taken = [f for f in folders if f.exists()]
    if taken:
        raise SearchError(f"{taken[0]} already exists: choose a new folder for the search")


def _write_report(out: Path, settings: dict, results: list[TrialResult]) -> None:
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "settings": settings,
        "results": [r.to_dict(out) for r in sort_results(results)],
    }
    write_atomically(out / SEARCH_FILE, json.dumps(payload, indent=1).encode())


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def name_is_valid(name: str) -> bool:
    """Names usable as ``{name}`` in a layer pattern."""
    return bool(_NAME.match(name))
