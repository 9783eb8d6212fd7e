"""MLP training steps per second on digits: arraylib vs PyTorch vs a hand-written
NumPy loop, measured in one run.

Model 64-128-10 (ReLU), batch 64, cross-entropy, SGD(lr=0.05, momentum=0.9); one
step = forward, backward, optimizer step.  Budget: arraylib >= 1.5x PyTorch.

    python benchmarks/bench_mlp.py [--steps 600] [--repeat 3] [--threads 1]

The three libraries are timed in alternating rounds; each keeps its best round.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved_rates  # noqa: E402

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


def _cycling(step, n_batches):
    """A zero-argument step that walks through the batches."""
    counter = [0]

    def run():
        i = counter[0]
        counter[0] = (i + 1) % n_batches
        return step(i)
    return run


def make_arraylib(X, y, device="cpu"):
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
    return _cycling(step, len(Xb)), lambda: float(step(0).detach())


def make_torch(X, y):
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
    return _cycling(step, len(Xb)), lambda: float(step(0).detach())


def make_numpy(X, y):
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

    def final_loss():
        step(0)
        return last[0]
    return _cycling(step, len(Xb)), final_loss


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
    print(f"MLP 64-128-10, batch {BATCH}, SGD momentum; best of {args.repeat} alternating rounds "
          f"of {args.steps} steps; threads: {args.threads or 'library defaults'}")
    makers = {"numpy (hand-written)": lambda: make_numpy(X, y), "pytorch": lambda: make_torch(X, y),
              f"arraylib ({args.device})": lambda: make_arraylib(X, y, args.device)}
    steps, losses = {}, {}
    for name, make in makers.items():
        try:
            steps[name], losses[name] = make()
        except ImportError as e:
            print(f"{name:24s} skipped ({e})")
    results = interleaved_rates(steps, args.steps, rounds=args.repeat, warmup=20)
    for name, rate in results.items():
        print(f"{name:24s} {rate:9.1f} steps/s   ({1e6 / rate:7.1f} us/step, "
              f"loss {losses[name]():.4f})")
    al_rate = results.get(f"arraylib ({args.device})")
    if al_rate and "pytorch" in results:
        r = al_rate / results["pytorch"]
        print(f"arraylib / pytorch = {r:.2f}x   (budget >= 1.5x: {'met' if r >= 1.5 else 'NOT met'})")
    if al_rate and "numpy (hand-written)" in results:
        print(f"arraylib / numpy   = {al_rate / results['numpy (hand-written)']:.2f}x")
    return results


if __name__ == "__main__":
    main()
