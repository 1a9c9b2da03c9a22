"""Random layer-pattern texts (huge numbers, odd Unicode, broken structure): parse, build, one forward
and a batch-size check either work or raise ArchitectureError, in bounded time and memory."""
from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import torch

from core.architecture import PRESETS, ArchitectureError, build_model, check_batch_size, parse
from tests.core.fuzzing import Case, run_in_child

CASES = 600
HUGE = ["0", "1", "2", "3", "7", "99999", "2147483647", "2147483648", "4294967296", "999999999999999",
        "9223372036854775808", "1e308", "-1", "0.5", "nan", "1" * 40]
ODD = ["\ud800", "\udcff", "\u200b", "\u202e", "\u0301", "\uff11", "\u2192", "\u00d7", "\x00", "\n", "\t", "\U0001f600",
       "\u0663", "\u2028", "ß", "İ"]
LAYERS = ["CONV({a},{b})", "CONV({a},{b},s={c},p={d},d={e})", "POOL({a})", "POOL({a},s={c},p={d})", "AVGPOOL({a},s={c})",
          "AVGPOOL({a},s={c},p={d})", "FC({a})", "RELU", "TANH", "SIGMOID", "BN", "DROPOUT({f})", "MAXPOOL({a})",
          "CONV(f={a},k={b})"]


def _number(rng: random.Random) -> str:
    return rng.choice(HUGE) if rng.random() < 0.12 else str(rng.randint(1, 6))


def _layer(rng: random.Random) -> str:
    return rng.choice(LAYERS).format(
        a=_number(rng), b=_number(rng), c=_number(rng), d=rng.choice(["0", "1", _number(rng)]),
        e=rng.choice(["1", "1", _number(rng)]), f=rng.choice(["0.5", "0", "0.99", _number(rng)]),
    )


def _pipeline(rng: random.Random, depth: int = 0) -> str:
    parts = []
    for _ in range(rng.randint(1, 4)):
        if depth < 3 and rng.random() < 0.2:
            parts.append(f"[{_pipeline(rng, depth + 1)}]*{rng.choice(['1', '2', '3', _number(rng)])}")
        else:
            parts.append(_layer(rng))
    return rng.choice([" -> ", "->", " \u2192 "]).join(parts)


def _text(rng: random.Random) -> str:
    if rng.random() < 0.15:
        text = rng.choice(list(PRESETS.values()))
    else:
        side = rng.choice(["28", "9", "16", "1", _number(rng)])
        channels = rng.choice(["1", "3", "2", _number(rng)])
        head = f"INPUT({channels}x{side}x{rng.choice([side, _number(rng)])}) -> " if rng.random() < 0.7 else ""
        text = head + _pipeline(rng) + f" -> FC({rng.choice(['2', '10', _number(rng)])})"
    for _ in range(rng.choice([0, 0, 0, 1, 2, 4])):  # then break it: odd characters, cuts, duplicates
        at = rng.randrange(len(text) + 1)
        how = rng.random()
        if how < 0.4:
            text = text[:at] + rng.choice(ODD) + text[at:]
        elif how < 0.6:
            text = text[:at]
        elif how < 0.8:
            text = text[:at] + rng.choice("[]()*,=x-> ") + text[at:]
        else:
            text = text[:at] + text[at : at + rng.randint(1, 20)] * rng.randint(1, 50) + text[at:]
    return text


def fuzz_layer_patterns(cases: int, seed: int, _folder: str) -> Iterator[Case]:
    rng = random.Random(seed)
    for _ in range(cases):
        text = _text(rng)
        batch = rng.choice([1, 2, 64, 10**9])

        def case(text: str = text, batch: int = batch) -> str:
            try:
                architecture = parse(text)
            except ArchitectureError as error:
                str(error).encode("utf-8")  # printable: no lone surrogate in the message
                assert "\n" not in str(error)
                return "refused"
            model = build_model(architecture).eval()
            with torch.no_grad():
                out = model(torch.zeros(1, *architecture.input_shape))
            assert out.shape == (1, architecture.num_classes)
            try:
                check_batch_size(architecture, batch)
            except ArchitectureError:
                return "built, batch refused"
            if batch == 2 and sum(p.numel() for p in model.parameters()) < 2_000_000:
                model.train()(torch.zeros(2, *architecture.input_shape)).sum().backward()
            return "built"

        yield case


@pytest.mark.slow
def test_random_layer_patterns_give_only_architecture_errors_in_bounded_time_and_memory():
    report = run_in_child("tests.core.test_architecture_fuzz:fuzz_layer_patterns", CASES, seed=13)
    assert report.cases == CASES
    assert not report.problems(), report.problems()
    assert report.outcomes["refused"] > CASES // 5 and report.outcomes["built"] > CASES // 10, report.outcomes
