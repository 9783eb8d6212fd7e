"""Per-operation overhead on small tensors: arraylib vs NumPy vs PyTorch (CPU).

Run: python benchmarks/bench_elementwise.py
Budget (issue 2): arraylib faster than PyTorch on both rows, within 2.5x of NumPy.
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import arraylib as xp  # noqa: E402
from _timing import interleaved_us, report  # noqa: E402


def chain(m, a, b):
    """A 5-operation element-wise chain."""
    return m.exp(a * b + a) - m.sin(b) / (a + 2.0)


def main():
    rng = np.random.default_rng(0)
    an = rng.random(100, dtype=np.float32) + 0.5
    bn = rng.random(100, dtype=np.float32) + 0.5
    ax, bx = xp.asarray(an), xp.asarray(bn)
    add = {"arraylib": lambda: ax + bx, "numpy": lambda: an + bn}
    five = {"arraylib": lambda: chain(xp, ax, bx), "numpy": lambda: chain(np, an, bn)}
    try:
        import torch
        torch.set_num_threads(1)
        at, bt = torch.from_numpy(an), torch.from_numpy(bn)
        add["torch"] = lambda: at + bt
        five["torch"] = lambda: chain(torch, at, bt)
    except ImportError:
        print("(PyTorch not installed: no torch column)")
    rows = {"a + b (100 float32)": interleaved_us(add),
            "5-op chain (100 float32)": interleaved_us(five, number=5000)}
    report("Per-call time, best of 9 interleaved rounds (lower is better)", rows)


if __name__ == "__main__":
    main()
