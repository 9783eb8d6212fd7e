"""Fit a parameter *through* SciPy: recover the width of a Gaussian blur by gradient descent.

A signal was blurred by an unknown Gaussian kernel (``scipy.signal.fftconvolve``) and noise
was added.  We model the blur with the same SciPy call on arraylib tensors (SciPy's
array-API path, ``SCIPY_ARRAY_API=1``), so ``loss.backward()`` differentiates through
SciPy's own code down to the kernel's width ``sigma``.  Adam then fits ``log(sigma)``.

    python examples/differentiable_scipy.py [--steps 150] [--device cpu]
"""
import argparse
import math
import os
import sys

os.environ.setdefault("SCIPY_ARRAY_API", "1")  # before anything imports scipy
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import arraylib as xp  # noqa: E402
from arraylib import optim  # noqa: E402


def gaussian_kernel(sigma, half_width=12):
    """A normalised Gaussian of width ``sigma`` (a tensor) on -half_width..half_width."""
    t = xp.arange(-half_width, half_width + 1, dtype=sigma.dtype, device=sigma.device)
    k = xp.exp(-(t * t) / (2 * sigma * sigma))
    return k / xp.sum(k)


def blur(signal, sigma):
    from scipy.signal import fftconvolve  # SciPy is optional for arraylib itself
    return fftconvolve(signal, gaussian_kernel(sigma), mode="same")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--true-sigma", type=float, default=3.0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    dev, f64 = xp.Device(args.device), xp.float64

    xp.manual_seed(args.seed)
    n = 256
    steps = xp.astype(xp.rand(n, device=dev) < 0.05, f64)  # sparse spikes
    clean = xp.cumulative_sum(steps - xp.mean(steps))              # a piecewise-flat signal
    observed = blur(clean, xp.asarray(args.true_sigma, dtype=f64, device=dev))
    observed = observed + 0.01 * xp.astype(xp.randn(n, device=dev), f64)

    log_sigma = xp.asarray(math.log(1.0), dtype=f64, device=dev, requires_grad=True)
    opt = optim.Adam([log_sigma], lr=args.lr)
    for step in range(args.steps + 1):
        opt.zero_grad()
        residual = blur(clean, xp.exp(log_sigma)) - observed
        loss = xp.mean(residual * residual)
        loss.backward()
        if step % max(1, args.steps // 10) == 0 or step == args.steps:
            print(f"step {step:4d}  loss {float(loss):.3e}  sigma {math.exp(float(log_sigma)):.4f}"
                  f"  dloss/dlog_sigma {float(log_sigma.grad):+.3e}")
        if step < args.steps:
            opt.step()
    sigma = math.exp(float(log_sigma))
    print(f"fitted sigma = {sigma:.4f}, true sigma = {args.true_sigma:.4f} "
          f"(relative error {abs(sigma - args.true_sigma) / args.true_sigma:.2%})")
    return sigma


if __name__ == "__main__":
    main()
