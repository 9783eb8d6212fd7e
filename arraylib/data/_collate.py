"""``default_collate`` and ``default_convert``, with PyTorch's structure rules."""
from __future__ import annotations

import collections.abc as cabc
import copy

import arraylib as al

__all__ = ["default_collate", "default_convert"]


def _is_array(x):
    return hasattr(x, "__array__") and hasattr(x, "dtype") and hasattr(x, "shape")


def _rebuild_mapping(elem, values):
    """``values`` (a dict) in the mapping type of ``elem`` where that type allows it."""
    try:
        if isinstance(elem, cabc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(values)
            return clone
        return type(elem)(values)
    except TypeError:
        return values


def default_convert(data):
    """What ``batch_size=None`` hands out for one sample: tensors are copied (``clone``,
    recorded when they require grad), NumPy arrays become fresh tensors, containers are
    converted field by field, anything else is returned as is.  The loader never hands
    out storage of the data set, so a training loop that modifies a sample in place
    (``x.mul_(2)``) leaves the data set unchanged."""
    if isinstance(data, al.Tensor):
        return data.clone()
    if isinstance(data, (str, bytes, int, float, complex)) or data is None:
        return data
    if _is_array(data):
        try:
            return al.asarray(data, copy=True)
        except (TypeError, ValueError):
            return data
    if isinstance(data, cabc.Mapping):
        return _rebuild_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, list):
        return [default_convert(d) for d in data]
    return data


def _collate_sequence(batch, elem):
    n = len(elem)
    if any(len(b) != n for b in batch):
        raise RuntimeError("default_collate: each element in list of batch should be of equal "
                           f"size, got sizes {sorted({len(b) for b in batch})}")
    fields = [default_collate(list(s)) for s in zip(*batch)]
    if isinstance(elem, (tuple, list)):
        return fields  # PyTorch hands out lists for tuples too
    try:
        return type(elem)(fields)
    except TypeError:
        return fields


def default_collate(batch):
    """Stack a list of samples as PyTorch's ``default_collate`` does: tensors (and arrays)
    are stacked along a new first dimension (into fresh storage: a batch never shares
    memory with the data set), Python ints/floats/bools become int64/float64/bool
    tensors, strings stay a list, mappings keep their type and are collated per key,
    named tuples keep their type, other tuples and lists become lists of collated
    fields."""
    elem = batch[0]
    if isinstance(elem, al.Tensor):
        return al.stack(list(batch))
    if isinstance(elem, bool):
        return al.asarray(list(batch), dtype=al.bool)
    if isinstance(elem, int):
        return al.asarray(list(batch), dtype=al.int64)
    if isinstance(elem, float):
        return al.asarray(list(batch), dtype=al.float64)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if hasattr(elem, "__array__") or hasattr(elem, "__dlpack__"):
        kind = getattr(getattr(elem, "dtype", None), "kind", None)
        if isinstance(kind, str) and kind in ("O", "S", "U", "V"):
            raise TypeError(f"default_collate: arrays of dtype {elem.dtype} cannot be "
                            "collated into a tensor")
        return al.stack([al.asarray(b) for b in batch])
    if isinstance(elem, cabc.Mapping):
        return _rebuild_mapping(elem, {key: default_collate([d[key] for d in batch])
                                       for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, cabc.Sequence):
        return _collate_sequence(batch, elem)
    raise TypeError(f"default_collate: batch must contain tensors, arrays, numbers, dicts or "
                    f"lists; found {type(elem).__name__}")
