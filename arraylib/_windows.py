"""Sliding windows, their adjoint (fold / col2im), constant padding and cropping.

The four differentiable primitives that convolution and pooling in ``arraylib.nn``
are built on; each pair is mutually adjoint, so their VJPs are each other and
their JVPs apply themselves to the tangent (they are linear):

- ``sliding_windows(x, window_shape, axes, strides, dilation)``: a (strided,
  dilated) view with the window dimensions appended, NumPy's
  ``sliding_window_view`` layout; ``fold_windows`` sums windows back (col2im).
- ``pad_constant(x, pad_width, value)`` and ``crop(x, bounds)``.

A convolution is then windows + one matrix product (BLAS), a pooling is windows +
one reduction: no Python loop over pixels or batch items.  ``windows_on``,
``fold_on``, ``pad_on`` and ``crop_on`` apply the four in a rule's namespace ``ns``:
the differentiable primitives on tensors, the backend's kernels on storage.  The fused
nn kernels built on them live in ``arraylib._nn_kernels``.
"""
from __future__ import annotations

from ._core import _batching as _vb
from ._core._primitive import Primitive, linear_jvp
from ._core._tensor import Tensor

__all__: list = []  # private building blocks; nn.functional exposes the public forms


def _norm(func, value, n, name):
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"{func}: {name} must have {n} entries, got {value}")
    return value


def _window_counts(shape, window_shape, axes, strides, dilation, func="sliding_windows"):
    counts = []
    for a, k, s, d in zip(axes, window_shape, strides, dilation):
        span = d * (k - 1) + 1
        if k < 1 or s < 1 or d < 1:
            raise ValueError(f"{func}: window sizes, strides and dilations must be positive, got "
                             f"window {window_shape}, stride {strides}, dilation {dilation}")
        if shape[a] < span:
            raise ValueError(f"{func}: window of extent {span} (kernel {k}, dilation {d}) does not "
                             f"fit axis {a} of size {shape[a]} (input shape {tuple(shape)})")
        counts.append((shape[a] - span) // s + 1)
    return counts


# -- the four in a rule's namespace: tensors (differentiable) or storage -------------------
def windows_on(ns, x, window_shape, axes, strides, dilation):
    """``sliding_windows`` of a tensor, or of storage ``x`` when ``ns`` is the backend
    (normalised arguments: tuples, axes non-negative)."""
    if isinstance(x, Tensor):
        return _windows_prim(x, window_shape=window_shape, axes=axes, strides=strides,
                             dilation=dilation, in_shape=x.shape)
    return _windows_fwd(ns, x, window_shape=window_shape, axes=axes, strides=strides,
                        dilation=dilation, in_shape=None)


def fold_on(ns, w, shape, axes, strides, dilation):
    """``fold_windows`` of a tensor, or of storage ``w`` when ``ns`` is the backend."""
    if isinstance(w, Tensor):
        return fold_windows(w, shape, axes, strides, dilation)
    return ns.fold_windows(w, shape, axes, strides, dilation)


def pad_on(ns, x, pad_width, value):
    """``pad_constant`` of a tensor, or of storage ``x`` when ``ns`` is the backend."""
    if isinstance(x, Tensor):
        return pad_constant(x, pad_width, value)
    return _pad_fwd(ns, x, pad_width=pad_width, value=value)


def crop_on(ns, x, bounds):
    """``crop`` of a tensor, or of storage ``x`` when ``ns`` is the backend."""
    if isinstance(x, Tensor):
        return crop(x, bounds)
    return _crop_fwd(ns, x, bounds=bounds)


# -- sliding windows and fold ------------------------------------------------------
def _windows_fwd(B, x, *, window_shape, axes, strides, dilation, in_shape):
    spans = tuple(d * (k - 1) + 1 for k, d in zip(window_shape, dilation))
    v = B.sliding_window(x, spans, axes)
    if any(s != 1 for s in strides) or any(d != 1 for d in dilation):
        key = [slice(None)] * v.ndim
        for a, s in zip(axes, strides):
            key[a] = slice(None, None, s)
        for j, d in enumerate(dilation):
            key[x.ndim + j] = slice(None, None, d)
        v = v[tuple(key)]
    return v


def _windows_vjp(ns, needs, g, out, x, *, window_shape, axes, strides, dilation, in_shape):
    return (fold_on(ns, g, in_shape, axes, strides, dilation),)


_windows_prim = Primitive(
    "sliding_windows", _windows_fwd, _windows_vjp,
    linear_jvp(lambda ns, t, *, window_shape, axes, strides, dilation, in_shape:
               windows_on(ns, t, window_shape, axes, strides, dilation)),
    saves_inputs=False, saves_output=False, view=True)
_windows_prim.batch = _vb.axis_rule(_windows_prim, axes=("axes",), shapes=("in_shape",))


def _fold_fwd(B, w, *, shape, axes, strides, dilation, window_shape):
    return B.fold_windows(w, shape, axes, strides, dilation)


def _fold_vjp(ns, needs, g, out, w, *, shape, axes, strides, dilation, window_shape):
    return (windows_on(ns, g, window_shape, axes, strides, dilation),)


_fold_prim = Primitive(
    "fold_windows", _fold_fwd, _fold_vjp,
    linear_jvp(lambda ns, t, *, shape, axes, strides, dilation, window_shape:
               fold_on(ns, t, shape, axes, strides, dilation)),
    saves_inputs=False, saves_output=False)
_fold_prim.batch = _vb.axis_rule(_fold_prim, axes=("axes",), shapes=("shape",))


def sliding_windows(x: Tensor, window_shape, axes, strides=1, dilation=1) -> Tensor:
    """Windows of ``x`` over ``axes``: shape ``x.shape`` with each axis replaced by its
    window count ``(n - dilation*(k-1) - 1) // stride + 1``, window dims appended."""
    if isinstance(axes, int):
        axes = (axes,)
    axes = tuple(a % x.ndim for a in axes)
    n = len(axes)
    window_shape = _norm("sliding_windows", window_shape, n, "window_shape")
    strides = _norm("sliding_windows", strides, n, "strides")
    dilation = _norm("sliding_windows", dilation, n, "dilation")
    _window_counts(x.shape, window_shape, axes, strides, dilation)
    return _windows_prim(x, window_shape=window_shape, axes=axes, strides=strides,
                         dilation=dilation, in_shape=x.shape)


def fold_windows(w: Tensor, shape, axes, strides=1, dilation=1) -> Tensor:
    """Adjoint of ``sliding_windows``: add every window element back into an array of
    ``shape`` (col2im; overlapping windows accumulate)."""
    if isinstance(axes, int):
        axes = (axes,)
    shape = tuple(int(s) for s in shape)
    axes = tuple(a % len(shape) for a in axes)
    n = len(axes)
    strides = _norm("fold_windows", strides, n, "strides")
    dilation = _norm("fold_windows", dilation, n, "dilation")
    window_shape = tuple(w.shape[w.ndim - n:])
    if w.ndim != len(shape) + n:
        raise ValueError(f"fold_windows: windows of shape {w.shape} don't match output shape "
                         f"{shape} with {n} window axes")
    counts = _window_counts(shape, window_shape, axes, strides, dilation, "fold_windows")
    expect = list(shape)
    for a, c in zip(axes, counts):
        expect[a] = c
    if tuple(w.shape[:len(shape)]) != tuple(expect):
        raise ValueError(f"fold_windows: windows of shape {w.shape} don't fit output shape "
                         f"{shape} (expected leading dims {tuple(expect)})")
    return _fold_prim(w, shape=shape, axes=axes, strides=strides, dilation=dilation,
                      window_shape=window_shape)


# -- constant padding and cropping -------------------------------------------------
def _pad_fwd(B, x, *, pad_width, value):
    shape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, pad_width))
    out = B.full(shape, value, dtype=x.dtype, device=B.native_device)
    B.assign(out, tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape, pad_width)), x)
    return out


def _pad_vjp(ns, needs, g, out, x, *, pad_width, value):
    return (crop_on(ns, g, tuple((lo, n - hi) for n, (lo, hi) in zip(g.shape, pad_width))),)


_pad_prim = Primitive(
    "constant_pad", _pad_fwd, _pad_vjp,
    linear_jvp(lambda ns, t, *, pad_width, value: pad_on(ns, t, pad_width, 0)),
    saves_inputs=False, saves_output=False)
_pad_prim.batch = _vb.pad_rule(_pad_prim)


def _crop_fwd(B, x, *, bounds, in_shape=None):
    return x[tuple(slice(a, b) for a, b in bounds)]


def _crop_vjp(ns, needs, g, out, x, *, bounds, in_shape):
    return (pad_on(ns, g, tuple((a, n - b) for n, (a, b) in zip(in_shape, bounds)), 0),)


_crop_prim = Primitive(
    "crop", _crop_fwd, _crop_vjp,
    linear_jvp(lambda ns, t, *, bounds, in_shape: crop_on(ns, t, bounds)),
    saves_inputs=False, saves_output=False, view=True)
_crop_prim.batch = _vb.crop_rule(_crop_prim)


def pad_constant(x: Tensor, pad_width, value=0) -> Tensor:
    """``x`` padded with ``value``: ``pad_width`` is one ``(before, after)`` per dim (>= 0)."""
    pad_width = tuple((int(lo), int(hi)) for lo, hi in pad_width)
    if len(pad_width) != x.ndim or any(lo < 0 or hi < 0 for lo, hi in pad_width):
        raise ValueError(f"pad_constant: pad_width {pad_width} must hold one non-negative "
                         f"(before, after) pair per dimension of the input of shape {x.shape}")
    if not any(lo or hi for lo, hi in pad_width):
        return x
    return _pad_prim(x, pad_width=pad_width, value=value)


def crop(x: Tensor, bounds) -> Tensor:
    """``x[a0:b0, a1:b1, ...]`` for ``bounds = ((a0, b0), ...)`` (in range, one per dim)."""
    bounds = tuple((int(a), int(b)) for a, b in bounds)
    if len(bounds) != x.ndim or any(not 0 <= a <= b <= n for (a, b), n in zip(bounds, x.shape)):
        raise ValueError(f"crop: bounds {bounds} out of range for shape {x.shape}")
    return _crop_prim(x, bounds=bounds, in_shape=x.shape)
