"""Differentiable primitives: forward on storage, VJP and JVP side by side.

A primitive is one ``Primitive`` entry::

    exp = Primitive("exp", native="exp",
                    vjp=lambda ns, needs, g, out, x: (g * ns.conj(out),),
                    jvp=lambda ns, tangents, out, x: tangents[0] * out)

- ``fwd(B, *storages, **params)`` computes on backend storage (``B`` is the device's
  ``Backend``: the standard namespace plus kernels) and returns one storage array, or
  a tuple of them when ``nout > 1``.  ``native="exp"`` says the forward is the
  backend's own function of that name (called without an extra frame).
- ``vjp(ns, needs, g, out, *inputs, **params)`` returns one cotangent per input (or
  None).  ``needs[i]`` is truthy when input ``i`` wants one (it is the node's list of
  edges: test it, don't read it).  The rule is written once
  against a namespace ``ns``: the engine passes arraylib's namespace and tensors when
  a graph of the derivative is made (``create_graph``, forward-over-reverse), and the
  storage backend ``B`` and storage arrays for a plain backward.  ``g`` and ``out``
  are tuples when ``nout > 1``.  The engine undoes broadcasting and casts each
  cotangent to its input's dtype.
- ``vjp_storage(B, needs, g, out, *inputs, **params)`` (optional) replaces ``vjp`` in
  a plain backward, where the storage algorithm really differs.
- ``jvp(ns, tangents, out, *inputs, **params)`` returns the output tangent(s), on
  arraylib's namespace; ``tangents`` has None for inputs without one.  The engine
  broadcasts the result to the output's shape.

``apply`` (and its one- and two-operand fast paths ``apply1``/``apply2``) runs a
primitive on tensors: it is the only place that builds a result tensor and records a
graph node, and it propagates forward-mode tangents.
"""
from __future__ import annotations

from . import _graph, _tensor as _tensor_module
from ._forward import push_tangents
from ._grad_mode import anywhere, state
from ._graph import _FLOAT_IDS, Node, differentiable, record, view_info
from ._tensor import Tensor, _new

_NO_PARAMS: dict = {}  # shared by nodes without parameters: never mutated
# vmap's hook (installed by ``_batching``): an operand of class ``_Batched`` sends the
# call to ``batch_apply(prim, inputs, params)``, one class test per operand.
_Batched = None
batch_apply = None
_object_new = object.__new__


class Primitive:
    """One differentiable operation (see the module docstring)."""

    __slots__ = ("name", "fwd", "native", "vjp", "jvp", "vjp_storage", "saves_inputs",
                 "saves_output", "view", "nout", "batch")

    def __init__(self, name, fwd=None, vjp=None, jvp=None, *, native=None, vjp_storage=None,
                 saves_inputs=True, saves_output=True, view=False, nout=1, batch=None):
        if fwd is None and native is not None:
            fwd = _native_forward(native)  # (custom Functions compute outside: no forward)
        self.name = name
        self.fwd = fwd
        self.native = native
        self.vjp = vjp
        self.jvp = jvp
        self.vjp_storage = vjp_storage if vjp is not None else None
        self.saves_inputs = saves_inputs
        self.saves_output = saves_output
        self.view = view  # output may share storage with input 0
        self.nout = nout
        self.batch = batch  # vmap's rule (see _batching); None: vmap refuses the primitive

    def __call__(self, *inputs, **params):
        return apply(self, inputs, params)

    def __repr__(self):
        return f"<primitive {self.name}>"


def _native_forward(native: str):
    def fwd(B, *args, **params):
        return getattr(B, native)(*args, **params)
    return fwd


def apply(prim: Primitive, inputs: tuple, params: dict | None = None):
    """Run ``prim`` on same-device tensors; record and propagate derivatives."""
    dev = inputs[0]._device
    for t in inputs:
        if t.__class__ is _Batched:
            return batch_apply(prim, inputs, params or _NO_PARAMS)
        if t._device is not dev:
            raise ValueError(f"{prim.name}: tensors are on different devices, "
                             f"'{dev}' and '{t._device}'")
    B = dev._backend
    args = [t._data for t in inputs]
    if params:
        raw = prim.fwd(B, *args, **params)
    else:
        params = _NO_PARAMS
        native = prim.native
        raw = getattr(B, native)(*args) if native is not None else prim.fwd(B, *args)
    ensure = B.ensure_array
    if prim.nout == 1:
        out = _new(raw if raw.__class__ is B.array_type else ensure(raw), dev)
        if prim.view:
            share_version(inputs[0], out, prim, params)
    else:
        out = tuple(_new(ensure(r), dev) for r in raw)
    if anywhere.no_grad and not state.grad_enabled and not anywhere.dual:
        return out  # (under no_grad, no forward-mode level anywhere: nothing to record)
    return finish(prim, inputs, out, params)


def apply1(prim: Primitive, x: Tensor, params: dict = _NO_PARAMS) -> Tensor:
    """``apply`` for one operand and one output (the element-wise hot path)."""
    if x.__class__ is _Batched:
        return batch_apply(prim, (x,), params)
    dev = x._device
    B = dev._backend
    native = prim.native
    if native is not None and not params:
        r = getattr(B, native)(x._data)
    else:
        r = prim.fwd(B, x._data, **params)
    if r.__class__ is not B.array_type:
        r = B.ensure_array(r)
    out = _object_new(Tensor)  # _new(), inlined on this hot path
    out._data = r
    out._device = dev
    out._grad_fn = None
    out._requires_grad = False
    out._vc = None
    out._base = None
    if prim.view:
        share_version(x, out, prim, params)
    if anywhere.dual and state.dual_level:
        return finish(prim, (x,), out, params)
    if x._requires_grad and prim.vjp is not None \
            and (not anywhere.no_grad or state.grad_enabled):
        node = Node(prim, (x,), out, params)  # _record1, inlined
        if id(r.dtype) in _FLOAT_IDS or differentiable(out):
            out._grad_fn = node
            out._oi = 0
            out._requires_grad = True
    return out


def apply2(prim: Primitive, x1: Tensor, x2: Tensor, params: dict = _NO_PARAMS) -> Tensor:
    """``apply`` for two same-device operands and one output (the binary hot path)."""
    if x1.__class__ is _Batched or x2.__class__ is _Batched:
        return batch_apply(prim, (x1, x2), params)
    dev = x1._device
    if x2._device is not dev:
        raise ValueError(f"{prim.name}: tensors are on different devices, '{dev}' and "
                         f"'{x2._device}'")
    B = dev._backend
    native = prim.native
    try:  # (free unless it raises)
        if native is not None and not params:
            r = getattr(B, native)(x1._data, x2._data)
        else:
            r = prim.fwd(B, x1._data, x2._data, **params)
    except ValueError:
        e = broadcast_error(prim.name, x1.shape, x2.shape)
        if e is None:
            raise
        raise e from None
    if r.__class__ is not B.array_type:
        r = B.ensure_array(r)
    out = _object_new(Tensor)  # _new(), inlined on this hot path
    out._data = r
    out._device = dev
    out._grad_fn = None
    out._requires_grad = False
    out._vc = None
    out._base = None
    if anywhere.dual and state.dual_level:
        return finish(prim, (x1, x2), out, params)
    if (x1._requires_grad or x2._requires_grad) and prim.vjp is not None \
            and (not anywhere.no_grad or state.grad_enabled):
        node = Node(prim, (x1, x2), out, params)  # _record1, inlined
        if id(r.dtype) in _FLOAT_IDS or differentiable(out):
            out._grad_fn = node
            out._oi = 0
            out._requires_grad = True
    return out


def unary_function(prim: Primitive, allowed: frozenset, prepare):
    """``apply1`` of ``prim`` as a function of its operand, its hot path in one frame,
    for primitives whose output is floating-point when their input is (element-wise).

    A ``Tensor`` whose storage dtype id is in ``allowed`` runs at once; anything else
    goes through ``prepare(x)`` first, which returns the operand to use or raises (type
    and dtype-category checks, promotion: the caller's rules)."""
    native, fwd, rules = prim.native, prim.fwd, prim.vjp is not None

    def run(x, /):
        if x.__class__ is not Tensor or id(x._data.dtype) not in allowed:
            x = prepare(x)
            if x.__class__ is _Batched:
                return batch_apply(prim, (x,), _NO_PARAMS)
        dev = x._device
        B = dev._backend
        r = getattr(B, native)(x._data) if native is not None else fwd(B, x._data)
        if r.__class__ is not B.array_type:
            r = B.ensure_array(r)
        out = _object_new(Tensor)  # _new(), inlined on this hot path
        out._data = r
        out._device = dev
        out._grad_fn = None
        out._requires_grad = False
        out._vc = None
        out._base = None
        if anywhere.dual and state.dual_level:
            return finish(prim, (x,), out, _NO_PARAMS)
        if x._requires_grad and rules and (not anywhere.no_grad or state.grad_enabled):
            out._grad_fn = Node(prim, (x,), out, _NO_PARAMS)  # record(), inlined
            out._oi = 0
            out._requires_grad = True
        return out
    return run


def binary_function(prim: Primitive, allowed: frozenset, prepare, scalar_ok=frozenset()):
    """``apply2`` of ``prim`` as a function of its two operands, its hot path in one frame,
    for primitives whose output is floating-point when an input is (element-wise).

    Two ``Tensor`` operands on one device with the same storage dtype, whose id is in
    ``allowed``, run at once; so does a Python float or int next to a tensor whose
    dtype id is in ``scalar_ok`` when nothing is recorded (the backend's weak-scalar rule
    keeps the tensor's dtype).  Anything else goes through ``prepare(x1, x2)``, which
    returns two such tensors or raises (promotion, device and category checks), or
    returns None for an operand an operator leaves to its other side (NotImplemented)."""
    native, fwd, rules = prim.native, prim.fwd, prim.vjp is not None
    if native is None:
        scalar_ok = frozenset()

    def run(x1, x2, /):
        c1, c2 = x1.__class__, x2.__class__
        if c1 is Tensor and c2 is Tensor:
            a, b = x1._data, x2._data
            if a.dtype is not b.dtype or x1._device is not x2._device \
                    or id(a.dtype) not in allowed:
                x1, x2 = prepare(x1, x2)
                a, b = x1._data, x2._data
        elif c1 is Tensor and (c2 is float or c2 is int) and id(x1._data.dtype) in scalar_ok \
                and not x1._requires_grad and not (anywhere.dual and state.dual_level):
            dev = x1._device
            B = dev._backend
            r = getattr(B, native)(x1._data, x2)
            return _new(r if r.__class__ is B.array_type else B.ensure_array(r), dev)
        elif c2 is Tensor and (c1 is float or c1 is int) and id(x2._data.dtype) in scalar_ok \
                and not x2._requires_grad and not (anywhere.dual and state.dual_level):
            dev = x2._device
            B = dev._backend
            r = getattr(B, native)(x1, x2._data)
            return _new(r if r.__class__ is B.array_type else B.ensure_array(r), dev)
        else:
            if (c1 is _Batched or c2 is _Batched) and (c1 is _Batched or c1 is Tensor) \
                    and (c2 is _Batched or c2 is Tensor) and x1._data.dtype is x2._data.dtype \
                    and x1._device is x2._device and id(x1._data.dtype) in allowed:
                return batch_apply(prim, (x1, x2), _NO_PARAMS)  # vmap: nothing to prepare
            p = prepare(x1, x2)
            if p is None:  # an operator's foreign operand: Python tries the other side
                return NotImplemented
            x1, x2 = p
            if x1.__class__ is _Batched or x2.__class__ is _Batched:
                return batch_apply(prim, (x1, x2), _NO_PARAMS)
            a, b = x1._data, x2._data
        dev = x1._device
        B = dev._backend
        try:  # (free unless it raises)
            r = getattr(B, native)(a, b) if native is not None else fwd(B, a, b)
        except ValueError:
            e = broadcast_error(prim.name, a.shape, b.shape)
            if e is None:
                raise
            raise e from None
        if r.__class__ is not B.array_type:
            r = B.ensure_array(r)
        out = _object_new(Tensor)  # _new(), inlined on this hot path
        out._data = r
        out._device = dev
        out._grad_fn = None
        out._requires_grad = False
        out._vc = None
        out._base = None
        if anywhere.dual and state.dual_level:
            return finish(prim, (x1, x2), out, _NO_PARAMS)
        if (x1._requires_grad or x2._requires_grad) and rules \
                and (not anywhere.no_grad or state.grad_enabled):
            out._grad_fn = Node(prim, (x1, x2), out, _NO_PARAMS)  # record(), inlined
            out._oi = 0
            out._requires_grad = True
        return out
    return run


def broadcast_error(name: str, s1: tuple, s2: tuple):
    """The ValueError, naming ``name``, for two shapes that do not broadcast (else None)."""
    s1, s2 = tuple(s1), tuple(s2)
    for i in range(1, min(len(s1), len(s2)) + 1):
        d1, d2 = s1[-i], s2[-i]
        if d1 != d2 and d1 != 1 and d2 != 1:
            return ValueError(f"{name}: shapes {s1} and {s2} are not broadcastable "
                              f"(dimension {-i}: {d1} vs {d2}); operands could not be "
                              "broadcast together")
    return None


def finish(prim, inputs, out, params):
    """Record a node and push tangents for an already computed ``out``."""
    node = None
    if (not anywhere.no_grad or state.grad_enabled) and prim.vjp is not None:
        for t in inputs:
            if t._requires_grad:
                node = record(prim, inputs, out, params)
                break
    if anywhere.dual and state.dual_level:
        push_tangents(prim, inputs, out, params)
        if node is not None and prim.saves_output:
            node.out_tangents = tuple(getattr(o, "_tangent", None)
                                      for o in (out if prim.nout > 1 else (out,)))
    return out


def _counter_and_root(x: Tensor) -> tuple:
    """``x``'s version counter (made on first need) and root base (None: ``x`` is one)."""
    try:
        vc = x._vc
        root = x._base
    except AttributeError:  # (a tensor made without _new)
        vc = x._vc = getattr(x, "_vc", None)
        root = x._base = getattr(x, "_base", None)
    if vc is None:
        vc = x._vc = [0]
    return vc, root


def share_version(base: Tensor, view: Tensor, prim=None, params=None, k=None) -> None:
    """Make ``view`` share ``base``'s version counter and remember its root base, and,
    given the primitive (``prim``, ``params``, output ``k`` of several) that made it from
    ``base``, how to make it again from the root (see ``_graph``'s views)."""
    vc, root = _counter_and_root(base)
    view._vc = vc
    if root is None:
        view._base = base
        parent = None
    else:
        view._base = root
        parent = getattr(base, "_view", None)  # (view_info, inlined)
        if parent is None:
            return  # a view of an untracked view: untracked too
    if prim is None or prim.name == "make_dual":
        return  # (make_dual's tangent is its own, not its base's)
    view._view = [vc[0], parent, prim, params or _NO_PARAMS, k]  # (set_view_info, inlined)


def new_view(x: Tensor, data, prim, params, k=None) -> Tensor:
    """A tensor over ``data``, the view of ``x`` that view primitive ``prim`` (output ``k``
    of several) makes with ``params``, when nothing is recorded (``x`` needs no gradient,
    no forward-mode level is open): ``share_version`` and ``_new`` in one frame.
    ``prim`` None: the view shares the version counter but remembers nothing (never
    rebuilt from its root)."""
    out = _object_new(Tensor)
    out._data = data
    out._device = x._device
    out._grad_fn = None
    out._requires_grad = False
    try:  # (_counter_and_root, inlined: every view made with nothing recorded runs this)
        vc = x._vc
        root = x._base
    except AttributeError:
        vc, root = _counter_and_root(x)
    if vc is None:
        vc = x._vc = [0]
    out._vc = vc
    if root is None:
        out._base = x
        if prim is not None:
            out._view = [vc[0], None, prim, params, k]  # (set_view_info, inlined)
        return out
    out._base = root
    if prim is not None:
        info = getattr(x, "_view", None)  # (view_info, inlined)
        if info is not None:
            out._view = [vc[0], info, prim, params, k]
    return out


def new_views(x: Tensor, datas, prim, params) -> tuple:
    """``new_view`` for every output of a multi-output view primitive (output ``k`` over
    ``datas[k]``): the version counter, root and parent are read once for all of them."""
    vc, root = _counter_and_root(x)
    if root is None:
        root, parent, track = x, None, prim is not None
    else:
        parent = getattr(x, "_view", None)
        track = prim is not None and parent is not None
    dev, v = x._device, vc[0]
    outs = []
    for k, data in enumerate(datas):
        out = _object_new(Tensor)
        out._data = data
        out._device = dev
        out._grad_fn = None
        out._requires_grad = False
        out._vc = vc
        out._base = root
        if track:
            out._view = [v, parent, prim, params, k]
        outs.append(out)
    return tuple(outs)


def view_chain(info) -> list:
    """The ``(prim, params, k)`` steps that make a view from its root, root first, from
    its view info."""
    steps = []
    while info is not None:
        steps.append((info[2], info[3], info[4]))
        info = info[1]
    steps.reverse()
    return steps


def sync_view(t: Tensor) -> None:
    """Rebuild view ``t``'s autograd identity (grad_fn, tangent) from its root's newest
    one when the root's version moved since it was last derived (PyTorch's rule): the
    view's grad_fn becomes "this view of the root's grad_fn".  Nothing happens when the
    version did not move, or when neither the view nor its root takes part in autograd."""
    info = view_info(t)
    if info is None:
        return
    root = t._base
    v = root._vc[0]
    if info[0] == v:
        return
    info[0] = v
    dual = state.dual_level
    if t._grad_fn is None and not root._requires_grad and not (
            dual and (getattr(root, "_tangent", None) is not None
                      or getattr(t, "_tangent", None) is not None)):
        return
    enabled = state.grad_enabled
    state.grad_enabled = True  # the reverse identity is rebuilt under no_grad too
    try:
        r = root
        for prim, params, k in view_chain(info):
            r = apply1(prim, r, params) if k is None else apply(prim, (r,), params)[k]
    finally:
        state.grad_enabled = enabled
    if r._grad_fn is not None:
        t._grad_fn, t._oi, t._requires_grad = r._grad_fn, r._oi, True
    elif t._grad_fn is not None:
        t._grad_fn, t._requires_grad = None, False
    if dual:
        t._tangent = getattr(r, "_tangent", None)


_graph.sync_view = sync_view
_tensor_module.sync_view = sync_view  # for Tensor's properties (grad_fn, requires_grad, ...)


def nondifferentiable(name: str, fwd=None, *, native=None) -> Primitive:
    """A primitive whose output never requires grad (comparisons, argmax, ...)."""
    return Primitive(name, fwd, native=native)


def linear_jvp(func):
    """JVP of a function linear in its single tensor input: ``func`` on the tangent.

    ``func(ns, t, **params)`` applies the function with namespace ``ns``."""
    def jvp(ns, tangents, out, x, **params):
        return func(ns, tangents[0], **params)
    return jvp

