"""float16 and bfloat16: dtypes beyond the standard (NumPy's float16, ml_dtypes' bfloat16),
their arithmetic against PyTorch, conversion, reductions, matmul, backward, strict devices."""
import numpy as np
import pytest

import arraylib as xp
import arraylib.nn.functional as F
from conftest import to_numpy

HALF = ["float16", "bfloat16"]
rng = np.random.default_rng(7)
A = rng.standard_normal((6, 5)).astype(np.float32)
B = rng.standard_normal((5, 4)).astype(np.float32)
P = (rng.random((6, 5)) + 0.1).astype(np.float32)


def H(a, name, requires_grad=False):
    return xp.astype(xp.asarray(a, requires_grad=requires_grad), getattr(xp, name))


def _f32(t):
    return np.asarray(to_numpy(t), dtype=np.float32)


def test_dtypes_are_extra_real_floating():
    assert xp.float16 == np.float16 and xp.bfloat16.name == "bfloat16"
    for name in HALF:
        dt = getattr(xp, name)
        assert xp.isdtype(dt, "real floating") and xp.isdtype(dt, "numeric")
        assert not xp.isdtype(dt, "complex floating") and not xp.isdtype(dt, "integral")
        assert xp._dtypes.as_dtype(name) == dt
    names = xp.__array_namespace_info__().dtypes()
    assert "float16" not in names and "bfloat16" not in names  # the standard's only
    assert set(xp.__array_namespace_info__().dtypes(kind="real floating")) == {"float32", "float64"}


def test_finfo(torch):
    for name in HALF:
        fi, tf = xp.finfo(getattr(xp, name)), torch.finfo(getattr(torch, name))
        assert (fi.bits, fi.eps, fi.max, fi.min, fi.smallest_normal) == \
            (tf.bits, tf.eps, tf.max, tf.min, tf.smallest_normal)
        assert fi.dtype == getattr(xp, name)


@pytest.mark.parametrize("name", HALF)
def test_elementwise_bit_equal_to_torch(torch, name):
    """Correctly rounded operations round the same way in both."""
    td = getattr(torch, name)
    a, p = H(A, name), H(P, name)
    ta, tp = torch.tensor(A).to(td), torch.tensor(P).to(td)
    cases = [(a + p, ta + tp), (a - p, ta - tp), (a * p, ta * tp), (a / p, ta / tp),
             (xp.sqrt(p), torch.sqrt(tp)), (a * 2.5, ta * 2.5), (a + 3, ta + 3),
             (-a, -ta), (xp.abs(a), ta.abs()), (xp.maximum(a, p), torch.maximum(ta, tp)),
             (xp.astype(xp.asarray(A), getattr(xp, name)), torch.tensor(A).to(td))]
    for r, tr in cases:
        assert r.dtype == getattr(xp, name)
        np.testing.assert_array_equal(_f32(r), tr.float().numpy())


@pytest.mark.parametrize("name", HALF)
def test_reductions_and_matmul_match_torch(torch, name):
    """Sums and products accumulate in float32 and round once, as PyTorch."""
    td = getattr(torch, name)
    a, b = H(A, name), H(B, name)
    ta, tb = torch.tensor(A).to(td), torch.tensor(B).to(td)
    cases = [(xp.matmul(a, b), ta @ tb), (a @ b, ta @ tb), (xp.sum(a), ta.sum()),
             (xp.sum(a, axis=1), ta.sum(1)), (xp.max(a), ta.max()),
             (xp.cumulative_sum(a, axis=1), torch.cumsum(ta, 1)), (xp.mean(a), ta.mean())]
    for r, tr in cases:
        assert r.dtype == getattr(xp, name)
        tol = 2 ** -8 if name == "bfloat16" else 2 ** -11
        np.testing.assert_allclose(_f32(r), tr.float().numpy(), rtol=tol, atol=tol)
    np.testing.assert_array_equal(_f32(xp.matmul(a, b)), (ta @ tb).float().numpy())


@pytest.mark.parametrize("name", HALF)
def test_backward_keeps_the_dtype(torch, name):
    td = getattr(torch, name)
    a = H(A, name)
    a.requires_grad_(True)
    b = H(B, name)
    b.requires_grad_(True)
    y = xp.sum(xp.tanh(a @ b) * 3.0)
    y.backward()
    ta = torch.tensor(A).to(td).requires_grad_(True)
    tb = torch.tensor(B).to(td).requires_grad_(True)
    torch.sum(torch.tanh(ta @ tb) * 3.0).backward()
    assert a.grad.dtype == getattr(xp, name) and b.grad.dtype == getattr(xp, name)
    tol = 2 ** -6 if name == "bfloat16" else 2 ** -9
    np.testing.assert_allclose(_f32(a.grad), ta.grad.float().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(_f32(b.grad), tb.grad.float().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", HALF)
def test_cast_from_float32_is_differentiable(name):
    x = xp.asarray(A, requires_grad=True)
    h = xp.astype(x, getattr(xp, name))
    xp.sum(h * h).backward()
    assert x.grad.dtype == xp.float32  # back in the parameter's dtype
    np.testing.assert_allclose(to_numpy(x.grad), 2 * _f32(h), rtol=1e-6)


@pytest.mark.parametrize("name", HALF)
def test_nn_ops_and_printing(name):
    dt = getattr(xp, name)
    a = H(A, name)
    w = H(B.T, name)
    for r in (F.relu(a), F.gelu(a), F.softmax(a, dim=1), F.linear(a, w), F.layer_norm(a, (5,))):
        assert r.dtype == dt and np.all(np.isfinite(_f32(r)))
    assert float(xp.sum(a)) == pytest.approx(float(A.sum()), rel=0.05)
    assert isinstance(xp.sum(a).item(), float)
    text = repr(H([1.5, 2.0], name))
    assert "1.5" in text and name in text
    assert a.is_floating_point() and not a.is_complex()


@pytest.mark.parametrize("name", HALF)
def test_strict_devices_refuse_half(name):
    dt = getattr(xp, name)
    x = H([1.0, 2.0], name)
    for dev in ("strict:device1", "strict:no_float64"):
        with pytest.raises(TypeError, match=f"{name}.*{dev}"):
            xp.asarray([1.0], dtype=dt, device=dev)
        with pytest.raises(TypeError, match=f"{name}.*{dev}"):
            xp.astype(xp.asarray([1.0], device=dev), dt)
        with pytest.raises(TypeError, match=f"{name}.*{dev}"):
            x.to_device(dev)
        with pytest.raises(TypeError, match=f"{name}.*{dev}"):
            xp.zeros(2, dtype=dt, device=dev)
