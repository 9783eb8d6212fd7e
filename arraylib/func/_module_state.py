"""Modules as functions of their tensors: ``functional_call`` and ``stack_module_state``.

Both work on any object with ``nn.Module``'s interface (``named_parameters``,
``named_buffers``, ``get_submodule`` and the ``_parameters`` / ``_buffers`` tables),
so ``func`` needs no import of ``nn``.
"""
from __future__ import annotations

import contextlib

from .._core._tensor import Tensor
from .._manipulation_functions import stack

__all__ = ["functional_call", "stack_module_state"]


def _named_tensors(module):
    """``{name: tensor}`` of every parameter and buffer, tied names included."""
    named = dict(module.named_parameters(remove_duplicate=False))
    named.update(module.named_buffers(remove_duplicate=False))
    return named


def _merge(dicts):
    if isinstance(dicts, dict):
        return dict(dicts)
    merged = {}
    for d in dicts:
        if not isinstance(d, dict):
            raise TypeError(f"functional_call: expected a dict or a sequence of dicts of "
                            f"tensors, got a {type(d).__name__} in the sequence")
        for k, v in d.items():
            if k in merged:
                raise ValueError(f"functional_call: {k!r} appeared in multiple dictionaries; "
                                 "behavior of functional call is ambiguous")
            merged[k] = v
    return merged


def _tie(named, values):
    """Give every name of a tied tensor (``named``: the module's tensors by name) the
    value given for one of its names."""
    groups = {}
    for name, t in named.items():
        groups.setdefault(id(t), []).append(name)
    values = dict(values)
    for names in groups.values():
        given = [n for n in names if n in values]
        if len(names) < 2 or not given:
            continue
        first = values[given[0]]
        for n in given[1:]:
            if values[n] is not first:
                raise ValueError(f"functional_call: tied names {given[0]!r} and {n!r} were "
                                 "given different values; pass one, or tie_weights=False")
        for n in names:
            values[n] = first
    return values


def _slot(module, name):
    """``(table, key)`` where ``module``'s tensor ``name`` (dotted) lives."""
    owner_name, _, leaf = name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    for table in (owner._parameters, owner._buffers):
        if leaf in table:
            return table, leaf
    return owner.__dict__, leaf


@contextlib.contextmanager
def _swapped(module, values):
    saved = []
    try:
        for name, value in values.items():
            table, key = _slot(module, name)
            saved.append((table, key, table.get(key, _MISSING)))
            table[key] = value
        yield
    finally:
        for table, key, old in reversed(saved):
            if old is _MISSING:
                del table[key]
            else:
                table[key] = old


_MISSING = object()


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *,
                    tie_weights=True, strict=False):
    """``module(*args, **kwargs)`` with its parameters and buffers replaced, for this
    call only, by the tensors in ``parameter_and_buffer_dicts`` (a dict, or a sequence
    of dicts, keyed by ``named_parameters()`` / ``named_buffers()`` names).

    Names not given keep the module's own tensors (``strict=True``: every name must
    be given, and no other).  With ``tie_weights`` a tensor the module shares under
    several names is replaced under all of them."""
    values = _merge(parameter_and_buffer_dicts)
    for k, v in values.items():
        if not isinstance(v, Tensor):
            raise TypeError(f"functional_call: the value for {k!r} is a {type(v).__name__}, "
                            "expected a Tensor")
    names = _named_tensors(module)
    if strict:
        missing = sorted(set(names) - set(values))
        unexpected = sorted(set(values) - set(names))
        if missing or unexpected:
            raise RuntimeError(f"functional_call: Error(s) in reparametrizing for "
                               f"{type(module).__name__}: missing key(s) {missing}, unexpected "
                               f"key(s) {unexpected}")
    if tie_weights:
        values = _tie(names, values)
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _swapped(module, values):
        return module(*args, **(kwargs or {}))


def stack_module_state(models):
    """``(params, buffers)``: each model's parameters and buffers stacked on a new
    leading axis, by name; for an ensemble run with ``vmap`` and ``functional_call``.

    The stacked parameters are fresh leaves (requiring grad where the models' do)."""
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    first = models[0]
    if not all(m.training == first.training for m in models):
        raise RuntimeError("stack_module_state: Expected all models to have the same "
                           "training/eval mode.")
    if not all(type(m) is type(first) for m in models):
        raise RuntimeError(f"stack_module_state: Expected all models to be of the same class, "
                           f"got {sorted({type(m).__name__ for m in models})}")

    def stacked(getter):
        per = [dict(getter(m)) for m in models]
        keys = list(per[0])
        for m, d in zip(models[1:], per[1:]):
            if list(d) != keys:
                raise RuntimeError(f"stack_module_state: the models have different "
                                   f"parameter or buffer names ({keys} vs {list(d)})")
        out = {}
        for k in keys:
            ts = [d[k] for d in per]
            shapes = {t.shape for t in ts}
            if len(shapes) != 1:
                raise RuntimeError(f"stack_module_state: {k!r} has different shapes across "
                                   f"the models: {sorted(shapes)}")
            s = stack([t.detach() for t in ts], axis=0)
            if any(t.requires_grad for t in ts):
                s.requires_grad_(True)
            out[k] = s
        return out
    return (stacked(lambda m: m.named_parameters()), stacked(lambda m: m.named_buffers()))
