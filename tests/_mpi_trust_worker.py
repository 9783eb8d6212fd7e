"""Run under ``mpiexec -n 2`` by tests/test_distributed_trust.py: ``python _mpi_trust_worker.py MODE``.

Prints one ``OK <check> rank <r>`` line per check that passed on that rank.  Modes:
raise / exit / timeout (a failing rank must end the job), args (argument errors seen
by one rank fail on every rank), ddp (DistributedDataParallel stays in sync).
"""
from __future__ import annotations

import datetime
import sys
import time

import numpy as np

import arraylib as xp
import arraylib.distributed as dist
from arraylib import nn, optim
from arraylib.nn import functional as F
from arraylib.nn.parallel import DistributedDataParallel as DDP


def ok(check):
    print(f"OK {check} rank {dist.get_rank()}", flush=True)


# -- a failing rank ends the job -------------------------------------------------------------
def mode_raise():
    if dist.get_rank() == 1:
        time.sleep(0.5)   # rank 0 is inside barrier() by now, waiting for ever
        print(f"RAISING AT {time.time()!r}", flush=True)
        raise ValueError("boom from rank 1")
    dist.barrier()
    print("rank 0 got past the barrier", flush=True)


def mode_exit():
    if dist.get_rank() == 1:
        time.sleep(0.5)
        print(f"RAISING AT {time.time()!r}", flush=True)
        sys.exit(3)
    dist.barrier()
    print("rank 0 got past the barrier", flush=True)


def mode_timeout():
    t = xp.ones(3)
    dist.all_reduce(t, timeout=30)   # in time: works as without one
    assert t.tolist() == [2.0, 2.0, 2.0], t
    ok("timeout-in-time")
    if dist.get_rank() == 1:
        time.sleep(60)               # never arrives in time (the job is aborted first)
        return
    start = time.monotonic()
    try:
        dist.all_reduce(t, timeout=0.5)
    except RuntimeError as e:
        elapsed = time.monotonic() - start
        assert "all_reduce" in str(e) and "timed out" in str(e), e
        assert elapsed < 5, elapsed
        ok("timeout-raises")
        print(f"RAISING AT {time.time()!r}", flush=True)
        raise                         # uncaught: ends the job
    raise AssertionError("no timeout")


# -- argument errors one rank detects fail on every rank -----------------------------------------
def expect(check, exc, match, fn):
    try:
        fn()
    except exc as e:
        assert match in str(e), (check, str(e))
        ok(check)
    else:
        raise AssertionError(f"{check}: no {exc.__name__} on rank {dist.get_rank()}")


def mode_args():
    rank, world = dist.get_rank(), dist.get_world_size()
    t = xp.ones(3)
    # one rank passes a list of the wrong length
    outs = [xp.zeros(3) for _ in range(world + (1 if rank == 1 else 0))]
    expect("args-all_gather-length", ValueError, "rank 1: tensor_list has 3 tensors",
           lambda: dist.all_gather(outs, t))
    # one rank passes a non-tensor
    arg = [1.0, 2.0, 3.0] if rank == 1 else t
    expect("args-non-tensor", TypeError, "rank 1: expected a Tensor",
           lambda: dist.all_reduce(arg))
    # one rank names a source that is not a rank
    expect("args-broadcast-src", ValueError, "rank 1: src=5 is not a rank",
           lambda: dist.broadcast(t, src=5 if rank == 1 else 0))
    # the same errors on every rank (rank-independent)
    expect("args-broadcast-src-all", ValueError, "src=5",
           lambda: dist.broadcast(t, src=5))
    expect("args-all_gather-length-all", ValueError, "tensor_list has 1 tensors",
           lambda: dist.all_gather([xp.zeros(3)], t))
    expect("args-reduce_scatter-length", ValueError, "input_list has",
           lambda: dist.reduce_scatter(xp.zeros(2), [xp.zeros(2)] * (world + rank)))
    expect("args-all_gather-shape", ValueError, "tensor_list[0] has shape (4,)",
           lambda: dist.all_gather([xp.zeros(4 if rank == 0 else 3) for _ in range(world)], t))
    # MEAN of integers: all_reduce and reduce_scatter alike
    i = xp.arange(4)
    expect("args-all_reduce-mean-int", TypeError,
           "all_reduce: MEAN needs a floating-point tensor, got int64 (on every rank)",
           lambda: dist.all_reduce(i, dist.ReduceOp.MEAN))
    expect("args-reduce_scatter-mean-int", TypeError,
           "reduce_scatter: MEAN needs a floating-point tensor, got int64 (on every rank)",
           lambda: dist.reduce_scatter(xp.zeros(2, dtype=xp.int64),
                                       [xp.arange(2) for _ in range(world)], dist.ReduceOp.MEAN))
    expect("args-bad-op", ValueError, "op must be a ReduceOp",
           lambda: dist.all_reduce(t, "product" if rank == 1 else "sum"))
    expect("args-shape-mismatch", ValueError, "differ across ranks",
           lambda: dist.all_reduce(xp.zeros(2 + rank)))
    expect("args-bad-timeout", ValueError, "timeout must be positive",
           lambda: dist.barrier(timeout=-1 if rank == 0 else None))
    # the group still works afterwards, with and without a timeout
    out = xp.zeros(2)
    dist.reduce_scatter(out, [xp.full((2,), float(r + rank)) for r in range(world)],
                        dist.ReduceOp.MEAN, timeout=30)
    assert out.tolist() == [rank + (world - 1) / 2] * 2, out
    g = [xp.zeros(3) for _ in range(world)]
    dist.all_gather(g, xp.full((3,), float(rank)), timeout=30)
    assert [x.tolist() for x in g] == [[float(r)] * 3 for r in range(world)]
    b = xp.full((2,), float(rank))
    dist.broadcast(b, src=world - 1, timeout=30)
    assert b.tolist() == [world - 1.0] * 2
    dist.barrier(timeout=30)
    m = xp.full((2,), float(rank))
    dist.all_reduce(m, dist.ReduceOp.MAX, timeout=datetime.timedelta(seconds=30))
    assert m.tolist() == [world - 1.0] * 2
    comm = dist._comm("test")   # the agreement's exchange, past its one-message size
    for obj in ("x" * (1000 * rank), ["y"] * (300 * (1 - rank))):
        expected = comm.allgather(obj)
        assert dist._allgather_obj("test", comm, obj, None, None) == expected
        assert dist._allgather_obj("test", comm, obj, 30, time.monotonic() + 30) == expected
    ok("args-group-still-works")


# -- DDP --------------------------------------------------------------------------------------
def same_on_all_ranks(tensors):
    flat = xp.concat([xp.reshape(t.detach(), (-1,)) for t in tensors])
    gathered = [xp.zeros_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, flat)
    return all(bool(xp.all(g == gathered[0])) for g in gathered[1:])


def mlp(seed, sizes):
    xp.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.Tanh()]
    return nn.Sequential(*layers[:-1]).to(xp.float64)


def rank_data(step, rank, shape):
    rng = np.random.default_rng(1000 * step + rank)
    return xp.asarray(rng.standard_normal(shape))


def max_diff(ps, qs):
    return max(float(xp.max(xp.abs(p.detach() - q.detach()))) for p, q in zip(ps, qs))


def check_gan():
    """Two DDP models, d_loss.backward() then g_loss.backward(), 20 steps: replicas stay
    bit-identical and equal one process training on the whole batch."""
    rank, world = dist.get_rank(), dist.get_world_size()
    G, D = DDP(mlp(1, [3, 8, 4])), DDP(mlp(2, [4, 8, 1]))
    Gr, Dr = mlp(1, [3, 8, 4]), mlp(2, [4, 8, 1])
    opts = [optim.Adam(m.parameters(), lr=1e-2) for m in (G, D, Gr, Dr)]
    bce = F.binary_cross_entropy_with_logits

    def step(G, D, optG, optD, z, real):
        fake = G(z)
        d_real, d_fake = D(real), D(fake.detach())
        d_loss = bce(d_real, xp.ones_like(d_real)) + bce(d_fake, xp.zeros_like(d_fake))
        optD.zero_grad()
        d_loss.backward()
        optD.step()
        d_gen = D(fake)
        g_loss = bce(d_gen, xp.ones_like(d_gen))
        optG.zero_grad()
        g_loss.backward()
        optG.step()

    for s in range(20):
        z, real = rank_data(s, 10 + rank, (5, 3)), rank_data(s, 20 + rank, (5, 4))
        step(G, D, opts[0], opts[1], z, real)
        zs = xp.concat([rank_data(s, 10 + r, (5, 3)) for r in range(world)])
        reals = xp.concat([rank_data(s, 20 + r, (5, 4)) for r in range(world)])
        step(Gr, Dr, opts[2], opts[3], zs, reals)
    assert same_on_all_ranks(list(G.parameters()) + list(D.parameters())), "replicas drifted"
    err = max_diff(list(G.parameters()) + list(D.parameters()),
                   list(Gr.parameters()) + list(Dr.parameters()))
    assert err < 1e-9, f"DDP GAN differs from whole-batch training by {err}"
    ok("ddp-gan")


def check_no_sync_accumulation():
    """3 micro-batches under no_sync() then one synced: the sum of all four, averaged."""
    rank, world = dist.get_rank(), dist.get_world_size()
    model, ref = DDP(mlp(3, [4, 6, 2])), mlp(3, [4, 6, 2])
    opt, opt_ref = optim.SGD(model.parameters(), lr=0.1), optim.SGD(ref.parameters(), lr=0.1)
    for s in range(5):
        opt.zero_grad()
        opt_ref.zero_grad()
        for k in range(4):
            x = rank_data(10 * s + k, rank, (3, 4))
            ctx = model.no_sync() if k < 3 else _nullcontext()
            with ctx:
                model(x).pow(2).mean().backward()
            if k < 3:   # no communication: the local gradient only
                assert not same_on_all_ranks([p.grad for p in model.parameters()])
            xs = xp.concat([rank_data(10 * s + k, r, (3, 4)) for r in range(world)])
            (ref(xs).pow(2).mean() / 1).backward()
        opt.step()
        opt_ref.step()
    assert same_on_all_ranks(list(model.parameters())), "replicas drifted"
    err = max_diff(model.parameters(), ref.parameters())
    assert err < 1e-12, err
    ok("ddp-no_sync")


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def check_unrelated_backward():
    """A DDP forward, then a backward of something else on rank 0 only, then the loss's
    backward: no rank enters a collective alone, and the loss's gradients are averaged."""
    rank, world = dist.get_rank(), dist.get_world_size()
    model, ref = DDP(mlp(4, [4, 5, 1])), mlp(4, [4, 5, 1])
    out = model(rank_data(0, rank, (6, 4)))
    if rank == 0:
        w = xp.ones(3, requires_grad=True)
        (w * 2).sum().backward()          # unrelated to the DDP model
        assert w.grad.tolist() == [2.0, 2.0, 2.0]
    out.mean().backward()
    xs = xp.concat([rank_data(0, r, (6, 4)) for r in range(world)])
    ref(xs).mean().backward()
    err = max_diff([p.grad for p in model.parameters()], [p.grad for p in ref.parameters()])
    assert err < 1e-12, err
    ok("ddp-unrelated-backward")


def check_unused_parameters():
    """A parameter unused on one rank contributes zeros there; one unused everywhere keeps
    grad None; nobody hangs."""
    rank = dist.get_rank()

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Linear(2, 1), nn.Linear(2, 1), nn.Linear(2, 1)

        def forward(self, x, use_b):
            return self.a(x) + (self.b(x) if use_b else 0.0)

    xp.manual_seed(5)
    model = DDP(Two().to(xp.float64))
    x = xp.ones((1, 2), dtype=xp.float64)
    model(x, use_b=(rank == 0)).sum().backward()
    assert model.module.c.weight.grad is None and model.module.c.bias.grad is None
    assert model.module.b.weight.grad.tolist() == [[0.5, 0.5]], model.module.b.weight.grad
    assert model.module.a.weight.grad.tolist() == [[1.0, 1.0]]
    ok("ddp-unused-parameters")


def check_retained_double_backward():
    """Two backwards through one forward (retain_graph): both are averaged."""
    rank, world = dist.get_rank(), dist.get_world_size()
    model, ref = DDP(mlp(6, [4, 3, 1])), mlp(6, [4, 3, 1])
    out = model(rank_data(1, rank, (2, 4)))
    out.sum().backward(retain_graph=True)
    out.pow(2).sum().backward()
    r_out = ref(xp.concat([rank_data(1, r, (2, 4)) for r in range(world)]))
    (r_out.sum() / world).backward(retain_graph=True)
    (r_out.pow(2).sum() / world).backward()
    err = max_diff([p.grad for p in model.parameters()], [p.grad for p in ref.parameters()])
    assert err < 1e-12, err
    ok("ddp-double-backward")


def check_small_buckets():
    """Many buckets (bucket_cap_mb tiny): the same averages as one bucket."""
    rank = dist.get_rank()
    a, b = DDP(mlp(7, [4, 16, 16, 2]), bucket_cap_mb=1e-4), DDP(mlp(7, [4, 16, 16, 2]))
    x = rank_data(2, rank, (3, 4))
    a(x).sum().backward()
    b(x).sum().backward()
    assert max_diff([p.grad for p in a.parameters()], [p.grad for p in b.parameters()]) == 0
    assert same_on_all_ranks([p.grad for p in a.parameters()])
    ok("ddp-buckets")


def check_device():
    """Parameters on another device: gradients averaged there (staged through the host)."""
    rank, world = dist.get_rank(), dist.get_world_size()
    dev = "strict:device1"
    model, ref = DDP(mlp(8, [3, 4, 2]).to(dev)), mlp(8, [3, 4, 2])
    model(rank_data(3, rank, (4, 3)).to_device(dev)).sum().backward()
    (ref(xp.concat([rank_data(3, r, (4, 3)) for r in range(world)])).sum() / world).backward()
    assert all(str(p.grad.device) == dev for p in model.parameters())
    err = max_diff([p.grad.to_device("cpu") for p in model.parameters()],
                   [p.grad for p in ref.parameters()])
    assert err < 1e-12, err
    ok("ddp-device")


def mode_ddp():
    check_gan()
    check_no_sync_accumulation()
    check_unrelated_backward()
    check_unused_parameters()
    check_retained_double_backward()
    check_small_buckets()
    check_device()
    dist.barrier(timeout=60)
    sys.exit(0)   # a zero status on every rank ends the job normally


if __name__ == "__main__":
    dist.init_process_group()
    {"raise": mode_raise, "exit": mode_exit, "timeout": mode_timeout, "args": mode_args,
     "ddp": mode_ddp}[sys.argv[1]]()
