"""Custom differentiable functions, PyTorch's shape::

    class Exp(arraylib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = arraylib.exp(x)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

        @staticmethod
        def jvp(ctx, t):            # optional: forward mode
            return t * ctx.saved_tensors[0]

    y = Exp.apply(x)

``forward`` runs without recording; ``apply`` records one graph node whose VJP
calls ``backward`` (and whose JVP calls ``jvp``), built on the same ``Primitive``
machinery as the built-in operations.

Under ``arraylib.func.vmap`` (torch.func's rules) a Function needs one of:

- a ``vmap`` staticmethod ``vmap(info, in_dims, *args) -> (outputs, out_dims)``:
  ``args`` are the physical tensors (batch at ``in_dims[i]``, None for unbatched
  arguments), ``info.batch_size`` and ``info.randomness`` describe the level; it
  usually calls ``apply`` itself on the physical tensors, so gradients flow through
  that call;
- ``generate_vmap_rule = True``, for a Function whose ``forward``, ``backward`` (and
  ``jvp``) are written with arraylib's operations: they run on the batched tensors.
"""
from __future__ import annotations

import functools

from .._core._tensor import Tensor, _new
from .._core._grad_mode import no_grad, state
from .._core._primitive import Primitive, finish
from .._core import _batching
from .._core._batching import BatchedTensor
from .._core._namespace import tensor_namespace

__all__ = ["Function", "FunctionCtx", "once_differentiable"]


class FunctionCtx:
    """The ``ctx`` of a custom Function: carries state from forward to backward."""

    def __init__(self):
        self._saved = None
        self._outs = None
        self._raw_outs = ()
        self._non_diff = set()
        self.needs_input_grad = ()
        self.materialize_grads = True

    def save_for_backward(self, *tensors) -> None:
        """Save tensors (inputs or outputs of forward, or None) for ``backward``."""
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward: expected Tensors or None, got "
                                f"{type(t).__name__}")
        self._saved = tuple(tensors)

    def save_for_forward(self, *tensors) -> None:
        self.save_for_backward(*tensors)

    @property
    def saved_tensors(self) -> tuple:
        """The saved tensors, checked against in-place modification."""
        if self._saved is None:
            return ()
        if self._saved == "freed":
            raise RuntimeError("saved_tensors: the saved tensors were freed by an earlier backward; "
                               "specify retain_graph=True to backward twice")
        result = []
        for i, entry in enumerate(self._saved):
            if entry is None:
                result.append(None)
                continue
            kind, t, j, vc, seen = entry
            if vc[0] != seen:
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: saved tensor {i} of a custom Function (shape "
                    f"{t.shape}, dtype {t.dtype}) is at version {vc[0]}; expected version {seen} "
                    "instead")
            if kind == "out" and self._outs is not None:
                t = self._outs[j]  # the output as a tensor of the graph
            result.append(t)
        return tuple(result)

    def mark_non_differentiable(self, *tensors) -> None:
        """Outputs that get no gradient (their output does not require grad)."""
        self._non_diff.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        """Whether None output gradients reach ``backward`` as zeros (default) or None."""
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors) -> None:
        raise NotImplementedError("mark_dirty: in-place custom Functions are not supported; "
                                  "return a new tensor from forward")


class _FunctionMeta(type):
    def __init__(cls, name, bases, ns):
        super().__init__(name, bases, ns)
        cls._primitive = None


class Function(metaclass=_FunctionMeta):
    """Base class of custom differentiable functions; call them with ``apply``."""

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError("Function.forward: subclasses must implement forward")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("Function.backward: this Function has no backward")

    jvp = None  # optional staticmethod jvp(ctx, *tangents)

    vjp = backward

    vmap = None  # optional staticmethod vmap(info, in_dims, *args) -> (outputs, out_dims)
    generate_vmap_rule = False  # True: forward/backward/jvp run on vmap's batched tensors

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        raise RuntimeError("Function: call custom Functions with Cls.apply(...), not by "
                           "instantiating them")

    @classmethod
    def _prim(cls, nout):
        """The class's primitive for ``nout`` outputs (made once)."""
        prims = cls.__dict__.get("_primitive")
        if prims is None:
            prims = cls._primitive = {}
        prim = prims.get(nout)
        if prim is None:
            vjp = _make_vjp(cls)
            prim = prims[nout] = Primitive(
                cls.__name__, None, vjp=vjp, vjp_storage=_make_vjp_storage(vjp),
                jvp=_make_jvp(cls) if cls.jvp is not None else None,
                saves_inputs=False, saves_output=True, nout=nout)
        return prim

    @classmethod
    def apply(cls, *args, **kwargs):
        if kwargs:
            raise TypeError(f"{cls.__name__}.apply: keyword arguments are not supported; pass "
                            "all arguments positionally")
        level = 0
        for a in args:
            if a.__class__ is BatchedTensor and a._level > level:
                level = a._level
        if level:
            return _apply_batched(cls, args, level)
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        ctx._nargs = len(args)
        tensor_pos = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
        ctx._tensor_pos = tensor_pos
        ctx._device = args[tensor_pos[0]]._device if tensor_pos else None
        level = state.dual_level
        state.dual_level = 0
        try:
            with no_grad():
                raw = cls.forward(ctx, *args)
        finally:
            state.dual_level = level
        single = not isinstance(raw, tuple)
        raws = (raw,) if single else raw
        # fresh output tensors (sharing storage), so an input returned as is keeps its identity
        outs = []
        for k, o in enumerate(raws):
            if isinstance(o, Tensor):
                outs.append((k, o, _new(o._data, o._device)))
        _freeze_saved(ctx, outs)
        inputs = tuple(args[i] for i in tensor_pos)
        new_outs = [t for _, _, t in outs]
        if inputs and new_outs:
            p = cls._prim(len(new_outs))
            finish(p, inputs, new_outs[0] if len(new_outs) == 1 else tuple(new_outs),
                         {"ctx": ctx})
            for k, o, t in outs:
                if id(o) in ctx._non_diff and t._grad_fn is not None:
                    t._grad_fn = None
                    t._requires_grad = False
                    if hasattr(t, "_tangent"):
                        t._tangent = None
        result = list(raws)
        for k, o, t in outs:
            result[k] = t
        return result[0] if single else tuple(result)


def _freeze_saved(ctx, outs):
    """Record the saved tensors' versions; a saved output (``outs``: ``(k, raw, graph
    tensor)``) is read back as its graph tensor."""
    if ctx._saved is None:
        return
    out_pos = {id(o): j for j, (_, o, _) in enumerate(outs)}
    saved = []
    for t in ctx._saved:
        if t is None:
            saved.append(None)
        elif id(t) in out_pos:
            j = out_pos[id(t)]
            vc = outs[j][2]._version_counter()
            saved.append(("out", outs[j][2], j, vc, vc[0]))
        else:
            vc = t._version_counter()
            saved.append(("in", t, None, vc, vc[0]))
    ctx._saved = saved


# -- under vmap -----------------------------------------------------------------------
def _apply_batched(cls, args, level):
    """``cls.apply`` with operands batched at ``level`` (the innermost among them)."""
    if cls.vmap is not None:
        values = [_batching.unwrap(a, level) if a.__class__ is BatchedTensor
                  and a._level == level else a for a in args]
        bdims = tuple(0 if v is not a else None for v, a in zip(values, args))
        rule = _batching.custom_function_rule(cls.vmap)
        out = rule(tensor_namespace(), bdims, *values)
        if isinstance(out, tuple):
            return tuple(_batching.wrap(o, level) for o in out)
        return _batching.wrap(out, level)
    if not cls.generate_vmap_rule:
        raise RuntimeError(f"vmap: to use the autograd.Function {cls.__name__} with vmap, "
                           "either define a vmap staticmethod or set generate_vmap_rule=True "
                           "(for a Function written with arraylib's operations)")
    values, bdims = [], []
    for a in args:
        v = _batching.unwrap(a, level) if a.__class__ is BatchedTensor else None
        values.append(a if v is None else v)
        bdims.append(None if v is None else 0)
    out = _generated(cls).apply(cls, level, tuple(bdims), *values)
    if isinstance(out, tuple):
        return tuple(_batching.wrap(o, level) if isinstance(o, Tensor) else o for o in out)
    return _batching.wrap(out, level) if isinstance(out, Tensor) else out


def _to_level(t, level, n):
    """A batched tensor of ``level`` as its physical value; an unbatched one broadcast."""
    if not isinstance(t, Tensor):
        return t
    v = _batching.unwrap(t, level)
    return _batching.expand_batch(t, n) if v is None else v


def _from_level(values, level, bdims=None):
    return [None if v is None else
            _batching.wrap(v, level) if (bdims is None or bdims[i] == 0) else v
            for i, v in enumerate(values)]


_GENERATED = {}


def _generated(cls):
    """The Function running ``cls`` on physical tensors: its forward, backward and jvp
    wrap the batch of ``level`` back around the tensors and call ``cls``'s."""
    gen = _GENERATED.get(cls)
    if gen is not None:
        return gen

    def forward(ctx, cls_, level, bdims, *values):
        uctx = FunctionCtx()
        uctx._nargs = len(values)
        uctx._tensor_pos = tuple(i for i, v in enumerate(values) if isinstance(v, Tensor))
        uctx.needs_input_grad = tuple(isinstance(v, Tensor) and v.requires_grad for v in values)
        raw = cls.forward(uctx, *_from_level(values, level, bdims))
        single = not isinstance(raw, tuple)
        raws = (raw,) if single else raw
        n = _batching.level_size(level)
        outs = [(k, o, o) for k, o in enumerate(raws) if isinstance(o, Tensor)]
        _freeze_saved(uctx, outs)
        ctx._user = (uctx, level, n, bdims)
        phys = tuple(_to_level(o, level, n) for o in raws)
        return phys[0] if single else phys

    def backward(ctx, *grads):
        uctx, level, n, _ = ctx._user
        uctx._outs = None if ctx._outs is None else tuple(
            _batching.wrap(o, level) for o in ctx._outs)
        uctx.needs_input_grad = ctx.needs_input_grad[3:]
        res = cls.backward(uctx, *_from_level(grads, level))
        res = res if isinstance(res, tuple) else (res,)
        return (None, None, None) + tuple(_to_level(r, level, n) for r in res)

    def jvp(ctx, _c, _l, _b, *tangents):
        uctx, level, n, bdims = ctx._user
        res = cls.jvp(uctx, *_from_level(tangents, level, bdims))
        if isinstance(res, tuple):
            return tuple(_to_level(r, level, n) for r in res)
        return _to_level(res, level, n)

    body = {"forward": staticmethod(forward), "backward": staticmethod(backward)}
    if cls.jvp is not None:
        body["jvp"] = staticmethod(jvp)
    gen = _GENERATED[cls] = type(f"{cls.__name__}[vmap]", (Function,), body)
    return gen


def _make_vjp(cls):
    """The VJP rule of ``cls``: on tensors (``ns`` is arraylib's namespace), it calls the
    user's ``backward`` with the output cotangents; ``ctx.needs_input_grad`` comes from
    ``needs``."""
    def vjp(ns, needs, g, out, *inputs, ctx):
        grads = g if isinstance(g, tuple) else (g,)
        outs = out if isinstance(out, tuple) else (out,)
        ctx._outs = outs
        pos = ctx._tensor_pos
        flags = [False] * ctx._nargs
        for j, i in enumerate(pos):
            flags[i] = bool(needs[j])
        ctx.needs_input_grad = tuple(flags)
        res = cls.backward(ctx, *grads)
        if not isinstance(res, tuple):
            res = (res,)
        if len(res) < ctx._nargs:
            raise RuntimeError(f"{cls.__name__}.backward: returned {len(res)} gradients, but "
                               f"forward had {ctx._nargs} arguments")
        for extra in res[ctx._nargs:]:
            if extra is not None:
                raise RuntimeError(f"{cls.__name__}.backward: returned {len(res)} gradients, but "
                                   f"forward had {ctx._nargs} arguments")
        out_grads = []
        for j, i in enumerate(pos):
            gi = res[i]
            if gi is not None and not needs[j]:
                gi = None
            if gi is not None and not isinstance(gi, Tensor):
                raise TypeError(f"{cls.__name__}.backward: gradient {i} is a "
                                f"{type(gi).__name__}, expected a Tensor or None")
            out_grads.append(gi)
        return tuple(out_grads)
    return vjp


def _make_vjp_storage(vjp):
    """``vjp`` for a plain backward: the user's ``backward`` works on tensors, so the
    storage cotangents and outputs are wrapped in tensors and the results unwrapped."""
    def vjp_storage(B, needs, g, out, *inputs, ctx):
        dev = ctx._device
        ensure = B.ensure_array

        def wrap(a):
            return None if a is None else _new(ensure(a), dev)
        if isinstance(g, tuple):
            g = tuple(wrap(gk) for gk in g)
            out = None if out is None else tuple(wrap(o) for o in out)
        else:
            g = wrap(g)
            out = wrap(out)
        res = vjp(None, needs, g, out, *inputs, ctx=ctx)
        return tuple(None if r is None else r._data for r in res)
    return vjp_storage


def _make_jvp(cls):
    def jvp(ns, tangents, out, *inputs, ctx):
        full = []
        pos = dict(zip(ctx._tensor_pos, range(len(ctx._tensor_pos))))
        for i in range(ctx._nargs):
            j = pos.get(i)
            if j is None:
                full.append(None)
            else:
                t = tangents[j]
                full.append(t if t is not None else
                            ns.zeros_like(inputs[j]) if inputs[j] is not None else None)
        res = cls.jvp(ctx, *full)
        return res
    return jvp


def once_differentiable(fn):
    """Decorator for ``backward``: run it without recording (no double backward)."""
    @functools.wraps(fn)
    def wrapper(ctx, *args):
        with no_grad():
            return fn(ctx, *args)
    return wrapper
