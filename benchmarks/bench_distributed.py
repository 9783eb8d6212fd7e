"""All-reduce and DDP step times over MPI.  Run: mpiexec -n 2 python benchmarks/bench_distributed.py

Prints, from rank 0: time per all-reduce of 1, 16 and 64 MB float32 tensors, and the
training-step time of the digits MLP (64-128-10, batch 64 per rank, SGD momentum) under
DistributedDataParallel.  Run it once with -n 1 and once with -n 2 to compare.
"""
from __future__ import annotations

import time

import arraylib as xp
import arraylib.distributed as dist
from arraylib import nn, optim
from arraylib.nn.parallel import DistributedDataParallel


def timed(fn, repeat):
    dist.barrier()
    fn()
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    dist.barrier()
    return (time.perf_counter() - t0) / repeat


def main():
    dist.init_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()
    lines = []
    for mb in (1, 16, 64):
        t = xp.ones(mb * 2 ** 20 // 4, dtype=xp.float32)
        s = timed(lambda: dist.all_reduce(t), repeat=10 if mb < 64 else 4)
        lines.append(f"all_reduce {mb:>3} MB float32: {s * 1e3:8.2f} ms  ({mb / s:7.1f} MB/s)")
    xp.manual_seed(0)
    model = DistributedDataParallel(nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)))
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    X, y = xp.randn(64, 64), xp.randint(0, 10, (64,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(X), y).backward()
        opt.step()
    s = timed(step, repeat=50)
    lines.append(f"DDP step, digits MLP 64-128-10, batch 64/rank: {s * 1e3:.3f} ms")
    if rank == 0:
        print(f"world size {world}")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
