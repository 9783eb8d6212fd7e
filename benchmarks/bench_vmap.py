"""vmap and the transforms on top of it, against torch.func, in one run.

1. The 100x100 Jacobian of an element-wise-heavy function: ``jacrev`` and ``jacfwd``
   (target: within 1.5x of torch.func's).
2. Per-sample gradients of a 64-128-10 MLP (cross-entropy) on a batch of 64:
   ``vmap(grad(loss))`` over ``functional_call`` (target: at least as fast as torch.func).
3. A small function (a row-wise softmax-weighted sum) vmapped over 256 rows against the
   same function written batched by hand (target: vmap within 1.5x of hand-batched), and
   ``tanh(a @ w) * 2 + sum(a)`` over 64 rows of 32 (five tiny ops: the per-op cost).

    OMP_NUM_THREADS=1 python benchmarks/bench_vmap.py [--rounds 7]

Each row's libraries are timed in alternating short chunks (about 4 ms) and keep their
best chunk, which is stable on a loaded host; the load average is printed with the
figures.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import arraylib as xp  # noqa: E402
import arraylib.func as func  # noqa: E402
import arraylib.nn as nn  # noqa: E402
import arraylib.nn.functional as NF  # noqa: E402


# -- 1. the Jacobian ---------------------------------------------------------------------
def f_al(x):
    return xp.tanh(xp.sin(x) * xp.exp(-x * x)) + xp.log1p(x * x) * xp.cos(x)


def f_pt(torch, x):
    return torch.tanh(torch.sin(x) * torch.exp(-x * x)) + torch.log1p(x * x) * torch.cos(x)


def jacobian_cases(torch):
    xv = np.random.default_rng(0).standard_normal(100)
    x = xp.asarray(xv, dtype=xp.float64)
    cases = {}
    for mode, ours in (("reverse", func.jacrev), ("forward", func.jacfwd)):
        fns = {"arraylib": lambda ours=ours: ours(f_al)(x)}
        if torch is not None:
            tx = torch.tensor(xv)
            theirs = torch.func.jacrev if mode == "reverse" else torch.func.jacfwd
            fns["torch.func"] = lambda theirs=theirs: theirs(lambda a: f_pt(torch, a))(tx)
            ref = theirs(lambda a: f_pt(torch, a))(tx).numpy()
            assert np.allclose(ours(f_al)(x).numpy(), ref, rtol=1e-10, atol=1e-12)
        cases[f"100x100 Jacobian, {mode}"] = fns
    return cases


# -- 2. per-sample gradients -----------------------------------------------------------
def per_sample_cases(torch):
    rng = np.random.default_rng(0)
    xv = rng.random((64, 64), dtype=np.float32)
    yv = rng.integers(0, 10, 64)
    xp.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    params = {k: v.detach() for k, v in model.named_parameters()}
    X, Y = xp.asarray(xv), xp.asarray(yv)

    def loss(p, x, y):
        out = func.functional_call(model, p, (xp.expand_dims(x, axis=0),))
        return NF.cross_entropy(out, xp.expand_dims(y, axis=0))
    ours = func.vmap(func.grad(loss), in_dims=(None, 0, 0))
    fns = {"arraylib": lambda: ours(params, X, Y)}
    if torch is not None:
        tmodel = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                     torch.nn.Linear(128, 10))
        tparams = {k: torch.tensor(v.numpy()) for k, v in params.items()}
        tX, tY = torch.tensor(xv), torch.tensor(yv)

        def tloss(p, x, y):
            out = torch.func.functional_call(tmodel, p, (x.unsqueeze(0),))
            return torch.nn.functional.cross_entropy(out, y.unsqueeze(0))
        theirs = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))
        fns["torch.func"] = lambda: theirs(tparams, tX, tY)
        a, b = ours(params, X, Y), theirs(tparams, tX, tY)
        for k in a:
            assert np.allclose(a[k].numpy(), b[k].numpy(), rtol=1e-4, atol=1e-6), k
    return {"per-sample grads, MLP, batch 64": fns}


# -- 3. vmapped vs hand-batched --------------------------------------------------------
def small_al(x, w):
    """One row: softmax(x * w) . x"""
    z = x * w
    e = xp.exp(z - xp.max(z))
    return xp.sum(e * x) / xp.sum(e)


def small_al_batched(X, w):
    Z = X * w
    E = xp.exp(Z - xp.max(Z, axis=-1, keepdims=True))
    return xp.sum(E * X, axis=-1) / xp.sum(E, axis=-1)


def vmapped_cases(torch):
    rng = np.random.default_rng(1)
    Xv, wv = rng.standard_normal((256, 32)), rng.standard_normal(32)
    X, w = xp.asarray(Xv), xp.asarray(wv)
    vm = func.vmap(small_al, in_dims=(0, None))
    assert np.allclose(vm(X, w).numpy(), small_al_batched(X, w).numpy(), rtol=1e-12)
    fns = {"arraylib": lambda: vm(X, w), "hand-batched": lambda: small_al_batched(X, w)}
    if torch is not None:
        tX, tw = torch.tensor(Xv), torch.tensor(wv)

        def small_pt(x, w):
            z = x * w
            e = torch.exp(z - z.max())
            return (e * x).sum() / e.sum()
        tvm = torch.func.vmap(small_pt, in_dims=(0, None))
        fns["torch.func"] = lambda: tvm(tX, tw)
    cases = {"vmap(small fn), 256 rows": fns}
    cases.update(per_op_cases(torch))
    return cases


def tiny_al(a, w):
    """One row: tanh(a @ w) * 2 + sum(a) (five small ops: vmap's per-op cost)."""
    return xp.tanh(a @ w) * 2 + xp.sum(a)


def tiny_al_batched(A, w):
    return xp.tanh(A @ w) * 2 + xp.sum(A, axis=-1, keepdims=True)


def per_op_cases(torch):
    rng = np.random.default_rng(2)
    Av, wv = rng.standard_normal((64, 32)), rng.standard_normal((32, 16))
    A, w = xp.asarray(Av), xp.asarray(wv)
    vm = func.vmap(tiny_al, in_dims=(0, None))
    assert np.allclose(vm(A, w).numpy(), tiny_al_batched(A, w).numpy(), rtol=1e-12)
    fns = {"arraylib": lambda: vm(A, w), "hand-batched": lambda: tiny_al_batched(A, w)}
    if torch is not None:
        tA, tw = torch.tensor(Av), torch.tensor(wv)
        tvm = torch.func.vmap(lambda a, w: torch.tanh(a @ w) * 2 + a.sum(), in_dims=(0, None))
        fns["torch.func"] = lambda: tvm(tA, tw)
    return {"vmap(tanh(a@w)*2+sum(a)), 64x32": fns}


def best_times(fns, rounds, budget=0.2, chunk=0.004):
    """Best per-call seconds of each function: short timed chunks (about ``chunk`` s),
    the libraries alternating, ``rounds`` x ``budget`` s in all; the best chunk of each is
    kept (on a loaded host the minimum of many short chunks is the stable figure)."""
    numbers = {}
    for name, fn in fns.items():
        fn()
        t0 = time.perf_counter()
        fn()
        numbers[name] = max(1, int(chunk / max(time.perf_counter() - t0, 1e-7)))
    best = {name: float("inf") for name in fns}
    per_round = max(1, int(budget / (chunk * len(fns))))
    for _ in range(rounds * per_round):
        for name, fn in fns.items():
            n = numbers[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / n)
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--only", choices=("jacobian", "per-sample", "vmapped"), default=None)
    args = p.parse_args(argv)
    try:
        import torch
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ImportError:
        torch = None
        print("PyTorch is not installed: arraylib's figures only")
    sections = {"jacobian": jacobian_cases, "per-sample": per_sample_cases,
                "vmapped": vmapped_cases}
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    results = {}
    for key, make in sections.items():
        if args.only not in (None, key):
            continue
        for row, fns in make(torch).items():
            t = best_times(fns, args.rounds)
            results[row] = t
            ours = t["arraylib"]
            parts = "  ".join(f"{lib} {s * 1e3:8.3f} ms" for lib, s in t.items())
            ratios = "  ".join(f"arraylib/{lib} {ours / s:5.2f}x" for lib, s in t.items()
                               if lib != "arraylib")
            print(f"{row:<34} {parts}   {ratios}")
    print(f"load average {os.getloadavg()[0]:.2f} after the run")
    return results


if __name__ == "__main__":
    main()
