"""The Tensor object: construction, attributes, conversions, repr, in-place rules."""
import math
import pickle

import numpy as np
import pytest

import arraylib as xp
from conftest import assert_close, to_numpy


def test_tensor_constructor_is_pytorchs_legacy_one():
    t = xp.Tensor([1, 2])  # torch.Tensor(data): float32, whatever the data
    assert t.dtype == xp.float32 and t.tolist() == [1.0, 2.0]
    assert xp.Tensor(2, 3).shape == (2, 3)


def test_attributes(device):
    x = xp.zeros((2, 3), dtype=xp.int32, device=device)
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6
    assert x.dtype == xp.int32 and x.dtype == np.int32 and x.dtype.kind == "i"
    assert x.device == device
    assert x.__array_namespace__() is xp
    with pytest.raises(ValueError):
        x.__array_namespace__(api_version="1999.01")


def test_default_dtypes_follow_pytorch():
    assert xp.asarray(1.5).dtype == xp.float32
    assert xp.asarray(3).dtype == xp.int64
    assert xp.asarray(1j).dtype == xp.complex64
    assert xp.asarray([True, False]).dtype == xp.bool
    assert xp.asarray([1, 2.5]).dtype == xp.float32
    assert xp.asarray(np.float64(1.5)).dtype == xp.float64  # arrays keep their dtype


def test_scalar_conversions(device):
    x = xp.asarray(2.5, device=device)
    assert float(x) == 2.5 and int(x) == 2 and complex(x) == 2.5 + 0j and bool(x)
    assert xp.asarray(3, device=device).__index__() == 3
    with pytest.raises(TypeError, match="__index__"):
        x.__index__()
    with pytest.raises(TypeError, match="one element"):
        float(xp.ones(3, device=device))
    with pytest.raises(TypeError, match="complex"):
        float(xp.asarray(1j, device=device))


def test_item_tolist_len_iter(device):
    x = xp.asarray([[1, 2], [3, 4]], device=device)
    assert x.tolist() == [[1, 2], [3, 4]]
    assert len(x) == 2
    assert xp.asarray(7, device=device).item() == 7
    with pytest.raises(TypeError, match="0-d"):
        len(xp.asarray(1.0, device=device))


def test_numpy_interop_cpu():
    x = xp.asarray([1.0, 2.0])
    assert isinstance(np.asarray(x), np.ndarray)
    # NumPy scalars and ufuncs defer to arraylib
    y = np.float32(2.0) * x
    assert isinstance(y, xp.Tensor) and y.dtype == xp.float32


def test_numpy_of_tensor_requiring_grad_points_to_detach():
    x = xp.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0, 1.0]


def test_repr_like_pytorch(device):
    r = repr(xp.asarray([1.0, 2.0], device=device))
    assert r.startswith("tensor([1., 2.]")
    if device != "cpu":
        assert "device='strict:device1'" in r
    assert "dtype=float64" in repr(xp.asarray([1.0], dtype=xp.float64))
    assert "requires_grad=True" in repr(xp.ones(1, requires_grad=True))
    assert "grad_fn=<" in repr(xp.ones(1, requires_grad=True) * 2)


def test_pickle_round_trip(device):
    x = xp.asarray([1.5, -2.0], device=device)
    y = pickle.loads(pickle.dumps(x))
    assert y.device == device
    assert_close(y, x)


def test_python_scalar_operands_take_the_tensor_dtype(device):
    x = xp.ones(3, dtype=xp.float32, device=device)
    assert (x + 1.5).dtype == xp.float32
    assert (2 * x).dtype == xp.float32
    assert (x + 1j).dtype == xp.complex64
    i = xp.ones(3, dtype=xp.int16, device=device)
    assert (i + 2).dtype == xp.int16
    assert (i * 1.5).dtype == xp.float32
    b = xp.asarray([True], device=device)
    assert (b + 1).dtype == xp.int64


def test_mixed_kind_promotion_never_widens_float32(device):
    f = xp.ones(2, dtype=xp.float32, device=device)
    i = xp.ones(2, dtype=xp.int8, device=device)
    assert (f + i).dtype == xp.float32
    assert (xp.ones(2, dtype=xp.uint8, device=device) + xp.ones(2, dtype=xp.int8, device=device)).dtype == xp.int16


def test_inplace_operator_rules(device):
    x = xp.ones(3, dtype=xp.int32, device=device)
    x += 2
    assert to_numpy(x).tolist() == [3, 3, 3]
    with pytest.raises(TypeError, match="dtype"):
        x += 1.5
    y = xp.ones(3, device=device)
    with pytest.raises(ValueError, match="shape"):
        y += xp.ones((2, 3), device=device)


def test_leaf_inplace_requires_no_grad():
    w = xp.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        w -= 1.0
    with xp.no_grad():
        w -= 1.0
    assert w.requires_grad and w.is_leaf
    assert to_numpy(w).tolist() == [0.0, 0.0, 0.0]


def test_version_counter_error():
    a = xp.asarray([1.0, 2.0], requires_grad=True)
    b = a * 1.0
    c = b * b          # saves b
    b += 1.0           # modifies b in place
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        c.backward(xp.ones_like(c))


def test_inplace_on_non_leaf_is_differentiated():
    a = xp.asarray([1.0, 2.0], dtype=xp.float64, requires_grad=True)
    b = a * 3.0
    b *= 2.0
    b += a
    b.backward(xp.ones_like(b))
    assert_close(a.grad, xp.asarray([7.0, 7.0], dtype=xp.float64))


def test_inplace_with_itself_saved_is_refused_like_pytorch():
    a = xp.asarray([1.0, 2.0], dtype=xp.float64, requires_grad=True)
    b = a * 3.0
    b *= b          # multiply saved b, which the update then changes
    with pytest.raises(RuntimeError, match="inplace"):
        b.backward(xp.ones_like(b))


def test_requires_grad_only_for_floats():
    with pytest.raises(RuntimeError, match="floating-point"):
        xp.ones(2, dtype=xp.int64, requires_grad=True)


def test_constants():
    assert xp.pi == math.pi and xp.e == math.e and math.isinf(xp.inf) and math.isnan(xp.nan)
    assert xp.newaxis is None
    assert xp.__array_api_version__ == "2025.12"
