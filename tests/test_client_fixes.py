"""Small fixes that array-API clients (SciPy, scikit-learn, marray, xarray...) need:
the switchable default float, empty sequences, operators that defer to foreign operands,
integer ``linspace``, NumPy's keyword spellings on Tensor methods, NumPy's error wording."""
import os
import subprocess
import sys

import numpy as np
import pytest

import arraylib as xp
from conftest import to_numpy


@pytest.fixture
def default64():
    """The default float set to float64 for one test, restored after it."""
    xp.set_default_dtype(xp.float64)
    try:
        yield
    finally:
        xp.set_default_dtype(xp.float32)


# -- default dtype -----------------------------------------------------------------------------
def test_default_dtype_is_float32_and_switchable(default64):
    assert xp.get_default_dtype() == xp.float64
    assert xp.asarray([1.5]).dtype == xp.float64 and xp.asarray(1.5).dtype == xp.float64
    for make in (xp.zeros, xp.ones, xp.empty):
        assert make((2,)).dtype == xp.float64
    assert xp.eye(2).dtype == xp.float64 and xp.linspace(0, 1, 3).dtype == xp.float64
    assert xp.arange(0.0, 1.0).dtype == xp.float64 and xp.full((2,), 1.5).dtype == xp.float64
    assert xp.asarray([1j]).dtype == xp.complex128 and xp.linspace(0j, 1, 2).dtype == xp.complex128
    assert xp.asarray([]).dtype == xp.float64
    assert xp.arange(3).dtype == xp.int64 and xp.asarray([True]).dtype == xp.bool
    info = xp.__array_namespace_info__().default_dtypes()
    assert info["real floating"] == xp.float64 and info["complex floating"] == xp.complex128


def test_default_dtype_restored_and_float32_stays(default64):
    f32 = xp.ones(2, dtype=xp.float32)
    assert (f32 * 1j).dtype == xp.complex64  # whatever the default
    assert (f32 + 1.5).dtype == xp.float32 and (1j + f32).dtype == xp.complex64
    assert (xp.ones(2, dtype=xp.int32) * 1.5).dtype == xp.float64
    assert (xp.ones(2, dtype=xp.int32) * 1j).dtype == xp.complex128
    assert (xp.ones(2, dtype=xp.float64) * 1j).dtype == xp.complex128


def test_default_dtype_float32():
    assert xp.get_default_dtype() == xp.float32
    assert xp.asarray([1.5]).dtype == xp.float32 and xp.zeros(2).dtype == xp.float32
    assert xp.asarray([1j]).dtype == xp.complex64
    assert (xp.ones(2, dtype=xp.float64) * 1j).dtype == xp.complex128
    assert (xp.ones(2, dtype=xp.int64) * 1j).dtype == xp.complex64


@pytest.mark.parametrize("bad", [xp.int64, xp.float16, xp.complex128, xp.bool, "int32", None, 3,
                                 True, "not a dtype"])
def test_set_default_dtype_refuses(bad):
    with pytest.raises(TypeError, match="set_default_dtype: expected float32 or float64"):
        xp.set_default_dtype(bad)
    assert xp.get_default_dtype() == xp.float32


def test_set_default_dtype_by_name():
    xp.set_default_dtype("float64")
    try:
        assert xp.zeros(1).dtype == xp.float64
    finally:
        xp.set_default_dtype("float32")
    assert xp.zeros(1).dtype == xp.float32


@pytest.mark.parametrize("default", ["float32", "float64"])
@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "float32", "float64"])
@pytest.mark.parametrize("scalar", [2, 1.5, 1j])
def test_scalar_promotion_as_pytorch(torch, default, dtype, scalar):
    if dtype == "bool" and scalar == 2:
        pytest.skip("bool tensor with an int: covered by the promotion tests")
    old = torch.get_default_dtype()
    xp.set_default_dtype(default)
    torch.set_default_dtype(getattr(torch, default))
    try:
        got = (xp.ones(2, dtype=dtype) * scalar).dtype
        want = (torch.ones(2, dtype=getattr(torch, dtype)) * scalar).dtype
        made = xp.asarray([scalar]).dtype, torch.tensor([scalar]).dtype
        empty = xp.asarray([]).dtype, torch.tensor([]).dtype
    finally:
        xp.set_default_dtype("float32")
        torch.set_default_dtype(old)
    assert f"torch.{got.name}" == str(want)
    assert f"torch.{made[0].name}" == str(made[1])
    assert f"torch.{empty[0].name}" == str(empty[1])


def _run_with_env(value, code):
    env = dict(os.environ, ARRAYLIB_DEFAULT_DTYPE=value)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)


def test_environment_variable_sets_default():
    r = _run_with_env("float64", "import arraylib as xp; print(xp.zeros(1).dtype, "
                                 "xp.asarray([1j]).dtype, xp.get_default_dtype())")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["float64", "complex128", "float64"]
    r = _run_with_env("int8", "import arraylib")
    assert r.returncode != 0 and "set_default_dtype: expected float32 or float64" in r.stderr


def test_torch_face_set_default_dtype():
    face = xp.torch
    assert face.get_default_dtype() is face.float32
    face.set_default_dtype(face.float64)
    try:
        assert face.get_default_dtype() is face.float64
        assert face.tensor([1.0]).dtype == face.float64 and face.zeros(2).dtype == face.float64
    finally:
        face.set_default_dtype(face.float32)
    with pytest.raises(TypeError, match="set_default_dtype"):
        face.set_default_dtype(face.int64)


# -- empty sequences ---------------------------------------------------------------------------
@pytest.mark.parametrize("obj, shape", [([], (0,)), ([[]], (1, 0)), ([[], []], (2, 0)),
                                        ((), (0,)), ([(), ()], (2, 0))])
def test_empty_sequences_take_default_float(device, obj, shape):
    x = xp.asarray(obj, device=device)
    assert x.dtype == xp.float32 and x.shape == shape
    assert np.asarray(obj).shape == shape  # NumPy: float64, its default
    assert xp.asarray(obj, dtype=xp.int64, device=device).dtype == xp.int64


def test_nonempty_sequences_unchanged():
    assert xp.asarray([True]).dtype == xp.bool and xp.asarray([[1], [2]]).dtype == xp.int64
    assert xp.asarray([[1.0]]).dtype == xp.float32 and xp.asarray([[1j]]).dtype == xp.complex64


# -- operators defer to foreign operands -------------------------------------------------------
_OPS = ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor", "lshift",
        "rshift", "matmul"]


class _Other:
    """A foreign operand that implements every operator on both sides."""
    def __array_namespace__(self, api_version=None):
        return None


for _op in _OPS:
    setattr(_Other, f"__{_op}__", lambda self, other, _op=_op: ("left", _op))
    setattr(_Other, f"__r{_op}__", lambda self, other, _op=_op: ("right", _op))
for _op, _ref in [("eq", "eq"), ("ne", "ne"), ("lt", "gt"), ("le", "ge"), ("gt", "lt"),
                  ("ge", "le")]:
    setattr(_Other, f"__{_op}__", lambda self, other, _op=_op: ("cmp", _op))

_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%",
            "pow": "**", "and": "&", "or": "|", "xor": "^", "lshift": "<<", "rshift": ">>",
            "matmul": "@"}


@pytest.mark.parametrize("op", _OPS)
def test_operators_return_notimplemented_for_foreign(device, op):
    x = xp.asarray([1, 2], device=device)
    o = _Other()
    sym = _SYMBOLS[op]
    assert eval(f"x {sym} o") == ("right", op)
    assert eval(f"o {sym} x") == ("left", op)
    for bad in (o, {1}, object(), np.ones(2)):
        assert getattr(x, f"__{op}__")(bad) is NotImplemented
        assert getattr(x, f"__r{op}__")(bad) is NotImplemented
    y = x
    y = eval(f"y.__i{op}__(o)")
    assert y is NotImplemented
    z = x
    exec(f"z {sym}= o", {}, env := {"z": z, "o": o})
    assert env["z"] == ("right", op)  # Python fell back to o.__r{op}__
    assert x.tolist() == [1, 2]


def test_comparisons_defer_to_foreign(device):
    x = xp.asarray([1.0], device=device)
    o = _Other()
    assert (x == o) == ("cmp", "eq") and (x < o) == ("cmp", "gt") and (x >= o) == ("cmp", "le")


def test_unknown_operand_is_still_a_type_error():
    x = xp.asarray([1.0])
    with pytest.raises(TypeError, match="unsupported operand"):
        x + {1}
    with pytest.raises(TypeError, match="unsupported operand"):
        object() * x
    with pytest.raises(TypeError, match="add: expected a Tensor or a Python scalar, got set"):
        xp.add(x, {1})
    with pytest.raises(TypeError):
        x += object()


def test_scalars_and_tensors_still_work(device):
    x = xp.asarray([1.0, 2.0], device=device)
    assert (x + 1).tolist() == [2.0, 3.0] and (1 - x).tolist() == [0.0, -1.0]
    assert (2 ** x).tolist() == [2.0, 4.0] and (x / np.float32(2)).dtype == xp.float32
    assert (x * x).tolist() == [1.0, 4.0] and (True + x).tolist() == [2.0, 3.0]
    i = xp.asarray([6, 3], device=device)
    assert (i & 2).tolist() == [2, 2] and (1 << i).tolist() == [64, 8] and (i % 4).tolist() == [2, 3]
    x += 1
    assert x.tolist() == [2.0, 3.0]
    w = xp.asarray([1.0, 2.0], dtype=xp.float64, requires_grad=True)
    (3.0 * w + w * w - 1).sum().backward()
    assert w.grad.tolist() == [5.0, 7.0]


# -- integer linspace --------------------------------------------------------------------------
@pytest.mark.parametrize("start, stop, num, dtype, endpoint", [
    (-5, 5, 4, "int64", True), (-5.5, 5, 4, "int64", True), (0, 10, 7, "int32", True),
    (0, 10, 7, "int32", False), (0, 1, 5, "int8", True), (3, 250, 6, "uint8", True),
    (10, -3, 5, "int16", True), (0, 0, 0, "int64", True), (-7, 7, 1, "int64", True)])
def test_linspace_integer_as_numpy(device, start, stop, num, dtype, endpoint):
    got = xp.linspace(start, stop, num, dtype=dtype, device=device, endpoint=endpoint)
    want = np.linspace(start, stop, num, dtype=dtype, endpoint=endpoint)
    assert got.dtype == xp.__array_namespace_info__().dtypes()[dtype]
    assert got.dtype == want.dtype and np.array_equal(to_numpy(got), want)


def test_linspace_integer_no_float64_device():
    got = xp.linspace(-5.5, 5, 4, dtype=xp.int32, device="strict:no_float64")
    assert got.tolist() == np.linspace(-5.5, 5, 4, dtype=np.int32).tolist()


def test_linspace_integer_as_pytorch(torch):
    """Non-negative values: PyTorch truncates and NumPy floors, which agree there."""
    got = xp.linspace(0, 10, 7, dtype=xp.int64)
    assert got.tolist() == torch.linspace(0, 10, 7, dtype=torch.int64).tolist()


def test_linspace_integer_errors():
    with pytest.raises(OverflowError, match="linspace: .* out of bounds for uint8"):
        xp.linspace(-1, 5, 3, dtype=xp.uint8)
    with pytest.raises(TypeError, match="linspace: dtype must be numeric"):
        xp.linspace(0, 1, 3, dtype=xp.bool)
    with pytest.raises(TypeError, match="linspace: complex start/stop"):
        xp.linspace(0, 1j, 3, dtype=xp.int64)


# -- NumPy's keyword spellings on Tensor methods -----------------------------------------------
A = np.arange(1.0, 13.0).reshape(3, 4) ** 1.5


@pytest.mark.parametrize("name, kw", [
    ("sum", {}), ("sum", {"keepdims": True}), ("prod", {}), ("mean", {}), ("mean", {"keepdims": True}),
    ("std", {"ddof": 1}), ("var", {"ddof": 0}), ("var", {"ddof": 1}), ("max", {}), ("min", {}),
    ("max", {"keepdims": True}), ("argmax", {}), ("argmin", {}), ("cumsum", {}), ("any", {}),
    ("all", {})])
@pytest.mark.parametrize("axis", [0, 1, None])
def test_numpy_functions_call_tensor_methods(name, kw, axis):
    """``numpy.var(tensor, axis=0)`` calls ``tensor.var(axis=0, dtype=None, out=None, ddof=0)``."""
    x = xp.asarray(A)
    got = getattr(np, name)(x, axis=axis, **kw)
    want = getattr(np, name)(A, axis=axis, **kw)
    assert isinstance(got, xp.Tensor)
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12)
    assert got.shape == want.shape


def test_numpy_keywords_on_methods():
    x = xp.asarray(A)
    np.testing.assert_allclose(to_numpy(x.sum(axis=1, dtype=None, out=None, keepdims=True)),
                               A.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(to_numpy(x.std(axis=0, ddof=1)), A.std(axis=0, ddof=1))
    np.testing.assert_allclose(to_numpy(x.var(ddof=2)), A.var(ddof=2))
    np.testing.assert_allclose(to_numpy(x.var(axis=(0, 1), dtype=xp.float32, ddof=0)),
                               A.var(), rtol=1e-6)
    np.testing.assert_allclose(to_numpy(x.max(axis=1)), A.max(axis=1))  # values only
    np.testing.assert_allclose(to_numpy(x.cumsum(axis=1)), A.cumsum(axis=1))
    np.testing.assert_allclose(to_numpy(x.cumsum()), A.cumsum())
    assert x.sum(dtype=xp.float32).dtype == xp.float32
    b = xp.asarray(A > 5)
    assert b.any(axis=0).tolist() == (A > 5).any(axis=0).tolist()
    assert b.all(axis=1, keepdims=True).tolist() == (A > 5).all(axis=1, keepdims=True).tolist()


def test_numpy_keyword_errors():
    x = xp.asarray(A)
    with pytest.raises(TypeError, match="Tensor.sum: out= is not supported"):
        x.sum(axis=0, out=xp.zeros(4))
    with pytest.raises(TypeError, match="Tensor.mean: got both dim"):
        x.mean(0, axis=1)
    with pytest.raises(TypeError, match="ddof"):
        x.var(ddof=1, correction=1)


def test_pytorch_keywords_still_work(torch):
    x, t = xp.asarray(A), torch.tensor(A)

    def same(a, b):
        np.testing.assert_allclose(to_numpy(a), b.numpy(), rtol=1e-12)
    same(x.sum(dim=1, keepdim=True), t.sum(dim=1, keepdim=True))
    same(x.mean(1), t.mean(1))
    same(x.std(), t.std())
    same(x.std(0, unbiased=False), t.std(0, unbiased=False))
    same(x.var(dim=1, correction=0), t.var(dim=1, correction=0))
    same(x.var(1, keepdim=True), t.var(1, keepdim=True))
    same(x.cumsum(0), t.cumsum(0))
    same(x.cumsum(dim=1), t.cumsum(dim=1))
    same(x.prod(1), t.prod(1))
    v, i = x.max(dim=1)
    tv, ti = t.max(dim=1)
    same(v, tv)
    assert i.tolist() == ti.tolist()
    v, i = x.min(0, keepdim=True)
    same(v, t.min(0, keepdim=True).values)
    same(x.argmax(dim=1), t.argmax(dim=1))
    assert x.any(dim=0).tolist() == t.bool().any(dim=0).tolist()


def test_diff_positional_n():
    a = np.array([[1.0, 4.0, 9.0, 16.0], [2.0, 3.0, 5.0, 8.0]])
    x = xp.asarray(a)
    np.testing.assert_array_equal(to_numpy(xp.diff(x, 2)), np.diff(a, 2))
    np.testing.assert_array_equal(to_numpy(xp.diff(x, 1, 0)), np.diff(a, 1, 0))
    np.testing.assert_array_equal(to_numpy(xp.diff(x, n=2, axis=-1)), np.diff(a, n=2, axis=-1))
    p = xp.asarray([[0.0], [0.0]])
    np.testing.assert_array_equal(to_numpy(xp.diff(x, 1, prepend=p)),
                                  np.diff(a, 1, prepend=np.zeros((2, 1))))


# -- NumPy's error wording ---------------------------------------------------------------------
@pytest.mark.parametrize("call, name", [
    (lambda x: xp.sum(x, axis=3), "sum"), (lambda x: x.sum(axis=3), "sum"),
    (lambda x: xp.mean(x, axis=3), "mean"), (lambda x: xp.argmax(x, axis=3), "argmax"),
    (lambda x: xp.cumulative_sum(x, axis=3), "cumulative_sum"),
    (lambda x: xp.flip(x, axis=3), "flip"), (lambda x: xp.diff(x, axis=3), "diff"),
    (lambda x: xp.sort(x, axis=3), "sort"), (lambda x: xp.take(x, xp.asarray([0]), axis=3), "take")])
def test_axis_out_of_bounds_wording(call, name):
    with pytest.raises(IndexError, match=f"^{name}: axis 3 is out of bounds for array of "
                                         "dimension 2$") as e:
        call(xp.ones((2, 3)))
    assert isinstance(e.value, ValueError)  # NumPy's AxisError is both
    with pytest.raises(np.exceptions.AxisError, match="axis 3 is out of bounds for array of "
                                                      "dimension 2"):
        np.sum(np.ones((2, 3)), axis=3)


@pytest.mark.parametrize("call, name", [
    (lambda a, b: a + b, "add"), (lambda a, b: xp.multiply(a, b), "multiply"),
    (lambda a, b: xp.atan2(a, b), "atan2"), (lambda a, b: xp.where(a > 0, a, b), "where"),
    (lambda a, b: xp.broadcast_to(a, b.shape), "broadcast_to"),
    (lambda a, b: xp.broadcast_arrays(a, b), "broadcast_shapes"),
    (lambda a, b: xp.clip(a, b), "clip"), (lambda a, b: xp.linalg.vecdot(a, xp.ones((4, 3))), "vecdot")])
def test_broadcast_wording(call, name):
    with pytest.raises(ValueError, match=f"^{name}: .*operands could not be broadcast together"):
        call(xp.ones((2, 3)), xp.ones(4))
    with pytest.raises(ValueError, match="operands could not be broadcast together"):
        np.ones((2, 3)) + np.ones(4)


def test_legacy_constructor_follows_the_default_dtype(torch):
    try:
        xp.set_default_dtype(xp.float64)
        torch.set_default_dtype(torch.float64)
        assert xp.Tensor([1, 2]).dtype == xp.float64 and torch.Tensor([1, 2]).dtype == torch.float64
        assert xp.Tensor(2, 3).dtype == xp.float64
    finally:
        xp.set_default_dtype(xp.float32)
        torch.set_default_dtype(torch.float32)
    assert xp.Tensor([1, 2]).dtype == xp.float32


NO_F64 = "strict:no_float64"


@pytest.mark.parametrize("make", [
    lambda d: xp.zeros(3, device=d), lambda d: xp.ones(2, device=d), lambda d: xp.eye(2, device=d),
    lambda d: xp.asarray([1.0], device=d), lambda d: xp.asarray(2.5, device=d),
    lambda d: xp.arange(0.0, 3.0, device=d), lambda d: xp.linspace(0, 1, 3, device=d),
    lambda d: xp.rand(2, device=d), lambda d: xp.randn(2, device=d),
    lambda d: xp.fft.fftfreq(4, device=d), lambda d: xp.asarray([1, 2], device=d) * 1.5,
    lambda d: xp.mean(xp.asarray([1, 2], device=d) * 1.0), lambda d: xp.asarray(1j, device=d),
])
def test_default_float64_narrows_on_a_device_without_it(default64, make):
    """With the default set to float64, a device without float64 takes float32 (complex64)
    for every defaulted dtype, as array_api_strict does; cpu keeps float64."""
    out = make(NO_F64)
    assert out.dtype in (xp.float32, xp.complex64)
    assert out.device == NO_F64
    assert make("cpu").dtype in (xp.float64, xp.complex128)
    info = xp.__array_namespace_info__()
    assert info.default_dtypes(device=NO_F64)["real floating"] == xp.float32
    assert info.default_dtypes(device="cpu")["real floating"] == xp.float64
