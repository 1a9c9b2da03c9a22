import os
import sys
import threading

import pytest

from core.priority import BACKGROUND_NICENESS, lower_priority

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="per-thread priorities are Linux's")


def niceness_of_this_thread() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_a_background_thread_lowers_its_own_priority_and_leaves_the_callers_alone():
    before = niceness_of_this_thread()
    seen: dict[str, int | bool] = {}

    def background() -> None:
        seen["lowered"] = lower_priority()
        seen["own"] = niceness_of_this_thread()
        child = threading.Thread(target=lambda: seen.setdefault("inherited", niceness_of_this_thread()))
        child.start()
        child.join()

    thread = threading.Thread(target=background)
    thread.start()
    thread.join()
    assert seen == {"lowered": True, "own": max(BACKGROUND_NICENESS, before), "inherited": max(BACKGROUND_NICENESS, before)}
    assert niceness_of_this_thread() == before


def test_a_thread_already_lower_is_never_raised():
    seen = []

    def background() -> None:
        lower_priority(BACKGROUND_NICENESS + 5)
        lower_priority()
        seen.append(niceness_of_this_thread())

    thread = threading.Thread(target=background)
    thread.start()
    thread.join()
    assert seen == [min(19, BACKGROUND_NICENESS + 5)]
