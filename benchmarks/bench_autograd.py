"""Seed example per iteration: y = log(x1) + x1*x2 - sin(x2); backward; reset grads.

Prints time per iteration for arraylib and PyTorch (CPU), timed in alternating rounds
in the same run (best round each), and the ratio (budget: arraylib <= 0.5x PyTorch's time)."""
import arraylib as xp
from _timing import interleaved_us


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
    steps = {"arraylib": arraylib_step_factory()}
    try:
        import torch
        torch.set_num_threads(1)
        steps["PyTorch"] = torch_step_factory(torch)
    except ImportError:
        print("PyTorch not installed: no ratio")
    best = interleaved_us(steps, number=5000, rounds=9)
    for name, t in best.items():
        print(f"{name:<8}: {t:8.2f} us/iteration")
    if "PyTorch" in best:
        print(f"ratio arraylib/PyTorch = {best['arraylib'] / best['PyTorch']:.2f} (budget <= 0.5)")


if __name__ == "__main__":
    main()
