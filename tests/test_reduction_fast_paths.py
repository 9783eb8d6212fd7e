"""The reductions' lean path (memoized checks, nothing recorded: one storage call) and the
other memoized fast paths of issue 17 (all/any/count_nonzero, full, the reduction
methods): the same values, dtypes and shapes as the general path and NumPy, the same
errors on every call, and the recorded path still taken where a graph or a tangent is
wanted."""
from __future__ import annotations

import numpy as np
import pytest

import arraylib as xp
from arraylib.autograd import forward_ad as fwAD
from arraylib.nn import Parameter
from conftest import to_numpy

RNG = np.random.default_rng(17)
X = RNG.uniform(-2, 2, (4, 5)).astype(np.float32)

AXES = [None, 0, 1, -1, (0, 1), (1,)]


def _twice(f):
    """``f()`` twice: the first call fills the memo, the second takes the lean path."""
    first = f()
    second = f()
    return first, second


def _same(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


@pytest.mark.parametrize("name,ref", [("sum", np.sum), ("prod", np.prod), ("max", np.max),
                                      ("min", np.min), ("mean", np.mean)])
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction_values_match_numpy(device, name, ref, axis, keepdims):
    x = xp.asarray(X, device=device)
    f = getattr(xp, name)
    with xp.no_grad():
        a, b = _twice(lambda: f(x, axis=axis, keepdims=keepdims))
    _same(a, b)
    want = ref(X, axis=axis, keepdims=keepdims)
    assert a.shape == want.shape and a.dtype == xp.float32
    np.testing.assert_allclose(to_numpy(a), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype,want", [("int32", "int64"), ("bool", "int64"),
                                        ("uint8", "uint64"), ("float64", "float64")])
@pytest.mark.parametrize("name", ["sum", "prod"])
def test_accumulation_dtype_on_the_lean_path(name, dtype, want):
    host = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    x = xp.asarray(host)
    for _ in range(2):
        r = getattr(xp, name)(x, axis=0)
        assert r.dtype == getattr(xp, want)
        np.testing.assert_array_equal(to_numpy(r), getattr(np, name)(host, axis=0, dtype=want))


def test_bool_extrema_and_mean_of_float64(device):
    b = xp.asarray(X > 0, device=device)
    for _ in range(2):
        assert to_numpy(xp.max(b, axis=0)).tolist() == (X > 0).any(axis=0).tolist()
        assert xp.min(b).dtype == xp.bool
    x64 = xp.asarray(X.astype(np.float64), device=device)
    for _ in range(2):
        r = xp.mean(x64, axis=1)
        assert r.dtype == xp.float64
        np.testing.assert_allclose(to_numpy(r), X.astype(np.float64).mean(axis=1), rtol=1e-12)


@pytest.mark.parametrize("correction", [0, 1, 1.5])
@pytest.mark.parametrize("axis", [None, 0, -1])
def test_var_std_lean_match_numpy(device, correction, axis):
    x = xp.asarray(X, device=device)
    for name in ("var", "std"):
        a, b = _twice(lambda: getattr(xp, name)(x, axis=axis, correction=correction))
        _same(a, b)
        want = getattr(np, name)(X.astype(np.float64), axis=axis, ddof=correction)
        np.testing.assert_allclose(to_numpy(a), want, rtol=1e-5, atol=1e-6)


def test_errors_are_raised_on_every_call(device):
    x = xp.asarray(X, device=device)
    empty = xp.zeros((0, 3), device=device)
    for _ in range(3):
        with pytest.raises(ValueError, match="zero-size reduction"):
            xp.max(empty, axis=0)
        with pytest.raises(xp.AxisError if hasattr(xp, "AxisError") else Exception):
            xp.sum(x, axis=2)
        with pytest.raises(TypeError, match="mean"):
            xp.mean(xp.asarray([1, 2, 3], device=device))
        with pytest.raises(TypeError, match="no ordering"):
            xp.max(xp.asarray([1j, 2j], device=device))
        with pytest.raises(TypeError, match="correction"):
            xp.var(x, correction=True)
        with pytest.raises(ValueError, match="non-negative"):
            xp.std(x, correction=-1)
        with pytest.raises(TypeError):
            xp.sum(X)  # a NumPy array is not a tensor
    np.testing.assert_allclose(to_numpy(xp.max(empty, axis=1)), np.zeros(0))


def test_zero_size_sum_and_mean(device):
    e = xp.zeros((0, 3), device=device)
    for _ in range(2):
        np.testing.assert_array_equal(to_numpy(xp.sum(e, axis=0)), np.zeros(3))
        assert np.isnan(to_numpy(xp.mean(e))).all()


def test_memoized_call_still_records_a_graph():
    x = xp.asarray(X, requires_grad=True) if "requires_grad" in \
        xp.asarray.__code__.co_varnames else xp.asarray(X).requires_grad_()
    with xp.no_grad():
        for name in ("sum", "prod", "max", "min", "mean", "var", "std"):
            r = getattr(xp, name)(x, axis=0)
            assert not r.requires_grad and r.grad_fn is None  # (the lean path, no_grad)
    for name, grad in (("sum", np.ones_like(X)), ("mean", np.full_like(X, 1 / 4)),
                       ("prod", np.prod(X, axis=0, keepdims=True) / X)):
        x.grad = None
        r = getattr(xp, name)(x, axis=0)
        assert r.requires_grad and r.grad_fn is not None
        xp.sum(r).backward()
        np.testing.assert_allclose(to_numpy(x.grad), grad, rtol=1e-5)
    x.grad = None
    xp.var(x, axis=0, correction=1).sum().backward()
    want = 2 * (X - X.mean(axis=0)) / 3
    np.testing.assert_allclose(to_numpy(x.grad), want, rtol=1e-5, atol=1e-6)


def test_memoized_call_pushes_tangents():
    x = xp.asarray(X)
    t = xp.asarray(np.ones_like(X))
    xp.sum(x, axis=1), xp.mean(x, axis=1), xp.std(x, axis=1)  # memoized
    with fwAD.dual_level():
        d = fwAD.make_dual(x, t)
        for name, want in (("sum", np.full(4, 5.0)), ("mean", np.ones(4)),
                           ("std", np.zeros(4))):
            tangent = fwAD.unpack_dual(getattr(xp, name)(d, axis=1)).tangent
            assert tangent is not None
            np.testing.assert_allclose(to_numpy(tangent), want, atol=1e-5)


def test_parameter_operand():
    p = Parameter(xp.asarray(X))
    for _ in range(2):
        r = p.sum()
        assert r.requires_grad
        r.backward()
    np.testing.assert_allclose(to_numpy(p.grad), np.full_like(X, 2.0))
    with xp.no_grad():
        r = p.sum()
        assert not r.requires_grad
        np.testing.assert_allclose(to_numpy(r), X.sum(), rtol=1e-6)


def test_methods_shortcuts(device, torch):
    x = xp.asarray(X, device=device)
    tx = torch.from_numpy(X.copy())
    for _ in range(2):
        for name in ("sum", "prod", "mean", "max", "min"):
            np.testing.assert_allclose(to_numpy(getattr(x, name)()),
                                       getattr(tx, name)().numpy(), rtol=1e-5)
        np.testing.assert_allclose(to_numpy(x.mean(-1, True)), tx.mean(-1, True).numpy(),
                                   rtol=1e-6)
        values, indices = x.max(1)
        np.testing.assert_allclose(to_numpy(values), tx.max(1).values.numpy())
        with pytest.raises(TypeError, match="Tensor.mean"):
            xp.asarray([1, 2], device=device).mean()
        with pytest.raises(TypeError, match="out="):
            x.sum(out=x)
        assert x.sum(dtype=xp.float64).dtype == xp.float64


def test_all_any_count_nonzero(device):
    host = np.array([[0, 1, 2], [0, 0, 3]], dtype=np.int32)
    x = xp.asarray(host, device=device)
    for _ in range(2):
        for axis in (None, 0, 1, -1):
            for keepdims in (False, True):
                for name in ("all", "any"):
                    r = getattr(xp, name)(x, axis=axis, keepdims=keepdims)
                    want = getattr(np, name)(host, axis=axis, keepdims=keepdims)
                    assert r.dtype == xp.bool and r.shape == want.shape
                    np.testing.assert_array_equal(to_numpy(r), want)
                r = xp.count_nonzero(x, axis=axis, keepdims=keepdims)
                want = np.count_nonzero(host, axis=axis, keepdims=keepdims)
                assert r.dtype == xp.int64
                np.testing.assert_array_equal(to_numpy(r), want)
        for f in (xp.all, xp.any, xp.count_nonzero):
            with pytest.raises(Exception) as e:
                f(x, axis=2)
            assert isinstance(e.value, (IndexError, ValueError))


def test_full_memo(device):
    for _ in range(2):
        r = xp.full((2, 3), 1.5, dtype=xp.float32, device=device)
        assert r.dtype == xp.float32 and r.shape == (2, 3)
        np.testing.assert_array_equal(to_numpy(r), np.full((2, 3), 1.5, np.float32))
        # 1, 1.0 and True hash alike: each keeps its own dtype
        assert xp.full(3, 1, device=device).dtype == xp.int64
        assert xp.full(3, 1.0, device=device).dtype == xp.float32
        assert xp.full(3, True, device=device).dtype == xp.bool
        with pytest.raises(OverflowError):
            xp.full(3, 300, dtype=xp.int8, device=device)
        assert to_numpy(xp.full(3, 100, dtype=xp.int8, device=device)).tolist() == [100] * 3
        with pytest.raises(TypeError):
            xp.full((2.0, 3), 1.5)  # hashes like (2, 3): never memoized
        r = xp.full((2,), -0.0, dtype=xp.float32, device=device)
        assert np.signbit(to_numpy(r)).all()
    assert xp.full((2,), 1.0, requires_grad=True).requires_grad


def test_eye(device):
    for _ in range(2):
        for k in (0, 1, -2):
            r = xp.eye(3, 4, k=k, dtype=xp.float32, device=device)
            np.testing.assert_array_equal(to_numpy(r), np.eye(3, 4, k=k, dtype=np.float32))


def test_torch_face_reductions(device, torch):
    x = xp.asarray(X, device=device)
    tx = torch.from_numpy(X.copy())
    for _ in range(2):
        for name in ("amax", "amin"):
            for dim in (0, 1, -1, (), (0, 1), (1,)):
                for keepdim in (False, True):
                    r = getattr(xp, name)(x, dim=dim, keepdim=keepdim)
                    want = getattr(torch, name)(tx, dim=dim, keepdim=keepdim).numpy()
                    assert r.shape == want.shape
                    np.testing.assert_array_equal(to_numpy(r), want)
        for name in ("sum", "prod", "mean"):
            for dim in (None, 0, -1):
                kw = {} if dim is None else {"dim": dim}
                r = getattr(xp.torch, name)(x, **kw) if hasattr(xp, "torch") else None
                want = getattr(torch, name)(tx, **kw).numpy()
                np.testing.assert_allclose(to_numpy(r), want, rtol=1e-5)
        np.testing.assert_array_equal(to_numpy(xp.torch.max(x)), tx.max().numpy())
        with pytest.raises(RuntimeError, match="mean"):
            xp.torch.mean(xp.asarray([1, 2], device=device))
        with pytest.raises((IndexError, ValueError)):
            xp.amax(x, dim=2)


def test_cast_and_promotion_memo(device, torch):
    x = xp.asarray(X, device=device)
    i = xp.asarray(np.arange(20, dtype=np.int32).reshape(4, 5), device=device)
    for _ in range(3):
        r = i + x
        assert r.dtype == xp.float32
        np.testing.assert_array_equal(to_numpy(r), np.arange(20, dtype=np.float32).reshape(4, 5) + X)
        assert xp.result_type(x, i) == xp.float32 and xp.result_type(i, i) == xp.int32
        assert xp.result_type(i, 1.5) == xp.float32
        y = xp.astype(x, xp.int32)
        assert y.dtype == xp.int32
        np.testing.assert_array_equal(to_numpy(y), X.astype(np.int32))
        assert xp.astype(x, xp.float32, copy=False) is x
        z = xp.astype(x, xp.float32)
        assert z is not x and z.dtype == xp.float32
        z[0, 0] = 100.0
        assert to_numpy(x)[0, 0] == X[0, 0]  # a copy
        with pytest.raises(TypeError, match="complex"):
            xp.astype(xp.asarray([1j], device=device), xp.float32)
        with pytest.raises(TypeError):
            xp.asarray([1], dtype=xp.int64, device=device) + xp.asarray([1], dtype=xp.uint64,
                                                                        device=device)
    g = xp.asarray(X, device=device).requires_grad_()
    xp.astype(g, xp.float64).sum().backward()  # a memoized cast still records
    assert g.grad.dtype == xp.float32
    np.testing.assert_array_equal(to_numpy(g.grad), np.ones_like(X))
    with fwAD.dual_level():
        d = fwAD.make_dual(xp.asarray(X, device=device), xp.asarray(np.ones_like(X), device=device))
        t = fwAD.unpack_dual(xp.astype(d, xp.float64)).tangent
        assert t is not None and t.dtype == xp.float64


def test_sign_and_tanh_complex_special_values():
    vals = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 3.5]
    z = np.array([complex(a, b) for a in vals for b in vals], dtype=np.complex128)
    s = to_numpy(xp.sign(xp.asarray(z)))
    finite = np.isfinite(z)
    nonzero = finite & (z != 0)
    np.testing.assert_allclose(s[nonzero], z[nonzero] / np.abs(z[nonzero]))
    zero = z == 0
    assert (s[zero] == 0).all() and not np.signbit(s[zero].real).any() and \
        not np.signbit(s[zero].imag).any()
    t = to_numpy(xp.tanh(xp.asarray(np.array([complex(np.inf, 2.0), complex(-np.inf, -2.0),
                                                  0.5 + 0.5j]))))
    np.testing.assert_array_equal(t[:2], [1 + 0j, -1 - 0j])
    assert np.signbit(t[1].imag)
    np.testing.assert_allclose(t[2], np.tanh(0.5 + 0.5j))


def test_floor_divide_infinities(device):
    a = xp.asarray([np.inf, -np.inf, 5.0, -5.0, 7.0], device=device)
    b = xp.asarray([2.0, 2.0, np.inf, np.inf, 2.0], device=device)
    r = to_numpy(xp.floor_divide(a, b))
    np.testing.assert_array_equal(r, [np.inf, -np.inf, 0.0, -0.0, 3.0])  # floor(-5 / inf)
    assert np.signbit(r[3]) and not np.signbit(r[2])
    big = xp.asarray([3e38, 3e38], dtype=xp.float32, device=device)
    np.testing.assert_array_equal(to_numpy(xp.floor_divide(big, xp.ones_like(big))),
                                  np.floor_divide(np.float32(3e38), np.float32(1)) *
                                  np.ones(2, np.float32))


def test_vmap_never_takes_the_lean_path():
    from arraylib.func import vmap
    x = xp.asarray(X)
    for name in ("sum", "prod", "max", "min", "mean", "var", "std"):
        f = getattr(xp, name)
        f(xp.asarray(X[0]))  # the per-example shape, memoized on a plain tensor
        with xp.no_grad():
            r = vmap(lambda row, f=f: f(row))(x)
        np.testing.assert_allclose(to_numpy(r), getattr(np, name)(X, axis=1), rtol=1e-5)
    r = vmap(lambda row: xp.cumulative_sum(row))(x)
    np.testing.assert_allclose(to_numpy(r), np.cumsum(X, axis=1), rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_lean_path_is_bitwise_the_recorded_forward(device, dtype):
    """The lean run (nothing recorded) gives exactly the primitive's forward (recorded)."""
    if dtype == "float16" and device.type != "cpu":
        pytest.skip("array-api-strict has no float16")
    host = (RNG.standard_normal((6, 7)) * 100).astype(dtype)
    plain = xp.asarray(host, device=device)
    grad = xp.asarray(host, device=device).requires_grad_()
    calls = [("sum", {}), ("prod", {}), ("max", {}), ("min", {}), ("mean", {}),
             ("var", {"correction": 1}), ("std", {"correction": 0}), ("cumulative_sum", {})]
    for name, kw in calls:
        for axis in ((None, 0, -1) if name != "cumulative_sum" else (0, -1)):
            f = getattr(xp, name)
            for _ in range(2):
                lean = f(plain, axis=axis, **kw)
            recorded = f(grad, axis=axis, **kw)
            assert recorded.requires_grad and not lean.requires_grad
            a, b = to_numpy(lean), to_numpy(recorded)
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)


def test_searchsorted_memo(device):
    s = np.sort(RNG.uniform(-1, 1, 20)).astype(np.float32)
    v = RNG.uniform(-1.5, 1.5, (3, 4)).astype(np.float32)
    x1, x2 = xp.asarray(s, device=device), xp.asarray(v, device=device)
    for _ in range(3):
        for side in ("left", "right"):
            r = xp.searchsorted(x1, x2, side=side)
            assert r.dtype == xp.int64 and r.shape == (3, 4)
            np.testing.assert_array_equal(to_numpy(r), np.searchsorted(s, v, side=side))
        with pytest.raises(ValueError, match="side"):
            xp.searchsorted(x1, x2, side="middle")
        with pytest.raises(ValueError, match="one-dimensional"):
            xp.searchsorted(xp.asarray(np.sort(v, axis=None).reshape(3, 4), device=device), x2)
        with pytest.raises(TypeError):
            xp.searchsorted(xp.asarray([1j, 2j], device=device), xp.asarray([1j], device=device))


def test_batched_reductions_memoize_their_checks_only():
    """Under vmap a reduction's checked parameters are memoized on the logical shape: the
    values stay right call after call, a bad axis raises every time, and the per-example
    shapes of two vmaps with different batch sizes do not mix."""
    rng = np.random.default_rng(3)
    for n in (4, 7, 4):
        x = rng.standard_normal((n, 3, 5))
        for f, ref in ((lambda r: xp.sum(r, axis=1), x.sum(axis=2)),
                       (lambda r: xp.mean(r, axis=0), x.mean(axis=1)),
                       (lambda r: xp.max(r), x.max(axis=(1, 2))),
                       (lambda r: xp.mean(r), x.mean(axis=(1, 2)))):
            np.testing.assert_allclose(np.asarray(xp.func.vmap(f)(xp.asarray(x))), ref,
                                       rtol=1e-12)
        for _ in range(2):
            with pytest.raises(IndexError, match="sum: axis 2 is out of bounds"):
                xp.func.vmap(lambda r: xp.sum(r, axis=2))(xp.asarray(x))
