"""The NumPy backend's direct calls (NumPy's Python-level functions skipped) give NumPy's
and array-api-compat's results: values, dtypes, strides, read-only views, errors."""
import numpy as np
import pytest

import arraylib as xp

B = xp.asarray(1.0)._device._backend


@pytest.mark.parametrize("src,shape", [((3, 1), (2, 3, 4)), ((1,), (5,)), ((), (2, 3)),
                                       ((4,), (3, 4)), ((2, 1, 3), (2, 5, 3)), ((3,), (0, 3)),
                                       ((1, 3), (0, 3))])
def test_broadcast_to_is_numpys_view(src, shape):
    x = np.random.default_rng(0).random(src).astype(np.float32)
    got, want = B.broadcast_to(x, shape), np.broadcast_to(x, shape)
    assert got.shape == want.shape and got.strides == want.strides
    np.testing.assert_array_equal(got, want)
    assert not got.flags.writeable
    assert got.size == 0 or np.shares_memory(got, x)


def test_broadcast_to_non_contiguous_and_errors():
    x = np.arange(12.0).reshape(4, 3).T
    np.testing.assert_array_equal(B.broadcast_to(x, (2, 3, 4)), np.broadcast_to(x, (2, 3, 4)))
    for src, shape in [((3,), (4,)), ((2, 3), (3,)), ((3,), (-1, 3))]:
        with pytest.raises(ValueError):
            np.broadcast_to(np.ones(src), shape)
        with pytest.raises(ValueError):
            B.broadcast_to(np.ones(src), shape)


@pytest.mark.parametrize("dtype,value", [(np.float32, 1.5), (np.int32, 7), (np.bool_, True),
                                         (np.complex64, 1 + 2j), (np.float64, float("nan")),
                                         (np.float32, np.array([1, 2, 3]))])
def test_full_is_numpys(dtype, value):
    got, want = B.full((2, 3), value, dtype=np.dtype(dtype)), np.full((2, 3), value, dtype=dtype)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_sign_and_argsort_are_compats():
    for x in [np.array([-2.0, 0.0, 3.0, np.nan, -0.0]), np.array([-3, 0, 5], np.int8),
              np.array([1 + 1j, 0j, -2j])]:
        with np.errstate(invalid="ignore"):
            got, want = B.sign(x), B.xp.sign(x)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    x = np.random.default_rng(1).integers(0, 5, (6, 7)).astype(np.float32)
    for axis in (0, 1, -1):
        for descending in (False, True):
            np.testing.assert_array_equal(
                B.argsort(x, axis=axis, descending=descending, stable=True),
                B.xp.argsort(x, axis=axis, descending=descending, stable=True))
