"""The safetensors format, for ``.safetensors`` paths.

A safetensors file is an 8-byte little-endian header length, a JSON header
``{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
"__metadata__": {...}}`` and the raw little-endian bytes of each tensor.  Loading never runs
code, and files interoperate with ``safetensors.torch`` (``save_file`` / ``load_file``).
Loading checks the header completely before touching the data: any malformed header
(nesting, wrong JSON types, booleans for integers, offsets out of range, shapes that do not
match their bytes) raises ValueError naming ``load`` and the file, without large allocations.
"""
from __future__ import annotations

from collections import OrderedDict
import json
import struct

from .. import _dtypes
from .._core._devices import CPU
from .._core._tensor import Tensor, _new

__all__ = ["encode", "decode", "looks_like"]

_TO_ST = {
    _dtypes.float64: "F64", _dtypes.float32: "F32", _dtypes.int64: "I64", _dtypes.int32: "I32",
    _dtypes.int16: "I16", _dtypes.int8: "I8", _dtypes.uint8: "U8", _dtypes.uint16: "U16",
    _dtypes.uint32: "U32", _dtypes.uint64: "U64", _dtypes.bool: "BOOL",
    _dtypes.complex64: "C64", _dtypes.complex128: "C128",
}
_HALF = (("float16", "F16"), ("bfloat16", "BF16"))  # where arraylib has them


def _to_st():
    out = dict(_TO_ST)
    for name, st in _HALF:
        dt = getattr(_dtypes, name, None)
        if dt is not None:
            out[dt] = st
    return out


def _from_st():
    return {v: k for k, v in _to_st().items()}


_FROM_ST = {v: k for k, v in _TO_ST.items()}
# Every dtype name of the safetensors format: one arraylib lacks is a TypeError (a valid file
# this library cannot hold), any other name a ValueError (a malformed file).
_ST_DTYPES = frozenset(_FROM_ST) | {"F16", "BF16", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4",
                                    "F6_E2M3", "F6_E3M2"}
_MAX_HEADER = 100 * 1024 * 1024
_MAX_NDIM = 64  # NumPy's limit; PyTorch's tensors stay far below it
_HUGE = 1 << 64  # bytes: no real tensor is larger


def encode(obj, metadata=None):
    """The bytes of a safetensors file holding the flat ``{name: Tensor}`` dict ``obj``, as a
    list of parts (header, then each tensor's data)."""
    if hasattr(obj, "state_dict") and callable(obj.state_dict) and not hasattr(obj, "keys"):
        raise TypeError("save: expected a dict of tensors (e.g. model.state_dict()), got a "
                        f"{type(obj).__name__}")
    if not hasattr(obj, "items"):
        raise TypeError(f"save: a .safetensors file holds a flat dict of tensors, got "
                        f"{type(obj).__name__} (save nested checkpoints to a .pt/.pth path)")
    header = {}
    blobs = []
    offset = 0
    to_st = _to_st()
    for name, t in obj.items():
        if not isinstance(name, str):
            raise TypeError(f"save: keys must be strings in a .safetensors file, got {name!r}")
        if name == "__metadata__":
            raise ValueError("save: the key '__metadata__' is reserved")
        if not isinstance(t, Tensor):
            raise TypeError(f"save: value for key {name!r} is a {type(t).__name__}, not a Tensor "
                            "(a .safetensors file holds only tensors; save nested checkpoints "
                            "to a .pt/.pth path)")
        dt = t.dtype
        st = to_st.get(dt)
        if st is None:
            raise TypeError(f"save: tensor {name!r} has unsupported dtype {dt}")
        data = t._device.backend.tobytes(t._data)
        header[name] = {"dtype": st, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata is not None:
        if not hasattr(metadata, "items"):
            raise TypeError(f"save: metadata must be a dict of str to str, got "
                            f"{type(metadata).__name__}")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("save: metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    else:
        header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return [struct.pack("<Q", len(text)), text, *blobs]


def looks_like(buf) -> bool:
    """Whether ``buf`` starts as a safetensors file does (a header length, then ``{``)."""
    return len(buf) >= 9 and buf[8:9] == b"{"


def _corrupt(where, why):
    return ValueError(f"load: {where!r} is not a valid safetensors file: {why}")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _header(buf, where):
    """The JSON header of a safetensors file, checked for the format's shape."""
    if len(buf) < 8:
        raise _corrupt(where, f"file too short ({len(buf)} bytes) to hold the header length")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > _MAX_HEADER or 8 + n > len(buf):
        raise _corrupt(where, f"header length {n} exceeds the file size {len(buf)}"
                       + (f" or the limit of {_MAX_HEADER} bytes" if n > _MAX_HEADER else ""))
    raw = buf[8:8 + n]
    if raw[:1] != b"{":
        raise _corrupt(where, "header does not start with '{' (a JSON object)")
    try:
        header = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise _corrupt(where, f"header is not UTF-8 ({e})") from None
    except RecursionError:
        raise _corrupt(where, "header is nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, or an integer literal beyond the digit limit
        raise _corrupt(where, f"header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise _corrupt(where, "header is not a JSON object")
    meta = header.get("__metadata__")
    if meta is not None and not (isinstance(meta, dict) and all(
            isinstance(v, str) for v in meta.values())):
        raise _corrupt(where, "__metadata__ must map strings to strings")
    return header


def _entries(header, where, size):
    """``(begin, end, name, dtype name, shape)`` for every tensor, sorted by offset, after
    checking types, ranges and that the data is covered exactly (no gap, no overlap)."""
    entries = []
    from_st = _from_st()
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise _corrupt(where, f"entry {name!r} lacks dtype/shape/data_offsets")
        st, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(st, str):
            raise _corrupt(where, f"entry {name!r} has a dtype of type {type(st).__name__} "
                           f"({_short(st)}), expected a string such as 'F32'")
        if st not in from_st:
            if st in _ST_DTYPES:
                raise TypeError(f"load: tensor {name!r} in {where!r} has dtype {st!r}, which "
                                f"arraylib does not support (supported: {sorted(from_st)})")
            raise _corrupt(where, f"entry {name!r} has an unknown dtype {_short(st)} "
                           f"(safetensors dtypes: {sorted(_ST_DTYPES)})")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise _corrupt(where, f"entry {name!r} has a malformed shape {_short(shape)} "
                           "(expected a list of non-negative integers)")
        if len(shape) > _MAX_NDIM:
            raise ValueError(f"load: tensor {name!r} in {where!r} has {len(shape)} dimensions; "
                             f"arraylib supports at most {_MAX_NDIM}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(_is_int(o) for o in offs)):
            raise _corrupt(where, f"entry {name!r} has malformed data_offsets {_short(offs)} "
                           "(expected [begin, end], two integers)")
        begin, end = offs
        if not 0 <= begin <= end <= size:
            raise _corrupt(where, f"entry {name!r} has data_offsets [{_short(begin)}, "
                           f"{_short(end)}] outside the {size} bytes of data"
                           + (": the file is truncated" if 0 <= begin <= end else ""))
        itemsize = from_st[st].itemsize
        need = itemsize if 0 not in shape else 0
        for d in shape:
            need *= d
            if need > _HUGE:  # stop before the product grows further: a huge shape
                break
        if need != end - begin:
            raise _corrupt(where, f"entry {name!r} of shape {_short(shape)} and dtype {st} "
                           f"needs {need if need <= _HUGE else f'more than {_HUGE}'} bytes, "
                           f"but its data_offsets span {end - begin}")
        entries.append((begin, end, name, st, tuple(shape)))
    entries.sort(key=lambda e: (e[0], e[1]))
    pos = 0
    for begin, end, name, _, _ in entries:
        if begin != pos:
            raise _corrupt(where, f"entry {name!r} has data_offsets [{begin}, {end}] that overlap "
                           f"or leave a gap (expected to start at {pos})")
        pos = end
    if pos != size:
        raise _corrupt(where, f"{size - pos} trailing bytes after the last tensor")
    return entries


def _short(v, limit=80):
    r = repr(v)
    return r if len(r) <= limit else r[:limit - 3] + "..."


def decode(buf, where, place):
    """The ``{name: Tensor}`` dict of safetensors bytes ``buf``; ``place(t)`` moves each
    tensor (made on the CPU) to its device."""
    header = _header(buf, where)
    data = memoryview(buf)[8 + struct.unpack("<Q", buf[:8])[0]:]
    entries = _entries(header, where, len(data))
    out = OrderedDict()
    cpu = CPU.backend
    order = {k: i for i, k in enumerate(header)}
    from_st = _from_st()
    for begin, end, name, st, shape in sorted(entries, key=lambda e: order[e[2]]):
        arr = cpu.frombuffer(data[begin:end], from_st[st], shape)
        out[name] = place(_new(arr, CPU))
    return out
