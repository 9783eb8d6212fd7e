"""Run under ``mpiexec -n 2`` by tests/test_distributed.py; prints one OK line per check."""
from __future__ import annotations

import sys

import numpy as np

import arraylib as xp
import arraylib.distributed as dist
from arraylib import nn, optim
from arraylib.nn.parallel import DistributedDataParallel


def check_collectives(device):
    rank, world = dist.get_rank(), dist.get_world_size()
    t = xp.asarray([1.0, 2.0, 3.0], dtype=xp.float32, device=device) * (rank + 1)
    s = xp.asarray(t, copy=True)
    dist.all_reduce(s, dist.ReduceOp.SUM)
    expect = np.array([1.0, 2.0, 3.0]) * sum(r + 1 for r in range(world))
    assert np.allclose(s.to_device("cpu").numpy(), expect), s
    assert s.device == device
    for op, fn in ((dist.ReduceOp.MAX, max), (dist.ReduceOp.MIN, min)):
        m = xp.asarray(t, copy=True)
        dist.all_reduce(m, op)
        assert np.allclose(m.to_device("cpu").numpy(),
                           np.array([1.0, 2.0, 3.0]) * fn(r + 1 for r in range(world)))
    mean = xp.asarray(t, copy=True)
    dist.all_reduce(mean, dist.ReduceOp.MEAN)
    assert np.allclose(mean.to_device("cpu").numpy(), expect / world)
    b = xp.full((2, 2), float(rank), device=device)
    dist.broadcast(b, src=world - 1)
    assert np.all(b.to_device("cpu").numpy() == world - 1)
    outs = [xp.zeros(3, device=device) for _ in range(world)]
    dist.all_gather(outs, xp.full((3,), float(rank), device=device))
    assert [float(o[0]) for o in outs] == [float(r) for r in range(world)]
    out = xp.zeros(2, device=device)
    dist.reduce_scatter(out, [xp.full((2,), float(r + rank), device=device) for r in range(world)])
    assert np.allclose(out.to_device("cpu").numpy(), sum(rank + r for r in range(world)))
    try:
        dist.all_reduce(xp.zeros(2 + rank, device=device))
    except ValueError as e:
        assert "differ across ranks" in str(e)
    else:
        raise AssertionError("mismatched shapes were not detected")
    print(f"OK collectives {device} rank {rank}", flush=True)


def make_model():
    xp.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).to(xp.float64)


def check_ddp_gradients():
    rank, world = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(1)
    X = xp.asarray(rng.standard_normal((8, 4)))
    y = xp.asarray(rng.integers(0, 3, 8))
    ref = make_model()
    nn.CrossEntropyLoss()(ref(X), y).backward()
    model = DistributedDataParallel(make_model())
    shard = slice(rank * 8 // world, (rank + 1) * 8 // world)
    nn.CrossEntropyLoss()(model(X[shard]), y[shard]).backward()
    for (name, p), q in zip(model.module.named_parameters(), ref.parameters()):
        err = float(xp.max(xp.abs(p.grad - q.grad)))
        assert err < 1e-12, (name, err)
    print(f"OK ddp-gradients rank {rank}", flush=True)


def check_ddp_identical_parameters():
    rank = dist.get_rank()
    xp.manual_seed(100 + rank)  # different local data on each rank
    model = DistributedDataParallel(make_model())
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(20):
        X = xp.randn(6, 4, dtype=xp.float64)
        y = xp.randint(0, 3, (6,))
        opt.zero_grad()
        nn.CrossEntropyLoss()(model(X), y).backward()
        opt.step()
    flat = xp.concat([xp.reshape(p.detach(), (-1,)) for p in model.parameters()])
    gathered = [xp.zeros_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, flat)
    for g in gathered[1:]:
        assert bool(xp.all(g == gathered[0])), "parameters diverged across ranks"
    print(f"OK ddp-identical rank {rank}", flush=True)


def main():
    try:
        dist.get_rank()
    except RuntimeError as e:
        assert "init_process_group" in str(e)
    dist.init_process_group()
    for device in ("cpu", "strict:device1"):
        check_collectives(device)
    check_ddp_gradients()
    check_ddp_identical_parameters()
    dist.barrier()


if __name__ == "__main__":
    try:
        main()
    except Exception:
        import traceback
        traceback.print_exc()
        sys.stdout.flush()
        from mpi4py import MPI
        MPI.COMM_WORLD.Abort(1)
