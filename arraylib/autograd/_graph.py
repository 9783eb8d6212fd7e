"""Graph nodes of reverse mode.

Each recorded operation makes a ``Node``.  Its ``edges`` point to where each
input's cotangent goes: ``(node, output_index)`` for an input made by another
operation, ``(leaf_tensor, None)`` for a leaf that requires grad, or None.  Edges
are taken when the node is made, so rebasing a tensor with an in-place operation
later does not rewire earlier nodes.
"""
from __future__ import annotations

from .._tensor import Tensor, _new


class Node:
    """One recorded application of a primitive."""

    __slots__ = ("prim", "params", "edges", "saved", "versions", "in_meta", "out_data",
                 "out_meta", "out_versions", "device", "freed", "hooks", "retained", "out_tangents",
                 "__weakref__")

    def __init__(self, prim, inputs, outs, params):
        self.prim = prim
        self.params = params
        self.device = inputs[0]._device
        self.edges = tuple(_edge(t) for t in inputs)
        self.in_meta = tuple((t._data.shape, t.dtype) if e is not None else None
                             for t, e in zip(inputs, self.edges))
        if prim.saves_inputs:
            self.saved = inputs
            self.versions = tuple((vc := t._version_counter(), vc[0]) for t in inputs)
        else:
            self.saved = None
            self.versions = ()
        outs = outs if prim.nout > 1 else (outs,)
        if prim.saves_output:
            self.out_data = tuple(o._data for o in outs)
            self.out_versions = tuple((vc := o._version_counter(), vc[0]) for o in outs)
        else:
            self.out_data = None
            self.out_versions = ()
        self.out_meta = tuple((o._data.shape, o.dtype) for o in outs)
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

    def output(self, k: int) -> Tensor:
        """Output ``k`` as a tensor of the graph (for rules that use the result)."""
        vc, seen = self.out_versions[k]
        if vc[0] != seen:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: output {k} of {self.prim.name} (shape "
                f"{tuple(self.out_meta[k][0])}, dtype {self.out_meta[k][1]}) is at version "
                f"{vc[0]}; expected version {seen} instead. Hint: use .clone() before the "
                f"in-place operation, or do it out of place.")
        t = _new(self.out_data[k], self.device)
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

    def release(self) -> None:
        self.saved = None
        self.out_data = None
        self.out_tangents = None
        self.params = None
        self.freed = True


def _edge(t: Tensor):
    if t._grad_fn is not None:
        return (t._grad_fn, t._oi)
    if t._requires_grad:
        return (t, None)
    return None


def record(prim, inputs, outs, params) -> Node:
    """Make the node for an operation whose inputs require grad, and attach it."""
    node = Node(prim, inputs, outs, params)
    for k, o in enumerate(outs if prim.nout > 1 else (outs,)):
        if o.dtype.kind in "fc":
            o._grad_fn = node
            o._oi = k
            o._requires_grad = True
    return node
