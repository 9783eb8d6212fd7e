"""pytest plugin: SciPy's array-API tests (the ``xp`` fixture) on arraylib or array_api_strict.

Load with ``-p scipy_plugin`` and ``SCIPY_ARRAY_API=1``.  Before SciPy's conftest
parametrizes its ``xp`` fixture, the fixture's parameters are replaced by the run's one
backend (id ``arraylib`` or ``array_api_strict``), so ``-m array_api_backends`` selects
exactly the tests SciPy runs on every namespace (arraylib set up by ``_backend``).
SciPy's ``devices`` fixture is adapted to the 2025.12 ``devices()`` (a tuple).
"""
import sys

import pytest

import _backend

_done = []


def _param():
    xp = _backend.namespace()
    return pytest.param(xp, id=_backend.BACKEND, marks=pytest.mark.array_api_backends)


def _register(conftest):
    """Make SciPy's skip/xfail markers know arraylib: they key on backend names
    (``np_only``: every known backend but numpy; ``cpu_only``: the backends on a
    non-CPU device, as SciPy's conftest adds torch for SCIPY_DEVICE=cuda)."""
    conftest.xp_known_backends.add("arraylib")
    if _backend.BACKEND == "arraylib" and _backend.DEVICE != "cpu":
        conftest.xp_skip_cpu_only_backends.add("arraylib")


def _devices(xp):
    """SciPy's ``devices`` fixture, for 2025.12's ``devices()``: it returns a tuple
    (a list before), and the fixture's ``devices() + [None]`` raises TypeError.  Only
    the run's device, for both backends: each device has its own run (arraylib's strict:*
    devices are emulated accelerators, no host conversion and no mixing; both libraries
    have devices without float64 or int64), as SciPy runs torch on one SCIPY_DEVICE."""
    return [_backend.device_object(), None]


def _patch_devices_fixture(metafunc):
    defs = metafunc._arg2fixturedefs.get("devices")
    if defs and not getattr(defs[-1], "_arraylib_client", False):
        defs[-1].func = _devices
        defs[-1]._arraylib_client = True


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc):
    if "devices" in metafunc.fixturenames:
        _patch_devices_fixture(metafunc)
    defs = metafunc._arg2fixturedefs.get("xp") if "xp" in metafunc.fixturenames else None
    if not defs:
        return
    fixturedef = defs[-1]
    if getattr(fixturedef, "_arraylib_client", False):
        return
    _register(sys.modules[fixturedef.func.__module__])
    fixturedef.params = (_param(),)
    fixturedef.ids = None
    fixturedef._arraylib_client = True


# Tests that encode a NumPy-only assumption, xfailed for arraylib (strict: an unexpected
# pass fails the run).  Causes in README.md.
CLIENT_ASSUMPTIONS = {
    "test_support_alternative_backends_mismatched_dtypes[arraylib-xlogy]":
        "NumPy's int64 with float32 -> float64; arraylib gives float32, as PyTorch, "
        "which the test excepts",
    "test_support_alternative_backends_mismatched_dtypes[arraylib-rel_entr]":
        "NumPy's int64 with float32 -> float64; arraylib gives float32, as PyTorch, "
        "which the test excepts",
    "TestFiltFilt::test_sine[arraylib]": "the test calls np.abs on the namespace's array",
    "TestSOSFiltFilt::test_sine[arraylib]": "the test calls np.abs on the namespace's array",
}


def pytest_collection_modifyitems(items):
    if _backend.BACKEND != "arraylib":
        return
    for item in items:
        for tail, reason in CLIENT_ASSUMPTIONS.items():
            if item.nodeid.endswith(tail):
                item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
