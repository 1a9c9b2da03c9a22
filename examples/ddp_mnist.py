"""The loop of train_script.py under DistributedDataParallel: each rank trains on its shard of the
bundled MNIST, and rank 0 alone writes the run folder (RunWriter checks torch.distributed itself).

    torchrun --standalone --nproc_per_node 2 examples/ddp_mnist.py --out runs/ddp --epochs 1
    python main.py --follow runs/ddp

Gloo on the CPU, NCCL with one GPU per rank when CUDA is there. The model is a layer-pattern text;
DDP's ``module.`` prefix is stripped from the saved weights, so the run opens like any other.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.architecture import PRESETS, build_model  # noqa: E402
from core.runs import RunWriter  # noqa: E402

ARCHITECTURE = PRESETS["lenet"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the run folder to write (new or empty)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--batch-size", type=int, default=32, help="per rank")
    parser.add_argument("--snapshot-every", type=int, default=20, metavar="STEPS")
    parser.add_argument("--max-steps", type=int, help="stop after this many steps")
    parser.add_argument("--pace", type=float, metavar="STEPS_PER_S", help="slow motion, to watch it train")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--final-state", help="rank 0 saves its final state_dict here (torch.save), for checks")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from core.data import load_dataset
    from core.pacing import Pacer

    torch.set_num_threads(1)
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if cuda:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    torch.manual_seed(args.seed)  # the same initial weights everywhere (DDP also broadcasts rank 0's)
    data = load_dataset("mnist", "train")
    dataset = torch.utils.data.TensorDataset(torch.tensor(data.images), torch.tensor(data.labels))
    sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=args.seed)
    batches = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, sampler=sampler)
    model = DistributedDataParallel(build_model(ARCHITECTURE).to(device), device_ids=[device.index] if cuda else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    pacer = Pacer(args.pace)

    writer = RunWriter(args.out, ARCHITECTURE, settings={**vars(args), "world_size": world},  # <- run (rank 0 only)
                       classes=data.classes, normalization=data.normalization)
    if rank == 0:
        print(f"writing {args.out}: {world} ranks on {device.type}", flush=True)
    step = 0
    for epoch in range(1, args.epochs + 1):
        sampler.set_epoch(epoch)
        for x, y in batches:  # every rank has the same number of batches (the sampler pads the shards)
            if args.max_steps is not None and step >= args.max_steps:
                break
            pacer.wait()
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            logits = model(x)
            loss = nn.functional.cross_entropy(logits, y)
            loss.backward()  # gradients are averaged over the ranks here
            optimizer.step()
            step += 1
            accuracy = (logits.argmax(1) == y).float().mean()
            writer.log(step, epoch=epoch, loss=loss.item(), accuracy=accuracy.item())  # <- run
            if step % args.snapshot_every == 0:
                writer.snapshot(step, model.state_dict())  # <- run ("module." is stripped)
    writer.snapshot(step, model.state_dict())
    writer.close()
    if rank == 0 and args.final_state:
        torch.save(model.module.state_dict(), args.final_state)
    if rank == 0:
        print(f"done: {step} steps on each of {world} ranks", flush=True)
    # every rank tears gloo down together: a rank that left while rank 0 still saved aborted once on CI
    # ("terminate called without an active exception", exit -6)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
