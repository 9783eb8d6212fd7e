"""The tests' one finite-difference helper (central differences, float64 and complex128).

Independent of ``arraylib.autograd.gradcheck`` (the library's own checker, itself under
test), so the tests that use these don't depend on it.

- ``central_diff(f, x)``: the derivative of a host function ``f`` (NumPy in, NumPy out) at
  ``x``, one element of ``x`` at a time; the building block of everything below.
- ``check_grads(fn, arrays, device)``: reverse- and forward-mode derivatives of a tensor
  function against central differences, with random cotangents and tangents.
- ``fd_jacobian(f, x)``: the central-difference Jacobian of a tensor function.
"""
from __future__ import annotations

import numpy as np

import arraylib as xp
from arraylib.autograd import forward_ad as fwAD
from conftest import to_numpy


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def central_diff(f, x, eps=1e-6, *, imag=True):
    """Central differences ``(f(x + eps e_k) - f(x - eps e_k)) / (2 eps)`` for each element
    ``k`` of the NumPy array ``x``.

    ``f`` maps an array shaped like ``x`` to an array (or a float), or to a tuple/list of
    them; the result (a list for a tuple/list) has shape ``f(x).shape + x.shape``.  For
    complex ``x`` with ``imag`` each element is also stepped along ``i`` and the two added
    as ``df/dRe + i df/dIm``: the gradient of a real-valued ``f`` in the convention of
    reverse mode.  ``imag=False`` steps the real axis only (the JVP of a real tangent)."""
    x = np.asarray(x)
    steps = (1.0, 1j) if imag and np.iscomplexobj(x) else (1.0,)
    flat = x.reshape(-1)
    cols, multi = [], None
    for k in range(flat.size):
        acc = None
        for s in steps:
            up, down = flat.copy(), flat.copy()
            up[k] += s * eps
            down[k] -= s * eps
            fu, fd = f(up.reshape(x.shape)), f(down.reshape(x.shape))
            multi = isinstance(fu, (tuple, list))
            d = [s * (np.asarray(a) - np.asarray(b)) / (2 * eps)
                 for a, b in zip(_as_list(fu), _as_list(fd))]
            acc = d if acc is None else [a + b for a, b in zip(acc, d)]
        cols.append(acc)
    if not cols:  # no elements: zeros of the right shape
        base = f(x)
        multi = isinstance(base, (tuple, list))
        res = [np.zeros(np.shape(b) + x.shape) for b in _as_list(base)]
    else:
        res = [np.stack([c[j] for c in cols], axis=-1).reshape(np.shape(cols[0][j]) + x.shape)
               for j in range(len(cols[0]))]
    return res if multi else res[0]


def _outputs(out):
    """The floating-point outputs (integer outputs, e.g. indices, have no derivative)."""
    return [o for o in _as_list(out) if o.dtype.kind in "fc"]


def _random_like(rng, shape, dtype):
    """Random values of ``shape`` in ``dtype`` (complex dtypes get a random imaginary part)."""
    dtype = np.dtype(dtype)
    v = rng.standard_normal(shape)
    if dtype.kind == "c":
        v = v + 1j * rng.standard_normal(shape)
    return v.astype(dtype)


def _wide(a):
    a = np.asarray(a)
    return a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)


def check_grads(fn, arrays, device, *, eps=1e-6, rtol=1e-5, atol=1e-6, forward=True, seed=0):
    """Compare reverse (and forward) derivatives of ``fn(*tensors)`` with central differences.

    ``arrays``: the inputs, NumPy (float64, or complex128 where complex), all differentiated.
    Reverse mode: with random cotangents ``u`` (complex for complex outputs), the gradient
    of ``L = Re sum(conj(u) * fn(x))`` against ``central_diff`` of ``L`` (complex inputs
    stepped along 1 and i).  Forward mode: with random tangents ``v``, the output tangents
    against ``(fn(x + eps v) - fn(x - eps v)) / (2 eps)``.  ``fn`` runs with grad mode on
    (it may differentiate inside, for second-order checks)."""
    rng = np.random.default_rng(seed)
    hosts = [np.asarray(a, dtype=np.complex128 if np.iscomplexobj(a) else np.float64)
             for a in arrays]
    xs = [xp.asarray(h, device=device, requires_grad=True) for h in hosts]
    outs = _outputs(fn(*xs))
    us = [_random_like(rng, o.shape, o.dtype) for o in outs]

    # reverse mode
    live = [(o, u) for o, u in zip(outs, us) if o.requires_grad]
    if live:
        grads = xp.autograd.grad([o for o, _ in live], xs,
                                 [xp.asarray(u, device=device) for _, u in live],
                                 allow_unused=True)
    else:
        grads = [None] * len(xs)

    def loss(args):
        values = _outputs(fn(*[xp.asarray(a, device=device) for a in args]))
        assert len(values) == len(us), "fn returned a different number of outputs"
        return sum(float(np.real(np.vdot(_wide(u), _wide(to_numpy(o)))))
                   for u, o in zip(us, values))

    for i, (h, g) in enumerate(zip(hosts, grads)):
        num = central_diff(lambda hi, i=i: loss(hosts[:i] + [hi] + hosts[i + 1:]), h, eps)
        ana = np.zeros_like(num) if g is None else to_numpy(g)
        assert ana.shape == h.shape, f"input {i}: gradient shape {ana.shape} != {h.shape}"
        np.testing.assert_allclose(ana, num, rtol=rtol, atol=atol,
                                   err_msg=f"reverse mode, gradient of input {i}")
    if not forward:
        return

    # forward mode
    vs = [_random_like(rng, h.shape, h.dtype) for h in hosts]
    with fwAD.dual_level():
        duals = [fwAD.make_dual(xp.asarray(h, device=device), xp.asarray(v, device=device))
                 for h, v in zip(hosts, vs)]
        tangents = [fwAD.unpack_dual(o).tangent for o in _outputs(fn(*duals))]

    def along(t):
        ts = [to_numpy(o) for o in _outputs(fn(*[xp.asarray(h + t[()] * v, device=device)
                                                    for h, v in zip(hosts, vs)]))]
        return ts
    nums = central_diff(along, np.zeros(()), eps)
    assert len(nums) == len(tangents), "fn returned a different number of outputs"
    for j, (t, num) in enumerate(zip(tangents, nums)):
        ana = np.zeros_like(num) if t is None else to_numpy(t)
        assert ana.shape == num.shape, f"output {j}: tangent shape {ana.shape} != {num.shape}"
        np.testing.assert_allclose(ana, num, rtol=rtol, atol=atol,
                                   err_msg=f"forward mode, tangent of output {j}")


def fd_jacobian(f, x, eps=1e-6):
    """Central-difference Jacobians of the tensor function ``f`` at the tensor ``x``: one
    NumPy array per output, of shape ``out.shape + x.shape``.  Complex ``x`` is stepped
    along the real axis only (what the JVP of a real tangent gives)."""
    dev = x.device
    xv = to_numpy(x)
    return central_diff(lambda v: [to_numpy(o) for o in _as_list(f(xp.asarray(v, device=dev)))],
                        xv, eps, imag=False)
