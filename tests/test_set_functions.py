"""Set functions: unique_* (NaN distinct, int64 indices, inverse shape) and isin."""
from __future__ import annotations

import numpy as np
import pytest

import arraylib as xp
from conftest import assert_close, to_numpy


def _t(a, device, **kw):
    return xp.asarray(np.asarray(a), device=device, **kw)


A = np.array([[3.0, 1.0, np.nan], [1.0, np.nan, 2.0]])


def test_unique_all(device):
    x = _t(A, device)
    r = xp.unique_all(x)
    assert r._fields == ("values", "indices", "inverse_indices", "counts")
    assert_close(r.values, np.array([1.0, 2.0, 3.0, np.nan, np.nan]))
    assert r.indices.dtype == xp.int64 and r.inverse_indices.dtype == xp.int64
    assert r.counts.dtype == xp.int64
    assert_close(r.indices, np.array([1, 5, 0, 2, 4]))
    assert r.inverse_indices.shape == x.shape
    assert_close(r.inverse_indices, np.array([[2, 0, 3], [0, 4, 1]]))
    assert_close(r.counts, np.array([2, 1, 1, 1, 1]))
    assert all(t.device == device for t in r)
    # reconstruction: values[inverse] == x (NaN aside)
    back = to_numpy(r.values)[to_numpy(r.inverse_indices)]
    np.testing.assert_array_equal(back, A)


def test_unique_counts_inverse_values(device):
    a = np.array([5, 3, 5, 5, 0, 3], dtype=np.int16)
    x = _t(a, device)
    vals, counts = xp.unique_counts(x)
    assert vals.dtype == xp.int16
    assert_close(vals, np.array([0, 3, 5], np.int16))
    assert_close(counts, np.array([1, 2, 3]))
    r = xp.unique_inverse(x)
    assert_close(r.values, np.array([0, 3, 5], np.int16))
    assert_close(r.inverse_indices, np.array([2, 1, 2, 2, 0, 1]))
    assert_close(xp.unique_values(x), np.array([0, 3, 5], np.int16))
    u = xp.unique_values(_t(A, device))
    assert int(xp.sum(xp.astype(xp.isnan(u), xp.int64))) == 2


def test_unique_edge_cases(device):
    s = _t(np.float32(4.0), device)
    r = xp.unique_all(s)
    assert r.values.shape == (1,) and r.inverse_indices.shape == ()
    e = _t(np.zeros((0, 2)), device)
    r = xp.unique_all(e)
    assert r.values.shape == (0,) and r.inverse_indices.shape == (0, 2)
    b = _t(np.array([True, False, True]), device)
    assert_close(xp.unique_values(b), np.array([False, True]))
    x = _t(np.array([1.0, 2.0]), device, requires_grad=True)
    assert not xp.unique_values(x).requires_grad
    with pytest.raises(TypeError, match="unique_values"):
        xp.unique_values([1, 2])


def test_isin(device):
    a = np.array([[1, 5, 3], [7, 1, 0]], np.int32)
    b = np.array([1, 0, 9], np.int64)
    x1, x2 = _t(a, device), _t(b, device)
    out = xp.isin(x1, x2)
    assert out.dtype == xp.bool and out.shape == x1.shape
    assert_close(out, np.isin(a, b))
    assert_close(xp.isin(x1, x2, invert=True), np.isin(a, b, invert=True))
    # Python scalars on either side
    assert_close(xp.isin(x1, 5), a == 5)
    r = xp.isin(7, x1)
    assert r.shape == () and bool(r)
    assert not bool(xp.isin(8, x1))
    # floats: NaN is in nothing
    f = _t(np.array([np.nan, 1.5, 2.0]), device)
    assert_close(xp.isin(f, _t(np.array([np.nan, 2.0]), device)), np.array([False, False, True]))
    # empty
    assert xp.isin(_t(np.zeros(0, np.int64), device), x2).shape == (0,)
    assert_close(xp.isin(x1, _t(np.zeros(0, np.int64), device)), np.zeros((2, 3), bool))


def test_isin_errors(device):
    x = _t(np.array([1, 2]), device)
    with pytest.raises(TypeError, match="isin"):
        xp.isin(1, 2)
    other = "strict:device2" if device.name != "strict:device2" else "cpu"
    with pytest.raises(ValueError, match=f"'{device}'.*'{other}'"):
        xp.isin(x, xp.asarray([1], device=other))
