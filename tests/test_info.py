"""__array_namespace_info__: capabilities, devices, default and per-device dtypes."""
import pytest

import arraylib as xp


def test_info_capabilities_and_devices():
    info = xp.__array_namespace_info__()
    caps = info.capabilities()
    assert caps["boolean indexing"] is True and caps["data-dependent shapes"] is True
    assert isinstance(caps["max dimensions"], int) and caps["max dimensions"] >= 32
    devs = info.devices()
    assert isinstance(devs, tuple)
    assert xp.Device("cpu") in devs and xp.Device("strict:device1") in devs
    assert "strict:no_float64" in [str(d) for d in devs]
    assert info.default_device() == xp.get_default_device()
    assert "__array_namespace_info__" in xp.__all__


def test_info_default_dtypes(device):
    d = xp.__array_namespace_info__().default_dtypes(device=device)
    assert d == {"real floating": xp.float32, "complex floating": xp.complex64,
                 "integral": xp.int64, "indexing": xp.int64}


def test_info_dtypes(device):
    info = xp.__array_namespace_info__()
    all_ = info.dtypes(device=device)
    assert len(all_) == 13 and all_["float64"] == xp.float64
    assert list(info.dtypes(device=device, kind="signed integer")) == ["int8", "int16", "int32", "int64"]
    assert list(info.dtypes(device=device, kind=("bool", "complex floating"))) == [
        "bool", "complex64", "complex128"]
    assert "bool" not in info.dtypes(device=device, kind="numeric")
    with pytest.raises(ValueError, match="unknown kind"):
        info.dtypes(kind="floating")


def test_info_no_float64():
    info = xp.__array_namespace_info__()
    d = info.dtypes(device="strict:no_float64")
    assert "float64" not in d and "complex128" not in d and "float32" in d
    assert list(info.dtypes(device="strict:no_float64", kind="real floating")) == ["float32"]
