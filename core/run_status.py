"""How a run stands or ended: one vocabulary for run.json, the command line, the search table and the window."""
from __future__ import annotations

from enum import Enum


class RunStatus(str, Enum):
    RUNNING = "running"
    FINISHED = "finished"
    DIVERGED = "diverged"  # the loss became NaN or exploded; the last good weights were put back
    STOPPED = "stopped"  # ended early by the user or by an error in the training script
    FAILED_TO_LEARN = "failed-to-learn"  # ran to the end (or was cut short) without getting above chance

    @classmethod
    def parse(cls, value: "RunStatus | str") -> "RunStatus":
        """Accepts the enum, its value ("failed-to-learn") or its name in any case ("failed_to_learn")."""
        if isinstance(value, cls):
            return value
        text = str(value).strip().lower()
        for status in cls:
            if text in (status.value, status.name.lower()):
                return status
        raise ValueError(f"unknown run status '{value}': use one of {', '.join(s.value for s in cls)}")
