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
        with open(p, "rb") as f:
            entry = pickle.load(f, encoding="bytes")
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
