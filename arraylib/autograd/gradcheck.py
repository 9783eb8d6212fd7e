"""Numerical checks of derivative rules: ``gradcheck`` and ``gradgradcheck``.

Both compare analytic derivatives with central finite differences (use float64
inputs).  Reverse mode is checked with random cotangents (never ``.sum()``):
``vjp(u)`` against ``J_numerical^T u``, element by element.  Forward mode is
checked with random tangents: ``jvp(v)`` against the finite-difference
directional derivative.  Complex inputs are perturbed along their real and
imaginary parts; gradients follow PyTorch's convention (``grad = dL/dre + i dL/dim``
for a real loss ``L = Re(sum(conj(u) * y))``).
"""
from __future__ import annotations

import random as _random

from .._core._tensor import Tensor, _new
from .._core._grad_mode import enable_grad, no_grad
from .._core._engine import grad as _grad
from .._creation_functions import asarray, zeros_like
from . import forward_ad as fwAD

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """Raised by gradcheck/gradgradcheck when analytic and numerical derivatives differ."""


# -- host helpers (storage reached only through the device's backend) ---------------
def _host(t: Tensor):
    """A host (NumPy) copy of ``t``'s values, via its backend."""
    return t._device.backend.to_numpy(t._data).copy()


def _from_host(arr, like: Tensor) -> Tensor:
    B = like._device.backend
    return _new(B.from_numpy(arr), like._device)


def _random_like(t: Tensor, rng) -> Tensor:
    """Standard normal values (complex if ``t`` is) shaped and typed like ``t``."""
    n = t.size
    vals = [rng.gauss(0.0, 1.0) for _ in range(n)]
    if t.dtype.kind == "c":
        vals = [complex(v, rng.gauss(0.0, 1.0)) for v in vals]
    flat = asarray(vals, dtype=t.dtype, device=t.device) if n else \
        _from_host(_host(t).reshape(-1)[:0], t)
    return _from_host(_host(flat).reshape(t.shape), t)


def _as_tuple(x):
    if isinstance(x, Tensor):
        return (x,)
    if isinstance(x, (tuple, list)):
        return tuple(x)
    return (x,)


def _diff_outputs(outs):
    """The float/complex outputs (others have no derivative)."""
    return [(i, o) for i, o in enumerate(outs) if isinstance(o, Tensor) and o.dtype.kind in "fc"]


def _evaluate(fn, inputs):
    with no_grad():
        return _as_tuple(fn(*inputs))


def _inner_real(u_host, y_host):
    """Re(sum(conj(u) * y)) on host arrays."""
    return float((u_host.conj() * y_host).real.sum()) if u_host.size else 0.0


def _replace(inputs, i, value):
    lst = list(inputs)
    lst[i] = value
    return tuple(lst)


def _fd_outputs(fn, inputs, i, direction_host, eps, out_idx):
    """Central difference of the differentiable outputs along ``direction`` of input i."""
    x = inputs[i]
    base = _host(x.detach())
    plus = _from_host(base + eps * direction_host, x).requires_grad_(x._requires_grad)
    minus = _from_host(base - eps * direction_host, x).requires_grad_(x._requires_grad)
    yp = _evaluate(fn, _replace(inputs, i, plus))
    ym = _evaluate(fn, _replace(inputs, i, minus))
    return [(_host(yp[k].detach()) - _host(ym[k].detach())) / (2 * eps) for k in out_idx]


def _fail(msg, raise_exception):
    if raise_exception:
        raise GradcheckError(msg)
    return False


def _compare(what, name, analytic, numerical, atol, rtol):
    """Return an error message or None; arrays are host arrays of one shape."""
    if analytic.shape != numerical.shape:
        return f"{what}: {name}: analytic shape {analytic.shape} != numerical {numerical.shape}"
    if analytic.size == 0:
        return None
    diff = abs(analytic - numerical)
    tol = atol + rtol * abs(numerical)
    bad = diff > tol
    if bool(bad.any()) or not bool((diff == diff).all()):
        k = int(diff.reshape(-1).argmax()) if bool((diff == diff).all()) else 0
        return (f"{what}: {name}: max abs error {float(diff.max()):.3e} (atol={atol}, rtol={rtol}) "
                f"at flat index {k}: analytic {analytic.reshape(-1)[k].item()} vs numerical "
                f"{numerical.reshape(-1)[k].item()}\nanalytic:\n{analytic}\nnumerical:\n{numerical}")
    return None


def gradcheck(fn, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, check_forward_ad=True,
              check_backward_ad=True, raise_exception=True, nondet_tol=0.0, seed=0,
              check_undefined_grad=None, fast_mode=None, max_elements=2048):
    """Check ``fn``'s derivatives at ``inputs`` against central finite differences.

    ``fn(*inputs)`` returns a tensor or a tuple of tensors.  Inputs that are tensors
    with ``requires_grad`` are checked (float64/complex128 recommended).  Reverse mode:
    for a random cotangent ``u`` of every output, ``grad(outputs, inputs, u)`` must
    equal ``J^T u`` computed by finite differences, element by element.  Forward
    mode: for a random tangent ``v`` of each input, the JVP must equal the
    finite-difference directional derivative.  Returns True, or raises
    ``GradcheckError`` naming the input, the output and the largest error (returns
    False instead when ``raise_exception=False``).
    """
    inputs = _as_tuple(inputs)
    rng = _random.Random(seed)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x._requires_grad]
    if not checked:
        raise ValueError("gradcheck: at least one input tensor must have requires_grad=True")
    for i in checked:
        if inputs[i].dtype.kind not in "fc":
            raise TypeError(f"gradcheck: input {i} has dtype {inputs[i].dtype}; only floating-"
                            "point and complex inputs can be checked")
    # detached leaf copies of the differentiated inputs, so nothing outside is touched
    leaves = list(inputs)
    for i in checked:
        leaves[i] = inputs[i].detach().requires_grad_(True)
    leaves = tuple(leaves)

    with enable_grad():
        outs = _as_tuple(fn(*leaves))
    douts = _diff_outputs(outs)
    out_idx = [k for k, _ in douts]

    if check_backward_ad and douts:
        msg = _check_reverse(fn, leaves, checked, outs, douts, out_idx, eps, atol, rtol, rng,
                             max_elements)
        if msg:
            return _fail(msg, raise_exception)
    if check_forward_ad and douts:
        msg = _check_forward(fn, leaves, checked, out_idx, eps, atol, rtol, rng)
        if msg:
            return _fail(msg, raise_exception)
    return True


def _check_reverse(fn, leaves, checked, outs, douts, out_idx, eps, atol, rtol, rng, max_elements):
    """Both forms of every rule: storage (``create_graph=False``) and tensor (``True``)."""
    us = [_random_like(o, rng) for _, o in douts]
    roots = [o for _, o in douts if o._requires_grad]
    root_us = [u for (_, o), u in zip(douts, us) if o._requires_grad]
    targets = tuple(leaves[i] for i in checked)
    forms = []
    for form, create_graph in (("storage rules", False), ("tensor rules", True)):
        if roots:
            with enable_grad():
                grads = _grad(roots, targets, root_us, retain_graph=True, allow_unused=True,
                              create_graph=create_graph)
        else:
            grads = (None,) * len(targets)
        forms.append((form, grads))
    u_host = [_host(u) for u in us]
    for j, i in enumerate(checked):
        x = leaves[i]
        name = f"input {i} (shape {x.shape}, dtype {x.dtype})"
        analytic = []
        for form, grads in forms:
            g = grads[j]
            if g is None:
                analytic.append((form, _host(x.detach()) * 0))
                continue
            if not isinstance(g, Tensor) or g.shape != x.shape or g.dtype != x.dtype:
                return (f"gradcheck: {name}: analytic gradient ({form}) has shape "
                        f"{getattr(g, 'shape', None)}, dtype {getattr(g, 'dtype', None)}")
            if g._device is not x._device:
                return f"gradcheck: {name}: analytic gradient ({form}) is on device '{g.device}'"
            analytic.append((form, _host(g.detach())))
        if x.size <= max_elements:
            msg = _compare_elementwise(fn, leaves, i, name, analytic, u_host, out_idx, eps,
                                       atol, rtol)
        else:
            msg = _compare_projected(fn, leaves, i, name, analytic, u_host, out_idx, eps,
                                     atol, rtol, rng)
        if msg:
            return msg
    return None


def _compare_elementwise(fn, leaves, i, name, analytic, u_host, out_idx, eps, atol, rtol):
    """Every element of ``J^T u`` by central differences, against each analytic form."""
    x = leaves[i]
    base = _host(x.detach())
    base[...] = 0
    numerical = base.copy()
    flat = numerical.reshape(-1)  # a view: numerical is a (possibly 0-d) array
    for e in range(x.size):
        total = 0.0
        for unit in ((1.0, 1j) if x.dtype.kind == "c" else (1.0,)):
            d = base.copy()
            d.reshape(-1)[e] = unit
            dys = _fd_outputs(fn, leaves, i, d, eps, out_idx)
            part = sum(_inner_real(uh, dy) for uh, dy in zip(u_host, dys))
            total = total + (part if unit == 1.0 else 1j * part)
        flat[e] = total
    for form, a in analytic:
        msg = _compare(f"gradcheck (reverse mode, {form}, random cotangent)", name, a,
                       numerical, atol, rtol)
        if msg:
            return msg
    return None


def _compare_projected(fn, leaves, i, name, analytic, u_host, out_idx, eps, atol, rtol, rng):
    """A large input: ``<J^T u, v>`` on random directions ``v``."""
    x = leaves[i]
    for _ in range(3):
        v = _host(_random_like(x, rng))
        dys = _fd_outputs(fn, leaves, i, v, eps, out_idx)
        num = sum(_inner_real(uh, dy) for uh, dy in zip(u_host, dys))
        for form, a in analytic:
            ana = float((a.conj() * v).real.sum())
            msg = _compare(f"gradcheck (reverse mode, {form}, random cotangent and direction)",
                           name, _scalar_array(ana, a), _scalar_array(num, a), atol, rtol)
            if msg:
                return msg
    return None


def _scalar_array(value, like):
    a = like.reshape(-1)[:1].real.copy() * 0
    a[0] = value
    return a


def _check_forward(fn, leaves, checked, out_idx, eps, atol, rtol, rng):
    for i in checked:
        x = leaves[i]
        name = f"input {i} (shape {x.shape}, dtype {x.dtype})"
        v = _random_like(x, rng)
        with fwAD.dual_level():
            dual = _replace(leaves, i, fwAD.make_dual(x.detach().requires_grad_(True), v))
            try:
                outs = _as_tuple(fn(*dual))
            except NotImplementedError as exc:
                return f"gradcheck (forward mode): {name}: {exc}"
            tangents = []
            for k in out_idx:
                t = fwAD.unpack_dual(outs[k]).tangent
                tangents.append(None if t is None else _host(t.detach()))
        dys = _fd_outputs(fn, leaves, i, _host(v), eps, out_idx)
        for k, t, dy in zip(out_idx, tangents, dys):
            if t is None:
                t = dy * 0
            if t.shape != dy.shape:
                return (f"gradcheck (forward mode): {name}: output {k}: tangent has shape "
                        f"{t.shape}, output has shape {dy.shape}")
            msg = _compare("gradcheck (forward mode, random tangent)", f"{name}, output {k}",
                           t, dy, atol, rtol)
            if msg:
                return msg
    return None


def gradgradcheck(fn, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  check_forward_ad=True, check_backward_ad=True, raise_exception=True,
                  seed=0, **kwargs):
    """Check second derivatives: ``gradcheck`` of the map
    ``(inputs, grad_outputs) -> grad(fn(inputs), inputs, grad_outputs, create_graph=True)``.

    ``grad_outputs`` default to random tensors (which are differentiated too).
    The forward-mode check runs forward over reverse (the backward rules carry
    tangents)."""
    inputs = _as_tuple(inputs)
    rng = _random.Random(seed + 1)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x._requires_grad]
    if not checked:
        raise ValueError("gradgradcheck: at least one input tensor must have requires_grad=True")
    with enable_grad():
        outs = _as_tuple(fn(*inputs))
    douts = [o for _, o in _diff_outputs(outs) if o._requires_grad]
    if not douts:
        return True
    if grad_outputs is None:
        grad_outputs = tuple(_random_like(o, rng).requires_grad_(True) for o in douts)
    else:
        grad_outputs = _as_tuple(grad_outputs)
    n_in = len(inputs)

    def first_derivative(*args):
        xs, us = args[:n_in], args[n_in:]
        with enable_grad():
            ys = _as_tuple(fn(*xs))
            ys = [o for _, o in _diff_outputs(ys) if o._requires_grad]
            targets = tuple(xs[i] for i in checked)
            gs = _grad(ys, targets, us, create_graph=True, allow_unused=True)
        return tuple(g if g is not None else zeros_like(t) for g, t in zip(gs, targets))

    return gradcheck(first_derivative, inputs + tuple(grad_outputs), eps=eps, atol=atol,
                     rtol=rtol, check_forward_ad=check_forward_ad,
                     check_backward_ad=check_backward_ad, raise_exception=raise_exception,
                     seed=seed, **kwargs)
