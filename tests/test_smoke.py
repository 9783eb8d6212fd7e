import arraylib as xp
from conftest import assert_close


def test_seed_gradients(device):
    x1 = xp.asarray(2.0, dtype=xp.float64, device=device, requires_grad=True)
    x2 = xp.asarray(5.0, dtype=xp.float64, device=device, requires_grad=True)
    y = xp.log(x1) + x1 * x2 - xp.sin(x2)
    y.backward()
    assert_close(x1.grad, xp.asarray(0.5 + 5.0, dtype=xp.float64))
    import math
    assert_close(x2.grad, xp.asarray(2.0 - math.cos(5.0), dtype=xp.float64))
