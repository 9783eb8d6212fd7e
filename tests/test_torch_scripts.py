"""The corpus: PyTorch-style scripts (``tests/torch_scripts/*.py``, written as tutorials
write them, ``import torch`` and all) run unchanged through ``python -m arraylib.torch``,
and, where PyTorch is installed, also with real PyTorch: stdout compared line by line.

The scripts print values rounded to a stated number of digits, take their random data
from NumPy's ``default_rng(0)`` and copy their weights from NumPy arrays, so both runs
print the same lines.  A printed decimal number may differ by one unit in its last
printed digit (float32 kernels round differently, and a value may sit on a rounding
boundary); integers and all other text must be equal."""
from __future__ import annotations

import decimal
import os
import pathlib
import re
import subprocess
import sys

import pytest

import arraylib

HERE = pathlib.Path(__file__).resolve().parent
SCRIPTS = sorted((HERE / "torch_scripts").glob("*.py"))
ROOT = str(pathlib.Path(arraylib.__file__).resolve().parent.parent)
NUMBER = re.compile(r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)")
TIMEOUT = 240
ARGS = {"mnist_style": ["--epochs", "2", "--save-model"]}  # command lines, as users give them
VARIANTS = {"word_lm": {"word_lm_lstm": ["--model", "LSTM"],  # one script, several cases
                        "word_lm_transformer": ["--model", "Transformer"],
                        "word_lm_gru_tied": ["--model", "GRU", "--tied", "--nhid", "16"]}}
CASES = [pytest.param(s, args, id=name) for s in SCRIPTS
         for name, args in VARIANTS.get(s.stem, {s.stem: ARGS.get(s.stem, [])}).items()]


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")]
                                                    if p]))
    env.pop("ARRAYLIB_DEVICE", None)
    return env


def run(script: pathlib.Path, real_torch: bool, folder: str, args=None):
    """``python -m arraylib.torch script args`` (or plain ``python script args``), in
    ``folder`` (where the scripts write their files)."""
    cmd = [sys.executable] + ([] if real_torch else ["-m", "arraylib.torch"]) + \
        [str(script)] + (ARGS.get(script.stem, []) if args is None else list(args))
    return subprocess.run(cmd, cwd=folder, env=_env(), capture_output=True, text=True,
                          timeout=TIMEOUT)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``runs(script, real_torch)``: each script's run, once per module."""
    cache = {}

    def get(script, real_torch, args=None):
        key = (script, real_torch, None if args is None else tuple(args))
        if key not in cache:
            folder = tmp_path_factory.mktemp(script.stem + ("_torch" if real_torch else ""))
            cache[key] = run(script, real_torch, str(folder), args)
            cache[key].folder = folder
        return cache[key]
    return get


def _numbers_match(a: str, b: str) -> bool:
    if not any(c in a + b for c in ".e"):
        return a == b  # integers: counts, indices, sizes
    da, db = decimal.Decimal(a), decimal.Decimal(b)
    unit = decimal.Decimal(10) ** min(da.as_tuple().exponent, db.as_tuple().exponent)
    return abs(da - db) <= unit * decimal.Decimal("1.000001")


def lines_differ(ours: str, theirs: str) -> list[str]:
    """The lines where the two outputs differ (beyond one unit in a last digit)."""
    a, b = ours.splitlines(), theirs.splitlines()
    bad = [f"line count: arraylib {len(a)}, PyTorch {len(b)}"] if len(a) != len(b) else []
    for n, (x, y) in enumerate(zip(a, b), 1):
        px, py = NUMBER.split(x), NUMBER.split(y)
        same = len(px) == len(py) and all(
            (s == t) if i % 2 == 0 else _numbers_match(s, t)
            for i, (s, t) in enumerate(zip(px, py)))
        if not same:
            bad.append(f"line {n}:\n  arraylib: {x}\n  PyTorch:  {y}")
    return bad


def test_lines_differ_tolerates_one_unit_only():
    assert lines_differ("loss 0.1234 acc 3", "loss 0.1235 acc 3") == []
    assert lines_differ("[0.1, 0.11]", "[0.11, 0.1]") == []
    assert lines_differ("eps 1e-05", "eps 1.1e-05") == []
    assert lines_differ("loss 0.1234", "loss 0.1236")  # two units
    assert lines_differ("count 3", "count 4")  # integers are exact
    assert lines_differ("size (2, 3)", "size torch.Size([2, 3])")
    assert lines_differ("a\nb", "a")


def _check(result, who):
    assert result.returncode == 0, f"{who} failed (exit {result.returncode}):\n{result.stderr}"
    assert result.stdout.splitlines()[-1:] == ["done"], f"{who} stopped early:\n{result.stdout}"


@pytest.mark.parametrize("script,args", CASES)
def test_script_runs_through_the_face(script, args, runs):
    _check(runs(script, False, args), f"python -m arraylib.torch {script.name}")


@pytest.mark.parametrize("script,args", CASES)
def test_script_prints_what_pytorch_prints(script, args, runs, torch):
    ours, theirs = runs(script, False, args), runs(script, True, args)
    _check(theirs, f"python {script.name} (real PyTorch)")
    _check(ours, f"python -m arraylib.torch {script.name}")
    bad = lines_differ(ours.stdout, theirs.stdout)
    assert not bad, f"{script.name}: {len(bad)} lines differ:\n" + "\n".join(bad)


def test_pytorch_loads_the_checkpoint_the_face_wrote(runs, torch):
    """The checkpoint script's file, written through the face, read by real PyTorch: the
    same structure and (to float32 rounding) the same tensors as PyTorch's own run."""
    script = HERE / "torch_scripts" / "checkpoint_roundtrip.py"
    ours, theirs = runs(script, False), runs(script, True)
    _check(ours, "the face's run")
    _check(theirs, "PyTorch's run")
    a = torch.load(ours.folder / "checkpoint.pt", weights_only=True)
    b = torch.load(theirs.folder / "checkpoint.pt", weights_only=True)
    assert a.keys() == b.keys() and a["config"] == b["config"] and a["epoch"] == b["epoch"]
    assert a["model_state_dict"].keys() == b["model_state_dict"].keys()
    for k, v in a["model_state_dict"].items():
        assert v.dtype == torch.float32 and v.shape == b["model_state_dict"][k].shape, k
        torch.testing.assert_close(v, b["model_state_dict"][k], rtol=1e-4, atol=1e-5)
    sa, sb = a["optimizer_state_dict"], b["optimizer_state_dict"]
    for ga, gb in zip(sa["param_groups"], sb["param_groups"], strict=True):
        assert ga == {k: gb[k] for k in ga}  # PyTorch adds foreach/fused/... flags
    assert sa["state"].keys() == sb["state"].keys()
    for i, st in sa["state"].items():
        assert st.keys() == sb["state"][i].keys()
        torch.testing.assert_close(st["exp_avg"], sb["state"][i]["exp_avg"], rtol=1e-3,
                                   atol=1e-5)
    module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    module.load_state_dict({k.replace("fc1", "0").replace("fc2", "2"): v
                            for k, v in a["model_state_dict"].items()})
    optimizer = torch.optim.AdamW(module.parameters(), lr=0.01, weight_decay=0.01)
    optimizer.load_state_dict(sa)
    module(torch.ones(2, 4)).sum().backward()
    optimizer.step()  # PyTorch resumes from arraylib's optimizer state
    assert float(optimizer.state_dict()["state"][0]["step"]) == float(sa["state"][0]["step"]) + 1


def test_install_in_a_program_runs_a_script(tmp_path):
    """The other documented way: ``arraylib.torch.install()`` and then the script."""
    script = HERE / "torch_scripts" / "autograd_basics.py"
    code = ("import runpy, sys, arraylib.torch\narraylib.torch.install()\n"
            f"sys.argv = [{str(script)!r}]\nrunpy.run_path(sys.argv[0], run_name='__main__')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(),
                       capture_output=True, text=True, timeout=TIMEOUT)
    _check(r, "install() + runpy")
    assert "df/dx1 = 5.5000, df/dx2 = 1.7163" in r.stdout.splitlines()


def test_saved_model_files(runs):
    """The scripts' own files: written through the face, loadable through it."""
    r = runs(HERE / "torch_scripts" / "mnist_style.py", False)
    _check(r, "mnist_style through the face")
    state = arraylib.load(r.folder / "mnist_cnn.pt")
    assert sorted(state) == ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight",
                             "fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]
    assert tuple(state["conv1.weight"].shape) == (8, 1, 3, 3)


def test_the_corpus_is_there():
    names = {s.stem for s in SCRIPTS}
    assert {"tensor_basics", "autograd_basics", "mlp_training", "cnn_step", "checkpoint_roundtrip",
            "dataloader_workers", "autocast_half", "gpt_tiny", "mnist_style", "lstm_tagger",
            "word_lm"} <= names
