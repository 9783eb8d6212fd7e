"""The helpers that ``nn.functional`` and its extension ``_functional_extra`` share: argument
tuples, dtype checks, the n-d convolution and pooling cores, loss reduction, in-place
writes and softmax.  It sits below both (they import it), so each concern has one place.
"""
from __future__ import annotations

import math

import arraylib as xp
from arraylib._nn_kernels import sliding_windows, pad_constant
from arraylib._nn_kernels import conv as _conv, max_pool as _max_pool_prim
from arraylib._nn_kernels import max_pool_cached as _max_pool_cached
from arraylib._nn_kernels import conv_cached as _conv_cached
from arraylib._nn_kernels import autocast_state as _autocast
from arraylib._nn_kernels import avg_pool_cached as _avg_pool_cached


# -- arguments ---------------------------------------------------------------------
def _tuple(value, n, func=None, what="value"):
    """``value`` (an int, or 1 or ``n`` ints) as ``n`` ints; ValueError naming ``func`` and
    the argument ``what`` where given."""
    if isinstance(value, (tuple, list)):
        if len(value) == 1:
            return (int(value[0]),) * n
        if len(value) != n:
            if func is None:
                raise ValueError(f"expected {n} values, got {tuple(value)}")
            raise ValueError(f"{func}: {what} must be an int or {n} ints, got {tuple(value)}")
        return tuple(int(v) for v in value)
    return (int(value),) * n


def _prod(values):
    n = 1
    for v in values:
        n *= v
    return n


def _batched(func, input, nd):
    """(input with a batch dim, whether it had one) for an (N, C, *nd) op."""
    if input.ndim == nd + 2:
        return input, True
    if input.ndim == nd + 1:
        return xp.expand_dims(input, axis=0), False
    raise ValueError(f"{func}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
                     f"got shape {tuple(input.shape)}")


def _check_same_dtype(func, input, weight, bias):
    """PyTorch's dtype-mismatch RuntimeError: a layer's input, weight and bias share one
    dtype (no promotion: a float64 input to a float32 layer is a bug in the caller)."""
    dts = [t.dtype for t in (input, weight, bias) if t is not None]
    if any(d != dts[0] for d in dts):
        names = ", ".join(f"{n} {t.dtype}" for n, t in
                          (("input", input), ("weight", weight), ("bias", bias)) if t is not None)
        raise RuntimeError(f"{func}: expected input, weight and bias of the same dtype, got "
                           f"{names}")


def _check_device(func, x, other, name):
    if other.device is not x.device and other.device != x.device:
        raise RuntimeError(f"{func}: expected {name} on the input's device '{x.device}', "
                           f"got '{other.device}'")


def _check_same_shape(func, input, target):
    _check_device(func, input, target, "target")
    if input.shape != target.shape:
        raise ValueError(f"{func}: target of shape {target.shape} must have the same shape as the "
                         f"input of shape {input.shape}")


# -- convolution -------------------------------------------------------------------
def _conv_padding(func, padding, kernel, dilation, stride):
    """Per-axis (before, after) padding; 'same' pads extra on the right as PyTorch."""
    nd = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding != "same":
            raise ValueError(f"{func}: invalid padding string {padding!r}, expected 'same' or "
                             "'valid'")
        if any(s != 1 for s in stride):
            raise ValueError(f"{func}: padding='same' is not supported for strided convolutions "
                             f"(stride {stride})")
        return tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                     for k, d in zip(kernel, dilation))
    return tuple((p, p) for p in _tuple(padding, nd, func, "padding"))


_CONV_ARGS: dict = {}  # (func, shapes, stride, padding, dilation, groups) -> checked args


def _conv_args(func, nd, input, weight, stride, padding, dilation, groups):
    """(whether batched, stride, dilation, padding pairs) of a convolution, checked;
    memoized per shapes and arguments (hashable ones: ints, tuples, strings)."""
    key = (func, tuple(input.shape), tuple(weight.shape), stride, padding, dilation, groups)
    try:
        hit = _CONV_ARGS.get(key)
    except TypeError:  # (a list argument: checked each time)
        key, hit = None, None
    if hit is not None:
        return hit
    x_shape = tuple(input.shape)
    if len(x_shape) not in (nd + 1, nd + 2):
        _batched(func, input, nd)  # (raises)
    batched = len(x_shape) == nd + 2
    if not batched:
        x_shape = (1,) + x_shape
    if weight.ndim != nd + 2:
        raise ValueError(f"{func}: expected a {nd + 2}-D weight, got shape {tuple(weight.shape)}")
    stride = _tuple(stride, nd, func, "stride")
    dilation = _tuple(dilation, nd, func, "dilation")
    kernel = tuple(weight.shape[2:])
    c, o = x_shape[1], weight.shape[0]
    if c != weight.shape[1] * groups or o % groups:
        raise ValueError(f"{func}: input of shape {tuple(input.shape)} (channels {c}) doesn't "
                         f"match weight of shape {tuple(weight.shape)} with groups={groups}")
    pads = _conv_padding(func, padding, kernel, dilation, stride)
    for n_in, (lo, hi), k, d in zip(x_shape[2:], pads, kernel, dilation):
        if n_in + lo + hi < d * (k - 1) + 1:
            raise ValueError(f"{func}: kernel size {kernel} (dilation {dilation}) can't be greater "
                             f"than the padded input size; input shape {tuple(input.shape)}, "
                             f"padding {pads}")
    hit = (batched, stride, dilation, pads if any(lo or hi for lo, hi in pads) else None)
    if key is not None:
        if len(_CONV_ARGS) >= 512:
            _CONV_ARGS.clear()
        _CONV_ARGS[key] = hit
    return hit


def _plain_conv(input, weight, bias, func, nd, stride, padding, dilation, groups):
    """(stride, dilation, groups) of a batched convolution that pads nothing and whose bias,
    if any, fuses into the kernel, else None (``_conv_nd``'s checks)."""
    dt = weight.dtype
    if input.dtype != dt or (bias is not None and bias.dtype != dt):
        _check_same_dtype(func, input, weight, bias)
    batched, stride, dilation, pads = _conv_args(func, nd, input, weight, stride, padding,
                                                 dilation, groups)
    if not batched or pads is not None or bias is not None and not _fuses(bias, weight):
        return None
    return stride, dilation, groups


def _fuses(bias, weight):
    """Whether the convolution kernel adds ``bias`` itself."""
    return tuple(bias.shape) == (weight.shape[0],) and bias.device == weight.device \
        and weight.dtype.kind == "f"


def _conv_nd(func, nd, input, weight, bias, stride, padding, dilation, groups):
    """n-d convolution (cross-correlation): padding, then the sliding-window kernel."""
    if _autocast.active:  # inside arraylib.autocast: inputs in its dtype
        input, weight, bias = _autocast.lower(input, weight, bias)
    else:
        out = _conv_cached(input, weight, bias, (func, nd, stride, padding, dilation, groups),
                           _plain_conv)
        if out is not None:
            return out
    dt = weight.dtype
    if input.dtype != dt or (bias is not None and bias.dtype != dt):
        _check_same_dtype(func, input, weight, bias)
    batched, stride, dilation, pads = _conv_args(func, nd, input, weight, stride, padding,
                                                 dilation, groups)
    x = input if batched else xp.expand_dims(input, axis=0)
    if pads is not None:
        x = pad_constant(x, ((0, 0), (0, 0)) + pads, 0)
    o = weight.shape[0]
    fuse = bias is not None and _fuses(bias, weight)
    out = _conv(x, weight, stride, dilation, groups, bias if fuse else None)
    if bias is not None and not fuse:
        out = out + xp.reshape(bias, (o,) + (1,) * nd)
    return out if batched else out[0]


# -- pooling -----------------------------------------------------------------------
def _pool_pads(func, spatial, kernel, stride, padding, dilation, ceil_mode):
    """Per-axis (before, after) padding whose windows give PyTorch's output sizes (floor
    division; with ``ceil_mode`` the last window may run past the input but must start in it)."""
    for what, vals, least in (("kernel_size", kernel, 1), ("stride", stride, 1),
                              ("dilation", dilation, 1), ("padding", padding, 0)):
        if any(v < least for v in vals):
            raise ValueError(f"{func}: {what} must be "
                             f"{'greater than zero' if least else 'non-negative'}, got {vals}")
    pads = []
    for n, k, s, p, d in zip(spatial, kernel, stride, padding, dilation):
        if p > k // 2:
            raise ValueError(f"{func}: padding {padding} should be at most half of the kernel "
                             f"size {kernel}")
        span = d * (k - 1) + 1
        out = (n + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (out - 1) * s >= n + p:  # the last window must start inside
            out -= 1
        if out < 1:
            raise ValueError(f"{func}: kernel {kernel} (dilation {dilation}) is too large for an "
                             f"input of spatial shape {tuple(spatial)} with padding {padding}")
        pads.append((p, max((out - 1) * s + span - n - p, 0)))
    return tuple(pads)


_POOL_ARGS: dict = {}  # (func, shape, kernel_size, stride, ...) -> checked arguments


def _pool_args(func, nd, input, kernel_size, stride, padding, dilation, ceil_mode):
    """(batched input, whether batched, kernel, stride, padding, dilation, pads) of a pool;
    the checks memoized per shape and (hashable) arguments."""
    key = (func, tuple(input.shape), kernel_size, stride, padding, dilation, ceil_mode)
    try:
        hit = _POOL_ARGS.get(key)
    except TypeError:  # (a list argument: checked each time)
        key, hit = None, None
    if hit is None:
        hit = _pool_args_checked(func, nd, input, kernel_size, stride, padding, dilation,
                                 ceil_mode)
        if key is not None:
            if len(_POOL_ARGS) >= 512:
                _POOL_ARGS.clear()
            _POOL_ARGS[key] = hit
    batched = hit[0]
    return (input if batched else xp.expand_dims(input, axis=0),) + hit


def _pool_args_checked(func, nd, input, kernel_size, stride, padding, dilation, ceil_mode):
    x, batched = _batched(func, input, nd)
    kernel = _tuple(kernel_size, nd, func, "kernel_size")
    stride = kernel if stride is None or (isinstance(stride, (tuple, list)) and not stride) \
        else _tuple(stride, nd, func, "stride")
    padding = _tuple(padding, nd, func, "padding")
    dilation = _tuple(dilation, nd, func, "dilation")
    pads = _pool_pads(func, x.shape[2:], kernel, stride, padding, dilation, ceil_mode)
    return batched, kernel, stride, padding, dilation, pads


def _out_positions(n, ax, nd, device):
    """Output positions 0..n-1 along spatial axis ``ax`` of ``nd``, shaped to broadcast."""
    return xp.reshape(xp.arange(n, dtype=xp.int64, device=device), (-1,) + (1,) * (nd - 1 - ax))


def _flat_index(arg, window_shape, coordinate, in_shape):
    """Flat index into the spatial ``in_shape`` of each window's argmax ``arg`` (a flat
    position in a window of ``window_shape``); ``coordinate(ax, kpos)`` is the input
    coordinate on spatial axis ``ax`` of window position ``kpos`` there."""
    index = xp.zeros(arg.shape, dtype=xp.int64, device=arg.device)
    rem = arg
    for ax in range(len(in_shape)):
        inner = _prod(window_shape[ax + 1:])
        kpos = rem // inner
        rem = rem - kpos * inner
        index = index * in_shape[ax] + coordinate(ax, kpos)
    return index


def _unpadded_max_pool(input, func, nd, kernel_size, stride, padding, dilation, ceil_mode):
    """``max_pool``'s (window_shape, axes, strides, dilation) for the last ``nd`` dims of a
    pool that pads nothing, else None (``_pool_args``' checks)."""
    _, _, kernel, stride, _, dilation, pads = _pool_args(
        func, nd, input, kernel_size, stride, padding, dilation, ceil_mode)
    if any(lo or hi for lo, hi in pads):
        return None
    return kernel, tuple(range(input.ndim - nd, input.ndim)), stride, dilation


def _max_pool_nd(func, nd, input, kernel_size, stride, padding, dilation, ceil_mode,
                 return_indices):
    """n-d max pooling (one kernel node); with ``return_indices`` also each maximum's flat
    spatial index in the input."""
    if not return_indices:
        out = _max_pool_cached(input, (func, nd, kernel_size, stride, padding, dilation,
                                       ceil_mode), _unpadded_max_pool)
        if out is not None:
            return out
    x, batched, kernel, stride, padding, dilation, pads = _pool_args(
        func, nd, input, kernel_size, stride, padding, dilation, ceil_mode)
    xpad = x if not any(lo or hi for lo, hi in pads) else \
        pad_constant(x, ((0, 0), (0, 0)) + pads, -math.inf)
    axes = tuple(range(2, 2 + nd))
    if not return_indices:
        out = _max_pool_prim(xpad, kernel, axes, stride, dilation)
        return out if batched else out[0]
    win = sliding_windows(xpad, kernel, axes, stride, dilation)
    flat = xp.reshape(win, tuple(win.shape[:2 + nd]) + (_prod(kernel),))
    out = xp.max(flat, axis=-1)
    with xp.no_grad():
        arg = xp.argmax(flat, axis=-1)

        def coordinate(ax, kpos):
            o = _out_positions(arg.shape[2 + ax], ax, nd, arg.device)
            return o * stride[ax] - padding[ax] + kpos * dilation[ax]
        index = _flat_index(arg, kernel, coordinate, tuple(x.shape[2:]))
    return (out, index) if batched else (out[0], index[0])


def _disjoint_avg_pool(input, nd, kernel_size, stride, padding, divisor_override):
    """(kernel, divisor) of an average pool over disjoint windows (stride = kernel, no
    padding) of an input of ``nd`` + 1 or 2 dims, else None."""
    if input.ndim in (nd + 1, nd + 2) and not any(_tuple(padding, nd)):
        kernel = _tuple(kernel_size, nd)
        if stride is None or _tuple(stride, nd) == kernel:
            return kernel, divisor_override or None
    return None


def _avg_pool_nd(func, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                 divisor_override):
    """n-d average pooling: disjoint windows (stride = kernel, no padding) as one node, else a
    box sum axis by axis, divided by each window's extent."""
    out = _avg_pool_cached(input, (nd, kernel_size, stride, padding, divisor_override),
                           _disjoint_avg_pool)
    if out is not None:
        return out
    x, batched, kernel, stride, padding, _, pads = _pool_args(
        func, nd, input, kernel_size, stride, padding, 1, ceil_mode)
    total = pad_constant(x, ((0, 0), (0, 0)) + pads, 0)
    for ax in range(nd):  # a box sum is a sum of 1-D window sums, axis by axis
        total = xp.sum(sliding_windows(total, (kernel[ax],), (2 + ax,), (stride[ax],)), axis=-1)
    if divisor_override:
        out = total / divisor_override
    elif not any(padding) and not ceil_mode:
        out = total / _prod(kernel)
    else:  # each window's extent, clipped to the padded (count_include_pad) or the real input
        div = None
        for ax in range(nd):
            n = x.shape[2 + ax]
            o = xp.arange(total.shape[2 + ax], dtype=xp.int64, device=x.device) * stride[ax] \
                - padding[ax]
            hi = xp.clip(o + kernel[ax], None, n + padding[ax])
            if not count_include_pad:
                o, hi = xp.clip(o, 0, None), xp.clip(hi, None, n)
            cnt = xp.reshape(hi - o, (-1,) + (1,) * (nd - 1 - ax))
            div = cnt if div is None else div * cnt
        out = total / xp.astype(div, total.dtype)
    return out if batched else out[0]


# -- losses ------------------------------------------------------------------------
def _reduction(func, size_average, reduce, reduction):
    """PyTorch's legacy ``size_average``/``reduce`` arguments folded into ``reduction``."""
    if size_average is not None or reduce is not None:
        if reduce is False:
            return "none"
        return "sum" if size_average is False else "mean"
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{func}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    return reduction


def _reduce(loss, reduction, func):
    """``loss`` reduced by ``reduction`` ('mean', 'sum', 'none'); ValueError naming ``func``."""
    if reduction == "mean":
        return xp.mean(loss)
    if reduction == "sum":
        return xp.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{func}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


# -- in-place forms, softmax -------------------------------------------------------
def _in_place(func, input, compute, saves_input=True):
    """Write ``compute(input)`` into ``input`` and return ``input`` (PyTorch's
    ``inplace=True``), through the public in-place update, so the version counter moves and
    autograd records the write.  When autograd records and ``compute`` saves its operand,
    it runs on a clone: the saved operand is never the tensor overwritten."""
    if input.requires_grad and xp.is_grad_enabled():
        if input.is_leaf:
            raise RuntimeError(f"{func}: a leaf tensor that requires grad is being used in an "
                               "in-place operation")
        result = compute(input.clone() if saves_input else input)
    else:
        result = compute(input)
    if result.dtype != input.dtype:
        result = xp.astype(result, input.dtype)
    input.copy_(result)
    return input


def _maybe_in_place(func, input, inplace, compute):
    return _in_place(func, input, compute) if inplace else compute(input)


def _softmax_dim(ndim):
    """PyTorch's implicit softmax dim (deprecated there, kept for old callers)."""
    return 0 if ndim in (0, 1, 3) else 1


def _softmax(input, dim):
    """``exp(x) / sum(exp(x))`` along ``dim`` (``None``: the implicit dim), max-shifted."""
    if dim is None:
        dim = _softmax_dim(input.ndim)
    if input.ndim == 0:
        return input / input
    if input.shape[dim] == 0:  # an empty axis: an empty result (the maximum has no value)
        return input - input
    return xp.softmax(input, dim)  # (one node)
