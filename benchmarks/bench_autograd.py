"""Seed example per iteration: y = log(x1) + x1*x2 - sin(x2); backward; reset grads.

Prints time per iteration for arraylib and PyTorch (CPU) measured in the same run,
and the ratio (budget: arraylib <= 0.5x PyTorch's time)."""
import time

import arraylib as xp


def bench(step, n=20000, repeat=5):
    for _ in range(1000):
        step()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def arraylib_step_factory():
    x1 = xp.asarray(2.0, dtype=xp.float32, requires_grad=True)
    x2 = xp.asarray(5.0, dtype=xp.float32, requires_grad=True)

    def step():
        y = xp.log(x1) + x1 * x2 - xp.sin(x2)
        y.backward()
        x1.grad = None
        x2.grad = None
    return step


def torch_step_factory(torch):
    x1 = torch.tensor(2.0, requires_grad=True)
    x2 = torch.tensor(5.0, requires_grad=True)

    def step():
        y = torch.log(x1) + x1 * x2 - torch.sin(x2)
        y.backward()
        x1.grad = None
        x2.grad = None
    return step


def main():
    t_al = bench(arraylib_step_factory())
    print(f"arraylib: {t_al * 1e6:8.2f} us/iteration")
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        print("PyTorch not installed: no ratio")
        return
    t_pt = bench(torch_step_factory(torch))
    print(f"PyTorch : {t_pt * 1e6:8.2f} us/iteration")
    print(f"ratio arraylib/PyTorch = {t_al / t_pt:.2f} (budget <= 0.5)")


if __name__ == "__main__":
    main()
