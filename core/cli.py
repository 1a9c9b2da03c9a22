"""The command-line verbs `train`, `evaluate` and `search`: the engine without a window."""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from core.architecture import DEFAULT_PRESET, PRESETS, ArchitectureError, build_model, check_batch_size, max_batch_size, parse
from core.assets import DEFAULT_CHECKPOINT
from core.budget import format_bytes, memory_budget
from core.checkpoint import Checkpoint, CheckpointError, save_checkpoint
from core.data import MNIST_SHAPE, DataError, load_dataset, load_image_folder, load_mnist_subset
from core.device import describe, pick_device
from core.run_status import RunStatus
from core.runs import RunWriter, checkpoint_from, convscope_home, new_run_folder
from core.search import (
    DEFAULT_TRIALS, SEARCH_FILE, TRAINING_SETTINGS, SearchSpace, TrialResult, format_table, format_value,
    name_is_valid, parse_dimension, plan_trials, run_search,
)
from core.trainer import DivergedError, StepResult, TrainConfig, Trainer, confusion_matrix, evaluate
from core.training_run import RunRecorder, train_and_record


class CommandError(Exception):
    """A problem with the user's input, printed as one line; the exit status is 2."""


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train", help="train a model without a window; writes a run folder (and a checkpoint with --out)"
    )
    _add_model_arguments(train)
    _add_training_arguments(train)
    train.add_argument("--epochs", type=int, default=5)
    train.add_argument("--lr", type=float, default=0.02)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    train.add_argument("--weight-decay", type=float, default=0.0)
    train.add_argument("--out", help="checkpoint file to write at the end (checked before training starts)")
    train.add_argument("--run-dir", help="the run folder to write (default: a new one under $CONVSCOPE_HOME/runs)")
    train.add_argument("--pace", type=float, metavar="STEPS_PER_S", help="slow motion: at most this many steps a second")
    train.set_defaults(run=train_command)

    ev = subparsers.add_parser("evaluate", help="print accuracy and a confusion matrix")
    ev.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="a checkpoint file or a run folder "
                    "(its newest snapshot); default: the bundled model")
    ev.add_argument("data", help="'mnist-test' (bundled test split) or an image folder with class subfolders")
    ev.set_defaults(run=evaluate_command)

    _add_search_command(subparsers)


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    arch = parser.add_mutually_exclusive_group()
    arch.add_argument("--preset", choices=sorted(PRESETS), help=f"a preset architecture (default {DEFAULT_PRESET})")
    arch.add_argument("--arch", help="a layer-pattern text, e.g. 'CONV(8,5) -> RELU -> POOL(2) -> FC(10)'")


def _add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """What `train` and `search` share."""
    parser.add_argument("--data", default="mnist", help="mnist (bundled), xo, or an image folder (default mnist)")
    parser.add_argument("--augment", action="store_true", help="random shifts of up to 2 pixels")
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="constant",
                        help="cosine anneals the learning rate to zero by the last batch")
    parser.add_argument("--seed", type=int, default=0, help="seeds the initial weights and the batch order")
    parser.add_argument("--max-steps", type=int, help="stop after this many batches (default: all epochs)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1, as the window's trainer)")


def _add_search_command(subparsers: argparse._SubParsersAction) -> None:
    search = subparsers.add_parser(
        "search", help="hyperparameter search: trials one after another, each a run folder, ranked by test accuracy",
        description="Ranges are lo:hi (uniform) or lo:hi:log; lists are a,b,c; a single value is fixed. "
        "The layer pattern may name numbers, CONV({c1},5), given with --param c1=4,8,16.",
    )
    _add_model_arguments(search)
    _add_training_arguments(search)
    search.add_argument("--lr", help="learning rate, e.g. 1e-3:1:log (default 0.02)")
    search.add_argument("--batch-size", help="e.g. 32,64,128 (default 64)")
    search.add_argument("--optimizer", help="e.g. sgd,adam (default sgd)")
    search.add_argument("--weight-decay", help="e.g. 0:1e-3 (default 0)")
    search.add_argument("--param", action="append", default=[], metavar="NAME=VALUES",
                        help="values for {NAME} in --arch, e.g. c1=4,8,16 or fc=32:128:log (repeatable)")
    search.add_argument("--trials", type=int, help=f"number of trials (default {DEFAULT_TRIALS}; grid: every point)")
    search.add_argument("--epochs", type=int, default=2, help="the budget of each trial (default 2)")
    search.add_argument("--grid", action="store_true", help="every combination of the lists instead of random draws")
    search.add_argument("--out", required=True, help="folder for the trials' run folders and search.json")
    search.set_defaults(run=search_command)


def run(args: argparse.Namespace) -> int:
    """Run a verb; user errors become one line on stderr and a non-zero exit, never a traceback.

    Exit status: 0 done, 2 bad input, 3 training ended without a usable model (diverged or failed to
    learn; what it made is still written), 130 interrupted.
    """
    try:
        return args.run(args) or 0
    except (CommandError, ArchitectureError, DataError, CheckpointError, ValueError, DivergedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file or folder the system would not let us read
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: not enough memory for this", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def train_command(args: argparse.Namespace) -> int:
    text = args.arch or PRESETS[args.preset or DEFAULT_PRESET]
    architecture = parse(text)
    config = TrainConfig(
        optimizer=args.optimizer, lr=args.lr, batch_size=args.batch_size, epochs=args.epochs,
        weight_decay=args.weight_decay, seed=args.seed, augment=args.augment, schedule=args.schedule,
    )
    _check_common(args)
    out = Path(args.out) if args.out else None
    if out is not None:
        check_writable(out)
    device = pick_device(args.device)
    train = load_dataset(args.data, "train", architecture.input_shape)
    test = load_dataset(args.data, "test", architecture.input_shape)
    if len(train.classes) != architecture.num_classes:
        raise CommandError(
            f"the data has {len(train.classes)} classes but the model's last layer has "
            f"{architecture.num_classes} outputs"
        )
    check_batch_size(architecture, min(config.batch_size, len(train)), len(train))
    for split in (train, test):
        if split.skipped:
            print(f"note: {split.skipped_summary()}", file=sys.stderr)
    torch.manual_seed(config.seed)
    model = build_model(architecture)
    trainer = Trainer(model, train, test, config, device=device)
    folder = Path(args.run_dir) if args.run_dir else new_run_folder(args.preset or ("custom" if args.arch else DEFAULT_PRESET))
    writer = RunWriter(
        folder, architecture, settings=_run_settings(trainer.config, args.data, args.max_steps, device),
        classes=train.classes, normalization=train.normalization,
    )
    print(f"training {architecture.to_text()} on {describe(device)}")
    print(f"on {train.name}: {len(train)} train / {len(test)} test, {trainer.total_steps} batches of {trainer.config.batch_size}")
    for notice in trainer.notices:
        print(f"note: {notice}")
    print(f"run folder: {folder}")

    def checkpoint() -> Checkpoint:
        return Checkpoint(
            architecture=architecture,
            state=model.state_dict(),
            classes=train.classes,
            normalization=train.normalization,
            history=trainer.history,
            optimizer_state=trainer.optimizer.state_dict(),
            config=asdict(trainer.config),
            dataset=args.data,
        )

    try:
        outcome = train_and_record(trainer, writer, max_steps=args.max_steps, pace=args.pace,
                                   on_step=_progress_printer(trainer))
    except OSError as exc:
        print()
        where = _save_without_losing(out or _rescue_path("model.pt"), checkpoint())
        raise CommandError(f"the run folder {folder} could not be written ({_reason(exc)}); training stopped "
                           f"at step {trainer.step_count} and the weights were saved to {where}") from None
    print()
    if outcome.test_accuracy is not None:
        print(f"done in {outcome.seconds:.1f} s; test accuracy {outcome.test_accuracy:.4f}")
    if out is not None:
        _save_without_losing(out, checkpoint())
        print(f"wrote {out}")
    if outcome.status is not RunStatus.FINISHED:
        print(f"error: {outcome.message}", file=sys.stderr)
        return 3
    return 0


def search_command(args: argparse.Namespace) -> int:
    _check_common(args)
    base = TrainConfig(epochs=args.epochs, seed=args.seed, augment=args.augment, schedule=args.schedule)
    training = {
        name: parse_dimension(flag, text, TRAINING_SETTINGS[name])
        for name, flag, text in (
            ("lr", "--lr", args.lr), ("batch_size", "--batch-size", args.batch_size),
            ("optimizer", "--optimizer", args.optimizer), ("weight_decay", "--weight-decay", args.weight_decay),
        )
        if text is not None
    }
    params = {}
    for item in args.param:
        name, sep, text = item.partition("=")
        if not sep or not name_is_valid(name.strip()):
            raise CommandError(f"--param '{item}' should be NAME=VALUES, e.g. c1=4,8,16")
        params[name.strip()] = parse_dimension(f"--param {name.strip()}", text, "int")
    space = SearchSpace(args.arch or PRESETS[args.preset or DEFAULT_PRESET], base, training, params)
    plans = plan_trials(space, args.trials, seed=args.seed, grid=args.grid)
    device = pick_device(args.device)
    print(f"searching {', '.join(f'{n} {d.text}' for n, d in space.dimensions.items())}: "
          f"{len(plans)} trials of {args.epochs} epoch(s) on {args.data}, {describe(device)}")

    def announce(result: TrialResult) -> None:
        accuracy = "-" if result.best_test_accuracy is None else f"{result.best_test_accuracy:.4f}"
        values = ", ".join(f"{n} {format_value(v)}" for n, v in result.values.items())
        print(f"trial {result.number}/{len(plans)}: {values} -> test acc {accuracy} ({result.status.value}, {result.seconds:.1f} s)",
              flush=True)

    report = run_search(space, plans, args.data, args.out, max_steps=args.max_steps, device=device, seed=args.seed,
                        on_trial=announce)
    print()
    print(format_table(report.results, list(space.dimensions)))
    if report.best is not None:
        print(f"best: trial {report.best.number} in {report.best.folder}")
    print(f"wrote {Path(args.out) / SEARCH_FILE}")
    return 0


def _check_common(args: argparse.Namespace) -> None:
    """Checks `train` and `search` share; sets torch's thread count."""
    if args.max_steps is not None and args.max_steps < 1:
        raise CommandError(f"--max-steps must be at least 1, not {args.max_steps}")
    if args.threads < 1:
        raise CommandError(f"--threads must be at least 1, not {args.threads}")
    if getattr(args, "pace", None) is not None and not args.pace > 0:
        raise CommandError(f"--pace must be a positive number of steps per second, not {args.pace}")
    torch.set_num_threads(args.threads)


def _run_settings(config: TrainConfig, data: str, max_steps: int | None, device: torch.device) -> dict:
    return {**asdict(config), "dataset": data, "max_steps": max_steps, "device": str(device)}


def _progress_printer(trainer: Trainer):
    config = trainer.config

    def show(result: StepResult, recorder: RunRecorder) -> None:
        if result.batch == result.batches_per_epoch or result.step % 25 == 0:
            rate = recorder.stopwatch.rate()
            left = (trainer.total_steps - result.step) * config.batch_size
            print(
                f"\repoch {result.epoch + (result.batch < result.batches_per_epoch)}/{config.epochs} "
                f"batch {result.batch}/{result.batches_per_epoch}  loss {result.loss:.4f}  acc {result.accuracy:.3f}  "
                f"{rate:,.0f} samples/s  {recorder.stopwatch.eta(left):.0f} s left",
                end="", flush=True,
            )
            if result.batch == result.batches_per_epoch and trainer.history.test_accuracy:
                print(f"  test acc {trainer.history.test_accuracy[-1]:.4f}")

    return show


def check_writable(path: Path) -> None:
    """Refuse, before any training, an output path that could not be written at the end."""
    if path.is_dir():
        raise CommandError(f"cannot write {path}: it is a folder; give a file name such as {path / 'model.pt'}")
    parent = path.parent
    if not parent.is_dir():
        raise CommandError(f"cannot write {path}: the folder {parent} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise CommandError(f"cannot write {path}: the file is read-only")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None


def _save_without_losing(out: Path, checkpoint: Checkpoint) -> Path:
    """Save to ``out``; if that fails, next to the autosave, raising a CommandError that says where."""
    try:
        save_checkpoint(out, checkpoint)
        return out
    except (OSError, RuntimeError) as exc:  # torch.save reports some failed writes as RuntimeError
        rescue = _rescue_path(out.name)
        try:
            save_checkpoint(rescue, checkpoint)
        except (OSError, RuntimeError) as again:
            raise CommandError(f"could not write {out} ({_reason(exc)}) nor {rescue} ({_reason(again)}): "
                               "the weights are lost") from None
        raise CommandError(f"could not write {out} ({_reason(exc)}); the weights were saved to {rescue}") from None


def _rescue_path(name: str) -> Path:
    """A fresh file name next to the autosave (its folder made if it can be)."""
    folder = convscope_home() / "autosave"
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
    return folder / f"rescued-{time.strftime('%Y%m%d-%H%M%S')}-{name}"


def _reason(exc: BaseException) -> str:
    """The OS's words for a failed write, or the first line of the message."""
    lines = str(exc).strip().splitlines()
    return (getattr(exc, "strerror", None) or (lines[0] if lines else type(exc).__name__))[:200]


EVALUATE_BATCH = 500


def evaluate_command(args: argparse.Namespace) -> None:
    """Accuracy and confusion matrix; every problem with the files is one line, found before evaluating."""
    checkpoint = checkpoint_from(args.checkpoint)
    shape = checkpoint.architecture.input_shape
    if args.data == "mnist-test":
        # A model of another input size gets the digits the way `train --data mnist` gave them to it.
        dataset = load_mnist_subset("test") if shape == MNIST_SHAPE else load_dataset("mnist", "test", shape)
    elif Path(args.data).is_dir():
        dataset = load_image_folder(args.data, shape, checkpoint.normalization)
    else:
        raise CommandError(f"{args.data} is neither 'mnist-test' nor an image folder")
    if dataset.input_shape != shape:
        raise CommandError(
            f"the model takes {_shape_text(shape)} inputs; {dataset.name} is {_shape_text(dataset.input_shape)}"
        )
    if dataset.skipped:
        print(f"note: {dataset.skipped_summary()}", file=sys.stderr)
    class_index = _map_classes(dataset.classes, checkpoint.classes, dataset.name)
    labels = class_index[dataset.labels]
    batch = min(EVALUATE_BATCH, max_batch_size(checkpoint.architecture, training=False))
    if batch < 1:
        raise CommandError(f"the model does not fit the memory budget ({format_bytes(memory_budget())}) for one image")
    _, predicted = evaluate(checkpoint.build(), dataset, batch)
    accuracy = float((predicted == labels).mean())
    correct = int((predicted == labels).sum())
    print(f"accuracy: {accuracy:.4f} ({correct}/{len(labels)})")
    print(format_confusion(confusion_matrix(labels, predicted, len(checkpoint.classes)), checkpoint.classes))


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape)


def _map_classes(data_classes: tuple[str, ...], model_classes: tuple[str, ...], data_name: str) -> np.ndarray:
    unknown = [c for c in data_classes if c not in model_classes]
    if unknown:
        raise CommandError(
            f"{data_name} has classes the model does not know: {', '.join(unknown[:5])} "
            f"(the model's classes are {', '.join(model_classes[:20])}{', ...' if len(model_classes) > 20 else ''})"
        )
    return np.array([model_classes.index(c) for c in data_classes], dtype=np.int64)


def format_confusion(matrix: np.ndarray, classes: tuple[str, ...]) -> str:
    width = max(5, max(len(c) for c in classes) + 1, len(str(matrix.max())) + 1)
    header = "true\\pred".ljust(10) + "".join(c.rjust(width) for c in classes)
    rows = [c.ljust(10) + "".join(str(v).rjust(width) for v in row) for c, row in zip(classes, matrix)]
    return "\n".join([header, *rows])
