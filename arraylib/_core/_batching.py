"""vmap's machinery: batched tensors, levels, and the batching path of ``apply``.

Design (torch.func's levels):

- ``vmap`` opens a *level* (``push_level(size, randomness)``; levels nest, innermost is
  the highest number) and wraps each batched input as a ``BatchedTensor`` of that level
  (``wrap(value, level)``).  ``value`` is an ordinary tensor (or a batched tensor of a
  lower level) with the batch of this level at dim 0: the physical array, batch dims
  first, outermost level first.  The wrapper's ``_data`` is a ``LogicalStorage`` (the
  per-example shape and the dtype), so ``shape``/``ndim``/``size``/``len``/iteration and
  every function's argument checks see one example; computing on it raises, so a
  function that reads storage directly fails loudly instead of silently.  The wrapper
  reports ``_requires_grad`` True so the storage fast paths (taken when nothing is
  recorded) send it through ``apply``; its public ``requires_grad`` is its value's.
- ``apply``/``apply1``/``apply2`` (``_primitive``) divert to ``batch_apply`` when an
  operand's class is ``BatchedTensor`` (one class test per operand).  ``batch_apply``
  takes the highest level among the operands, unwraps that level's operands to their
  values (others pass as they are: unbatched) and calls the primitive's rule
  ``prim.batch(ns, bdims, *values, **params)``: ``bdims[i]`` is 0 for a batched value,
  None for an unbatched one; ``ns`` is arraylib's namespace.  The rule computes the
  batched result with ordinary operations on the values (usually the same primitive
  with shifted axes / batched shapes) and returns it (a tuple when ``nout > 1``) with the
  batch at dim 0; ``batch_apply`` wraps it.  A ``LevelRule`` also gets the level (for
  tensors held in parameters, e.g. ``where``'s condition).  Fast paths (vmap's per-op
  cost): an element-wise primitive (``ElementwiseRule``) whose operands' batch dims
  already line up runs on the values at once, without calling its rule; so does a
  single-operand ``AxisRule`` primitive (reductions, softmax, reshapes: its physical
  parameters memoized per parameter dict); a batched tensor with a Python float/int
  (``x * 2``) runs the operator on its value; a lower-rank batched operand is lifted by
  the ``batch_lift`` view primitive, not ``reshape``, or, when neither operand records
  a node or carries a tangent, by a plain reshape of its storage (used at once).
- Autograd therefore records ordinary nodes on the values: ``grad(vmap(f))`` needs
  nothing.  Inside vmap the engine's ``grad`` calls ``grad`` below, which differentiates
  the values of the highest level (one backward gives every example's gradient), or,
  when only the cotangents are batched (a vmap over ``vjp``: jacrev), runs the engine on
  tensors so that the batched cotangents go through the batching rules.  Forward mode:
  a batched tensor's tangent is kept on its value (``_tangent``).
- A primitive without a rule (``batch=None``) raises NotImplementedError naming it;
  there is no per-example loop.  Data-dependent operations (``item``, ``bool``, ``int``,
  batched boolean masks, ``nonzero``, ``unique_*``) raise RuntimeError naming the
  operation and the alternative.  Random functions follow the innermost levels'
  ``randomness`` (``random_shape``/``wrap_random``).

Internal API (also for ``arraylib.func`` and ``autograd.Function``):

- ``is_batched(t)``, ``level_of(t)`` (0: unbatched); ``current_level()`` (0 outside vmap),
  ``level_size(level)``, ``level_randomness(level)``.
- ``push_level(size, randomness) -> level`` / ``pop_level(level)``; ``wrap(value, level)``
  (batch at dim 0 of ``value``) and ``unwrap(t, level) -> value or None``.
- ``expand_to_level(t, level)``: ``t`` (unbatched at ``level``) made batched by
  broadcasting; ``expand_batch(t, n)``.  A transform that differentiates inputs that are
  not batched inside vmap (per-example gradients of shared weights) expands them first.
- ``custom_function_rule(vmap_fn)``: a rule from an ``autograd.Function``'s ``vmap``
  staticmethod (torch.func's ``vmap(info, in_dims, *args) -> (outputs, out_dims)``).
- Rule builders for the chapters: ``elementwise_rule``, ``axis_rule`` (axis and shape
  parameters), ``perm_rule``, ``matrix_rule`` (stacks of matrices), ``matmul_rule``,
  ``solve_rule``, ``getitem_rule``/``scatter_rule``/``index_put_rule``, ``where_rule``,
  ``conv_rule``, ``linear_rule``, ``cross_entropy_rule``, ``flatten_rule``, ``pad_rule``,
  ``crop_rule``, ``data_dependent(name, alternative)``, ``unsupported(name, alternative)``.
"""
from __future__ import annotations

import threading

from . import _cast, _primitive
from ._grad_mode import anywhere, state
from ._namespace import tensor_namespace
from ._primitive import Primitive, apply, apply1, apply2
from ._promotion import binary_operands
from ._tensor import Size, Tensor, _Numel, _int_new, _new

_object_new = object.__new__


# -- levels ---------------------------------------------------------------------------
class _Levels(threading.local):
    def __init__(self):
        self.stack = []  # [(level, size, randomness)], innermost last


_levels = _Levels()


def push_level(size: int, randomness: str = "error") -> int:
    """Open a vmap level of batch ``size``; returns its number."""
    stack = _levels.stack
    level = stack[-1][0] + 1 if stack else 1
    stack.append((level, size, randomness))
    return level


def pop_level(level: int) -> None:
    stack = _levels.stack
    if not stack or stack[-1][0] != level:
        raise RuntimeError(f"vmap: level {level} closed out of order")
    stack.pop()


def current_level() -> int:
    """The innermost open level in this thread (0 outside vmap)."""
    stack = _levels.stack
    return stack[-1][0] if stack else 0


def _frame(level):
    for f in _levels.stack:
        if f[0] == level:
            return f
    raise RuntimeError(f"vmap: a batched tensor of level {level} was used outside its vmap "
                       "(it escaped the function, e.g. through a global or a closure)")


def level_size(level: int) -> int:
    return _frame(level)[1]


def level_randomness(level: int) -> str:
    return _frame(level)[2]


# -- the batched tensor ----------------------------------------------------------------
def _refuse(what, alternative):
    def method(self, *args, **kwargs):
        raise RuntimeError(f"vmap: {what} on a batched tensor would need its value, which is "
                           f"different for each example (data-dependent control flow); "
                           f"{alternative}")
    method.__name__ = what
    return method


class LogicalStorage:
    """What a batched tensor holds as ``_data``: the per-example ``shape`` and the
    ``dtype``, for the checks of every function; computing on it raises (a function that
    reads storage directly has no vmap path)."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape = shape
        self.dtype = dtype

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        n = 1
        for s in self.shape:
            n *= s
        return n

    def _no_storage(self, *args, **kwargs):
        raise RuntimeError("vmap: a function read the storage of a batched tensor directly "
                           "(it has no batching path); please report it")

    __array__ = __getitem__ = __setitem__ = __iter__ = __len__ = __bool__ = __index__ = \
        __float__ = __int__ = __dlpack__ = __array_namespace__ = _no_storage
    for _op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and",
                "or", "xor", "lt", "le", "gt", "ge", "neg", "abs", "invert"):
        locals()[f"__{_op}__"] = _no_storage
    del _op


class BatchedTensor(Tensor):
    """A tensor inside ``vmap``: ``_value`` carries the batch of level ``_level`` at
    dim 0; ``_data`` is a ``LogicalStorage`` (the per-example shape and the dtype), so
    shape, ndim, size, len and every function's checks see one example.  It reports
    ``_requires_grad`` True so that the storage fast paths (taken when nothing is
    recorded) are never used on it; its public ``requires_grad`` is its value's."""

    __slots__ = ("_value", "_level", "_nb")

    @property
    def _requires_grad(self):
        return True

    @_requires_grad.setter
    def _requires_grad(self, v):
        pass

    @property
    def _tangent(self):  # forward mode: the value carries the (physical) tangent
        gen, t = self._value._tangent
        return gen, wrap(t, self._level)

    @_tangent.setter
    def _tangent(self, pair):
        gen, t = pair
        self._value._tangent = (gen, expand_to_level(t, self._level,
                                                     self._value.shape[0])._value)

    def __repr__(self):
        return (f"BatchedTensor(level={self._level}, bdim=0, shape={Size(self.shape)}, "
                f"value={self._value!r})")

    __str__ = __repr__

    def __format__(self, spec):
        return repr(self)

    # autograd state: the value's
    @property
    def requires_grad(self) -> bool:
        return self._value.requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        self._value.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True):
        self._value.requires_grad_(requires_grad)
        return self

    @property
    def grad_fn(self):
        return self._value.grad_fn

    @property
    def is_leaf(self) -> bool:
        return self._value.is_leaf

    @property
    def grad(self):
        g = self._value.grad
        return None if g is None else wrap(g, self._level)

    @grad.setter
    def grad(self, value):
        self._value.grad = None if value is None else expand_to_level(value, self._level,
                                                                      self._value.shape[0])

    def detach(self):
        return wrap(self._value.detach(), self._level)

    def detach_(self):
        self._value.detach_()
        return self

    @property
    def data(self):
        return self.detach()

    def __getitem__(self, key):
        return get_item(self, key)

    def __setitem__(self, key, value):
        set_item(self, key, value)

    item = _refuse("Tensor.item()", "keep the value a tensor, or move the computation out of "
                   "vmap")
    __bool__ = _refuse("bool(tensor)", "use arraylib.where(cond, a, b) instead of `if`")
    __int__ = _refuse("int(tensor)", "keep the value a tensor")
    __float__ = _refuse("float(tensor)", "keep the value a tensor")
    __complex__ = _refuse("complex(tensor)", "keep the value a tensor")
    __index__ = _refuse("tensor.__index__() (a tensor used as a Python index)",
                        "index with the tensor itself (take/gather) instead")
    tolist = _refuse("Tensor.tolist()", "return the tensor from the vmapped function")
    numpy = _refuse("Tensor.numpy()", "return the tensor from the vmapped function")
    __array__ = _refuse("conversion to a NumPy array", "return the tensor from the vmapped "
                        "function")
    __dlpack__ = _refuse("__dlpack__", "return the tensor from the vmapped function")


def _install_inplace():
    ops = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
           "xor", "lshift", "rshift")
    for op in ops:
        def iop(self, other, _op=f"__{op}__"):
            r = getattr(self, _op)(other)
            if r is NotImplemented:
                return r
            set_item(self, Ellipsis, r)
            return self
        iop.__name__ = f"__i{op}__"
        setattr(BatchedTensor, f"__i{op}__", iop)


_install_inplace()


def _install_scalar_operators():
    """``batched op scalar`` with a Python float or int: the operator on the value (the
    scalar is the same for every example), so the value's weak-scalar fast path is taken;
    anything else goes through the rules."""
    for op in ("add", "sub", "mul", "truediv", "pow"):
        for name in (f"__{op}__", f"__r{op}__"):
            def sop(self, other, _name=name):
                c = other.__class__
                if c is float or c is int:  # (a nested value: its own override)
                    return _wrap_result(getattr(self._value, _name)(other), self._level)
                return getattr(Tensor, _name)(self, other)
            sop.__name__ = sop.__qualname__ = name
            setattr(BatchedTensor, name, sop)


_install_scalar_operators()


def is_batched(t) -> bool:
    return t.__class__ is BatchedTensor


def level_of(t) -> int:
    """The level of a batched tensor (0 for any other)."""
    return t._level if t.__class__ is BatchedTensor else 0


def wrap(value: Tensor, level: int) -> BatchedTensor:
    """``value`` (batch at dim 0) as a batched tensor of ``level``."""
    if value.__class__ is BatchedTensor and value._level >= level:
        raise RuntimeError(f"vmap: can't wrap a level-{value._level} tensor at level {level}")
    t = _object_new(BatchedTensor)
    t._value = value
    t._level = level
    t._nb = value._nb + 1 if value.__class__ is BatchedTensor else 1
    t._device = value._device
    data = value._data
    d = _object_new(LogicalStorage)
    d.shape = tuple(data.shape[1:])
    d.dtype = data.dtype
    t._data = d
    t._grad_fn = None
    t._vc = None
    t._base = None
    return t


def unwrap(t, level: int):
    """The value (batch at dim 0) of ``t`` at ``level``, or None when ``t`` is unbatched
    there."""
    if t.__class__ is BatchedTensor and t._level == level:
        return t._value
    return None


def expand_to_level(t, level: int, size: int | None = None):
    """``t`` made a batched tensor of ``level`` by broadcasting (already batched there:
    returned as it is)."""
    if t.__class__ is BatchedTensor and t._level == level:
        return t
    return wrap(expand_batch(t, level_size(level) if size is None else size), level)


def expand_batch(t, size: int):
    """``t`` broadcast to a new leading dim of ``size``."""
    ns = tensor_namespace()
    return ns.broadcast_to(ns.expand_dims(t, axis=0), (size,) + tuple(t.shape))


# -- the batching path of apply --------------------------------------------------------
class LevelRule:
    """A rule that also receives the level it runs at: ``fn(level, ns, bdims, ...)`` (for
    tensors held in parameters, e.g. ``where``'s condition)."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn


_B0, _B00, _B0N, _BN0 = (0,), (0, 0), (0, None), (None, 0)
_ns = []  # arraylib's namespace, once known


def batch_apply(prim, inputs, params):
    """``apply(prim, inputs, params)`` where an operand is batched (see the module doc).
    Element-wise primitives whose operands line up, single-operand axis rules and a
    batched matrix product with an unbatched matrix run at once (no rule call)."""
    rule = prim.batch
    k = len(inputs)
    out = None
    if k == 1:
        t = inputs[0]
        level = t._level
        v = t._value
        c = rule.__class__
        if c is ElementwiseRule:
            out = apply1(prim, v, params)
        elif c is AxisRule and prim.nout == 1:  # (reductions, softmax, reshapes, ...)
            d = v._data
            p = rule.physical(params, d.shape[0], d.ndim - 1)
            if p is not None:
                out = apply1(prim, v, p)
        if out is None:
            values = (v,)
            bdims = _B0
    elif k == 2:  # (the binary hot path: no lists)
        a, b = inputs
        la = a._level if a.__class__ is BatchedTensor else 0
        lb = b._level if b.__class__ is BatchedTensor else 0
        if la == lb:
            level, values, bdims = la, (a._value, b._value), _B00
        elif la > lb:
            level, values, bdims = la, (a._value, b), _B0N
        else:
            level, values, bdims = lb, (a, b._value), _BN0
        c = rule.__class__
        if c is ElementwiseRule:
            a, b = _line_up(bdims[0], values[0], bdims[1], values[1])
            out = apply2(prim, a, b, params)
        elif c is MatmulRule and bdims[1] is None:
            a, b = values
            if b._data.ndim == 2 and a._data.ndim >= 2:  # (B, ..., k) @ (k, m): as it is
                out = apply2(prim, a, b, params)
    else:
        level = 0
        for t in inputs:
            if t.__class__ is BatchedTensor and t._level > level:
                level = t._level
        values = []
        bdims = []
        for t in inputs:
            if t.__class__ is BatchedTensor and t._level == level:
                values.append(t._value)
                bdims.append(0)
            else:
                values.append(t)
                bdims.append(None)
        bdims = tuple(bdims)
    if out is None:
        if rule is None:
            raise NotImplementedError(f"vmap: the primitive '{prim.name}' has no batching "
                                      "rule")
        ns = _ns[0] if _ns else _namespace()
        if rule.__class__ is LevelRule:
            out = rule.fn(level, ns, bdims, *values, **params)
        else:
            out = rule(ns, bdims, *values, **params)
        if prim.nout != 1:
            return tuple(wrap(o, level) for o in out)
    if out.__class__ is BatchedTensor:
        return wrap(out, level)
    t = _object_new(BatchedTensor)  # _wrap_result(out, level), inlined
    t._value = out
    t._level = level
    t._nb = 1
    t._device = out._device
    data = out._data
    d = _object_new(LogicalStorage)
    d.shape = tuple(data.shape[1:])
    d.dtype = data.dtype
    t._data = d
    t._grad_fn = None
    t._vc = None
    t._base = None
    return t


def _wrap_result(value, level):
    """``wrap(value, level)`` for a rule's result (``wrap``'s check only for a batched
    value: a plain one can't be of a level at or above ``level``)."""
    if value.__class__ is BatchedTensor:
        return wrap(value, level)
    t = _object_new(BatchedTensor)
    t._value = value
    t._level = level
    t._nb = 1
    t._device = value._device
    data = value._data
    d = _object_new(LogicalStorage)
    d.shape = tuple(data.shape[1:])
    d.dtype = data.dtype
    t._data = d
    t._grad_fn = None
    t._vc = None
    t._base = None
    return t


wrap_plain = _wrap_result  # ``wrap`` for a plain tensor (no level check)


def _namespace():
    ns = tensor_namespace()
    _ns.append(ns)
    return ns


_primitive._Batched = BatchedTensor
_primitive.batch_apply = batch_apply


# -- random numbers -------------------------------------------------------------------
def random_shape(func: str, shape: tuple):
    """``(shape to draw, levels)`` for a random draw of ``shape`` in this thread: outside
    vmap as it is; inside, one leading dim per open level whose randomness is 'different'
    (then ``wrap_random`` makes the draw batched at those levels); 'error' raises."""
    stack = _levels.stack
    if not stack:
        return shape, ()
    for level, n, randomness in stack:
        if randomness == "error":
            raise RuntimeError(f"vmap: {func} was called inside vmap with randomness='error' "
                               "(the default); pass randomness='different' for independent "
                               "draws per example or 'same' for one draw shared by all")
    diff = [(level, n) for level, n, randomness in stack if randomness == "different"]
    if diff and func == "randperm":
        raise NotImplementedError("vmap: randperm with randomness='different' is not "
                                  "supported; use argsort(rand(...)) instead")
    return tuple(n for _, n in diff) + tuple(shape), tuple(level for level, _ in diff)


def wrap_random(out, levels):
    """A draw made for ``random_shape``'s levels, batched at them."""
    for level in levels:
        out = wrap(out, level)
    return out


# -- helpers for rules ---------------------------------------------------------------
def batch_size(bdims, values) -> int:
    for b, v in zip(bdims, values):
        if b is not None:
            return v.shape[0]
    raise RuntimeError("vmap: no batched operand")


def logical_ndim(b, v) -> int:
    return v.ndim - (0 if b is None else 1)


def align(ns, bdims, values, rank=None):
    """Values of an element-wise operation, batched ones reshaped so that the batch dim
    broadcasts against the unbatched ones: ``(B, 1, ..., 1, *shape)`` to ``rank`` logical
    dims (default: the highest logical rank)."""
    if rank is None:
        rank = max(logical_ndim(b, v) for b, v in zip(bdims, values))
    out = []
    for b, v in zip(bdims, values):
        if b is not None and v.ndim - 1 < rank:
            s = tuple(v.shape)
            v = ns.reshape(v, s[:1] + (1,) * (rank - len(s) + 1) + s[1:])
        out.append(v)
    return out


def batched_all(ns, bdims, values):
    """Every value batched (unbatched ones broadcast along a new dim 0)."""
    n = batch_size(bdims, values)
    return [v if b is not None else expand_batch(v, n) for b, v in zip(bdims, values)]


def axis_shift(axis, ndim: int):
    """A logical axis (int, tuple or None) of a tensor of logical rank ``ndim`` as the
    physical axis of its value (batch at 0); None means every logical axis."""
    if axis is None:
        return tuple(range(1, ndim + 1))
    if isinstance(axis, tuple):
        return tuple(_shift1(a, ndim) for a in axis)
    return _shift1(axis, ndim)


def _shift1(a, ndim):
    a = a.__index__()
    if a >= 0:
        return a + 1
    if a < -max(ndim, 1):
        raise IndexError(f"vmap: axis {a} is out of range for a tensor of {ndim} dimensions")
    return a + ndim + 1


class ElementwiseRule:
    """The rule of an element-wise primitive: align the batch dims, broadcast.
    ``batch_apply`` runs the common cases (operands whose batch dims already line up)
    without calling it."""

    __slots__ = ("prim",)

    def __init__(self, prim):
        if prim.nout != 1:
            raise ValueError(f"elementwise_rule: '{prim.name}' has {prim.nout} outputs; "
                             "element-wise rules are for one-output primitives")
        self.prim = prim

    def __call__(self, ns, bdims, *values, **params):
        prim = self.prim
        if len(values) == 1:
            return apply1(prim, values[0], params)
        if len(values) == 2:
            a, b = _line_up(bdims[0], values[0], bdims[1], values[1])
            return apply2(prim, a, b, params)
        return apply(prim, tuple(align(ns, bdims, values)), params)


def _line_up(da, a, db, b):
    """Two operands (batch dims ``da``, ``db``: 0 or None) that broadcast example by
    example: the batched one of lower logical rank lifted (``_lift``)."""
    na, nb = a._data.ndim, b._data.ndim
    if (na == nb if db is not None else nb < na) if da is not None else na < nb:
        return a, b  # lined up already
    ra, rb = na - (da is not None), nb - (db is not None)
    # nothing will be recorded: the lifted operand can be a plain reshape of the storage
    quiet = not (a._requires_grad or b._requires_grad or anywhere.dual and state.dual_level)
    v, rank = (a, rb) if ra < rb else (b, ra)  # (the batched one: an unbatched lower rank
    d = v._data                                # lines up)
    s = tuple(d.shape)
    shape = s[:1] + (1,) * (rank - len(s) + 1) + s[1:]
    if quiet and v.__class__ is Tensor:
        dev = v._device
        v = _new(dev._backend.reshape(d, shape), dev)
    else:
        v = apply1(batch_lift, v, {"shape": shape, "src": s})
    return (v, b) if ra < rb else (a, v)


elementwise_rule = ElementwiseRule


class AxisRule:
    """The rule of a primitive whose parameters name logical axes (``axes``: ints, tuples
    or None for every axis) and logical shapes (``shapes``): axes move past the batch dim,
    shapes get the batch size in front.  ``expand``: every operand batched (broadcast
    where not).  ``flatten_none``: an axis None means "as if flattened" (the operand is
    flattened per example and the axis becomes 0).  ``negative``: negative axes stay
    (counted from the end, where the batch never is).  ``batch_apply`` runs a batched
    single operand through ``physical`` (memoized parameters) without calling the rule."""

    __slots__ = ("prim", "axes", "shapes", "expand", "flatten_none", "negative", "_memo")

    def __init__(self, prim, axes=("axis",), shapes=(), expand=False, flatten_none=False,
                 negative=False):
        self.prim, self.axes, self.shapes = prim, tuple(axes), tuple(shapes)
        self.expand, self.flatten_none, self.negative = expand, flatten_none, negative
        self._memo = {}

    def physical(self, params, n: int, nd: int):
        """The parameters for a value of batch size ``n`` and logical rank ``nd`` (None:
        an axis None that ``flatten_none`` flattens), memoized per ``params`` dict (the
        chapters memoize theirs; the entry keeps the dict, so its id is not reused)."""
        memo = self._memo
        m = memo.get(id(params))
        if m is not None and m[0] is params and m[1] == n and m[2] == nd:
            return m[3]
        p = self._shift(params, n, nd)
        if p is not None:
            if len(memo) >= 256:
                memo.clear()
            memo[id(params)] = (params, n, nd, p)
        return p

    def _shift(self, params, n, nd):
        p = dict(params)
        for name in self.axes:
            a = params[name]
            if a is None and self.flatten_none:
                return None
            p[name] = a if self.negative and isinstance(a, int) and a < 0 \
                else axis_shift(a, nd)
        for name in self.shapes:
            if params[name] is not None:
                p[name] = (n,) + tuple(params[name])
        return p

    def __call__(self, ns, bdims, *values, **params):
        prim = self.prim
        if self.expand:
            values = align(ns, (0,) * len(values), batched_all(ns, bdims, values))
        elif len(values) > 1:
            values = align(ns, bdims, values)
        x = values[0] if bdims[0] is not None or self.expand else values[bdims.index(0)]
        n = x.shape[0]
        p = self._shift(params, n, x.ndim - 1)
        if p is None:  # an axis None, as if flattened
            p = dict(params)
            for name in self.axes:
                if p[name] is None:
                    p[name] = 1
            out = apply(prim, (ns.reshape(values[0], (n, -1)),) + tuple(values[1:]), p)
            return ns.reshape(out, tuple(x.shape)) if prim.nout == 1 else out
        if len(values) == 1 and prim.nout == 1:
            return apply1(prim, values[0], p)
        return apply(prim, tuple(values), p)


axis_rule = AxisRule


def _lift_fwd(B, x, *, shape, src):
    return B.reshape(x, shape)


def _lift_vjp(ns, needs, g, out, x, *, shape, src):
    return (ns.reshape(g, src),)


def _lift_jvp(ns, tangents, out, x, *, shape, src):
    return ns.reshape(tangents[0], shape)


# the reshape that lines a batched value up with a higher-rank operand (``_lift``)
batch_lift = Primitive("batch_lift", _lift_fwd, _lift_vjp, _lift_jvp, saves_inputs=False,
                       saves_output=False, view=True)
batch_lift.batch = axis_rule(batch_lift, axes=(), shapes=("shape", "src"))


def perm_rule(prim, name="axes"):
    """The rule of a permutation of axes (``params[name]``)."""
    def rule(ns, bdims, x, **params):
        return apply(prim, (x,), {**params, name: (0,) + tuple(a + 1 for a in params[name])})
    return rule


def matrix_rule(prim):
    """The rule of a primitive that maps over leading (stack) dims of its operands (which
    broadcast): the batch becomes one more stack dim."""
    def rule(ns, bdims, *values, **params):
        if len(values) > 1:
            values = align(ns, bdims, values)
        return apply(prim, tuple(values), params)
    return rule


def solve_rule(prim):
    """``linalg.solve``: a vector right-hand side becomes a one-column matrix."""
    def rule(ns, bdims, a, b, *, vector):
        if vector:
            b = ns.expand_dims(b, axis=-1)
        a, b = align(ns, bdims, (a, b))
        out = apply(prim, (a, b), {"vector": False})
        return ns.squeeze(out, axis=-1) if vector else out
    return rule


def flatten_rule(prim):
    """The rule of a kernel over a leading example dim of every operand (RNN cells): the
    vmap batch and that dim merge, and split again in the outputs."""
    def rule(ns, bdims, *values, **params):
        values = batched_all(ns, bdims, values)
        n, m = values[0].shape[0], values[0].shape[1]
        flat = tuple(ns.reshape(v, (n * m,) + tuple(v.shape[2:])) for v in values)
        out = apply(prim, flat, params)
        if prim.nout == 1:
            return ns.reshape(out, (n, m) + tuple(out.shape[1:]))
        return tuple(ns.reshape(o, (n, m) + tuple(o.shape[1:])) for o in out)
    return rule


def conv_rule(prim):
    """Convolution: a batched input folds the vmap batch into its own; batched weights
    become groups (one group per example)."""
    def rule(ns, bdims, x, w, *b, stride, dilation, groups, cache):
        p = {"stride": stride, "dilation": dilation, "groups": groups, "cache": {}}
        if bdims[1] is None and all(d is None for d in bdims[2:]):
            n, m = x.shape[0], x.shape[1]
            out = apply(prim, (ns.reshape(x, (n * m,) + tuple(x.shape[2:])), w, *b), p)
            return ns.reshape(out, (n, m) + tuple(out.shape[1:]))
        n = batch_size(bdims, (x, w) + b)
        x, w, *b = batched_all(ns, bdims, (x, w) + b)
        m, c = x.shape[1], x.shape[2]
        o = w.shape[1]
        xr = ns.reshape(ns.moveaxis(x, 0, 1), (m, n * c) + tuple(x.shape[3:]))
        wr = ns.reshape(w, (n * o,) + tuple(w.shape[2:]))
        br = tuple(ns.reshape(v, (n * o,)) for v in b)
        out = apply(prim, (xr, wr) + br, {**p, "groups": groups * n})
        out = ns.reshape(out, (m, n, o) + tuple(out.shape[2:]))
        return ns.moveaxis(out, 1, 0)
    return rule


def _blinear_fwd(B, x, w, *b):
    out = B.matmul(x, B.matrix_transpose(w))
    return out + B.expand_dims(b[0], axis=1) if b else out


def _blinear_vjp(ns, needs, g, out, x, w, *b):
    gx = ns.matmul(g, w) if needs[0] else None
    gw = None
    if needs[1]:
        if x.shape[1] == 1:  # one row per example: outer products, element-wise (fast)
            gw = ns.expand_dims(g[:, 0, ...], axis=-1) * ns.expand_dims(x[:, 0, ...], axis=1)
        else:
            gw = ns.matmul(ns.matrix_transpose(g), x)
    gb = ns.sum(g, axis=1) if b and needs[2] else None
    return (gx, gw, gb) if b else (gx, gw)


def _blinear_jvp(ns, tangents, out, x, w, *b):
    r = None
    tx, tw = tangents[0], tangents[1]
    if tx is not None:
        r = ns.matmul(tx, ns.matrix_transpose(w))
    if tw is not None:
        s = ns.matmul(x, ns.matrix_transpose(tw))
        r = s if r is None else r + s
    if b and tangents[2] is not None:
        s = ns.expand_dims(tangents[2], axis=1)
        r = s if r is None else r + s
    return r


# ``linear`` with per-example weights: x (N, L, in), w (N, out, in), b (N, out)
batched_linear = Primitive("batched_linear", _blinear_fwd, _blinear_vjp, _blinear_jvp,
                           saves_output=False)
batched_linear.batch = flatten_rule(batched_linear)


def linear_rule(prim):
    """``linear``: unbatched weights map over the batch as they are; batched weights
    (ensembles, per-example gradients) run as one batched matmul."""
    def rule(ns, bdims, x, w, *b):
        if bdims[1] is None and all(d is None for d in bdims[2:]):
            return apply(prim, (x, w) + b)
        n = batch_size(bdims, (x, w) + b)
        if bdims[0] is None:
            x = expand_batch(x, n)
        if bdims[1] is None:
            w = expand_batch(w, n)
        lead = tuple(x.shape[1:-1])
        xr = ns.reshape(x, (n, -1, x.shape[-1]))
        bv = () if not b else (b[0] if bdims[2] is not None else expand_batch(b[0], n),)
        out = apply(batched_linear, (xr, w) + bv)
        return ns.reshape(out, (n,) + lead + (w.shape[1],))
    return rule


def cross_entropy_rule(prim):
    """Cross-entropy: the vmap batch folds into the examples' (reduction 'none'), then
    each example's loss is reduced."""
    def rule(ns, bdims, x, t, *, ignore_index, reduction, cache):
        x, t = batched_all(ns, bdims, (x, t))
        n = x.shape[0]
        if x.ndim == 2:  # one unbatched example each
            return apply(prim, (x, t), {"ignore_index": ignore_index, "reduction": reduction,
                                        "cache": {}})
        m = x.shape[1]
        xr = ns.reshape(x, (n * m,) + tuple(x.shape[2:]))
        tr = ns.reshape(t, (n * m,) + tuple(t.shape[2:]))
        loss = apply(prim, (xr, tr), {"ignore_index": ignore_index, "reduction": "none",
                                      "cache": {}})
        loss = ns.reshape(loss, (n, m) + tuple(loss.shape[1:]))
        if reduction == "none":
            return loss
        axes = tuple(range(1, loss.ndim))
        total = ns.sum(loss, axis=axes)
        if reduction == "sum":
            return total
        if t.dtype.kind in "iu":
            count = ns.sum(ns.astype(t != ignore_index, loss.dtype), axis=axes)
        else:
            count = ns.asarray(float(loss.size // n), dtype=loss.dtype, device=loss.device)
        return total / count
    return rule


def pad_rule(prim):
    def rule(ns, bdims, x, *, pad_width, value):
        return apply(prim, (x,), {"pad_width": ((0, 0),) + tuple(pad_width), "value": value})
    return rule


def crop_rule(prim):
    def rule(ns, bdims, x, *, bounds, in_shape=None):
        p = {"bounds": ((0, x.shape[0]),) + tuple(bounds)}
        if in_shape is not None:
            p["in_shape"] = tuple(x.shape)
        return apply(prim, (x,), p)
    return rule


def take(x, indices, axis):
    """``take`` with batched indices: a batched advanced index along ``axis``."""
    level = max(level_of(x), level_of(indices))
    x = expand_to_level(x, level)
    return x[(slice(None),) * axis + (indices,)]


def take_along_axis(x, indices, axis):
    """``take_along_axis`` on batched operands: the same on their values, one axis on."""
    level = max(level_of(x), level_of(indices))
    n = level_size(level)
    xv = expand_to_level(x, level, n)._value
    iv = expand_to_level(indices, level, n)._value
    return wrap(tensor_namespace().take_along_axis(xv, iv, axis=axis + 1), level)


def reduce_values(func: str, x, axis, keepdims, **kw):
    """``func`` (a namespace reduction computing on storage: argmax, all, ...) of a batched
    ``x`` along logical ``axis`` (None: every axis), on its value."""
    ns = tensor_namespace()
    v = x._value
    nd = x.ndim
    if axis is None and func in ("argmax", "argmin"):
        out = getattr(ns, func)(ns.reshape(v, (v.shape[0], -1)), axis=1, **kw)
        if keepdims:
            out = ns.reshape(out, (v.shape[0],) + (1,) * nd)
        return wrap(out, x._level)
    return wrap(getattr(ns, func)(v, axis=axis_shift(axis, nd), keepdims=keepdims, **kw),
                x._level)


def searchsorted(x1, x2, side, sorter):
    """``searchsorted`` on batched operands: per example, the count of ``x1``'s elements
    below (``side='right'``: not above) each element of ``x2``."""
    ns = tensor_namespace()
    level = max(level_of(x1), level_of(x2), level_of(sorter))
    n = level_size(level)
    if sorter is not None:
        x1 = take_along_axis(x1, sorter, 0)
    a = expand_to_level(x1, level, n)._value
    if not isinstance(x2, Tensor):
        x2 = ns.asarray(x2, dtype=x1.dtype, device=x1.device)
    b = expand_to_level(x2, level, n)._value
    shape = tuple(b.shape)
    bb, aa = ns.reshape(b, (n, -1, 1)), ns.reshape(a, (n, 1, -1))
    below = (aa < bb) if side == "left" else (aa <= bb)
    out = ns.sum(ns.astype(below, ns.int64), axis=-1)
    return wrap(ns.reshape(out, shape), level)


def refuse_unbatched_write(x, v):
    """``x[key] = v`` with ``v`` batched and ``x`` not: every example would write into the
    same tensor."""
    raise RuntimeError(f"vmap: x[key] = v with a batched v (shape {tuple(v.shape)}) writes into "
                       f"a tensor x (shape {tuple(x.shape)}) that is not batched, which all "
                       "examples share; make x batched first (e.g. x = a * 0 for a batched "
                       "a), or build the result out of place (where, concat)")


def inplace_update(x, result, what: str):
    """An in-place update (``x.add_(y)``, ...) where ``x`` or ``result`` is batched:
    written into ``x``'s value; a batched result into a tensor not batched at its level
    is refused (every example would write into the same tensor)."""
    if level_of(result) > level_of(x):
        raise RuntimeError(f"{what}: inside vmap, the in-place result is batched (shape "
                           f"{tuple(result.shape)}) but the tensor it is written into is not; "
                           "make the tensor batched first, or use the out-of-place operation")
    if result.shape != x.shape:
        raise ValueError(f"{what}: the result has shape {tuple(result.shape)}, which can't be "
                         f"stored in a tensor of shape {tuple(x.shape)} in place")
    if result.dtype != x.dtype:
        raise TypeError(f"{what}: the result has dtype {result.dtype}, which can't be stored "
                        f"in a tensor of dtype {x.dtype} in place")
    set_item(x, Ellipsis, result)
    return x


def refuse_data_dependent(name: str, alternative: str):
    """Raise the error of a data-dependent operation on a batched tensor."""
    data_dependent(name, alternative)(None, ())


def where_rule(prim):
    """``where`` (its condition a tensor parameter): condition and operands aligned."""
    def rule(level, ns, bdims, x1, x2, *, cond):
        c = unwrap(cond, level)
        vals = align(ns, tuple(bdims) + (None if c is None else 0,),
                     (x1, x2, cond if c is None else c))
        return apply(prim, (vals[0], vals[1]), {"cond": vals[2]})
    return LevelRule(rule)


def where(prim, cond, x1, x2):
    """``where`` with a batched operand or condition (``prim``: its primitive): operands
    promoted, one of them batched at the condition's level when neither is, so that the
    call takes the batching path (also under no_grad)."""
    if not isinstance(x1, Tensor) and not isinstance(x2, Tensor):
        x1 = tensor_namespace().asarray(x1, device=cond.device)
    x1, x2 = binary_operands("where", x1, x2)
    level = level_of(cond)
    if level_of(x1) < level and level_of(x2) < level:
        x1 = expand_to_level(x1, level)
    return apply2(prim, x1, x2, {"cond": cond})


class MatmulRule:
    """``matmul``'s rule (see ``matmul_rule``); ``batch_apply`` runs a batched left operand
    times an unbatched matrix as it is, without calling it."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, ns, bdims, a, b):
        return self.fn(ns, bdims, a, b)


def matmul_rule(prim):
    """``matmul``: 1-D operands become matrices, the batch a leading stack dim."""
    def rule(ns, bdims, a, b):
        la = a._data.ndim if bdims[0] is None else a._data.ndim - 1
        lb = b._data.ndim if bdims[1] is None else b._data.ndim - 1
        if bdims[1] is None and (lb == 2 if la == 1 else 2 <= lb <= la) or \
                bdims[0] is None and lb >= 2 and la <= lb:
            return apply2(prim, a, b)  # the batch is already a stack dim
        if bdims[1] is not None and lb == 2 and la <= 2:  # per-example matrices on the right
            if bdims[0] is None:
                a = expand_batch(a, b.shape[0])
            x = ns.expand_dims(a, axis=1) if la == 1 else a
            out = apply(batched_linear, (x, ns.matrix_transpose(b)))
            return ns.squeeze(out, axis=1) if la == 1 else out
        if la == 1:
            a = ns.expand_dims(a, axis=-2)
        if lb == 1:
            b = ns.expand_dims(b, axis=-1)
        rank = max(la, lb, 2)
        a, b = align(ns, bdims, (a, b), rank)
        out = apply(prim, (a, b))
        if lb == 1:
            out = ns.squeeze(out, axis=-1)
        if la == 1:
            out = ns.squeeze(out, axis=-2 if lb != 1 else -1)
        return out
    return MatmulRule(rule)


def broadcast_rule(prim):
    """``broadcast_to``: align the value to the target rank, then batch the shapes."""
    def rule(ns, bdims, x, *, shape, src):
        x = align(ns, (0,), (x,), len(shape))[0]
        return apply(prim, (x,), {"shape": (x.shape[0],) + tuple(shape),
                                  "src": tuple(x.shape)})
    return rule


def tile_rule(prim):
    def rule(ns, bdims, x, *, reps, src):
        x = align(ns, (0,), (x,), len(reps))[0]
        return apply(prim, (x,), {"reps": (1,) + tuple(reps), "src": tuple(x.shape)})
    return rule


def repeat_rule(prim):
    def rule(ns, bdims, x, *, repeats, axis, n):
        if repeats.__class__ is BatchedTensor:
            raise RuntimeError("vmap: repeat with batched repeats is data-dependent (the "
                               "output's shape depends on each example); use the same repeats "
                               "for every example")
        return apply(prim, (x,), {"repeats": repeats, "axis": axis + 1, "n": n})
    return rule


def _is_adv(k):
    return not (k is None or k is Ellipsis or k.__class__ is slice or k.__class__ is int
                or k.__class__ is bool)


def _adv_positions(key):
    """Where the advanced indices of ``key`` are (ints count once an array is there)."""
    pos = [i for i, k in enumerate(key) if _is_adv(k)]
    if pos:
        pos = [i for i, k in enumerate(key) if _is_adv(k) or k.__class__ is int]
    return pos


def adv_first(key) -> bool:
    """Whether NumPy puts the advanced-index dims of ``(slice(None),) + key`` first (they
    are not next to each other)."""
    pos = _adv_positions(key)
    if len(pos) < 2:
        return False
    return any(key[i] is None or key[i].__class__ is slice or key[i] is Ellipsis
               for i in range(pos[0], pos[-1]))


def _adv_ndim(key):
    nd = 0
    for k in key:
        if _is_adv(k):
            nd = max(nd, k.ndim if k.dtype != bool else 1)
    return nd


def getitem_rule(prim):
    """``getitem`` (normalized key, storage index arrays): the batch dim is a full slice in
    front; NumPy's rule for separated advanced indices is undone."""
    def rule(ns, bdims, x, *, key, adv, shape):
        out = apply(prim, (x,), {"key": (slice(None),) + tuple(key), "adv": adv,
                                 "shape": (x.shape[0],) + tuple(shape)})
        if adv and adv_first(key):
            out = ns.moveaxis(out, _adv_ndim(key), 0)
        return out
    return rule


def scatter_rule(prim):
    """The adjoint of ``getitem``: scatter a batched cotangent."""
    def rule(ns, bdims, g, *, key, adv, shape):
        if adv and adv_first(key):
            g = ns.moveaxis(g, 0, _adv_ndim(key))
        return apply(prim, (g,), {"key": (slice(None),) + tuple(key), "adv": adv,
                                  "shape": (g.shape[0] if not (adv and adv_first(key))
                                            else g.shape[_adv_ndim(key)],) + tuple(shape)})
    return rule


def index_put_rule(prim, getitem_prims):
    """``x[key] = v`` out of place: both operands batched, ``v`` laid out as the region."""
    def rule(ns, bdims, x, v, *, key, adv, vshape):
        n = batch_size(bdims, (x, v))
        if bdims[0] is None:
            x = expand_batch(x, n)
            x = ns.asarray(x, copy=True)
        pkey = (slice(None),) + tuple(key)
        region = apply(getitem_prims[adv], (x,), {"key": pkey, "adv": adv,
                                                   "shape": tuple(x.shape)})
        if bdims[1] is None:
            v = expand_batch(v, n)
        lead = _adv_ndim(key) if adv and adv_first(key) else 0
        rank = region.ndim - 1
        v = align(ns, (0,), (v,), rank)[0]
        if lead:
            v = ns.moveaxis(v, 0, lead)
        return apply(prim, (x, v), {"key": pkey, "adv": adv, "vshape": tuple(v.shape)})
    return rule


def unsupported(name: str, alternative: str):
    """The rule of an internal operation vmap does not batch: an error naming it."""
    def rule(ns, bdims, *values, **params):
        raise NotImplementedError(f"vmap: {name} is not supported inside vmap; {alternative}")
    return rule


def isin_rule(prim):
    """``isin``: batched test elements against unbatched ones run as they are; batched
    test elements compare every pair per example."""
    def rule(ns, bdims, a, b, *, invert):
        if bdims[1] is None:
            return apply(prim, (a, b), {"invert": invert})
        n = b.shape[0]
        if bdims[0] is None:
            a = expand_batch(a, n)
        shape = tuple(a.shape)
        eq = ns.reshape(a, (n, -1, 1)) == ns.reshape(b, (n, 1, -1))
        out = ns.reshape(ns.any(eq, axis=-1), shape)
        return ns.logical_not(out) if invert else out
    return rule


def data_dependent(name: str, alternative: str):
    """The rule of an operation whose output shape depends on the values: an error."""
    def rule(ns, bdims, *values, **params):
        raise RuntimeError(f"vmap: {name} is data-dependent (its output's shape depends on "
                           f"each example's values) and can't be batched; {alternative}")
    return rule


def same_rule(prim):
    """The rule of a primitive that batches by itself (it already maps over leading dims
    and every operand is batched, broadcast where not)."""
    def rule(ns, bdims, *values, **params):
        return apply(prim, tuple(batched_all(ns, bdims, values)), params)
    return rule


# -- indexing and in-place writes of batched tensors --------------------------------
def _consumed(k) -> int:
    if k is None or k is Ellipsis:
        return 0
    if isinstance(k, Tensor) and k.dtype == bool:
        return k.ndim
    return 1


def physical_key(x, key):
    """``(pkey, moved)``: the key that indexes ``x``'s value as ``key`` indexes each example,
    and, when the value's result has its batch dim elsewhere, ``(src, dst)`` dim ranges to
    move (None: the batch is at dim 0)."""
    level = x._level
    k = key if isinstance(key, tuple) else (key,)
    batched = [t for t in k if t.__class__ is BatchedTensor and t._level == level]
    if not batched:
        pkey = (slice(None),) + k
        pos = _adv_positions(k)
        if pos and adv_first(k):
            return pkey, ("adv_first", _user_adv_ndim(k))
        return pkey, None
    for t in batched:
        if t.dtype == bool:
            raise RuntimeError("vmap: indexing with a batched boolean mask is data-dependent (the "
                               "result's shape depends on each example's values); use "
                               "arraylib.where(mask, x, 0) instead")
    ns = tensor_namespace()
    n = level_size(level)
    rank = _user_adv_ndim(k)
    items = []
    for t in k:
        if t.__class__ is BatchedTensor and t._level == level:
            items.append(align(ns, (0,), (t._value,), rank)[0])
        else:
            items.append(t)
    ar = ns.reshape(ns.arange(n, device=x.device), (n,) + (1,) * rank)
    pkey = (ar,) + tuple(items)
    pos = _adv_positions(k)
    if pos[0] == 0 or adv_first(k):
        return pkey, None
    return pkey, ("adv_after", rank, _dims_before(x, k, pos[0]))


def _user_adv_ndim(k) -> int:
    nd = 0
    for t in k:
        if isinstance(t, Tensor):
            nd = max(nd, 1 if t.dtype == bool else t.ndim)
        elif isinstance(t, (list, tuple)):
            nd = max(nd, 1)
    return nd


def _dims_before(x, k, first) -> int:
    used = sum(_consumed(t) for t in k)
    d = 0
    for t in k[:first]:
        if t is Ellipsis:
            d += x.ndim - used
        elif t is None or t.__class__ is slice:
            d += 1
    return d


def _to_batch_first(ns, out, moved):
    if moved is None:
        return out
    if moved[0] == "adv_first":
        return ns.moveaxis(out, moved[1], 0)
    _, rank, pre = moved  # (N, *adv, *pre, ...) -> (N, *pre, *adv, ...)
    order = (0,) + tuple(range(1 + rank, 1 + rank + pre)) + tuple(range(1, 1 + rank)) \
        + tuple(range(1 + rank + pre, out.ndim))
    return ns.permute_dims(out, order)


def _from_batch_first(ns, v, moved):
    if moved is None:
        return v
    if moved[0] == "adv_first":
        return ns.moveaxis(v, 0, moved[1])
    _, rank, pre = moved
    order = (0,) + tuple(range(1 + pre, 1 + pre + rank)) + tuple(range(1, 1 + pre)) \
        + tuple(range(1 + rank + pre, v.ndim))
    return ns.permute_dims(v, order)


def get_item(x, key):
    """``x[key]`` for a batched ``x``."""
    pkey, moved = physical_key(x, key)
    out = x._value[pkey]
    return wrap(_to_batch_first(tensor_namespace(), out, moved), x._level)


def set_item(x, key, v):
    """``x[key] = v`` for a batched ``x`` (written into its value)."""
    level = x._level
    if v.__class__ is BatchedTensor and v._level > level:
        raise RuntimeError("vmap: in-place write of a value batched at an inner level into a "
                           "tensor that is not batched there is not possible; use an "
                           "out-of-place operation (e.g. arraylib.where)")
    ns = tensor_namespace()
    if key is Ellipsis:
        region, pkey, moved = x, (slice(None), Ellipsis), None
    else:
        region = get_item(x, key)
        pkey, moved = physical_key(x, key)
    vv = unwrap(v, level) if isinstance(v, Tensor) else None
    if vv is not None:
        vv = align(ns, (0,), (vv,), region.ndim)[0]
        vv = _from_batch_first(ns, ns.broadcast_to(vv, (x._value.shape[0],)
                                                   + tuple(region.shape)), moved)
    else:
        vv = v
    x._value[pkey] = vv


# -- differentiating inside vmap (the engine's grad calls this while a level is open) ---
def grad(engine_grad, outputs, inputs, grad_outputs, kwargs):
    """``autograd.grad`` on batched tensors: differentiate the values of the highest level
    (examples are independent, so one backward gives every example's gradient)."""
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    single = isinstance(inputs, Tensor)
    inputs = (inputs,) if single else tuple(inputs)
    if grad_outputs is None:
        seeds = (None,) * len(outputs)
    else:
        seeds = (grad_outputs,) if isinstance(grad_outputs, Tensor) else tuple(grad_outputs)
    level = max(level_of(t) for t in outputs + inputs + tuple(s for s in seeds
                                                                if isinstance(s, Tensor)))
    if level == 0:
        return engine_grad(outputs, inputs, grad_outputs, **kwargs)
    if not any(level_of(t) == level for t in outputs + inputs):
        return _grad_batched_seeds(engine_grad, outputs, inputs, seeds, level, kwargs)
    n = level_size(level)
    ns = tensor_namespace()
    vouts, vseeds = [], []
    for t, s in zip(outputs, seeds):
        vt = unwrap(t, level)
        if vt is None:
            vt = t  # not batched here: its gradient is the same for every example
            vs = s if s is not None else None
            if isinstance(s, Tensor) and level_of(s) == level:
                raise RuntimeError("vmap: grad with a batched grad_output for an output that "
                                   "is not batched")
        else:
            if s is None:
                if t.ndim != 0 and t.size != 1:
                    raise RuntimeError(f"grad: grad can be implicitly created only for scalar "
                                       f"outputs; got output of shape {t.shape}, pass a gradient")
                vs = ns.ones_like(vt)
            else:
                vs = unwrap(s, level) if level_of(s) == level else expand_batch(
                    ns.asarray(s, dtype=t.dtype, device=t.device), n)
        vouts.append(vt)
        vseeds.append(vs)
    vins = []
    for t in inputs:
        vt = unwrap(t, level)
        if vt is None:
            raise RuntimeError(
                f"vmap: autograd.grad with respect to a tensor (shape {tuple(t.shape)}) that is "
                "not batched inside vmap would sum the examples' gradients; use "
                "arraylib.func.grad, which batches it, or pass it through vmap's in_dims")
        vins.append(vt)
    if all(s is None for s in vseeds):
        vseeds = None
    res = grad(engine_grad, vouts, vins, vseeds, kwargs)
    return tuple(None if g is None else wrap(g, level) for g in res)


def check_backward(tensors) -> None:
    """``backward()`` inside vmap: refused for batched tensors (the gradients of the
    examples would be summed into shared ``.grad`` fields)."""
    ts = (tensors,) if isinstance(tensors, Tensor) else tuple(tensors)
    if any(t.__class__ is BatchedTensor for t in ts):
        raise RuntimeError("vmap: backward() on a batched tensor is not supported inside vmap "
                           "(every example would accumulate into the same .grad); use "
                           "arraylib.func.grad or arraylib.autograd.grad, which return "
                           "per-example gradients")


def _grad_batched_seeds(engine_grad, outputs, inputs, seeds, level, kwargs):
    """Batched cotangents only (a vmap over ``vjp``): the engine runs every rule on
    tensors, so the batched cotangents go through the batching rules."""
    keep = kwargs.get("create_graph", False)
    kwargs = {**kwargs, "create_graph": True}
    if kwargs.get("retain_graph") is None:  # a chunked vmap runs the backward again
        kwargs["retain_graph"] = True
    res = engine_grad(outputs, inputs, seeds, **kwargs)
    return res if keep else tuple(None if g is None else g.detach() for g in res)


# -- autograd.Function's vmap staticmethod --------------------------------------------
class VmapInfo:
    """What a custom ``vmap`` staticmethod learns: ``batch_size`` and ``randomness``."""

    __slots__ = ("batch_size", "randomness")

    def __init__(self, batch_size, randomness):
        self.batch_size = batch_size
        self.randomness = randomness


def custom_function_rule(vmap_fn, level_hint=None):
    """A rule calling ``vmap_fn(info, in_dims, *args)``, which returns ``(outputs,
    out_dims)`` (torch.func's convention); outputs are moved to batch dim 0."""
    def rule(ns, bdims, *values, **params):
        n = batch_size(bdims, values)
        info = VmapInfo(n, level_randomness(current_level()) if current_level() else "error")
        out, out_dims = vmap_fn(info, bdims, *values, **params)
        single = not isinstance(out, tuple)
        outs = (out,) if single else out
        dims = (out_dims,) * len(outs) if not isinstance(out_dims, tuple) else out_dims
        moved = tuple(expand_batch(o, n) if d is None else ns.moveaxis(o, d, 0)
                      for o, d in zip(outs, dims))
        return moved[0] if single else moved
    return rule


# the cast, copy and device-transfer primitives (``_cast`` sits below this module) map
# over the batch as they are
for _p in (_cast.astype_prim, _cast.copy_prim, _cast.transfer_prim):
    _p.batch = matrix_rule(_p)
del _p
