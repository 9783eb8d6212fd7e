"""Creation functions (spec chapter "Creation Functions"), device transfer, copies."""
from __future__ import annotations

import builtins

from . import _dtypes
from ._devices import Device, as_device
from ._primitive import Primitive, apply
from ._tensor import Tensor, _new

__all__ = ["asarray", "tensor", "zeros", "ones", "full", "empty", "zeros_like", "ones_like",
           "full_like", "empty_like"]


def _python_dtype(obj):
    """Default dtype for nested Python scalars: bool < int64 < float32 < complex64."""
    rank = 0
    stack = [obj]
    while stack:
        o = stack.pop()
        t = type(o)
        if t is bool:
            continue
        if t is int:
            rank = builtins.max(rank, 1)
        elif t is float:
            rank = builtins.max(rank, 2)
        elif t is complex:
            rank = 3
        elif t in (list, tuple):
            stack.extend(o)
        elif isinstance(o, Tensor):
            return None  # mixed with tensors: let the backend decide
        else:
            return None
    return (_dtypes.bool, _dtypes.default_int, _dtypes.default_float, _dtypes.default_complex)[rank]


def _unwrap_nested(obj):
    """Replace tensors inside nested sequences by Python scalars."""
    if isinstance(obj, Tensor):
        return obj.item() if obj.ndim == 0 else [_unwrap_nested(o) for o in obj]
    if isinstance(obj, (list, tuple)):
        return [_unwrap_nested(o) for o in obj]
    return obj


def asarray(obj, /, *, dtype=None, device=None, copy=None, requires_grad=False) -> Tensor:
    """Convert ``obj`` (tensor, Python scalar or nested sequence, buffer, NumPy or DLPack
    array) to a tensor.  Python floats become float32 and ints int64 (PyTorch's
    defaults); arrays keep their dtype."""
    if dtype is not None:
        dtype = _dtypes.as_dtype(dtype, func="asarray")
    if isinstance(obj, Tensor):
        out = _from_tensor(obj, dtype, device, copy)
    else:
        dev = as_device(device)
        B = dev.backend
        if isinstance(obj, (list, tuple)) or type(obj) in (bool, int, float, complex):
            if dtype is None:
                dtype = _python_dtype(obj)
            if copy is False:
                raise ValueError("asarray: copy=False is impossible for a Python scalar or sequence")
            obj = _unwrap_nested(obj)
            _check_python_range(obj, dtype)
        if dtype is not None and dtype not in B.supported_dtypes():
            raise TypeError(f"asarray: dtype {dtype} is not supported on device '{dev}'")
        try:
            data = B.asarray(obj, dtype=dtype, copy=copy)
        except (TypeError, ValueError, OverflowError) as e:
            raise type(e)(f"asarray: can't convert {type(obj).__name__} to a tensor: {e}") from None
        out = _new(B.ensure_array(data), dev)
        if out.dtype not in _dtypes.all_dtypes:
            raise TypeError(f"asarray: unsupported dtype {out.dtype} of the input")
    if requires_grad:
        out.requires_grad_(True)
    return out


def _check_python_range(obj, dtype):
    if dtype is None or dtype.kind not in "iu":
        return
    lo, hi = (0, 2 ** (8 * dtype.itemsize) - 1) if dtype.kind == "u" else (
        -(2 ** (8 * dtype.itemsize - 1)), 2 ** (8 * dtype.itemsize - 1) - 1)
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, list):
            stack.extend(o)
        elif type(o) is int and not lo <= o <= hi:
            raise OverflowError(f"asarray: Python int {o} is out of bounds for {dtype}")


def _from_tensor(x: Tensor, dtype, device, copy) -> Tensor:
    out = x
    if device is not None and Device(device) is not x._device:
        if copy is False:
            raise ValueError(f"asarray: copy=False but the tensor is on '{x._device}', not '{device}'")
        out = to_device(out, device)
        copy = False
    if dtype is not None and dtype != out.dtype:
        if copy is False:
            raise ValueError(f"asarray: copy=False but dtype {out.dtype} differs from {dtype}")
        from ._data_type_functions import astype
        return astype(out, dtype)
    if copy:
        return _copy_tensor(out)
    return out


def tensor(data, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """PyTorch's ``torch.tensor``: always a copy."""
    return asarray(data, dtype=dtype, device=device, copy=True, requires_grad=requires_grad)


def _shape_tuple(func, shape):
    if isinstance(shape, int) or hasattr(shape, "__index__") and not isinstance(shape, (tuple, list)):
        shape = (shape,)
    try:
        shape = tuple(int(s.__index__()) for s in shape)
    except (TypeError, AttributeError):
        raise TypeError(f"{func}: shape must be an int or a sequence of ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"{func}: negative dimensions are not allowed, got shape {shape}")
    return shape


def _factory(func, shape, dtype, device, default, requires_grad, make):
    dev = as_device(device)
    dtype = default if dtype is None else _dtypes.as_dtype(dtype, func=func)
    B = dev.backend
    if dtype not in B.supported_dtypes():
        raise TypeError(f"{func}: dtype {dtype} is not supported on device '{dev}'")
    out = _new(make(B, _shape_tuple(func, shape), B.native_dtype(dtype)), dev)
    if requires_grad:
        out.requires_grad_(True)
    return out


def _shape_args(shape):
    """Accept ``zeros(2, 3)`` as well as ``zeros((2, 3))`` (PyTorch style)."""
    if len(shape) == 1:
        return shape[0]
    return shape


def zeros(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _factory("zeros", _shape_args(shape), dtype, device, _dtypes.default_float, requires_grad,
                    lambda B, s, d: B.zeros(s, dtype=d, device=B.native_device))


def ones(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _factory("ones", _shape_args(shape), dtype, device, _dtypes.default_float, requires_grad,
                    lambda B, s, d: B.ones(s, dtype=d, device=B.native_device))


def empty(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _factory("empty", _shape_args(shape), dtype, device, _dtypes.default_float, requires_grad,
                    lambda B, s, d: B.empty(s, dtype=d, device=B.native_device))


def _fill_dtype(fill_value):
    if isinstance(fill_value, Tensor):
        return fill_value.dtype
    return _python_dtype(fill_value)


def full(shape, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    if type(fill_value) not in (bool, int, float, complex):
        raise TypeError(f"full: fill_value must be a Python scalar, got {type(fill_value).__name__}")
    dt = _fill_dtype(fill_value) if dtype is None else _dtypes.as_dtype(dtype, func="full")
    _check_python_range(fill_value, dt)
    return _factory("full", shape, dt, device, dt, requires_grad,
                    lambda B, s, d: B.full(s, fill_value, dtype=d, device=B.native_device))


def _like(func, maker, x, dtype, device, requires_grad, *extra):
    if not isinstance(x, Tensor):
        raise TypeError(f"{func}: expected a Tensor, got {type(x).__name__}")
    dtype = x.dtype if dtype is None else dtype
    device = x._device if device is None else device
    return maker(x.shape, *extra, dtype=dtype, device=device, requires_grad=requires_grad)


def zeros_like(x, /, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like("zeros_like", zeros, x, dtype, device, requires_grad)


def ones_like(x, /, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like("ones_like", ones, x, dtype, device, requires_grad)


def empty_like(x, /, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like("empty_like", empty, x, dtype, device, requires_grad)


def full_like(x, /, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    if dtype is None and isinstance(x, Tensor):
        dtype = x.dtype
        if type(fill_value) is float and dtype.kind in "biu":
            raise TypeError(f"full_like: float fill_value {fill_value} for a tensor of dtype {dtype}")
        if type(fill_value) is complex and dtype.kind != "c":
            raise TypeError(f"full_like: complex fill_value for a tensor of dtype {dtype}")
    return _like("full_like", full, x, dtype, device, requires_grad, fill_value)


# -- copies and devices ----------------------------------------------------------
_copy_prim = Primitive("clone", lambda B, x: B.asarray(x, copy=True),
                       vjp=lambda g, out, x: (g,), jvp=lambda t, out, x: t[0],
                       saves_inputs=False, saves_output=False)


def _copy_tensor(x: Tensor) -> Tensor:
    """A differentiable copy with its own storage."""
    return apply(_copy_prim, (x,))


def _transfer(B, x, *, src, dst):
    if src is dst:
        return x
    return dst.backend.from_numpy(src.backend.to_numpy(x))


def _to_device_vjp(g, out, x, *, src, dst):
    return (to_device(g, src),)


def _to_device_jvp(t, out, x, *, src, dst):
    return to_device(t[0], dst)


_to_device_prim = Primitive("to_device", _transfer, vjp=_to_device_vjp, jvp=_to_device_jvp,
                            saves_inputs=False, saves_output=False)


def to_device(x: Tensor, device, /, *, stream=None) -> Tensor:
    """``x`` on ``device`` (``x`` itself if already there); differentiable across devices."""
    dst = Device(device)
    if dst is x._device:
        return x
    dst.backend  # noqa: B018 - fail early for an unavailable device
    if x.dtype not in dst.backend.supported_dtypes():
        raise TypeError(f"to_device: dtype {x.dtype} is not supported on device '{dst}'")
    from ._primitive import finish
    out = _new(_transfer(None, x._data, src=x._device, dst=dst), dst)
    return finish(_to_device_prim, (x,), out, {"src": x._device, "dst": dst})


def tensor_to(x: Tensor, *args, **kwargs) -> Tensor:
    """PyTorch's ``Tensor.to``: a device, a dtype, both, or another tensor."""
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"Tensor.to: unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a._device, a.dtype
        elif isinstance(a, (str, Device)):
            device = a
        elif a is not None:
            dtype = a
    out = x
    if device is not None:
        out = to_device(out, device)
    if dtype is not None:
        from ._data_type_functions import astype
        out = astype(out, _dtypes.as_dtype(dtype, func="Tensor.to"))
    if copy and out is x:
        out = _copy_tensor(x)
    return out


def _rebuild(array, device_name, requires_grad):
    """Unpickling: rebuild a tensor from a host array."""
    dev = Device(device_name)
    out = _new(dev.backend.from_numpy(array), dev)
    if requires_grad:
        out.requires_grad_(True)
    return out
