"""``arraylib.torch``: the PyTorch face, its installation as ``torch``, and the runner
``python -m arraylib.torch``.

Installing the face changes ``import torch`` for a whole process, so everything that
installs it runs in a subprocess; this process only imports ``arraylib.torch``."""
from __future__ import annotations

import importlib
import inspect
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import arraylib
import arraylib.torch as face

ROOT = str(pathlib.Path(arraylib.__file__).resolve().parent.parent)


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))


def python(*args, cwd=None, timeout=120):
    return subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


# -- every import form, in one subprocess -------------------------------------------------------
# (statement, a check that is True when the form gave the face's module or name)
FORMS = [
    ("import torch", "torch is arraylib.torch"),
    ("import torch.nn as nn", "nn is arraylib.nn"),
    ("from torch import nn", "nn is arraylib.nn"),
    ("import torch.nn", "torch.nn is arraylib.nn"),
    ("import torch.nn.functional as F", "F is arraylib.nn.functional"),
    ("from torch.nn import functional as F", "F is arraylib.nn.functional"),
    ("import torch.nn.init as init", "init is arraylib.nn.init"),
    ("from torch.nn import init", "init is arraylib.nn.init"),
    ("from torch.nn import Module, Linear", "Linear is arraylib.nn.Linear"),
    ("from torch.nn.parameter import Parameter", "Parameter is arraylib.nn.Parameter"),
    ("import torch.nn.utils", "torch.nn.utils is arraylib.nn.utils"),
    ("import torch.optim as optim", "optim is arraylib.optim"),
    ("from torch.optim import lr_scheduler", "lr_scheduler is arraylib.optim.lr_scheduler"),
    ("import torch.optim.lr_scheduler as sch", "sch is arraylib.optim.lr_scheduler"),
    ("from torch.optim.lr_scheduler import StepLR", "StepLR is arraylib.optim.lr_scheduler.StepLR"),
    ("import torch.autograd", "torch.autograd is arraylib.autograd"),
    ("from torch.autograd import grad, Variable", "grad is arraylib.autograd.grad"),
    ("from torch.autograd import Function", "Function is arraylib.autograd.Function"),
    ("from torch.utils.data import DataLoader, Dataset, random_split",
     "DataLoader is arraylib.data.DataLoader"),
    ("import torch.utils.data as data", "data is arraylib.data"),
    ("from torch.utils.data import TensorDataset, RandomSampler",
     "RandomSampler is arraylib.data.RandomSampler"),
    ("import torch.utils.data.dataloader", "hasattr(torch.utils.data.dataloader, 'DataLoader')"),
    ("from torch.utils.tensorboard import SummaryWriter", "callable(SummaryWriter)"),
    ("import torch.backends.cudnn as cudnn", "cudnn.is_available() is False"),
    ("import torch.backends", "torch.backends.mps.is_available() is False"),
    ("import torch.cuda", "torch.cuda.is_available() == arraylib.cuda.is_available()"),
    ("from torch.cuda.amp import GradScaler, autocast", "callable(GradScaler)"),
    ("import torch.amp", "torch.amp is arraylib.amp"),
    ("from torch.amp import autocast, GradScaler", "GradScaler is arraylib.amp.GradScaler"),
    ("import torch.linalg", "torch.linalg is arraylib.linalg"),
    ("import torch.fft", "torch.fft is arraylib.fft"),
    ("import torch.distributed as dist", "dist is arraylib.distributed"),
    ("import torch.onnx", "torch.onnx is arraylib.torch.onnx"),
    ("import torch.jit", "torch.jit.script(len) is len"),
    ("from torch import Tensor", "Tensor is arraylib.Tensor"),
    ("from torch import func", "func is arraylib.func"),
    ("import torch.version", "torch.version.cuda is None"),
    ("from torch import *", "float is arraylib.float32 and tensor is arraylib.torch.tensor"),
    # deeper module paths that scripts and libraries spell out
    ("from torch.utils.data.sampler import RandomSampler",
     "RandomSampler is arraylib.data.RandomSampler"),
    ("from torch.utils.data.dataset import Dataset", "Dataset is arraylib.data.Dataset"),
    ("from torch.utils.data.distributed import DistributedSampler",
     "DistributedSampler is arraylib.data.DistributedSampler"),
    ("from torch.nn.parallel import DistributedDataParallel as DDP", "callable(DDP)"),
    ("from torch.nn.modules.loss import MSELoss", "MSELoss is arraylib.nn.MSELoss"),
    ("from torch.optim.optimizer import Optimizer", "Optimizer is arraylib.optim.Optimizer"),
    ("from torch.autograd.functional import jacobian", "callable(jacobian)"),
    ("from torch.distributed import init_process_group", "callable(init_process_group)"),
]

_FORMS_SCRIPT = """
import json, sys, traceback
import arraylib.torch
arraylib.torch.install()
import arraylib
results = {}
for stmt, check in json.loads(sys.argv[1]):
    ns = {"arraylib": arraylib}
    try:
        exec("import torch\\n" + stmt, ns)
        ok = eval(check, ns)
        results[stmt] = "ok" if ok is True else f"check {check!r} gave {ok!r}"
    except BaseException as e:
        results[stmt] = "".join(traceback.format_exception_only(type(e), e)).strip()
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def import_forms():
    r = python("-c", _FORMS_SCRIPT, json.dumps(FORMS))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


@pytest.mark.parametrize("stmt, check", FORMS, ids=[s for s, _ in FORMS])
def test_import_form(import_forms, stmt, check):
    assert import_forms[stmt] == "ok", import_forms[stmt]


@pytest.mark.parametrize("stmt, check", [
    ("from torch.utils.data import DataLoader", "DataLoader is arraylib.data.DataLoader"),
    ("import torch.nn.functional as F", "F.relu is arraylib.nn.functional.relu"),
    ("from torch.cuda.amp import GradScaler", "GradScaler is arraylib.cuda.amp.GradScaler"),
    ("import torch.backends.cudnn", "torch.backends.cudnn.enabled is True"),
])
def test_first_import_of_a_submodule(stmt, check):
    """A submodule form as the very first ``torch`` import of a process."""
    r = python("-c", f"import arraylib.torch; arraylib.torch.install()\n{stmt}\n"
                     f"import arraylib, arraylib.cuda, torch\nassert {check}\nprint('ok')")
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_installed_face_in_a_fresh_process():
    code = textwrap.dedent("""
        import sys, arraylib.torch
        assert not arraylib.torch.is_installed()
        face = arraylib.torch.install()
        assert arraylib.torch.install() is face and arraylib.torch.is_installed()
        import torch, torch.nn, torch.nn.functional, torch.utils.data
        # aliases keep their own spec and name: the module is shared, not copied
        assert torch.nn.__spec__.name == "arraylib.nn", torch.nn.__spec__
        assert sys.modules["torch.nn.functional"] is sys.modules["arraylib.nn.functional"]
        try:
            import torch.distributions
        except ModuleNotFoundError as e:
            assert "torch.distributions" in str(e) and "arraylib" in str(e), e
            assert e.name == "torch.distributions"
        else:
            raise AssertionError("torch.distributions imported")
        arraylib.torch.uninstall()
        assert not arraylib.torch.is_installed() and "torch" not in sys.modules
        assert not [n for n in sys.modules if n.startswith("torch.")]
        print("ok")
        """)
    r = python("-c", code)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_install_refuses_when_real_torch_is_imported(torch):
    code = ("import sys, torch, arraylib.torch\n"
            "try:\n    arraylib.torch.install()\n"
            "except RuntimeError as e:\n    print(e)\n"
            "assert sys.modules['torch'] is torch and not arraylib.torch.is_installed()\n")
    r = python("-c", code)
    assert r.returncode == 0, r.stderr
    assert "real PyTorch is already imported" in r.stdout and "install" in r.stdout


def test_uninstall_gives_back_real_torch(torch):
    r = python("-c", "import arraylib.torch as f; f.install(); import torch; "
                     "assert torch is f; f.uninstall(); import torch; print(torch.__name__, "
                     "hasattr(torch, '_C'))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["torch", "True"]


# -- the runner ---------------------------------------------------------------------------------
SCRIPT = """
import os, pickle, sys
import torch
import sibling
print("argv", sys.argv[1:])
print("name", __name__, os.path.isabs(__file__), os.path.basename(__file__))
print("path0", sys.path[0] == os.path.dirname(os.path.abspath(__file__)))
print("torch", torch.__name__, sibling.VALUE)


class Point:
    pass


print("pickle", type(pickle.loads(pickle.dumps(Point()))).__name__)
if __name__ == "__main__":
    code = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 0
    if sys.argv[1:2] == ["raise"]:
        def inner():
            raise ValueError("boom from the script")
        inner()
    sys.exit(code)
"""


@pytest.fixture
def script(tmp_path):
    (tmp_path / "sibling.py").write_text("VALUE = 42\n")
    path = tmp_path / "train.py"
    path.write_text(SCRIPT)
    return path


def test_runner_runs_a_script_as_main(script, tmp_path):
    r = python("-m", "arraylib.torch", str(script), "a", "--lr", "0.1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "argv ['a', '--lr', '0.1']", "name __main__ True train.py", "path0 True",
        "torch arraylib.torch 42", "pickle Point"]


def test_runner_exit_code(script, tmp_path):
    assert python("-m", "arraylib.torch", str(script), "3", cwd=tmp_path).returncode == 3


def test_runner_traceback_is_pythons(script, tmp_path, torch):
    """An uncaught exception: the same traceback and status as plain python gives (real
    PyTorch stands in for ``import torch`` there)."""
    ours = python("-m", "arraylib.torch", str(script), "raise", cwd=tmp_path)
    plain = python(str(script), "raise", cwd=tmp_path)
    assert ours.returncode == plain.returncode == 1
    assert ours.stderr == plain.stderr
    assert ours.stderr.startswith("Traceback") and "boom from the script" in ours.stderr
    assert "runpy" not in ours.stderr and "arraylib" not in ours.stderr


def test_runner_traceback_without_torch(script, tmp_path):
    r = python("-m", "arraylib.torch", str(script), "raise", cwd=tmp_path)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1].startswith(f'  File "{script}", line ') and lines[-1] == \
        "ValueError: boom from the script"
    assert "runpy" not in r.stderr and "__main__.py" not in r.stderr


@pytest.mark.parametrize("body", ["raise KeyboardInterrupt", "import sys; sys.exit('bad config')",
                                  "def f():\n    return 1 / 0\nf()"])
def test_runner_ends_as_python_does(tmp_path, body):
    """Same status, stdout and stderr as ``python script.py`` for a script that does not
    import torch: an interrupt (killed by SIGINT), an exit message, an exception."""
    path = tmp_path / "end.py"
    path.write_text(f"print('before')\n{body}\n")
    ours = python("-m", "arraylib.torch", str(path), cwd=tmp_path)
    plain = python(str(path), cwd=tmp_path)
    assert (ours.returncode, ours.stdout, ours.stderr) == \
        (plain.returncode, plain.stdout, plain.stderr)
    assert ours.returncode != 0 and ours.stdout == "before\n"


def test_runner_module_and_string(tmp_path):
    (tmp_path / "pkgmod.py").write_text("import sys, torch\nprint(__name__, torch.__name__, "
                                        "sys.argv[1:])\n")
    r = python("-m", "arraylib.torch", "-m", "pkgmod", "x", cwd=tmp_path)
    assert (r.returncode, r.stdout.strip()) == (0, "__main__ arraylib.torch ['x']"), r.stderr
    r = python("-m", "arraylib.torch", "-c", "import torch, sys; print(torch.__name__, sys.argv)",
               "y")
    assert (r.returncode, r.stdout.strip()) == (0, "arraylib.torch ['-c', 'y']"), r.stderr


def test_runner_usage_and_missing_script(tmp_path):
    r = python("-m", "arraylib.torch")
    assert r.returncode == 2 and "usage: python -m arraylib.torch script.py" in r.stderr
    r = python("-m", "arraylib.torch", str(tmp_path / "missing.py"))
    assert r.returncode == 2 and "missing.py" in r.stderr and "No such file" in r.stderr


# -- the namespace ------------------------------------------------------------------------------
def test_face_holds_arraylib_and_pytorch_signatures():
    for name in arraylib.__all__:
        assert hasattr(face, name), name
    tf = arraylib._torch_functions
    for name in tf.__all__:
        assert getattr(face, name) is getattr(tf, name), name  # PyTorch's version wins
    assert face.Tensor is arraylib.Tensor and face.Size is arraylib.Size
    for name in ("no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "manual_seed",
                 "is_tensor", "device", "Generator", "from_numpy", "save", "load"):
        assert callable(getattr(face, name)), name
    for name in ("nn", "optim", "utils", "amp", "cuda", "backends", "onnx", "jit", "distributed",
                 "autograd", "linalg", "fft", "func", "version"):
        assert inspect.ismodule(getattr(face, name)), name
    assert "nn" not in face.__all__ and "float" in face.__all__  # as PyTorch's star import


def test_standard_namespace_is_untouched():
    """The face adds PyTorch's signatures without changing ``import arraylib``."""
    assert "dim" not in inspect.signature(arraylib.stack).parameters
    assert arraylib.max is arraylib._statistical_functions.max
    assert not hasattr(arraylib, "FloatTensor") and not hasattr(arraylib, "half")
    x = arraylib.asarray([[1.0, 5.0], [3.0, 2.0]])
    assert arraylib.max(x, axis=1).tolist() == [5.0, 3.0]  # the standard's: values only
    values, indices = face.max(x, 1)  # PyTorch's: (values, indices), positional dim
    assert (values.tolist(), indices.tolist()) == ([5.0, 3.0], [1, 0])
    assert face.stack([x, x], 1).shape == (2, 2, 2)
    with pytest.raises(TypeError):
        arraylib.stack([x, x], 1)


def test_dtype_names():
    assert face.float is face.float32 and face.double is face.float64
    assert face.int is face.int32 and face.long is face.int64 and face.short is face.int16
    assert face.cfloat is face.complex64 and face.cdouble is face.complex128
    assert face.half is face.float16
    assert isinstance(face.float32, face.dtype) and isinstance(face.bfloat16, face.dtype)
    assert face.get_default_dtype() is face.float32
    face.set_default_dtype(face.float32)
    with pytest.raises(TypeError, match="set_default_dtype"):
        face.set_default_dtype(face.int64)


def test_dtype_names_as_pytorch(torch):
    """Every alias names the dtype PyTorch's alias names."""
    for alias in ("float", "double", "half", "int", "long", "short", "cfloat", "cdouble",
                  "bool", "uint8", "int8", "bfloat16", "float16", "float32", "float64"):
        canonical = str(getattr(torch, alias)).rpartition(".")[2]
        assert getattr(face, alias) == getattr(face, canonical), alias


def test_legacy_typed_constructors():
    x = face.FloatTensor([1, 2])
    assert x.dtype == face.float32 and x.tolist() == [1.0, 2.0]
    y = face.LongTensor(2, 3)
    assert y.dtype == face.int64 and y.shape == (2, 3) and y.sum().item() == 0
    assert face.DoubleTensor(face.Size([4])).shape == (4,)
    assert face.BoolTensor([1, 0]).tolist() == [True, False]
    assert face.ByteTensor([255]).dtype == face.uint8 and face.IntTensor([1]).dtype == face.int32
    assert face.FloatTensor().shape == (0,)
    assert isinstance(x, face.FloatTensor) and not isinstance(x, face.LongTensor)
    with pytest.raises(TypeError, match="FloatTensor"):
        face.FloatTensor([1], [2])


def test_version_compares_as_a_version():
    v = face.__version__
    assert v.startswith(arraylib.__version__) and "arraylib" in v
    assert v >= "0.0.1" and v < "99.0" and v > (0, 0, 9) and not v < "0.1"
    Version = type(v)
    assert Version("2.10.1+cpu") > "2.9" and Version("2.1.0rc1") >= (2, 1)
    assert Version("2.10") != "2.10.0" and Version("2.10") == "2.10"  # equality: as strings
    packaging = pytest.importorskip("packaging.version")
    assert packaging.parse(v) > packaging.parse("0.0.1")


def test_compile_and_jit_pass_through():
    f = lambda x: x  # noqa: E731
    assert face.compile(f) is f and face.compile(mode="max-autotune")(f) is f
    assert face.jit.script(f) is f and face.jit.trace(f, ()) is f
    assert face.jit.ignore(f) is f and face.jit.ignore(drop=True)(f) is f


def test_onnx_export_is_refused():
    with pytest.raises(NotImplementedError, match="ONNX export is not supported"):
        face.onnx.export(None, (), "model.onnx")
    assert face.onnx.is_in_onnx_export() is False


def test_backends_flags_are_settable():
    cudnn = face.backends.cudnn
    old = (cudnn.benchmark, cudnn.deterministic, face.backends.cuda.matmul.allow_tf32)
    try:
        cudnn.benchmark = True
        cudnn.deterministic = True
        face.backends.cuda.matmul.allow_tf32 = True
        assert cudnn.benchmark and cudnn.deterministic and face.backends.cuda.matmul.allow_tf32
    finally:
        cudnn.benchmark, cudnn.deterministic, face.backends.cuda.matmul.allow_tf32 = old
    assert cudnn.is_available() is False and face.backends.mps.is_available() is False
    assert face.backends.opt_einsum.enabled in (True, False)


def test_face_names_exist_in_pytorch(torch):
    """The face invents no API: each public name of its own modules is PyTorch's too."""
    for mod in ("backends.cudnn", "backends.cuda", "backends.mps", "backends.mkldnn",
                "backends.mkl", "backends.openmp", "backends.cpu", "backends.opt_einsum", "onnx",
                "jit", "cuda", "version"):
        ours = importlib.import_module(f"arraylib.torch.{mod}")
        theirs = importlib.import_module(f"torch.{mod}")
        names = [n for n in vars(ours) if not n.startswith("_") and n not in ("annotations",)
                 and not inspect.ismodule(getattr(ours, n))]
        missing = [n for n in names if not hasattr(theirs, n)]
        assert not missing, f"torch.{mod} has no {missing}"
    inherited = set(arraylib.__all__) | set(arraylib._torch_functions.__all__)
    extra = [n for n in face.__all__ if not hasattr(torch, n) and n not in inherited]
    assert extra == ["install", "is_installed", "uninstall"], extra


def test_threads_and_switches():
    r = python("-c", textwrap.dedent("""
        import arraylib.torch as torch
        torch.set_num_threads(2)
        assert torch.get_num_threads() == 2
        import threadpoolctl
        assert all(p["num_threads"] <= 2 for p in threadpoolctl.threadpool_info())
        torch.set_num_interop_threads(3)
        assert torch.get_num_interop_threads() == 3
        torch.use_deterministic_algorithms(True)
        assert torch.are_deterministic_algorithms_enabled()
        torch.set_float32_matmul_precision("high")
        assert torch.get_float32_matmul_precision() == "high"
        for bad in (lambda: torch.set_num_threads(0),
                    lambda: torch.set_float32_matmul_precision("x")):
            try:
                bad()
            except ValueError:
                pass
            else:
                raise AssertionError("accepted")
        print("ok")
        """))
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
