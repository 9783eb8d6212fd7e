"""``arraylib.Tensor``: the array object — backend storage plus autograd state.

A tensor holds its storage (``_data``: a NumPy, CuPy or array-api-strict array) and
its ``Device``.  Autograd state lives in a few slots that stay unset until used.
This module defines the slots, the core attributes, autograd state and conversions.
Every operator and the other methods are bound onto the class by one module,
``arraylib/_tensor_methods.py`` (``x + y`` costs exactly one call of ``arraylib.add``);
``_tensor.pyi`` beside this file lists them all.
"""
from __future__ import annotations

import builtins
import weakref

from ._devices import Device
from ._grad_mode import state
from ._namespace import tensor_namespace
from .._dtypes import native_to_dtype as _native_to_dtype, kind_of as _kind_of


def sync_view(t) -> None:
    """Bring view ``t`` up to date with its base's newest history: the primitive layer
    (``_primitive.sync_view``) installs itself here when it loads."""


class Tensor:
    """An n-dimensional array on a device, differentiable.

    Create tensors with ``arraylib.asarray``/``arraylib.tensor`` or any creation
    function; ``Tensor(data)``/``Tensor(2, 3)`` is PyTorch's legacy constructor (values in
    the default float dtype).
    """

    __slots__ = (
        "_data",            # backend storage
        "_device",          # Device
        "_grad_fn",         # Node that produced this tensor, or None (leaf)
        "_requires_grad",   # bool
        # lazily set:
        "_oi",              # output index within _grad_fn
        "_grad",            # accumulated gradient (leaves, or retain_grad)
        "_retains_grad",    # bool
        "_hooks",           # list of gradient hooks
        "_post_hooks",      # list of post-accumulate-grad hooks (leaves)
        "_vc",              # version counter: a one-item list shared with views
        "_base",            # the tensor this one is a view of
        "_view",            # how a view was made from its base (set lazily; see _graph)
        "_tangent",         # forward mode: (generation, tangent)
        "__weakref__",
    )

    __array_priority__ = 1000
    __array_ufunc__ = None  # NumPy scalars and ufuncs defer to arraylib
    __hash__ = object.__hash__

    def __new__(cls, *args, device=None):
        """PyTorch's legacy constructor: ``Tensor(data)`` (values in the default float
        dtype) or ``Tensor(2, 3)`` / ``Tensor(Size)`` (zeros of that shape).  Prefer
        ``arraylib.asarray``/``arraylib.tensor``; internal code never comes here."""
        return _legacy_new(cls, args, device)

    def __init__(self, *args, **kwargs):
        pass

    # -- core attributes --------------------------------------------------------
    @property
    def dtype(self):
        """The data type (a NumPy dtype object)."""
        d = _native_to_dtype(id(self._data.dtype))
        return d if d is not None else self._device._backend.dtype_of(self._data)

    @property
    def device(self) -> Device:
        return self._device

    @property
    def shape(self) -> tuple:
        return tuple(self._data.shape)

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        """Number of elements (the standard's attribute, an int); calling it is PyTorch's
        ``x.size()`` (a ``Size``) / ``x.size(d)`` (an int)."""
        shape = self._data.shape
        n = 1
        for s in shape:
            n *= s
        r = _int_new(_Numel, n)
        r._shape = shape
        return r

    def numel(self) -> int:
        n = 1
        for s in self._data.shape:
            n *= s
        return n

    def dim(self) -> int:
        return self._data.ndim

    # -- autograd state ---------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        if self._base is not None:
            sync_view(self)
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Mark a leaf tensor as needing gradients (in place; returns self)."""
        if self._grad_fn is not None:
            if not requires_grad:
                raise RuntimeError("requires_grad_: you can only change requires_grad of leaf "
                                   "tensors; use .detach() to get a tensor that does not require grad")
            return self
        if requires_grad and _kind_of(self.dtype) not in "fc":
            raise RuntimeError("requires_grad_: only tensors of floating-point or complex dtype "
                               f"can require gradients, got {self.dtype}")
        self._requires_grad = builtins.bool(requires_grad)
        if requires_grad:  # a leaf: set what backward reads, so no read raises AttributeError
            for slot in ("_grad", "_hooks", "_post_hooks"):
                if not hasattr(self, slot):
                    setattr(self, slot, None)
        return self

    @property
    def grad(self):
        """The gradient accumulated by ``backward`` (None until then)."""
        return getattr(self, "_grad", None)

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"Tensor.grad: expected a Tensor or None, got {type(value).__name__}")
            if value.shape != self.shape or value.dtype != self.dtype or value._device is not self._device:
                raise ValueError(f"Tensor.grad: assigned gradient has shape {value.shape}, dtype "
                                 f"{value.dtype}, device {value.device}; the tensor has shape "
                                 f"{self.shape}, dtype {self.dtype}, device {self.device}")
        self._grad = value

    @property
    def grad_fn(self):
        if self._base is not None:
            sync_view(self)
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        if self._base is not None:
            sync_view(self)
        return self._grad_fn is None

    @property
    def _version(self) -> int:
        vc = getattr(self, "_vc", None)
        return 0 if vc is None else vc[0]

    @property
    def retains_grad(self) -> bool:
        return getattr(self, "_retains_grad", False)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after ``backward``."""
        node = self._grad_fn
        if node is None:
            if not self._requires_grad:
                raise RuntimeError("retain_grad: can't retain_grad on a tensor that does not require grad")
            return
        if node.retained is None:
            node.retained = {}
        node.retained[self._oi] = weakref.ref(self)
        self._retains_grad = True

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a non-None
        return value replaces the gradient.  Returns a handle with ``remove()``."""
        if not self._requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require grad")
        if not callable(hook):
            raise TypeError(f"register_hook: expected a callable, got {type(hook).__name__}")
        node = self._grad_fn
        if node is not None:  # non-leaf: the hook belongs to the node's output
            if node.hooks is None:
                node.hooks = {}
            hooks = node.hooks.setdefault(self._oi, [])
        else:
            hooks = getattr(self, "_hooks", None)
            if hooks is None:
                hooks = self._hooks = []
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(self)`` after ``backward`` has accumulated this leaf's ``.grad``
        (its return value is ignored).  Returns a handle with ``remove()``."""
        if not callable(hook):
            raise TypeError("register_post_accumulate_grad_hook: expected a callable, got "
                            f"{type(hook).__name__}")
        if not self._requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: cannot register a hook on "
                               "a tensor that does not require grad")
        if self._grad_fn is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks "
                               "cannot be registered on non-leaf tensors")
        hooks = getattr(self, "_post_hooks", None)
        if hooks is None:
            hooks = self._post_hooks = []
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def detach(self) -> Tensor:
        """A tensor sharing storage with this one, outside the graph."""
        out = _new(self._data, self._device)
        out._vc = self._version_counter()
        return out

    def detach_(self) -> Tensor:
        self._grad_fn = None
        self._requires_grad = False
        return self

    @property
    def data(self) -> Tensor:
        """A detached tensor sharing storage (PyTorch's ``.data``)."""
        return self.detach()

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError("Tensor.data: expected a Tensor")
        self._data = value._data
        self._device = value._device

    def _version_counter(self) -> list:
        vc = getattr(self, "_vc", None)
        if vc is None:
            vc = self._vc = [0]
        return vc

    # -- conversion -------------------------------------------------------------
    def __array_namespace__(self, /, *, api_version=None):
        if api_version is not None and api_version not in ("2021.12", "2022.12", "2023.12",
                                                           "2024.12", "2025.12"):
            raise ValueError(f"__array_namespace__: unsupported api_version {api_version!r}")
        return tensor_namespace()

    def _host(self, what: str):
        """NumPy view of CPU storage, refusing tensors that require grad or live elsewhere."""
        if self._requires_grad and state.grad_enabled:
            raise RuntimeError(f"{what}: can't convert a tensor that requires grad to NumPy; "
                               "use tensor.detach() first")
        backend = self._device.backend
        if not backend.host:
            raise RuntimeError(f"{what}: can't convert a tensor on device '{self._device}' to a "
                               "NumPy array; copy it to the CPU first with x.to_device('cpu')")
        return backend.to_numpy(self._data)

    def __array__(self, dtype=None, copy=None):
        # NumPy 2's protocol: copy=False must raise ValueError when a copy is needed
        if copy is False and not self._device.backend.host:
            raise ValueError(f"Tensor.__array__: copy=False but the tensor is on device "
                             f"'{self._device}': a NumPy array of it needs a copy")
        arr = self._host("Tensor.__array__")
        if dtype is not None and arr.dtype != dtype:
            if copy is False:
                raise ValueError(f"Tensor.__array__: copy=False but converting dtype "
                                 f"{arr.dtype} to {dtype} needs a copy")
            return arr.astype(dtype)  # a new array already
        return arr.copy() if copy else arr

    def numpy(self):
        """The storage as a NumPy array (CPU tensors; shares memory)."""
        return self._host("Tensor.numpy")

    def __dlpack__(self, /, *, stream=None, max_version=None, dl_device=None, copy=None):
        if self._requires_grad:  # as PyTorch (whatever the grad mode): the consumer can't
            raise BufferError("Tensor.__dlpack__: can't export a tensor that requires grad; "
                              "use tensor.detach()")  # see the graph
        kwargs = {}
        if stream is not None:
            kwargs["stream"] = stream
        if max_version is not None:
            kwargs["max_version"] = max_version
        if dl_device is not None:
            kwargs["dl_device"] = dl_device
        if copy is not None:
            kwargs["copy"] = copy
        return self._data.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    def _scalar(self, kind, func: str):
        if self.ndim != 0 and self.size != 1:
            raise TypeError(f"{func}: only tensors with one element can be converted to Python "
                            f"scalars, got shape {self.shape}")
        backend = self._device.backend
        data = self._data if self.ndim == 0 else backend.xp.reshape(self._data, ())
        return kind(data)

    def __bool__(self):
        return self._scalar(builtins.bool, "Tensor.__bool__")

    def __int__(self):
        if self.dtype.kind == "c":
            raise TypeError("Tensor.__int__: can't convert a complex tensor to int")
        return self._scalar(int, "Tensor.__int__")

    def __float__(self):
        if self.dtype.kind == "c":
            raise TypeError("Tensor.__float__: can't convert a complex tensor to float")
        return self._scalar(float, "Tensor.__float__")

    def __complex__(self):
        return self._scalar(complex, "Tensor.__complex__")

    def __index__(self):
        if self.dtype.kind not in "iu":
            raise TypeError(f"Tensor.__index__: only integer tensors can be used as an index, got {self.dtype}")
        return self._scalar(int, "Tensor.__index__")

    def item(self):
        """The single element as a Python scalar."""
        data = self._data
        if self._device._backend.host and data.size == 1:  # NumPy's own item: the same kinds
            return data.item()
        kind = {"b": builtins.bool, "i": int, "u": int, "f": float, "c": complex}[_kind_of(self.dtype)]
        return self._scalar(kind, "Tensor.item")

    def tolist(self):
        """Nested Python lists of the values (copies to the host)."""
        return self._device.backend.to_numpy(self._data).tolist()

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __format__(self, spec):
        if self.ndim == 0 and type(self) is Tensor:  # as PyTorch: f"{t}" is the value's
            return format(self.item(), spec)
        if not spec:
            return object.__format__(self, "")
        raise TypeError(f"Tensor.__format__: format spec {spec!r} needs a 0-d tensor, got "
                        f"shape {self.shape}; format t.item() or str(t) instead")

class Size(tuple):
    """A shape, as PyTorch's ``torch.Size``: a tuple of ints with ``numel()``."""

    __slots__ = ()

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, key):
        r = tuple.__getitem__(self, key)
        return Size(r) if key.__class__ is slice else r

    def __add__(self, other):
        return Size(tuple.__add__(self, tuple(other)))

    def __mul__(self, n):
        return Size(tuple.__mul__(self, n))

    __rmul__ = __mul__

    def __repr__(self):
        return f"torch.Size({list(self)})"

    def __reduce__(self):
        return (Size, (tuple(self),))


class _Numel(int):
    """``x.size``: the number of elements (an int, as the standard says), callable as
    PyTorch's ``x.size()`` (the shape, a ``Size``) and ``x.size(dim)`` (an int)."""

    def __call__(self, dim=None):
        shape = self._shape
        if dim is None:
            return Size(shape)
        try:
            d = dim.__index__()
        except AttributeError:
            raise TypeError(f"Tensor.size: dim must be an int, got {type(dim).__name__}") from None
        n = len(shape)
        if not -n <= d < n:
            lo, hi = (-n, n - 1) if n else (-1, 0)
            raise IndexError(f"Tensor.size: dimension out of range (expected to be in range of "
                             f"[{lo}, {hi}], but got {dim}) for a tensor of shape {tuple(shape)}")
        return shape[d]

    def item(self) -> int:
        return int(self)

    def __reduce__(self):
        return (int, (int(self),))


_int_new = int.__new__


def _legacy_new(cls, args, device):
    """``Tensor(...)`` as PyTorch's legacy constructor (see ``Tensor.__new__``)."""
    ns = tensor_namespace()
    dt = ns.get_default_dtype()  # float32 unless set_default_dtype said float64 (PyTorch)
    if len(args) == 1 and isinstance(args[0], Size):
        args = tuple(args[0])
    if not args:
        out = ns.empty((0,), dtype=dt, device=device)
    elif builtins.all(type(a) is int or type(a) is _Numel for a in args):
        out = ns.zeros(tuple(int(a) for a in args), dtype=dt, device=device)
    elif len(args) == 1 and not isinstance(args[0], (builtins.bool, float, complex)):
        data = args[0]
        if isinstance(data, Tensor):
            data = data.detach()
        out = ns.asarray(data, dtype=dt, device=device)
    else:
        raise TypeError("Tensor: expected Tensor(data) with data a sequence, an array or a "
                        "tensor, or Tensor(*sizes) with int sizes; got arguments of types "
                        f"{tuple(type(a).__name__ for a in args)}")
    return out if cls is Tensor else _new(out._data, out._device, cls)


class _HookHandle:
    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _new(data, device, cls=Tensor) -> Tensor:
    """Wrap backend storage in a ``cls`` (``Tensor`` or a subclass such as ``nn.Parameter``):
    the only way tensors are made."""
    t = object.__new__(cls)
    t._data = data
    t._device = device
    t._grad_fn = None
    t._requires_grad = False
    t._vc = None    # set, not missing: reading a missing slot costs an AttributeError
    t._base = None
    return t


Tensor._new = staticmethod(_new)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


__all__ = ["Tensor", "Size", "is_tensor"]
