"""Loading files runs no code and refuses malformed ones with the standard exception
(issue 14, items 11 and 12's serialization part).

* ``load_cifar10`` reads its pickle batches through a restricted unpickler: builtins
  containers, bytes, strings, numbers and NumPy's array reconstruction only; a crafted batch
  that would run ``os.system`` (or anything else) is refused before the payload runs.
* ``arraylib.load`` refuses every kind of malformed safetensors header with ValueError
  naming the function and the file: no other exception type, no hang, no huge allocation.
"""
from __future__ import annotations

import builtins
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

import arraylib as al
from conftest import to_numpy


# == CIFAR-10 batches =========================================================================
def _batch(n=4, seed=0, extra=None):
    rng = np.random.default_rng(seed)
    d = {b"batch_label": b"training batch 1 of 5",
         b"labels": rng.integers(0, 10, size=n).tolist(),
         b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
         b"filenames": [b"img%d.png" % i for i in range(n)]}
    d.update(extra or {})
    return d


class _Py2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2's cPickle wrote the original CIFAR-10 files: native strings
    (dict keys, NumPy's dtype codes) and bytes as BINSTRING, no ``_codecs.encode``."""
    dispatch = dict(pickle._Pickler.dispatch)

    def save_bytes(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    def save_str(self, obj):
        if obj.isascii():
            self.save_bytes(obj.encode("ascii"))
        else:
            pickle._Pickler.save_str(self, obj)

    dispatch[bytes] = save_bytes
    dispatch[str] = save_str


def _py2_dumps(obj):
    f = io.BytesIO()
    _Py2Pickler(f, protocol=2).dump(obj)
    # NumPy 1 (and every NumPy of the Python 2 days) named the module numpy.core.multiarray
    return f.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def _write(folder, name, payload):
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(payload)
    return folder / name


@pytest.mark.parametrize("protocol", list(range(pickle.HIGHEST_PROTOCOL + 1)) + ["py2"])
def test_genuine_batches_load(tmp_path, protocol):
    d = _batch(5, seed=3)
    raw = _py2_dumps(d) if protocol == "py2" else pickle.dumps(d, protocol=protocol)
    _write(tmp_path, "test_batch", raw)
    X, y = al.data.load_cifar10(str(tmp_path), train=False)
    assert X.shape == (5, 3, 32, 32) and X.dtype == al.float32
    np.testing.assert_allclose(to_numpy(X), d[b"data"].reshape(5, 3, 32, 32) / 255.0, rtol=1e-6)
    assert to_numpy(y).tolist() == d[b"labels"]


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_genuine_batches_with_numpy_labels_and_extras(tmp_path, protocol):
    """Labels as NumPy scalars, an int64 array, str keys, sets and bytearrays all load."""
    d = _batch(3, seed=1)
    d[b"labels"] = list(np.array(d[b"labels"], dtype=np.int64))  # NumPy scalars
    d[b"extra"] = {"set": {1, 2}, "ba": bytearray(b"ab"), "c": 1 + 2j, "f": 0.5,
                   "fz": frozenset({3}), "t": (1, "x", None, True)}
    for i in range(1, 3):
        _write(tmp_path, f"data_batch_{i}", pickle.dumps(d, protocol=protocol))
    _write(tmp_path, "test_batch", pickle.dumps(
        {"data": d[b"data"], "labels": np.asarray(d[b"labels"])}, protocol=protocol))
    X, y = al.data.load_cifar10(str(tmp_path))
    assert X.shape == (6, 3, 32, 32) and to_numpy(y).tolist() == [int(v) for v in d[b"labels"]] * 2
    Xt, yt = al.data.load_cifar10(str(tmp_path), train=False)
    assert Xt.shape == (3, 3, 32, 32)


class _Payload:
    """Whatever __reduce__ returns is called at load time."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker):
    m = str(marker)
    cmd = f"touch {m}"
    code = f"open({m!r}, 'w').close()"
    return {
        "os.system": _Payload(os.system, cmd),
        "subprocess.call": _Payload(subprocess.call, ["touch", m]),
        "subprocess.Popen": _Payload(subprocess.Popen, ["touch", m]),
        "builtins.eval": _Payload(builtins.eval, code),
        "builtins.exec": _Payload(builtins.exec, code),
        "builtins.open": _Payload(builtins.open, m, "w"),
        "builtins.__import__": _Payload(builtins.__import__, "os"),
        "builtins.getattr": _Payload(getattr, "x", "upper"),
        "builtins.compile": _Payload(compile, code, "x", "exec"),
        "os.popen": _Payload(os.popen, cmd),
        "numpy.load": _Payload(np.load, m),
        "numpy.frombuffer": _Payload(np.frombuffer, b"\0" * 8),
        "numpy.ndarray": _Payload(np.ndarray, (1 << 40,)),
        "pickle.loads": _Payload(pickle.loads, b"x"),
        "sys.exit": _Payload(sys.exit, 0),
        "time.sleep": _Payload(time.sleep, 1000),
        "bytes(size)": _Payload(bytes, 1 << 40),
        "bytearray(size)": _Payload(bytearray, 1 << 40),
        "object dtype": np.array([_Payload(os.system, cmd)], dtype=object),
        "object dtype scalar": np.dtype("O"),
    }


PAYLOADS = list(_payloads("m"))


@pytest.mark.parametrize("kind", PAYLOADS)
@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_crafted_batch_runs_no_code(tmp_path, kind, protocol):
    marker = tmp_path / "pwned"
    payload = _payloads(marker)[kind]
    folder = tmp_path / "cifar-10-batches-py"
    for where in ("inside", "top"):
        obj = _batch(2, extra={b"evil": payload}) if where == "inside" else payload
        try:
            raw = pickle.dumps(obj, protocol=protocol)
        except (pickle.PicklingError, TypeError, AttributeError):
            pytest.skip(f"{kind} cannot be pickled at protocol {protocol}")
        _write(folder, "test_batch", raw)
        with pytest.raises(pickle.UnpicklingError, match="load_cifar10: .*test_batch.*refus"):
            al.data.load_cifar10(str(tmp_path), train=False)
        assert not marker.exists(), f"the {kind} payload ran"


def test_refusal_names_the_global(tmp_path):
    evil = _batch(2, extra={b"x": _Payload(os.system, "true")})
    _write(tmp_path, "test_batch", pickle.dumps(evil))
    with pytest.raises(pickle.UnpicklingError, match=r"posix\.system|os\.system|nt\.system"):
        al.data.load_cifar10(str(tmp_path), train=False)


def test_codecs_encode_only_latin1(tmp_path):
    # protocol 2 from Python 3 writes bytes as _codecs.encode(str, 'latin1'): admitted;
    # another codec (here a hand-made call with rot13) is not.
    raw = (b"\x80\x02c_codecs\nencode\nq\x00X\x03\x00\x00\x00abcq\x01X\x05\x00\x00\x00rot13"
           b"q\x02\x86q\x03Rq\x04.")
    _write(tmp_path, "test_batch", raw)
    with pytest.raises(pickle.UnpicklingError, match="load_cifar10.*rot13"):
        al.data.load_cifar10(str(tmp_path), train=False)


@pytest.mark.parametrize("raw,what", [
    (b"", "readable"),
    (b"garbage that is not a pickle", "readable"),
    (pickle.dumps(_batch(2))[:-40], "readable"),
    (pickle.dumps([1, 2, 3]), "not a CIFAR-10 batch"),
    (pickle.dumps({b"foo": 1}), "no data/labels"),
    (pickle.dumps({b"data": np.zeros((2, 5), np.uint8), b"labels": [0, 1]}), "expected"),
], ids=["empty", "garbage", "truncated", "list", "no data", "wrong shape"])
def test_malformed_batches_raise_value_error(tmp_path, raw, what):
    _write(tmp_path, "test_batch", raw)
    with pytest.raises(ValueError, match=f"load_cifar10: .*test_batch.*{what}"):
        al.data.load_cifar10(str(tmp_path), train=False)


# == safetensors headers ======================================================================
def _file(header, data=b"", raw=None):
    text = raw if raw is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def _ok(**kw):
    e = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    e.update(kw)
    return {"w": e}


DEEP = 100_000
MALFORMED = {
    "nested lists": (None, b'{"w":' + b"[" * DEEP + b"]" * DEEP + b"}", b""),
    "nested objects": (None, b'{"w":' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}", b""),
    "nested metadata": (None, b'{"__metadata__":' + b"[" * DEEP + b"]" * DEEP + b"}", b""),
    "list dtype": (_ok(dtype=["F32"]), None, b"\0" * 8),
    "dict dtype": (_ok(dtype={"F32": 1}), None, b"\0" * 8),
    "int dtype": (_ok(dtype=4), None, b"\0" * 8),
    "null dtype": (_ok(dtype=None), None, b"\0" * 8),
    "unknown dtype": (_ok(dtype="F33"), None, b"\0" * 8),
    "boolean shape": (_ok(shape=[True, True], data_offsets=[0, 4]), None, b"\0" * 4),
    "boolean shape dim": (_ok(shape=[True], data_offsets=[0, 4]), None, b"\0" * 4),
    "float shape": (_ok(shape=[2.0]), None, b"\0" * 8),
    "string shape": (_ok(shape="2"), None, b"\0" * 8),
    "int shape": (_ok(shape=2), None, b"\0" * 8),
    "negative shape": (_ok(shape=[-2], data_offsets=[0, 8]), None, b"\0" * 8),
    "nan shape": (None, b'{"w":{"dtype":"F32","shape":[NaN],"data_offsets":[0,8]}}', b"\0" * 8),
    "too many dims": (_ok(shape=[1] * 65, data_offsets=[0, 4]), None, b"\0" * 4),
    "huge shape": (_ok(shape=[2 ** 62, 2 ** 62]), None, b"\0" * 8),
    "huge shape many dims": (_ok(shape=[10 ** 300] * 64), None, b"\0" * 8),
    "huge shape with zero": (_ok(shape=[10 ** 300, 0], data_offsets=[0, 8]), None, b"\0" * 8),
    "float offsets": (_ok(data_offsets=[0.0, 8.0]), None, b"\0" * 8),
    "string offsets": (_ok(data_offsets=["0", "8"]), None, b"\0" * 8),
    "boolean offsets": (_ok(dtype="U8", shape=[1], data_offsets=[False, True]), None, b"\0"),
    "null offsets": (_ok(data_offsets=None), None, b"\0" * 8),
    "one offset": (_ok(data_offsets=[8]), None, b"\0" * 8),
    "three offsets": (_ok(data_offsets=[0, 4, 8]), None, b"\0" * 8),
    "negative offsets": (_ok(data_offsets=[-8, 0]), None, b"\0" * 8),
    "reversed offsets": (_ok(data_offsets=[8, 0]), None, b"\0" * 8),
    "offsets past the end": (_ok(data_offsets=[0, 2 ** 63]), None, b"\0" * 8),
    "huge integer offsets": (_ok(data_offsets=[0, 10 ** 4000]), None, b"\0" * 8),
    "digits past the limit": (None, b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,'
                              + b"9" * 5000 + b"]}}", b"\0" * 8),
    "overlapping": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                     "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, None,
                    b"\0" * 12),
    "gap": (_ok(data_offsets=[4, 12]), None, b"\0" * 12),
    "entry not an object": ({"w": [1, 2]}, None, b""),
    "entry a string": ({"w": "F32"}, None, b""),
    "entry missing keys": ({"w": {"dtype": "F32"}}, None, b""),
    "header a list": (None, b"[]", b""),
    "header a string": (None, b'"x"', b""),
    "header empty": (None, b"", b""),
    "header whitespace": (None, b"        ", b""),
    "header not utf-8": (None, b'{"\xff\xfe":1}', b""),
    "header truncated json": (None, b'{"w":{"dtype":"F32"', b""),
    "metadata not an object": ({"__metadata__": [1, 2]}, None, b""),
    "metadata values not strings": ({"__metadata__": {"a": 1}}, None, b""),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_headers_raise_value_error(tmp_path, kind):
    header, raw, data = MALFORMED[kind]
    p = tmp_path / "bad.safetensors"
    p.write_bytes(_file(header, data, raw))
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(Exception) as e:
            al.load(p)
        elapsed = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.type is ValueError, f"{kind}: {e.type.__name__}: {e.value}"
    msg = str(e.value)
    assert msg.startswith("load: ") and "bad.safetensors" in msg, msg
    assert elapsed < 10, f"{kind} took {elapsed:.1f} s"
    assert peak < 64 * 1024 * 1024, f"{kind} allocated {peak} bytes"
    # the same from a file object
    with pytest.raises(ValueError, match="load: "):
        al.load(io.BytesIO(_file(header, data, raw)))


@pytest.mark.parametrize("kind", [k for k in MALFORMED if k not in
                                  ("header whitespace", "nested metadata",
                                                "too many dims")])
def test_safetensors_refuses_them_too(tmp_path, kind):
    """Each malformed file is one the reference reader refuses as well (a header of spaces
    and a nested metadata value it reads as empty; 65 dimensions are valid safetensors that
    NumPy, hence arraylib, cannot hold)."""
    st = pytest.importorskip("safetensors.torch")
    header, raw, data = MALFORMED[kind]
    p = tmp_path / "bad.safetensors"
    p.write_bytes(_file(header, data, raw))
    with pytest.raises(Exception):
        st.load_file(str(p))


def test_header_length_errors(tmp_path):
    p = tmp_path / "bad.safetensors"
    for raw in (b"", b"\x01", struct.pack("<Q", 2 ** 64 - 1) + b"{}",
                struct.pack("<Q", 200 * 1024 * 1024) + b"{}", struct.pack("<Q", 3) + b"{}"):
        p.write_bytes(raw)
        with pytest.raises(ValueError, match="load: .*bad.safetensors"):
            al.load(p)


def test_unsupported_but_valid_dtype_is_a_type_error(tmp_path):
    p = tmp_path / "h.safetensors"
    p.write_bytes(_file({"w": {"dtype": "F8_E5M2", "shape": [1], "data_offsets": [0, 1]}}, b"\0"))
    with pytest.raises(TypeError, match="load: .*F8_E5M2"):
        al.load(p)


def test_text_mode_file_object(tmp_path):
    p = tmp_path / "m.safetensors"
    al.save({"w": al.ones(2)}, p)
    with open(p, encoding="latin-1") as fh, pytest.raises(TypeError, match="load: .*binary"):
        al.load(fh)


def test_well_formed_edge_cases_still_load(tmp_path):
    p = tmp_path / "ok.safetensors"
    header = {"__metadata__": {"format": "pt"},
              "empty": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]},
              "scalar": {"dtype": "I64", "shape": [], "data_offsets": [0, 8]},
              "w": {"dtype": "U8", "shape": [1] * 64, "data_offsets": [8, 9]}}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # trailing spaces in the header are allowed
    p.write_bytes(struct.pack("<Q", len(text)) + text + struct.pack("<q", -3) + b"\x07")
    back = al.load(p)
    assert back["empty"].shape == (0, 3) and back["scalar"].shape == ()
    assert int(back["scalar"]) == -3 and back["w"].shape == (1,) * 64


# == files PyTorch writes / reads ============================================================
def test_files_written_by_safetensors_torch_load(tmp_path, torch):
    st = pytest.importorskip("safetensors.torch")
    g = torch.Generator().manual_seed(0)
    tensors = {
        "f32": torch.randn(3, 4, generator=g), "f64": torch.randn(2, dtype=torch.float64),
        "i64": torch.arange(-3, 3), "i32": torch.arange(4, dtype=torch.int32),
        "i16": torch.arange(4, dtype=torch.int16), "i8": torch.arange(-2, 2, dtype=torch.int8),
        "u8": torch.arange(250, 256, dtype=torch.uint8), "b": torch.tensor([True, False]),
        "c64": torch.randn(2, dtype=torch.complex64), "empty": torch.zeros(0, 5),
        "scalar": torch.tensor(2.5),
    }
    p = tmp_path / "t.safetensors"
    st.save_file(tensors, str(p), metadata={"format": "pt", "note": "x"})
    back = al.load(p)
    assert set(back) == set(tensors)
    for k, v in tensors.items():
        assert to_numpy(back[k]).tobytes() == v.numpy().tobytes(), k
        assert tuple(back[k].shape) == tuple(v.shape) and str(back[k].dtype) == \
            str(v.dtype).replace("torch.", ""), k
    # and arraylib's file of the same tensors loads in PyTorch, bit for bit
    q = tmp_path / "a.safetensors"
    al.save(back, q)
    al.save(back, q)  # over the previous file: the atomic path
    again = st.load_file(str(q))
    for k, v in tensors.items():
        assert again[k].dtype == v.dtype and torch.equal(again[k], v), k
