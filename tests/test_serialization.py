"""arraylib.save / arraylib.load: safetensors files (``.safetensors`` paths), interoperable
with PyTorch, safe.  PyTorch's own format is tested in test_torch_checkpoints.py."""
from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn as nn
import arraylib.nn.functional as F
from conftest import to_numpy


def _net(m, Fm):
    class Net(m.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = m.Conv2d(3, 6, 5)
            self.bn = m.BatchNorm2d(6)
            self.fc = m.Linear(6, 2)

        def forward(self, x):
            return self.fc(Fm.relu(self.bn(self.conv1(x))).mean((2, 3)))

    return Net()


def test_round_trip_dtypes(tmp_path, device):
    rng = np.random.default_rng(0)
    sd = {
        "a.weight": xp.asarray(rng.standard_normal((3, 4)).astype(np.float32), device=device),
        "b": xp.asarray(rng.standard_normal((2, 0, 3)), device=device),
        "c": xp.asarray(rng.integers(-5, 5, (5,)), device=device),
        "d": xp.asarray(np.array([True, False]), device=device),
        "e": xp.asarray(np.uint8(7), device=device),
        "f": xp.asarray(rng.integers(0, 9, (2, 2)).astype(np.int32), device=device),
    }
    path = tmp_path / "m.safetensors"
    xp.save(sd, path)
    back = xp.load(path, device=device)
    assert list(back) == list(sd)
    for k in sd:
        assert back[k].dtype == sd[k].dtype and back[k].shape == sd[k].shape
        assert back[k].device == xp.Device(device)
        np.testing.assert_array_equal(to_numpy(back[k]), to_numpy(sd[k]))
    buf = io.BytesIO()
    xp.save(sd, buf, metadata={"note": "hi"})
    buf.seek(0)
    assert list(xp.load(buf)) == list(sd)


def test_round_trip_through_torch_is_bit_identical(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    net = _net(nn, F)
    net(xp.randn(2, 3, 8, 8))  # move the BatchNorm running stats away from their defaults
    p1, p2 = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    xp.save(net.state_dict(), p1)
    tnet = _net(torch.nn, torch.nn.functional)
    tnet.load_state_dict(st.load_file(str(p1)))        # arraylib file -> torch module
    st.save_file(tnet.state_dict(), str(p2))           # torch module -> file
    net2 = _net(nn, F)
    net2.load_state_dict(xp.load(p2))                  # file -> arraylib
    for (k, v), (k2, v2) in zip(net.state_dict().items(), net2.state_dict().items()):
        assert k == k2 and v.dtype == v2.dtype
        assert to_numpy(v).tobytes() == to_numpy(v2).tobytes(), k
    for k, v in tnet.state_dict().items():
        assert v.numpy().tobytes() == to_numpy(net.state_dict()[k]).tobytes()


def _write(path, header, data=b""):
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def test_corrupt_files(tmp_path):
    p = tmp_path / "x.safetensors"
    p.write_bytes(b"abc")
    with pytest.raises(ValueError, match="too short"):
        xp.load(p)
    p.write_bytes(struct.pack("<Q", 10 ** 6) + b"{}")
    with pytest.raises(ValueError, match="header length"):
        xp.load(p)
    p.write_bytes(struct.pack("<Q", 4) + b"{{{{")
    with pytest.raises(ValueError, match="JSON"):
        xp.load(p)
    _write(p, {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, b"\0" * 12)
    with pytest.raises(ValueError, match="truncated"):
        xp.load(p)
    _write(p, {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}}, b"\0" * 12)
    with pytest.raises(ValueError, match="needs 16 bytes"):
        xp.load(p)
    _write(p, {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
               "v": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}}, b"\0" * 6)
    with pytest.raises(ValueError, match="overlap"):
        xp.load(p)
    _write(p, {"w": {"dtype": "F8_E5M2", "shape": [1], "data_offsets": [0, 1]}}, b"\0")
    with pytest.raises(TypeError, match="F8_E5M2"):
        xp.load(p)
    _write(p, {"w": {"dtype": "F32", "shape": "x", "data_offsets": [0, 4]}}, b"\0" * 4)
    with pytest.raises(ValueError, match="malformed"):
        xp.load(p)
    _write(p, {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8)
    with pytest.raises(ValueError, match="trailing"):
        xp.load(p)
    with pytest.raises(FileNotFoundError):
        xp.load(tmp_path / "missing.safetensors")


def test_format_follows_the_bytes_not_the_name(tmp_path):
    """A safetensors file under a .pt name and a PyTorch file under a .safetensors name both
    load: the format is read from the file's first bytes."""
    sd = {"w": xp.arange(3.0)}
    st = tmp_path / "m.safetensors"
    xp.save(sd, st)
    assert st.read_bytes()[8:9] == b"{"
    renamed = tmp_path / "m.pt"
    st.rename(renamed)
    np.testing.assert_array_equal(to_numpy(xp.load(renamed)["w"]), [0.0, 1.0, 2.0])
    pt = tmp_path / "n.pt"
    xp.save(sd, pt)
    assert pt.read_bytes()[:4] == b"PK\x03\x04"
    pt.rename(tmp_path / "n.safetensors")
    np.testing.assert_array_equal(to_numpy(xp.load(tmp_path / "n.safetensors")["w"]), [0, 1, 2])


def test_save_errors(tmp_path):
    with pytest.raises(TypeError, match="state_dict"):
        xp.save(nn.Linear(2, 2), tmp_path / "a")
    with pytest.raises(TypeError, match="state_dict"):
        xp.save(nn.Linear(2, 2), tmp_path / "a.safetensors")
    with pytest.raises(TypeError, match="not a Tensor"):
        xp.save({"a": 1}, tmp_path / "a.safetensors")
    with pytest.raises(TypeError, match="strings"):
        xp.save({1: xp.ones(1)}, tmp_path / "a.safetensors")
    with pytest.raises(TypeError, match="flat dict"):
        xp.save([xp.ones(1)], tmp_path / "a.safetensors")
    assert not list(tmp_path.iterdir())


def test_mismatched_state_dict(tmp_path):
    p = tmp_path / "m.safetensors"
    xp.save(nn.Linear(3, 2).state_dict(), p)
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        nn.Linear(4, 2).load_state_dict(xp.load(p))
    with pytest.raises(RuntimeError, match='Missing key.*"0.weight"'):
        nn.Sequential(nn.Linear(3, 2)).load_state_dict(xp.load(p))
