"""``torch.jit``: pass-throughs for the decorators scripts put on their code.
arraylib has no TorchScript: ``script`` and ``trace`` return what they are given,
``save``/``load`` raise NotImplementedError."""
from __future__ import annotations

__all__ = ["script", "trace", "ignore", "unused", "export", "is_scripting", "is_tracing",
           "save", "load"]


def script(obj=None, *args, **kwargs):
    """Returns ``obj`` unchanged (also as a decorator)."""
    return obj


def trace(func, example_inputs=None, *args, **kwargs):
    """Returns ``func`` unchanged: no graph is recorded."""
    return func


def ignore(drop=False, **kwargs):
    """``@torch.jit.ignore`` and ``@torch.jit.ignore(drop=...)``: the function unchanged."""
    return drop if callable(drop) else (lambda f: f)


def unused(fn):
    return fn


def export(fn):
    return fn


def is_scripting() -> bool:
    return False


def is_tracing() -> bool:
    return False


def save(*args, **kwargs):
    raise NotImplementedError("torch.jit.save: TorchScript is not supported by arraylib "
                              "(use torch.save with a state dict)")


def load(*args, **kwargs):
    raise NotImplementedError("torch.jit.load: TorchScript is not supported by arraylib "
                              "(use torch.load with a state dict)")
