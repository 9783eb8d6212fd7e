"""``F.scaled_dot_product_attention`` and its one-node kernel: PyTorch's outputs and
gradients (float64 to 1e-10, float32 to 1e-5) over masks, causal, scale and grouped heads;
the kernel's VJP and JVP against finite differences on cpu and strict:device1."""
from __future__ import annotations

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn.functional as F
from arraylib._nn_kernels import scaled_dot_product_attention as sdpa_kernel
from arraylib.autograd import gradcheck
from _fd import check_grads
from conftest import to_numpy

TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-5, atol=1e-5)}


def _mask(kind, shape, rng):
    if kind is None:
        return None
    if kind == "bool":
        m = rng.random(shape) > 0.4
        m[..., 1, :] = False  # a row with nothing to attend
        return m
    m = rng.standard_normal(shape)
    m[..., 0, 2] = -np.inf
    m[..., 1, :] = -np.inf  # fully masked by -inf
    return m


CASES = [  # (q shape, k shape, v shape, mask kind, mask shape, kwargs)
    ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7), None, None, {}),
    ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7), "bool", (4, 6), {}),
    ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7), "float", (3, 4, 6), {}),
    ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7), "bool", (2, 1, 4, 6), {"scale": 0.3}),
    ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7), None, None, {"is_causal": True}),
    ((2, 3, 6, 5), (2, 3, 4, 5), (2, 3, 4, 7), None, None, {"is_causal": True}),
    ((2, 4, 4, 5), (2, 2, 6, 5), (2, 2, 6, 3), None, None, {"enable_gqa": True}),
    ((2, 4, 4, 5), (2, 2, 6, 5), (2, 2, 6, 3), "bool", (2, 4, 4, 6), {"enable_gqa": True}),
    ((4, 5), (6, 5), (6, 7), "float", (4, 6), {}),
    ((3, 4, 5), (1, 6, 5), (3, 6, 2), None, None, {}),  # broadcast batch
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_matches_torch(torch, case, dtype):
    qs, ks, vs, kind, ms, kw = CASES[case]
    rng = np.random.default_rng(case)
    arrays = [rng.standard_normal(s).astype(dtype) for s in (qs, ks, vs)]
    mask = _mask(kind, ms, rng)
    if kind == "float":
        arrays.append(mask.astype(dtype))
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    at = [xp.asarray(a, requires_grad=True) for a in arrays]
    tm = tt[3] if kind == "float" else (torch.tensor(mask) if kind else None)
    am = at[3] if kind == "float" else (xp.asarray(mask) if kind else None)
    to = torch.nn.functional.scaled_dot_product_attention(*tt[:3], attn_mask=tm, **kw)
    ao = F.scaled_dot_product_attention(*at[:3], attn_mask=am, **kw)
    assert ao.dtype == getattr(xp, dtype)
    np.testing.assert_allclose(to_numpy(ao), to.detach().numpy(), **TOL[dtype])
    g = rng.standard_normal(to.shape).astype(dtype)
    to.backward(torch.tensor(g))
    ao.backward(xp.asarray(g))
    for t, a in zip(tt, at):
        np.testing.assert_allclose(to_numpy(a.grad), t.grad.numpy(), **TOL[dtype])


def test_one_node():
    q, k, v = (xp.asarray(np.ones((2, 3, 4)), requires_grad=True) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v)
    assert out.grad_fn.name == "scaled_dot_product_attention"


def test_fully_masked_rows_are_zero():
    rng = np.random.default_rng(0)
    q, k, v = (xp.asarray(rng.standard_normal(s), requires_grad=True)
               for s in ((3, 4), (5, 4), (5, 2)))
    m = np.ones((3, 5), bool)
    m[1] = False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=xp.asarray(m))
    assert np.all(np.isfinite(to_numpy(out)))
    np.testing.assert_array_equal(to_numpy(out)[1], 0.0)
    xp.sum(out).backward()
    np.testing.assert_array_equal(to_numpy(q.grad)[1], 0.0)
    assert np.all(np.isfinite(to_numpy(k.grad)))


KERNEL_CASES = [None, "bool", "float", "drop", "causal", "causal_drop"]


@pytest.mark.parametrize("kind", KERNEL_CASES)
def test_kernel_rules_fd(device, kind):
    """The kernel's VJP (storage and tensor forms) and JVP against central differences."""
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 3))]
    mask = drop = None
    if kind == "bool":
        m = rng.random((3, 5)) > 0.3
        m[0] = False
        mask = xp.asarray(m, device=device)
    elif kind == "float":
        arrays.append(rng.standard_normal((2, 3, 5)))
    if kind in ("drop", "causal_drop"):
        drop = xp.asarray((rng.random((2, 3, 5)) > 0.4) * 2.5, device=device)
    causal = kind in ("causal", "causal_drop")

    def fn(q, k, v, *m):
        return sdpa_kernel(q, k, v, m[0] if m else mask, drop, scale=0.7, causal=causal)
    check_grads(fn, arrays, device)


def test_kernel_gradcheck(device):
    rng = np.random.default_rng(4)
    q, k, v = (xp.asarray(rng.standard_normal(s), device=device, requires_grad=True)
               for s in ((1, 2, 3, 2), (1, 2, 4, 2), (1, 2, 4, 3)))
    m = xp.asarray(rng.standard_normal((3, 4)), device=device, requires_grad=True)
    assert gradcheck(lambda *a: F.scaled_dot_product_attention(*a[:3], attn_mask=a[3]),
                     (q, k, v, m))
    assert gradcheck(lambda *a: F.scaled_dot_product_attention(*a, is_causal=True), (q, k, v))


def test_second_order(device):
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(s) for s in ((2, 3), (4, 3), (4, 2))]

    def fn(q, k, v):  # the tensor form of the VJP, differentiated again
        if not q.requires_grad:  # (the finite-difference evaluations)
            q, k, v = (t.detach().requires_grad_(True) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v)
        return xp.autograd.grad(xp.sum(out * out), (q, k, v), create_graph=True)
    check_grads(fn, arrays, device, forward=False)


def test_dropout():
    rng = np.random.default_rng(6)
    q, k = (xp.asarray(rng.standard_normal(s)) for s in ((2, 8, 4), (2, 8, 4)))
    v = xp.asarray(np.broadcast_to(np.eye(8), (2, 8, 8)).copy())  # out = dropped probabilities
    xp.manual_seed(0)
    p = to_numpy(F.scaled_dot_product_attention(q, k, v))
    d = to_numpy(F.scaled_dot_product_attention(q, k, v, dropout_p=0.5))
    kept = d != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(d[kept], 2 * p[kept], rtol=1e-12)
    np.testing.assert_array_equal(to_numpy(F.scaled_dot_product_attention(q, k, v,
                                                                          dropout_p=1.0)), 0.0)


def test_errors():
    a = xp.ones((2, 3, 4))
    with pytest.raises(TypeError, match="scaled_dot_product_attention"):
        F.scaled_dot_product_attention(a, xp.astype(a, xp.float64), a)
    with pytest.raises(RuntimeError, match="scaled_dot_product_attention"):
        F.scaled_dot_product_attention(a, xp.ones((2, 3, 5)), a)
    with pytest.raises(RuntimeError, match="exclusive"):
        F.scaled_dot_product_attention(a, a, a, attn_mask=xp.ones((3, 3), dtype=xp.bool),
                                       is_causal=True)
    with pytest.raises(RuntimeError, match="heads"):
        F.scaled_dot_product_attention(xp.ones((1, 3, 2, 4)), xp.ones((1, 2, 2, 4)),
                                       xp.ones((1, 2, 2, 4)), enable_gqa=True)
    with pytest.raises(TypeError, match="attn_mask"):
        F.scaled_dot_product_attention(a, a, a, attn_mask=xp.ones((3, 3), dtype=xp.int64))
