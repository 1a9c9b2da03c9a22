"""Background work yields the CPU to the window.

On two cores the training worker, the epoch test pass and file decoding competed with the GUI thread at
equal priority and kept it from its event loop for 100-190 ms at a time; at a lower priority they take
whatever the window leaves and the window answers at once.
"""
from __future__ import annotations

import os
import threading

BACKGROUND_NICENESS = 10


def lower_priority(niceness: int = BACKGROUND_NICENESS) -> bool:
    """Lower the calling thread's priority to `niceness` (never raise it); threads it starts later inherit
    it. On Linux a thread is a task with its own nice value, so the rest of the process keeps its own.
    False where the system offers no per-thread priority."""
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, max(niceness, os.getpriority(os.PRIO_PROCESS, thread)))
    except (AttributeError, OSError):  # no setpriority (Windows), or the id is not a task (macOS)
        return False
    return True
