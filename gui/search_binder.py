"""A hyperparameter search from the window: planned on the GUI thread (a mistake is said at once), run in
its own process (core.search_process), its table read back from search.json every POLL_MS. Each trial
is a run folder under runs_home(), so the Runs panel lists it too; the best one is a click away."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from core.run_catalog import display_path
from core.runs import RunError, new_run_folder
from core.search import SearchError, SearchReport, format_value, read_search
from core.search_process import SearchProcess, plan_search
from core.train_settings import TrainSettings
from gui.follow_binder import FollowBinder
from gui.panels.search_panel import SearchPanel

POLL_MS = 500
SEARCHED_TEXTS = ("lr", "batch_size", "optimizer", "weight_decay")


class SearchBinder(QObject):
    error = Signal(str)
    message = Signal(str)
    finished = Signal()

    def __init__(
        self,
        panel: SearchPanel,
        read_settings: Callable[[], TrainSettings],
        follow: FollowBinder,
        refresh_runs: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.panel = panel
        self._read_settings = read_settings
        self._refresh_runs = refresh_runs
        self._process: SearchProcess | None = None
        self._names: list[str] = []
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)
        panel.searchRequested.connect(self.start)
        panel.stopRequested.connect(self.stop)
        panel.openRequested.connect(follow.follow)

    @property
    def running(self) -> bool:
        return self._process is not None

    def start(self, request: dict) -> bool:
        """Plan the trials from what was typed and start them; False (and a message) when refused."""
        if self._process is not None:
            return False
        settings = self._read_settings()
        architecture = request["architecture"] or settings.architecture
        try:
            space, plans = plan_search(
                architecture, {k: request[k] for k in SEARCHED_TEXTS}, request["params"], settings.config(),
                request["trials"], request["epochs"],
            )
            out = new_run_folder("search")
        except (SearchError, RunError, ValueError) as exc:
            self.error.emit(str(exc))
            return False
        self._names = list(space.dimensions)
        self._process = SearchProcess(space, plans, settings.dataset, out)
        self._process.start()
        self._timer.start()
        self.panel.set_running(True)
        self.panel.set_results([], [])
        searched = ", ".join(f"{name} {d.text}" for name, d in space.dimensions.items())
        self.panel.set_progress(f"searching {searched}: {len(plans)} trials of {request['epochs']} epoch(s) on "
                                f"{settings.dataset}, in {display_path(out)}")
        return True

    def poll(self) -> None:
        process = self._process
        if process is None:
            return
        report = self._report(process)
        if process.is_alive():
            if report is not None:
                self.panel.set_progress(f"{len(report.results)} of {process.trials} trials done in "
                                        f"{display_path(process.out)}" + _best(report))
            return
        self._end(process, report)

    def stop(self) -> None:
        """Stop the search: the trial under way ends as a stopped run; the finished ones stay in the table."""
        process = self._process
        if process is not None:
            process.stop()
            self._end(process, self._report(process))

    def close(self) -> None:
        self.stop()
        self._timer.stop()

    def _end(self, process: SearchProcess, report: SearchReport | None) -> None:
        self._process = None
        self._timer.stop()
        process.stop()
        self.panel.set_running(False)
        done = len(report.results) if report is not None else 0
        error = process.error()
        text = f"{done} of {process.trials} trials done in {display_path(process.out)}" + (_best(report) if report else "")
        self.panel.set_progress(f"{error}: {text}" if error else f"search finished: {text}")
        if error and error != "the search was stopped":
            self.error.emit(f"the search ended early: {error}")
        else:
            self.message.emit(self.panel.progress())
        self._refresh_runs()
        self.finished.emit()

    def _report(self, process: SearchProcess) -> SearchReport | None:
        """The table so far (None before the first trial ends), shown in the panel."""
        try:
            report = read_search(process.out)
        except SearchError:
            return None
        columns = ["trial", *self._names, "test acc", "final loss", "status", "time"]
        rows = [
            (str(r.folder), [
                str(r.number), *(format_value(r.values.get(n)) for n in self._names),
                "-" if r.best_test_accuracy is None else f"{r.best_test_accuracy:.1%}",
                "-" if r.final_loss is None else f"{r.final_loss:.3g}", r.status.value, f"{r.seconds:.1f} s",
            ])
            for r in report.results
        ]
        self.panel.set_results(columns, rows)
        return report


def _best(report: SearchReport) -> str:
    best = report.best
    if best is None or best.best_test_accuracy is None:
        return ""
    values = ", ".join(f"{n} {format_value(v)}" for n, v in best.values.items())
    return f"; best so far: trial {best.number} ({values}) with {best.best_test_accuracy:.1%}"
