#!/usr/bin/env python3
"""Add arraylib as a backend to an array-api-extra source checkout (idempotent).

usage: python conformance/clients/patch_array_api_extra.py CHECKOUT

Adds ``Backend.ARRAYLIB = "arraylib"`` to ``src/array_api_extra/_lib/_backends.py`` and,
in ``tests/main/conftest.py``, a setup step for it: default device from CLIENT_DEVICE
and, where the device has float64, the default float set to float64 (array-api-extra's
tests expect NumPy's defaults from every backend but PyTorch).  Run the tests with
``-k arraylib`` and ``PYTHONPATH=CHECKOUT/src``.  Three tests that spell out each
backend's expected behaviour get arraylib's (see PER_BACKEND).
"""
import sys
from pathlib import Path

BACKEND_OLD = '    ARRAY_API_STRICT = "array_api_strict"\n'
BACKEND_NEW = BACKEND_OLD + '    ARRAYLIB = "arraylib"\n'
CONF_OLD = "    if library.like(Backend.JAX):\n        _setup_jax(library)\n"
CONF_NEW = ("    if library == Backend.ARRAYLIB:\n        _setup_arraylib(xp)\n"
            + CONF_OLD)
SETUP = '''

def _setup_arraylib(xp):  # added by arraylib's conformance/clients
    import os

    device = os.environ.get("CLIENT_DEVICE", "cpu")
    xp.set_default_device(device)
    if "float64" in {str(d) for d in xp.__array_namespace_info__().dtypes(device=device)}:
        xp.set_default_dtype(xp.float64)
'''


def patch(path: Path, old: str, new: str, tail: str = "") -> None:
    text = path.read_text()
    if new in text:
        return
    if old not in text:
        sys.exit(f"patch_array_api_extra: {path}: the expected text is not there "
                 "(array-api-extra changed; update this script)")
    path.write_text(text.replace(old, new, 1) + tail)


# Tests whose expectations are written per backend: arraylib behaves as array_api_strict
# there (refuses a float stored into an integer array, refuses NumPy ufuncs, and has no
# native nunique to delegate to).
PER_BACKEND = [
    ("tests/main/test_at.py", "    elif library.like(Backend.ARRAY_API_STRICT):\n",
     "    elif library.like(Backend.ARRAY_API_STRICT, Backend.ARRAYLIB):\n"),
    ("tests/main/test_testing.py", "    if library.like(Backend.ARRAY_API_STRICT, Backend.JAX):\n",
     "    if library.like(Backend.ARRAY_API_STRICT, Backend.JAX, Backend.ARRAYLIB):\n"),
    ("tests/main/test_set.py", "class TestNUnique:\n",
     "class TestNUnique:\n    @pytest.mark.skip_xp_backend(Backend.ARRAYLIB, "
     "reason=\"array-agnostic fallback\")\n"),
]


def main(argv):
    root = Path(argv[1] if len(argv) > 1 else ".").resolve()
    patch(root / "src/array_api_extra/_lib/_backends.py", BACKEND_OLD, BACKEND_NEW)
    patch(root / "tests/main/conftest.py", CONF_OLD, CONF_NEW, SETUP)
    for rel, old, new in PER_BACKEND:
        patch(root / rel, old, new)
    print(f"patched {root}")


if __name__ == "__main__":
    main(sys.argv)
