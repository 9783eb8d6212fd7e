"""Sliding windows, their adjoint (fold / col2im), constant padding and cropping.

The four differentiable primitives that convolution and pooling in ``arraylib.nn``
are built on; each pair is mutually adjoint, so their VJPs are each other and
their JVPs apply themselves to the tangent (they are linear):

- ``sliding_windows(x, window_shape, axes, strides, dilation)``: a (strided,
  dilated) view with the window dimensions appended, NumPy's
  ``sliding_window_view`` layout; ``fold_windows`` sums windows back (col2im).
- ``pad_constant(x, pad_width, value)`` and ``crop(x, bounds)``.

A convolution is then windows + one matrix product (BLAS), a pooling is windows +
one reduction: no Python loop over pixels or batch items.
"""
from __future__ import annotations

import math

from ._core._primitive import Primitive
from ._core._tensor import Tensor, _new

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


def _windows_vjp(g, out, x, *, window_shape, axes, strides, dilation, in_shape):
    return (fold_windows(g, in_shape, axes, strides, dilation),)


def _windows_jvp(t, out, x, *, window_shape, axes, strides, dilation, in_shape):
    return sliding_windows(t[0], window_shape, axes, strides, dilation)


_windows_prim = Primitive("sliding_windows", _windows_fwd, _windows_vjp, _windows_jvp,
                          saves_inputs=False, saves_output=False, view=True)


def _fold_fwd(B, w, *, shape, axes, strides, dilation, window_shape):
    return B.fold_windows(w, shape, axes, strides, dilation)


def _fold_vjp(g, out, w, *, shape, axes, strides, dilation, window_shape):
    return (sliding_windows(g, window_shape, axes, strides, dilation),)


def _fold_jvp(t, out, w, *, shape, axes, strides, dilation, window_shape):
    return fold_windows(t[0], shape, axes, strides, dilation)


_fold_prim = Primitive("fold_windows", _fold_fwd, _fold_vjp, _fold_jvp,
                       saves_inputs=False, saves_output=False)


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


def _pad_vjp(g, out, x, *, pad_width, value):
    return (crop(g, tuple((lo, lo + n) for n, (lo, _) in zip(x.shape, pad_width))),)


def _pad_jvp(t, out, x, *, pad_width, value):
    return pad_constant(t[0], pad_width, 0)


_pad_prim = Primitive("constant_pad", _pad_fwd, _pad_vjp, _pad_jvp, saves_output=False)


def _crop_fwd(B, x, *, bounds):
    return x[tuple(slice(a, b) for a, b in bounds)]


def _crop_vjp(g, out, x, *, bounds):
    return (pad_constant(g, tuple((a, n - b) for n, (a, b) in zip(x.shape, bounds)), 0),)


def _crop_jvp(t, out, x, *, bounds):
    return crop(t[0], bounds)


_crop_prim = Primitive("crop", _crop_fwd, _crop_vjp, _crop_jvp, saves_output=False, view=True)


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
    return _crop_prim(x, bounds=bounds)


# -- erf (exact GELU) --------------------------------------------------------------
def _erf_vjp(g, out, x):
    from ._elementwise_functions import exp
    return (g * (exp(-(x * x)) * 1.1283791670955126),)  # 2 / sqrt(pi)


def _erf_jvp(t, out, x):
    from ._elementwise_functions import exp
    return t[0] * (exp(-(x * x)) * 1.1283791670955126)


_erf_prim = Primitive("erf", lambda B, x: B.erf(x), _erf_vjp, _erf_jvp, saves_output=False)


def erf(x: Tensor) -> Tensor:
    """The error function, element-wise, for real floating-point tensors."""
    if x.dtype.kind != "f":
        raise TypeError(f"erf: expected a real floating-point tensor, got {x.dtype}")
    return _erf_prim(x)


# -- convolution: im2col (strided view) + one matrix product -------------------------
def _prod(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def _conv_fwd(B, x, w, *b, stride, dilation, groups, cache):
    if groups == 1 and dilation[0] == 1:
        return _conv_fwd_by_rows(B, x, w, *b, stride=stride, dilation=dilation, cache=cache)
    # Layout: cols (G, C/G * K, N*L), channels-and-kernel major, so the im2col copy runs
    # along contiguous output rows; out = w (G, O/G, C/G*K) @ cols -> (O, N, *out).
    nd = x.ndim - 2
    kernel = tuple(w.shape[2:])
    sp = tuple(range(2, 2 + nd))
    ks = tuple(range(2 + nd, 2 + 2 * nd))
    win = _windows_fwd(B, x, window_shape=kernel, axes=sp, strides=stride, dilation=dilation,
                       in_shape=None)
    n, c = x.shape[:2]
    o = w.shape[0]
    out_sp = tuple(win.shape[2:2 + nd])
    L, K = _prod(out_sp), _prod(kernel)
    # groups == 1 stays 2-D: stacked matmuls with transposed operands miss BLAS in NumPy.
    gs = (groups,) if groups > 1 else ()
    cols = B.reshape(B.permute_dims(win, (1,) + ks + (0,) + sp), gs + (c // groups * K, n * L))
    out = B.matmul(B.reshape(w, gs + (o // groups, c // groups * K)), cols)
    if b:  # bias fused on the (O, N*L) product, a cheap row-wise add
        out = B.reshape(out, (o, n * L))
        out += B.reshape(b[0], (o, 1))
    out = B.permute_dims(B.reshape(out, (o, n) + out_sp), (1, 0) + sp)
    cache["cols"] = cols
    return out


# -- convolution by rows (ungrouped, undilated on the first spatial axis) ---------------
# The input is expanded over every spatial axis but the first, as ``rows`` (H, C*Kr, M)
# (Kr: the kernel without its first axis; M: the batch and the output positions on the
# other axes): KH times less data than the full im2col matrix.  Its windows over the first
# axis, (H', KH*C*Kr, M), are a strided view of it, and output row h' is the product
# ``W (O, KH*C*Kr) @ windows[h']``: the forward and both gradients are each one batched
# product over output rows, with no copy of the windows.
#
# Layout: M orders the batch after the other positions, (*S', N), when the input is laid
# out batch-minor, so rows are read in contiguous runs; otherwise (N, *S').  The output is
# always returned as a view of a batch-minor (H', O, *S', N) array: the element-wise and
# pooling layers that follow keep that layout and run along the batch, the next
# convolution reads it in long runs, and its gradient arrives in the product's layout.
def _to_rows_order(nd, batch_minor):
    """Permutation of (N, X, H, *S) to (H, X, *M)."""
    rest = tuple(range(3, 2 + nd))
    return (2, 1) + (rest + (0,) if batch_minor else (0,) + rest)


def _inverse(perm):
    return tuple(sorted(range(len(perm)), key=perm.__getitem__))


def _rows_of(B, x, kernel, stride, dilation, batch_minor):
    nd = x.ndim - 2
    n, c, h = x.shape[:3]
    rest = tuple(range(3, 2 + nd))
    win = x
    if rest:  # (N, C, H, *S', *Kr)
        win = _windows_fwd(B, x, window_shape=kernel[1:], axes=rest, strides=stride[1:],
                           dilation=dilation[1:], in_shape=None)
    order = _to_rows_order(nd, batch_minor)
    rows = B.permute_dims(win, order[:2] + tuple(range(2 + nd, 1 + 2 * nd)) + order[2:])
    return B.reshape(rows, (h, c * _prod(kernel[1:]), n * _prod(win.shape[3:2 + nd])))


def _row_windows(B, rows, kh, stride):
    """(H', KH*C*Kr, M) windows of ``rows`` over its first axis: a view of it."""
    v = _windows_fwd(B, rows, window_shape=(kh,), axes=(0,), strides=(stride,),
                     dilation=(1,), in_shape=None)  # (H', C*Kr, M, KH)
    return B.reshape(B.permute_dims(v, (0, 3, 1, 2)), (v.shape[0], kh * v.shape[1], v.shape[2]))


def _weight_rows(B, w, rows):
    """``w`` (O, C, KH, *Kr) as (``rows``, KH*C*Kr), zero rows appended to the O used."""
    w2 = B.reshape(B.permute_dims(w, (0, 2, 1) + tuple(range(3, w.ndim))), (w.shape[0], -1))
    return B.zero_padded(w2, 0, rows)


def _conv_fwd_by_rows(B, x, w, *b, stride, dilation, cache):
    nd = x.ndim - 2
    n, o = x.shape[0], w.shape[0]
    minor = B.batch_minor(x)
    rows = _rows_of(B, x, tuple(w.shape[2:]), stride, dilation, minor)
    op = B.gemm_rows(o)  # zero rows keep the product on the BLAS kernels' fast sizes
    out = B.matmul(_weight_rows(B, w, op), _row_windows(B, rows, w.shape[2], stride[0]))
    if op != o:
        out = out[:, :o, :]
    if b:  # (H', O, M): a row-wise add
        out += B.reshape(b[0], (o, 1))
    cache["rows"], cache["batch_minor"] = rows, minor
    hp, s = out.shape[0], _out_rest(x.shape, w.shape, stride, dilation)
    if minor or nd == 1:
        out = B.reshape(out, (hp, o) + s + (n,))
    else:  # (H', O, N, *S') copied to (H', O, *S', N)
        out = B.reshape(out, (hp, o, n) + s)
        out = B.reshape(B.permute_dims(out, (0, 1) + tuple(range(3, 2 + nd)) + (2,)),
                        (hp, o) + s + (n,), copy=True)
    return B.permute_dims(out, _inverse(_to_rows_order(nd, True)))


def _out_rest(x_shape, w_shape, stride, dilation):
    """Output positions of a convolution on every spatial axis but the first."""
    nd = len(x_shape) - 2
    return tuple(_window_counts(x_shape[:2] + x_shape[3:], w_shape[3:], range(2, 1 + nd),
                                stride[1:], dilation[1:], "conv"))


def _conv_vjp_by_rows(B, edges, g, x, w, *b, stride, dilation, rows, batch_minor):
    """The three gradients (storage) of ``_conv_fwd_by_rows``."""
    nd = x.ndim - 2
    o, kh = w.shape[0], w.shape[2]
    op = B.gemm_rows(o)
    hp, m = g.shape[2], rows.shape[2]
    # g as (H', O, M), zero rows appended up to the O of the forward's product (a free view
    # when g arrives in the forward's output layout and needs no zero rows)
    g_rows = B.zero_padded(B.permute_dims(g, _to_rows_order(nd, batch_minor)), 1, op)
    g_rows = B.reshape(g_rows, (hp, op, m))
    gx = gw = gb = None
    if b and edges[2] is not None:
        gb = B.sum(B.sum(g_rows, axis=2), axis=0)[:o]
    if edges[1] is not None:  # sum over output rows of windows[h'] @ g[h'].T: (KH*C*Kr, O)
        v = _row_windows(B, rows, kh, stride[0])
        gw = B.sum(B.matmul(v, B.matrix_transpose(g_rows)), axis=0)[:, :o]
        gw = B.reshape(B.matrix_transpose(gw), (o, kh, x.shape[1]) + tuple(w.shape[3:]))
        gw = B.permute_dims(gw, (0, 2, 1) + tuple(range(3, 2 + nd)))
    if edges[0] is not None:
        gx = _conv_input_grad_by_rows(B, g_rows, w, x.shape, stride, dilation, rows.shape,
                                      batch_minor)
    return (gx, gw, gb) if b else (gx, gw)


def _im2col(x, kernel, stride, dilation, groups):
    """Differentiable im2col in ``_conv_fwd``'s layout (for higher-order gradients)."""
    from ._manipulation_functions import permute_dims, reshape
    nd = x.ndim - 2
    sp = tuple(range(2, 2 + nd))
    ks = tuple(range(2 + nd, 2 + 2 * nd))
    win = sliding_windows(x, kernel, sp, stride, dilation)
    n, c = x.shape[:2]
    L = _prod(win.shape[2:2 + nd])
    gs = (groups,) if groups > 1 else ()
    return reshape(permute_dims(win, (1,) + ks + (0,) + sp),
                   gs + (c // groups * _prod(kernel), n * L))


def _conv_grads(ns, g, x, w, needs, cols, fold, stride, dilation, groups):
    """``(gx, gw, gb)`` of a convolution, each computed when ``needs`` says so, in the
    namespace ``ns``: arraylib's for tensors (a graph of the rule), the backend for storage.
    ``cols()`` gives the im2col matrix of ``x``; ``fold`` is ``fold_windows`` of ``ns``."""
    nd = x.ndim - 2
    n, c = x.shape[:2]
    o = w.shape[0]
    kernel = tuple(w.shape[2:])
    out_sp = tuple(g.shape[2:])
    L, K = _prod(out_sp), _prod(kernel)
    sp = tuple(range(2, 2 + nd))
    gs = (groups,) if groups > 1 else ()
    gx = gw = gb = None
    g2 = ns.reshape(ns.permute_dims(g, (1, 0) + sp), (o, n * L))
    if needs[2]:
        gb = ns.sum(g2, axis=1)
    g2 = ns.reshape(g2, gs + (o // groups, n * L))
    if needs[1]:
        gw = ns.reshape(ns.matmul(g2, ns.matrix_transpose(cols())), w.shape)
    if needs[0]:
        w2 = ns.reshape(w, gs + (o // groups, c // groups * K))
        gcols = ns.reshape(ns.matmul(ns.matrix_transpose(w2), g2), (c,) + kernel + (n,) + out_sp)
        gcols = ns.permute_dims(gcols, (nd + 1, 0) + tuple(range(nd + 2, 2 * nd + 2))
                                + tuple(range(1, nd + 1)))  # (N, C, *out, *kernel)
        gx = fold(gcols, x.shape, sp, stride, dilation)
    return gx, gw, gb


def _conv_vjp(g, out, x, w, *b, stride, dilation, groups, cache):
    from ._elementwise_functions import _T
    needs = (x._requires_grad, w._requires_grad, bool(b) and b[0]._requires_grad)
    kernel = tuple(w.shape[2:])
    gx, gw, gb = _conv_grads(_T, g, x, w, needs,
                             lambda: _im2col(x, kernel, stride, dilation, groups),  # keeps x in
                             fold_windows, stride, dilation, groups)
    return (gx, gw, gb) if b else (gx, gw)


def _conv_jvp(t, out, x, w, *b, stride, dilation, groups, cache):
    from ._manipulation_functions import reshape
    r = None
    if t[0] is not None:
        r = conv(t[0], w, stride, dilation, groups)
    if t[1] is not None:
        s = conv(x, t[1], stride, dilation, groups)
        r = s if r is None else r + s
    if b and t[2] is not None:
        s = reshape(t[2], (w.shape[0],) + (1,) * (x.ndim - 2))
        r = s if r is None else r + s
    return r


def _conv_vjp_raw(B, edges, g, out, x, w, *b, stride, dilation, groups, cache):
    """``_conv_vjp`` on storage, reusing the forward's expanded input."""
    if "rows" in cache:
        return _conv_vjp_by_rows(B, edges, g, x, w, *b, stride=stride, dilation=dilation,
                                 rows=cache["rows"], batch_minor=cache["batch_minor"])
    needs = (edges[0] is not None, edges[1] is not None, bool(b) and edges[2] is not None)
    gx, gw, gb = _conv_grads(B, g, x, w, needs, lambda: cache["cols"], B.fold_windows, stride,
                             dilation, groups)
    return (gx, gw, gb) if b else (gx, gw)


def _conv_input_grad_by_rows(B, g_rows, w, x_shape, stride, dilation, rows_shape,
                             batch_minor):
    """Input gradient (storage) of ``_conv_fwd_by_rows`` from ``g_rows`` (H', O', M): one
    batched product gives the gradient of every row window, folded back over the first
    axis and then over the other axes, each fold in the layout of its source."""
    nd = len(x_shape) - 2
    n, c, h = x_shape[:3]
    kh, kr = w.shape[2], tuple(w.shape[3:])
    _, ck, m = rows_shape
    gv = B.matmul(B.matrix_transpose(_weight_rows(B, w, g_rows.shape[1])), g_rows)
    gv = B.reshape(gv, (gv.shape[0], kh, ck, m))  # -> windows (H', C*Kr, M, KH)
    gr = B.fold_windows(B.permute_dims(gv, (0, 2, 3, 1)), (h, ck, m), (0,), stride[:1], (1,))
    order = _to_rows_order(nd, batch_minor)
    if nd > 1:  # (H, C, *Kr, *M) -> windows (H, C, *M', *Kr) -> folded (H, C, *M)
        nr = nd - 1
        s = _out_rest(x_shape, w.shape, stride, dilation)
        m_win = tuple(s[a - 3] if a else n for a in order[2:])
        m_out = tuple(x_shape[a] for a in order[2:])
        s_at = tuple(2 + i for i, a in enumerate(order[2:]) if a)
        gr = B.reshape(gr, (h, c) + kr + m_win)
        gwin = B.permute_dims(gr, (0, 1) + tuple(range(2 + nr, 3 + 2 * nr))
                              + tuple(range(2, 2 + nr)))
        gr = B.fold_windows(gwin, (h, c) + m_out, s_at, stride[1:], dilation[1:])
    return B.permute_dims(gr, _inverse(order))


_conv_prim = Primitive("convolution", _conv_fwd, _conv_vjp, _conv_jvp, vjp_raw=_conv_vjp_raw,
                       saves_output=False)


def conv(x: Tensor, w: Tensor, stride=1, dilation=1, groups=1, bias=None) -> Tensor:
    """N-d cross-correlation without padding: ``x`` (N, C, *spatial), ``w``
    (O, C/groups, *kernel), optional ``bias`` (O,) of the same dtype -> (N, O, *out).
    Ungrouped convolutions undilated on the first spatial axis go by rows (one copy of the
    input expanded over the other axes, one batched product); the others by im2col (one
    copy, one product).  The VJP reuses that copy and skips the input gradient when the
    input does not require one."""
    nd = x.ndim - 2
    stride = _norm("conv", stride, nd, "stride")
    dilation = _norm("conv", dilation, nd, "dilation")
    _window_counts(x.shape, tuple(w.shape[2:]), tuple(range(2, 2 + nd)), stride, dilation, "conv")
    if bias is not None:
        return _conv_prim(x, w, bias, stride=stride, dilation=dilation, groups=groups, cache={})
    return _conv_prim(x, w, stride=stride, dilation=dilation, groups=groups, cache={})


# -- max pooling: running maximum over window positions (no window copy) ----------------
def _maxpool_fwd(B, x, *, window_shape, axes, strides, dilation, in_shape):
    import itertools
    win = _windows_fwd(B, x, window_shape=window_shape, axes=axes, strides=strides,
                       dilation=dilation, in_shape=None)
    best = None
    for pos in itertools.product(*[range(s) for s in window_shape]):
        v = win[(Ellipsis,) + pos]
        best = v if best is None else B.maximum(best, v)  # NaN propagates
    return B.asarray(best, copy=True) if _prod(window_shape) == 1 else best


def _first_max_mask(B, x, o, window_shape, axes, strides, dilation):
    """Constant (..., K) mask (storage) of the first maximum in each window (PyTorch's choice)."""
    import itertools
    win = _windows_fwd(B, x, window_shape=window_shape, axes=axes, strides=strides,
                       dilation=dilation, in_shape=None)
    found = None
    masks = []
    for pos in itertools.product(*[range(s) for s in window_shape]):
        m = win[(Ellipsis,) + pos] == o
        if found is None:
            found = m
        else:
            m = B.logical_and(m, B.logical_not(found))
            found = B.logical_or(found, m)
        masks.append(m)
    return B.astype(B.stack(masks, axis=-1), o.dtype)


def _first_max_hit(x, out, window_shape, axes, strides, dilation):
    """``_first_max_mask`` of two tensors, as a constant tensor."""
    hit = _first_max_mask(x._device._backend, x._data, out._data, window_shape, axes, strides,
                          dilation)
    return _new(hit, x._device)


def _maxpool_grad_disjoint(B, xd, od, gd, window_shape, axes):
    """Storage-level max-pool input gradient for non-overlapping windows (stride ==
    kernel, no dilation): for each window position, the cotangent goes where that
    position holds the window's first maximum, written straight into a strided slice."""
    import itertools
    counts = [od.shape[a] for a in axes]
    # in x's memory layout, as the layers around it; every element is written when the
    # windows tile x exactly
    tiled = all(c * k == xd.shape[a] for a, k, c in zip(axes, window_shape, counts))
    gx = (B.empty_like if tiled else B.zeros_like)(xd, dtype=gd.dtype)
    if B.batch_minor(od) and not B.batch_minor(gd):  # g in the same layout: 4x faster passes
        gd = B.assign_like(od, gd)
    positions = list(itertools.product(*[range(k) for k in window_shape]))
    # Finite g: the share of each position is ``rest * hit`` and the rest loses it
    # (g * mask is an order of magnitude faster than where(mask, g, 0) in NumPy); inf or
    # NaN in g must not leak into other positions, so that case selects with where.
    finite = _finite(B, gd)
    zero = None if finite else B.zeros((), dtype=gd.dtype, device=B.native_device)
    rest, found = gd, None
    for i, pos in enumerate(positions):
        key = [slice(None)] * xd.ndim
        for a, k, q, c in zip(axes, window_shape, pos, counts):
            key[a] = slice(q, q + k * (c - 1) + 1, k)
        key = tuple(key)
        hit = xd[key] == od
        last = i + 1 == len(positions)
        if finite:
            share = rest * B.astype(hit, gd.dtype)
            if not last:
                rest = rest - share
        else:
            if found is not None:
                hit = B.logical_and(hit, B.logical_not(found))
            found = hit if found is None else B.logical_or(found, hit)
            share = B.where(hit, gd, zero)
        B.assign(gx, key, share)
    return gx


def _finite(B, data):
    """Whether storage ``data`` holds only finite values, in one pass: an inf or a NaN makes
    the sum non-finite (a finite sum that overflows only costs the slower path)."""
    return math.isfinite(float(B.sum(data)))


def _finite_tensor(t):
    return _finite(t._device._backend, t._data)


def _keep(ns, g, mask, finite):
    """``g`` where the 0/1 ``mask`` is 1, else 0, in namespace ``ns``: ``g * mask`` when ``g``
    is finite (ten times faster than ``where`` in NumPy), ``where`` otherwise (inf * 0 is
    NaN, which must not reach the positions the mask drops)."""
    if finite:
        return g * mask
    return ns.where(mask != 0, g, ns.zeros_like(g))


def _to_first_max(ns, fold, g, hit, window_shape, axes, strides, dilation, in_shape, finite):
    """Cotangent ``g`` of each window sent to its first maximum (``hit``), folded back."""
    gwin = _keep(ns, ns.expand_dims(g, axis=-1), hit, finite)
    gwin = ns.reshape(gwin, tuple(g.shape) + tuple(window_shape))
    return fold(gwin, in_shape, axes, strides, dilation)


def _maxpool_vjp(g, out, x, *, window_shape, axes, strides, dilation, in_shape):
    from ._elementwise_functions import _T
    hit = _first_max_hit(x, out, window_shape, axes, strides, dilation)
    return (_to_first_max(_T, fold_windows, g, hit, window_shape, axes, strides, dilation,
                          in_shape, _finite_tensor(g)),)


def _maxpool_jvp(t, out, x, *, window_shape, axes, strides, dilation, in_shape):
    from ._elementwise_functions import _T
    from ._manipulation_functions import reshape
    from ._statistical_functions import sum as _sum
    hit = _first_max_hit(x, out, window_shape, axes, strides, dilation)
    tw = reshape(sliding_windows(t[0], window_shape, axes, strides, dilation),
                 out.shape + (_prod(window_shape),))
    return _sum(_keep(_T, tw, hit, _finite_tensor(tw)), axis=-1)


def _maxpool_vjp_raw(B, edges, g, out, x, *, window_shape, axes, strides, dilation, in_shape):
    if tuple(strides) == tuple(window_shape) and all(d == 1 for d in dilation):
        return (_maxpool_grad_disjoint(B, x, out, g, window_shape, axes),)
    hit = _first_max_mask(B, x, out, window_shape, axes, strides, dilation)
    return (_to_first_max(B, B.fold_windows, g, hit, window_shape, axes, strides, dilation,
                          in_shape, _finite(B, g)),)


_maxpool_prim = Primitive("max_pool", _maxpool_fwd, _maxpool_vjp, _maxpool_jvp,
                          vjp_raw=_maxpool_vjp_raw)


def max_pool(x: Tensor, window_shape, axes, strides, dilation) -> Tensor:
    """Maximum over sliding windows (shape ``x.shape`` with ``axes`` replaced by window
    counts); computed as a running maximum over window positions, so no window is
    copied.  The gradient goes to the first maximum of each window (as PyTorch)."""
    axes = tuple(a % x.ndim for a in axes)
    n = len(axes)
    window_shape = _norm("max_pool", window_shape, n, "window_shape")
    strides = _norm("max_pool", strides, n, "strides")
    dilation = _norm("max_pool", dilation, n, "dilation")
    _window_counts(x.shape, window_shape, axes, strides, dilation, "max_pool")
    return _maxpool_prim(x, window_shape=window_shape, axes=axes, strides=strides,
                         dilation=dilation, in_shape=x.shape)


# -- relu: one saved output, one select in the VJP -------------------------------------
def _relu_mask(ns, out):
    """1 where ``out > 0``, else 0, in ``out``'s dtype: ``g * mask`` is ten times faster
    than ``where(out > 0, g, 0)`` in NumPy."""
    return ns.astype(out > 0, out.dtype)


def _relu_vjp(g, out, x):
    from ._elementwise_functions import _T
    return (_keep(_T, g, _relu_mask(_T, out), _finite_tensor(g)),)


def _relu_jvp(t, out, x):
    from ._elementwise_functions import _T
    return _keep(_T, t[0], _relu_mask(_T, out), _finite_tensor(t[0]))


_relu_prim = Primitive("relu", lambda B, x: B.maximum(x, B.zeros((), dtype=x.dtype,
                                                                  device=B.native_device)),
                       _relu_vjp, _relu_jvp, saves_inputs=False,
                       vjp_raw=lambda B, e, g, out, x: (_keep(B, g, _relu_mask(B, out),
                                                              _finite(B, g)),))


def relu(x: Tensor) -> Tensor:
    """``max(x, 0)`` element-wise for real tensors; gradient 0 at 0 (as PyTorch)."""
    if x.dtype.kind not in "iuf":
        raise TypeError(f"relu: expected a real tensor, got {x.dtype}")
    return _relu_prim(x)


# -- linear: x @ w.T + b as one node ---------------------------------------------------
def _linear_fwd(B, x, w, *b):
    lead = x.shape[:-1]
    x2 = B.reshape(x, (-1, x.shape[-1])) if x.ndim != 2 else x
    out = B.matmul(x2, B.matrix_transpose(w))
    if b:
        out += b[0]
    return B.reshape(out, lead + (w.shape[0],)) if x.ndim != 2 else out


def _linear_grads(ns, needs, g, x, w, has_bias):
    """``(gx, gw, gb)`` of ``x @ w.T + b``, each when ``needs`` says so, in namespace ``ns``
    (arraylib's for the tensor rule, the backend for the storage rule)."""
    lead = x.shape[:-1]
    k, o = x.shape[-1], w.shape[0]
    gx = gw = gb = None
    g2 = ns.reshape(g, (-1, o)) if g.ndim != 2 else g
    if needs[0]:
        gx = ns.matmul(g2, w)
        gx = ns.reshape(gx, lead + (k,)) if x.ndim != 2 else gx
    if needs[1]:
        x2 = ns.reshape(x, (-1, k)) if x.ndim != 2 else x
        gw = ns.matmul(ns.matrix_transpose(g2), x2)
    if has_bias and needs[2]:
        gb = ns.sum(g2, axis=0)
    return (gx, gw, gb) if has_bias else (gx, gw)


def _linear_vjp(g, out, x, w, *b):
    from ._elementwise_functions import _T
    needs = (x._requires_grad, w._requires_grad, bool(b) and b[0]._requires_grad)
    return _linear_grads(_T, needs, g, x, w, bool(b))


def _linear_vjp_raw(B, edges, g, out, x, w, *b):
    return _linear_grads(B, [e is not None for e in edges], g, x, w, bool(b))


def _linear_jvp(t, out, x, w, *b):
    from ._linear_algebra_functions import matmul, matrix_transpose
    r = None
    if t[0] is not None:
        r = matmul(t[0], matrix_transpose(w))
    if t[1] is not None:
        s = matmul(x, matrix_transpose(t[1]))
        r = s if r is None else r + s
    if b and t[2] is not None:
        r = t[2] if r is None else r + t[2]
    return r


_linear_prim = Primitive("linear", _linear_fwd, _linear_vjp, _linear_jvp,
                         vjp_raw=_linear_vjp_raw, saves_output=False)


def linear(x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    """``x @ w.T + b`` as one node: ``x`` (..., in) real floating-point, ``w`` (out, in),
    ``b`` (out,) or None, all of one dtype and device (the caller checks this)."""
    if b is None:
        return _linear_prim(x, w)
    return _linear_prim(x, w, b)


# -- cross-entropy of logits and class indices: log-softmax + NLL as one node -----------
def _ce_fwd(B, x, t, *, ignore_index, reduction, cache):
    n, c = x.shape
    z = x - B.max(x, axis=1, keepdims=True)
    e = B.exp(z)
    s = B.sum(e, axis=1, keepdims=True)
    hit = B.expand_dims(t, axis=1) == B.arange(c, dtype=t.dtype, device=B.native_device)
    if 0 <= ignore_index < c:
        hit = B.logical_and(hit, B.expand_dims(t != ignore_index, axis=1))
    mask = B.astype(hit, x.dtype)
    counted = B.sum(mask)
    valid = None  # every row counted
    if int(counted) != n:  # some rows ignored (or out of bounds): 1 for counted rows, else 0
        if int(counted) + int(B.sum(B.astype(t == ignore_index, t.dtype))) != n:
            _target_out_of_bounds(B, t, c, ignore_index)
        valid = B.sum(mask, axis=1, keepdims=True)
    cache["e"], cache["s"], cache["mask"], cache["valid"] = e, s, mask, valid
    rows = mask * (B.log(s) - z)
    if reduction == "none":
        return B.sum(rows, axis=1)
    total = B.sum(rows)
    if reduction == "sum":
        return total
    cache["count"] = B.ensure_array(counted)
    return total / counted


def _target_out_of_bounds(B, t, c, ignore_index):
    host = B.to_numpy(t)
    bad = host[((host < 0) | (host >= c)) & (host != ignore_index)]
    raise IndexError(f"cross_entropy: target {int(bad[0])} is out of bounds for {c} classes "
                     f"(ignore_index={ignore_index})")


def _ce_scale(g, n, reduction):
    """The cotangent ``g`` spread over rows: (N, 1) or a scalar factor."""
    from ._manipulation_functions import expand_dims
    if reduction == "none":
        return expand_dims(g, axis=1)
    return g / n if reduction == "mean" else g


def _ce_vjp_raw(B, edges, g, out, x, t, *, ignore_index, reduction, cache):
    """First order on storage: the forward's softmax and masks reused."""
    if reduction == "none":
        g = B.expand_dims(g, axis=1)
    elif reduction == "mean":
        g = g / cache["count"]
    p = cache["e"] / cache["s"]
    if cache["valid"] is not None:
        p = p * cache["valid"]
    return (p - cache["mask"]) * g, None


def _ce_vjp(g, out, x, t, *, ignore_index, reduction, cache):
    dev = x._device
    p = _softmax(x)
    if cache["valid"] is not None:
        p = p * _new(cache["valid"], dev)
    n = _new(cache["count"], dev) if reduction == "mean" else None
    return (p - _new(cache["mask"], dev)) * _ce_scale(g, n, reduction), None


def _softmax(x):
    """Differentiable softmax over axis 1 (for higher-order rules)."""
    from ._elementwise_functions import exp
    from ._statistical_functions import max as _max, sum as _sum
    e = exp(x - _max(x.detach(), axis=1, keepdims=True))
    return e / _sum(e, axis=1, keepdims=True)


def _ce_jvp(tg, out, x, t, *, ignore_index, reduction, cache):
    from ._statistical_functions import sum as _sum
    dev = x._device
    tx = tg[0]
    mask = _new(cache["mask"], dev)
    valid = _sum(mask, axis=1)
    rows = valid * _sum(_softmax(x) * tx, axis=1) - _sum(mask * tx, axis=1)
    if reduction == "none":
        return rows
    if reduction == "sum":
        return _sum(rows)
    return _sum(rows) / _new(cache["count"], dev)


_ce_prim = Primitive("cross_entropy", _ce_fwd, _ce_vjp, _ce_jvp, vjp_raw=_ce_vjp_raw,
                     saves_output=False)


def cross_entropy(x: Tensor, t: Tensor, ignore_index=-100, reduction="mean") -> Tensor:
    """Cross-entropy of logits ``x`` (N, C) (real floating-point) with integer class
    indices ``t`` (N,) as one node; targets equal to ``ignore_index`` count for nothing,
    others outside ``[0, C)`` raise IndexError.  VJP: ``(softmax(x) - onehot(t)) * g`` (scaled by
    the number of counted targets for ``reduction="mean"``)."""
    return _ce_prim(x, t, ignore_index=int(ignore_index), reduction=reduction, cache={})
