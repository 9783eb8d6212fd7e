"""The methods layer: binds every operator and method onto ``Tensor``, in one place.

``_core/_tensor.py`` defines the class with its slots, attributes and conversions;
this module binds the rest (``_core/_tensor.pyi`` lists them all): the Python
operators (``__add__`` is ``arraylib.add``'s twin that returns NotImplemented for a
foreign operand, in-place operators update the storage when nothing is recorded), ``__getitem__``/``__setitem__``, ``T``/``mT``,
``to_device``, ``backward``, printing and pickling, and PyTorch's methods, so that
``import arraylib as torch`` runs the common subset of PyTorch scripts:
``x.view(5, -1)``, ``x.sum(dim=1, keepdim=True)``, ``x.max(1)`` (a ``(values,
indices)`` pair), ``x.unsqueeze(0)``, ``x.float()``, ``x.add_(y, alpha=2)``,
``torch.cat``, ``torch.from_numpy`` ...  Each method is one call of a chapter's
function.  It also gives a few top-level PyTorch names (``__all__``).

Where PyTorch and the Array API standard disagree, the standard wins at the top level:

- ``x.size`` is the standard's attribute, the number of elements (an int); calling it
  is PyTorch's ``x.size()`` (an ``arraylib.Size``) / ``x.size(d)`` (an int).
- Top-level functions keep the standard's signatures: ``max(x, axis=1)`` returns
  values only, ``squeeze(x, axis)`` requires ``axis``, ``std``/``var`` default to
  ``correction=0``, ``sort`` returns values only.  The methods, and the functions of
  ``_torch_functions`` (which the PyTorch face exports), have PyTorch's signatures:
  ``x.max(1)`` is a ``(values, indices)`` pair, ``x.std()`` uses ``correction=1``.
- ``arraylib.float``/``arraylib.int`` are not defined (they would shadow Python's
  builtins under ``from arraylib import *``): the face ``arraylib.torch`` has them.
"""
from __future__ import annotations

import builtins
import operator as _operator
from types import SimpleNamespace

from . import _dtypes, _printing
from . import _creation_functions, _data_type_functions, _elementwise_functions
from . import _indexing_functions, _linear_algebra_functions, _manipulation_functions
from . import _searching_functions, _sorting_functions, _statistical_functions
from . import _random, _utility_functions, linalg
from . import _torch_functions as _tf
from ._core._engine import tensor_backward as _backward  # no wrapper frame
from ._core._grad_mode import anywhere as _anywhere, state
from ._core._cast import copy_prim as _copy_prim
from ._core._primitive import apply1, new_view as _new_view
from ._core._promotion import is_python_scalar
from ._core._tensor import Tensor
from ._core._inplace import inplace_update, operand_for_inplace, storage_fill, storage_inplace
from ._validation import check_tensor as _check_tensor

__all__ = ["cat", "from_numpy", "numel", "flatten", "unsqueeze", "transpose", "permute",
           "clamp", "mm", "bmm", "softmax", "log_softmax", "sigmoid", "relu",
           "long", "double", "cfloat", "cdouble"]

# The chapters' functions under their standard names (the methods call them).
_fn = SimpleNamespace(linalg=linalg, **{
    name: getattr(m, name)
    for m in (_creation_functions, _data_type_functions, _elementwise_functions,
              _indexing_functions, _linear_algebra_functions, _manipulation_functions,
              _searching_functions, _sorting_functions, _statistical_functions,
              _utility_functions)
    for name in m.__all__})

long = _dtypes.int64
double = _dtypes.float64
cfloat = _dtypes.complex64
cdouble = _dtypes.complex128

ValuesIndices = _tf.ValuesIndices


def _shape_arg(shape):
    """``f(2, 3)`` or ``f((2, 3))`` → (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return shape


def _axis(dim):
    return tuple(dim) if isinstance(dim, list) else dim


_FLOAT_IDS = frozenset(id(d) for d in _dtypes.floating_dtypes)  # (x.mean()'s shortcut)


def _int_arg(func, what, v):
    """``v`` as an int (``operator.index``); TypeError naming ``func`` otherwise."""
    try:
        return _operator.index(v)
    except TypeError:
        raise TypeError(f"{func}: {what} must be an int, got {type(v).__name__}") from None


def _norm_dim(func, dim, ndim):
    dim = _int_arg(func, "dim", dim)
    if not -ndim <= dim < builtins.max(ndim, 1):
        raise IndexError(f"{func}: dimension {dim} is out of range for a tensor with {ndim} "
                         "dimensions")
    return dim % builtins.max(ndim, 1)


# -- shapes ------------------------------------------------------------------------
def _view(self, *shape):
    """``x.view(5, -1)``: the same values with another shape (``reshape``)."""
    if len(shape) == 1:
        s = shape[0]
        if s.__class__ is int:
            return _reshape_function(self, shape)
        if s.__class__ is tuple:
            return _reshape_function(self, s)
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int)) and \
            not hasattr(shape[0], "__index__"):
        raise TypeError("Tensor.view: reinterpreting the bytes as another dtype is not "
                        "supported; use astype")
    return _fn.reshape(self, _shape_arg(shape))


def _reshape(self, *shape):
    if len(shape) == 1 and shape[0].__class__ is tuple:
        return _reshape_function(self, shape[0])
    return _reshape_function(self, _shape_arg(shape))


_reshape_function = _manipulation_functions.reshape
_SHAPE_PARAMS = _manipulation_functions._SHAPE_PARAMS  # (the dict itself: cleared, never rebound)
_permuted = _manipulation_functions.permuted
_memo_params = _manipulation_functions._memo_params


def flatten(x, /, start_dim=0, end_dim=-1):
    """Merge dimensions ``start_dim..end_dim`` into one (a 0-d tensor becomes 1-d)."""
    if start_dim == 0 and end_dim == -1 and x.__class__ is Tensor:
        return _fn.reshape(x, (x._data.size,))  # (all of it, the common call)
    _check_tensor("flatten", x)
    if x.ndim == 0:
        return _fn.reshape(x, (1,))
    s = _norm_dim("flatten", start_dim, x.ndim)
    e = _norm_dim("flatten", end_dim, x.ndim)
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = x.shape
    n = 1
    for d in shape[s:e + 1]:
        n *= d
    return _fn.reshape(x, shape[:s] + (n,) + shape[e + 1:])


def unsqueeze(x, /, dim):
    """Insert a dimension of size one at ``dim``."""
    if x.__class__ is not Tensor or dim.__class__ is not int:
        _check_tensor("unsqueeze", x)
        dim = _int_arg("unsqueeze", "dim", dim)
    elif not x._requires_grad and not _anywhere.dual:  # expand_dims's hot path, inlined
        params = _SHAPE_PARAMS.get(("expand_dims", x._data.shape, dim))
        if params is not None:
            return _new_view(x, x._device._backend.reshape(x._data, params["shape"]),
                             _manipulation_functions._expand_dims_prim, params)
    return _fn.expand_dims(x, dim)


def _squeeze(self, dim=None):
    """Remove size-one dimensions (all, or those in ``dim`` that have size one)."""
    shape = self.shape
    if dim is None:
        axes = tuple(i for i, s in enumerate(shape) if s == 1)
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        axes = tuple(sorted({_norm_dim("Tensor.squeeze", d, self.ndim) for d in dims
                             if self.ndim and shape[d] == 1}))
    if not axes:
        return self
    return _fn.squeeze(self, axis=axes)


def permute(x, /, dims):
    c = dims.__class__
    if c is not tuple or x.__class__ is not Tensor:
        _check_tensor("permute", x)
        if not isinstance(dims, (tuple, list)):
            raise TypeError(f"permute: dims must be a sequence of ints, got {c.__name__}")
        dims = tuple(dims)
    return _permuted(x, _memo_params("permute_dims", x, dims, _PERMUTE_PARAMS))


def _permute(self, *dims):
    if len(dims) == 1 and dims[0].__class__ is not int:
        dims = _shape_arg(dims)
    return _permuted(self, _memo_params("permute_dims", self, dims, _PERMUTE_PARAMS))


_PERMUTE_PARAMS = _manipulation_functions._permute_params


_SWAP_2D = {"axes": (1, 0)}  # a matrix transpose's params, shared: never mutated


def transpose(x, /, dim0, dim1):
    """Swap two dimensions."""
    params = _memo_params("transpose", x, (dim0, dim1), _transpose_params)
    return x if params is None else _permuted(x, params)


def _transpose_params(shape, dims):
    """The permutation that swaps ``dims`` (None for a 0-d tensor: itself)."""
    n = len(shape)
    if n == 0:
        return None
    a, b = _norm_dim("transpose", dims[0], n), _norm_dim("transpose", dims[1], n)
    if n == 2 and a != b:
        return _SWAP_2D
    perm = list(range(n))
    perm[a], perm[b] = perm[b], perm[a]
    return {"axes": tuple(perm)}


def _t(self):
    n = self.ndim
    if n == 2:
        return _permuted(self, _SWAP_2D)
    if n > 2:
        raise ValueError(f"Tensor.t: expects a tensor with <= 2 dimensions, got {n}")
    return self


def _expand(self, *sizes):
    sizes = _shape_arg(sizes)
    lead = len(sizes) - self.ndim
    shape = tuple(s if s != -1 else self.shape[i - lead] for i, s in enumerate(sizes))
    return _fn.broadcast_to(self, shape)


def _repeat(self, *sizes):
    return _fn.tile(self, _shape_arg(sizes))


def _clone(self, *, memory_format=None):
    """A copy with its own storage (differentiable; ``asarray(self, copy=True)``)."""
    return apply1(_copy_prim, self)


def _contiguous(self, memory_format=None):
    return self


def cat(tensors, dim=0, *, axis=None):
    """PyTorch's ``torch.cat``: ``concat`` along ``dim``."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (tuple, list)):
        raise TypeError(f"cat: expected a sequence of Tensors, got {type(tensors).__name__}")
    return _fn.concat(tuple(tensors), axis=dim if axis is None else axis)


def from_numpy(array):
    """A CPU tensor sharing memory with a NumPy array."""
    if not hasattr(array, "__array_interface__") or isinstance(array, Tensor):
        raise TypeError(f"from_numpy: expected a NumPy array, got {type(array).__name__}")
    return _fn.asarray(array, device="cpu")


def numel(x, /):
    _check_tensor("numel", x)
    return x.numel()


# -- reductions --------------------------------------------------------------------
# PyTorch's spelling (``dim``, ``keepdim``, ``correction``/``unbiased``) and NumPy's
# (``axis``, ``keepdims``, ``ddof``, ``out=None``), which NumPy's functions use when they
# call these methods (``numpy.var(tensor, axis=0)`` calls ``tensor.var(axis=0, dtype=None,
# out=None, ddof=0)``).
def _dims(func, dim, keepdim, axis, keepdims, out=None):
    """(axis, keepdims) from either spelling; TypeError for both at once or ``out``."""
    if out is not None:
        raise TypeError(f"Tensor.{func}: out= is not supported, got {type(out).__name__}")
    if axis is not None:
        if dim is not None:
            raise TypeError(f"Tensor.{func}: got both dim={dim!r} and axis={axis!r}")
        dim = axis
    return _axis(dim), builtins.bool(keepdim if keepdims is None else keepdims)


def _sum(self, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None, out=None):
    if dim is None and axis is None and keepdims is None and out is None and keepdim is False:
        return _fn.sum(self, dtype=dtype)  # x.sum(): no spelling to sort out
    a, k = _dims("sum", dim, keepdim, axis, keepdims, out)
    return _fn.sum(self, axis=a, keepdims=k, dtype=dtype)


def _prod(self, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None, out=None):
    if dim is None and axis is None and keepdims is None and out is None and keepdim is False:
        return _fn.prod(self, dtype=dtype)
    a, k = _dims("prod", dim, keepdim, axis, keepdims, out)
    return _fn.prod(self, axis=a, keepdims=k, dtype=dtype)


def _mean(self, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None, out=None):
    if dtype is None and axis is None and keepdims is None and out is None and \
            (keepdim is False or keepdim is True) and id(self._data.dtype) in _FLOAT_IDS:
        return _fn.mean(self, axis=_axis(dim), keepdims=keepdim)  # (a floating tensor)
    a, k = _dims("mean", dim, keepdim, axis, keepdims, out)
    x = self if dtype is None else _fn.astype(self, dtype)
    if x.dtype.kind in "biu":
        raise TypeError(f"Tensor.mean: could not infer output dtype; the input dtype is "
                        f"{x.dtype}, pass a floating-point dtype=")
    return _fn.mean(x, axis=a, keepdims=k)


def _correction(unbiased, correction, ddof=None):
    if ddof is not None:
        if correction is not None or unbiased is not None:
            raise TypeError("Tensor.std/var: give one of ddof, correction and unbiased")
        return ddof
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def _spread(func, name, self, dim, unbiased, keepdim, correction, axis, ddof, keepdims, dtype,
            out):
    if isinstance(dim, bool):  # x.std(False): the old positional unbiased
        dim, unbiased = None, dim
    a, k = _dims(name, dim, keepdim, axis, keepdims, out)
    x = self if dtype is None else _fn.astype(self, dtype)
    return func(x, axis=a, correction=_correction(unbiased, correction, ddof), keepdims=k)


def _std(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
         ddof=None, keepdims=None, dtype=None, out=None):
    """Standard deviation with PyTorch's default ``correction=1`` (Bessel); NumPy's
    ``ddof=`` is the correction."""
    return _spread(_fn.std, "std", self, dim, unbiased, keepdim, correction, axis, ddof,
                   keepdims, dtype, out)


def _var(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
         ddof=None, keepdims=None, dtype=None, out=None):
    """Variance with PyTorch's default ``correction=1`` (Bessel); NumPy's ``ddof=`` is
    the correction."""
    return _spread(_fn.var, "var", self, dim, unbiased, keepdim, correction, axis, ddof,
                   keepdims, dtype, out)


def _extremum(reduce, arg, pairwise, name):
    def method(self, dim=None, keepdim=False, *, axis=None, keepdims=None, out=None):
        if isinstance(dim, Tensor):  # x.max(other): element-wise
            return pairwise(self, dim)
        if axis is not None or keepdims is not None or out is not None:
            # NumPy's spelling (numpy.max(tensor, axis=0) calls it): the values only
            a, k = _dims(name, dim, keepdim, axis, keepdims, out)
            return reduce(self, axis=a, keepdims=k)
        if dim is None:
            return reduce(self)
        if not (self._requires_grad or state.dual_level):  # no derivative: the reduction
            return ValuesIndices(reduce(self, axis=dim, keepdims=keepdim),
                                 arg(self, axis=dim, keepdims=keepdim))
        # the values are gathered at the returned indices, so that with ties the gradient
        # goes to that index alone, as in PyTorch (the reduction splits it between ties)
        idx = arg(self, axis=dim, keepdims=True)
        values = _fn.take_along_axis(self, idx, axis=dim)
        if not keepdim:
            idx = _fn.squeeze(idx, axis=dim)
            values = _fn.squeeze(values, axis=dim)
        return ValuesIndices(values, idx)
    method.__name__ = name
    method.__doc__ = (f"``x.{name}()``: the {name}imum; ``x.{name}(dim, keepdim=False)``: a "
                      "``(values, indices)`` pair as in PyTorch; ``x.{name}(axis=...)``: the "
                      "values only, as NumPy's.")
    return method


def _argmax(self, dim=None, keepdim=False, *, axis=None, keepdims=None, out=None):
    a, k = _dims("argmax", dim, keepdim, axis, keepdims, out)
    return _fn.argmax(self, axis=a, keepdims=k)


def _argmin(self, dim=None, keepdim=False, *, axis=None, keepdims=None, out=None):
    a, k = _dims("argmin", dim, keepdim, axis, keepdims, out)
    return _fn.argmin(self, axis=a, keepdims=k)


def _all(self, dim=None, keepdim=False, *, axis=None, keepdims=None, out=None):
    a, k = _dims("all", dim, keepdim, axis, keepdims, out)
    return _fn.all(self, axis=a, keepdims=k)


def _any(self, dim=None, keepdim=False, *, axis=None, keepdims=None, out=None):
    a, k = _dims("any", dim, keepdim, axis, keepdims, out)
    return _fn.any(self, axis=a, keepdims=k)


def _cumsum(self, dim=None, *, dtype=None, axis=None, out=None):
    """PyTorch's ``x.cumsum(dim)``; NumPy's ``x.cumsum(axis=None)`` runs over the
    flattened tensor."""
    a, _ = _dims("cumsum", dim, False, axis, None, out)
    if a is None:
        return _fn.cumulative_sum(_fn.reshape(self, (-1,)), axis=0, dtype=dtype)
    return _tf.cumsum(self, a, dtype=dtype)


def _sort(self, dim=-1, descending=False, stable=True):
    """``(values, indices)`` as in PyTorch."""
    idx = _fn.argsort(self, axis=dim, descending=descending, stable=True)
    return ValuesIndices(_fn.take_along_axis(self, idx, axis=dim), idx)


def _norm(self, p=2, dim=None, keepdim=False):
    return linalg.vector_norm(self, axis=_axis(dim), keepdims=keepdim, ord=p)


# -- activations -------------------------------------------------------------------
def sigmoid(x, /):
    """``1 / (1 + exp(-x))``."""
    return _tf.sigmoid(x)


def relu(x, /):
    """``max(x, 0)`` with gradient 0 at 0 (PyTorch's convention)."""
    return _tf.relu(x)


def softmax(x, /, dim, *, dtype=None):
    """``exp(x) / sum(exp(x))`` along ``dim`` (shifted by the detached max)."""
    _check_tensor("softmax", x)
    dim = _int_arg("softmax", "dim", dim)
    if dtype is not None:
        x = _fn.astype(x, dtype)
    nd = x.ndim
    r = _tf.softmax_along(x, dim % nd) if -nd <= dim < nd else None
    if r is not None:
        return r
    z = _fn.exp(x - _fn.max(x, axis=dim, keepdims=True).detach())
    return z / _fn.sum(z, axis=dim, keepdims=True)


def log_softmax(x, /, dim, *, dtype=None):
    """``x - logsumexp(x)`` along ``dim``."""
    _check_tensor("log_softmax", x)
    dim = _int_arg("log_softmax", "dim", dim)
    if dtype is not None:
        x = _fn.astype(x, dtype)
    nd = x.ndim
    r = _tf.softmax_along(x, dim % nd, log=True) if -nd <= dim < nd else None
    if r is not None:
        return r
    shifted = x - _fn.max(x, axis=dim, keepdims=True).detach()
    return shifted - _fn.log(_fn.sum(_fn.exp(shifted), axis=dim, keepdims=True))


# -- element-wise ------------------------------------------------------------------
def clamp(x, /, min=None, max=None):
    """PyTorch's ``clamp``: ``clip`` (float bounds on an integer tensor are allowed)."""
    _check_tensor("clamp", x)
    if x.dtype.kind in "iu" and (isinstance(min, float) or isinstance(max, float)):
        x = _fn.astype(x, _dtypes.default_float)
    return _fn.clip(x, min, max)


def mm(x1, x2, /):
    """Matrix product of two matrices."""
    if x1.__class__ is not Tensor or x2.__class__ is not Tensor:
        _check_tensor("mm", x1)
        _check_tensor("mm", x2)
    return _fn.matmul(x1, x2)


def bmm(x1, x2, /):
    """Batched matrix product."""
    if x1.__class__ is not Tensor or x2.__class__ is not Tensor:
        _check_tensor("bmm", x1)
        _check_tensor("bmm", x2)
    return _fn.matmul(x1, x2)


def _scaled(other, alpha):
    return other if alpha == 1 else other * alpha


def _add(self, other, *, alpha=1):
    return _fn.add(self, _scaled(other, alpha))


def _sub(self, other, *, alpha=1):
    return _fn.subtract(self, _scaled(other, alpha))


def _masked_fill(self, mask, value):
    """``value`` where ``mask`` is true, ``self`` elsewhere."""
    if isinstance(value, Tensor):
        value = _fn.astype(value, self.dtype)
    else:
        value = _fn.full((), value, dtype=self.dtype, device=self.device)
    return _fn.where(mask, value, self)


def _type_as(self, other):
    return _fn.astype(self, other.dtype)


def _caster(dtype, name):
    def method(self):
        return self if self.dtype == dtype else _fn.astype(self, dtype)
    method.__name__ = name
    method.__doc__ = f"A copy converted to {dtype} (self if already so)."
    return method


# -- in place ----------------------------------------------------------------------
def _inplace(self, make, what):
    return inplace_update(self, make(operand_for_inplace(self)), what)


def _fit(self, value, what):
    """``value`` as a tensor of ``self``'s dtype, device and shape."""
    if not isinstance(value, Tensor):
        return _fn.full(self.shape, value, dtype=self.dtype, device=self.device)
    if value.device != self.device:
        value = value.to_device(self.device)
    if value.dtype != self.dtype:
        value = _fn.astype(value, self.dtype)
    if value.shape != self.shape:
        value = _fn.broadcast_to(value, self.shape)
    return value


def _add_(self, other, *, alpha=1):
    if storage_inplace(self, "add", other, alpha):
        return self
    return _arith_(self, "add", _scaled(other, alpha), "Tensor.add_")


def _sub_(self, other, *, alpha=1):
    if storage_inplace(self, "subtract", other, alpha):
        return self
    return _arith_(self, "subtract", _scaled(other, alpha), "Tensor.sub_")


def _mul_(self, other):
    if storage_inplace(self, "multiply", other):
        return self
    return _arith_(self, "multiply", other, "Tensor.mul_")


def _div_(self, other):
    if storage_inplace(self, "divide", other):
        return self
    return _arith_(self, "divide", other, "Tensor.div_")


def _arith_(self, name, other, what):
    """``self = name(self, other)`` in place, recorded (the storage path did not apply)."""
    f = getattr(_fn, name)
    return _inplace(self, lambda s: f(s, other), what)


def _clamp_(self, min=None, max=None):
    return _inplace(self, lambda s: _fn.clip(s, min, max), "Tensor.clamp_")


def _zero_(self):
    """Fill with zeros in place."""
    if storage_fill(self, 0):
        return self
    return inplace_update(self, _fn.zeros_like(self), "Tensor.zero_")


def _fill_(self, value):
    if storage_fill(self, value):
        return self
    if isinstance(value, Tensor):
        value = value.item()
    return inplace_update(self, _fit(self, value, "Tensor.fill_"), "Tensor.fill_")


def _copy_(self, src, non_blocking=False):
    """Copy ``src``'s values (broadcast, converted) into this tensor's storage."""
    return inplace_update(self, _fit(self, src, "Tensor.copy_"), "Tensor.copy_")


def _masked_fill_(self, mask, value):
    return _inplace(self, lambda s: _masked_fill(s, mask, value), "Tensor.masked_fill_")


# -- new tensors like this one -----------------------------------------------------
def _new_factory(maker):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        return maker(_shape_arg(size), dtype=self.dtype if dtype is None else dtype,
                     device=self.device if device is None else device,
                     requires_grad=requires_grad)
    return method


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    return _fn.full(tuple(size), fill_value, dtype=self.dtype if dtype is None else dtype,
                    device=self.device if device is None else device, requires_grad=requires_grad)


def _new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    return _fn.tensor(data, dtype=self.dtype if dtype is None else dtype,
                      device=self.device if device is None else device,
                      requires_grad=requires_grad)


# -- devices, printing, pickling, backward -----------------------------------------
def _T(self):
    if self.ndim != 2:
        raise ValueError(f"Tensor.T: only defined for 2-D tensors, got shape {self.shape}; "
                         "use .mT for stacks of matrices")
    return _fn.matrix_transpose(self)


def _mT(self):
    return _fn.matrix_transpose(self)


def _to_device(self, device, /, *, stream=None):
    """A copy on ``device`` (self if already there); gradients flow back."""
    return _creation_functions.to_device(self, device)


def _to(self, *args, **kwargs):
    """PyTorch's ``to(device)``, ``to(dtype)`` or ``to(device, dtype)``."""
    return _creation_functions.tensor_to(self, *args, **kwargs)


def _cpu(self):
    return _creation_functions.to_device(self, "cpu")


def _cuda(self, device=None):
    return _creation_functions.to_device(self, "cuda" if device is None else f"cuda:{int(device)}")


def _repr(self):
    return _printing.tensor_repr(self)


def _reduce(self):
    return (_creation_functions._rebuild,
            (self._device.backend.to_numpy(self._data), self._device.name, self._requires_grad))


# -- operators ----------------------------------------------------------------------
_ARITHMETIC = {"add": "add", "sub": "subtract", "mul": "multiply", "truediv": "divide",
               "floordiv": "floor_divide", "mod": "remainder", "pow": "pow",
               "and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor",
               "lshift": "bitwise_left_shift", "rshift": "bitwise_right_shift"}
_COMPARISONS = {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
                "gt": "greater", "ge": "greater_equal"}
_UNARY_OPERATORS = {"neg": "negative", "pos": "positive", "abs": "abs",
                    "invert": "bitwise_invert"}


def _reflected(f):
    def op(self, other):
        return f(other, self)
    op.__name__ = f"__r{f.__name__}__"
    return op


def _comparison(f):
    def op(self, other):
        if not (isinstance(other, Tensor) or is_python_scalar(other)):
            return NotImplemented
        return f(self, other)
    op.__name__ = f"__{f.__name__}__"
    return op


def _inplace_operator(f, op):
    """``x op= y``: on the storage when nothing is recorded, else recorded and written back;
    NotImplemented for a foreign ``y`` (Python then tries ``x = x op y``)."""
    name = f.__name__

    def iop(self, other):
        if storage_inplace(self, name, other):
            return self
        if not (isinstance(other, Tensor) or is_python_scalar(other)):
            return NotImplemented
        return inplace_update(self, f(operand_for_inplace(self), other), f"__i{op}__")
    iop.__name__ = f"__i{op}__"
    return iop


def _matmul_op(self, other):
    if not isinstance(other, Tensor):
        return NotImplemented
    return _fn.matmul(self, other)


def _rmatmul_op(self, other):
    if not isinstance(other, Tensor):
        return NotImplemented
    return _fn.matmul(other, self)


def _imatmul_op(self, other):
    if not isinstance(other, Tensor):
        return NotImplemented
    return inplace_update(self, _fn.matmul(operand_for_inplace(self), other), "__imatmul__")


def _operators() -> dict:
    """Every Python operator of ``Tensor``, by dunder name."""
    ops = {}
    for op, name in _ARITHMETIC.items():
        f = getattr(_fn, name)
        o = f.operator  # f itself, but NotImplemented for a foreign operand
        o.__name__ = o.__qualname__ = f"__{op}__"
        ops[f"__{op}__"] = o
        ops[f"__r{op}__"] = r = _reflected(o)
        r.__name__ = r.__qualname__ = f"__r{op}__"
        ops[f"__i{op}__"] = _inplace_operator(f, op)
    for op, name in _COMPARISONS.items():
        ops[f"__{op}__"] = _comparison(getattr(_fn, name))
    for op, name in _UNARY_OPERATORS.items():
        ops[f"__{op}__"] = getattr(_fn, name)
    ops.update(__matmul__=_matmul_op, __rmatmul__=_rmatmul_op, __imatmul__=_imatmul_op,
               __getitem__=_indexing_functions._getitem,
               __setitem__=_indexing_functions._setitem)
    return ops


# -- binding -----------------------------------------------------------------------
_UNARY = ["abs", "acos", "acosh", "asin", "asinh", "atan", "atanh", "ceil", "conj", "cos", "cosh",
          "exp", "expm1", "floor", "isfinite", "isinf", "isnan", "log", "log1p", "log2", "log10",
          "logical_not", "negative", "positive", "reciprocal", "round", "sign", "sin", "sinh",
          "sqrt", "square", "tan", "tanh", "trunc", "real", "imag"]
_BINARY = {"mul": "multiply", "div": "divide", "pow": "pow", "matmul": "matmul",
           "maximum": "maximum", "minimum": "minimum", "remainder": "remainder",
           "eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal", "gt": "greater",
           "ge": "greater_equal", "logical_and": "logical_and", "logical_or": "logical_or",
           "atan2": "atan2", "mm": "matmul", "bmm": "matmul"}
_ALIASES = {"neg": "negative", "arcsin": "asin", "arccos": "acos", "arctan": "atan",
            "rsqrt": None}


def _bind_unary(name, target):
    def method(self):
        return getattr(_fn, target)(self)
    method.__name__ = name
    method.__doc__ = f"``arraylib.{target}(self)``."
    setattr(Tensor, name, method)


def _bind_binary(name, target):
    def method(self, other):
        return getattr(_fn, target)(self, other)
    method.__name__ = name
    method.__doc__ = f"``arraylib.{target}(self, other)``."
    setattr(Tensor, name, method)


def _rsqrt(self):
    return 1.0 / _fn.sqrt(self)


def _index_select(self, dim, index):
    return _fn.take(self, index, axis=dim)


def _gather(self, dim, index):
    return _fn.take_along_axis(self, index, axis=dim)


# -- PyTorch's methods from _torch_functions ------------------------------------------
def _where(self, condition, other):
    """``where(condition, self, other)``."""
    return _tf.where(condition, self, other)


def _expand_as(self, other):
    return _fn.broadcast_to(self, other.shape)


def _view_as(self, other):
    return _fn.reshape(self, other.shape)


def _unflatten(self, dim, sizes):
    d = _norm_dim("Tensor.unflatten", dim, self.ndim)
    shape = self.shape
    return _fn.reshape(self, shape[:d] + tuple(sizes) + shape[d + 1:])


def _masked_select(self, mask):
    return self[_fn.broadcast_to(mask, self.shape)] if mask.shape != self.shape else self[mask]


def _multinomial(self, num_samples, replacement=False, *, generator=None):
    return _tf.multinomial(self, num_samples, replacement, generator=generator)


def _scatter_(self, dim, index, src=None, *, value=None, reduce=None):
    return _inplace(self, lambda s: _tf.scatter(s, dim, index, src, value=value, reduce=reduce),
                    "Tensor.scatter_")


def _scatter_add_(self, dim, index, src):
    return _inplace(self, lambda s: _tf.scatter_add(s, dim, index, src), "Tensor.scatter_add_")


def _inplace_of(f, name):
    def method(self, *args, **kwargs):
        return _inplace(self, lambda s: f(s, *args, **kwargs), f"Tensor.{name}")
    method.__name__ = name
    method.__doc__ = f"In-place ``{name[:-1]}``."
    return method


def _clamp_min(self, min):
    return _tf.clamp(self, min=min)


def _clamp_max(self, max):
    return _tf.clamp(self, max=max)


def _get_device(self):
    return self.device.index if self.device.type == "cuda" else -1


def _torch_methods() -> dict:
    """Methods with PyTorch's names and signatures, from ``_torch_functions``."""
    m = dict(
        split=_tf.split, chunk=_tf.chunk, narrow=_tf.narrow, unbind=_tf.unbind,
        tensor_split=_tf.tensor_split, topk=_tf.topk, gather=_tf.gather,
        scatter=_tf.scatter, scatter_add=_tf.scatter_add, scatter_=_scatter_,
        scatter_add_=_scatter_add_, multinomial=_multinomial, unique=_tf.unique,
        allclose=_tf.allclose, isclose=_tf.isclose, equal=_tf.equal,
        cumprod=_tf.cumprod, logsumexp=_tf.logsumexp, roll=_tf.roll, flip=_tf.flip,
        argsort=_tf.argsort, nonzero=_tf.nonzero, argwhere=_tf.argwhere,
        amax=_tf.amax, amin=_tf.amin, tril=_tf.tril, triu=_tf.triu, where=_where,
        expand_as=_expand_as, view_as=_view_as, reshape_as=_view_as, unflatten=_unflatten,
        masked_select=_masked_select, movedim=_tf.movedim, moveaxis=_tf.movedim,
        swapaxes=_tf.swapaxes, swapdims=_tf.swapaxes, dot=_tf.dot, outer=_tf.outer,
        clamp_min=_clamp_min, clamp_max=_clamp_max, type=_tf.type_, div=_tf.div,
        divide=_tf.div, true_divide=_tf.true_divide, floor_divide=_tf.floor_divide,
        multiply=_tf.mul, subtract=_tf.sub, logical_xor=_tf.logical_xor, hypot=_tf.hypot,
        logaddexp=_tf.logaddexp, sort=_tf.sort, is_contiguous=lambda self, *a, **k: True,
        pin_memory=lambda self, *a, **k: self, share_memory_=lambda self: self,
        get_device=_get_device,
        short=_caster(_dtypes.int16, "short"), byte=_caster(_dtypes.uint8, "byte"),
        char=_caster(_dtypes.int8, "char"), cfloat=_caster(_dtypes.complex64, "cfloat"),
        cdouble=_caster(_dtypes.complex128, "cdouble"),
    )
    for name, dt in (("half", "float16"), ("bfloat16", "bfloat16")):
        if getattr(_dtypes, dt, None) is not None:  # once the half-precision dtypes exist
            m[name] = _caster(getattr(_dtypes, dt), name)
    for name in ("exp", "log", "sqrt", "abs", "neg", "sigmoid", "tanh", "relu", "floor",
                 "ceil", "round", "trunc", "sign", "reciprocal", "sin", "cos", "square",
                 "pow", "remainder", "tril", "triu", "clamp_min", "clamp_max", "log1p",
                 "expm1", "rsqrt", "atan2"):
        f = m.get(name) or getattr(Tensor, name, None) or getattr(_tf, name)
        m[name + "_"] = _inplace_of(f, name + "_")
    return m


def _bind():
    for name in _UNARY:
        _bind_unary(name, name)
    for name, target in _ALIASES.items():
        if target is not None:
            _bind_unary(name, target)
    for name, target in _BINARY.items():
        _bind_binary(name, target)
    methods = dict(
        view=_view, reshape=_reshape, flatten=flatten, unsqueeze=unsqueeze, squeeze=_squeeze,
        permute=_permute, transpose=transpose, t=_t, expand=_expand, repeat=_repeat,
        clone=_clone, contiguous=_contiguous,
        sum=_sum, prod=_prod, mean=_mean, std=_std, var=_var, argmax=_argmax, argmin=_argmin,
        all=_all, any=_any, cumsum=_cumsum, sort=_sort, norm=_norm,
        max=_extremum(_fn.max, _fn.argmax, _fn.maximum, "max"),
        min=_extremum(_fn.min, _fn.argmin, _fn.minimum, "min"),
        sigmoid=sigmoid, relu=relu, softmax=softmax, log_softmax=log_softmax, rsqrt=_rsqrt,
        clamp=clamp, clip=clamp, add=_add, sub=_sub, masked_fill=_masked_fill,
        type_as=_type_as, index_select=_index_select, gather=_gather,
        add_=_add_, sub_=_sub_, mul_=_mul_, div_=_div_, clamp_=_clamp_, zero_=_zero_,
        fill_=_fill_, copy_=_copy_, masked_fill_=_masked_fill_,
        float=_caster(_dtypes.float32, "float"), double=_caster(_dtypes.float64, "double"),
        long=_caster(_dtypes.int64, "long"), int=_caster(_dtypes.int32, "int"),
        bool=_caster(_dtypes.bool, "bool"),
        new_zeros=_new_factory(lambda s, **k: _fn.zeros(s, **k)),
        new_ones=_new_factory(lambda s, **k: _fn.ones(s, **k)),
        new_empty=_new_factory(lambda s, **k: _fn.empty(s, **k)),
        new_full=_new_full, new_tensor=_new_tensor,
        nelement=lambda self: self.numel(), ndimension=lambda self: self.ndim,
        is_floating_point=lambda self: self.dtype in _dtypes.real_floating_set,
        is_complex=lambda self: self.dtype.kind == "c",
        element_size=lambda self: self.dtype.itemsize,
    )
    methods.update(_operators())
    methods.update(_torch_methods())
    methods.update(
        uniform_=_random._uniform_, normal_=_random._normal_, random_=_random._random_,
        bernoulli_=_random._bernoulli_,
        T=property(_T), mT=property(_mT), backward=_backward, to_device=_to_device, to=_to,
        cpu=_cpu, cuda=_cuda, __repr__=_repr, __str__=_repr, __reduce__=_reduce,
        __deepcopy__=_manipulation_functions.deepcopy_tensor)
    for name, f in methods.items():
        setattr(Tensor, name, f)
    Tensor.is_cuda = property(lambda self: self.device.type == "cuda")


_bind()
