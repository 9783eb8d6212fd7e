"""10,000 forward/backward iterations keep resident memory flat."""
import gc
import sys

import pytest

import arraylib as xp


def _rss_mb():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20
    except OSError:
        pytest.skip("no /proc/self/statm")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_rss_flat_over_10000_iterations():
    x1 = xp.asarray([2.0] * 64, dtype=xp.float64, requires_grad=True)
    x2 = xp.asarray([5.0] * 64, dtype=xp.float64, requires_grad=True)
    g = xp.ones_like(x1)

    def step():
        y = xp.log(x1) + x1 * x2 - xp.sin(x2)
        y.backward(g)
        x1.grad = None
        x2.grad = None

    for _ in range(500):
        step()
    gc.collect()
    before = _rss_mb()
    for _ in range(10_000):
        step()
    gc.collect()
    after = _rss_mb()
    assert after - before < 20, f"RSS grew from {before:.1f} MB to {after:.1f} MB"


def _cpu_backend():
    from arraylib._backends import numpy_backend
    return numpy_backend()


@pytest.mark.skipif(not _cpu_backend().malloc_tuned, reason="glibc's malloc is not in use")
def test_freed_temporaries_are_reused_without_page_faults():
    """A step that allocates and frees large temporaries reuses the memory next step
    instead of faulting every page in again (the NumPy backend fixes glibc's thresholds)."""
    import resource

    import numpy as np

    def step():
        blocks = [np.ones(1 << 20, dtype=np.float32) for _ in range(8)]  # 8 x 4 MiB, written
        del blocks

    step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 8192, f"{faults} page faults for 10 steps of 32 MiB (one step: 8192 pages)"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning is Linux-only")
def test_malloc_tuning_can_be_turned_off():
    import os
    import subprocess
    code = "from arraylib._backends import numpy_backend; print(numpy_backend().malloc_tuned)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "ARRAYLIB_MALLOC_TUNING": "0"})
    assert out.stdout.strip() == "False"
