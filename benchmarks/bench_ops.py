"""Per-operation overhead of the whole namespace: arraylib vs PyTorch vs NumPy (CPU).

Walks every entry of the gradient tests' op table (``tests/op_table.py``: every
differentiable function of the namespace, ``linalg`` and ``fft``), plus a supplement
for what the table does not cover (non-differentiable functions, creation functions,
Tensor methods and operators, in-place updates, promotion and Python scalars,
``Parameter`` operands, common ``nn.functional`` functions), on small float32 inputs
(100 elements, 10x10 for matrices).  Each operation is timed in forward under
``no_grad`` and in forward+backward, for arraylib, PyTorch (when installed) and NumPy
(where the same call works on NumPy arrays), the libraries interleaved round after
round; each keeps the best of several short loops of process CPU time (robust to other
processes' load).

Run: OMP_NUM_THREADS=1 python benchmarks/bench_ops.py [--quick] [--filter SUBSTRING]
Budget (issue 17): no operation slower than PyTorch forward, at most 5% slower in
forward+backward, median ratio to NumPy in forward <= 2.5x.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, ".."))
import arraylib as xp  # noqa: E402
import arraylib.nn.functional as F  # noqa: E402
from arraylib.nn import Parameter  # noqa: E402

try:
    import torch
    import torch.nn.functional as TF
    torch.set_num_threads(1)
except ImportError:  # no torch column
    torch = TF = None


def _load_op_table():
    path = os.path.join(_HERE, "..", "tests", "op_table.py")
    spec = importlib.util.spec_from_file_location("_bench_op_table", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # (dataclasses look their module up)
    spec.loader.exec_module(mod)
    return mod


# -- cases ----------------------------------------------------------------------------
class Case:
    """One operation: host inputs, and a callable per library (None: no equivalent)."""

    def __init__(self, name, inputs, al, th=None, nump=None, grad=True, inplace=False,
                 param=False):
        self.name, self.inputs = name, inputs
        self.al, self.th, self.np = al, th, nump
        self.grad = grad  # forward+backward is measured
        self.inplace = inplace
        self.param = param  # the first input is a Parameter


_SINGLE = {"any", "nonempty", "ndim1", "ndim1ne", "ndim2", "rows2"}
_PAIR = {"broadcast2", "same2", "same2nd"}
_FLOAT32 = {np.dtype("float64"): np.float32, np.dtype("complex128"): np.complex64}


def _small(a):
    a = np.asarray(a)
    return a.astype(_FLOAT32.get(a.dtype, a.dtype))


def _numpy_fn(fn, inputs):
    """``fn(np, *arrays)`` when NumPy runs it (an equivalent exists), else None."""
    try:
        r = fn(np, *[a.copy() for a in inputs])
    except Exception:  # noqa: BLE001 (no NumPy equivalent of this call)
        return None
    rs = r if isinstance(r, (tuple, list)) else (r,)
    if not rs or not all(isinstance(v, (np.ndarray, np.generic)) for v in rs):
        return None
    return fn


def table_cases(table) -> list:
    rng = np.random.default_rng(0)
    cases = []
    for o in table.OPS:
        shape = (10, 10) if o.shapes in _SINGLE else ((10, 10), (10, 10)) \
            if o.shapes in _PAIR else ()
        inputs = [_small(a) for a in o.make(rng, shape)]
        cases.append(Case(o.id, inputs, o.fn, o.torch_fn, _numpy_fn(o.fn, inputs)))
    return cases


def _r(*shape, dtype=np.float32, lo=-2.0, hi=2.0, seed=1):
    return np.random.default_rng(seed + len(shape)).uniform(lo, hi, shape).astype(dtype)


def _same(fn):
    """The same call for every library (methods and operators)."""
    return fn, fn, fn


def _iadd(m, x, y):
    x += y


def _imul(m, x):
    x *= 1.0


def _setitem(m, x):
    x[0] = 1.0


def supplement_cases() -> list:
    v, w, m1, m2 = _r(10, 10), _r(10, 10, seed=2), _r(10, 10, seed=3), _r(10, 10, seed=4)
    vec = _r(100, seed=5)
    i32 = np.arange(100, dtype=np.int32).reshape(10, 10)
    pos = _r(10, 10, lo=0.5, hi=2.0, seed=6)
    prob = _r(10, 10, lo=0.1, hi=0.9, seed=7)
    spd = m1 @ m1.T + 10 * np.eye(10, dtype=np.float32)
    tgt = np.arange(10, dtype=np.int64) % 10
    img, ker = _r(1, 2, 10, 10, seed=8), _r(3, 2, 3, 3, seed=9)
    idx = np.array([0, 3, 9, 2], dtype=np.int64)
    mask = (np.arange(100) % 3 == 0).reshape(10, 10)
    C = []

    def add(name, inputs, al, th=None, nump=None, **kw):
        C.append(Case(name, inputs, al, th, nump, **kw))

    def same(name, inputs, fn, numpy=True, **kw):
        add(name, inputs, fn, fn, fn if numpy else None, **kw)

    # operators and promotion
    same("op a + b", [v, w], lambda m, a, b: a + b)
    same("op a * b", [v, w], lambda m, a, b: a * b)
    same("op a / b", [v, pos], lambda m, a, b: a / b)
    same("op a ** 2", [v], lambda m, a: a ** 2)
    same("op -a", [v], lambda m, a: -a)
    same("op abs(a)", [v], lambda m, a: abs(a))
    same("op a @ b (10x10)", [m1, m2], lambda m, a, b: a @ b)
    same("op a @ v (10x10, 10)", [m1, vec[:10].copy()], lambda m, a, b: a @ b)
    same("op a + 1.0", [v], lambda m, a: a + 1.0)
    same("op 2.0 * a", [v], lambda m, a: 2.0 * a)
    same("op 1.0 - a", [v], lambda m, a: 1.0 - a)
    same("op a + a.sum()", [v], lambda m, a: a + a.sum())
    same("op int32 + float32", [i32, v], lambda m, a, b: a + b, grad=False)
    same("op int32 * 2", [i32], lambda m, a: a * 2, grad=False)
    same("op int32 + 1.5", [i32], lambda m, a: a + 1.5, grad=False)
    same("op a < b", [v, w], lambda m, a, b: a < b, grad=False)
    same("op a == b", [v, w], lambda m, a, b: a == b, grad=False)
    same("op a[0]", [v], lambda m, a: a[0])
    same("op a[2:5]", [v], lambda m, a: a[2:5])
    same("op a[:, 1]", [v], lambda m, a: a[:, 1])
    same("op a[..., None]", [v], lambda m, a: a[..., None])
    same("op a[idx]", [v, idx], lambda m, a, i: a[i])
    same("op a[mask]", [v, mask], lambda m, a, k: a[k])
    same("op x += y", [v, w], _iadd, grad=False, inplace=True)
    same("op x *= 1.0", [v], _imul, grad=False, inplace=True)
    same("op x[0] = 1.0", [v], _setitem, grad=False, inplace=True)
    # methods
    for meth in ("sum", "mean", "max", "min", "prod", "exp", "abs", "sqrt", "tanh", "sigmoid",
                 "relu", "clone", "detach", "flatten", "float", "argmax", "std", "var", "t",
                 "squeeze", "neg", "square", "floor", "isnan", "norm"):
        has_np = meth in ("sum", "mean", "max", "min", "prod", "argmax", "std", "var",
                          "flatten", "squeeze")
        fn = (lambda m, a, _n=meth: getattr(a, _n)())
        data = pos if meth == "sqrt" else v
        add(f"method a.{meth}()", [data], fn, fn, fn if has_np else None,
            grad=meth not in ("argmax", "isnan", "detach"))
    same("method a.T", [v], lambda m, a: a.T)
    same("method a.reshape(100)", [v], lambda m, a: a.reshape(100))
    same("method a.sum(0)", [v], lambda m, a: a.sum(0))
    add("method a.sum(dim=1, keepdim)", [v], lambda m, a: a.sum(dim=1, keepdim=True),
        lambda m, a: a.sum(dim=1, keepdim=True), lambda m, a: a.sum(axis=1, keepdims=True))
    add("method a.mean(-1)", [v], lambda m, a: a.mean(-1), lambda m, a: a.mean(-1),
        lambda m, a: a.mean(-1))
    add("method a.view(100)", [v], lambda m, a: a.view(100), lambda m, a: a.view(100))
    add("method a.transpose(0, 1)", [v], lambda m, a: a.transpose(0, 1),
        lambda m, a: a.transpose(0, 1), lambda m, a: a.swapaxes(0, 1))
    add("method a.permute(1, 0)", [v], lambda m, a: a.permute(1, 0), lambda m, a: a.permute(1, 0))
    add("method a.unsqueeze(0)", [v], lambda m, a: a.unsqueeze(0), lambda m, a: a.unsqueeze(0))
    add("method a.clamp(-1, 1)", [v], lambda m, a: a.clamp(-1, 1), lambda m, a: a.clamp(-1, 1),
        lambda m, a: a.clip(-1, 1))
    add("method a.softmax(-1)", [v], lambda m, a: a.softmax(-1), lambda m, a: a.softmax(-1))
    add("method a.to(float64)", [v], lambda m, a: a.to(m.float64), lambda m, a: a.to(m.float64),
        lambda m, a: a.astype(m.float64))
    add("method a.add(b)", [v, w], lambda m, a, b: a.add(b), lambda m, a, b: a.add(b))
    add("method a.mul(b)", [v, w], lambda m, a, b: a.mul(b), lambda m, a, b: a.mul(b))
    add("method a.matmul(b)", [m1, m2], lambda m, a, b: a.matmul(b),
        lambda m, a, b: a.matmul(b))
    add("method a.add_(b)", [v, w], lambda m, a, b: a.add_(b), lambda m, a, b: a.add_(b),
        grad=False, inplace=True)
    add("method a.mul_(1.0)", [v], lambda m, a: a.mul_(1.0), lambda m, a: a.mul_(1.0),
        grad=False, inplace=True)
    add("method a.zero_()", [v], lambda m, a: a.zero_(), lambda m, a: a.zero_(), grad=False,
        inplace=True)
    add("method a.fill_(1.0)", [v], lambda m, a: a.fill_(1.0), lambda m, a: a.fill_(1.0),
        lambda m, a: a.fill(1.0), grad=False, inplace=True)
    add("method a.item()", [vec[:1].copy()], lambda m, a: a.item(), lambda m, a: a.item(),
        lambda m, a: a.item(), grad=False)
    # non-differentiable functions
    for name in ("equal", "less", "greater", "not_equal", "isnan", "isfinite", "signbit"):
        tn = {"less": "lt", "greater": "gt", "not_equal": "ne", "equal": "eq"}.get(name, name)
        n_in = 1 if name in ("isnan", "isfinite", "signbit") else 2
        add(f"{name}", [v, w][:n_in], lambda m, *t, _n=name: getattr(m, _n)(*t),
            lambda m, *t, _n=tn: getattr(m, _n)(*t), lambda m, *t, _n=name: getattr(m, _n)(*t),
            grad=False)
    bools = [v > 0, w > 0]
    for name in ("logical_and", "logical_or", "logical_xor"):
        same(name, bools, lambda m, a, b, _n=name: getattr(m, _n)(a, b), grad=False)
    same("logical_not", bools[:1], lambda m, a: m.logical_not(a), grad=False)
    for name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        same(name, [i32, i32 + 1], lambda m, a, b, _n=name: getattr(m, _n)(a, b), grad=False)
    add("bitwise_left_shift", [i32, np.full_like(i32, 2)], lambda m, a, b: m.bitwise_left_shift(a, b),
        lambda m, a, b: m.bitwise_left_shift(a, b), lambda m, a, b: m.left_shift(a, b), grad=False)
    add("floor_divide", [v, pos], lambda m, a, b: m.floor_divide(a, b),
        lambda m, a, b: m.floor_divide(a, b), lambda m, a, b: m.floor_divide(a, b), grad=False)
    add("argmax", [v], lambda m, a: m.argmax(a), lambda m, a: m.argmax(a),
        lambda m, a: m.argmax(a), grad=False)
    add("argmin(axis=1)", [v], lambda m, a: m.argmin(a, axis=1), lambda m, a: m.argmin(a, dim=1),
        lambda m, a: m.argmin(a, axis=1), grad=False)
    add("argsort", [vec], lambda m, a: m.argsort(a), lambda m, a: m.argsort(a),
        lambda m, a: m.argsort(a), grad=False)
    add("count_nonzero", [v], lambda m, a: m.count_nonzero(a), lambda m, a: m.count_nonzero(a),
        lambda m, a: m.count_nonzero(a), grad=False)
    add("nonzero", [v], lambda m, a: m.nonzero(a), lambda m, a: m.nonzero(a, as_tuple=True),
        lambda m, a: m.nonzero(a), grad=False)
    add("all", bools[:1], lambda m, a: m.all(a), lambda m, a: m.all(a), lambda m, a: m.all(a),
        grad=False)
    add("any(axis=0)", bools[:1], lambda m, a: m.any(a, axis=0), lambda m, a: m.any(a, dim=0),
        lambda m, a: m.any(a, axis=0), grad=False)
    sorted_v = np.sort(vec)
    add("searchsorted", [sorted_v, v], lambda m, s, a: m.searchsorted(s, a),
        lambda m, s, a: m.searchsorted(s, a), lambda m, s, a: m.searchsorted(s, a), grad=False)
    add("unique_values", [i32 % 7], lambda m, a: m.unique_values(a), lambda m, a: m.unique(a),
        lambda m, a: m.unique_values(a), grad=False)
    add("isin", [i32, i32[:2]], lambda m, a, b: m.isin(a, b), lambda m, a, b: m.isin(a, b),
        lambda m, a, b: m.isin(a, b), grad=False)
    add("nextafter", [v, w], lambda m, a, b: m.nextafter(a, b), lambda m, a, b: m.nextafter(a, b),
        lambda m, a, b: m.nextafter(a, b), grad=False)
    # creation
    f32 = "float32"

    def dt(m):
        return getattr(m, f32)

    for name, call in (("zeros", lambda m: m.zeros((10, 10), dtype=dt(m))),
                       ("ones", lambda m: m.ones((10, 10), dtype=dt(m))),
                       ("empty", lambda m: m.empty((10, 10), dtype=dt(m))),
                       ("full", lambda m: m.full((10, 10), 1.5, dtype=dt(m))),
                       ("eye", lambda m: m.eye(10, dtype=dt(m))),
                       ("arange", lambda m: m.arange(100)),
                       ("linspace", lambda m: m.linspace(0.0, 1.0, 100, dtype=dt(m)))):
        same(name, [], call, grad=False)
    for name in ("zeros_like", "ones_like", "empty_like"):
        same(name, [v], lambda m, a, _n=name: getattr(m, _n)(a), grad=False)
    add("full_like", [v], lambda m, a: m.full_like(a, 2.0), lambda m, a: m.full_like(a, 2.0),
        lambda m, a: m.full_like(a, 2.0), grad=False)
    add("asarray(list)", [], lambda m: m.asarray([1.0, 2.0, 3.0]),
        lambda m: m.tensor([1.0, 2.0, 3.0]), lambda m: m.asarray([1.0, 2.0, 3.0]), grad=False)
    add("asarray(tensor)", [v], lambda m, a: m.asarray(a), lambda m, a: m.as_tensor(a),
        lambda m, a: m.asarray(a), grad=False)
    add("astype float32->int32", [v], lambda m, a: m.astype(a, m.int32),
        lambda m, a: a.to(m.int32), lambda m, a: a.astype(m.int32), grad=False)
    add("result_type", [v, i32], lambda m, a, b: m.result_type(a, b),
        lambda m, a, b: m.result_type(a, b), lambda m, a, b: m.result_type(a, b), grad=False)
    add("broadcast_shapes", [], lambda m: m.broadcast_shapes((10, 1), (1, 10)),
        lambda m: m.broadcast_shapes((10, 1), (1, 10)),
        lambda m: m.broadcast_shapes((10, 1), (1, 10)), grad=False)
    # 10x10 linear algebra, 100-point fft
    same("matmul (10x10)", [m1, m2], lambda m, a, b: m.matmul(a, b))
    add("linalg.inv (10x10)", [spd], lambda m, a: m.linalg.inv(a), lambda m, a: m.linalg.inv(a),
        lambda m, a: m.linalg.inv(a))
    add("linalg.solve (10x10)", [spd, m2], lambda m, a, b: m.linalg.solve(a, b),
        lambda m, a, b: m.linalg.solve(a, b), lambda m, a, b: m.linalg.solve(a, b))
    add("linalg.det (10x10)", [spd], lambda m, a: m.linalg.det(a), lambda m, a: m.linalg.det(a),
        lambda m, a: m.linalg.det(a))
    add("linalg.cholesky (10x10)", [spd], lambda m, a: m.linalg.cholesky(a),
        lambda m, a: m.linalg.cholesky(a), lambda m, a: m.linalg.cholesky(a))
    add("linalg.vector_norm (100)", [vec], lambda m, a: m.linalg.vector_norm(a),
        lambda m, a: m.linalg.vector_norm(a), lambda m, a: m.linalg.norm(a))
    add("linalg.matrix_rank (10x10)", [spd], lambda m, a: m.linalg.matrix_rank(a),
        lambda m, a: m.linalg.matrix_rank(a), lambda m, a: m.linalg.matrix_rank(a), grad=False)
    same("fft.rfft (100)", [vec], lambda m, a: m.fft.rfft(a))
    add("fft.fftfreq", [], lambda m: m.fft.fftfreq(100), lambda m: m.fft.fftfreq(100),
        lambda m: m.fft.fftfreq(100), grad=False)
    # Parameter operands (arraylib: nn.Parameter; PyTorch: torch.nn.Parameter)
    add("Parameter p * a", [v, w], lambda m, p, a: p * a, lambda m, p, a: p * a, param=True)
    add("Parameter p @ a", [m1, m2], lambda m, p, a: p @ a, lambda m, p, a: p @ a, param=True)
    add("Parameter p.sum()", [v], lambda m, p: p.sum(), lambda m, p: p.sum(), param=True)
    # nn.functional
    for name in ("relu", "gelu", "silu", "sigmoid", "tanh", "leaky_relu", "elu", "softplus",
                 "logsigmoid", "relu6", "hardtanh"):
        add(f"F.{name}", [v], lambda m, a, _n=name: getattr(F, _n)(a),
            lambda m, a, _n=name: getattr(TF, _n)(a))
    add("F.softmax(dim=-1)", [v], lambda m, a: F.softmax(a, dim=-1),
        lambda m, a: TF.softmax(a, dim=-1))
    add("F.log_softmax(dim=-1)", [v], lambda m, a: F.log_softmax(a, dim=-1),
        lambda m, a: TF.log_softmax(a, dim=-1))
    add("F.linear (10x10, bias)", [m1, m2, vec[:10].copy()], lambda m, a, W, b: F.linear(a, W, b),
        lambda m, a, W, b: TF.linear(a, W, b))
    add("F.dropout(training=False)", [v], lambda m, a: F.dropout(a, 0.5, training=False),
        lambda m, a: TF.dropout(a, 0.5, training=False))
    add("F.layer_norm", [v, vec[:10].copy() + 3, vec[10:20].copy()],
        lambda m, a, g, b: F.layer_norm(a, (10,), g, b),
        lambda m, a, g, b: TF.layer_norm(a, (10,), g, b))
    add("F.normalize", [v], lambda m, a: F.normalize(a), lambda m, a: TF.normalize(a))
    for name in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"):
        add(f"F.{name}", [v, w], lambda m, a, b, _n=name: getattr(F, _n)(a, b),
            lambda m, a, b, _n=name: getattr(TF, _n)(a, b))
    add("F.cross_entropy", [v, tgt], lambda m, a, t: F.cross_entropy(a, t),
        lambda m, a, t: TF.cross_entropy(a, t))
    add("F.nll_loss", [v, tgt], lambda m, a, t: F.nll_loss(a, t),
        lambda m, a, t: TF.nll_loss(a, t))
    add("F.binary_cross_entropy", [prob, prob[::-1].copy()],
        lambda m, a, t: F.binary_cross_entropy(a, t), lambda m, a, t: TF.binary_cross_entropy(a, t))
    add("F.binary_cross_entropy_with_logits", [v, prob],
        lambda m, a, t: F.binary_cross_entropy_with_logits(a, t),
        lambda m, a, t: TF.binary_cross_entropy_with_logits(a, t))
    add("F.kl_div", [v, prob], lambda m, a, t: F.kl_div(a, t, reduction="batchmean"),
        lambda m, a, t: TF.kl_div(a, t, reduction="batchmean"))
    add("F.embedding", [tgt, m1], lambda m, i, W: F.embedding(i, W),
        lambda m, i, W: TF.embedding(i, W))
    add("F.one_hot", [tgt], lambda m, i: F.one_hot(i, 10), lambda m, i: TF.one_hot(i, 10),
        grad=False)
    add("F.pad", [v], lambda m, a: F.pad(a, (1, 1)), lambda m, a: TF.pad(a, (1, 1)))
    add("F.conv2d (1x2x10x10, 3x3)", [img, ker], lambda m, a, k: F.conv2d(a, k),
        lambda m, a, k: TF.conv2d(a, k))
    add("F.max_pool2d (2)", [img], lambda m, a: F.max_pool2d(a, 2), lambda m, a: TF.max_pool2d(a, 2))
    add("F.avg_pool2d (2)", [img], lambda m, a: F.avg_pool2d(a, 2), lambda m, a: TF.avg_pool2d(a, 2))
    return C


# -- running ------------------------------------------------------------------------------
def _outputs(r):
    return r if isinstance(r, (tuple, list)) else (r,)


def _loss(lib, outs):
    total = None
    for o in outs:
        if not getattr(o, "requires_grad", False):
            continue
        if o.dtype in (lib.complex64, lib.complex128):
            o = lib.real(o)
        s = o.sum()
        total = s if total is None else total + s
    return total


def _make(lib, case, grad):
    """Library ``lib``'s tensors of ``case.inputs`` (floating ones require grad if ``grad``)."""
    ts = []
    for a in case.inputs:
        if lib is xp:
            t = xp.asarray(a.copy())
            if grad and a.dtype.kind in "fc":
                t = Parameter(t) if case.param else t.requires_grad_()
            elif case.param and a is case.inputs[0]:
                t = Parameter(t, requires_grad=False)
        else:
            t = torch.from_numpy(a.copy())
            if grad and a.dtype.kind in "fc":
                t = torch.nn.Parameter(t) if case.param else t.requires_grad_()
            elif case.param and a is case.inputs[0]:
                t = torch.nn.Parameter(t, requires_grad=False)
        ts.append(t)
    return ts


def _callables(case):
    """{library: (forward thunk, forward+backward thunk or None)}."""
    fns = {}
    libs = [("arraylib", xp, case.al)]
    if torch is not None and case.th is not None:
        libs.append(("torch", torch, case.th))
    for label, lib, fn in libs:
        ts = _make(lib, case, False)
        fw = (lambda fn=fn, lib=lib, ts=ts: fn(lib, *ts))
        fb = None
        if case.grad:
            gs = _make(lib, case, True)
            if any(getattr(g, "requires_grad", False) for g in gs):
                def fb(fn=fn, lib=lib, gs=gs):
                    loss = _loss(lib, _outputs(fn(lib, *gs)))
                    if loss is not None:
                        loss.backward()
                if _loss(lib, _outputs(fn(lib, *gs))) is None:
                    fb = None
                elif label != "arraylib":
                    try:  # a reference that refuses the backward loses its column only
                        fb()
                    except Exception:  # noqa: BLE001
                        fb = None
        fns[label] = (fw, fb)
    if case.np is not None:
        arrays = [a.copy() for a in case.inputs]
        fns["numpy"] = ((lambda fn=case.np, arrays=arrays: fn(np, *arrays)), None)
    return fns


_clock = time.process_time


def _calibrate(fn, target_s):
    n = 1
    while True:
        t0 = _clock()
        for _ in range(n):
            fn()
        dt = _clock() - t0
        if dt >= target_s / 4 or n >= 1 << 16:
            return max(1, int(n * target_s / max(dt, 1e-7)))
        n *= 4


def interleaved(thunks: dict, rounds: int, target_s: float) -> dict:
    """Best per-call µs of each thunk, the thunks timed in alternating short loops."""
    counts = {k: _calibrate(f, target_s) for k, f in thunks.items()}
    best = dict.fromkeys(thunks, float("inf"))
    for _ in range(rounds):
        for k, f in thunks.items():
            n = counts[k]
            t0 = _clock()
            for _ in range(n):
                f()
            best[k] = min(best[k], (_clock() - t0) / n * 1e6)
    return best


def measure(case, rounds, target_s):
    """{'fw': {lib: µs}, 'fb': {lib: µs}} for one case (errors: {'error': text})."""
    try:
        fns = _callables(case)
    except Exception as e:  # noqa: BLE001 (reported, not fatal)
        return {"error": f"{type(e).__name__}: {e}"}
    res = {}
    grad_ctx = {"arraylib": xp.no_grad, "torch": getattr(torch, "no_grad", None)}
    try:
        res["fw"] = interleaved_under(fns, rounds, target_s, grad_ctx)
        fb = {k: b for k, (_, b) in fns.items() if b is not None}
        res["fb"] = interleaved(fb, rounds, target_s) if "arraylib" in fb else {}
    except Exception as e:  # noqa: BLE001
        return {"error": f"{type(e).__name__}: {e}"}
    return res


def interleaved_under(fns, rounds, target_s, grad_ctx):
    """Forward thunks timed with grad mode off (entered once, outside the loops)."""
    ctxs = [c() for c in {grad_ctx["arraylib"], grad_ctx["torch"]} if c is not None]
    for c in ctxs:
        c.__enter__()
    try:
        return interleaved({k: f for k, (f, _) in fns.items()}, rounds, target_s)
    finally:
        for c in reversed(ctxs):
            c.__exit__(None, None, None)


def _fmt(t):
    return f"{t:8.2f}" if t is not None else "       -"


def _ratio(a, b):
    return a / b if a is not None and b else None


def report(results):
    rows = []
    for name, r in results:
        if "error" in r:
            continue
        fw, fb = r["fw"], r["fb"]
        rows.append((name, fw.get("arraylib"), fw.get("torch"), fw.get("numpy"),
                     fb.get("arraylib"), fb.get("torch")))
    key = (lambda row: _ratio(row[1], row[2]) or 0.0)
    rows.sort(key=key, reverse=True)
    head = (f"{'operation':<44} {'al fw':>8} {'pt fw':>8} {'np fw':>8} {'al/pt':>6} {'al/np':>6}"
            f" {'al fb':>8} {'pt fb':>8} {'al/pt':>6}")
    print("Per-call µs, best of interleaved loops (process CPU time), sorted by forward "
          "ratio to PyTorch")
    print(head)

    def line(row):
        n, a, t, nn, ab, tb = row
        rt, rn, rb = _ratio(a, t), _ratio(a, nn), _ratio(ab, tb)
        print(f"{n[:44]:<44} {_fmt(a)} {_fmt(t)} {_fmt(nn)} "
              f"{(f'{rt:6.2f}' if rt else '     -')} {(f'{rn:6.2f}' if rn else '     -')} "
              f"{_fmt(ab)} {_fmt(tb)} {(f'{rb:6.2f}' if rb else '     -')}")

    for row in rows:
        line(row)
    print("\nWorst 20, forward under no_grad (arraylib / PyTorch):")
    for row in rows[:20]:
        line(row)
    fbrows = sorted((r for r in rows if _ratio(r[4], r[5])), key=lambda r: -_ratio(r[4], r[5]))
    print("\nWorst 20, forward+backward (arraylib / PyTorch):")
    for row in fbrows[:20]:
        line(row)
    errors = [(n, r["error"]) for n, r in results if "error" in r]
    if errors:
        print("\nNot measured (the call failed):")
        for n, e in errors:
            print(f"  {n}: {e[:150]}")
    fw_pairs = [_ratio(r[1], r[2]) for r in rows if _ratio(r[1], r[2])]
    fb_pairs = [_ratio(r[4], r[5]) for r in rows if _ratio(r[4], r[5])]
    np_pairs = [_ratio(r[1], r[3]) for r in rows if _ratio(r[1], r[3])]
    slow_fw = sum(x > 1.0 for x in fw_pairs)
    slow_fb = sum(x > 1.0 for x in fb_pairs)
    print("\nSummary")
    print(f"  operations measured: {len(rows)} ({len(errors)} failed)")
    if fw_pairs:
        print(f"  forward (no_grad) slower than PyTorch: {slow_fw} of {len(fw_pairs)} "
              f"({slow_fw / len(fw_pairs):.1%}); median ratio {statistics.median(fw_pairs):.2f}x")
    if fb_pairs:
        print(f"  forward+backward slower than PyTorch: {slow_fb} of {len(fb_pairs)} "
              f"({slow_fb / len(fb_pairs):.1%}); median ratio {statistics.median(fb_pairs):.2f}x")
    if np_pairs:
        print(f"  forward median ratio to NumPy: {statistics.median(np_pairs):.2f}x "
              f"(over {len(np_pairs)} operations)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter loops (rougher figures)")
    ap.add_argument("--filter", default="",
                    help="only operations whose name contains one of these (comma-separated)")
    ap.add_argument("--no-table", action="store_true", help="only the supplementary cases")
    args = ap.parse_args(argv)
    rounds, target = (3, 0.0015) if args.quick else (5, 0.003)
    cases = ([] if args.no_table else table_cases(_load_op_table())) + supplement_cases()
    wanted = args.filter.split(",")
    cases = [c for c in cases if any(w in c.name for w in wanted)]
    t0 = time.perf_counter()
    results = [(c.name, measure(c, rounds, target)) for c in cases]
    report(results)
    print(f"  ({len(cases)} cases in {time.perf_counter() - t0:.0f} s wall; load "
          f"{os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
