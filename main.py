"""Convscope: look inside a convolutional network while it learns.

`python main.py` opens the window; `train`, `evaluate` and `search` work without one.
"""
from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def parse_args(argv: list[str]) -> argparse.Namespace:
    from core.cli import add_commands

    parser = argparse.ArgumentParser(prog="convscope", description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", metavar="FILE.png", help="render the main window to a PNG and exit")
    parser.add_argument("--checkpoint", help="open this checkpoint instead of the bundled model")
    parser.add_argument("--model", metavar="FILE.py:FUNCTION", help="inspect your own nn.Module (FUNCTION() returns it)")
    parser.add_argument("--input-shape", default="1x28x28", metavar="CxHxW", help="your model's input (default 1x28x28)")
    parser.add_argument("--weights", help="a state_dict for --model, read with torch.load(weights_only=True)")
    parser.add_argument("--follow", metavar="RUN_FOLDER", help="show a run folder and follow it while it is written")
    add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def check_window_args(args: argparse.Namespace) -> str | None:
    """The window's arguments checked before any window exists: the problem in one line, or None."""
    if args.model and args.checkpoint:
        return "--model and --checkpoint cannot be used together: a checkpoint carries its own model"
    if args.weights and not args.model:
        return "--weights loads weights into --model FILE.py:FUNCTION; give --model too"
    if args.model:
        from core.user_model import UserModelError, parse_shape

        try:
            parse_shape(args.input_shape)
        except UserModelError as exc:
            return str(exc)
    return None


@contextmanager
def collection_paused() -> Iterator[None]:
    """No garbage collection while start-up makes the objects that live as long as the app (about a
    million: torch, Qt, pyqtgraph, the views' modules). Scanning them as they came took three full
    collections (15, 43 and 81 ms) of a 1.8 s start; afterwards they are frozen, left out of every
    later collection, as the built window is (``GuiThreadCollection.freeze_built``)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def import_window() -> Callable[..., int]:
    """The window's modules, torch first (it must be imported before the QApplication exists), with
    the collector paused; gives ``run_app``."""
    with collection_paused():
        import torch  # noqa: F401

        from gui.app import run_app
    return run_app


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command:
        from core.cli import run

        return run(args)
    problem = check_window_args(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    run_app = import_window()
    user_model = (args.model, args.input_shape, args.weights) if args.model else None
    return run_app(args.checkpoint, args.screenshot, user_model, args.follow)


if __name__ == "__main__":
    sys.exit(main())
