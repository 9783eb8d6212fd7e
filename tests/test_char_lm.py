"""Shortened runs of ``examples/char_lm.py`` (a few steps of the GPT and of the LSTM, on cpu
and on an emulated device) and its pieces: the unigram entropy, the shifted windows, the
checkpoint, the printed paths, the samples."""
import importlib
import math
import os
import sys

import pytest

import arraylib as torch

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
SHORT = ["--steps", "30", "--context", "32", "--batch-size", "16", "--sample-chars", "40",
         "--no-progress", "--threads", "1"]


def _char_lm():
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)
    return importlib.import_module("char_lm")


def test_unigram_entropy():
    h = _char_lm().unigram_entropy("aab")
    assert h == pytest.approx(-(2 / 3) * math.log(2 / 3) - (1 / 3) * math.log(1 / 3))
    assert _char_lm().unigram_entropy("abcd") == pytest.approx(math.log(4))


def test_windows_are_shifted_by_one():
    data = torch.arange(20)
    x, y = _char_lm().windows(data, torch.asarray([0, 7]), 5)
    assert x.tolist() == [[0, 1, 2, 3, 4], [7, 8, 9, 10, 11]]
    assert y.tolist() == [[1, 2, 3, 4, 5], [8, 9, 10, 11, 12]]


@pytest.mark.parametrize("model", ["gpt", "lstm"])
def test_short_run(tmp_path, capsys, model):
    lm = _char_lm()
    r = lm.main(["--model", model, "--out", str(tmp_path), "--width", "32"] + SHORT)
    out = capsys.readouterr().out
    with open(lm.DATA, encoding="utf-8") as f:
        text = f.read()
    vocab = sorted(set(text))
    assert f"unigram entropy {r['entropy']:.3f} nats/char" in out
    assert r["entropy"] == pytest.approx(lm.unigram_entropy(text))
    # 30 steps already beat a uniform guess over the characters (log 59 = 4.08 nats)
    assert r["train_loss"] < math.log(len(vocab)) - 0.3
    assert r["reloaded_val_loss"] == pytest.approx(r["val_loss"], rel=1e-6)
    for name in (f"char_lm_{model}.pt", f"char_lm_{model}_loss.png"):
        path = tmp_path / name
        assert path.exists() and str(path) in out, (path, out)
    saved = torch.load(tmp_path / f"char_lm_{model}.pt")
    assert saved["chars"] == "".join(vocab) and saved["model"] == model
    for prompt, s in zip(("Shall I", "When "), r["samples"]):
        assert s.startswith(prompt) and len(s) == len(prompt) + 40
        assert set(s) <= set(vocab)
        assert s in out


def test_short_run_on_emulated_device(tmp_path):
    r = _char_lm().main(["--device", "strict:device1", "--out", str(tmp_path), "--width", "16",
                         "--layers", "1", "--steps", "3", "--context", "8", "--batch-size", "4",
                         "--sample-chars", "5", "--no-progress"])
    assert r["reloaded_val_loss"] == pytest.approx(r["val_loss"], rel=1e-6)
    assert all(len(s) == len(p) + 5 for p, s in zip(("Shall I", "When "), r["samples"]))


def test_plot_axes_are_labelled(tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    seen = {}
    monkeypatch.setattr(plt, "close", lambda fig: seen.setdefault("axes", fig.axes))
    history = {"step": [0, 1, 2], "loss": [4.0, 3.5, 3.0], "val_step": [2], "val_loss": [3.2]}
    _char_lm().plot_losses(str(tmp_path / "p.png"), history, 3.1, "t")
    (ax,) = seen["axes"]
    assert ax.get_xlabel() == "training step"
    assert ax.get_ylabel() == "cross-entropy (nats/char)"
    assert (tmp_path / "p.png").exists()
