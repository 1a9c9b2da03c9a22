import pytest

from core.budget import BUDGET_ENV, BudgetError, check_memory, format_bytes, memory_budget, parse_size, physical_memory


@pytest.mark.parametrize(
    "text, size",
    [("2GB", 2 * 2**30), ("512 MB", 512 * 2**20), ("1.5g", 3 * 2**29), ("1000000", 1_000_000), ("64kb", 65536)],
)
def test_sizes_are_read_in_binary_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "2 GiBs", "-1GB", "1e9", "GB"])
def test_a_size_that_is_not_one_is_refused(text):
    with pytest.raises(BudgetError, match="is not a size such as 2GB"):
        parse_size(text)


def test_the_budget_is_a_third_of_the_memory_unless_overridden(monkeypatch):
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    assert memory_budget() == physical_memory() // 3
    monkeypatch.setenv(BUDGET_ENV, "2GB")
    assert memory_budget() == 2 * 2**30


def test_an_unreadable_override_falls_back_to_the_default(monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "plenty")
    assert memory_budget() == physical_memory() // 3


@pytest.mark.parametrize(
    "count, text", [(0, "0 bytes"), (1023, "1023 bytes"), (1536, "1.5 kB"), (21 * 2**30, "21 GB"), (8 * 2**30, "8.0 GB")]
)
def test_sizes_read_at_a_glance(count, text):
    assert format_bytes(count) == text


def test_check_memory_names_what_and_both_numbers():
    check_memory("a small thing", 10, budget=10)
    with pytest.raises(BudgetError) as caught:
        check_memory("CONV(20000,3) on 1x512x512", 21 * 2**30, budget=8 * 2**30)
    assert str(caught.value) == (
        f"CONV(20000,3) on 1x512x512 needs 21 GB; the budget is 8.0 GB (set {BUDGET_ENV} to change it)"
    )
