"""pytest plugin: scikit-learn's array-API tests on arraylib (or array_api_strict).

Loaded with ``-p sklearn_plugin`` (conformance/clients on sys.path) before scikit-learn's
test modules are collected, it replaces the generators those modules parametrize with
(``yield_namespaces``, ``yield_namespace_device_dtype_combinations``,
``yield_mixed_namespace_input_permutations``) by ones that yield only the run's backend,
and teaches ``_array_api_for_tests`` arraylib's device.  Select the tests with
``-k "<backend name>"`` (the parameter ids carry it).
"""

import _backend

NAME = _backend.BACKEND


def _device_name():
    return _backend.DEVICE if NAME == "arraylib" else _backend.STRICT_DEVICE


def yield_namespaces(include_numpy_namespaces=True):
    yield NAME


def yield_namespace_device_dtype_combinations(include_numpy_namespaces=True):
    for dtype in _backend.float_dtypes():
        yield NAME, _device_name(), dtype


def yield_mixed_namespace_input_permutations():
    return iter(())  # mixing with torch/cupy inputs is not what these runs test


def _patch():
    import sklearn.utils._array_api as aa
    import sklearn.utils._testing as st

    aa.yield_namespaces = yield_namespaces
    aa.yield_namespace_device_dtype_combinations = yield_namespace_device_dtype_combinations
    if hasattr(aa, "yield_mixed_namespace_input_permutations"):
        aa.yield_mixed_namespace_input_permutations = yield_mixed_namespace_input_permutations
    original = st._array_api_for_tests

    def _array_api_for_tests(array_namespace, device_name=None, dtype_name=None):
        xp, device = original(array_namespace, device_name, dtype_name)
        if array_namespace == "arraylib":
            device = _backend.device_object()
        return xp, device

    st._array_api_for_tests = _array_api_for_tests
    # modules that imported the names already
    import sys
    for mod in list(sys.modules.values()):
        name = getattr(mod, "__name__", "")
        if not name.startswith("sklearn"):
            continue
        for attr, new in (("yield_namespaces", yield_namespaces),
                          ("yield_namespace_device_dtype_combinations",
                           yield_namespace_device_dtype_combinations),
                          ("_array_api_for_tests", _array_api_for_tests)):
            if getattr(mod, attr, None) is not None and mod is not aa and mod is not st:
                setattr(mod, attr, new)


_backend.namespace()
_patch()
