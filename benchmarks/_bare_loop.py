"""The baseline: a plain PyTorch training loop, run as its own process with one thread like the app's worker.

Same model (built from the architecture text), same bundled data, same optimizer, batch size and
recipe as core.trainer.Trainer, including its random stream (one seeded torch.Generator drawing the
epoch permutations and the 2-px shifts), so from the same initial weights it follows the same
trajectory: any difference in time is overhead, not luck. It prints JSON lines on stdout.

    python benchmarks/_bare_loop.py --seconds 8 --lr 0.01           # throughput
    python benchmarks/_bare_loop.py --until 0.97 --epochs 20 --augment --schedule cosine --init w.pt
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="lenet")
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--augment", action="store_true")
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="constant")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", help="initial weights (a torch state dict file); default: the model's own init")
    parser.add_argument("--test-each-epoch", action="store_true", help="test accuracy at every epoch end, as Trainer does")
    parser.add_argument("--seconds", type=float, help="train this long, then print the throughput")
    parser.add_argument("--until", type=float, help="stop at the first epoch whose test accuracy reaches this")
    return parser.parse_args()


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def main() -> None:
    args = parse_args()
    import torch
    from torch import nn

    from core.architecture import PRESETS, build_model, parse
    from core.data import load_dataset

    torch.set_num_threads(1)
    architecture = parse(PRESETS[args.preset])
    train = load_dataset("mnist", "train", architecture.input_shape)
    test = load_dataset("mnist", "test", architecture.input_shape)
    model = build_model(architecture)
    if args.init:
        model.load_state_dict(torch.load(args.init))
    images = torch.from_numpy(train.images.astype("float32"))
    labels = torch.from_numpy(train.labels.astype("int64"))
    test_images = torch.from_numpy(test.images.astype("float32"))
    test_labels = torch.from_numpy(test.labels.astype("int64"))
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(args.seed)
    batches = math.ceil(len(train) / args.batch_size)
    total_steps = batches * args.epochs

    start = time.perf_counter()
    step = 0
    for epoch in range(args.epochs):
        order = torch.randperm(len(train), generator=generator)
        model.train()
        for batch in range(batches):
            idx = order[batch * args.batch_size : (batch + 1) * args.batch_size]
            x, y = images[idx], labels[idx]
            if args.augment:
                padded = nn.functional.pad(x, (2, 2, 2, 2), value=float(x.amin()))
                dy, dx = torch.randint(0, 5, (2,), generator=generator).tolist()
                x = padded[:, :, dy : dy + 28, dx : dx + 28].contiguous()
            if args.schedule == "cosine":
                for group in optimizer.param_groups:
                    group["lr"] = 0.5 * args.lr * (1 + math.cos(math.pi * step / total_steps))
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            step += 1
            elapsed = time.perf_counter() - start
            if args.seconds is not None and elapsed >= args.seconds:
                emit(event="throughput", samples_per_s=step * args.batch_size / elapsed, steps=step, seconds=elapsed)
                return
        if args.test_each_epoch or args.until is not None:
            model.eval()
            with torch.no_grad():
                predicted = torch.cat([model(test_images[i : i + 500]).argmax(1) for i in range(0, len(test), 500)])
            accuracy = float((predicted == test_labels).float().mean())
            emit(event="epoch", epoch=epoch + 1, test_accuracy=accuracy, seconds=time.perf_counter() - start)
            if args.until is not None and accuracy >= args.until:
                emit(event="reached", epoch=epoch + 1, test_accuracy=accuracy, seconds=time.perf_counter() - start)
                return
    emit(event="finished", steps=step, seconds=time.perf_counter() - start)


if __name__ == "__main__":
    main()
