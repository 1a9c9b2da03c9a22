"""How much memory one model, input or data set may take, so that hostile input is refused up front.

Every entry point that would allocate in proportion to what a file or a text declares (a layer of
20,000 filters, an input of 40000x40000, an IDX header promising 8 GB) compares the bytes it is about
to need with this budget first and refuses with both numbers, instead of thrashing the machine for a
minute before a MemoryError. The budget is a third of the machine's memory (8 GB on a 24 GB machine),
or ``CONVSCOPE_MEMORY_BUDGET`` (e.g. ``2GB``, ``512MB``, or a number of bytes).
"""
from __future__ import annotations

import os
import re

BUDGET_ENV = "CONVSCOPE_MEMORY_BUDGET"
BUDGET_DIVISOR = 3  # a third of the RAM
FALLBACK_MEMORY = 8 * 2**30
"""Assumed machine memory where the OS does not say (non-POSIX)."""

_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "m": 2**20, "mb": 2**20, "g": 2**30, "gb": 2**30, "t": 2**40, "tb": 2**40}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zA-Z]*)\s*")
_MIN_BUDGET = 2**20


class BudgetError(ValueError):
    """What was asked for would take more memory than the budget; the message gives both numbers."""


def physical_memory() -> int:
    """The machine's RAM in bytes."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return FALLBACK_MEMORY


def parse_size(text: str) -> int:
    """'2GB', '512 MB', '1.5g', '1000000' -> bytes (binary units: 1 GB = 2**30 bytes)."""
    match = _SIZE.fullmatch(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise BudgetError(f"{text!r} is not a size such as 2GB, 512MB or 1000000")
    return int(float(match.group(1)) * _UNITS[unit])


def memory_budget() -> int:
    """Bytes one model, input or data set may take: $CONVSCOPE_MEMORY_BUDGET, else a third of the RAM.

    An unreadable override is ignored (the default applies) rather than stopping the app.
    """
    override = os.environ.get(BUDGET_ENV)
    if override:
        try:
            return max(_MIN_BUDGET, parse_size(override))
        except BudgetError:
            pass
    return max(_MIN_BUDGET, physical_memory() // BUDGET_DIVISOR)


def format_bytes(count: float) -> str:
    """A size people read at a glance: '21 GB', '512 MB', '3.1 kB' (binary units)."""
    for unit, scale in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if count >= scale:
            value = count / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:,.0f} {unit}"
    return f"{int(count)} bytes"


def check_memory(what: str, needed: int, budget: int | None = None) -> None:
    """Refuse ``needed`` bytes over the budget: '<what> needs 21 GB; the budget is 8.0 GB (...)'."""
    limit = memory_budget() if budget is None else budget
    if needed > limit:
        raise BudgetError(over_budget(what, needed, limit))


def over_budget(what: str, needed: int, budget: int | None = None) -> str:
    limit = memory_budget() if budget is None else budget
    return f"{what} needs {format_bytes(needed)}; the budget is {format_bytes(limit)} (set {BUDGET_ENV} to change it)"
