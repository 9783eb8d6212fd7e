"""Graph nodes of reverse mode.

Each recorded operation makes a ``Node``.  Its ``edges`` point to where each
input's cotangent goes: ``(node, output_index)`` for an input made by another
operation, ``(leaf_tensor, None)`` for a leaf that requires grad, or None.  Edges
are taken when the node is made, so rebasing a tensor with an in-place operation
later does not rewire earlier nodes.
"""
from __future__ import annotations


from .._dtypes import floating_dtypes
from ._tensor import Tensor, _new

_FLOAT_IDS = frozenset(id(d) for d in floating_dtypes)


# -- views ---------------------------------------------------------------------------
# A view made from a base (``t._base``: the root base) remembers how: its view info is
# ``[version, parent, prim, params, k]``: ``prim`` with ``params`` (output ``k`` of a
# multi-output primitive, or None) made it from the view whose view info is ``parent``
# (None: from the root itself); ``version`` is the value of the shared version counter
# when the view's autograd identity (grad_fn, tangent) was last derived from its root's.  A view
# without view info (made by an untracked path, e.g. ``make_dual``) is never rebuilt.
def _no_sync(t) -> None:
    pass


# ``sync_view(t)`` (installed by _primitive): bring a view whose root's version moved up
# to date with the root's newest history.  Called where a tensor is used as an input of
# a recorded operation (``Node``) or of forward mode (``tangent_of``), only for views.
sync_view = _no_sync

def view_info(t):
    """The view info of ``t`` (a view), or None."""
    return getattr(t, "_view", None)


def set_view_info(t, info) -> None:
    t._view = info


class Node:
    """One recorded application of a primitive."""

    __slots__ = ("prim", "params", "edges", "saved", "versions", "in_meta", "out_data",
                 "out_meta", "out_versions", "device", "freed", "hooks", "retained", "out_tangents",
                 "__weakref__")

    def __init__(self, prim, inputs, outs, params):
        self.prim = prim
        self.params = params
        self.device = inputs[0]._device
        edges = []
        in_meta = []
        saves = prim.saves_inputs
        versions = [] if saves else ()
        for t in inputs:
            if t._base is not None:
                sync_view(t)
            if saves:
                vc = t._vc
                if vc is None:
                    vc = t._vc = [0]
                versions.append((vc, vc[0]))
            fn = t._grad_fn
            if fn is not None:
                edges.append((fn, t._oi))
            elif t._requires_grad:
                edges.append((t, None))
            else:
                edges.append(None)
                in_meta.append(None)
                continue
            data = t._data
            in_meta.append((data.shape, data.dtype))  # storage dtype: compared in _fit
        self.edges = edges
        self.in_meta = in_meta
        self.saved = inputs if saves else None
        self.versions = versions
        if prim.nout == 1:
            data = outs._data
            self.out_meta = ((data.shape, data.dtype),)
            if prim.saves_output:
                vc = outs._vc
                if vc is None:
                    vc = outs._vc = [0]
                self.out_data = (data,)
                self.out_versions = ((vc, vc[0]),)
            else:
                self.out_data = None
                self.out_versions = ()
        else:
            self.out_meta = [(o._data.shape, o._data.dtype) for o in outs]
            if prim.saves_output:
                self.out_data = [o._data for o in outs]
                self.out_versions = [_version_of(o) for o in outs]
            else:
                self.out_data = None
                self.out_versions = ()
        self.freed = False
        self.hooks = None      # {output index: [hook, ...]} from register_hook on non-leaves
        self.retained = None   # {output index: weakref to tensor} from retain_grad
        self.out_tangents = None  # forward mode: the outputs' (generation, tangent)

    @property
    def name(self) -> str:
        return self.prim.name

    def __repr__(self):
        return f"<{self.prim.name}Backward>"

    def name_for_display(self) -> str:
        return self.prim.name[:1].upper() + self.prim.name[1:] + "Backward"

    @property
    def next_functions(self):
        return tuple((e[0] if isinstance(e[0], Node) else "AccumulateGrad", e[1]) if e else (None, 0)
                     for e in self.edges)

    def output_data(self, k: int):
        """Storage of output ``k``, checked against in-place modification."""
        vc, seen = self.out_versions[k]
        if vc[0] != seen:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: output {k} of {self.prim.name} (shape "
                f"{tuple(self.out_meta[k][0])}, dtype {self.out_meta[k][1]}) is at version "
                f"{vc[0]}; expected version {seen} instead. Hint: use .clone() before the "
                f"in-place operation, or do it out of place.")
        return self.out_data[k]

    def output(self, k: int) -> Tensor:
        """Output ``k`` as a tensor of the graph (for rules that use the result)."""
        t = _new(self.output_data(k), self.device)
        t._grad_fn = self
        t._oi = k
        t._requires_grad = True
        if self.out_tangents is not None:
            t._tangent = self.out_tangents[k]
        return t

    def inputs(self) -> tuple:
        """The saved inputs, checked against in-place modification."""
        for i, (vc, seen) in enumerate(self.versions):
            if vc[0] != seen:
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: input {i} of {self.prim.name} (shape "
                    f"{tuple(self.saved[i].shape)}, dtype {self.saved[i].dtype}) is at version "
                    f"{vc[0]}; expected version {seen} instead. Hint: use .clone() before the "
                    f"in-place operation, or do it out of place.")
        return self.saved


def _edge(t: Tensor):
    if t._base is not None:
        sync_view(t)
    if t._grad_fn is not None:
        return (t._grad_fn, t._oi)
    if t._requires_grad:
        return (t, None)
    return None


def _version_of(t: Tensor):
    """(version counter, current version) of ``t``, making its counter if needed."""
    vc = getattr(t, "_vc", None)
    if vc is None:
        vc = t._vc = [0]
    return (vc, vc[0])


def differentiable(t: Tensor) -> bool:
    """Whether ``t`` has a floating-point or complex dtype (NumPy's dtypes by identity)."""
    return id(t._data.dtype) in _FLOAT_IDS or t.dtype.kind in "fc"


def record(prim, inputs, outs, params) -> Node:
    """Make the node for an operation whose inputs require grad, and attach it."""
    node = Node(prim, inputs, outs, params)
    if prim.nout == 1:
        if differentiable(outs):
            outs._grad_fn = node
            outs._oi = 0
            outs._requires_grad = True
        return node
    for k, o in enumerate(outs):
        if differentiable(o):
            o._grad_fn = node
            o._oi = k
            o._requires_grad = True
    return node
