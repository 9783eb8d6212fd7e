"""Finite-difference gradient checks for H3's test files (float64/complex128, random cotangents)."""
from __future__ import annotations

import numpy as np

import arraylib as xp
from conftest import to_numpy


def _as_np(t):
    return to_numpy(t)


def _value(f, arrays, device, v):
    """L = Re(sum(conj(v) * f(x))) evaluated on host copies."""
    with xp.no_grad():
        out = f(*[xp.asarray(a, device=device) for a in arrays])
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return builtins_sum(float(np.real(np.sum(np.conj(vi) * _as_np(o)))) for vi, o in zip(v, outs))


def builtins_sum(it):
    s = 0.0
    for a in it:
        s += a
    return s


def check_grad(f, *arrays, device, eps=1e-6, rtol=1e-5, atol=1e-6, seed=0, forward=True):
    """Compare reverse-mode (and forward-mode, when available) derivatives of ``f`` with
    central differences.  ``arrays``: NumPy float64/complex128 inputs."""
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(a) for a in arrays]
    xs = [xp.asarray(a, device=device, requires_grad=True) for a in arrays]
    out = f(*xs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    v = []
    for o in outs:
        vo = rng.standard_normal(o.shape)
        if o.dtype.kind == "c":
            vo = vo + 1j * rng.standard_normal(o.shape)
        v.append(vo.astype(np.dtype(str(o.dtype))) if o.dtype.kind in "fc" else vo)
    gouts = [xp.asarray(vi, device=device) for vi in v]
    grads = xp.autograd.grad(list(outs), xs, grad_outputs=gouts, allow_unused=True)
    for i, (a, g) in enumerate(zip(arrays, grads)):
        num = np.zeros(a.shape, dtype=a.dtype)
        flat = num.reshape(-1)
        for j in range(a.size):
            parts = (1.0, 1j) if a.dtype.kind == "c" else (1.0,)
            for p in parts:
                ap = a.copy().reshape(-1)
                am = a.copy().reshape(-1)
                ap[j] += p * eps
                am[j] -= p * eps
                args_p = list(arrays)
                args_m = list(arrays)
                args_p[i] = ap.reshape(a.shape)
                args_m[i] = am.reshape(a.shape)
                d = (_value(f, args_p, device, v) - _value(f, args_m, device, v)) / (2 * eps)
                flat[j] += p * d
        got = np.zeros(a.shape, a.dtype) if g is None else _as_np(g)
        np.testing.assert_allclose(got, num, rtol=rtol, atol=atol,
                                   err_msg=f"reverse-mode gradient of input {i}")
    if forward:
        _check_forward(f, arrays, device, rng, eps, rtol, atol)


def _check_forward(f, arrays, device, rng, eps, rtol, atol):
    try:
        from arraylib.autograd import forward_ad as fwad
        fwad.make_dual, fwad.unpack_dual, fwad.dual_level
    except (ImportError, AttributeError):
        return
    us = []
    for a in arrays:
        u = rng.standard_normal(a.shape)
        if a.dtype.kind == "c":
            u = u + 1j * rng.standard_normal(a.shape)
        us.append(u.astype(a.dtype))
    with fwad.dual_level():
        duals = [fwad.make_dual(xp.asarray(a, device=device), xp.asarray(u, device=device))
                 for a, u in zip(arrays, us)]
        out = f(*duals)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        tangents = [fwad.unpack_dual(o).tangent for o in outs]
    with xp.no_grad():
        op = f(*[xp.asarray(a + eps * u, device=device) for a, u in zip(arrays, us)])
        om = f(*[xp.asarray(a - eps * u, device=device) for a, u in zip(arrays, us)])
    ops = op if isinstance(op, (tuple, list)) else (op,)
    oms = om if isinstance(om, (tuple, list)) else (om,)
    for t, p, m in zip(tangents, ops, oms):
        num = (_as_np(p) - _as_np(m)) / (2 * eps)
        got = np.zeros(num.shape) if t is None else _as_np(t)
        np.testing.assert_allclose(got, num, rtol=rtol, atol=atol, err_msg="forward-mode tangent")
