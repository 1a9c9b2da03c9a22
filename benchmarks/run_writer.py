"""What writing a run folder costs a training loop: throughput with RunWriter / the same loop bare.

One process, one torch thread, the default model (lenet) on the bundled MNIST at batch 64. The loops
alternate in blocks of equal wall time (bare, writer, bare, writer, ...), so load on the machine hits
both alike; the figure is the median of the per-pair ratios. The writer loop logs a metrics line every
step (loss and batch accuracy, read with .item() as any logging loop would) and snapshots the weights
about once a second, which is what a run that a window follows needs.

    python benchmarks/run_writer.py [--seconds 3] [--pairs 5]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _common import Figure, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="wall time of each block")
    parser.add_argument("--pairs", type=int, default=5, help="bare/writer block pairs")
    args = parser.parse_args()

    import torch
    from torch import nn

    from core.architecture import PRESETS, build_model
    from core.data import load_dataset
    from core.runs import RunWriter

    torch.set_num_threads(1)
    torch.manual_seed(0)
    train = load_dataset("mnist", "train")
    images, labels = torch.tensor(train.images), torch.tensor(train.labels)
    model = build_model(PRESETS["lenet"])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    batch, batches = 64, len(train) // 64
    step = 0

    def train_for(seconds: float, writer: RunWriter | None) -> tuple[float, int]:
        nonlocal step
        done, snapshots = 0, 0
        start = next_snapshot = time.perf_counter()
        while time.perf_counter() - start < seconds:
            at = (step % batches) * batch
            x, y = images[at : at + batch], labels[at : at + batch]
            optimizer.zero_grad(set_to_none=True)
            logits = model(x)
            loss = nn.functional.cross_entropy(logits, y)
            loss.backward()
            optimizer.step()
            step += 1
            done += len(y)
            if writer is not None:
                writer.log(step, loss=loss.item(), accuracy=(logits.argmax(1) == y).float().mean().item())
                if time.perf_counter() >= next_snapshot:
                    writer.snapshot(step, model.state_dict())
                    snapshots += 1
                    next_snapshot += 1.0
        return done / (time.perf_counter() - start), snapshots

    with tempfile.TemporaryDirectory() as folder:
        writer = RunWriter(Path(folder) / "run", PRESETS["lenet"], settings={"lr": 0.02, "batch_size": batch})
        train_for(1.0, None)  # warm-up: allocator, first-call costs
        ratios, bare_rates, writer_rates = [], [], []
        for _ in range(args.pairs):
            bare, _ = train_for(args.seconds, None)
            written, snapshots = train_for(args.seconds, writer)
            bare_rates.append(bare)
            writer_rates.append(written)
            ratios.append(written / bare)
            print(f"bare {bare:,.0f} samples/s | with RunWriter {written:,.0f} samples/s ({snapshots} snapshots) | "
                  f"ratio {written / bare:.3f}", flush=True)
        started = time.perf_counter()
        for i in range(2000):
            writer.log(step + i + 1, loss=0.5, accuracy=0.75)
        log_us = (time.perf_counter() - started) / 2000 * 1e6
        started = time.perf_counter()
        for i in range(20):
            writer.snapshot(step + i + 1, model.state_dict())
        snapshot_ms = (time.perf_counter() - started) / 20 * 1e3
        step_us = batch / statistics.median(bare_rates) * 1e6
        print(f"one metrics line {log_us:.1f} µs, one snapshot {snapshot_ms:.2f} ms; a bare step {step_us:.0f} µs")
        writer.close()
        lines = sum(1 for _ in open(Path(folder) / "run" / "metrics.jsonl"))
        print(f"{lines:,} metrics lines, {len(list((Path(folder) / 'run' / 'snapshots').iterdir()))} snapshots written")
    ratio = statistics.median(ratios)
    report(Figure(
        name="training loop with RunWriter / bare loop",
        value=statistics.median(writer_rates),
        unit="samples/s",
        baseline=f"bare loop {statistics.median(bare_rates):,.0f} samples/s",
        target="≥ 0.95",
        passed=ratio >= 0.95,
        ratio=ratio,
    ))


if __name__ == "__main__":
    main()
