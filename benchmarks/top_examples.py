"""Top examples kept live: the cost of refreshing them at each epoch end, against training itself.

Workload: the top 9 test images of every conv channel of lenet (conv1, conv2) over the 1,000 bundled
test images, as the window refreshes them at each epoch end. All in one torch thread, as the GUI
process runs.

Part 1, in this process (medians of repeats, same run):
  epoch      one epoch of training on the bundled train split (4,000 images, batch 64, SGD momentum)
  test pass  core.trainer.evaluate over the test split: what the window already runs at each epoch end
  refresh    core.insight.top_examples_all on its own (one more pass over the test split)
  riding     the test pass with a TopExampleRecorder on the model: the refresh made during the pass
             the window already runs; its cost is riding − test pass

Part 2, training throughput. Training runs in its own process (benchmarks/_bare_loop.py, a plain
torch loop), so the refresh costs it nothing directly; what it can cost is contention for the
machine's cores. Alternating repeats of the bare loop while this process
  idles                  (baseline),
  at each of the loop's epoch ends runs the plain test pass (the window before top examples), and
  at each of the loop's epoch ends runs the test pass with the recorder riding on it, as the window
  does (ViewerState.epoch_ended).
The last two compared give what keeping the top examples live costs training on top of the test pass.
Epoch ends are estimated from the baseline's throughput (train images / samples per second). The
ratio of the two throughputs is judged against the live-training target, ≥ 0.90 of a bare loop.

Run: python benchmarks/top_examples.py [--seconds 8] [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _common import REPO, Figure, median, report

TARGET_RATIO = 0.90
LAYERS = ("conv1", "conv2")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="wall time of each training run")
    parser.add_argument("--repeats", type=int, default=2)
    return parser.parse_args()


def timed(work, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return median(samples)


def in_process_costs() -> dict[str, float]:
    import torch
    from torch import nn

    from core.architecture import PRESETS, build_model
    from core.data import load_dataset
    from core.insight import TopExampleRecorder, top_examples_all
    from core.trainer import evaluate

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model(PRESETS["lenet"])
    train, test = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    images, labels = torch.from_numpy(train.images.copy()), torch.from_numpy(train.labels.copy())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def epoch() -> None:
        model.train()
        order = torch.randperm(len(train))
        for start in range(0, len(train), 64):
            batch = order[start : start + 64]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(images[batch]), labels[batch]).backward()
            optimizer.step()

    def riding() -> None:
        with TopExampleRecorder(model, LAYERS) as recorder:
            evaluate(model, test)
        recorder.result()

    epoch()  # warm-up: first-touch allocations, lazy initialisations
    top_examples_all(model, test, LAYERS)
    costs = {}
    # Interleaved, so a burst of load on the shared machine falls on all four alike.
    for _ in range(5):
        for name, work in (("epoch", epoch), ("test pass", lambda: evaluate(model, test)),
                           ("refresh", lambda: top_examples_all(model, test, LAYERS)), ("riding", riding)):
            costs.setdefault(name, []).append(timed(work, 1))
    return {name: median(samples) for name, samples in costs.items()}


def bare_loop(seconds: float, epoch_work_every: float | None, riding: bool = True) -> float:
    """Samples/s of the bare loop while this process idles, or does the epoch-end work on that cadence:
    the test pass, with the top-example recorder riding on it or not."""
    command = [sys.executable, str(REPO / "benchmarks" / "_bare_loop.py"), "--seconds", str(seconds)]
    work = None
    if epoch_work_every is not None:
        from core.data import load_dataset
        from core.insight import TopExampleRecorder
        from core.trainer import evaluate

        test = load_dataset("mnist", "test")
        model = _lenet()

        def work() -> None:
            if not riding:
                evaluate(model, test)
                return
            with TopExampleRecorder(model, LAYERS) as recorder:
                evaluate(model, test)
            recorder.result()

    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    next_epoch_end = time.perf_counter() + (epoch_work_every or 0)
    while process.poll() is None:
        if work is None or time.perf_counter() < next_epoch_end:
            time.sleep(0.005)
            continue
        work()
        next_epoch_end += epoch_work_every
    lines = process.stdout.read().splitlines()
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"the bare loop failed with exit code {process.returncode}")
    return json.loads(lines[-1])["samples_per_s"]


def _lenet():
    import torch

    from core.architecture import PRESETS, build_model

    torch.set_num_threads(1)
    return build_model(PRESETS["lenet"])


def main() -> None:
    args = parse_args()
    costs = in_process_costs()
    extra = costs["riding"] - costs["test pass"]
    for name in ("epoch", "test pass", "refresh", "riding"):
        print(f"{name:>10}: {costs[name] * 1000:8.1f} ms")
    print(f"refresh on its own = {costs['refresh'] / costs['epoch']:.3f} of an epoch; "
          f"riding on the test pass adds {extra * 1000:.1f} ms = {extra / costs['epoch']:.3f} of an epoch")

    baseline, plain, loaded = [], [], []
    epoch_seconds = None
    for _ in range(args.repeats):
        baseline.append(bare_loop(args.seconds, None))
        epoch_seconds = 4000 / median(baseline)
        plain.append(bare_loop(args.seconds, epoch_seconds, riding=False))
        loaded.append(bare_loop(args.seconds, epoch_seconds))
    print(f"bare loop {median(baseline):,.0f} samples/s (epoch every {epoch_seconds:.2f} s); with the epoch-end "
          f"test pass in this process {median(plain):,.0f} samples/s, with the refresh riding on it "
          f"{median(loaded):,.0f} samples/s (the refresh: {median(loaded) / median(plain):.3f} of the test pass alone); "
          f"this process busy {(costs['riding']) / epoch_seconds:.0%} of its core")
    ratio = median(loaded) / median(baseline)
    report(Figure(
        name="training throughput with top-example refresh at each epoch end / bare loop",
        value=median(loaded), unit="samples/s", baseline=f"bare torch loop {median(baseline):,.0f} samples/s",
        target=f"≥ {TARGET_RATIO:.2f}", passed=ratio >= TARGET_RATIO, ratio=ratio,
    ))


if __name__ == "__main__":
    main()
