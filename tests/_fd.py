"""A small finite-difference checker for H1's tests (reverse and forward mode).

Independent of ``arraylib.autograd.gradcheck`` so these tests don't depend on its
state; float64 inputs, central differences, random cotangents/tangents.
"""
import numpy as np

import arraylib as xp
from conftest import to_numpy


def _outputs(out):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if o.dtype.kind in "fc"]


def _value(fn, hosts, device, us):
    args = [xp.asarray(h, device=device) for h in hosts]
    outs = _outputs(fn(*args))
    return sum(float(np.sum(to_numpy(o) * u)) for o, u in zip(outs, us))


def check_grads(fn, arrays, device, *, eps=1e-6, atol=1e-6, rtol=1e-4, forward=True, seed=0):
    """Compare reverse (and forward) derivatives of ``fn(*tensors)`` with finite differences.

    ``arrays``: NumPy float64 arrays (all are differentiated)."""
    rng = np.random.default_rng(seed)
    hosts = [np.asarray(a, dtype=np.float64) for a in arrays]
    xs = [xp.asarray(h, device=device, requires_grad=True) for h in hosts]
    outs = _outputs(fn(*xs))
    us = [rng.standard_normal(o.shape) for o in outs]
    # reverse mode
    if any(o._requires_grad for o in outs):
        pairs = [(o, xp.asarray(u, device=device)) for o, u in zip(outs, us) if o._requires_grad]
        grads = xp.autograd.grad([p[0] for p in pairs], xs, [p[1] for p in pairs],
                                 allow_unused=True)
    else:
        grads = [None] * len(xs)
    for i, (h, g) in enumerate(zip(hosts, grads)):
        num = np.zeros_like(h)
        flat = num.reshape(-1)
        for k in range(h.size):
            hp = [a.copy() for a in hosts]
            hm = [a.copy() for a in hosts]
            hp[i].reshape(-1)[k] += eps
            hm[i].reshape(-1)[k] -= eps
            flat[k] = (_value(fn, hp, device, us) - _value(fn, hm, device, us)) / (2 * eps)
        ana = np.zeros_like(h) if g is None else to_numpy(g)
        assert ana.shape == h.shape, f"input {i}: grad shape {ana.shape} != {h.shape}"
        np.testing.assert_allclose(ana, num, rtol=rtol, atol=atol,
                                   err_msg=f"reverse mode, input {i}")
    if not forward:
        return
    try:
        from arraylib.autograd import forward_ad as fwAD
    except ImportError:  # forward mode not there (yet): reverse mode only
        return
    vs = [rng.standard_normal(h.shape) for h in hosts]
    with fwAD.dual_level():
        duals = [fwAD.make_dual(xp.asarray(h, device=device), xp.asarray(v, device=device))
                 for h, v in zip(hosts, vs)]
        outs = _outputs(fn(*duals))
        tans = [fwAD.unpack_dual(o).tangent for o in outs]
    plus = _outputs(fn(*[xp.asarray(h + eps * v, device=device) for h, v in zip(hosts, vs)]))
    minus = _outputs(fn(*[xp.asarray(h - eps * v, device=device) for h, v in zip(hosts, vs)]))
    for j, (t, p, m) in enumerate(zip(tans, plus, minus)):
        num = (to_numpy(p) - to_numpy(m)) / (2 * eps)
        ana = np.zeros_like(num) if t is None else to_numpy(t)
        np.testing.assert_allclose(ana, num, rtol=rtol, atol=atol,
                                   err_msg=f"forward mode, output {j}")
