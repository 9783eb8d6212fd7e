"""Type promotion against PyTorch: the standard's table where it has a rule, PyTorch's
(and JAX's) choice where the standard leaves it open (an integer or bool tensor with a
floating tensor gives the floating dtype), float16/bfloat16 as PyTorch."""
import itertools

import numpy as np
import pytest

import arraylib as xp
from arraylib import _dtypes

# dtypes PyTorch computes with (its uint16/32/64 have no arithmetic kernels)
OPS_DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "float16", "bfloat16",
              "float32", "float64", "complex64", "complex128"]
ALL = [d.name for d in _dtypes.all_dtypes]


def _tdt(torch, name):
    return getattr(torch, name)


def _values(name, device, n=3):
    x = xp.asarray([1, 2, 3][:n], device="cpu")
    x = xp.astype(x, xp.bool) if name == "bool" else xp.astype(x, getattr(xp, name))
    return x if device == "cpu" else xp.asarray(x, device=device)


def _on(device, *names):
    """Whether ``device`` holds every dtype in ``names``."""
    supported = xp.Device(device).backend.supported_dtypes()
    return all(getattr(xp, n) in supported for n in names)


def test_table_matches_torch_promote_types(torch):
    """Every pair PyTorch promotes: same dtype as ours, or we have no rule where PyTorch
    pairs bool with an integer (the standard has none)."""
    checked = 0
    for a, b in itertools.product(ALL, ALL):
        try:
            expected = str(torch.promote_types(_tdt(torch, a), _tdt(torch, b))).split(".")[1]
        except RuntimeError:  # PyTorch: no promotion for uint16/32/64 with integers
            continue
        ours = _dtypes.promotion_table.get((getattr(xp, a), getattr(xp, b)))
        if ours is None:
            assert "bool" in (a, b) and {a, b} - {"bool"} <= set(n for n in ALL if "int" in n), \
                (a, b, expected)
            continue
        assert ours.name == expected, (a, b)
        assert xp.result_type(getattr(xp, a), getattr(xp, b)).name == expected
        checked += 1
    assert checked > 150


@pytest.mark.parametrize("dev", ["cpu", "strict:device1", "strict:no_float64"])
def test_tensor_tensor_ops_match_torch(torch, dev):
    for a, b in itertools.product(OPS_DTYPES, OPS_DTYPES):
        if not _on(dev, a, b):
            continue
        expected = torch.promote_types(_tdt(torch, a), _tdt(torch, b))
        if getattr(xp, expected.__str__().split(".")[1]) not in \
                xp.Device(dev).backend.supported_dtypes():
            continue
        x, y = _values(a, dev), _values(b, dev)
        tx, ty = (torch.tensor([1, 2, 3]).to(_tdt(torch, n)) for n in (a, b))
        if "bool" in (a, b) and {a, b} != {"bool"} and not ({a, b} - {"bool"}) & {
                "float16", "bfloat16", "float32", "float64", "complex64", "complex128"}:
            with pytest.raises(TypeError, match="add"):  # bool with an integer: no rule
                xp.add(x, y)
            continue
        if a == b == "bool":
            continue
        for op in ("add", "multiply", "subtract"):
            if op == "subtract" and "bool" in (a, b):
                continue  # PyTorch refuses bool subtraction
            r = getattr(xp, op)(x, y)
            tr = getattr(torch, op)(tx, ty)
            assert str(r.dtype) == str(tr.dtype).split(".")[1], (op, a, b, dev)
            np.testing.assert_array_equal(
                np.asarray(xp.astype(r, xp.complex64 if r.dtype.kind == "c" else xp.float32)
                           .to_device("cpu").tolist()),
                tr.to(torch.complex64 if tr.is_complex() else torch.float32).numpy())


SCALARS = [True, 2, 2.5, 1j]


@pytest.mark.parametrize("dev", ["cpu", "strict:device1"])
@pytest.mark.parametrize("scalar", SCALARS, ids=repr)
def test_tensor_scalar_matches_torch(torch, dev, scalar):
    for a in OPS_DTYPES:
        if not _on(dev, a):
            continue
        if isinstance(scalar, complex) and a in ("float16", "bfloat16"):
            continue  # PyTorch makes complex32 (which arraylib lacks; it gives complex64)
        if a == "bool" and isinstance(scalar, bool):
            continue  # bool + bool: PyTorch adds as logical or
        x = _values(a, dev)
        tx = torch.tensor([1, 2, 3]).to(_tdt(torch, a))
        for r, tr in ((x * scalar, tx * scalar), (scalar * x, scalar * tx),
                      (x + scalar, tx + scalar)):
            assert str(r.dtype) == str(tr.dtype).split(".")[1], (a, scalar, dev)
            assert xp.result_type(x, scalar) == r.dtype


@pytest.mark.parametrize("dev", ["cpu", "strict:device1", "strict:no_float64"])
def test_float32_with_integers_stays_float32(dev):
    f = xp.asarray([1.5, 2.0, 4.0], device=dev)
    i = xp.asarray([2, 3, 1], device=dev)
    assert (f + i).dtype == xp.float32 and (i + f).dtype == xp.float32
    assert (f ** i).dtype == xp.float32
    assert np.allclose((f ** i).to_device("cpu").tolist(), [2.25, 8.0, 4.0])
    assert (f * xp.asarray([True, False, True], device=dev)).dtype == xp.float32
    c = xp.asarray([1j, 2, 3], device=dev)
    assert (xp.astype(i, xp.int32) * c).dtype == xp.complex64
    assert xp.result_type(xp.float32, xp.int64) == xp.float32


def test_half_promotion():
    h = xp.astype(xp.asarray([1.0, 2.0]), xp.float16)
    b = xp.astype(xp.asarray([1.0, 2.0]), xp.bfloat16)
    i = xp.asarray([1, 2])
    assert (h + i).dtype == xp.float16 and (b + i).dtype == xp.bfloat16
    assert (h + b).dtype == xp.float32
    assert (h + xp.asarray([1.0, 2.0])).dtype == xp.float32
    assert (b + xp.asarray([1.0, 2.0], dtype=xp.float64)).dtype == xp.float64
    assert (h * 2.5).dtype == xp.float16 and (b * 2.5).dtype == xp.bfloat16
    assert xp.result_type(xp.float16, xp.bfloat16) == xp.float32


def test_mixed_kind_gradients_flow_back_in_each_dtype():
    f = xp.asarray([1.5, 2.0], requires_grad=True)
    i = xp.asarray([2, 3])
    y = f ** i
    assert y.dtype == xp.float32
    y.sum().backward()
    assert f.grad.dtype == xp.float32
    np.testing.assert_allclose(np.asarray(f.grad.tolist()), [3.0, 12.0], rtol=1e-6)
