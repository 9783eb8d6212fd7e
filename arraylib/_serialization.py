"""``arraylib.save`` / ``arraylib.load``: state dicts in the safetensors format.

A safetensors file is an 8-byte little-endian header length, a JSON header
``{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
"__metadata__": {...}}`` and the raw little-endian bytes of each tensor.  Loading
never runs code (no pickle), and files interoperate with ``safetensors.torch``
(``save_file`` / ``load_file``) under PyTorch's state-dict key names.

Saving to a path never destroys the previous file: the bytes go to a temporary file in the
same folder (``.<name>.<host>.<pid>.<random>.tmp``), which is flushed, fsynced and then
renamed over the target with ``os.replace`` (the folder is fsynced too where the platform
allows).  A writer killed mid-save leaves the old file untouched and at most its temporary
file, which the next save to the same target removes once its writer is gone; a save that
fails (an unsupported object, a full disk, an unwritable folder) leaves nothing behind.

Loading checks the header completely before touching the data: any malformed header
(nesting, wrong JSON types, booleans for integers, offsets out of range, shapes that do not
match their bytes) raises ValueError naming ``load`` and the file, without large allocations.
"""
from __future__ import annotations

from collections import OrderedDict
import json
import os
import re
import secrets
import socket
import stat
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
# Every dtype name of the safetensors format: one arraylib lacks is a TypeError (a valid file
# this library cannot hold), any other name a ValueError (a malformed file).
_ST_DTYPES = frozenset(_FROM_ST) | {"F16", "BF16", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4",
                                    "F6_E2M3", "F6_E3M2"}
_MAX_HEADER = 100 * 1024 * 1024
_MAX_NDIM = 64  # NumPy's limit; PyTorch's tensors stay far below it
_HUGE = 1 << 64  # bytes: no real tensor is larger

# -- atomic save ---------------------------------------------------------------------------
_TMP_SUFFIX = ".tmp"
_MAX_BASE = 180  # keeps ".<base>.<host>.<pid>.<token>.tmp" under the usual 255-byte limit
_HOST = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname() or "host")[:32] or "host"


def _tmp_prefix(base):
    return f".{base[:_MAX_BASE]}."


def _writer_alive(pid):
    """Whether process ``pid`` exists on this host (a zombie, killed but not yet reaped by
    its parent, still counts: its temporary file goes at a later save)."""
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, owned by someone else
        return True
    return True


def _clean_stale(folder, base):
    """Remove temporary files that writers of this target on this host left when they
    were killed (their process is gone); never one a live writer is still filling."""
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return
    prefix = _tmp_prefix(base)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(_TMP_SUFFIX)):
            continue
        parts = name[len(prefix):-len(_TMP_SUFFIX)].split(".")
        if len(parts) != 3 or parts[0] != _HOST or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid == os.getpid() or _writer_alive(pid):
            continue
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass


def _fsync_dir(folder):
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _reword(e, what, path):
    """The same OSError subclass, with a message naming ``save`` and the file."""
    if isinstance(e, OSError) and e.errno is not None:
        try:
            return type(e)(e.errno, f"save: {what} {path!r}: {e.strerror}")
        except Exception:  # an OSError subclass with its own constructor
            pass
    return e


def _write_parts(fh, parts):
    for b in parts:
        fh.write(b)


def _atomic_write(path, parts):
    target = os.path.realpath(path) if os.path.islink(path) else path
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise _reword(e, "cannot write", path) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"save: {path!r} is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):
        # A device, FIFO or socket (/dev/null, a pipe): write into it; a rename would
        # replace the special file itself.
        with open(target, "wb") as fh:
            _write_parts(fh, parts)
        return
    folder, base = os.path.split(os.path.abspath(target))
    _clean_stale(folder, base)
    prefix = os.path.join(folder, f"{_tmp_prefix(base)}{_HOST}.{os.getpid()}.")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | \
        getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = f"{prefix}{secrets.token_hex(4)}{_TMP_SUFFIX}"
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies, as for open(path, "wb")
            break
        except FileExistsError:
            continue
        except OSError as e:
            raise _reword(e, "cannot create a temporary file next to", path) from None
    try:
        try:
            fh = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with fh:
            if st is not None and hasattr(os, "fchmod"):
                try:
                    os.fchmod(fh.fileno(), stat.S_IMODE(st.st_mode))  # keep the old mode
                except OSError:
                    pass
            _write_parts(fh, parts)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            new = _reword(e, "could not write", path)
            if new is not e:
                raise new from e
        raise
    _fsync_dir(folder)


def save(obj, f, /, *, metadata=None) -> None:
    """Write a ``{name: Tensor}`` dict (a ``state_dict``) to ``f`` (path or binary file)
    in the safetensors format.  ``metadata``: optional ``{str: str}`` stored in the header.

    A path is written atomically: a temporary file in the same folder, fsynced, then
    renamed over ``f``, so an interrupted or failed save leaves the previous file intact."""
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
    parts = [struct.pack("<Q", len(text)), text, *blobs]
    if hasattr(f, "write"):
        _write_parts(f, parts)
    else:
        _atomic_write(os.fsdecode(os.fspath(f)), parts)


def _read_all(f, func):
    if hasattr(f, "read"):
        buf = f.read()
        where = getattr(f, "name", "<file object>")
        if not isinstance(buf, (bytes, bytearray, memoryview)):
            raise TypeError(f"{func}: {where!r} returned {type(buf).__name__} from read(); "
                            "open the file in binary mode ('rb')")
        return bytes(buf), where
    path = os.fspath(f)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{func}: no such file: {path!r}")
    with open(path, "rb") as fh:
        return fh.read(), path


def _corrupt(where, why):
    return ValueError(f"load: {where!r} is not a valid safetensors file: {why}")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _header(buf, where):
    """The JSON header of a safetensors file, checked for the format's shape."""
    if buf[:2] == b"PK" or buf[:1] == b"\x80":
        raise _corrupt(where, "it looks like a pickle/zip checkpoint (torch.save); arraylib.load "
                       "reads only safetensors files, which never execute code - convert it with "
                       "safetensors.torch.save_file(model.state_dict(), path)")
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
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise _corrupt(where, f"entry {name!r} lacks dtype/shape/data_offsets")
        st, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(st, str):
            raise _corrupt(where, f"entry {name!r} has a dtype of type {type(st).__name__} "
                           f"({_short(st)}), expected a string such as 'F32'")
        if st not in _FROM_ST:
            if st in _ST_DTYPES:
                raise TypeError(f"load: tensor {name!r} in {where!r} has dtype {st!r}, which "
                                f"arraylib does not support (supported: {sorted(_FROM_ST)})")
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
        itemsize = _FROM_ST[st].itemsize
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


def load(f, /, device=None, *, map_location=None, weights_only=True):
    """Read a safetensors file written by ``arraylib.save`` or ``safetensors.torch.save_file``
    into an ordered ``{name: Tensor}`` dict on ``device`` (default: the default device).
    Never executes code; a corrupt, truncated or foreign file raises ValueError naming the
    file (a valid file holding a dtype arraylib lacks, such as BF16, raises TypeError)."""
    if device is None:
        device = map_location
    dev = as_device(device)
    buf, where = _read_all(f, "load")
    header = _header(buf, where)
    data = memoryview(buf)[8 + struct.unpack("<Q", buf[:8])[0]:]
    entries = _entries(header, where, len(data))
    out = OrderedDict()
    cpu = CPU.backend
    order = {k: i for i, k in enumerate(header)}
    for begin, end, name, st, shape in sorted(entries, key=lambda e: order[e[2]]):
        arr = cpu.frombuffer(data[begin:end], _FROM_ST[st], shape)
        t = _new(arr, CPU)
        out[name] = t if dev is CPU else t.to_device(dev)
    return out
