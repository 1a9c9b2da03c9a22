"""The command-line verbs `train` and `evaluate`: the engine without a window."""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from core.architecture import DEFAULT_PRESET, PRESETS, ArchitectureError, build_model, max_batch_size, parse
from core.assets import DEFAULT_CHECKPOINT
from core.budget import format_bytes, memory_budget
from core.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from core.data import MNIST_SHAPE, DataError, load_dataset, load_image_folder, load_mnist_subset
from core.trainer import DivergedError, Stopwatch, TrainConfig, Trainer, confusion_matrix, evaluate


class CommandError(Exception):
    """A problem with the user's input, printed as one line; the exit status is 2."""


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="train a model without a window and write a checkpoint")
    arch = train.add_mutually_exclusive_group()
    arch.add_argument("--preset", choices=sorted(PRESETS), help=f"a preset architecture (default {DEFAULT_PRESET})")
    arch.add_argument("--arch", help="a layer-pattern text, e.g. 'CONV(8,5) -> RELU -> POOL(2) -> FC(10)'")
    train.add_argument("--data", default="mnist", help="mnist (bundled), xo, or an image folder (default mnist)")
    train.add_argument("--epochs", type=int, default=5)
    train.add_argument("--lr", type=float, default=0.02)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    train.add_argument("--weight-decay", type=float, default=0.0)
    train.add_argument("--augment", action="store_true", help="random shifts of up to 2 pixels")
    train.add_argument("--schedule", choices=("constant", "cosine"), default="constant",
                       help="cosine anneals the learning rate to zero by the last batch")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", required=True, help="checkpoint file to write")
    train.set_defaults(run=train_command)

    ev = subparsers.add_parser("evaluate", help="print accuracy and a confusion matrix")
    ev.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="default: the bundled model")
    ev.add_argument("data", help="'mnist-test' (bundled test split) or an image folder with class subfolders")
    ev.set_defaults(run=evaluate_command)


def run(args: argparse.Namespace) -> int:
    """Run a verb; user errors become one line on stderr and a non-zero exit, never a traceback."""
    try:
        args.run(args)
        return 0
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


def train_command(args: argparse.Namespace) -> None:
    text = args.arch or PRESETS[args.preset or DEFAULT_PRESET]
    architecture = parse(text)
    config = TrainConfig(
        optimizer=args.optimizer, lr=args.lr, batch_size=args.batch_size, epochs=args.epochs,
        weight_decay=args.weight_decay, seed=args.seed, augment=args.augment, schedule=args.schedule,
    )
    train = load_dataset(args.data, "train", architecture.input_shape)
    test = load_dataset(args.data, "test", architecture.input_shape)
    if len(train.classes) != architecture.num_classes:
        raise CommandError(
            f"the data has {len(train.classes)} classes but the model's last layer has "
            f"{architecture.num_classes} outputs"
        )
    out = Path(args.out)
    if not out.parent.is_dir():
        raise CommandError(f"cannot write {out}: the folder {out.parent} does not exist")
    model = build_model(architecture)
    trainer = Trainer(model, train, test, config)
    print(f"training {architecture.to_text()}")
    print(f"on {train.name}: {len(train)} train / {len(test)} test, {trainer.total_steps} batches of {config.batch_size}")
    stopwatch = Stopwatch()
    started = time.perf_counter()
    while not trainer.finished:
        result = trainer.step()
        stopwatch.add(config.batch_size)
        if result.batch == result.batches_per_epoch or result.step % 25 == 0:
            left = (trainer.total_steps - result.step) * config.batch_size
            line = (
                f"\repoch {result.epoch + (result.batch < result.batches_per_epoch)}/{config.epochs} "
                f"batch {result.batch}/{result.batches_per_epoch}  loss {result.loss:.4f}  acc {result.accuracy:.3f}  "
                f"{stopwatch.rate():,.0f} samples/s  {stopwatch.eta(left):.0f} s left"
            )
            print(line, end="", flush=True)
            if result.batch == result.batches_per_epoch:
                print(f"  test acc {trainer.history.test_accuracy[-1]:.4f}")
    print(f"done in {time.perf_counter() - started:.1f} s; test accuracy {trainer.history.test_accuracy[-1]:.4f}")
    save_checkpoint(
        out,
        Checkpoint(
            architecture=architecture,
            state=model.state_dict(),
            classes=train.classes,
            normalization=train.normalization,
            history=trainer.history,
            optimizer_state=trainer.optimizer.state_dict(),
            config=asdict(config),
            dataset=args.data,
        ),
    )
    print(f"wrote {out}")


EVALUATE_BATCH = 500


def evaluate_command(args: argparse.Namespace) -> None:
    """Accuracy and confusion matrix; every problem with the files is one line, found before evaluating."""
    checkpoint = load_checkpoint(args.checkpoint)
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
