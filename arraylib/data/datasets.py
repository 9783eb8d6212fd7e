"""Real data sets as tensors: scikit-learn's digits and moons, CIFAR-10 batches."""
from __future__ import annotations

import os
import pickle

import arraylib as al

__all__ = ["load_digits", "make_moons", "load_cifar10", "train_test_split"]


def load_digits(*, images=False, size=8, channels=1, dtype=None, device=None):
    """scikit-learn's bundled 8x8 digits (1797 samples, 10 classes) as ``(X, y)``.

    X is scaled to [0, 1] (float32 by default), y is int64.  ``images=False``: X has
    shape (N, 64).  ``images=True``: (N, channels, size, size), upscaled by
    repetition when ``size`` is a multiple of 8 (``size=32, channels=3`` gives the
    3x32x32 inputs of the seed's CNN).
    """
    from sklearn.datasets import load_digits as _load
    d = _load()
    X, y = d.images, d.target  # host arrays from scikit-learn
    if images:
        if size % 8:
            raise ValueError(f"load_digits: size must be a multiple of 8, got {size}")
        k = size // 8
        X = X.reshape(-1, 1, 8, 8)
        if k > 1:
            X = X.repeat(k, axis=2).repeat(k, axis=3)
        if channels > 1:
            X = X.repeat(channels, axis=1)
    else:
        X = X.reshape(len(X), -1)
    X = al.asarray(X / 16.0, dtype=dtype or al.float32, device=device)
    return X, al.asarray(y, dtype=al.int64, device=device)


def make_moons(n_samples=1000, *, noise=0.1, random_state=0, dtype=None, device=None):
    """scikit-learn's two interleaving half circles as ``(X (N, 2), y (N,))``."""
    from sklearn.datasets import make_moons as _moons
    X, y = _moons(n_samples=n_samples, noise=noise, random_state=random_state)
    return (al.asarray(X, dtype=dtype or al.float32, device=device),
            al.asarray(y, dtype=al.int64, device=device))


def _cifar_dir(root):
    sub = os.path.join(root, "cifar-10-batches-py")
    return sub if os.path.isdir(sub) else root


def _short(v, limit=80):
    r = repr(v)
    return r if len(r) <= limit else r[:limit - 3] + "..."


class _Refused(pickle.UnpicklingError):
    """A global (or a call) that a CIFAR-10 batch never contains: refused before it runs."""


class _Refuse:
    """Stands in for ``numpy.ndarray`` inside a batch: the class is only ever an argument of
    ``_reconstruct``; calling it (an allocation of any size) is refused."""

    def __init__(self, where):
        self.where = where

    def __call__(self, *args, **kwargs):
        raise _Refused(f"load_cifar10: {self.where!r} calls numpy.ndarray directly, which a "
                       "CIFAR-10 batch never does; refusing to unpickle it (an allocation of "
                       "any size on request)")


# What a CIFAR-10 batch (a dict of bytes/str/numbers/lists and NumPy arrays, written by
# Python 2's cPickle or by Python 3 at any protocol) can name, and nothing else: no callable
# that could run code, import a module, touch files or allocate on request.
_BUILTINS = frozenset({"dict", "list", "tuple", "set", "frozenset", "bytes", "bytearray",
                       "str", "int", "float", "complex", "bool"})
_NUMPY = {("numpy", "ndarray"), ("numpy", "dtype"),
          ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
          ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
          ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer")}
_LATIN1 = frozenset({"latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1", "l1"})
_MAX_PROTO_ELEMENTS = 1 << 16  # _reconstruct's prototype shape; NumPy always writes (0,)


class _CifarUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` admits only what the CIFAR-10 format needs:
    builtins containers, bytes, strings and numbers, ``_codecs.encode`` with latin-1 (how
    Python 3 writes bytes at protocols 0-2) and NumPy's array/dtype/scalar reconstruction.
    Every other global (``os.system``, ``subprocess.*``, ``builtins.eval``, any class whose
    ``__reduce__`` would run) raises ``pickle.UnpicklingError`` before anything is called."""

    def __init__(self, file, where):
        super().__init__(file, encoding="bytes")
        self.where = where
        self._ndarray = _Refuse(where)

    def _refuse(self, what):
        return _Refused(
            f"load_cifar10: {self.where!r} refers to {what}, which a CIFAR-10 batch never "
            "contains; refusing to unpickle it (a crafted batch could run code)")

    def _real(self, module, name):
        if module.startswith("numpy.core."):  # Python 2 / NumPy 1 spelling of numpy._core
            try:
                return super().find_class("numpy._core." + module[len("numpy.core."):], name)
            except (ImportError, AttributeError):
                pass
        return super().find_class(module, name)

    def find_class(self, module, name):
        what = f"{module}.{name}"
        if module in ("builtins", "__builtin__"):
            if name not in _BUILTINS:
                raise self._refuse(what)
            if name in ("bytes", "bytearray"):
                return self._checked_bytes(super().find_class("builtins", name), what)
            return super().find_class("builtins", name)
        if (module, name) == ("_codecs", "encode"):
            return self._encode
        if (module, name) not in _NUMPY:
            raise self._refuse(what)
        if name == "ndarray":
            return self._ndarray
        real = self._real(module, name)
        return {"dtype": self._dtype, "_reconstruct": self._reconstruct,
                "scalar": self._scalar, "_frombuffer": self._frombuffer}[name](real, what)

    def _checked_bytes(self, cls, what):
        def make(*args):
            if args and isinstance(args[0], int):
                raise self._refuse(f"{what}({_short(args[0])}) (an allocation by size)")
            return cls(*args)
        return make

    def _encode(self, obj, encoding="utf-8", errors="strict"):
        if not isinstance(obj, str) or str(encoding).lower() not in _LATIN1 or errors != "strict":
            raise self._refuse(f"_codecs.encode with encoding {_short(encoding)}")
        return obj.encode("latin-1")

    def _plain(self, dt, what):
        if getattr(dt, "hasobject", True):
            raise self._refuse(f"{what} with the dtype {_short(dt)} (objects)")
        return dt

    def _dtype(self, real, what):
        def make(*args):
            if not args or not isinstance(args[0], (str, bytes)):  # bytes: Python 2 files
                raise self._refuse(f"{what}{_short(args)}")
            return self._plain(real(*args), what)
        return make

    def _reconstruct(self, real, what):
        def make(subtype, shape, typecode):
            if subtype is not self._ndarray or typecode not in (b"b", "b"):
                raise self._refuse(f"{what} of {_short(subtype)}, {_short(typecode)}")
            n = 1
            for s in shape if isinstance(shape, tuple) else (None,):
                if not isinstance(s, int) or s < 0:
                    raise self._refuse(f"{what} with the shape {_short(shape)}")
                n *= s
                if n > _MAX_PROTO_ELEMENTS:
                    raise self._refuse(f"{what} with the shape {_short(shape)}")
            return real(super(_CifarUnpickler, self).find_class("numpy", "ndarray"),
                        shape, typecode)
        return make

    def _scalar(self, real, what):
        def make(dt, *args):
            return real(self._plain(dt, what), *args)
        return make

    def _frombuffer(self, real, what):
        def make(buf, dt, *args):
            return real(buf, self._plain(dt, what), *args)
        return make


def _read_cifar_batch(path):
    """One CIFAR-10 batch file as its dict, through the restricted unpickler."""
    with open(path, "rb") as f:
        try:
            entry = _CifarUnpickler(f, path).load()
        except (_Refused, MemoryError):
            raise
        except Exception as e:  # a truncated or malformed pickle
            raise ValueError(f"load_cifar10: {path!r} is not a readable CIFAR-10 batch "
                             f"({type(e).__name__}: {e})") from None
    if not isinstance(entry, dict):
        raise ValueError(f"load_cifar10: {path!r} is not a CIFAR-10 batch (it holds a "
                         f"{type(entry).__name__}, not a dict)")
    return entry


def load_cifar10(root, *, train=True, dtype=None, device=None):
    """CIFAR-10 from its python-pickle batches (``data_batch_1`` … ``data_batch_5``,
    ``test_batch``) in ``root`` or ``root/cifar-10-batches-py``, as ``(X, y)``: X of
    shape (N, 3, 32, 32) scaled to [0, 1], y int64."""
    folder = _cifar_dir(root)
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    paths = [os.path.join(folder, n) for n in names]
    paths = [p for p in paths if os.path.exists(p)]
    if not paths:
        raise FileNotFoundError(f"load_cifar10: no {'data_batch_*' if train else 'test_batch'} "
                                f"files in {folder!r}")
    xs, ys = [], []
    for p in paths:
        entry = _read_cifar_batch(p)
        data = entry.get(b"data", entry.get("data"))
        labels = entry.get(b"labels", entry.get("labels", entry.get(b"fine_labels")))
        if data is None or labels is None:
            raise ValueError(f"load_cifar10: {p!r} is not a CIFAR-10 batch (no data/labels)")
        x = al.asarray(data, device=device)
        if x.ndim != 2 or x.shape[1] != 3072:
            raise ValueError(f"load_cifar10: {p!r} has data of shape {x.shape}, expected (N, 3072)")
        xs.append(al.reshape(x, (x.shape[0], 3, 32, 32)))
        ys.append(al.asarray(list(labels), dtype=al.int64, device=device))
    X = al.concat(xs, axis=0) if len(xs) > 1 else xs[0]
    y = al.concat(ys, axis=0) if len(ys) > 1 else ys[0]
    return al.astype(X, dtype or al.float32) / 255.0, y


def train_test_split(*tensors, test_size=0.25, generator=None):
    """Shuffle (with ``generator``) and split tensors along the first dimension:
    returns ``[a_train, a_test, b_train, b_test, ...]`` as scikit-learn does."""
    n = tensors[0].shape[0]
    n_test = int(round(n * test_size)) if isinstance(test_size, float) else int(test_size)
    if not 0 < n_test < n:
        raise ValueError(f"train_test_split: test_size {test_size} leaves an empty split of {n}")
    perm = al.randperm(n, generator=generator, device=tensors[0].device)
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    out = []
    for t in tensors:
        out += [al.take(t, train_idx, axis=0), al.take(t, test_idx, axis=0)]
    return out
