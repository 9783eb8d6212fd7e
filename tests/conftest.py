"""Shared fixtures: the device matrix and host-side comparison helpers."""
from __future__ import annotations

import os

# Client libraries read this at import: SciPy's array-API paths (and scikit-learn's
# array_api_dispatch, which needs them) must see it before anything imports scipy.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import threadpoolctl  # noqa: E402

import arraylib as xp  # noqa: E402
from arraylib._backends import _numpy as numpy_backend  # noqa: E402

DEVICES = ["cpu", "strict:device1"]
if os.environ.get("ARRAYLIB_TEST_CUDA") and xp._core._devices.cuda_is_available():
    DEVICES.append("cuda")


@pytest.fixture(params=DEVICES)
def device(request):
    """Run the test on each device of the matrix (cpu, an emulated device, cuda if asked)."""
    return xp.Device(request.param)


@pytest.fixture
def chunked(monkeypatch):
    """Every kernel call with work at all is split among threads (tiny inputs too), at
    2 BLAS threads."""
    monkeypatch.setattr(numpy_backend, "CHUNK_MIN_WORK", 1)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        yield


def spy_chunks(monkeypatch):
    """The number of ranges of each ``run_chunks`` call of the CPU backend, as a list."""
    B, counts = xp.Device("cpu").backend, []
    run = B.run_chunks

    def spy(fn, bounds):
        counts.append(len(bounds))
        return run(fn, bounds)
    monkeypatch.setattr(B, "run_chunks", spy)
    return counts


def serial_blas():
    """BLAS at one thread: ``run_chunks`` and the chunked kernels take their serial path."""
    return threadpoolctl.threadpool_limits(1, user_api="blas")


@pytest.fixture
def torch():
    """PyTorch, the reference of the comparison tests; only the tests that ask for it skip
    where it is not installed (or cannot be imported)."""
    return pytest.importorskip("torch", exc_type=ImportError)


def to_numpy(t) -> np.ndarray:
    """Host copy of a tensor's values, whatever its device (tests only)."""
    t = t.detach() if isinstance(t, xp.Tensor) else t
    if isinstance(t, xp.Tensor):
        return np.asarray(t.to_device("cpu").numpy())
    return np.asarray(t)


def assert_close(actual, expected, rtol=1e-6, atol=1e-8, check_dtype=True):
    """Compare a tensor with expected values (a tensor or anything NumPy reads)."""
    a = to_numpy(actual)
    e = to_numpy(expected)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    if check_dtype and isinstance(expected, xp.Tensor):
        assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != {expected.dtype}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
