"""Checkpoints in PyTorch's own format (issue 15, item 4).

``arraylib.save`` writes what ``torch.load(f, weights_only=True)`` reads and ``arraylib.load``
reads what ``torch.save`` writes (zip and legacy formats): nested checkpoints, every dtype,
views, shared storage, Parameters, bit for bit.  Loading never runs code: the payloads of
PyTorch's own weights_only tests are refused without a side effect.
"""
from __future__ import annotations

import io
import math
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn as nn
from conftest import to_numpy

_DTYPES = ["float32", "float64", "float16", "bfloat16", "int8", "int16", "int32", "int64",
           "uint8", "uint16", "uint32", "uint64", "bool", "complex64", "complex128"]
_LEGACY_TORCH_CANNOT = ("uint16", "uint32", "uint64")  # torch's legacy loader fails on these


def _have(name):
    return getattr(xp, name, None) is not None


def _values(name, shape, seed=0):
    """Host values of dtype ``name`` (NaN, inf and -0.0 included for floats)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    if name == "bool":
        return (rng.integers(0, 2, n) == 1).reshape(shape)
    if name.startswith(("int", "uint")):
        info = np.iinfo(name)
        return rng.integers(info.min, info.max, n, dtype=name, endpoint=True).reshape(shape)
    base = rng.standard_normal(n) * 100
    if n >= 3:
        base[:3] = [np.nan, np.inf, -0.0]
    if name.startswith("complex"):
        return (base + 1j * rng.standard_normal(n)).astype(name).reshape(shape)
    if name == "bfloat16":
        import ml_dtypes
        return base.astype(ml_dtypes.bfloat16).reshape(shape)
    return base.astype(name).reshape(shape)


def _xt(name, shape, seed=0):
    return xp.asarray(_values(name, shape, seed))


def _torch_bytes(t):
    return t.detach().contiguous().reshape(-1).view(__import__("torch").uint8).numpy().tobytes()


def _bytes(t):
    return np.ascontiguousarray(to_numpy(t)).tobytes()


def _same(a, tt):
    """arraylib tensor ``a`` and torch tensor ``tt``: same dtype name, shape and bytes."""
    assert tuple(a.shape) == tuple(tt.shape)
    assert str(tt.dtype) == f"torch.{a.dtype.name}"
    assert _bytes(a) == _torch_bytes(tt)


def _xp_checkpoint():
    """A training-script checkpoint: nested, every dtype, views, shared storage, 0-d, empty."""
    tensors = {name: _xt(name, (3, 4), i) for i, name in enumerate(_DTYPES) if _have(name)}
    base = _xt("float32", (4, 6), 99)
    model = OrderedDict([("w", base), ("w_tied", base), ("row", base[1]), ("cols", base[:, 1:5:2]),
                         ("t", base.T), ("scalar", xp.asarray(2.5)),
                         ("empty", xp.zeros((0, 3))), ("big", xp.arange(100000.0))])
    return {
        "model": model, "dtypes": tensors,
        "optimizer": {"state": {0: {"step": 3, "exp_avg": xp.ones((2, 2))}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8,
                                        "amsgrad": False, "params": [0], "foreach": None}]},
        "iter_num": 2 ** 40, "neg": -7, "huge": 10 ** 30, "best_val_loss": 1.2345678901234567,
        "nan": math.nan, "config": {"n_layer": 4, "name": "gpt-π", "bias": True, "tags": ["a"],
                                    "z": 1 + 2j, "set": {1, 2}, "raw": b"\x00\xff", "dtype":
                                    xp.float32},
        "list": [xp.ones(2), (xp.zeros(1), None)],
    }


def _check_in_torch(ck, tck):
    torch = __import__("torch")
    for k, v in ck["model"].items():
        _same(v, tck["model"][k])
    for k, v in ck["dtypes"].items():
        _same(v, tck["dtypes"][k])
    m = tck["model"]
    assert isinstance(m, OrderedDict) and list(m) == list(ck["model"])
    assert m["w"] is m["w_tied"]  # one tensor pickled once stays one object
    ptr = m["w"].untyped_storage().data_ptr()  # views of one array: one storage, as PyTorch
    assert all(m[k].untyped_storage().data_ptr() == ptr for k in ("row", "cols", "t"))
    assert m["cols"].stride() == (6, 2) and m["t"].stride() == (1, 6)
    assert m["scalar"].shape == () and m["empty"].shape == (0, 3)
    assert tck["iter_num"] == 2 ** 40 and tck["neg"] == -7 and tck["huge"] == 10 ** 30
    assert tck["best_val_loss"] == 1.2345678901234567 and math.isnan(tck["nan"])
    cfg = tck["config"]
    assert cfg["name"] == "gpt-π" and cfg["bias"] is True and cfg["z"] == 1 + 2j
    assert cfg["set"] == {1, 2} and cfg["raw"] == b"\x00\xff" and cfg["dtype"] is torch.float32
    assert tck["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert tck["optimizer"]["state"][0]["step"] == 3
    assert isinstance(tck["list"][1], tuple) and tck["list"][1][1] is None


@pytest.mark.parametrize("legacy", [False, True])
def test_arraylib_checkpoint_loads_in_torch(tmp_path, torch, legacy):
    ck = _xp_checkpoint()
    if legacy:
        ck["dtypes"] = {k: v for k, v in ck["dtypes"].items() if k not in _LEGACY_TORCH_CANNOT}
    path = tmp_path / "ckpt.pt"
    xp.save(ck, path, _use_new_zipfile_serialization=not legacy)
    assert zipfile.is_zipfile(path) is not legacy
    _check_in_torch(ck, torch.load(path, weights_only=True))
    # and back: torch writes it again, arraylib reads it bit for bit
    again = tmp_path / "again.pt"
    torch.save(torch.load(path, weights_only=True), again,
               _use_new_zipfile_serialization=not legacy)
    back = xp.load(again)
    for k, v in ck["dtypes"].items():
        assert back["dtypes"][k].dtype == v.dtype and _bytes(back["dtypes"][k]) == _bytes(v), k
    for k, v in ck["model"].items():
        assert _bytes(back["model"][k]) == _bytes(v), k


@pytest.mark.parametrize("legacy", [False, True])
def test_arraylib_round_trip(legacy):
    ck = _xp_checkpoint()
    buf = io.BytesIO()
    xp.save(ck, buf, _use_new_zipfile_serialization=not legacy)
    buf.seek(0)
    back = xp.load(buf)
    for group in ("model", "dtypes"):
        assert list(back[group]) == list(ck[group])
        for k, v in ck[group].items():
            b = back[group][k]
            assert b.dtype == v.dtype and b.shape == v.shape and not b.requires_grad, k
            assert _bytes(b) == _bytes(v), k
    assert type(back["model"]) is OrderedDict
    assert back["model"]["w"] is back["model"]["w_tied"]
    assert back["config"]["dtype"] == xp.float32 and back["config"]["set"] == {1, 2}
    assert back["config"]["z"] == 1 + 2j and back["config"]["raw"] == b"\x00\xff"
    assert back["optimizer"] == {**ck["optimizer"], "state": {0: {
        "step": 3, "exp_avg": back["optimizer"]["state"][0]["exp_avg"]}}}
    assert back["iter_num"] == 2 ** 40 and back["huge"] == 10 ** 30 and math.isnan(back["nan"])
    # loaded tensors never alias: writing one view leaves the others alone
    row = back["model"]["row"]
    row[0] = 1234.0
    assert float(back["model"]["w"][1, 0]) != 1234.0


def _torch_checkpoint(torch):
    g = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=g)
    dtypes = {}
    for i, name in enumerate(_DTYPES):
        if not _have(name):
            continue
        v = _values(name, (3, 4), i)
        dtypes[name] = torch.from_numpy(v.view(np.uint16)).view(torch.bfloat16) \
            if name == "bfloat16" else torch.from_numpy(v)
    p = torch.nn.Parameter(torch.randn(3, generator=g))
    return {"model": OrderedDict([("w", base), ("row", base[1]), ("cols", base[:, 1:5:2]),
                                  ("t", base.t()), ("expanded", torch.ones(3, 1).expand(3, 4)),
                                  ("scalar", torch.tensor(2.5)), ("empty", torch.zeros(0, 3))]),
            "dtypes": dtypes, "param": p, "grad": torch.ones(2, requires_grad=True),
            "step": torch.tensor(7.0), "config": {"lr": 3e-4, "betas": (0.9, 0.95),
                                                   "device": torch.device("cpu"),
                                                   "size": torch.Size([2, 3]),
                                                   "dtype": torch.bfloat16}}


@pytest.mark.parametrize("legacy", [False, True])
def test_torch_checkpoint_loads_in_arraylib(tmp_path, torch, legacy):
    tck = _torch_checkpoint(torch)
    path = tmp_path / "torch.pth"
    torch.save(tck, path, _use_new_zipfile_serialization=not legacy)
    back = xp.load(path)
    for k, v in tck["model"].items():
        _same(back["model"][k], v)
    for k, v in tck["dtypes"].items():
        _same(back["dtypes"][k], v)
    assert isinstance(back["param"], xp.Tensor) and back["param"].requires_grad
    _same(back["param"], tck["param"])
    cls = xp._serialization._torch_format._PARAMETER[0]
    if cls is not None:
        assert isinstance(back["param"], cls)
    assert back["grad"].requires_grad and not back["model"]["w"].requires_grad
    assert back["step"].shape == () and float(back["step"]) == 7.0
    cfg = back["config"]
    assert cfg["betas"] == (0.9, 0.95) and cfg["device"] == "cpu" and cfg["size"] == (2, 3)
    if _have("bfloat16"):
        assert cfg["dtype"] == xp.bfloat16


def test_torch_linear_and_adam_state_dicts(tmp_path, torch):
    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 3)
    opt = torch.optim.Adam(lin.parameters(), lr=1e-2)
    for _ in range(2):
        opt.zero_grad()
        lin(torch.randn(4, 5)).pow(2).sum().backward()
        opt.step()
    path = tmp_path / "ckpt.pt"
    torch.save({"model": lin.state_dict(), "optimizer": opt.state_dict(), "iter_num": 2}, path)
    back = xp.load(path, map_location="cpu")
    sd, osd = back["model"], back["optimizer"]
    assert list(sd) == ["weight", "bias"] and type(sd) is OrderedDict
    for k, v in lin.state_dict().items():
        _same(sd[k], v)
    assert hasattr(sd, "_metadata")  # the state dict's attribute came through BUILD
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            _same(osd["state"][i][k], v)
    assert osd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert osd["param_groups"][0]["params"] == [0, 1]
    m = nn.Linear(5, 3)
    m.load_state_dict(sd)
    x = np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32)
    np.testing.assert_allclose(to_numpy(m(xp.asarray(x))),  # same weights; BLAS may differ
                               lin(torch.from_numpy(x)).detach().numpy(), rtol=1e-6, atol=1e-7)
    # arraylib's own state dicts, saved by arraylib, load into the torch module
    out = tmp_path / "xp.pt"
    xp.save({"model": m.state_dict()}, out)
    lin2 = torch.nn.Linear(5, 3)
    lin2.load_state_dict(torch.load(out, weights_only=True)["model"])
    for k, v in lin.state_dict().items():
        assert torch.equal(lin2.state_dict()[k], v)


def test_parameters_and_requires_grad(torch):
    p = nn.Parameter(xp.ones(3))
    frozen = nn.Parameter(xp.zeros(2), requires_grad=False)
    y = p * 2
    buf = io.BytesIO()
    xp.save({"p": p, "frozen": frozen, "y": y, "plain": xp.ones(1)}, buf)
    buf.seek(0)
    tb = torch.load(buf, weights_only=True)
    assert isinstance(tb["p"], torch.nn.Parameter) and tb["p"].requires_grad
    assert isinstance(tb["frozen"], torch.nn.Parameter) and not tb["frozen"].requires_grad
    assert tb["y"].requires_grad and not tb["plain"].requires_grad
    buf.seek(0)
    back = xp.load(buf)
    assert back["p"].requires_grad and not back["frozen"].requires_grad
    assert back["y"].requires_grad and back["y"].grad_fn is None  # a leaf, as in PyTorch
    assert not back["plain"].requires_grad


def test_containers_keep_their_types_and_sharing(torch):
    from collections import Counter, defaultdict, namedtuple
    shared = [1, 2]
    loop = []
    loop.append(loop)
    Point = namedtuple("Point", "x y")
    obj = {"a": shared, "b": shared, "loop": loop, "counts": Counter("abca"),
           "dd": defaultdict(int, k=1), "pt": Point(1, 2), "t": (shared, shared),
           "nested": ((1,), [(), {}], {"x": {2, 3}}), 5: "int key", (1, "a"): "tuple key",
           "long": list(range(2500)), "wide": {str(i): i for i in range(1500)}}
    for back in (_round_trip(obj), _round_trip(obj, torch=torch)):
        assert back["a"] == [1, 2] and back["a"] is back["b"] is back["t"][0] is back["t"][1]
        assert back["loop"][0] is back["loop"]
        assert type(back["counts"]).__name__ == "Counter" and back["counts"]["a"] == 2
        assert type(back["dd"]) is dict and back["dd"] == {"k": 1}
        assert type(back["pt"]) is tuple and back["pt"] == (1, 2)
        assert back["nested"] == ((1,), [(), {}], {"x": {2, 3}})
        assert back[5] == "int key" and back[(1, "a")] == "tuple key"
        assert back["long"] == list(range(2500)) and back["wide"] == obj["wide"]


def _round_trip(obj, torch=None):
    buf = io.BytesIO()
    xp.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True) if torch is not None else xp.load(buf)


# -- loading never runs code -----------------------------------------------------------------
def _zip_with(pkl):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", pkl)
        zf.writestr("archive/version", "3\n")
    return buf.getvalue()


def _legacy_with(pkl):
    head = b"".join(pickle.dumps(v, protocol=2) for v in (
        0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True,
                                       "type_sizes": {"short": 2, "int": 4, "long": 4}}))
    return head + pkl + pickle.dumps([], protocol=2)


class _Reduce:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _payloads(marker):
    touch = f"open({str(marker)!r}, 'w').close()"
    evil = [
        ("posix.system" if os.name == "posix" else "nt.system",
         _Reduce(os.system, f"touch {marker}")),
        ("builtins.eval", _Reduce(eval, touch)),
        ("builtins.exec", _Reduce(exec, touch)),
        ("builtins.__import__", _Reduce(__import__, "this")),
        ("subprocess.call", _Reduce(subprocess.call, ["touch", str(marker)])),
        ("builtins.getattr", _Reduce(getattr, "x", "upper")),
    ]
    out = []
    for name, obj in evil:
        for proto in (2, 4):
            # nested where a real checkpoint has its tensors
            out.append((name, pickle.dumps({"model": {"w": obj}, "step": 1}, protocol=proto)))
    # a global of a module nobody imported: refused without importing it
    out.append(("this.d", b"\x80\x02cthis\nd\nq\x00."))
    out.append(("INST", b"(S'touch " + str(marker).encode() + b"'\nios\nsystem\n."))
    out.append(("os.system", b"\x80\x02(cos\nsystem\nX\x05\x00\x00\x00echo o."))
    out.append(("OBJ", b"\x80\x02(]o."))  # the opcode itself, whatever sits on the stack
    out.append(("EXT1", b"\x80\x02\x82\x01."))
    # BUILD to plant state on an allowed callable, REDUCE of a non-callable storage type
    out.append(("BUILD", b"\x80\x02ccollections\nOrderedDict\n}X\x08\x00\x00\x00__call__"
                         b"X\x01\x00\x00\x00xsb."))
    out.append(("not an allowed callable", b"\x80\x02ctorch\nFloatStorage\n)R."))
    out.append(("shadow a method", b"\x80\x02ccollections\nOrderedDict\n)R}X\x04\x00\x00\x00keys"
                                   b"ccollections\nOrderedDict\nsb."))
    out.append(("persistent id", b"\x80\x02X\x04\x00\x00\x00evilQ."))
    return out


@pytest.mark.parametrize("weights_only", [True, False])
def test_hostile_pickles_are_refused_without_running_code(tmp_path, weights_only):
    marker = tmp_path / "pwned"
    imported_before = "this" in sys.modules
    for name, pkl in _payloads(marker):
        for container in (_zip_with, _legacy_with):
            with pytest.raises(pickle.UnpicklingError) as e:
                xp.load(io.BytesIO(container(pkl)), weights_only=weights_only)
            msg = str(e.value)
            assert name.split(".")[-1] in msg or name in msg, (name, msg)
            assert not marker.exists(), f"{name} ran"
    assert ("this" in sys.modules) == imported_before, "load imported a module"
    # a bare pickle file (no torch framing): its global is refused; plain data is no checkpoint
    with pytest.raises(pickle.UnpicklingError, match="system"):
        xp.load(io.BytesIO(_payloads(marker)[0][1]))
    with pytest.raises(ValueError, match="magic"):
        xp.load(io.BytesIO(pickle.dumps({"w": 1}, protocol=2)))
    assert not marker.exists()


def test_refused_global_message_names_it_and_real_torch_agrees(torch):
    pkl = pickle.dumps({"w": _Reduce(os.system, "true")}, protocol=2)
    buf = io.BytesIO(_zip_with(pkl))
    with pytest.raises(pickle.UnpicklingError, match=r"refused global 'posix\.system'"):
        xp.load(buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError):  # PyTorch's weights_only refuses it too
        torch.load(buf, weights_only=True)


# -- where tensors go -----------------------------------------------------------------------
def _relocated(location):
    """An arraylib checkpoint whose storages claim to have been saved on ``location``."""
    buf = io.BytesIO()
    xp.save({"w": xp.arange(4.0), "n": 1}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):
                new = location.encode()
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X" + struct.pack("<I", len(new))
                                    + new)
            zf.writestr(info.filename, data)
    return out.getvalue()


def test_map_location_forms():
    raw = _relocated("cuda:0")
    cuda = xp._core._devices.cuda_is_available()
    if not cuda:
        with pytest.raises(RuntimeError, match=r"'cuda:0'.*map_location"):
            xp.load(io.BytesIO(raw))
        with pytest.raises(RuntimeError, match="'cuda:0'"):
            xp.load(io.BytesIO(raw), map_location="cuda")
    for ml in ("cpu", xp.Device("cpu"), {"cuda:0": "cpu"}, lambda s, loc: s,
               lambda s, loc: s.cpu(), lambda s, loc: "cpu"):
        back = xp.load(io.BytesIO(raw), map_location=ml)
        assert back["w"].device == "cpu" and to_numpy(back["w"]).tolist() == [0, 1, 2, 3]
    seen = []
    xp.load(io.BytesIO(raw), map_location=lambda s, loc: seen.append((s.dtype, s.nbytes(), loc))
            or s)
    assert seen == [(xp.float32, 16, "cuda:0")] or cuda
    for ml in ("strict:device1", {"cpu": "strict:device1"}, lambda s, loc: s.to("strict:device1")):
        back = xp.load(io.BytesIO(_relocated("cpu")), map_location=ml)
        assert back["w"].device == "strict:device1" and back["n"] == 1
        assert to_numpy(back["w"]).tolist() == [0, 1, 2, 3]
    with pytest.raises(TypeError, match="map_location"):
        xp.load(io.BytesIO(raw), map_location=3.5)
    with pytest.raises(ValueError, match="no device"):
        xp.load(io.BytesIO(raw), map_location="tpu")
    with pytest.raises(RuntimeError, match="'mps'"):
        xp.load(io.BytesIO(_relocated("mps")))


def test_saving_from_an_emulated_device(device):
    ck = {"w": xp.reshape(xp.arange(6.0, device=device), (2, 3)), "k": [xp.ones(2, device=device)]}
    buf = io.BytesIO()
    xp.save(ck, buf)
    buf.seek(0)
    back = xp.load(buf, map_location=device)
    assert back["w"].device == device and back["k"][0].device == device
    np.testing.assert_array_equal(to_numpy(back["w"]), to_numpy(ck["w"]))


# -- formats, paths, errors ----------------------------------------------------------------
def test_safetensors_paths_still_write_safetensors(tmp_path, torch):
    st = pytest.importorskip("safetensors.torch")
    p = tmp_path / "m.safetensors"
    xp.save({"w": xp.arange(3.0)}, p)
    assert st.load_file(str(p))["w"].tolist() == [0.0, 1.0, 2.0]
    assert to_numpy(xp.load(p)["w"]).tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(TypeError, match="holds only tensors.*\\.pt"):
        xp.save({"model": {"w": xp.ones(1)}}, p)


def test_pt_save_is_atomic_and_refusals_touch_nothing(tmp_path):
    p = tmp_path / "ckpt.pt"
    xp.save({"w": xp.ones(2)}, p)
    before = p.read_bytes()
    for bad in ({"model": nn.Linear(2, 2)}, {"x": object()}, {"f": lambda: 0}):
        with pytest.raises(TypeError, match="save"):
            xp.save(bad, p)
    assert p.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["ckpt.pt"]
    with pytest.raises(TypeError, match=r"state_dict\(\)"):
        xp.save(nn.Linear(2, 2), tmp_path / "m.pt")
    with pytest.raises(TypeError, match=r"obj\['x'\]\['y'\]"):  # the message says where
        xp.save({"x": {"y": object()}}, tmp_path / "m.pt")
    xp.save({"w": xp.zeros(3), "n": 2}, p)
    assert xp.load(p)["n"] == 2 and sorted(os.listdir(tmp_path)) == ["ckpt.pt"]


def test_file_objects_and_numpy_scalars(tmp_path):
    with open(tmp_path / "f.bin", "wb") as fh:
        xp.save({"w": xp.ones(2), "acc": np.float32(0.5), "n": np.int64(3)}, fh)
    with open(tmp_path / "f.bin", "rb") as fh:
        back = xp.load(fh)
    assert back["acc"] == 0.5 and back["n"] == 3 and type(back["n"]) is int
    with open(tmp_path / "f.bin", "r") as fh:
        with pytest.raises(TypeError, match="binary mode"):
            xp.load(fh)


def test_truncated_and_corrupt_files_raise_clear_errors(tmp_path):
    ck = {"model": {"w": xp.arange(1000.0), "b": xp.ones(3)}, "step": 5}
    for legacy in (False, True):
        buf = io.BytesIO()
        xp.save(ck, buf, _use_new_zipfile_serialization=not legacy)
        raw = buf.getvalue()
        for cut in (5, 30, len(raw) // 3, len(raw) // 2, len(raw) - 30, len(raw) - 1):
            with pytest.raises((ValueError, pickle.UnpicklingError), match="load: ") as e:
                xp.load(io.BytesIO(raw[:cut]))
            assert "truncated" in str(e.value) or "corrupt" in str(e.value), (legacy, cut, e)
    # a flipped byte in a storage: the zip's CRC catches it
    buf = io.BytesIO()
    xp.save(ck, buf)
    raw = bytearray(buf.getvalue())
    zf = zipfile.ZipFile(io.BytesIO(bytes(raw)))
    info = zf.getinfo("archive/data/0")
    raw[info.header_offset + 200] ^= 0xFF
    with pytest.raises(ValueError, match="corrupt"):
        xp.load(io.BytesIO(bytes(raw)))
    # a tensor that reaches past its storage
    pkl = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\n"
           b"FloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x02tQK\x00K\x05\x85K\x01"
           b"\x85\x89ccollections\nOrderedDict\n)RtR.")
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/data/0", b"\0" * 8)
    with pytest.raises(ValueError, match="beyond its storage"):
        xp.load(io.BytesIO(b.getvalue()))
    b2 = io.BytesIO()  # a storage record of the wrong size
    with zipfile.ZipFile(b2, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/data/0", b"\0" * 6)
    with pytest.raises(ValueError, match="holds 6 bytes"):
        xp.load(io.BytesIO(b2.getvalue()))
    (tmp_path / "junk.pt").write_bytes(b"hello world, not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt"):
        xp.load(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError):
        xp.load(tmp_path / "missing.pt")


def test_torchscript_and_unsupported_tensors_are_named(torch):
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), buf)
    buf.seek(0)
    with pytest.raises(ValueError, match="TorchScript"):
        xp.load(buf)
    buf = io.BytesIO()
    torch.save({"q": torch.zeros(2, dtype=torch.float8_e4m3fn)}, buf)
    buf.seek(0)
    with pytest.raises(TypeError, match="float8_e4m3fn"):
        xp.load(buf)
    buf = io.BytesIO()
    torch.save({"s": torch.eye(2).to_sparse()}, buf)
    buf.seek(0)
    with pytest.raises(TypeError, match="sparse"):
        xp.load(buf)


def test_archive_layout_matches_torch(tmp_path, torch):
    """Record names, the 64-byte alignment of every record, and uncompressed storage."""
    p = tmp_path / "model.pth"
    xp.save({"a": xp.ones(3), "b": xp.zeros((2, 2), dtype=xp.int32)}, p)
    t = tmp_path / "model_t.pth"
    torch.save({"a": torch.ones(3), "b": torch.zeros(2, 2, dtype=torch.int32)}, t)
    raw = p.read_bytes()
    zf = zipfile.ZipFile(p)
    names = [i.filename for i in zf.infolist()]
    torch_names = [n for n in zipfile.ZipFile(t).namelist() if "serialization_id" not in n]
    assert [n.split("/", 1)[1] for n in names] == [n.split("/", 1)[1] for n in torch_names]
    assert names[0] == "model/data.pkl"
    for info in zf.infolist():
        assert info.compress_type == zipfile.ZIP_STORED
        off = info.header_offset
        n, e = struct.unpack("<HH", raw[off + 26:off + 30])
        assert (off + 30 + n + e) % 64 == 0, info.filename
    assert zf.read("model/version") == b"3\n" and zf.read("model/byteorder") == b"little"
