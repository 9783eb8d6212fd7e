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
