"""A hyperparameter search started from the window: planned here (so a mistake is said at once), run in a
process of its own (the window stays smooth and can stop it), read back from its search.json."""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
from dataclasses import replace
from pathlib import Path

import torch

from core.search import TRAINING_SETTINGS, SearchError, SearchSpace, TrialPlan, name_is_valid, parse_dimension, plan_trials
from core.trainer import TrainConfig

_CONTEXT = mp.get_context("spawn")
_FLAGS = {"lr": "learning rate", "batch_size": "batch size", "optimizer": "optimiser", "weight_decay": "weight decay"}


def plan_search(
    architecture: str, texts: dict[str, str], params: str, base: TrainConfig, trials: int, epochs: int
) -> tuple[SearchSpace, list[TrialPlan]]:
    """The trials for what the user typed: ``texts`` maps lr, batch_size, optimizer, weight_decay to a
    range, list or value ('' keeps ``base``'s); ``params`` gives the pattern's numbers as
    ``c1=4,8,16; fc=32:128:log``. SearchError (or ValueError) names what cannot be used."""
    training = {
        name: parse_dimension(_FLAGS[name], text, TRAINING_SETTINGS[name]) for name, text in texts.items() if text
    }
    dimensions = {}
    for item in filter(None, (part.strip() for part in params.replace("\n", ";").split(";"))):
        name, sep, values = item.partition("=")
        if not sep or not name_is_valid(name.strip()):
            raise SearchError(f"the pattern number '{item}' should be NAME=VALUES, e.g. c1=4,8,16")
        dimensions[name.strip()] = parse_dimension(name.strip(), values, "int")
    space = SearchSpace(architecture, replace(base, epochs=epochs), training, dimensions)
    return space, plan_trials(space, trials)


class SearchProcess:
    """The parent's handle on one search. ``stop()`` ends the trial under way as a "stopped" run."""

    def __init__(self, space: SearchSpace, plans: list[TrialPlan], data: str, out: str | os.PathLike) -> None:
        self.out = Path(out)
        self.trials = len(plans)
        self._errors = _CONTEXT.Queue()
        self._process = _CONTEXT.Process(
            target=_search_main, args=(space, plans, data, str(out), self._errors), name="convscope-search", daemon=True
        )
        self._error: str | None = None
        self._closed = False

    def start(self) -> None:
        self._process.start()

    def is_alive(self) -> bool:
        return self._process.is_alive()

    def error(self) -> str | None:
        """Why the search ended early, once it has; None while it runs or when it ran through."""
        if self._error is None and not self._closed:
            try:
                self._error = self._errors.get_nowait()
            except (queue.Empty, OSError, ValueError):
                pass
        return self._error

    def stop(self, timeout: float = 10.0) -> None:
        """Interrupt the trial under way (its run is closed as stopped), then make sure the process is gone.
        Safe to call twice."""
        if self._closed:
            return
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5.0)
        self.error()
        self._closed = True
        self._errors.cancel_join_thread()
        self._errors.close()


def _search_main(space: SearchSpace, plans: list[TrialPlan], data: str, out: str, errors) -> None:
    from core.data import DataError
    from core.search import run_search

    signal.signal(signal.SIGTERM, _interrupt)  # Stop: the trial's run is closed as "stopped by the user"
    torch.set_num_threads(1)
    try:
        run_search(space, plans, data, out, on_trial=_end_if_orphaned)
    except KeyboardInterrupt:
        errors.put("the search was stopped")
    except (SearchError, DataError, ValueError, OSError) as exc:
        errors.put(str(exc))
    finally:
        errors.close()
        errors.join_thread()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _end_if_orphaned(result) -> None:
    parent = mp.parent_process()
    if parent is not None and not parent.is_alive():
        raise KeyboardInterrupt
