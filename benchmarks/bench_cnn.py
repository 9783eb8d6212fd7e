"""Training steps per second of the seed lecture's CIFAR-style ``Net``: arraylib vs PyTorch.

Batch 64 of 3x32x32, CrossEntropyLoss, SGD(lr=0.001, momentum=0.9); both libraries
run in the same process on the CPU, with the same thread settings, timed in alternating
rounds (each keeps its best).
Usage: python benchmarks/bench_cnn.py [--steps N] [--device cpu] [--threads T]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved_rates  # noqa: E402


def make_net(nn, F):
    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            # Convolution output is 16 5x5 feature maps
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = x.view(-1, 16 * 5 * 5)
            x = F.relu(self.fc1(x))
            x = self.fc2(x)
            return x

    return Net()


def make_step(nn, F, optim, x, y):
    """One training step of the seed's ``Net`` (fresh weights, on ``x``'s device), as a
    zero-argument call."""
    net = make_net(nn, F).to(x.device)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)

    def step():
        optimizer.zero_grad()
        outputs = net(x)
        loss = criterion(outputs, y)
        loss.backward()
        optimizer.step()
        return float(loss.detach())
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10, help="steps per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (best kept)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0,
                    help="BLAS/intra-op threads for both libraries (0: library defaults)")
    args = ap.parse_args()
    import torch
    if args.threads:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((64, 3, 32, 32)).astype(np.float32)
    yn = rng.integers(0, 10, 64)

    import arraylib as xp
    import arraylib.nn as nn
    import arraylib.nn.functional as F
    import arraylib.optim as optim
    x = xp.asarray(xn, device=args.device)
    y = xp.asarray(yn, device=args.device)
    tx, ty = torch.from_numpy(xn), torch.from_numpy(yn)
    rates = interleaved_rates({"arraylib": make_step(nn, F, optim, x, y),
                               "pytorch": make_step(torch.nn, torch.nn.functional, torch.optim,
                                                    tx, ty)}, args.steps, rounds=args.rounds)
    al, tl = rates["arraylib"], rates["pytorch"]
    print(f"seed Net training, batch 64x3x32x32, SGD momentum 0.9 ({args.device}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads)")
    print(f"  arraylib: {al:8.2f} steps/s")
    print(f"  pytorch : {tl:8.2f} steps/s")
    print(f"  ratio arraylib/pytorch: {al / tl:.2f}  (budget >= 1.0)")


if __name__ == "__main__":
    main()
