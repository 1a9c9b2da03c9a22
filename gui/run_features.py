"""Runs, search and following a run folder, wired into the window in one place: the Runs and Search tabs
beside the training panel, File → Follow run folder…, Fork under the curves, slow motion."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from gui.follow_binder import FollowBinder
from gui.panels.runs_panel import RunsPanel
from gui.panels.search_panel import SearchPanel
from gui.run_binder import RunBinder
from gui.search_binder import SearchBinder


class RunFeatures:
    def __init__(self, window) -> None:
        """``window``: the MainWindow (its state, coordinator, curves, training panel, right-hand tabs)."""
        self.window = window
        self.runs_panel = RunsPanel()
        self.search_panel = SearchPanel()
        self.follower = FollowBinder(window.state, window.coordinator, window.curves, window.show_train_settings, window)
        self.runs = RunBinder(window.coordinator, self.runs_panel, window.curves, self.follower, window)
        self.search = SearchBinder(self.search_panel, window.train_settings, self.follower, self.runs.refresh, window)
        window.right_tabs.addTab(self.runs_panel, "Runs")
        window.right_tabs.addTab(self.search_panel, "Search")
        for reporter in (self.follower, self.runs, self.search):
            reporter.error.connect(window.show_error)
            reporter.message.connect(window.show_message)
        window.curves.forkRequested.connect(lambda: window.coordinator.fork(window.train_settings()))
        window.training.paceChanged.connect(window.coordinator.set_pace)

    def follow(self, folder: str | Path) -> bool:
        """Show a run folder and follow it as it grows (``main.py --follow``)."""
        return self.follower.follow(folder)

    def follow_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Follow run folder", str(self.runs.catalog.root))
        if folder:
            self.follow(folder)

    def close(self) -> None:
        self.window.curves.stop_playing()
        self.search.close()
        self.runs.close()
        self.follower.close()
