"""A restricted pickle interpreter: data in, data out, never code.

It reads the opcodes of pickle protocols 0-5 that build data (numbers, strings, bytes,
lists, tuples, dicts, sets) and resolves every global through an allow-list it is given
(``globals``: ``{"module.name": object}``); it never imports a module and never looks a name
up anywhere else.  ``REDUCE`` and ``NEWOBJ`` call only objects of that allow-list, ``BUILD``
only sets the ``__dict__`` of an ``OrderedDict``/``Counter`` or hands state to a callable of
the allow-list, and a persistent id goes to ``persistent_load``.  Anything else (``INST``,
``OBJ``, extension codes, out-of-band buffers, a refused global) raises
``pickle.UnpicklingError``.  Patterned on PyTorch's ``weights_only`` unpickler; written anew.
"""
from __future__ import annotations

import codecs
from collections import Counter, OrderedDict
import pickle
import struct

__all__ = ["Unpickler", "PY2_NAMES"]

UnpicklingError = pickle.UnpicklingError

# Python 2 module and builtin names that protocol-2 pickles carry (``__builtin__.set``).
PY2_NAMES = {"__builtin__": "builtins", "copy_reg": "copyreg", "exceptions": "builtins"}

_MARK = object()  # sits on the stack where MARK was


class Unpickler:
    """Interpret the pickle in ``data`` from ``pos``; ``load()`` returns the object and
    leaves ``self.pos`` after its STOP.

    ``globals``: the allowed ``"module.name" -> object`` map; ``refuse(full_name)`` makes the
    exception for any other global; ``build(obj, state)`` handles BUILD on an object the
    map produced (returns the new object, or raises); ``persistent_load(pid)``."""

    def __init__(self, data, globals, refuse, persistent_load, build=None, pos=0,
                 encoding="utf-8", where="<bytes>"):
        self.data = memoryview(data) if not isinstance(data, memoryview) else data
        self.pos = pos
        self.globals = globals
        self.callables = {id(v): v for v in globals.values() if callable(v)}
        self.refuse = refuse
        self.persistent_load = persistent_load
        self.build = build
        self.encoding = encoding
        self.where = where

    # -- reading the stream ----------------------------------------------------------------
    def _read(self, n):
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise UnpicklingError(f"load: {self.where!r}: pickle data was truncated "
                                  f"(wanted {n} bytes at offset {self.pos})")
        out = self.data[self.pos:end]
        self.pos = end
        return out

    def _line(self):
        data = self.data
        start = self.pos
        end = start
        n = len(data)
        while end < n and data[end] != 0x0A:
            end += 1
        if end >= n:
            raise UnpicklingError(f"load: {self.where!r}: pickle data was truncated "
                                  f"(a line at offset {start} has no end)")
        self.pos = end + 1
        return bytes(data[start:end])

    def _fail(self, why):
        return UnpicklingError(f"load: {self.where!r}: {why}")

    # -- the machine -----------------------------------------------------------------------
    def load(self):
        self.stack = []
        self.memo = {}
        dispatch = _DISPATCH
        read = self._read
        while True:
            op = read(1)[0]
            fn = dispatch.get(op)
            if fn is None:
                name = _OPNAMES.get(op, f"0x{op:02x}")
                raise self._fail(f"pickle opcode {name} is not allowed (arraylib loads only "
                                 "tensors, containers, numbers and strings)")
            if fn(self) is _STOP:
                if len(self.stack) != 1:
                    raise self._fail("malformed pickle (stack not empty at STOP)")
                return self.stack.pop()

    def _pop(self):
        if not self.stack or self.stack[-1] is _MARK:
            raise self._fail("malformed pickle (stack underflow)")
        return self.stack.pop()

    def _top(self):
        if not self.stack or self.stack[-1] is _MARK:
            raise self._fail("malformed pickle (stack underflow)")
        return self.stack[-1]

    def _pop_mark(self):
        stack = self.stack
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is _MARK:
                items = stack[i + 1:]
                del stack[i:]
                return items
        raise self._fail("malformed pickle (no MARK)")

    def _global(self, module, name):
        module = PY2_NAMES.get(module, module)
        full = f"{module}.{name}"
        try:
            return self.globals[full]
        except KeyError:
            raise self.refuse(full) from None
        except TypeError:  # an unhashable name from STACK_GLOBAL
            raise self._fail("malformed pickle (a global name that is not a string)") from None

    def _call(self, fn, args):
        if id(fn) not in self.callables or self.callables[id(fn)] is not fn:
            raise self._fail(f"pickle calls {_describe(fn)}, which is not an allowed callable")
        if type(args) is not tuple:
            raise self._fail("malformed pickle (REDUCE arguments are not a tuple)")
        return fn(*args)

    def _text(self, raw):
        try:
            return str(raw, self.encoding)
        except (UnicodeDecodeError, LookupError):
            return bytes(raw)


_STOP = object()


def _describe(obj):
    if isinstance(obj, type):
        return f"the type {obj.__module__}.{obj.__qualname__}"
    return f"a {type(obj).__name__} object"


def _op(code):
    def register(fn):
        _DISPATCH[code[0]] = fn
        return fn
    return register


_DISPATCH: dict = {}


@_op(pickle.PROTO)
def _proto(u):
    u._read(1)


@_op(pickle.FRAME)
def _frame(u):
    u._read(8)


@_op(pickle.STOP)
def _stop(u):
    return _STOP


@_op(pickle.MARK)
def _mark(u):
    u.stack.append(_MARK)


@_op(pickle.POP)
def _popop(u):
    if u.stack and u.stack[-1] is _MARK:
        u.stack.pop()
    else:
        u._pop()


@_op(pickle.POP_MARK)
def _pop_mark(u):
    u._pop_mark()


@_op(pickle.DUP)
def _dup(u):
    u.stack.append(u._top())


@_op(pickle.NONE)
def _none(u):
    u.stack.append(None)


@_op(pickle.NEWTRUE)
def _true(u):
    u.stack.append(True)


@_op(pickle.NEWFALSE)
def _false(u):
    u.stack.append(False)


@_op(pickle.INT)
def _int(u):
    line = u._line()
    if line == b"00":
        u.stack.append(False)
    elif line == b"01":
        u.stack.append(True)
    else:
        try:
            u.stack.append(int(line))
        except ValueError:
            raise u._fail(f"malformed INT {line[:40]!r}") from None


@_op(pickle.LONG)
def _long(u):
    line = u._line().rstrip(b"L")
    try:
        u.stack.append(int(line))
    except ValueError:
        raise u._fail(f"malformed LONG {line[:40]!r}") from None


@_op(pickle.BININT)
def _binint(u):
    u.stack.append(struct.unpack("<i", u._read(4))[0])


@_op(pickle.BININT1)
def _binint1(u):
    u.stack.append(u._read(1)[0])


@_op(pickle.BININT2)
def _binint2(u):
    u.stack.append(struct.unpack("<H", u._read(2))[0])


@_op(pickle.LONG1)
def _long1(u):
    n = u._read(1)[0]
    u.stack.append(int.from_bytes(u._read(n), "little", signed=True))


@_op(pickle.LONG4)
def _long4(u):
    (n,) = struct.unpack("<i", u._read(4))
    if n < 0:
        raise u._fail("malformed LONG4 (negative length)")
    u.stack.append(int.from_bytes(u._read(n), "little", signed=True))


@_op(pickle.FLOAT)
def _float(u):
    line = u._line()
    try:
        u.stack.append(float(line))
    except ValueError:
        raise u._fail(f"malformed FLOAT {line[:40]!r}") from None


@_op(pickle.BINFLOAT)
def _binfloat(u):
    u.stack.append(struct.unpack(">d", u._read(8))[0])


def _sized(fmt, size):
    def read(u):
        (n,) = struct.unpack(fmt, u._read(size))
        return u._read(n)
    return read


_len1, _len4, _len8 = _sized("<B", 1), _sized("<I", 4), _sized("<Q", 8)


@_op(pickle.SHORT_BINUNICODE)
def _short_binunicode(u):
    u.stack.append(str(_len1(u), "utf-8", "surrogatepass"))


@_op(pickle.BINUNICODE)
def _binunicode(u):
    u.stack.append(str(_len4(u), "utf-8", "surrogatepass"))


@_op(pickle.BINUNICODE8)
def _binunicode8(u):
    u.stack.append(str(_len8(u), "utf-8", "surrogatepass"))


@_op(pickle.UNICODE)
def _unicode(u):
    u.stack.append(str(u._line(), "raw-unicode-escape"))


@_op(pickle.SHORT_BINSTRING)
def _short_binstring(u):
    u.stack.append(u._text(_len1(u)))


@_op(pickle.BINSTRING)
def _binstring(u):
    (n,) = struct.unpack("<i", u._read(4))
    u.stack.append(u._text(u._read(n)))


@_op(pickle.STRING)
def _string(u):
    line = u._line()
    if len(line) >= 2 and line[0] == line[-1] and line[:1] in (b"'", b'"'):
        u.stack.append(u._text(codecs.escape_decode(line[1:-1])[0]))
    else:
        raise u._fail("malformed STRING (not quoted)")


@_op(pickle.SHORT_BINBYTES)
def _short_binbytes(u):
    u.stack.append(bytes(_len1(u)))


@_op(pickle.BINBYTES)
def _binbytes(u):
    u.stack.append(bytes(_len4(u)))


@_op(pickle.BINBYTES8)
def _binbytes8(u):
    u.stack.append(bytes(_len8(u)))


@_op(pickle.BYTEARRAY8)
def _bytearray8(u):
    u.stack.append(bytearray(_len8(u)))


@_op(pickle.EMPTY_LIST)
def _empty_list(u):
    u.stack.append([])


@_op(pickle.LIST)
def _list(u):
    u.stack.append(u._pop_mark())


@_op(pickle.APPEND)
def _append(u):
    item = u._pop()
    target = u._top()
    if type(target) is not list:
        raise u._fail(f"APPEND to a {type(target).__name__}, not a list")
    target.append(item)


@_op(pickle.APPENDS)
def _appends(u):
    items = u._pop_mark()
    target = u._top()
    if type(target) is not list:
        raise u._fail(f"APPENDS to a {type(target).__name__}, not a list")
    target.extend(items)


@_op(pickle.EMPTY_TUPLE)
def _empty_tuple(u):
    u.stack.append(())


@_op(pickle.TUPLE)
def _tuple(u):
    u.stack.append(tuple(u._pop_mark()))


@_op(pickle.TUPLE1)
def _tuple1(u):
    a = u._pop()
    u.stack.append((a,))


@_op(pickle.TUPLE2)
def _tuple2(u):
    b = u._pop()
    a = u._pop()
    u.stack.append((a, b))


@_op(pickle.TUPLE3)
def _tuple3(u):
    c = u._pop()
    b = u._pop()
    a = u._pop()
    u.stack.append((a, b, c))


@_op(pickle.EMPTY_DICT)
def _empty_dict(u):
    u.stack.append({})


def _set_items(u, target, items, op):
    if type(target) not in (dict, OrderedDict, Counter):
        raise u._fail(f"{op} on a {type(target).__name__}, not a dict")
    if len(items) % 2:
        raise u._fail(f"malformed pickle ({op} with an odd number of items)")
    try:
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]
    except TypeError as e:  # an unhashable key
        raise u._fail(f"malformed pickle ({op}: {e})") from None


@_op(pickle.DICT)
def _dict(u):
    d = {}
    _set_items(u, d, u._pop_mark(), "DICT")
    u.stack.append(d)


@_op(pickle.SETITEM)
def _setitem(u):
    v = u._pop()
    k = u._pop()
    _set_items(u, u._top(), [k, v], "SETITEM")


@_op(pickle.SETITEMS)
def _setitems(u):
    items = u._pop_mark()
    _set_items(u, u._top(), items, "SETITEMS")


@_op(pickle.EMPTY_SET)
def _empty_set(u):
    u.stack.append(set())


@_op(pickle.ADDITEMS)
def _additems(u):
    items = u._pop_mark()
    target = u._top()
    if type(target) is not set:
        raise u._fail(f"ADDITEMS to a {type(target).__name__}, not a set")
    try:
        target.update(items)
    except TypeError as e:
        raise u._fail(f"malformed pickle (ADDITEMS: {e})") from None


@_op(pickle.FROZENSET)
def _frozenset(u):
    try:
        u.stack.append(frozenset(u._pop_mark()))
    except TypeError as e:
        raise u._fail(f"malformed pickle (FROZENSET: {e})") from None


def _get(u, i):
    try:
        u.stack.append(u.memo[i])
    except KeyError:
        raise u._fail(f"malformed pickle (memo entry {i} was never stored)") from None


def _put(u, i):
    u.memo[i] = u._top()


@_op(pickle.GET)
def _get_text(u):
    _get(u, _memo_index(u, u._line()))


@_op(pickle.BINGET)
def _binget(u):
    _get(u, u._read(1)[0])


@_op(pickle.LONG_BINGET)
def _long_binget(u):
    _get(u, struct.unpack("<I", u._read(4))[0])


@_op(pickle.PUT)
def _put_text(u):
    _put(u, _memo_index(u, u._line()))


@_op(pickle.BINPUT)
def _binput(u):
    _put(u, u._read(1)[0])


@_op(pickle.LONG_BINPUT)
def _long_binput(u):
    _put(u, struct.unpack("<I", u._read(4))[0])


@_op(pickle.MEMOIZE)
def _memoize(u):
    _put(u, len(u.memo))


def _memo_index(u, line):
    try:
        return int(line)
    except ValueError:
        raise u._fail(f"malformed memo index {line[:40]!r}") from None


@_op(pickle.GLOBAL)
def _global_op(u):
    module = u._line().decode("utf-8", "replace")
    name = u._line().decode("utf-8", "replace")
    u.stack.append(u._global(module, name))


@_op(pickle.STACK_GLOBAL)
def _stack_global(u):
    name = u._pop()
    module = u._pop()
    if type(module) is not str or type(name) is not str:
        raise u._fail("malformed pickle (STACK_GLOBAL names are not strings)")
    u.stack.append(u._global(module, name))


@_op(pickle.REDUCE)
def _reduce(u):
    args = u._pop()
    fn = u._pop()
    u.stack.append(u._call(fn, args))


@_op(pickle.NEWOBJ)
def _newobj(u):
    args = u._pop()
    cls = u._pop()
    u.stack.append(u._call(cls, args))


@_op(pickle.BUILD)
def _build(u):
    state = u._pop()
    inst = u._top()
    if type(inst) in (OrderedDict, Counter):
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:
            state = state[0]
        if state is None:
            return
        if type(state) is not dict or not all(type(k) is str and not hasattr(type(inst), k)
                                              for k in state):
            raise u._fail("BUILD of an OrderedDict with a state that is not a dict of new "
                          "attribute names (it may not shadow a method such as 'keys')")
        inst.__dict__.update(state)
        return
    if u.build is None:
        raise u._fail(f"BUILD on {_describe(inst)} is not allowed")
    u.stack[-1] = u.build(inst, state)


@_op(pickle.BINPERSID)
def _binpersid(u):
    u.stack.append(u.persistent_load(u._pop()))


_OPNAMES = {getattr(pickle, n)[0]: n for n in dir(pickle) if n.isupper() and
            isinstance(getattr(pickle, n), bytes) and len(getattr(pickle, n)) == 1}
