"""A plain PyTorch training loop on the bundled MNIST that writes a run folder Convscope can follow.

    python examples/train_script.py --out runs/plain --epochs 1
    python main.py --follow runs/plain          # in another terminal, while it trains

The model is an ordinary nn.Module defined below, so the run names it as ``FILE.py:FUNCTION``
(this file and ``build_model``); any layer-pattern text works too (see ddp_mnist.py). The three lines
that make the loop followable are marked ``# <- run``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.runs import RunWriter  # noqa: E402  (after the path line, so the example runs from anywhere)


def build_model() -> nn.Module:
    """A small CNN for 1x28x28 digits; the run folder names this function so a viewer can rebuild it."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10),
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the run folder to write (new or empty)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--snapshot-every", type=int, default=20, metavar="STEPS")
    parser.add_argument("--max-steps", type=int, help="stop after this many steps")
    parser.add_argument("--pace", type=float, metavar="STEPS_PER_S", help="slow motion, to watch it train")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from core.data import load_dataset
    from core.device import pick_device
    from core.pacing import Pacer

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    data = load_dataset("mnist", "train")
    images, labels = torch.tensor(data.images), torch.tensor(data.labels)
    batches = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(images, labels), batch_size=args.batch_size, shuffle=True,
        generator=torch.Generator().manual_seed(args.seed),
    )
    model = build_model().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    pacer = Pacer(args.pace)

    writer = RunWriter(args.out, f"{Path(__file__).resolve()}:build_model", settings=vars(args),  # <- run
                       classes=data.classes, normalization=data.normalization)
    print(f"writing {args.out} on {device}", flush=True)
    step = 0
    for epoch in range(1, args.epochs + 1):
        for x, y in batches:
            if args.max_steps is not None and step >= args.max_steps:
                break
            pacer.wait()
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            logits = model(x)
            loss = nn.functional.cross_entropy(logits, y)
            loss.backward()
            optimizer.step()
            step += 1
            accuracy = (logits.argmax(1) == y).float().mean()
            writer.log(step, epoch=epoch, loss=loss.item(), accuracy=accuracy.item())  # <- run
            if step % args.snapshot_every == 0:
                writer.snapshot(step, model.state_dict())  # <- run
    writer.snapshot(step, model.state_dict())
    writer.close()
    print(f"done: {step} steps", flush=True)


if __name__ == "__main__":
    main()
