"""Pytrees for the function transforms: nested tuples, lists, dicts (and namedtuples)
of leaves.  ``None`` is an empty node (no leaf), as in torch.utils._pytree.

``tree_flatten(tree) -> (leaves, spec)``; ``tree_unflatten(leaves, spec) -> tree``.
Dicts keep their insertion order.
"""
from __future__ import annotations

__all__ = ["TreeSpec", "tree_flatten", "tree_unflatten", "tree_map", "LEAF"]


class TreeSpec:
    """The structure of a pytree: a node type, its keys (dicts) and child specs."""

    __slots__ = ("kind", "keys", "children", "num_leaves")

    def __init__(self, kind, keys=None, children=()):
        self.kind, self.keys, self.children = kind, keys, tuple(children)
        self.num_leaves = 1 if kind is None else sum(c.num_leaves for c in self.children)

    def is_leaf(self) -> bool:
        return self.kind is None

    def __eq__(self, other):
        return (isinstance(other, TreeSpec) and self.kind is other.kind
                and self.keys == other.keys and self.children == other.children)

    def __hash__(self):
        return hash((self.kind, self.keys, self.children))

    def __repr__(self):
        if self.kind is None:
            return "*"
        if self.kind is type(None):
            return "None"
        if self.kind is dict:
            return "{" + ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.keys, self.children)) + "}"
        inner = ", ".join(repr(c) for c in self.children)
        return f"[{inner}]" if self.kind is list else f"{self.kind.__name__}({inner})"


LEAF = TreeSpec(None)
_NONE = TreeSpec(type(None))


_new_spec = object.__new__


def _node(kind, keys, children, num_leaves):
    spec = _new_spec(TreeSpec)
    spec.kind, spec.keys, spec.children, spec.num_leaves = kind, keys, children, num_leaves
    return spec


def _flatten(tree, leaves):
    if isinstance(tree, (tuple, list)):
        start = len(leaves)
        children = tuple([_flatten(c, leaves) for c in tree])
        return _node(tree.__class__, None, children, len(leaves) - start)
    if isinstance(tree, dict):
        start = len(leaves)
        keys = tuple(tree)
        children = tuple([_flatten(tree[k], leaves) for k in keys])
        return _node(tree.__class__, keys, children, len(leaves) - start)
    if tree is None:
        return _NONE
    leaves.append(tree)
    return LEAF


def tree_flatten(tree):
    """``(leaves, spec)`` of ``tree``."""
    leaves = []
    return leaves, _flatten(tree, leaves)


def _build(spec, it):
    if spec.kind is None:
        return next(it)
    if spec.kind is type(None):
        return None
    children = [_build(c, it) for c in spec.children]
    if spec.keys is not None:
        return spec.kind(zip(spec.keys, children))
    if spec.kind is tuple or spec.kind is list:
        return spec.kind(children)
    if hasattr(spec.kind, "_fields"):  # namedtuple
        return spec.kind(*children)
    return spec.kind(children)


def tree_unflatten(leaves, spec: TreeSpec):
    """The pytree of structure ``spec`` holding ``leaves`` (in flattening order)."""
    leaves = list(leaves)
    if len(leaves) != spec.num_leaves:
        raise ValueError(f"tree_unflatten: the structure {spec!r} has {spec.num_leaves} leaves, "
                         f"got {len(leaves)}")
    return _build(spec, iter(leaves))


def tree_map(fn, tree, *rest):
    """``tree`` with ``fn(leaf, *matching leaves of rest)`` at every leaf."""
    leaves, spec = tree_flatten(tree)
    others = [tree_flatten(r) for r in rest]
    for _, s in others:
        if s != spec:
            raise ValueError(f"tree_map: structures differ: {spec!r} and {s!r}")
    return tree_unflatten([fn(*xs) for xs in zip(leaves, *(o[0] for o in others))], spec)
