"""The Runs panel kept in step with the runs on disk, ticked runs laid over the curves, and what the
window's own training run says next to the curves.

The table is re-read every REFRESH_MS and when a run starts or ends here (core.run_catalog reads only
what was appended). Each ticked run's curves are drawn in a colour of its own that it keeps while ticked,
with a legend naming only what differs between the ticked runs (core.run_catalog.differing_settings).
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from core.curves import smooth
from core.run_catalog import RunCatalog, RunSummary, differing_settings, display_path
from core.run_status import RunStatus
from core.runs import Run, RunError, open_run, runs_home
from core.training_process import RunEnded
from gui.follow_binder import FollowBinder
from gui.panels.runs_panel import RunRow, RunsPanel
from gui.panels.training_curves import Overlay, TrainingCurves
from gui.training_coordinator import TrainingCoordinator

REFRESH_MS = 2000
RUN_COLOURS = ("#8e24aa", "#00897b", "#c0ca33", "#6d4c41", "#3949ab", "#d81b60", "#546e7a", "#fb8c00")


class RunBinder(QObject):
    error = Signal(str)
    message = Signal(str)

    def __init__(
        self,
        coordinator: TrainingCoordinator,
        panel: RunsPanel,
        curves: TrainingCurves,
        follow: FollowBinder,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.panel = panel
        self.curves = curves
        self.follow = follow
        self.catalog = RunCatalog(runs_home())
        self._summaries: dict[str, RunSummary] = {}
        self._overlaid: dict[str, Run] = {}  # ticked runs, read incrementally
        self._colours: dict[str, str] = {}
        panel.set_folder(f"runs in {display_path(self.catalog.root)}: tick runs to lay their curves over "
                         "the plots, open one to look at it")
        panel.refreshRequested.connect(self.refresh)
        panel.overlaysChanged.connect(self.set_overlays)
        panel.openRequested.connect(follow.follow)
        curves.smoothingChanged.connect(lambda _strength: self._draw_overlays())
        coordinator.run_started.connect(self._on_run_started)
        coordinator.run_ended.connect(self._on_run_ended)
        coordinator.run_stopped.connect(lambda folder: curves.set_status(f"run stopped: {display_path(folder)}"))
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()

    def close(self) -> None:
        self._timer.stop()

    def refresh(self) -> None:
        """Re-read the runs; ticked runs that grew are redrawn."""
        summaries = self.catalog.refresh()
        self._summaries = {str(s.folder): s for s in summaries}
        self.panel.set_runs([_row(s) for s in summaries])
        grew = False
        for folder, run in list(self._overlaid.items()):
            try:
                grew = bool(run.refresh().new_metrics) or grew
            except RunError:
                del self._overlaid[folder]
                grew = True
        if grew:
            self._draw_overlays()

    def set_overlays(self, folders: list[str]) -> None:
        """Lay these runs' curves over the plots (the panel's ticks)."""
        for folder in set(self._overlaid) - set(folders):
            del self._overlaid[folder]
        for folder in folders:
            if folder not in self._overlaid:
                try:
                    self._overlaid[folder] = open_run(folder)
                except RunError as exc:
                    self.error.emit(str(exc))
        kept = {f: self._colours[f] for f in self._overlaid if f in self._colours}  # a run keeps its colour
        for folder in self._overlaid:
            if folder not in kept:
                free = [c for c in RUN_COLOURS if c not in kept.values()]
                kept[folder] = free[0] if free else RUN_COLOURS[len(kept) % len(RUN_COLOURS)]
        self._colours = {f: kept[f] for f in self._overlaid}
        self.panel.set_colours(self._colours)
        self._draw_overlays()

    def _draw_overlays(self) -> None:
        folders = [f for f in self._overlaid if f in self._summaries]
        labels = differing_settings([self._summaries[f] for f in folders])
        strength = self.curves.smoothing()
        overlays = []
        for folder, label in zip(folders, labels):
            history = self._overlaid[folder].history()
            loss = smooth(history.loss, strength) if strength else history.loss
            if history.test_steps:  # test accuracy is what runs are compared by; training accuracy otherwise
                accuracy_steps, accuracy = history.test_steps, history.test_accuracy
            else:
                accuracy_steps, accuracy = history.steps, smooth(history.accuracy, strength) if strength else history.accuracy
            overlays.append(Overlay(
                label, self._colours[folder], np.asarray(history.steps, float), np.asarray(loss, float),
                np.asarray(accuracy_steps, float), np.asarray(accuracy, float),
            ))
        self.curves.set_overlays(overlays)

    def _on_run_started(self, folder: str | None) -> None:
        self.curves.set_status(f"recording this run in {display_path(folder)}" if folder else "")
        self.refresh()

    def _on_run_ended(self, ended: RunEnded) -> None:
        if ended.status in (RunStatus.DIVERGED, RunStatus.FAILED_TO_LEARN):
            self.curves.set_status(ended.message, error=True)
        elif ended.folder is not None:
            self.curves.set_status(f"run {ended.status.value}: {display_path(ended.folder)}")
        self.refresh()


def _row(summary: RunSummary) -> RunRow:
    tooltip = f"{display_path(summary.folder)}\n{summary.architecture}"
    if summary.message:
        tooltip += f"\n{summary.message}"
    return RunRow(
        folder=str(summary.folder),
        name=summary.name,
        status=summary.status.value,
        accuracy=summary.best_test_accuracy,
        steps=summary.last_step,
        seconds=summary.seconds,
        settings=summary.description,
        tooltip=tooltip,
    )
