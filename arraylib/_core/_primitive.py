"""Differentiable primitives: forward on storage, VJP and JVP side by side.

A primitive is one ``Primitive`` entry::

    exp = Primitive("exp", lambda B, x: B.exp(x),
                    vjp=lambda g, out, x: (g * conj(out),),
                    jvp=lambda t, out, x: t[0] * out)

- ``fwd(B, *storages, **params)`` computes on backend storage (``B`` is the
  device's ``Backend``: the standard namespace plus kernels); it returns one
  storage array, or a tuple of them when ``nout > 1``.
- ``vjp(g, out, *inputs, **params)`` returns one cotangent per input (or None),
  written with arraylib's own differentiable operations, so higher derivatives
  come for free.  ``g`` and ``out`` are tuples when ``nout > 1``.  The engine
  undoes broadcasting and casts each cotangent to its input's dtype.
- ``vjp_raw(B, edges, g, out, *inputs, **params)`` (optional) is ``vjp`` on backend
  storage, used when no graph of the derivative is made (``create_graph=False``):
  ``g``, ``out`` and the inputs are storage arrays and so are the results.  ``edges``
  has None for inputs that need no cotangent.  Without it the engine wraps storage
  into tensors and calls ``vjp``.
- ``jvp(tangents, out, *inputs, **params)`` returns the output tangent(s);
  ``tangents`` has None for inputs without one.  The engine broadcasts the result
  to the output's shape.

``apply`` runs a primitive on tensors, records a graph node when an input
requires grad, and propagates forward-mode tangents.
"""
from __future__ import annotations

from ._tensor import Tensor, _new
from ._forward import push_tangents
from ._grad_mode import state
from ._graph import record


class Primitive:
    """One differentiable operation (see the module docstring)."""

    __slots__ = ("name", "fwd", "vjp", "jvp", "vjp_raw", "saves_inputs", "saves_output", "view",
                 "nout")

    def __init__(self, name, fwd, vjp=None, jvp=None, *, vjp_raw=None, saves_inputs=True,
                 saves_output=True, view=False, nout=1):
        self.name = name
        self.fwd = fwd
        self.vjp = vjp
        self.jvp = jvp
        self.vjp_raw = vjp_raw if vjp is not None else None
        self.saves_inputs = saves_inputs
        self.saves_output = saves_output
        self.view = view  # output may share storage with input 0
        self.nout = nout

    def __call__(self, *inputs, **params):
        return apply(self, inputs, params)

    def __repr__(self):
        return f"<primitive {self.name}>"


def apply(prim: Primitive, inputs: tuple, params: dict | None = None):
    """Run ``prim`` on same-device tensors; record and propagate derivatives."""
    dev = inputs[0]._device
    for t in inputs:
        if t._device is not dev:
            raise ValueError(f"{prim.name}: tensors are on different devices, "
                             f"'{dev}' and '{t._device}'")
    B = dev._backend
    if params:
        raw = prim.fwd(B, *[t._data for t in inputs], **params)
    else:
        params = {}
        raw = prim.fwd(B, *[t._data for t in inputs])
    ensure = B.ensure_array
    if prim.nout == 1:
        out = _new(ensure(raw), dev)
        if prim.view:
            _share_version(inputs[0], out)
    else:
        out = tuple(_new(ensure(r), dev) for r in raw)
    return finish(prim, inputs, out, params)


def finish(prim, inputs, out, params):
    """Record a node and push tangents for an already computed ``out``."""
    node = None
    if state.grad_enabled and prim.vjp is not None:
        for t in inputs:
            if t._requires_grad:
                node = record(prim, inputs, out, params)
                break
    if state.dual_level:
        push_tangents(prim, inputs, out, params)
        if node is not None and prim.saves_output:
            node.out_tangents = tuple(getattr(o, "_tangent", None)
                                      for o in (out if prim.nout > 1 else (out,)))
    return out


def _share_version(base: Tensor, view: Tensor) -> None:
    view._vc = base._version_counter()
    root = getattr(base, "_base", None)
    view._base = base if root is None else root


def nondifferentiable(name: str, fwd) -> Primitive:
    """A primitive whose output never requires grad (comparisons, argmax, ...)."""
    return Primitive(name, fwd)


def linear_jvp(func):
    """JVP of a function linear in its (single) tensor input: apply it to the tangent."""
    def jvp(tangents, out, x, **params):
        return func(tangents[0], **params)
    return jvp
