"""Issue 15, item 7: ``arraylib.utils.tensorboard.SummaryWriter`` (PyTorch's
``torch.utils.tensorboard.SummaryWriter``) writes TensorBoard event files through
tensorboardX, accepting arraylib tensors and Python numbers.  The files are read back
record by record and their protocol buffers compared with what was logged."""
from __future__ import annotations

import importlib
import pathlib
import struct
import sys
import warnings

import numpy as np
import pytest

import arraylib as al
from arraylib.utils.tensorboard import SummaryWriter

event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")


def _events(folder):
    """Every event of every event file directly in ``folder``, in file order."""
    out = []
    for path in sorted(pathlib.Path(folder).glob("events.out.tfevents.*")):
        raw, pos = path.read_bytes(), 0
        while pos < len(raw):
            (n,) = struct.unpack("<Q", raw[pos:pos + 8])
            ev = event_pb2.Event()
            ev.ParseFromString(raw[pos + 12:pos + 12 + n])
            out.append(ev)
            pos += 12 + n + 4
    return out


def _values(folder):
    """(tag, step, value proto) of each summary value written to ``folder``."""
    return [(v.tag, ev.step, v) for ev in _events(folder) if ev.HasField("summary")
            for v in ev.summary.value]


def _scalar(v):
    return v.simple_value if v.HasField("simple_value") else v.tensor.float_val[0]


def test_scalars_from_tensors_and_numbers(tmp_path):
    with SummaryWriter(tmp_path) as w:
        assert w.log_dir == str(tmp_path) == w.get_logdir()
        w.add_scalar("loss", al.asarray(0.25, dtype=al.float32), 1)
        w.add_scalar("loss", al.asarray([0.125]), 2)
        w.add_scalar("lr", 0.1, global_step=1)
        w.add_scalar("count", 3, 1)
        w.add_scalar("grad", al.asarray(2.0, requires_grad=True) * 2, 3)
        with pytest.raises(ValueError, match="add_scalar.*shape"):
            w.add_scalar("bad", al.zeros(3), 1)
    got = [(t, s, _scalar(v)) for t, s, v in _values(tmp_path)]
    assert got == [("loss", 1, 0.25), ("loss", 2, 0.125), ("lr", 1, pytest.approx(0.1)),
                   ("count", 1, 3.0), ("grad", 3, 4.0)]


def test_scalars_on_an_emulated_device_and_half_precision(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_scalar("dev", al.asarray(1.5, device="strict:device1"), 0)
        for name in ("float16", "bfloat16"):
            dt = getattr(al, name, None)
            if dt is not None:
                w.add_scalar(name, al.astype(al.asarray(0.5), dt), 0)
    got = {t: _scalar(v) for t, _, v in _values(tmp_path)}
    assert got.pop("dev") == 1.5 and all(v == 0.5 for v in got.values())


def test_add_scalars_writes_one_run_per_key(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_scalars("acc", {"train": al.asarray(0.9), "val": 0.75}, 4)
    for key, value in (("train", 0.9), ("val", 0.75)):
        [(tag, step, v)] = _values(tmp_path / "acc" / key)
        assert tag == "acc" and step == 4 and _scalar(v) == pytest.approx(value)


def test_histogram_image_text(tmp_path):
    values = al.asarray(np.linspace(-1.0, 1.0, 101))
    img = al.asarray(np.linspace(0.0, 1.0, 3 * 4 * 5).reshape(3, 4, 5), dtype=al.float32)
    with SummaryWriter(tmp_path) as w:
        w.add_histogram("weights", values, 7)
        w.add_image("picture", img, 1)
        w.add_image("hwc", al.permute_dims(img, (1, 2, 0)), 1, dataformats="HWC")
        w.add_text("note", "hello arraylib", 2)
        w.add_images("batch", al.stack([img, img]), 1)
    vals = {t: (s, v) for t, s, v in _values(tmp_path)}
    step, h = vals["weights"]
    assert step == 7 and h.histo.num == 101 and h.histo.min == -1.0 and h.histo.max == 1.0
    assert h.histo.sum == pytest.approx(0.0, abs=1e-9)
    for tag in ("picture", "hwc"):
        im = vals[tag][1].image
        assert (im.height, im.width, im.colorspace) == (4, 5, 3)
        assert im.encoded_image_string[:4] == b"\x89PNG"
    assert vals["batch"][1].image.width == 10  # two images side by side
    text = [v for t, _, v in _values(tmp_path) if t.startswith("note")]
    assert text and b"hello arraylib" in text[0].tensor.string_val[0]


def test_add_graph_warns_and_other_methods_pass_through(tmp_path):
    with SummaryWriter(tmp_path) as w:
        with pytest.warns(UserWarning, match="add_graph.*not supported"):
            w.add_graph(object(), al.zeros(2))
        w.add_pr_curve("pr", al.asarray([0, 1, 1, 0]), al.asarray([0.1, 0.9, 0.8, 0.3]), 0)
        with pytest.raises(AttributeError, match="no_such_method"):
            w.no_such_method
    assert any(t.startswith("pr") for t, _, _ in _values(tmp_path))


def test_default_log_dir_and_flush(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_exp1")
    try:
        w.add_scalar("x", 1.0, 0)
        w.flush()
        path = pathlib.Path(w.log_dir)
        assert path.parent.name == "runs" and path.name.endswith("_exp1")
        assert [t for t, _, _ in _values(tmp_path / path)] == ["x"]
    finally:
        w.close()


def test_missing_tensorboardx_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import now raises ImportError
    with pytest.raises(ImportError, match="pip install tensorboardX"):
        SummaryWriter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module = importlib.reload(sys.modules["arraylib.utils.tensorboard"])  # imports fine
    with pytest.raises(ImportError, match="tensorboardX"):
        module.SummaryWriter()
