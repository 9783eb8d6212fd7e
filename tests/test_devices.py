"""Devices: names, interning, defaults, transfers and mixing errors."""
import pytest

import arraylib as xp
from conftest import assert_close, to_numpy


def test_device_names_are_interned_and_compare_with_strings():
    assert xp.Device("cpu") is xp.Device("cpu:0")
    assert xp.Device("strict:device1") == "strict:device1"
    assert xp.device("cpu") == xp.Device("cpu")
    assert xp.Device("cuda").name == "cuda:0"
    assert hash(xp.Device("cpu")) == hash(xp.Device("cpu"))


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "strict:nowhere", ""])
def test_unknown_device_names(bad):
    with pytest.raises(ValueError, match="unknown device"):
        xp.Device(bad)


def test_device_type_error():
    with pytest.raises(TypeError, match="Device"):
        xp.Device(3.5)


def test_cuda_unavailable_is_a_clear_error():
    if xp._core._devices.cuda_is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        xp.zeros(3, device="cuda")


def test_default_device_round_trip():
    old = xp.get_default_device()
    try:
        xp.set_default_device("strict:device1")
        assert xp.zeros(2).device == "strict:device1"
    finally:
        xp.set_default_device(old)
    assert xp.zeros(2).device == old


def test_mixing_devices_names_both():
    a = xp.ones(3, device="cpu")
    b = xp.ones(3, device="strict:device1")
    with pytest.raises(ValueError, match=r"'cpu'.*'strict:device1'"):
        a + b


def test_to_device_round_trip_and_gradient(device):
    x = xp.asarray([1.0, 2.0, 3.0], dtype=xp.float64, requires_grad=True)
    y = x.to_device(device)
    assert y.device == device
    z = (y * y).to_device("cpu")
    z.backward(xp.ones_like(z))
    assert_close(x.grad, xp.asarray([2.0, 4.0, 6.0], dtype=xp.float64))


def test_strict_device_refuses_host_conversion():
    x = xp.ones(3, device="strict:device1")
    with pytest.raises(RuntimeError, match="strict:device1"):
        x.__array__()
    assert to_numpy(x).tolist() == [1.0, 1.0, 1.0]


def test_no_float64_device():
    with pytest.raises(TypeError, match="float64"):
        xp.zeros(2, dtype=xp.float64, device="strict:no_float64")
    x = xp.ones(2, device="strict:no_float64")
    assert x.dtype == xp.float32
    with pytest.raises(TypeError, match="not supported"):
        xp.astype(x, xp.float64)
