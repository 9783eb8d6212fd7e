"""``arraylib.save`` / ``arraylib.load``: state dicts in the safetensors format.

A safetensors file is an 8-byte little-endian header length, a JSON header
``{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
"__metadata__": {...}}`` and the raw little-endian bytes of each tensor.  Loading
never runs code (no pickle), and files interoperate with ``safetensors.torch``
(``save_file`` / ``load_file``) under PyTorch's state-dict key names.
"""
from __future__ import annotations

from collections import OrderedDict
import json
import os
import struct

from . import _dtypes
from ._core._devices import CPU, as_device
from ._core._tensor import Tensor, _new

__all__ = ["save", "load"]

_TO_ST = {
    _dtypes.float64: "F64", _dtypes.float32: "F32", _dtypes.int64: "I64", _dtypes.int32: "I32",
    _dtypes.int16: "I16", _dtypes.int8: "I8", _dtypes.uint8: "U8", _dtypes.uint16: "U16",
    _dtypes.uint32: "U32", _dtypes.uint64: "U64", _dtypes.bool: "BOOL",
    _dtypes.complex64: "C64", _dtypes.complex128: "C128",
}
_FROM_ST = {v: k for k, v in _TO_ST.items()}
_MAX_HEADER = 100 * 1024 * 1024


def _open_write(f):
    if hasattr(f, "write"):
        return f, False
    return open(os.fspath(f), "wb"), True


def save(obj, f, /, *, metadata=None) -> None:
    """Write a ``{name: Tensor}`` dict (a ``state_dict``) to ``f`` (path or binary file)
    in the safetensors format.  ``metadata``: optional ``{str: str}`` stored in the header."""
    if hasattr(obj, "state_dict") and callable(obj.state_dict) and not hasattr(obj, "keys"):
        raise TypeError("save: expected a dict of tensors (e.g. model.state_dict()), got a "
                        f"{type(obj).__name__}; arraylib.save does not pickle objects")
    if not hasattr(obj, "items"):
        raise TypeError(f"save: expected a dict of tensors, got {type(obj).__name__}")
    header = {}
    blobs = []
    offset = 0
    for name, t in obj.items():
        if not isinstance(name, str):
            raise TypeError(f"save: keys must be strings, got {name!r}")
        if name == "__metadata__":
            raise ValueError("save: the key '__metadata__' is reserved")
        if not isinstance(t, Tensor):
            raise TypeError(f"save: value for key {name!r} is a {type(t).__name__}, not a Tensor "
                            "(only tensors can be saved; arraylib.save does not pickle objects)")
        dt = t.dtype
        if dt not in _TO_ST:
            raise TypeError(f"save: tensor {name!r} has unsupported dtype {dt}")
        data = t._device.backend.tobytes(t._data)
        header[name] = {"dtype": _TO_ST[dt], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("save: metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    else:
        header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    fh, close = _open_write(f)
    try:
        fh.write(struct.pack("<Q", len(text)))
        fh.write(text)
        for b in blobs:
            fh.write(b)
    finally:
        if close:
            fh.close()


def _read_all(f, func):
    if hasattr(f, "read"):
        return f.read(), getattr(f, "name", "<file object>")
    path = os.fspath(f)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{func}: no such file: {path!r}")
    with open(path, "rb") as fh:
        return fh.read(), path


def _corrupt(where, why):
    return ValueError(f"load: {where} is not a valid safetensors file: {why}")


def load(f, /, device=None, *, map_location=None, weights_only=True):
    """Read a safetensors file written by ``arraylib.save`` or ``safetensors.torch.save_file``
    into an ordered ``{name: Tensor}`` dict on ``device`` (default: the default device).
    Never executes code; a corrupt, truncated or foreign file raises ValueError."""
    if device is None:
        device = map_location
    dev = as_device(device)
    buf, where = _read_all(f, "load")
    if buf[:2] == b"PK" or buf[:1] == b"\x80":
        raise _corrupt(where, "it looks like a pickle/zip checkpoint (torch.save); arraylib.load "
                       "reads only safetensors files, which never execute code - convert it with "
                       "safetensors.torch.save_file(model.state_dict(), path)")
    if len(buf) < 8:
        raise _corrupt(where, f"file too short ({len(buf)} bytes) to hold the header length")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > _MAX_HEADER or 8 + n > len(buf):
        raise _corrupt(where, f"header length {n} exceeds the file size {len(buf)}")
    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _corrupt(where, f"header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise _corrupt(where, "header is not a JSON object")
    data = memoryview(buf)[8 + n:]
    out = OrderedDict()
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise _corrupt(where, f"entry {name!r} lacks dtype/shape/data_offsets")
        st = info["dtype"]
        if st not in _FROM_ST:
            raise TypeError(f"load: tensor {name!r} in {where} has dtype {st!r}, which arraylib "
                            f"does not support (supported: {sorted(_FROM_ST)})")
        shape = info["shape"]
        offs = info["data_offsets"]
        if (not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape)
                or not isinstance(offs, list) or len(offs) != 2
                or not all(isinstance(o, int) for o in offs)):
            raise _corrupt(where, f"entry {name!r} has a malformed shape {shape!r} or "
                           f"data_offsets {offs!r}")
        entries.append((offs[0], offs[1], name, st, tuple(shape)))
    entries.sort()
    pos = 0
    for begin, end, name, st, shape in entries:
        dt = _FROM_ST[st]
        count = 1
        for s in shape:
            count *= s
        if begin != pos or end < begin:
            raise _corrupt(where, f"entry {name!r} has data_offsets [{begin}, {end}] that overlap "
                           f"or leave a gap (expected to start at {pos})")
        if end - begin != count * dt.itemsize:
            raise _corrupt(where, f"entry {name!r} of shape {list(shape)} and dtype {st} needs "
                           f"{count * dt.itemsize} bytes, but its data_offsets span {end - begin}")
        if end > len(data):
            raise _corrupt(where, f"entry {name!r} ends at byte {end}, past the end of the data "
                           f"({len(data)} bytes): the file is truncated")
        pos = end
    if pos != len(data):
        raise _corrupt(where, f"{len(data) - pos} trailing bytes after the last tensor")
    cpu = CPU.backend
    order = {k: i for i, k in enumerate(header)}
    for begin, end, name, st, shape in sorted(entries, key=lambda e: order[e[2]]):
        arr = cpu.frombuffer(data[begin:end], _FROM_ST[st], shape)
        t = _new(arr, CPU)
        out[name] = t if dev is CPU else t.to_device(dev)
    return out
