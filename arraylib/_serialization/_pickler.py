"""A protocol-2 pickle writer for checkpoint data, as ``torch.save`` writes it.

It emits opcodes itself (no ``pickle.Pickler``, which would import ``torch`` to check the
globals it names): dicts, ``OrderedDict`` (with its attributes, e.g. a state dict's
``_metadata``), ``Counter`` (other dict subclasses are written as dicts), lists, tuples,
sets, ``str``, ``bytes``, ``bytearray``, ``int``, ``float``, ``bool``, ``complex``, ``None``,
arraylib dtypes and devices (as ``torch.float32`` and
``torch.device``), ``Size`` tuples (as ``torch.Size``) and tensors, each written by
``tensor(writer, t)``.  Shared objects are written once (the memo), as pickle does.
Anything else raises TypeError naming the object's type and where it sits.
"""
from __future__ import annotations

from collections import Counter, OrderedDict
import struct

__all__ = ["Writer"]

_BATCH = 1000


class Writer:
    """``Writer(tensor, scalar).dump(obj) -> bytes``; ``tensor(w, t, where)`` emits a tensor,
    ``scalar(v)`` returns a Python number for a foreign scalar (NumPy's) or None."""

    def __init__(self, tensor, scalar, dtype_name, device_name):
        self.tensor = tensor
        self.scalar = scalar
        self.dtype_name = dtype_name    # arraylib dtype -> torch name, or None if not a dtype
        self.device_name = device_name  # arraylib Device -> str, or None if not a device
        self.out = bytearray()
        self.memo = {}
        self.keep = []  # objects whose ids are in memo stay alive
        self.busy = set()

    def dump(self, obj) -> bytes:
        self.out += b"\x80\x02"
        self.save(obj, "obj")
        self.out += b"."
        return bytes(self.out)

    # -- memo ------------------------------------------------------------------------------
    def memoize(self, obj):
        i = len(self.memo)
        self.memo[id(obj)] = i
        self.keep.append(obj)
        self.out += b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i)

    def recall(self, obj) -> bool:
        i = self.memo.get(id(obj))
        if i is None:
            return False
        self.out += b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)
        return True

    def global_(self, module, name):
        key = ("global", module, name)
        i = self.memo.get(key)
        if i is not None:
            self.out += b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)
            return
        self.out += b"c" + module.encode() + b"\n" + name.encode() + b"\n"
        i = len(self.memo)
        self.memo[key] = i
        self.out += b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i)

    # -- values ----------------------------------------------------------------------------
    def save(self, obj, where):
        if obj is None:
            self.out += b"N"
            return
        t = type(obj)
        if t is bool:
            self.out += b"\x88" if obj else b"\x89"
        elif t is int:
            self.int_(obj)
        elif t is float:
            self.out += b"G" + struct.pack(">d", obj)
        elif t is str:
            self.str_(obj)
        elif self.recall(obj):
            return
        elif t is dict:
            self.out += b"}"
            self.memoize(obj)
            self.items(obj, where)
        elif t is list:
            self.out += b"]"
            self.memoize(obj)
            self.list_items(obj, where)
        elif t is tuple:
            self.tuple_(obj, where)
        else:
            self.other(obj, t, where)

    def other(self, obj, t, where):
        if self.tensor(self, obj, where):
            return
        if t is complex:
            self.global_("__builtin__", "complex")
            self.save((obj.real, obj.imag), where)
            self.out += b"R"
        elif isinstance(obj, OrderedDict):
            self.global_("collections", "OrderedDict")
            self.out += b")R"
            self.memoize(obj)
            self.items(obj, where)
            state = getattr(obj, "__dict__", None)
            if state:
                self.save(dict(state), f"{where}.__dict__")
                self.out += b"b"
        elif t is Counter:
            self.global_("collections", "Counter")
            self.out += b"}"  # Counter(dict of its counts)
            self.items(obj, where)
            self.out += b"\x85R"
            self.memoize(obj)
        elif isinstance(obj, dict):  # a dict subclass (defaultdict, ...) is written as a dict
            self.out += b"}"
            self.memoize(obj)
            self.items(obj, where)
        elif isinstance(obj, (set, frozenset)) and t in (set, frozenset):
            self.global_("__builtin__", t.__name__)
            self.save(list(obj), where)
            self.out += b"\x85R"
            self.memoize(obj)
        elif t in (bytes, bytearray):
            if t is bytearray:
                self.global_("__builtin__", "bytearray")
            self.global_("_codecs", "encode")
            self.str_(bytes(obj).decode("latin1"))
            self.str_("latin1")
            self.out += b"\x86R"
            if t is bytearray:
                self.out += b"\x85R"
            self.memoize(obj)
        elif self.dtype_name(obj) is not None:
            self.global_("torch", self.dtype_name(obj))
        elif self.device_name(obj) is not None:
            self.global_("torch", "device")
            self.str_(self.device_name(obj))
            self.out += b"\x85R"
        elif isinstance(obj, tuple):
            if t.__name__ == "Size":  # the PyTorch face's torch.Size
                self.global_("torch", "Size")
                self.tuple_(tuple(obj), where)
                self.out += b"\x85R"
                self.memoize(obj)
            else:  # a namedtuple: its fields, as a plain tuple (weights_only has no classes)
                self.tuple_(tuple(obj), where)
        elif isinstance(obj, (bool, int, float, str, list)):  # subclasses (IntEnum, ...)
            base = next(b for b in (bool, int, float, str, list) if isinstance(obj, b))
            self.save(base(obj), where)
        else:
            value = self.scalar(obj)
            if value is None:
                raise TypeError(f"save: cannot save a {t.__module__}.{t.__qualname__} at {where} "
                                "(a checkpoint holds tensors, dicts, lists, tuples, sets, "
                                "numbers, strings, bytes and None)")
            self.save(value, where)

    def int_(self, v):
        if 0 <= v < 256:
            self.out += b"K" + bytes([v])
        elif 0 <= v < 65536:
            self.out += b"M" + struct.pack("<H", v)
        elif -(1 << 31) <= v < (1 << 31):
            self.out += b"J" + struct.pack("<i", v)
        else:
            data = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            if len(data) < 256:
                self.out += b"\x8a" + bytes([len(data)]) + data
            else:
                self.out += b"\x8b" + struct.pack("<i", len(data)) + data

    def str_(self, s):
        data = s.encode("utf-8", "surrogatepass")
        self.out += b"X" + struct.pack("<I", len(data)) + data

    def tuple_(self, obj, where):
        n = len(obj)
        if not n:
            self.out += b")"
            return
        if id(obj) in self.busy:
            raise ValueError(f"save: the tuple at {where} contains itself")
        self.busy.add(id(obj))
        if n > 3:
            self.out += b"("
        for i, v in enumerate(obj):
            self.save(v, f"{where}[{i}]")
        self.busy.discard(id(obj))
        self.out += b"t" if n > 3 else b"\x85\x86\x87"[n - 1:n]
        self.memoize(obj)

    def list_items(self, obj, where):
        n = len(obj)
        for start in range(0, n, _BATCH):
            chunk = obj[start:start + _BATCH]
            if len(chunk) == 1:
                self.save(chunk[0], f"{where}[{start}]")
                self.out += b"a"
                continue
            self.out += b"("
            for i, v in enumerate(chunk):
                self.save(v, f"{where}[{start + i}]")
            self.out += b"e"

    def items(self, obj, where):
        pairs = list(obj.items())
        for start in range(0, len(pairs), _BATCH):
            chunk = pairs[start:start + _BATCH]
            if len(chunk) == 1:
                k, v = chunk[0]
                self.save(k, f"{where} (a key)")
                self.save(v, f"{where}[{k!r}]")
                self.out += b"s"
                continue
            self.out += b"("
            for k, v in chunk:
                self.save(k, f"{where} (a key)")
                self.save(v, f"{where}[{k!r}]")
            self.out += b"u"
