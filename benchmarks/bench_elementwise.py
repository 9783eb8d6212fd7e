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
from _timing import per_call_us, report  # noqa: E402


def chain(m, a, b):
    """A 5-operation element-wise chain."""
    return m.exp(a * b + a) - m.sin(b) / (a + 2.0)


def main():
    rng = np.random.default_rng(0)
    an = rng.random(100, dtype=np.float32) + 0.5
    bn = rng.random(100, dtype=np.float32) + 0.5
    ax, bx = xp.asarray(an), xp.asarray(bn)
    rows = {"a + b (100 float32)": {}, "5-op chain (100 float32)": {}}
    rows["a + b (100 float32)"]["arraylib"] = per_call_us(lambda: ax + bx)
    rows["a + b (100 float32)"]["numpy"] = per_call_us(lambda: an + bn)
    rows["5-op chain (100 float32)"]["arraylib"] = per_call_us(lambda: chain(xp, ax, bx), 5000)
    rows["5-op chain (100 float32)"]["numpy"] = per_call_us(lambda: chain(np, an, bn), 5000)
    try:
        import torch
        torch.set_num_threads(1)
        at, bt = torch.from_numpy(an), torch.from_numpy(bn)
        rows["a + b (100 float32)"]["torch"] = per_call_us(lambda: at + bt)
        rows["5-op chain (100 float32)"]["torch"] = per_call_us(lambda: chain(torch, at, bt), 5000)
    except ImportError:
        print("(PyTorch not installed: no torch column)")
    report("Per-call time, best of 7 (lower is better)", rows)


if __name__ == "__main__":
    main()
