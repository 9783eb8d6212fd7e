"""Creation functions (spec chapter "Creation Functions"), device transfer, copies."""
from __future__ import annotations

import builtins
import math
import operator

from ._core import _batching as _vb
from . import _dtypes
from ._core._devices import CPU, Device, as_device
from ._core._primitive import Primitive, apply1, linear_jvp
from ._core._cast import copy as _copy_tensor, transfer
from ._core._promotion import integer_range
from ._core._tensor import Tensor, _new
from ._data_type_functions import astype
from ._manipulation_functions import broadcast_to, reshape
from ._validation import check_allocation

__all__ = ["asarray", "tensor", "zeros", "ones", "full", "empty", "zeros_like", "ones_like",
           "full_like", "empty_like", "arange", "linspace", "eye", "meshgrid", "tril", "triu",
           "from_dlpack"]


def _python_dtype(obj):
    """Default dtype for nested Python scalars: bool < int64 < default float < default
    complex; the default float for empty sequences.

    Tensors inside the nest (0-d tensors in a list) contribute their dtype, and the
    Python scalars next to them follow the standard's scalar rules.  None when the
    nest holds anything else (NumPy scalars...): the backend decides."""
    rank = -1
    tdt = None
    stack = [obj]
    while stack:
        o = stack.pop()
        t = type(o)
        if t is bool:
            rank = builtins.max(rank, 0)
        elif t is int:
            rank = builtins.max(rank, 1)
        elif t is float:
            rank = builtins.max(rank, 2)
        elif t is complex:
            rank = 3
        elif t in (list, tuple):
            stack.extend(o)
        elif isinstance(o, Tensor):
            tdt = o.dtype if tdt is None else _dtypes.result_type_of(tdt, o.dtype, func="asarray")
        else:
            return None
    if tdt is not None:
        if rank >= 0:
            tdt = _dtypes.scalar_dtype_for((False, 0, 0.0, 0j)[rank], tdt)
        return tdt
    if rank < 0:  # empty sequences ([], [[], []]) take the default float, as NumPy's
        return _dtypes.default_float
    return (_dtypes.bool, _dtypes.default_int, _dtypes.default_float,
            _dtypes.default_complex)[rank]


def _unwrap_nested(obj):
    """Replace tensors inside nested sequences by Python scalars."""
    if isinstance(obj, Tensor):
        return obj.item() if obj.ndim == 0 else [_unwrap_nested(o) for o in obj]
    if isinstance(obj, (list, tuple)):
        return [_unwrap_nested(o) for o in obj]
    return obj


def asarray(obj, /, *, dtype=None, device=None, copy=None, requires_grad=False) -> Tensor:
    """Convert ``obj`` (tensor, Python scalar or nested sequence, buffer, NumPy or DLPack
    array) to a tensor.  Python floats become the default float (float32 unless
    ``set_default_dtype`` says otherwise) and ints int64; arrays keep their dtype."""
    if dtype is not None:
        dtype = _dtypes.as_dtype(dtype, func="asarray")
    if isinstance(obj, Tensor):
        out = _from_tensor(obj, dtype, device, copy)
    elif copy is False and hasattr(obj, "__dlpack__") and not hasattr(obj, "__array_interface__"):
        # a foreign array (a PyTorch or CuPy tensor...): shared through DLPack, as the
        # array-API standard says, instead of NumPy's __array__ (which may copy)
        out = _import_dlpack("asarray", obj, device, False)
        if dtype is not None and out.dtype != dtype:
            raise ValueError(f"asarray: copy=False but dtype {out.dtype} of the "
                             f"{type(obj).__name__} differs from {dtype}")
    else:
        dev = as_device(device)
        B = dev.backend
        if isinstance(obj, (list, tuple)) or type(obj) in (bool, int, float, complex):
            if dtype is None:
                dtype = _dtypes.default_on(_python_dtype(obj), B.supported_dtypes())
            if copy is False:
                raise ValueError("asarray: copy=False is impossible for a Python scalar or sequence")
            obj = _unwrap_nested(obj)
            _check_python_range(obj, dtype)
        if dtype is not None and dtype not in B.supported_dtypes():
            raise TypeError(f"asarray: dtype {dtype} is not supported on device '{dev}'")
        try:
            if B.host or isinstance(obj, (B.array_type, list, tuple, bool, int, float, complex)):
                data = B.asarray(obj, dtype=dtype, copy=copy)
            else:  # buffers, NumPy and foreign arrays: read on the host, then transfer
                if copy is False:
                    raise ValueError(f"copy=False but the object must be copied to device '{dev}'")
                data = B.from_numpy(CPU.backend.asarray(obj, dtype=dtype, copy=None))
        except (TypeError, ValueError, OverflowError) as e:
            if copy is False and isinstance(e, ValueError):
                raise ValueError(f"asarray: copy=False but {type(obj).__name__} can't be used "
                                 f"without a copy (dtype {dtype}, device '{dev}')") from None
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
    lo, hi = integer_range(dtype)
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
        copy = None  # the transfer made a copy already
    if dtype is not None and dtype != out.dtype:
        if copy is False:
            raise ValueError(f"asarray: copy=False but dtype {out.dtype} differs from {dtype}")
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


# A factory's checked (shape, native dtype) for (func, shape, dtype, default, device) when
# the shape is an int or a tuple of ints: checked once, then reused.
_CHECKED: dict = {}


def _checked_key(func, shape, dtype, default, dev):
    c = shape.__class__
    if c is tuple:
        for s in shape:
            if s.__class__ is not int:
                return None
    elif c is not int:
        return None
    return func, shape, dtype, default, dev


def _factory(func, shape, dtype, device, default, requires_grad, make):
    dev = as_device(device)
    try:
        key = _checked_key(func, shape, dtype, default, dev)
        checked = _CHECKED.get(key)
    except TypeError:  # an unhashable dtype argument: the checks below name it
        key = checked = None
    if checked is not None and not requires_grad:
        B = dev._backend
        try:
            return _new(make(B, checked[0], checked[1]), dev)
        except MemoryError:
            pass  # (the message below)
    B = dev.backend
    dtype = _dtypes.default_on(default, B.supported_dtypes()) if dtype is None else \
        _dtypes.as_dtype(dtype, func=func)
    if dtype not in B.supported_dtypes():
        raise TypeError(f"{func}: dtype {dtype} is not supported on device '{dev}'")
    shape = _shape_tuple(func, shape)
    check_allocation(func, shape, dtype)
    if key is not None:
        if len(_CHECKED) >= 4096:
            _CHECKED.clear()
        _CHECKED[key] = (shape, B.native_dtype(dtype))
    try:
        data = make(B, shape, B.native_dtype(dtype))
    except MemoryError:
        raise MemoryError(f"{func}: out of memory allocating a tensor of shape {shape} and "
                          f"dtype {dtype} on device '{dev}'") from None
    out = _new(data, dev)
    if requires_grad:
        out.requires_grad_(True)
    return out


def _shape_args(shape, more):
    """Accept ``zeros((2, 3))`` (the standard) and ``zeros(2, 3)`` (PyTorch)."""
    return (shape,) + more if more else shape


def zeros(shape, *more, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of the given shape (zeros); ``zeros((2, 3))`` or ``zeros(2, 3)``."""
    return _factory("zeros", _shape_args(shape, more), dtype, device, _dtypes.default_float,
                    requires_grad, lambda B, s, d: B.zeros(s, dtype=d, device=B.native_device))


def ones(shape, *more, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of the given shape (ones); ``ones((2, 3))`` or ``ones(2, 3)``."""
    return _factory("ones", _shape_args(shape, more), dtype, device, _dtypes.default_float,
                    requires_grad, lambda B, s, d: B.ones(s, dtype=d, device=B.native_device))


def empty(shape, *more, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of the given shape (empty); ``empty((2, 3))`` or ``empty(2, 3)``."""
    return _factory("empty", _shape_args(shape, more), dtype, device, _dtypes.default_float,
                    requires_grad, lambda B, s, d: B.empty(s, dtype=d, device=B.native_device))


def _fill_dtype(fill_value):
    if isinstance(fill_value, Tensor):
        return fill_value.dtype
    return _python_dtype(fill_value)


# full's checked calls: (shape, fill type, dtype, device) -> (shape, dtype, native dtype,
# Device) for an int or int-tuple shape and a Python bool, int or float fill (the fill's
# type is part of the key: 1, 1.0 and True hash alike); an int fill's range is checked
# on every call (it depends on the value).
_FULL: dict = {}
_FILL_TYPES = (bool, int, float)


def full(shape, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    c = fill_value.__class__
    if (c is float or c is int or c is bool) and not requires_grad:
        try:
            hit = _FULL.get((shape, c, dtype, device))
        except TypeError:  # (an unhashable argument: the checks below name it)
            hit = None
        if hit is not None:
            s, dt, nd, dev = hit
            if c is int:
                _check_python_range(fill_value, dt)
            B = dev._backend
            return _new(B.full(s, fill_value, dtype=nd, device=B.native_device), dev)
    out = _full_checked(shape, fill_value, dtype, device, requires_grad)
    if c in _FILL_TYPES and not requires_grad and _checked_key("full", shape, None, None, None):
        try:
            key = (shape, c, dtype, device)
            hash(key)
        except TypeError:
            return out
        if len(_FULL) >= 1024:
            _FULL.clear()
        dev = out._device
        _FULL[key] = (out.shape, out.dtype, dev._backend.native_dtype(out.dtype), dev)
    return out


def _full_checked(shape, fill_value, dtype, device, requires_grad):
    if isinstance(fill_value, Tensor):
        if fill_value.size != 1:
            raise TypeError(f"full: fill_value must be a Python scalar or a one-element tensor, "
                            f"got a tensor of shape {fill_value.shape}")
        fill_value = fill_value.item()
    if isinstance(fill_value, int) and type(fill_value) is not bool:
        fill_value = int(fill_value)  # an int subclass (x.size) is its value
    if type(fill_value) not in (bool, int, float, complex):
        raise TypeError(f"full: fill_value must be a Python scalar, got {type(fill_value).__name__}")
    dt = _fill_dtype(fill_value) if dtype is None else _dtypes.as_dtype(dtype, func="full")
    _check_python_range(fill_value, dt)
    return _factory("full", shape, dt, device, dt, requires_grad,
                    lambda B, s, d: B.full(s, fill_value, dtype=d, device=B.native_device))


# (zeros/ones/empty)_like of a plain tensor in its own dtype and device: the storage's shape
# and dtype are already checked, so one backend call
_LIKE_STORAGE = {
    "zeros_like": lambda B, s, d: B.zeros(s, dtype=d, device=B.native_device),
    "ones_like": lambda B, s, d: B.ones(s, dtype=d, device=B.native_device),
    "empty_like": lambda B, s, d: B.empty(s, dtype=d, device=B.native_device),
}


def _like(func, maker, x, dtype, device, requires_grad, *extra):
    if x.__class__ is Tensor and dtype is None and device is None and not requires_grad \
            and not extra:
        d, dev = x._data, x._device
        return _new(_LIKE_STORAGE[func](dev._backend, d.shape, d.dtype), dev)
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
    if x.__class__ is Tensor and dtype is None and device is None and not requires_grad \
            and fill_value.__class__ in _NUMBER_TYPES and x.dtype.kind == "f":
        d, dev = x._data, x._device  # (a float tensor takes any Python int or float)
        B = dev._backend
        return _new(B.full(d.shape, fill_value, dtype=d.dtype, device=B.native_device), dev)
    if dtype is None and isinstance(x, Tensor):
        dtype = x.dtype
        if type(fill_value) is float and dtype.kind in "biu":
            raise TypeError(f"full_like: float fill_value {fill_value} for a tensor of dtype {dtype}")
        if type(fill_value) is complex and dtype.kind != "c":
            raise TypeError(f"full_like: complex fill_value for a tensor of dtype {dtype}")
    return _like("full_like", full, x, dtype, device, requires_grad, fill_value)


# -- copies and devices ----------------------------------------------------------
def to_device(x: Tensor, device, /, *, stream=None) -> Tensor:
    """``x`` on ``device`` (``x`` itself if already there); differentiable across devices."""
    return transfer(x, device)


def tensor_to(x: Tensor, *args, **kwargs) -> Tensor:
    """PyTorch's ``Tensor.to``: a device, a dtype, both, or another tensor."""
    if not kwargs and len(args) == 1 and _dtypes.native_to_dtype(id(args[0])) is args[0]:
        return astype(x, args[0])  # x.to(dtype), an arraylib dtype: nothing to sort out
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


# -- ranges, grids, triangles ----------------------------------------------------------
def _check_number(func, name, v):
    if isinstance(v, Tensor):
        if v.size != 1:
            raise TypeError(f"{func}: {name} must be a Python number or a one-element tensor, "
                            f"got a tensor of shape {v.shape}")
        v = v.item()
    if type(v) not in (int, float, bool, complex):
        if hasattr(v, "item") and not hasattr(v, "__len__"):  # NumPy scalars
            v = v.item()
        else:
            raise TypeError(f"{func}: {name} must be a Python number, got {type(v).__name__}")
    return v


_ARANGE: dict = {}  # (types and values of the int/float arguments, dtype, device) -> (n, dtype)
_NUMBER_TYPES = (int, float)


def _arange_key(start, stop, step, dtype, device):
    """The memo key of an ``arange`` call whose numbers are all Python ints or floats (the
    types are part of it: 1, 1.0 and True hash alike), else None."""
    if start.__class__ in _NUMBER_TYPES and stop.__class__ in _NUMBER_TYPES + (type(None),) \
            and step.__class__ in _NUMBER_TYPES:
        return (start.__class__, start, stop.__class__, stop, step.__class__, step, dtype, device)
    return None


def arange(start, /, stop=None, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``ceil((stop - start) / step)`` evenly spaced values from ``start``; ``arange(n)``
    counts from 0.  Integer arguments give int64, any float argument float32."""
    try:
        key = _arange_key(start, stop, step, dtype, device)
        hit = _ARANGE.get(key)
    except TypeError:  # (an unhashable dtype or device: the checks below name it)
        key = hit = None
    if hit is not None:
        if stop is None:
            start, stop = 0, start
        n, dt = hit

        def make(B, shape, nd):
            return B.arange(start, stop, step, dtype=nd, device=B.native_device)
        return _factory("arange", (n,), dt, device, dt, requires_grad, make)
    out = _arange_checked(start, stop, step, dtype, device, requires_grad)
    if key is not None:
        if len(_ARANGE) >= 1024:
            _ARANGE.clear()
        _ARANGE[key] = (out.shape[0], out.dtype)
    return out


def _arange_checked(start, stop, step, dtype, device, requires_grad):
    start = _check_number("arange", "start", start)
    step = _check_number("arange", "step", step)
    if stop is None:
        start, stop = 0, start
    stop = _check_number("arange", "stop", stop)
    for v in (start, stop, step):
        if type(v) is complex:
            raise TypeError("arange: complex arguments are not supported")
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise ValueError(f"arange: unsupported range {start} -> {stop} with step {step} "
                         "(start, stop and step must be finite)")
    if dtype is None:
        dtype = _dtypes.default_float if float in (type(start), type(stop), type(step)) \
            else _dtypes.default_int
        dtype = _dtypes.default_on(dtype, as_device(device).backend.supported_dtypes())
    else:
        dtype = _dtypes.as_dtype(dtype, func="arange")
    n = math.ceil((stop - start) / step)
    n = builtins.max(n, 0)
    if dtype.kind in "iu" and n:
        _check_python_range([int(start), int(start + (n - 1) * step)], dtype)

    def make(B, shape, nd):
        return B.arange(start, stop, step, dtype=nd, device=B.native_device)
    return _factory("arange", (n,), dtype, device, dtype, requires_grad, make)


def linspace(start, stop, /, num, *, dtype=None, device=None, endpoint=True,
             requires_grad=False) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop`` (included if ``endpoint``);
    complex endpoints give the default complex dtype, else the default float.  An integer
    ``dtype`` gives NumPy's values (computed in floating point, rounded down)."""
    start = _check_number("linspace", "start", start)
    stop = _check_number("linspace", "stop", stop)
    try:
        num = operator.index(num)
    except TypeError:
        raise TypeError(f"linspace: num must be an int, got {type(num).__name__}") from None
    if num < 0:
        raise ValueError(f"linspace: num must be non-negative, got {num}")
    is_complex = complex in (type(start), type(stop))
    if dtype is None:
        dtype = _dtypes.default_complex if is_complex else _dtypes.default_float
        dtype = _dtypes.default_on(dtype, as_device(device).backend.supported_dtypes())
    else:
        dtype = _dtypes.as_dtype(dtype, func="linspace")
        if dtype.kind == "b":
            raise TypeError(f"linspace: dtype must be numeric, got {dtype}")
        if is_complex and dtype.kind != "c":
            raise TypeError(f"linspace: complex start/stop need a complex dtype, got {dtype}")
    if dtype.kind in "iu":
        lo, hi = integer_range(dtype)
        if not (lo <= start <= hi and lo <= stop <= hi):
            raise OverflowError(f"linspace: start {start} or stop {stop} is out of bounds "
                                f"for {dtype}")

    def make(B, shape, nd):
        if dtype.kind not in "iu":
            return B.linspace(start, stop, num, dtype=nd, device=B.native_device,
                              endpoint=builtins.bool(endpoint))
        # integers as NumPy's: computed in floating point, then rounded down
        wide = _dtypes.float64 if _dtypes.float64 in B.supported_dtypes() else _dtypes.float32
        y = B.linspace(float(start), float(stop), num, dtype=B.native_dtype(wide),
                       device=B.native_device, endpoint=builtins.bool(endpoint))
        return B.astype(B.floor(y), nd)
    return _factory("linspace", (num,), dtype, device, dtype, requires_grad, make)


def eye(n_rows, n_cols=None, /, *, k=0, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A 2-D tensor with ones on the ``k``-th diagonal and zeros elsewhere."""
    try:
        n_rows = operator.index(n_rows)
        n_cols = n_rows if n_cols is None else operator.index(n_cols)
        k = operator.index(k)
    except TypeError:
        raise TypeError("eye: n_rows, n_cols and k must be ints") from None
    return _factory("eye", (n_rows, n_cols), dtype, device, _dtypes.default_float, requires_grad,
                    _eye_maker(k))


_EYE_MAKERS: dict = {}  # k -> eye's storage maker (one per diagonal: no closure per call)


def _eye_maker(k):
    make = _EYE_MAKERS.get(k)
    if make is None:
        def make(B, s, d):
            return B.eye(s[0], s[1], k=k, dtype=d, device=B.native_device)
        if len(_EYE_MAKERS) < 256:
            _EYE_MAKERS[k] = make
    return make


def meshgrid(*arrays, indexing="xy") -> tuple:
    """Coordinate grids from 1-D tensors (``indexing`` 'xy': Cartesian, 'ij': matrix);
    differentiable (each output broadcasts its input)."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    if len(arrays) == 1 and isinstance(arrays[0], (list, tuple)):
        arrays = tuple(arrays[0])
    if not arrays:
        return ()
    for a in arrays:
        if not isinstance(a, Tensor):
            raise TypeError(f"meshgrid: expected Tensors, got {type(a).__name__}")
        if a.ndim != 1:
            raise ValueError(f"meshgrid: expected 1-D tensors, got shape {a.shape}")
        if a._device is not arrays[0]._device:
            raise ValueError(f"meshgrid: tensors are on different devices, "
                             f"'{arrays[0]._device}' and '{a._device}'")
        if a.dtype != arrays[0].dtype:
            raise TypeError(f"meshgrid: tensors have different dtypes, {arrays[0].dtype} and {a.dtype}")
    n = len(arrays)
    sizes = [a.shape[0] for a in arrays]
    if indexing == "xy" and n > 1:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for i, a in enumerate(arrays):
        pos = i
        if indexing == "xy" and n > 1 and i < 2:
            pos = 1 - i
        shape = [1] * n
        shape[pos] = a.shape[0]
        out.append(broadcast_to(reshape(a, tuple(shape)), tuple(sizes)))
    return tuple(out)


def _triangle(name):
    def fwd(B, x, *, k):
        return getattr(B, name)(x, k=k)

    def vjp(ns, needs, g, out, x, *, k):
        return (getattr(ns, name)(g, k=k),)  # the function is its own adjoint
    prim = Primitive(name, fwd, vjp=vjp,
                     jvp=linear_jvp(lambda ns, t, *, k: getattr(ns, name)(t, k=k)),
                     saves_inputs=False, saves_output=False)
    prim.batch = _vb.matrix_rule(prim)

    def func(x, /, *, k=0) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
        if x.ndim < 2:
            raise ValueError(f"{name}: expected a tensor with at least 2 dimensions, got shape {x.shape}")
        try:
            k = operator.index(k)
        except TypeError:
            raise TypeError(f"{name}: k must be an int, got {type(k).__name__}") from None
        return apply1(prim, x, {"k": k})

    func.__name__ = func.__qualname__ = name
    func.__doc__ = (f"The {'lower' if name == 'tril' else 'upper'} triangle of each matrix in "
                    "``x`` (the last two axes), from the ``k``-th diagonal; zeros elsewhere.")
    return func


tril = _triangle("tril")
triu = _triangle("triu")


def from_dlpack(x, /, *, device=None, copy=None) -> Tensor:
    """A tensor from any DLPack producer (NumPy, PyTorch, CuPy, arraylib...): zero-copy
    when the producer's memory is on the target device and ``copy`` is not True."""
    if isinstance(x, Tensor):
        if device is not None:
            _check_dtype_on("from_dlpack", x.dtype, as_device(device))
        return asarray(x, device=device, copy=copy)
    if not hasattr(x, "__dlpack__"):
        raise TypeError(f"from_dlpack: {type(x).__name__} does not implement __dlpack__")
    return _import_dlpack("from_dlpack", x, device, copy)


def _import_dlpack(func: str, x, device, copy) -> Tensor:
    """A tensor from the DLPack producer ``x`` (errors name ``func``)."""
    dev = as_device(device) if device is not None else _producer_device(x, func)
    B = dev.backend
    try:
        if B.host or dev.type == "cuda":
            data = B.xp.from_dlpack(x, copy=copy) if copy is not None else B.xp.from_dlpack(x)
        else:  # emulated devices: through the host
            if copy is False:
                raise ValueError(f"{func}: copy=False but the data must be copied to '{dev}'")
            host = CPU.backend.xp.from_dlpack(x, copy=True)
            _check_dtype_on(func, host.dtype, dev)
            data = B.from_numpy(host)
    except (BufferError, RuntimeError) as e:
        raise ValueError(f"{func}: can't import {type(x).__name__} on device '{dev}': {e}") from None
    out = _new(B.ensure_array(data), dev)
    if out.dtype not in _dtypes.all_dtypes:
        raise TypeError(f"{func}: unsupported dtype {out.dtype}")
    return out


def _check_dtype_on(func: str, dtype, dev) -> None:
    """TypeError when ``dev`` can't hold ``dtype`` (e.g. float64 on strict:no_float64)."""
    if dtype in _dtypes.all_dtypes and dtype not in dev.backend.supported_dtypes():
        raise TypeError(f"{func}: dtype {dtype} is not supported on device '{dev}'")


def _producer_device(x, func="from_dlpack"):
    """The arraylib device matching a producer's ``__dlpack_device__`` (CPU or CUDA)."""
    kind, index = 1, 0
    if hasattr(x, "__dlpack_device__"):
        kind, index = x.__dlpack_device__()
    kind = int(kind)
    if kind in (1, 3):  # kDLCPU, kDLCUDAHost
        return Device("cpu")
    if kind in (2, 13):  # kDLCUDA, kDLCUDAManaged
        return Device(f"cuda:{int(index)}")
    raise ValueError(f"from_dlpack: DLPack device type {kind} is not supported")
