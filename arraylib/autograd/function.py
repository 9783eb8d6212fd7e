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
"""
from __future__ import annotations

import functools

from .._core._tensor import Tensor, _new
from .._core._grad_mode import no_grad, state
from .._core._primitive import Primitive, finish

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
        out_pos = {}
        for k, o in enumerate(raws):
            if isinstance(o, Tensor):
                t = _new(o._data, o._device)
                out_pos[id(o)] = len(outs)
                outs.append((k, o, t))
        if ctx._saved is not None:
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
