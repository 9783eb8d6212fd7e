"""Random numbers: reproducibility, devices, dtypes, distributions, generators."""
import numpy as np
import pytest

import arraylib as xp
from conftest import to_numpy


def test_same_seed_same_numbers_every_device(device):
    xp.manual_seed(123)
    a = to_numpy(xp.rand(4, 5))
    xp.manual_seed(123)
    b = to_numpy(xp.rand(4, 5, device=device))
    assert b.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    xp.manual_seed(123)
    c = to_numpy(xp.rand((4, 5)))
    np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("func", ["rand", "randn"])
def test_shapes_dtypes(device, func):
    f = getattr(xp, func)
    assert f(2, 3, device=device).shape == (2, 3)
    assert f([2, 3], device=device).shape == (2, 3)
    assert f(device=device).shape == ()
    x = f(4, dtype=xp.float64, device=device)
    assert x.dtype == xp.float64 and x.device == device
    z = f(4, dtype=xp.complex64, device=device)
    assert z.dtype == xp.complex64
    with pytest.raises(TypeError, match=func):
        f(3, dtype=xp.int32)
    with pytest.raises(ValueError, match=func):
        f(-1)


def test_requires_grad(device):
    x = xp.randn(3, requires_grad=True, device=device)
    assert x.requires_grad and x.is_leaf


def test_distribution_moments():
    xp.manual_seed(0)
    u = to_numpy(xp.rand(200_000, dtype=xp.float64))
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    n = to_numpy(xp.randn(200_000, dtype=xp.float64))
    assert abs(n.mean()) < 0.01 and abs(n.std() - 1) < 0.01
    c = to_numpy(xp.randn(200_000, dtype=xp.complex128))
    assert abs(np.mean(np.abs(c) ** 2) - 1) < 0.02
    m = to_numpy(xp.normal(3.0, 2.0, (200_000,)))
    assert abs(m.mean() - 3) < 0.03 and abs(m.std() - 2) < 0.03


def test_randint(device):
    xp.manual_seed(1)
    r = xp.randint(3, 7, (1000,), device=device)
    assert r.dtype == xp.int64 and r.device == device
    v = to_numpy(r)
    assert v.min() == 3 and v.max() == 6
    assert to_numpy(xp.randint(5, (10,))).max() < 5
    assert xp.randint(0, 5, size=(2, 2), dtype=xp.int32).dtype == xp.int32
    with pytest.raises(ValueError, match="randint"):
        xp.randint(5, 5, (3,))
    with pytest.raises(TypeError, match="randint"):
        xp.randint(5)


def test_randperm(device):
    p = to_numpy(xp.randperm(50, device=device))
    assert sorted(p.tolist()) == list(range(50))
    assert xp.randperm(0).shape == (0,)
    with pytest.raises(ValueError, match="randperm"):
        xp.randperm(-1)


def test_generator_state_roundtrip(device):
    g = xp.Generator().manual_seed(7)
    assert g.initial_seed() == 7
    state = g.get_state()
    a = to_numpy(xp.randn(5, generator=g, device=device))
    b = to_numpy(xp.randn(5, generator=g, device=device))
    assert not np.array_equal(a, b)
    g.set_state(state)
    np.testing.assert_array_equal(a, to_numpy(xp.randn(5, generator=g, device=device)))
    # a private generator does not disturb the default one
    xp.manual_seed(5)
    x1 = to_numpy(xp.rand(3))
    xp.manual_seed(5)
    xp.rand(3, generator=xp.Generator().manual_seed(99))
    np.testing.assert_array_equal(x1, to_numpy(xp.rand(3)))
    with pytest.raises(TypeError, match="generator"):
        xp.rand(3, generator=42)


def test_seed_and_rng_state():
    s = xp.seed()
    assert xp.initial_seed() == s
    st = xp.get_rng_state()
    a = to_numpy(xp.rand(3))
    xp.set_rng_state(st)
    np.testing.assert_array_equal(a, to_numpy(xp.rand(3)))


def test_normal_tensor_params(device):
    mean = xp.asarray([0.0, 100.0, -100.0], device=device)
    out = xp.normal(mean, 0.01)
    assert out.shape == (3,) and out.device == device
    np.testing.assert_allclose(to_numpy(out), [0, 100, -100], atol=0.1)
    out = xp.normal(0.0, xp.zeros(4, device=device))
    np.testing.assert_array_equal(to_numpy(out), np.zeros(4))


def test_bernoulli(device):
    p = xp.asarray([0.0, 1.0, 0.0, 1.0], dtype=xp.float64, device=device)
    b = xp.bernoulli(p)
    assert b.dtype == xp.float64 and b.device == device
    np.testing.assert_array_equal(to_numpy(b), [0, 1, 0, 1])
    xp.manual_seed(0)
    m = to_numpy(xp.bernoulli(xp.full((100_000,), 0.3))).mean()
    assert abs(m - 0.3) < 0.01


def test_like_and_inplace_fills(device):
    x = xp.zeros((3, 4), dtype=xp.float64, device=device)
    assert xp.rand_like(x).dtype == xp.float64 and xp.randn_like(x).device == device
    assert xp.randint_like(x, 10).shape == (3, 4)
    x.uniform_(-2, -1)
    v = to_numpy(x)
    assert v.min() >= -2 and v.max() < -1
    x.normal_(5.0, 0.001)
    np.testing.assert_allclose(to_numpy(x), 5.0, atol=0.01)
    w = xp.zeros(1000, device=device)
    w.bernoulli_(0.5)
    assert set(np.unique(to_numpy(w))) <= {0.0, 1.0}
    i = xp.zeros(100, dtype=xp.int64, device=device)
    i.random_(2, 4)
    assert set(np.unique(to_numpy(i))) <= {2, 3}


def test_inplace_fill_on_parameter_needs_no_grad():
    w = xp.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError):
        w.uniform_()
    with xp.no_grad():
        w.uniform_()
    assert w.requires_grad


def test_no_float64_device():
    with pytest.raises(TypeError, match="not supported on device"):
        xp.rand(3, dtype=xp.float64, device="strict:no_float64")
    assert xp.rand(3, device="strict:no_float64").dtype == xp.float32
