"""In-place operators: a real in-place storage update when nothing is recorded, the
recorded path otherwise; both give the out-of-place result."""
import numpy as np
import pytest

import arraylib as xp


def _t(device, values, dtype=xp.float32):
    return xp.asarray(values, dtype=dtype, device=device)


@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/="])
def test_inplace_matches_out_of_place_and_writes_through_views(device, op):
    x = _t(device, [1.0, 2.0, 3.0, 4.0])
    y = _t(device, [0.5, -1.0, 2.0, 4.0])
    expected = eval(f"x {op[0]} y")
    view = x[1:3]
    before = x._version
    storage = x._data
    exec(f"x {op} y")
    assert x._data is storage                       # updated in place
    assert x._version == before + 1                 # views and saved tensors notice
    np.testing.assert_array_equal(x.to_device("cpu").numpy(), expected.to_device("cpu").numpy())
    np.testing.assert_array_equal(view.to_device("cpu").numpy(),
                                  expected.to_device("cpu").numpy()[1:3])


def test_overlapping_operands_give_the_out_of_place_result(device):
    a = xp.arange(6, dtype=xp.float32, device=device)
    a[1:] += a[:-1]
    np.testing.assert_array_equal(a.to_device("cpu").numpy(), [0, 1, 3, 5, 7, 9])


def test_python_scalars_and_integer_tensors(device):
    x = _t(device, [1, 2, 3], dtype=xp.int32)
    x += 5
    x *= 2
    assert x.dtype == xp.int32
    np.testing.assert_array_equal(x.to_device("cpu").numpy(), [12, 14, 16])
    with pytest.raises(OverflowError, match="out of bounds"):
        x += 2 ** 40
    with pytest.raises(TypeError):
        x /= 2                                       # true division makes floats
    f = _t(device, [1.0, 2.0])
    f -= 1
    f /= 2.0
    np.testing.assert_array_equal(f.to_device("cpu").numpy(), [0.0, 0.5])


def test_dtype_or_shape_changes_still_refused(device):
    x = _t(device, [1.0, 2.0])
    with pytest.raises((TypeError, ValueError)):
        x += _t(device, [1.0, 2.0], dtype=xp.complex64)
    with pytest.raises(ValueError):
        x += _t(device, [[1.0, 2.0], [3.0, 4.0]])


def test_a_saved_tensor_modified_under_no_grad_is_refused(device):
    w = _t(device, [1.0, 2.0]).requires_grad_()
    h = w * 1.0
    y = (h * h).sum()                                # saves h
    with xp.no_grad():
        h += 1.0                                     # the storage path
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_recorded_inplace_keeps_the_gradient(device):
    w = _t(device, [1.0, 2.0]).requires_grad_()
    y = w * 3.0
    y += w                                           # recorded: d/dw = 3 + 1
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.to_device("cpu").numpy(), [4.0, 4.0])


def test_optimizer_update_on_parameters_runs_in_place(device):
    p = xp.nn.Parameter(_t(device, [1.0, 2.0]))
    storage = p._data
    p.grad = _t(device, [0.5, 0.5])
    xp.optim.SGD([p], lr=0.1).step()
    assert p._data is storage
    np.testing.assert_allclose(p.detach().to_device("cpu").numpy(), [0.95, 1.95], rtol=1e-6)
