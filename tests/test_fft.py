"""arraylib.fft: values vs NumPy, dtypes, batching, errors, gradients (FD and torch)."""
from __future__ import annotations

import numpy as np
import pytest

import arraylib as xp
from arraylib.autograd.gradcheck import gradcheck, gradgradcheck

from conftest import assert_close, to_numpy

RNG = np.random.default_rng(1234)


def _real(shape, dtype="float64"):
    return RNG.standard_normal(shape).astype(dtype)


def _cplx(shape, dtype="complex128"):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(dtype)


C2C = [("fft", {}), ("fft", {"n": 5}), ("fft", {"n": 11, "axis": 0, "norm": "ortho"}),
       ("ifft", {}), ("ifft", {"n": 3, "norm": "forward"}),
       ("fftn", {}), ("fftn", {"s": (3, 9), "axes": (0, 2)}), ("fftn", {"axes": (-1,)}),
       ("ifftn", {"norm": "ortho"}), ("ifftn", {"s": (2, 4), "axes": (1, 2)})]
R2C = [("rfft", {}), ("rfft", {"n": 7}), ("rfft", {"axis": 1, "norm": "forward"}),
       ("rfftn", {}), ("rfftn", {"s": (3, 5), "axes": (0, 2)}), ("ihfft", {}),
       ("ihfft", {"n": 5, "norm": "ortho"})]
C2R = [("irfft", {}), ("irfft", {"n": 9}), ("irfft", {"n": 4, "axis": 0, "norm": "ortho"}),
       ("irfftn", {}), ("irfftn", {"s": (3, 6), "axes": (1, 2)}), ("hfft", {}),
       ("hfft", {"n": 7, "norm": "forward"})]


@pytest.mark.parametrize("name,kw", C2C + R2C + C2R)
@pytest.mark.parametrize("prec", ["32", "64"])
def test_values_and_dtypes(device, name, kw, prec):
    real_in = (name, kw) in R2C
    host = _real((4, 6, 8), f"float{prec}") if real_in else \
        _cplx((4, 6, 8), "complex64" if prec == "32" else "complex128")
    x = xp.asarray(host, device=device)
    out = getattr(xp.fft, name)(x, **kw)
    expected = getattr(np.fft, name)(host, **kw)
    assert out.device == x.device
    if (name, kw) in C2R:
        assert out.dtype == (xp.float32 if prec == "32" else xp.float64)
    else:
        assert out.dtype == (xp.complex64 if prec == "32" else xp.complex128)
    tol = 1e-4 if prec == "32" else 1e-10
    assert_close(out, expected.astype(to_numpy(out).dtype), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", ["fft", "ifft", "fftn", "ifftn"])
def test_real_input_becomes_complex(device, name):
    host = _real((3, 4), "float32")
    out = getattr(xp.fft, name)(xp.asarray(host, device=device))
    assert out.dtype == xp.complex64
    assert_close(out, getattr(np.fft, name)(host).astype("complex64"), rtol=1e-5, atol=1e-5)


def test_round_trips(device):
    x = xp.asarray(_real((2, 3, 10)), device=device)
    assert_close(xp.fft.irfft(xp.fft.rfft(x), n=10), x, atol=1e-12)
    assert_close(xp.fft.irfftn(xp.fft.rfftn(x), s=x.shape), x, atol=1e-12)
    c = xp.asarray(_cplx((5, 4)), device=device)
    assert_close(xp.fft.ifftn(xp.fft.fftn(c, norm="ortho"), norm="ortho"), c, atol=1e-12)
    assert_close(xp.fft.ihfft(xp.fft.hfft(c, n=6), n=6), xp.fft.ihfft(xp.fft.hfft(c, n=6), n=6))


@pytest.mark.parametrize("dtype", [None, "float32", "float64"])
def test_freqs(device, dtype):
    dt = None if dtype is None else getattr(xp, dtype)
    f = xp.fft.fftfreq(7, d=0.5, dtype=dt, device=device)
    r = xp.fft.rfftfreq(8, d=2.0, dtype=dt, device=device)
    want = xp.float32 if dtype is None else dt
    assert f.dtype == want and r.dtype == want
    assert f.device == device and r.device == device
    assert_close(f, np.fft.fftfreq(7, d=0.5).astype(want), rtol=1e-6)
    assert_close(r, np.fft.rfftfreq(8, d=2.0).astype(want), rtol=1e-6)


@pytest.mark.parametrize("axes", [None, 0, (1,), (0, 2)])
def test_shifts(device, axes):
    host = _real((3, 4, 5))
    x = xp.asarray(host, device=device)
    assert_close(xp.fft.fftshift(x, axes=axes), np.fft.fftshift(host, axes=axes))
    assert_close(xp.fft.ifftshift(x, axes=axes), np.fft.ifftshift(host, axes=axes))
    assert_close(xp.fft.ifftshift(xp.fft.fftshift(x, axes=axes), axes=axes), x)


def test_errors(device):
    c = xp.asarray(_cplx((4, 3)), device=device)
    r = xp.asarray(_real((4, 3)), device=device)
    with pytest.raises(ValueError, match="norm"):
        xp.fft.fft(c, norm="bogus")
    with pytest.raises(ValueError, match="fft: invalid number of data points"):
        xp.fft.fft(c, n=0)
    with pytest.raises((ValueError, IndexError), match="axis"):
        xp.fft.fft(c, axis=2)
    with pytest.raises(TypeError, match="rfft: expected a real"):
        xp.fft.rfft(c)
    with pytest.raises(TypeError, match="fft: expected a floating"):
        xp.fft.fft(xp.asarray([1, 2, 3], device=device))
    with pytest.raises(ValueError, match="irfft: invalid number of data points"):
        xp.fft.irfft(xp.asarray(_cplx((4, 1)), device=device))
    with pytest.raises(ValueError, match="same length"):
        xp.fft.fftn(c, s=(2, 2), axes=(0,))
    with pytest.raises(ValueError, match="0-d"):
        xp.fft.fft(xp.asarray(1.0 + 0j, device=device))
    with pytest.raises(ValueError, match="fftfreq"):
        xp.fft.fftfreq(0)
    with pytest.raises(ValueError, match="fftfreq"):
        xp.fft.fftfreq(4, dtype=xp.int32)
    del r


GRAD_CASES = [("fft", "c", {"n": 4}), ("fft", "c", {"n": 9, "norm": "ortho"}),
              ("ifft", "c", {"axis": 0, "norm": "forward"}), ("fftn", "c", {"s": (4, 7)}),
              ("ifftn", "c", {}), ("rfft", "r", {}), ("rfft", "r5", {"norm": "ortho"}),
              ("rfft", "r", {"n": 9}), ("irfft", "c", {}), ("irfft", "c", {"n": 7, "norm": "forward"}),
              ("irfft", "c", {"n": 12}), ("rfftn", "r", {"s": (2, 5)}), ("rfftn", "r5", {}),
              ("irfftn", "c", {}), ("irfftn", "c", {"s": (4, 5), "norm": "ortho"}),
              ("hfft", "c", {}), ("hfft", "c", {"n": 7}), ("ihfft", "r", {}),
              ("ihfft", "r5", {"n": 4}), ("fftshift", "r", {}), ("ifftshift", "c", {"axes": (1,)})]


def _grad_input(kind, device):
    host = {"c": _cplx((3, 6)), "r": _real((3, 6)), "r5": _real((2, 5))}[kind]
    return xp.asarray(host, device=device, requires_grad=True)


@pytest.mark.parametrize("name,kind,kw", GRAD_CASES)
def test_gradcheck(device, name, kind, kw):
    x = _grad_input(kind, device)

    def f(t):
        return getattr(xp.fft, name)(t, **kw)
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


@pytest.mark.parametrize("name,kind,kw", GRAD_CASES)
def test_grad_vs_torch(name, kind, kw):
    torch = pytest.importorskip("torch")
    x = _grad_input(kind, "cpu")
    out = getattr(xp.fft, name)(x, **kw)
    ghost = _cplx(out.shape) if out.dtype.kind == "c" else _real(out.shape)
    out.backward(xp.asarray(ghost))
    tx = torch.tensor(to_numpy(x), requires_grad=True)
    tkw = dict(kw)
    if "axes" in tkw and name in ("fftshift", "ifftshift"):
        tkw["dim"] = tkw.pop("axes")
    if "axis" in tkw:
        tkw["dim"] = tkw.pop("axis")
    if "axes" in tkw:
        tkw["dim"] = tkw.pop("axes")
    tout = getattr(torch.fft, name)(tx, **tkw)
    np.testing.assert_allclose(tout.detach().resolve_conj().numpy(), to_numpy(out), rtol=1e-10, atol=1e-10)
    tout.backward(torch.tensor(ghost))
    np.testing.assert_allclose(tx.grad.resolve_conj().numpy(), to_numpy(x.grad), rtol=1e-10, atol=1e-10)


def test_grad_float32_batched(device):
    x = xp.asarray(_real((2, 3, 8), "float32"), device=device, requires_grad=True)
    y = xp.fft.irfft(xp.fft.rfft(x) * 2.0, n=8)
    xp.sum(y * y).backward()
    assert x.grad.dtype == xp.float32
    assert_close(x.grad, 8.0 * to_numpy(x), rtol=1e-4, atol=1e-4, check_dtype=False)
