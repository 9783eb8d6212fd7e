"""Creation functions: values vs NumPy, default dtypes, copy semantics, devices, gradients."""
import array
import math

import numpy as np
import pytest

import arraylib as xp
from conftest import assert_close, to_numpy
from _fd import check_grads

RNG = np.random.default_rng(1)


# -- asarray -------------------------------------------------------------------------
def test_asarray_python_defaults(device):
    assert xp.asarray(1.5, device=device).dtype == xp.float32
    assert xp.asarray(3, device=device).dtype == xp.int64
    assert xp.asarray(True, device=device).dtype == xp.bool
    assert xp.asarray(1j, device=device).dtype == xp.complex64
    assert xp.asarray([[1, 2], [3, 4.0]], device=device).dtype == xp.float32
    assert xp.asarray([1, 2], dtype=xp.float64, device=device).dtype == xp.float64
    x = xp.asarray([[1, 2]], device=device)
    assert x.device == device and x.shape == (1, 2)


def test_asarray_nested_tensors(device):
    a = xp.asarray(1.0, dtype=xp.float64, device=device)
    r = xp.asarray([a, 2.0, 3], device=device)
    assert r.dtype == xp.float64 and r.tolist() == [1.0, 2.0, 3.0]
    i = xp.asarray(2, dtype=xp.int16, device=device)
    assert xp.asarray([[i, 3]], device=device).dtype == xp.int16
    assert xp.asarray([i, 2.5], device=device).dtype == xp.float32


def test_asarray_buffers(device):
    assert xp.asarray(bytearray(b"ab"), device=device).tolist() == [97, 98]
    r = xp.asarray(array.array("f", [1, 2]), device=device)
    assert r.dtype == xp.float32 and r.tolist() == [1.0, 2.0]
    assert xp.asarray(memoryview(b"\x01\x02"), device=device).dtype == xp.uint8


def test_asarray_numpy_zero_copy_and_copy_semantics():
    a = np.arange(4.0)
    t = xp.asarray(a)
    assert np.shares_memory(t.numpy(), a) and t.dtype == xp.float64
    assert not np.shares_memory(xp.asarray(a, copy=True).numpy(), a)
    assert np.shares_memory(xp.asarray(a, copy=False).numpy(), a)
    with pytest.raises(ValueError, match="asarray: copy=False"):
        xp.asarray(a, dtype=xp.float32, copy=False)
    with pytest.raises(ValueError, match="asarray: copy=False"):
        xp.asarray([1, 2], copy=False)
    with pytest.raises(ValueError, match="asarray: copy=False"):
        xp.asarray(a, device="strict:device1", copy=False)


def test_asarray_tensor_copy(device):
    x = xp.asarray([1.0, 2.0], device=device)
    assert xp.asarray(x) is x
    y = xp.asarray(x, copy=True)
    assert y is not x and y.tolist() == x.tolist()
    with pytest.raises(ValueError, match="copy=False"):
        xp.asarray(x, dtype=xp.float64, copy=False)
    other = "cpu" if device != "cpu" else "strict:device1"
    with pytest.raises(ValueError, match="copy=False"):
        xp.asarray(x, device=other, copy=False)
    z = xp.asarray(x, device=other)
    assert z.device == other and z.tolist() == [1.0, 2.0]
    assert xp.asarray(x, dtype=xp.float64).dtype == xp.float64


def test_asarray_errors(device):
    with pytest.raises(OverflowError, match="asarray"):
        xp.asarray(2 ** 63, device=device)
    with pytest.raises(TypeError, match="asarray"):
        xp.asarray([1], dtype="U5", device=device)  # (float16: test_half.py)
    with pytest.raises((TypeError, ValueError), match="asarray"):
        xp.asarray(object(), device=device)


def test_asarray_no_float64_device():
    with pytest.raises(TypeError, match="float64"):
        xp.asarray([1.0], dtype=xp.float64, device="strict:no_float64")
    assert xp.asarray([1.0], device="strict:no_float64").dtype == xp.float32


# -- zeros, ones, full, empty, *_like ----------------------------------------------------
@pytest.mark.parametrize("f,v", [("zeros", 0), ("ones", 1)])
def test_zeros_ones(device, f, v):
    r = getattr(xp, f)((2, 3), device=device)
    assert r.shape == (2, 3) and r.dtype == xp.float32 and r.device == device
    assert (to_numpy(r) == v).all()
    assert getattr(xp, f)(2, 3, dtype=xp.int8, device=device).dtype == xp.int8
    assert getattr(xp, f)((), device=device).shape == ()
    assert getattr(xp, f)(shape=(0, 2), device=device).shape == (0, 2)
    like = getattr(xp, f + "_like")(xp.ones((2,), dtype=xp.int16, device=device))
    assert like.dtype == xp.int16 and like.device == device and (to_numpy(like) == v).all()
    with pytest.raises(ValueError, match=f"{f}: negative"):
        getattr(xp, f)((2, -1), device=device)
    with pytest.raises(TypeError, match=f):
        getattr(xp, f)((2.5,), device=device)


def test_full_empty(device):
    assert xp.full((2,), 3, device=device).dtype == xp.int64
    assert xp.full((2,), 3.5, device=device).dtype == xp.float32
    assert xp.full((2,), True, device=device).dtype == xp.bool
    assert xp.full((2,), 1j, device=device).dtype == xp.complex64
    assert xp.full((2,), 7, dtype=xp.float64, device=device).tolist() == [7.0, 7.0]
    assert xp.full_like(xp.ones(3, device=device), 2.0).tolist() == [2.0] * 3
    with pytest.raises(OverflowError):
        xp.full((1,), 300, dtype=xp.int8, device=device)
    e = xp.empty((2, 0), device=device)
    assert e.shape == (2, 0) and e.device == device
    assert xp.empty_like(xp.ones(3, dtype=xp.uint8, device=device)).dtype == xp.uint8
    r = xp.zeros((2,), device=device, requires_grad=True)
    assert r.requires_grad


def test_like_device_kwarg(device):
    x = xp.ones(2, device="cpu")
    assert xp.zeros_like(x, device=device).device == device
    assert xp.full_like(x, 5, device=device, dtype=xp.int32).tolist() == [5, 5]


# -- arange, linspace, eye ------------------------------------------------------------
@pytest.mark.parametrize("args", [(5,), (2, 7), (7, 2, -2), (0, 1, 0.1), (1.5, 4), (3, 3),
                                  (5, 0), (-1.0, 1.0, 0.3), (0, 10, 3)])
def test_arange(device, args):
    r = xp.arange(*args, device=device)
    e = np.arange(*args)
    assert r.dtype == (xp.float32 if e.dtype.kind == "f" else xp.int64)
    assert r.shape == e.shape
    assert_close(r, e.astype(r.dtype), rtol=1e-6, atol=1e-6)


def test_arange_dtype_and_errors(device):
    assert xp.arange(4, dtype=xp.float64, device=device).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert xp.arange(0, 10, step=2, dtype=xp.uint8, device=device).dtype == xp.uint8
    with pytest.raises(ValueError, match="arange: step"):
        xp.arange(0, 5, 0, device=device)
    with pytest.raises(TypeError, match="arange"):
        xp.arange("a", device=device)


@pytest.mark.parametrize("start,stop,num,endpoint", [(0, 1, 5, True), (0, 1, 5, False),
                                                      (2.0, -3.0, 7, True), (0, 1, 0, True),
                                                      (1, 1, 1, True), (0, 1, 1, False)])
def test_linspace(device, start, stop, num, endpoint):
    r = xp.linspace(start, stop, num, endpoint=endpoint, device=device)
    assert r.dtype == xp.float32 and r.device == device
    assert_close(r, np.linspace(start, stop, num, endpoint=endpoint).astype(np.float32))
    r = xp.linspace(start, stop, num, endpoint=endpoint, dtype=xp.float64, device=device)
    assert_close(r, np.linspace(start, stop, num, endpoint=endpoint))


def test_linspace_complex_and_errors(device):
    r = xp.linspace(0, 1 + 2j, 5, device=device)
    assert r.dtype == xp.complex64
    assert_close(r, np.linspace(0, 1 + 2j, 5).astype(np.complex64))
    assert xp.linspace(1j, 2j, 3, dtype=xp.complex128, device=device).dtype == xp.complex128
    with pytest.raises(ValueError, match="linspace: num"):
        xp.linspace(0, 1, -1, device=device)
    with pytest.raises(TypeError, match="linspace: dtype"):
        xp.linspace(0, 1, 3, dtype=xp.bool, device=device)  # integers: as NumPy's


@pytest.mark.parametrize("n,m,k", [(3, None, 0), (2, 4, 1), (4, 2, -1), (3, 3, 5), (0, 2, 0)])
def test_eye(device, n, m, k):
    r = xp.eye(n, m, k=k, device=device)
    assert r.dtype == xp.float32
    assert_close(r, np.eye(n, m, k=k, dtype=np.float32))
    assert xp.eye(2, dtype=xp.int32, device=device).dtype == xp.int32


# -- meshgrid ---------------------------------------------------------------------------
@pytest.mark.parametrize("indexing", ["xy", "ij"])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_meshgrid(device, indexing, n):
    arrs = [np.arange(i + 2, dtype=np.float64) * (i + 1) for i in range(n)]
    got = xp.meshgrid(*[xp.asarray(a, device=device) for a in arrs], indexing=indexing)
    exp = np.meshgrid(*arrs, indexing=indexing)
    assert len(got) == n and isinstance(got, tuple)
    for g, e in zip(got, exp):
        assert_close(g, e)


def test_meshgrid_errors_and_grad(device):
    assert xp.meshgrid() == ()
    a = xp.ones(2, device=device)
    with pytest.raises(ValueError, match="meshgrid: indexing"):
        xp.meshgrid(a, indexing="xx")
    with pytest.raises(TypeError, match="meshgrid: tensors have different dtypes"):
        xp.meshgrid(a, xp.ones(2, dtype=xp.int64, device=device))
    with pytest.raises(ValueError, match="meshgrid: expected 1-D"):
        xp.meshgrid(xp.ones((2, 2), device=device))
    check_grads(lambda x, y: tuple(xp.meshgrid(x, y)),
                [RNG.standard_normal(3), RNG.standard_normal(2)], device)


# -- tril, triu -----------------------------------------------------------------------
@pytest.mark.parametrize("f", ["tril", "triu"])
@pytest.mark.parametrize("k", [0, 1, -2])
def test_tril_triu(device, f, k):
    a = RNG.standard_normal((2, 3, 4))
    assert_close(getattr(xp, f)(xp.asarray(a, device=device), k=k), getattr(np, f)(a, k=k))
    check_grads(lambda x: getattr(xp, f)(x, k=k), [a[0]], device)
    with pytest.raises(ValueError, match=f"{f}: expected a tensor with at least 2"):
        getattr(xp, f)(xp.ones(3, device=device))


# -- from_dlpack --------------------------------------------------------------------
def test_from_dlpack_numpy_zero_copy():
    a = np.arange(6.0).reshape(2, 3)
    t = xp.from_dlpack(a)
    assert t.device == "cpu" and np.shares_memory(t.numpy(), a)
    assert not np.shares_memory(xp.from_dlpack(a, copy=True).numpy(), a)
    s = xp.from_dlpack(a, device="strict:device1")
    assert s.device == "strict:device1" and s.tolist() == a.tolist()
    with pytest.raises(ValueError, match="from_dlpack"):
        xp.from_dlpack(a, device="strict:device1", copy=False)
    with pytest.raises(TypeError, match="from_dlpack"):
        xp.from_dlpack([1, 2])


def test_from_dlpack_dtype_missing_on_device():
    """A device without float64 refuses it with the standard's TypeError, naming the function
    and the device (the suite's test_from_dlpack draws such pairs; see conformance notes)."""
    for src in (np.zeros(2), xp.asarray(np.zeros(2))):
        with pytest.raises(TypeError, match=r"from_dlpack: dtype float64 .*'strict:no_float64'"):
            xp.from_dlpack(src, device="strict:no_float64")
    ok = xp.from_dlpack(np.zeros(2, np.float32), device="strict:no_float64")
    assert ok.dtype == xp.float32 and str(ok.device) == "strict:no_float64"


def test_from_dlpack_torch():
    torch = pytest.importorskip("torch")
    tt = torch.arange(5, dtype=torch.float32)
    t = xp.from_dlpack(tt)
    assert t.dtype == xp.float32 and t.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    tt[0] = 42.0
    assert t.tolist()[0] == 42.0  # shares memory
    back = torch.from_dlpack(xp.asarray([1.0, 2.0]))
    assert back.tolist() == [1.0, 2.0]


def test_from_dlpack_tensor(device):
    x = xp.asarray([1, 2], device=device)
    assert xp.from_dlpack(x) is x
    y = xp.from_dlpack(x, device="cpu")
    assert y.device == "cpu" and y.tolist() == [1, 2]
