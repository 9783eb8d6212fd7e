"""Data type functions: astype, can_cast, finfo, iinfo, isdtype, result_type."""
import numpy as np
import pytest

import arraylib as xp
from conftest import assert_close
from _fd import check_grads

ALL = [xp.bool, xp.int8, xp.int16, xp.int32, xp.int64, xp.uint8, xp.uint16, xp.uint32, xp.uint64,
       xp.float32, xp.float64, xp.complex64, xp.complex128]


def test_astype(device):
    x = xp.asarray([1.7, -2.2], device=device)
    r = xp.astype(x, xp.int32)
    assert r.dtype == xp.int32 and r.tolist() == [1, -2]
    assert xp.astype(x, xp.float32, copy=False) is x
    y = xp.astype(x, xp.float32)
    assert y is not x and y.tolist() == x.tolist()
    assert xp.astype(x, "float64").dtype == xp.float64
    assert xp.astype(x, np.float64).dtype == xp.float64
    assert xp.astype(x, xp.complex64).dtype == xp.complex64
    assert xp.astype(x, xp.bool).tolist() == [True, True]
    other = "cpu" if device != "cpu" else "strict:device1"
    z = xp.astype(x, xp.float64, device=other)
    assert z.device == other and z.dtype == xp.float64
    with pytest.raises(TypeError, match="astype: can't cast complex"):
        xp.astype(xp.asarray([1j], device=device), xp.float32)
    with pytest.raises(TypeError, match="astype"):
        xp.astype([1.0], xp.float32)
    with pytest.raises(TypeError, match="astype"):
        xp.astype(x, "U5")  # (float16 is supported: test_half.py)


def test_astype_grad(device):
    check_grads(lambda x: xp.astype(x, xp.float32) * 1.0, [np.array([1.0, 2.0])], device,
                rtol=1e-3, atol=1e-3, eps=1e-3, forward=False)
    check_grads(lambda x: xp.astype(x, xp.complex128) * (1 + 2j), [np.array([1.0, 2.0])], device)


@pytest.mark.parametrize("f", ALL)
@pytest.mark.parametrize("t", ALL)
def test_can_cast_matches_promotion(f, t):
    expected = f == t or xp._dtypes.promotion_table.get((f, t)) == t
    assert xp.can_cast(f, t) == expected


def test_can_cast_values(device):
    assert xp.can_cast(xp.int8, xp.int16) and not xp.can_cast(xp.int16, xp.int8)
    assert xp.can_cast(xp.float32, xp.complex64) and not xp.can_cast(xp.float64, xp.complex64)
    assert not xp.can_cast(xp.bool, xp.int8) and not xp.can_cast(xp.int64, xp.uint64)
    assert xp.can_cast(xp.asarray([1], dtype=xp.uint8, device=device), xp.int16)


def test_finfo_iinfo(device):
    for dt, npdt in [(xp.float32, np.float32), (xp.float64, np.float64), (xp.complex64, np.float32),
                     (xp.complex128, np.float64)]:
        for arg in (dt, xp.asarray(1, dtype=dt, device=device)):
            fi = xp.finfo(arg)
            ni = np.finfo(npdt)
            assert fi.bits == ni.bits and fi.dtype == npdt
            for name in ("eps", "max", "min", "smallest_normal"):
                assert isinstance(getattr(fi, name), float)
                assert getattr(fi, name) == float(getattr(ni, name))
    for dt in ALL[1:9]:
        ii = xp.iinfo(dt)
        ni = np.iinfo(dt)
        assert (ii.bits, ii.min, ii.max, ii.dtype) == (ni.bits, ni.min, ni.max, dt)
        assert isinstance(ii.max, int)
    with pytest.raises(TypeError, match="finfo"):
        xp.finfo(xp.int32)
    with pytest.raises(TypeError, match="iinfo"):
        xp.iinfo(xp.float32)


def test_isdtype():
    assert xp.isdtype(xp.int8, "signed integer") and not xp.isdtype(xp.uint8, "signed integer")
    assert xp.isdtype(xp.uint8, "integral") and xp.isdtype(xp.complex64, "numeric")
    assert xp.isdtype(xp.float32, ("bool", "real floating")) and not xp.isdtype(xp.bool, "numeric")
    assert xp.isdtype(xp.float32, xp.float32) and not xp.isdtype(xp.float32, xp.float64)
    assert xp.isdtype(np.float64, "real floating")
    assert xp.isdtype(xp.complex128, ("complex floating", xp.int8))
    with pytest.raises(ValueError, match="isdtype: unknown kind"):
        xp.isdtype(xp.int8, "integer")
    with pytest.raises(TypeError, match="isdtype"):
        xp.isdtype(xp.asarray(1), "integral")
    with pytest.raises(TypeError, match="isdtype"):
        xp.isdtype(xp.int8, 3)


def test_result_type(device):
    assert xp.result_type(xp.int8, xp.int16) == xp.int16
    assert xp.result_type(xp.uint8, xp.int8) == xp.int16
    assert xp.result_type(xp.float32, xp.complex64, xp.float64) == xp.complex128
    assert xp.result_type(xp.asarray([1], dtype=xp.int32, device=device), xp.int8) == xp.int32
    assert xp.result_type(xp.int8, 1) == xp.int8
    assert xp.result_type(xp.float32, 1.0, 2) == xp.float32
    assert xp.result_type(xp.bool, True) == xp.bool
    assert xp.result_type(xp.float32, 1j) == xp.complex64
    assert xp.result_type(xp.float64, 1j) == xp.complex128
    assert xp.result_type(1, xp.uint16) == xp.uint16
    assert xp.result_type(xp.int16) == xp.int16
    with pytest.raises(TypeError, match="result_type"):
        xp.result_type(xp.bool, xp.int8)
    with pytest.raises(TypeError, match="result_type"):
        xp.result_type(xp.int64, xp.uint64)
    with pytest.raises(ValueError, match="result_type"):
        xp.result_type(1, 2.0)
