"""PyTorch's checkpoint formats: the zip archive of ``torch.save`` and its legacy format.

Zip (PyTorch >= 1.6): an uncompressed archive ``<name>/data.pkl`` (a protocol-2 pickle whose
tensors are ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
OrderedDict())`` with ``storage`` a persistent id ``("storage", torch.FloatStorage, key,
location, numel)``), ``<name>/data/<key>`` (each storage's raw little-endian bytes, aligned to
64 bytes in the file), ``.format_version``, ``.storage_alignment``, ``byteorder`` and
``version``.  Legacy (``_use_new_zipfile_serialization=False``): five pickles in a row
(magic number, protocol version, system info, the object, the storage keys), then each
storage as an 8-byte element count and its bytes.

Saving writes tensors that share memory (the same tensor twice, views of one array) into one
storage with their offsets and strides, as PyTorch does; any other tensor is written as a
compact copy of its values.  Loading copies each tensor's values out of its storage (loaded
tensors never alias each other; the same pickled tensor is the same object).
"""
from __future__ import annotations

from collections import Counter, OrderedDict
import io
import re
import struct
import zipfile

from .. import _backends, _dtypes
from .._core._devices import CPU, Device
from .._core._tensor import Tensor, _new
from . import _pickler, _unpickler

__all__ = ["encode", "decode_zip", "decode_legacy", "Placement", "Storage", "is_legacy",
           "register_parameter_class"]

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
ALIGNMENT = 64
_MAX_NDIM = 64

# arraylib dtype name -> the legacy storage class PyTorch names it by
_STORAGE_NAMES = {
    "float64": "DoubleStorage", "float32": "FloatStorage", "float16": "HalfStorage",
    "bfloat16": "BFloat16Storage", "int64": "LongStorage", "int32": "IntStorage",
    "int16": "ShortStorage", "int8": "CharStorage", "uint8": "ByteStorage",
    "bool": "BoolStorage", "complex64": "ComplexFloatStorage",
    "complex128": "ComplexDoubleStorage",
}
_V3_DTYPES = ("uint16", "uint32", "uint64")  # saved as untyped storage + dtype (tensor_v3)
# torch dtype names (and aliases) -> arraylib dtype names
_TORCH_DTYPES = {n: n for n in list(_STORAGE_NAMES) + list(_V3_DTYPES)}
_TORCH_DTYPES.update(float="float32", double="float64", half="float16", long="int64",
                     int="int32", short="int16", cfloat="complex64", cdouble="complex128")
_UNSUPPORTED_DTYPES = ("complex32", "chalf", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz",
                       "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2", "qint8",
                       "quint8", "qint32", "quint4x2", "quint2x4", "bits1x8", "bits2x4",
                       "bits4x2", "bits8", "bits16") + tuple(
    f"{k}int{i}" for k in ("u", "") for i in range(1, 8))
_UNSUPPORTED_STORAGES = ("QInt8Storage", "QUInt8Storage", "QInt32Storage", "QUInt4x2Storage",
                         "QUInt2x4Storage")
_UNSUPPORTED_REBUILDS = {
    "_rebuild_qtensor": "a quantized tensor", "_rebuild_sparse_tensor": "a sparse tensor",
    "_rebuild_sparse_csr_tensor": "a sparse tensor", "_rebuild_nested_tensor": "a nested tensor",
    "_rebuild_meta_tensor_no_storage": "a meta tensor (no data)",
    "_rebuild_wrapper_subclass": "a tensor subclass",
    "_rebuild_device_tensor_from_numpy": "a NumPy-backed device tensor",
    "_rebuild_xla_tensor": "an XLA tensor", "_rebuild_mkldnn_tensor": "an MKL-DNN tensor",
}

_PARAMETER = [None]  # the class loaded Parameters become (nn registers it)


def register_parameter_class(cls) -> None:
    """Make loaded ``nn.Parameter`` entries instances of ``cls`` (a ``Tensor`` subclass)."""
    _PARAMETER[0] = cls


def _dtype(name):
    return getattr(_dtypes, name, None)


def _dtype_name(dt):
    """The torch name of arraylib dtype ``dt``, or None."""
    if isinstance(dt, _dtypes.DType) and _dtype(dt.name) == dt and dt.name in _TORCH_DTYPES:
        return dt.name
    return None


def _device_name(obj):
    return obj.name if isinstance(obj, Device) else None


def _location(dev):
    return dev.name if dev.type == "cuda" else "cpu"


def _is_parameter(t):
    cls = _PARAMETER[0]
    if cls is not None and isinstance(t, cls):
        return True
    return any(c.__name__ == "Parameter" for c in type(t).__mro__)


def _scalar(v):
    if isinstance(v, _backends.host_scalar_types()):
        item = v.item()
        return item if type(item) in (bool, int, float, complex) else None
    return None


# -- saving --------------------------------------------------------------------------------
def _c_strides(shape):
    out, step = [], 1
    for n in reversed(shape):
        out.append(step)
        step *= max(n, 1)
    return tuple(reversed(out))


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _host_layout(t):
    """``(root array, element offset, element strides)`` of a CPU tensor that views memory
    which other tensors may share, or None where that cannot be told."""
    B = t._device.backend
    if not B.host:
        return None
    arr = B.to_numpy(t._data)
    root = arr
    while isinstance(getattr(root, "base", None), type(arr)):
        root = root.base
    try:
        off = arr.__array_interface__["data"][0] - root.__array_interface__["data"][0]
        ok = root.flags.c_contiguous and root.dtype == arr.dtype
    except (AttributeError, KeyError, TypeError):
        return None
    isz = arr.itemsize
    if not ok or isz == 0 or off % isz or any(s % isz for s in arr.strides):
        return None
    strides = tuple(s // isz if n > 1 else c for s, n, c in
                    zip(arr.strides, arr.shape, _c_strides(arr.shape)))
    if any(s < 0 for s in strides) or off < 0:
        return None
    return root, off // isz, strides


def _collect(obj, out, seen):
    """Every distinct tensor in ``obj``, in the order the pickle meets them."""
    if isinstance(obj, Tensor):
        if id(obj) not in seen:
            seen.add(id(obj))
            out.append(obj)
        return
    if isinstance(obj, (str, bytes, int, float, complex)) or obj is None:
        return
    if isinstance(obj, (dict, list, tuple, set, frozenset)):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, dict):
            for k, v in obj.items():
                _collect(k, out, seen)
                _collect(v, out, seen)
        else:
            for item in obj:
                _collect(item, out, seen)
        if isinstance(obj, OrderedDict) and getattr(obj, "__dict__", None):
            _collect(obj.__dict__, out, seen)


class _Plan:
    """Where each tensor goes: ``refs[id(t)] = (key, offset, size, stride)`` and
    ``storages = [(key, dtype name, location, numel, bytes producer)]``."""

    def __init__(self, tensors):
        self.refs = {}
        self.storages = []
        groups = {}
        layouts = {}
        for t in tensors:
            lay = _host_layout(t) if _numel(t.shape) else None
            layouts[id(t)] = lay
            if lay is not None:
                groups.setdefault(id(lay[0]), []).append(t)
        done = set()
        for t in tensors:
            if id(t) in self.refs:
                continue
            lay = layouts[id(t)]
            group = groups.get(id(lay[0]), []) if lay is not None else []
            if len(group) > 1 and id(lay[0]) not in done:
                done.add(id(lay[0]))
                self._shared(group, layouts)
            else:
                self._alone(t)

    def _add(self, t, numel, produce):
        key = str(len(self.storages))
        self.storages.append((key, t.dtype.name, _location(t._device), numel, produce))
        return key

    def _alone(self, t):
        shape = tuple(t.shape)
        B, data = t._device.backend, t._data
        key = self._add(t, _numel(shape), lambda: B.tobytes(data))
        self.refs[id(t)] = (key, 0, shape, _c_strides(shape))

    def _shared(self, group, layouts):
        root = layouts[id(group[0])][0]
        lo = min(layouts[id(t)][1] for t in group)
        hi = max(layouts[id(t)][1] + sum((n - 1) * s for n, s in zip(t.shape, layouts[id(t)][2]))
                 for t in group) + 1
        B = group[0]._device.backend
        key = self._add(group[0], hi - lo, lambda: B.tobytes(root.reshape(-1)[lo:hi]))
        for t in group:
            _, off, strides = layouts[id(t)]
            self.refs[id(t)] = (key, off - lo, tuple(t.shape), strides)


def _tensor_writer(plan, legacy=False):
    """Emits a tensor as ``torch.save`` does (a legacy persistent id has a 6th item, None)."""
    def write(w, t, where):
        if not isinstance(t, Tensor):
            return False
        key, off, size, stride = plan.refs[id(t)]
        name = t.dtype.name
        if name not in _STORAGE_NAMES and name not in _V3_DTYPES:
            raise TypeError(f"save: the tensor at {where} has dtype {t.dtype}, which PyTorch's "
                            "format cannot hold")
        param = _is_parameter(t)
        if param:
            w.global_("torch._utils", "_rebuild_parameter")
        v3 = name in _V3_DTYPES
        w.global_("torch._utils", "_rebuild_tensor_v3" if v3 else "_rebuild_tensor_v2")
        w.out += b"(("
        w.str_("storage")
        if v3:
            w.global_("torch.storage", "UntypedStorage")
        else:
            w.global_("torch", _STORAGE_NAMES[name])
        w.str_(key)
        w.str_(_location(t._device))
        numel = plan.storages[int(key)][3]
        w.int_(numel * t.dtype.itemsize if v3 else numel)
        w.out += b"NtQ" if legacy else b"tQ"
        w.int_(off)
        w.save(size, where)
        w.save(stride, where)
        w.out += b"\x89" if param or not t.requires_grad else b"\x88"
        w.global_("collections", "OrderedDict")
        w.out += b")R"
        if v3:
            w.global_("torch", name)
        w.out += b"tR"
        if param:
            w.out += b"\x88" if t.requires_grad else b"\x89"
            w.global_("collections", "OrderedDict")
            w.out += b")R\x87R"
        w.memoize(t)
        return True
    return write


class _ModuleRefusingWriter(_pickler.Writer):
    def other(self, obj, t, where):
        if not isinstance(obj, Tensor) and callable(getattr(obj, "state_dict", None)) \
                and not isinstance(obj, dict):
            raise TypeError(f"save: cannot save a {t.__name__} object at {where}: arraylib saves "
                            "no code or objects; save its state_dict() instead")
        super().other(obj, t, where)


def _pickle(obj, plan, legacy=False):
    w = _ModuleRefusingWriter(_tensor_writer(plan, legacy), _scalar, _dtype_name, _device_name)
    return w.dump(obj)


def _archive_name(path):
    if path is None:
        return "archive"
    base = re.split(r"[\\/]", path)[-1].split(".")[0]
    return base if re.fullmatch(r"[A-Za-z0-9_-]{1,100}", base) else "archive"


def encode(obj, path=None, legacy=False):
    """A ``write(fh)`` function that writes ``obj`` in PyTorch's format; everything that can
    fail on the object (an unsupported type) fails here, before any file is touched."""
    tensors = []
    _collect(obj, tensors, set())
    plan = _Plan(tensors)
    pkl = _pickle(obj, plan, legacy)
    if legacy:
        return lambda fh: _write_legacy(fh, pkl, plan)
    archive = _archive_name(path)
    return lambda fh: _write_zip(fh, archive, pkl, plan)


def _write_zip(fh, archive, pkl, plan):
    try:
        seekable = fh.seekable() and fh.tell() >= 0
    except (AttributeError, OSError, ValueError):
        seekable = False
    if not seekable:  # a pipe: build the archive in memory, then write it through
        buf = io.BytesIO()
        _write_zip(buf, archive, pkl, plan)
        fh.write(buf.getvalue())
        return
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        def record(name, data):
            name = f"{archive}/{name}"
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            zip64 = len(data) * 1.05 > zipfile.ZIP64_LIMIT  # as zipfile decides
            header = 30 + len(name.encode("utf-8")) + (20 if zip64 else 0)
            pad = -(fh.tell() + header + 4) % ALIGNMENT
            info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
            zf.writestr(info, data)

        record("data.pkl", pkl)
        record(".format_version", b"1")
        record(".storage_alignment", str(ALIGNMENT).encode())
        record("byteorder", b"little")
        for key, _, _, _, produce in plan.storages:
            record(f"data/{key}", produce())
        record("version", b"3\n")


def _write_legacy(fh, pkl, plan):
    def small(obj):
        return _pickler.Writer(lambda w, t, where: False, _scalar, _dtype_name,
                               _device_name).dump(obj)

    fh.write(small(MAGIC_NUMBER))
    fh.write(small(PROTOCOL_VERSION))
    fh.write(small({"protocol_version": PROTOCOL_VERSION, "little_endian": True,
                    "type_sizes": {"short": 2, "int": 4, "long": 4}}))
    fh.write(pkl)
    keys = [s[0] for s in plan.storages]
    fh.write(small(keys))
    for _, name, _, numel, produce in plan.storages:
        if name in _V3_DTYPES:  # an untyped storage counts bytes
            numel *= _dtype(name).itemsize
        fh.write(struct.pack("<q", numel))
        fh.write(produce())


# -- loading: storages and where they go -----------------------------------------------------
class Storage:
    """A storage read from a checkpoint: ``dtype``, raw little-endian ``data`` and the
    ``device`` its tensors go to.  A callable ``map_location(storage, location)`` may return
    it, ``storage.cpu()``, ``storage.cuda(i)`` or ``storage.to(device)``."""

    __slots__ = ("dtype", "data", "device", "_flat")

    def __init__(self, dtype, data, device=CPU):
        self.dtype, self.data, self.device = dtype, data, device
        self._flat = {}

    def nbytes(self):
        return len(self.data)

    def size(self):
        return len(self.data) // self.dtype.itemsize if self.dtype.itemsize else 0

    def element_size(self):
        return self.dtype.itemsize

    def to(self, device):
        out = Storage(self.dtype, self.data, Device(str(device)) if not isinstance(
            device, Device) else device)
        out._flat = self._flat
        return out

    def cpu(self):
        return self.to(CPU)

    def cuda(self, device=None, non_blocking=False):
        if device is None:
            device = 0
        return self.to(f"cuda:{device}" if isinstance(device, int) else device)

    def flat(self, dtype):
        """The whole storage as a 1-D CPU array of ``dtype`` (made once)."""
        arr = self._flat.get(dtype)
        if arr is None:
            n = len(self.data) // dtype.itemsize
            arr = CPU.backend.frombuffer(self.data[:n * dtype.itemsize], dtype, (n,))
            self._flat[dtype] = arr
        return arr

    def __repr__(self):
        return f"Storage(dtype={self.dtype}, nbytes={len(self.data)}, device='{self.device}')"


def _usable(dev):
    """``dev`` if its backend can be created, else a RuntimeError naming it."""
    try:
        dev.backend
    except RuntimeError as e:
        hint = " (pass map_location='cpu' to load onto the CPU)" if dev.type == "cuda" else ""
        raise RuntimeError(f"load: cannot place tensors on {dev.name!r}: {e}{hint}") from None
    return dev


def _as_target(spec, what="map_location"):
    if isinstance(spec, Device):
        return _usable(spec)
    if isinstance(spec, bytes):
        spec = spec.decode("ascii", "replace")
    if not isinstance(spec, str):
        if type(spec).__name__ == "device":  # a torch.device, or the PyTorch face's
            spec = str(spec)
        else:
            raise TypeError(f"load: {what} must be a device, a device name, a dict or a "
                            f"callable, got {type(spec).__name__}")
    try:
        dev = Device(spec)
    except ValueError as e:
        raise ValueError(f"load: {what} {spec!r} names no device arraylib has ({e})") from None
    return _usable(dev)


class Placement:
    """``map_location`` as PyTorch reads it: None (where each storage was saved), a device or
    its name, a dict ``{saved location: device}``, or ``fn(storage, location)`` returning a
    storage, a device, or None for the saved location."""

    def __init__(self, map_location):
        self.spec = map_location
        self.fixed = None
        if map_location is not None and not isinstance(map_location, dict) and \
                not callable(map_location):
            self.fixed = _as_target(map_location)
        self.cache = {}

    def saved(self, location):
        dev = self.cache.get(location)
        if dev is None:
            if location in ("cpu", "") or location.startswith("cpu:"):
                dev = CPU
            elif location.startswith("cuda"):
                dev = _as_target(location, "the saved location")
            else:
                raise RuntimeError(f"load: the checkpoint holds tensors saved on {location!r}, "
                                   "which arraylib cannot place; pass map_location='cpu' (or "
                                   "another device) to choose where they go")
            self.cache[location] = dev
        return dev

    def place(self, storage, location):
        """Set ``storage.device`` from the rule; returns the storage."""
        spec = self.spec
        if spec is None:
            storage.device = self.saved(location)
        elif self.fixed is not None:
            storage.device = self.fixed
        elif isinstance(spec, dict):
            target = spec.get(location, location)
            if isinstance(target, str) and target == location:
                storage.device = self.saved(location)
            else:
                storage.device = _as_target(target, f"map_location[{location!r}]")
        else:
            got = spec(storage, location)
            if got is None:
                storage.device = self.saved(location)
            elif isinstance(got, Storage):
                storage.device = _usable(got.device)
            else:
                storage.device = _as_target(got, "the result of map_location")
        return storage


# -- loading: tensors --------------------------------------------------------------------------
class _Marker:
    """A type named in a checkpoint (a storage class, ``torch.Tensor``, ``Parameter``);
    never callable."""

    __slots__ = ("name", "dtype")

    def __init__(self, name, dtype=None):
        self.name, self.dtype = name, dtype

    def __repr__(self):
        return f"<{self.name}>"


_TENSOR = _Marker("torch.Tensor")
_PARAMETER_TYPE = _Marker("torch.nn.parameter.Parameter")
_UNTYPED = _Marker("torch.storage.UntypedStorage")


def _swap_bytes(data, itemsize):
    if itemsize <= 1:
        return data
    raw = bytes(data)
    out = bytearray(len(raw))
    for j in range(itemsize):
        out[j::itemsize] = raw[itemsize - 1 - j::itemsize]
    return bytes(out)


def _ints(v, what, where):
    if type(v) is not tuple or len(v) > _MAX_NDIM or \
            not all(type(x) is int and x >= 0 for x in v):
        raise ValueError(f"load: {where!r}: malformed tensor {what} {_short(v)} (expected a "
                         f"tuple of at most {_MAX_NDIM} non-negative integers): the file is "
                         "corrupt")
    return v


def _short(v, limit=80):
    r = repr(v)
    return r if len(r) <= limit else r[:limit - 3] + "..."


class _Loader:
    """The state of one load: the storages read so far and the allow-list of globals."""

    def __init__(self, where, placement, read_storage, big_endian=False, encoding="utf-8"):
        self.where = where
        self.placement = placement
        self.read_storage = read_storage  # (key, dtype, nbytes) -> bytes
        self.big_endian = big_endian
        self.encoding = encoding
        self.storages = {}
        self.dry = False
        self.wanted = {}  # key -> (dtype, numel), seen during a dry run (legacy format)
        self.globals = dict(_static_globals())
        self.globals.update({
            "torch._utils._rebuild_tensor": self.rebuild_v1,
            "torch._utils._rebuild_tensor_v2": self.rebuild_v2,
            "torch._utils._rebuild_tensor_v3": self.rebuild_v3,
            "torch._utils._rebuild_parameter": self.rebuild_parameter,
            "torch._utils._rebuild_parameter_with_state": self.rebuild_parameter_with_state,
            "torch._utils._rebuild_device_tensor_from_cpu_tensor": self.rebuild_from_cpu,
            "torch._tensor._rebuild_from_type_v2": self.rebuild_from_type,
            "torch.tensor._rebuild_from_type_v2": self.rebuild_from_type,
        })
        self.rebuilds = tuple(v for k, v in self.globals.items()
                              if k.startswith("torch._utils."))

    def fail(self, why):
        return ValueError(f"load: {self.where!r}: {why}")

    def refuse(self, full):
        module, _, name = full.rpartition(".")
        if module == "torch._utils" and name in _UNSUPPORTED_REBUILDS:
            return TypeError(f"load: {self.where!r} holds {_UNSUPPORTED_REBUILDS[name]} "
                             f"({full}), which arraylib does not support")
        if module in ("torch", "torch.cuda") and (name in _UNSUPPORTED_DTYPES or
                                                  name in _UNSUPPORTED_STORAGES):
            return TypeError(f"load: {self.where!r} holds the dtype/storage {full}, which "
                             "arraylib does not support")
        if module in ("torch", "torch.cuda") and name in _STORAGE_NAMES.values():
            return TypeError(f"load: {self.where!r} holds a {name}, whose dtype this arraylib "
                             "lacks")
        return _unpickler.UnpicklingError(
            f"load: {self.where!r}: refused global '{full}': arraylib loads only tensors, "
            "containers, numbers and strings from a checkpoint and never runs code from a "
            "file (whatever weights_only says)")

    def unpickler(self, data, pos=0):
        return _unpickler.Unpickler(data, self.globals, self.refuse, self.persistent_load,
                                    build=self.build, pos=pos, encoding=self.encoding,
                                    where=self.where)

    def build(self, inst, state):
        if isinstance(inst, Tensor) or (self.dry and inst is None):
            if state in (None, {}, (), []) or (isinstance(state, tuple) and not any(state)):
                return inst
        raise _unpickler.UnpicklingError(
            f"load: {self.where!r}: BUILD with state on {type(inst).__name__} is not allowed")

    # -- storages ------------------------------------------------------------------------
    def persistent_load(self, pid):
        if type(pid) is not tuple or len(pid) not in (5, 6) or \
                _text(pid[0]) != "storage":
            raise _unpickler.UnpicklingError(
                f"load: {self.where!r}: a persistent id other than a storage ({_short(pid)})")
        kind, key, location, numel = pid[1:5]
        view = pid[5] if len(pid) == 6 else None
        key, location = _text(key), _text(location)
        if not isinstance(kind, _Marker) or kind.dtype is None and kind is not _UNTYPED:
            raise self.fail(f"storage {key!r} has no storage type ({_short(kind)})")
        if type(numel) is not int or numel < 0 or not isinstance(key, str) or \
                not isinstance(location, str):
            raise self.fail(f"malformed storage id {_short(pid)}")
        dtype = _dtypes.uint8 if kind is _UNTYPED else kind.dtype
        if self.dry:
            self.wanted.setdefault(key, (dtype, numel))
            return None
        st = self.storages.get(key)
        if st is None:
            data = self.read_storage(key, dtype, numel * dtype.itemsize)
            if self.big_endian:
                data = _swap_bytes(data, dtype.itemsize if dtype.kind != "c" else
                                   dtype.itemsize // 2)
            st = self.placement.place(Storage(dtype, data), location)
            self.storages[key] = st
        if view is not None:  # a legacy storage view: (view key, offset, size)
            vkey, voff, vsize = view
            vkey = _text(vkey)
            if vkey not in self.storages:
                isz = dtype.itemsize
                if type(voff) is not int or type(vsize) is not int or voff < 0 or vsize < 0 \
                        or (voff + vsize) * isz > len(st.data):
                    raise self.fail(f"storage view {_short(view)} lies outside its storage")
                self.storages[vkey] = Storage(dtype, st.data[voff * isz:(voff + vsize) * isz],
                                              st.device)
            st = self.storages[vkey]
        return st

    # -- tensors -------------------------------------------------------------------------
    def tensor(self, storage, offset, size, stride, dtype=None, requires_grad=False,
               metadata=None):
        if self.dry:
            return None
        if not isinstance(storage, Storage):
            raise self.fail(f"a tensor's storage is a {type(storage).__name__}")
        dtype = storage.dtype if dtype is None else dtype
        if not isinstance(dtype, _dtypes.DType):
            raise self.fail(f"a tensor's dtype is {_short(dtype)}")
        size = _ints(tuple(size) if isinstance(size, list) else size, "size", self.where)
        stride = _ints(tuple(stride) if isinstance(stride, list) else stride, "stride",
                       self.where)
        if type(offset) is not int or offset < 0 or len(stride) != len(size):
            raise self.fail(f"malformed tensor (offset {_short(offset)}, size {size}, stride "
                            f"{stride})")
        isz = dtype.itemsize
        have = len(storage.data) // isz if isz else 0
        n = _numel(size)
        last = offset + sum((d - 1) * s for d, s in zip(size, stride)) if n else offset - 1
        if n and last >= have:
            raise self.fail(f"a tensor of size {size}, stride {stride} at offset {offset} "
                            f"reaches element {last}, beyond its storage of {have} "
                            f"{dtype} elements: the file is corrupt")
        cpu = CPU.backend
        if n == 0:
            arr = cpu.frombuffer(b"", dtype, size)
        elif all(s == c for s, c, d in zip(stride, _c_strides(size), size) if d > 1):
            arr = cpu.frombuffer(storage.data[offset * isz:(offset + n) * isz], dtype, size)
        else:
            idx = cpu.asarray(offset, dtype=_dtypes.int64)
            for d, s in zip(size, stride):
                idx = cpu.expand_dims(idx, axis=-1) + cpu.arange(d, dtype=_dtypes.int64) * s
            arr = cpu.reshape(cpu.take(storage.flat(dtype), cpu.reshape(idx, (-1,))), size)
        if metadata:
            if not isinstance(metadata, dict):
                raise self.fail(f"malformed tensor metadata {_short(metadata)}")
            if metadata.get("conj"):
                arr = cpu.conj(arr)
            if metadata.get("neg"):
                arr = cpu.negative(arr)
        t = _new(arr, CPU)
        if storage.device is not CPU:
            t = t.to_device(storage.device)
        if requires_grad is True:
            t.requires_grad_(True)
        elif requires_grad is not False:
            raise self.fail(f"malformed requires_grad {_short(requires_grad)}")
        return t

    def rebuild_v1(self, storage, offset, size, stride):
        return self.tensor(storage, offset, size, stride)

    def rebuild_v2(self, storage, offset, size, stride, requires_grad=False, hooks=None,
                   metadata=None):
        return self.tensor(storage, offset, size, stride, None, requires_grad, metadata)

    def rebuild_v3(self, storage, offset, size, stride, requires_grad, hooks, dtype,
                   metadata=None):
        return self.tensor(storage, offset, size, stride, dtype, requires_grad, metadata)

    def rebuild_parameter(self, data, requires_grad=True, hooks=None):
        if self.dry:
            return None
        if not isinstance(data, Tensor) or type(requires_grad) is not bool:
            raise self.fail("malformed Parameter")
        cls = _PARAMETER[0]
        p = _make_subclass(cls, data) if cls is not None else data
        if requires_grad and not p.requires_grad:
            p.requires_grad_(True)
        return p

    def rebuild_parameter_with_state(self, data, requires_grad, hooks, state):
        return self.rebuild_parameter(data, requires_grad, hooks)

    def rebuild_from_cpu(self, data, dtype, device, requires_grad):
        if self.dry:
            return None
        if not isinstance(data, Tensor):
            raise self.fail("malformed device tensor")
        if requires_grad:
            data.requires_grad_(True)
        return data

    def rebuild_from_type(self, func, new_type, args, state):
        if not any(func is f for f in self.rebuilds):
            raise _unpickler.UnpicklingError(f"load: {self.where!r}: _rebuild_from_type_v2 "
                                             "of a function that is not a tensor rebuild")
        if type(args) is not tuple:
            raise self.fail("malformed _rebuild_from_type_v2 arguments")
        if new_type is _PARAMETER_TYPE:
            out = func(*args)
            return None if self.dry else self.rebuild_parameter(out, out.requires_grad)
        if new_type is not _TENSOR:
            raise _unpickler.UnpicklingError(f"load: {self.where!r}: a tensor of type "
                                             f"{_short(new_type)} is not allowed")
        return func(*args)


def _make_subclass(cls, data):
    t = _new(data._data, data._device, cls)
    if data.requires_grad:
        t.requires_grad_(True)
    return t


def _text(v):
    return v.decode("ascii", "replace") if isinstance(v, bytes) else v


def _set(*args):
    return set(*args)


def _frozenset(*args):
    return frozenset(*args)


def _complex(*args):
    if not all(isinstance(a, (int, float, str)) for a in args):
        raise _unpickler.UnpicklingError("load: complex() of something that is not a number")
    return complex(*args)


def _encode(text="", encoding="utf-8", errors="strict"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8",
                                                    "ascii"):
        raise _unpickler.UnpicklingError("load: _codecs.encode of something that is not a "
                                         "string, or to another codec")
    return text.encode(encoding, errors)


def _bytearray(source=b"", encoding=None, errors=None):
    if isinstance(source, str):
        return bytearray(source, encoding or "latin1")
    if not isinstance(source, (bytes, bytearray)):  # bytearray(10**12) would allocate
        raise _unpickler.UnpicklingError("load: bytearray() of something that is not bytes")
    return bytearray(source)


def _slice(*args):
    if not all(a is None or type(a) is int for a in args):
        raise _unpickler.UnpicklingError("load: slice() of something that is not an integer")
    return slice(*args)


def _size(dims=()):
    return tuple(dims)


def _device(kind, index=None):
    name = _text(kind) if index is None else f"{_text(kind)}:{index}"
    if not isinstance(name, str):
        raise _unpickler.UnpicklingError("load: torch.device() of something that is not a name")
    try:
        return Device(name)
    except ValueError:
        return name


def _ordered_dict(*args):
    return OrderedDict(*args)


def _counter(*args):
    return Counter(*args)


_STATIC = []


def _static_globals():
    """The allow-list entries that do not depend on a load: containers, builtins, dtypes,
    storage types, ``torch.Size`` and ``torch.device`` (built once, from arraylib's dtypes)."""
    if _STATIC:
        return _STATIC[0]
    g = {
        "collections.OrderedDict": _ordered_dict, "collections.Counter": _counter,
        "builtins.set": _set, "builtins.frozenset": _frozenset, "builtins.complex": _complex,
        "builtins.bytearray": _bytearray, "builtins.slice": _slice, "_codecs.encode": _encode,
        "torch.Size": _size, "torch.device": _device, "torch.Tensor": _TENSOR,
        "torch.nn.parameter.Parameter": _PARAMETER_TYPE,
        "torch.storage.UntypedStorage": _UNTYPED, "torch.UntypedStorage": _UNTYPED,
    }
    for torch_name, name in _TORCH_DTYPES.items():
        dt = _dtype(name)
        if dt is not None:
            g[f"torch.{torch_name}"] = dt
    for name, storage in _STORAGE_NAMES.items():
        dt = _dtype(name)
        if dt is not None:
            g[f"torch.{storage}"] = g[f"torch.cuda.{storage}"] = _Marker(storage, dt)
    _STATIC.append(g)
    return g


# -- loading: the two formats ------------------------------------------------------------------
def _zip_error(where, e):
    return ValueError(f"load: {where!r} is not a valid PyTorch checkpoint: the zip archive is "
                      f"truncated or corrupt ({e})")


def decode_zip(fh, where, placement, encoding="utf-8"):
    """The object of a ``torch.save`` zip archive read from the binary file ``fh``."""
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise _zip_error(where, e) from None
    with zf:
        names = zf.namelist()
        pkls = sorted((n for n in names if n.endswith("/data.pkl") and n.count("/") == 1),
                      key=len)
        if any(n.endswith("/constants.pkl") for n in names):
            raise ValueError(f"load: {where!r} is a TorchScript archive (torch.jit.save), "
                             "which arraylib does not load; save a state_dict instead")
        if not pkls:
            raise ValueError(f"load: {where!r} is a zip archive without data.pkl, not a "
                             "PyTorch checkpoint")
        prefix = pkls[0][:-len("data.pkl")]

        def read(name, size=None):
            try:
                info = zf.getinfo(name)
            except KeyError:
                raise ValueError(f"load: {where!r}: the record {name!r} is missing: the file "
                                 "is truncated or corrupt") from None
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"load: {where!r}: the record {name!r} is compressed; "
                                 "PyTorch checkpoints store records uncompressed")
            if size is not None and info.file_size != size:
                raise ValueError(f"load: {where!r}: the record {name!r} holds {info.file_size} "
                                 f"bytes where its tensors need {size}: the file is corrupt")
            try:
                return zf.read(info)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
                raise _zip_error(where, e) from None

        order = read(prefix + "byteorder") if prefix + "byteorder" in names else b"little"
        if order not in (b"little", b"big"):
            raise ValueError(f"load: {where!r}: unknown byte order {order[:20]!r}")
        loader = _Loader(where, placement,
                         lambda key, dtype, nbytes: read(f"{prefix}data/{key}", nbytes),
                         big_endian=order == b"big", encoding=encoding)
        return loader.unpickler(read(prefix + "data.pkl")).load()


def is_legacy(head) -> bool:
    """Whether ``head`` (the first bytes of a file) starts PyTorch's legacy format."""
    magic = b"\x80\x02\x8a\x0a" + MAGIC_NUMBER.to_bytes(10, "little")
    return head[:len(magic)] == magic[:len(head)] and len(head) >= 4


def decode_legacy(buf, where, placement, encoding="utf-8"):
    """The object of a legacy-format ``torch.save`` file (all its bytes in ``buf``)."""
    def data_only(pos):
        u = _Loader(where, placement, None).unpickler(buf, pos)
        u.globals, u.callables = {}, {}
        return u.load(), u.pos

    magic, pos = data_only(0)
    if magic != MAGIC_NUMBER:
        raise ValueError(f"load: {where!r}: invalid magic number; not a PyTorch checkpoint")
    version, pos = data_only(pos)
    if version != PROTOCOL_VERSION:
        raise ValueError(f"load: {where!r}: unsupported legacy protocol version {version!r}")
    info, pos = data_only(pos)
    if not isinstance(info, dict) or info.get("little_endian", True) not in (True, False):
        raise ValueError(f"load: {where!r}: malformed system information")
    blocks = {}
    loader = _Loader(where, placement, lambda key, dtype, nbytes: blocks[key],
                     big_endian=not info.get("little_endian", True), encoding=encoding)
    loader.dry = True
    main = pos
    dry = loader.unpickler(buf, main)
    dry.load()
    keys, pos = data_only(dry.pos)
    if type(keys) is not list or not all(isinstance(k, (str, bytes)) for k in keys):
        raise ValueError(f"load: {where!r}: malformed storage key list")
    view = memoryview(buf)
    for key in map(_text, keys):
        if key not in loader.wanted:
            raise ValueError(f"load: {where!r}: storage {key!r} is listed but never used")
        dtype, numel = loader.wanted[key]
        if pos + 8 > len(buf):
            raise ValueError(f"load: {where!r}: the file is truncated (storage {key!r} is "
                             "missing)")
        (count,) = struct.unpack("<q", view[pos:pos + 8])
        nbytes = count * dtype.itemsize
        if count != numel:
            raise ValueError(f"load: {where!r}: storage {key!r} holds {count} elements where "
                             f"its tensors say {numel}: the file is corrupt")
        if pos + 8 + nbytes > len(buf):
            raise ValueError(f"load: {where!r}: the file is truncated (storage {key!r} needs "
                             f"{nbytes} bytes, {len(buf) - pos - 8} remain)")
        blocks[key] = bytes(view[pos + 8:pos + 8 + nbytes])
        pos += 8 + nbytes
    missing = set(loader.wanted) - set(blocks)
    if missing:
        raise ValueError(f"load: {where!r}: storages {sorted(missing)} have no data: the file "
                         "is corrupt")
    loader.dry = False
    return loader.unpickler(buf, main).load()
