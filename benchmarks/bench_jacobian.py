"""100x100 Jacobian of an element-wise-heavy function, forward and reverse mode,
arraylib (arraylib.func.jacobian) vs torch.func (jacfwd / jacrev), with ratios."""
import time

import numpy as np

import arraylib as xp


def f_al(x):
    return xp.tanh(xp.sin(x) * xp.exp(-x * x)) + xp.log1p(x * x) * xp.cos(x)


def f_pt(torch, x):
    return torch.tanh(torch.sin(x) * torch.exp(-x * x)) + torch.log1p(x * x) * torch.cos(x)


def timeit(fn, repeat=3):
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    xv = np.random.default_rng(0).standard_normal(100)
    x = xp.asarray(xv, dtype=xp.float64)
    res = {}
    for mode in ("reverse", "forward"):
        res[("arraylib", mode)] = timeit(lambda: xp.func.jacobian(f_al, x, mode=mode))
    J = xp.func.jacobian(f_al, x, mode="forward")
    try:
        import torch
        from torch import func as tf
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    if torch is not None:
        tx = torch.tensor(xv)
        res[("torch.func", "reverse")] = timeit(lambda: tf.jacrev(lambda a: f_pt(torch, a))(tx))
        res[("torch.func", "forward")] = timeit(lambda: tf.jacfwd(lambda a: f_pt(torch, a))(tx))
        Jt = tf.jacrev(lambda a: f_pt(torch, a))(tx).numpy()
        assert np.allclose(J.numpy(), Jt, rtol=1e-10, atol=1e-12)
    for mode in ("reverse", "forward"):
        line = f"{mode:8s}: arraylib {res[('arraylib', mode)] * 1e3:8.2f} ms"
        if torch is not None:
            t = res[("torch.func", mode)]
            line += f"   torch.func {t * 1e3:8.2f} ms   ratio {res[('arraylib', mode)] / t:6.2f}"
        print(line)


if __name__ == "__main__":
    main()
