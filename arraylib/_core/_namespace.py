"""arraylib's public namespace, handed to the machine once it is complete.

``arraylib/__init__.py`` calls ``bind(arraylib)`` as its last step.  The machine never
imports the chapters; it reaches the namespace here only to give it to derivative
rules (``create_graph`` and forward mode run the rules on tensors) and to answer
``Tensor.__array_namespace__``.
"""
from __future__ import annotations


class _Namespace:
    """Holds the bound namespace module (``arraylib``), or None before binding."""

    __slots__ = ("module",)

    def __init__(self):
        self.module = None


namespace = _Namespace()


def bind(module) -> None:
    """Hand the finished public namespace to the machine."""
    namespace.module = module


def tensor_namespace():
    """The public namespace (rules run on it when they work on tensors)."""
    ns = namespace.module
    if ns is None:
        raise RuntimeError("arraylib's namespace is not bound yet (import arraylib first)")
    return ns
