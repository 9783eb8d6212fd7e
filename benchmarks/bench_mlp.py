"""MLP training steps per second on digits: arraylib vs PyTorch vs a hand-written
NumPy loop, measured in one run.

Model 64-128-10 (ReLU), batch 64, cross-entropy, SGD(lr=0.05, momentum=0.9); one
step = forward, backward, optimizer step.  Budget: arraylib >= 1.5x PyTorch.

    python benchmarks/bench_mlp.py [--steps 600] [--repeat 3]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

BATCH = 64


def data():
    d = load_digits()
    X = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    n = (len(X) // BATCH) * BATCH
    return X[:n], y[:n]


def init_weights(seed=0):
    rng = np.random.default_rng(seed)
    b1, b2 = 1 / np.sqrt(64), 1 / np.sqrt(128)
    return [rng.uniform(-b1, b1, (128, 64)).astype(np.float32),
            rng.uniform(-b1, b1, 128).astype(np.float32),
            rng.uniform(-b2, b2, (10, 128)).astype(np.float32),
            rng.uniform(-b2, b2, 10).astype(np.float32)]


def _time(step, n_batches, steps, repeat):
    for i in range(20):  # warm-up
        step(i % n_batches)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for i in range(steps):
            step(i % n_batches)
        best = min(best, time.perf_counter() - t)
    return steps / best


def bench_arraylib(X, y, steps, repeat, device="cpu"):
    import arraylib as al
    import arraylib.nn as nn
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).to(device)
    with al.no_grad():
        for p, w in zip(model.parameters(), init_weights()):
            p.copy_(al.asarray(w, device=device))
    opt = al.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    Xb = [al.asarray(X[i:i + BATCH], device=device) for i in range(0, len(X), BATCH)]
    yb = [al.asarray(y[i:i + BATCH], device=device) for i in range(0, len(y), BATCH)]

    def step(i):
        opt.zero_grad()
        loss = loss_fn(model(Xb[i]), yb[i])
        loss.backward()
        opt.step()
        return loss
    return _time(step, len(Xb), steps, repeat), float(step(0).detach())


def bench_torch(X, y, steps, repeat):
    import torch
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    with torch.no_grad():
        for p, w in zip(model.parameters(), init_weights()):
            p.copy_(torch.from_numpy(w))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xb = [torch.from_numpy(X[i:i + BATCH]) for i in range(0, len(X), BATCH)]
    yb = [torch.from_numpy(y[i:i + BATCH]) for i in range(0, len(y), BATCH)]

    def step(i):
        opt.zero_grad()
        loss = loss_fn(model(Xb[i]), yb[i])
        loss.backward()
        opt.step()
        return loss
    return _time(step, len(Xb), steps, repeat), float(step(0).detach())


def bench_numpy(X, y, steps, repeat):
    W1, b1, W2, b2 = init_weights()
    params = [W1, b1, W2, b2]
    bufs = [None] * 4
    Xb = [X[i:i + BATCH] for i in range(0, len(X), BATCH)]
    yb = [y[i:i + BATCH] for i in range(0, len(y), BATCH)]
    rows = np.arange(BATCH)
    lr, mom = np.float32(0.05), np.float32(0.9)
    last = [0.0]

    def step(i):
        x, t = Xb[i], yb[i]
        W1, b1, W2, b2 = params
        h_pre = x @ W1.T + b1
        h = np.maximum(h_pre, 0)
        z = h @ W2.T + b2
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        last[0] = float(np.mean(np.log(s[:, 0]) - z[rows, t]))
        dz = e / s
        dz[rows, t] -= 1
        dz /= BATCH
        gW2 = dz.T @ h
        gb2 = dz.sum(axis=0)
        dh = dz @ W2
        dh[h_pre <= 0] = 0
        gW1 = dh.T @ x
        gb1 = dh.sum(axis=0)
        for k, g in enumerate((gW1, gb1, gW2, gb2)):
            bufs[k] = g.copy() if bufs[k] is None else bufs[k] * mom + g
            params[k] -= lr * bufs[k]
    return _time(step, len(Xb), steps, repeat), last[0]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--device", default="cpu", help="arraylib device (cpu, cuda)")
    p.add_argument("--threads", type=int, default=0,
                   help="BLAS/intra-op threads for all three (0: library defaults)")
    args = p.parse_args(argv)
    if args.threads:
        import torch
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)  # numpy is imported above, so its BLAS is limited
        torch.set_num_threads(args.threads)
    X, y = data()
    print(f"MLP 64-128-10, batch {BATCH}, SGD momentum; best of {args.repeat} x {args.steps} "
          f"steps; threads: {args.threads or 'library defaults'}")
    results = {}
    for name, fn in (("numpy (hand-written)", lambda: bench_numpy(X, y, args.steps, args.repeat)),
                     ("pytorch", lambda: bench_torch(X, y, args.steps, args.repeat)),
                     (f"arraylib ({args.device})",
                      lambda: bench_arraylib(X, y, args.steps, args.repeat, args.device))):
        try:
            rate, loss = fn()
        except ImportError as e:
            print(f"{name:24s} skipped ({e})")
            continue
        results[name] = rate
        print(f"{name:24s} {rate:9.1f} steps/s   ({1e6 / rate:7.1f} us/step, loss {loss:.4f})")
    al_rate = results.get(f"arraylib ({args.device})")
    if al_rate and "pytorch" in results:
        r = al_rate / results["pytorch"]
        print(f"arraylib / pytorch = {r:.2f}x   (budget >= 1.5x: {'met' if r >= 1.5 else 'NOT met'})")
    if al_rate and "numpy (hand-written)" in results:
        print(f"arraylib / numpy   = {al_rate / results['numpy (hand-written)']:.2f}x")
    return results


if __name__ == "__main__":
    main()
