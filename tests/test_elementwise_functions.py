"""Element-wise functions and operators: values vs NumPy, the standard's special cases
(where NumPy deviates), Python-scalar operands, promotion, in-place rules, errors, and
derivatives of every differentiable element-wise function vs finite differences."""
import math
import operator

import numpy as np
import pytest

import arraylib as xp
from arraylib import _elementwise_functions as ew
from arraylib.autograd import gradcheck
from conftest import assert_close, to_numpy

RNG = np.random.default_rng(0)


def T(values, device, dtype=None):
    return xp.asarray(np.asarray(values) if dtype is None else np.asarray(values, dtype=dtype),
                      device=device)


def same_bits(actual, expected):
    """Equal values, NaN where NaN, and the same sign on zeros (and on NaN-free parts)."""
    a, e = np.asarray(actual), np.asarray(expected)
    assert a.shape == e.shape, (a, e)
    if a.dtype.kind == "c":
        same_bits(a.real, e.real)
        same_bits(a.imag, e.imag)
        return
    ok = (a == e) | (np.isnan(a) & np.isnan(e))
    ok &= (np.signbit(a) == np.signbit(e)) | np.isnan(e)
    assert ok.all(), f"got {a!r}, expected {e!r}"


# -- the table: name -> (numpy reference, input domain) ---------------------------------------
POS, UNIT, ANY, GE1, GTM1 = (0.1, 3.0), (-0.9, 0.9), (-3.0, 3.0), (1.05, 4.0), (-0.9, 3.0)
UNARY_FLOAT = {
    "exp": (np.exp, ANY), "expm1": (np.expm1, ANY), "log": (np.log, POS),
    "log1p": (np.log1p, GTM1), "log2": (np.log2, POS), "log10": (np.log10, POS),
    "sqrt": (np.sqrt, POS), "sin": (np.sin, ANY), "cos": (np.cos, ANY), "tan": (np.tan, UNIT),
    "sinh": (np.sinh, ANY), "cosh": (np.cosh, ANY), "tanh": (np.tanh, ANY),
    "asin": (np.arcsin, UNIT), "acos": (np.arccos, UNIT), "atan": (np.arctan, ANY),
    "asinh": (np.arcsinh, ANY), "acosh": (np.arccosh, GE1), "atanh": (np.arctanh, UNIT),
    "reciprocal": (np.reciprocal, POS),
}
UNARY_NUMERIC = {
    "square": np.square, "negative": np.negative, "positive": np.positive, "abs": np.abs,
    "sign": np.sign, "conj": np.conj, "real": np.real, "imag": np.imag,
    "isfinite": np.isfinite, "isinf": np.isinf, "isnan": np.isnan, "round": np.round,
}
UNARY_REAL_ONLY = {"floor": np.floor, "ceil": np.ceil, "trunc": np.trunc,
                   "signbit": np.signbit}
BINARY_FLOAT = {  # (reference, domain of x1, domain of x2)
    "divide": (np.divide, ANY, POS), "atan2": (np.arctan2, ANY, ANY),
    "hypot": (np.hypot, ANY, ANY), "logaddexp": (np.logaddexp, ANY, ANY),
    "copysign": (np.copysign, ANY, ANY), "nextafter": (np.nextafter, ANY, ANY),
    "pow": (np.power, POS, ANY),
}
BINARY_NUMERIC = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply,
    "maximum": np.maximum, "minimum": np.minimum, "remainder": np.remainder,
    "floor_divide": np.floor_divide,
    "equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal,
}
BINARY_INT = {"bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
              "bitwise_xor": np.bitwise_xor, "bitwise_left_shift": np.left_shift,
              "bitwise_right_shift": np.right_shift}
BINARY_BOOL = {"logical_and": np.logical_and, "logical_or": np.logical_or,
               "logical_xor": np.logical_xor}
REAL_ONLY_BINARY = {"maximum", "minimum", "remainder", "floor_divide", "less", "less_equal",
                    "greater", "greater_equal"}


def draw(domain, shape, dtype):
    lo, hi = domain
    v = RNG.uniform(lo, hi, size=shape)
    if np.dtype(dtype).kind == "c":
        v = v + 1j * RNG.uniform(0.1, 0.6, size=shape)
    return v.astype(dtype)


def test_table_covers_the_namespace():
    covered = (set(UNARY_FLOAT) | set(UNARY_NUMERIC) | set(UNARY_REAL_ONLY) | set(BINARY_FLOAT)
               | set(BINARY_NUMERIC) | set(BINARY_INT) | set(BINARY_BOOL)
               | {"logical_not", "bitwise_invert", "clip"})
    assert covered == set(ew.__all__)


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("name", sorted(UNARY_FLOAT))
def test_unary_float_values(name, dtype, device):
    ref, dom = UNARY_FLOAT[name]
    if dtype.startswith("complex"):
        dom = (0.2, 0.8) if name in ("asin", "acos", "atanh", "tan") else dom
    x = draw(dom, (3, 4), dtype)
    out = getattr(xp, name)(T(x, device))
    assert out.dtype == np.dtype(dtype) and out.device == device
    tol = 2e-6 if dtype in ("float32", "complex64") else 1e-12
    np.testing.assert_allclose(to_numpy(out), ref(x), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int64", "float32", "float64", "complex64"])
@pytest.mark.parametrize("name", sorted(UNARY_NUMERIC) + sorted(UNARY_REAL_ONLY))
def test_unary_numeric_values(name, dtype, device):
    ref = UNARY_NUMERIC.get(name) or UNARY_REAL_ONLY[name]
    kind = np.dtype(dtype).kind
    if name in UNARY_REAL_ONLY and kind == "c":
        with pytest.raises(TypeError, match=name):
            getattr(xp, name)(T(np.zeros(2, dtype), device))
        return
    if kind in "iu":
        x = RNG.integers(0 if kind == "u" else -9, 9, size=(5,)).astype(dtype)
    else:
        x = draw((-3, 3), (5,), dtype)
        if kind == "f":
            x[:3] = [2.5, -0.5, 1.5]  # round half to even
    out = getattr(xp, name)(T(x, device))
    expected = ref(x)
    if name in ("real", "imag") and kind != "c":
        expected = x if name == "real" else np.zeros_like(x)
    assert out.dtype == expected.dtype, (out.dtype, expected.dtype)
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("name", sorted(BINARY_FLOAT))
def test_binary_float_values(name, dtype, device):
    ref, d1, d2 = BINARY_FLOAT[name]
    if dtype.startswith("complex") and name not in ("divide", "pow"):
        with pytest.raises(TypeError, match=name):
            getattr(xp, name)(T(np.ones(2, dtype), device), T(np.ones(2, dtype), device))
        return
    a, b = draw(d1, (3, 1), dtype), draw(d2, (4,), dtype)
    out = getattr(xp, name)(T(a, device), T(b, device))
    assert out.shape == (3, 4) and out.dtype == np.dtype(dtype)
    tol = 3e-6 if dtype in ("float32", "complex64") else 1e-12
    np.testing.assert_allclose(to_numpy(out), ref(a, b), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["int16", "uint8", "int64", "float32", "float64", "complex128"])
@pytest.mark.parametrize("name", sorted(BINARY_NUMERIC))
def test_binary_numeric_values(name, dtype, device):
    ref = BINARY_NUMERIC[name]
    kind = np.dtype(dtype).kind
    if kind in "iu":
        a = RNG.integers(0 if kind == "u" else -20, 20, size=(4, 1)).astype(dtype)
        b = RNG.integers(1, 7, size=(5,)).astype(dtype)
    else:
        a, b = draw((-5, 5), (4, 1), dtype), draw((0.5, 3), (5,), dtype)
    if kind == "c" and name in REAL_ONLY_BINARY:
        with pytest.raises(TypeError, match=name):
            getattr(xp, name)(T(a, device), T(b, device))
        return
    out = getattr(xp, name)(T(a, device), T(b, device))
    expected = ref(a, b)
    assert out.dtype == expected.dtype and out.shape == (4, 5)
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint16", "int64"])
@pytest.mark.parametrize("name", sorted(BINARY_INT))
def test_binary_integer_values(name, dtype, device):
    if dtype == "bool":
        a, b = np.array([True, False, True]), np.array([True, True, False])
    else:
        a = RNG.integers(0, 50, size=(3,)).astype(dtype)
        b = RNG.integers(0, 5, size=(3,)).astype(dtype)
    if dtype == "bool" and "shift" in name:
        with pytest.raises(TypeError, match=name):
            getattr(xp, name)(T(a, device), T(b, device))
        return
    out = getattr(xp, name)(T(a, device), T(b, device))
    np.testing.assert_array_equal(to_numpy(out), BINARY_INT[name](a, b))
    assert out.dtype == np.dtype(dtype)
    inv = xp.bitwise_invert(T(a, device))
    np.testing.assert_array_equal(to_numpy(inv), np.invert(a))


@pytest.mark.parametrize("name", sorted(BINARY_BOOL))
def test_logical(name, device):
    a, b = np.array([True, False, True, False]), np.array([True, True, False, False])
    out = getattr(xp, name)(T(a, device), T(b, device))
    np.testing.assert_array_equal(to_numpy(out), BINARY_BOOL[name](a, b))
    np.testing.assert_array_equal(to_numpy(xp.logical_not(T(a, device))), ~a)
    with pytest.raises(TypeError, match=name):
        getattr(xp, name)(T([1.0], device), T([1.0], device))


def test_float_only_functions_promote_integers(device):
    """Integer input to a floating-point-only function computes in the default float."""
    assert xp.sin(T([0, 1], device, "int32")).dtype == xp.float32
    assert xp.divide(T([1, 2], device, "int64"), T([2, 2], device, "int64")).dtype == xp.float32
    assert_close(xp.sqrt(T([4, 9], device)), T([2.0, 3.0], device, "float32"))


# -- special cases of the standard (where NumPy deviates) ---------------------------------------
INF, NAN = math.inf, math.nan
SPECIAL_UNARY = [
    ("expm1", complex(0.0, 0.0), complex(0.0, 0.0)),
    ("expm1", complex(-0.0, 0.0), complex(0.0, 0.0)),
    ("expm1", complex(-0.0, -0.0), complex(0.0, -0.0)),
    ("expm1", complex(INF, 0.0), complex(INF, 0.0)),
    ("expm1", complex(INF, -0.0), complex(INF, -0.0)),
    ("expm1", complex(-INF, INF), complex(-1.0, 0.0)),
    ("expm1", complex(-INF, NAN), complex(-1.0, 0.0)),
    ("expm1", complex(INF, INF), complex(INF, NAN)),
    ("expm1", complex(INF, NAN), complex(INF, NAN)),
    ("expm1", complex(NAN, 0.0), complex(NAN, 0.0)),
    ("expm1", complex(NAN, -0.0), complex(NAN, -0.0)),
    ("expm1", complex(1.0, INF), complex(NAN, NAN)),
    ("tanh", complex(INF, 1e300), complex(1.0, 0.0)),
    ("tanh", complex(INF, 2.0), complex(1.0, 0.0)),
    ("tanh", complex(INF, -2.0), complex(1.0, -0.0)),
    ("tanh", complex(-INF, 2.0), complex(-1.0, 0.0)),
    ("tanh", complex(0.0, 0.0), complex(0.0, 0.0)),
    ("sign", complex(-0.0, -0.0), complex(0.0, 0.0)),
    ("sign", complex(0.0, -0.0), complex(0.0, 0.0)),
    ("sign", complex(3.0, 4.0), complex(0.6, 0.8)),
    ("sqrt", complex(-INF, 1.0), complex(0.0, INF)),
    ("sqrt", complex(1.0, INF), complex(INF, INF)),
    ("acosh", complex(0.0, 0.0), complex(0.0, math.pi / 2)),
    ("expm1", -0.0, -0.0), ("expm1", -INF, -1.0), ("tanh", -0.0, -0.0), ("sign", -3.0, -1.0),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name, x, expected", SPECIAL_UNARY,
                         ids=[f"{n}({x})" for n, x, _ in SPECIAL_UNARY])
def test_unary_special_cases(name, x, expected, dtype, device):
    if isinstance(x, complex):
        dtype = {"float64": "complex128", "float32": "complex64"}[dtype]
    out = getattr(xp, name)(T([x, x], device, dtype))
    assert out.dtype == np.dtype(dtype)
    exp = np.array([expected, expected], dtype=dtype)
    if name == "sign" and expected not in (0, 1, -1, 1j, -1j):
        np.testing.assert_allclose(to_numpy(out), exp, rtol=1e-6)
    else:
        same_bits(to_numpy(out), exp)


SPECIAL_BINARY = [
    ("floor_divide", INF, 2.0, INF), ("floor_divide", INF, -2.0, -INF),
    ("floor_divide", -INF, 2.0, -INF), ("floor_divide", -INF, -2.0, INF),
    ("floor_divide", 3.0, -INF, -0.0), ("floor_divide", -3.0, INF, -0.0),
    ("floor_divide", 3.0, INF, 0.0), ("floor_divide", -3.0, -INF, 0.0),
    ("floor_divide", INF, INF, NAN), ("floor_divide", 0.0, 0.0, NAN),
    ("floor_divide", 7.0, 2.0, 3.0), ("floor_divide", -7.0, 2.0, -4.0),
    ("floor_divide", 1.0, 0.1, 9.0),  # as Python's //: the exact quotient is below 10
    ("floor_divide", 5.0, 0.0, INF), ("floor_divide", -5.0, 0.0, -INF),
    ("floor_divide", 5.0, -0.0, -INF), ("floor_divide", -0.0, 2.0, -0.0),
    ("pow", -0.0, 0.5, 0.0), ("pow", -INF, 0.5, INF), ("pow", 4.0, 0.5, 2.0),
    ("pow", 0.0, 0.5, 0.0), ("pow", INF, 0.5, INF), ("pow", -4.0, 0.5, NAN),
    ("pow", -0.0, 3.0, -0.0), ("pow", -INF, 3.0, -INF), ("pow", 1.0, NAN, 1.0),
    ("pow", NAN, 0.0, 1.0),
    ("remainder", 5.0, INF, 5.0), ("remainder", -5.0, INF, INF), ("remainder", INF, 2.0, NAN),
    ("remainder", -0.0, 2.0, 0.0), ("remainder", 5.0, -3.0, -1.0),
    ("copysign", 2.0, -0.0, -2.0), ("copysign", NAN, -1.0, -NAN),
    ("atan2", 0.0, -0.0, math.pi), ("atan2", -0.0, -0.0, -math.pi),
    ("hypot", INF, NAN, INF), ("logaddexp", INF, INF, INF), ("logaddexp", -INF, -INF, -INF),
    ("maximum", NAN, 1.0, NAN), ("minimum", 1.0, NAN, NAN),
    ("nextafter", 0.0, -1.0, -5e-324), ("nextafter", 1.0, 1.0, 1.0),
    ("divide", 1.0, -0.0, -INF), ("divide", 0.0, 0.0, NAN),
]


@pytest.mark.parametrize("name, a, b, expected", SPECIAL_BINARY,
                         ids=[f"{n}({a},{b})" for n, a, b, _ in SPECIAL_BINARY])
def test_binary_special_cases(name, a, b, expected, device):
    x1, x2 = T([a], device, "float64"), T([b], device, "float64")
    exp = np.array([expected])
    same_bits(to_numpy(getattr(xp, name)(x1, x2)), exp)
    op = {"floor_divide": operator.floordiv, "pow": operator.pow, "remainder": operator.mod,
          "divide": operator.truediv}.get(name)
    if op is not None:  # the operator, the reflected operator, the in-place operator
        same_bits(to_numpy(op(x1, x2)), exp)
        same_bits(to_numpy(op(a, x2)), exp)
        same_bits(to_numpy(op(x1, b)), exp)
        y = T([a], device, "float64")
        iop = getattr(operator, "i" + op.__name__)
        y2 = iop(y, x2)
        assert y2 is y
        same_bits(to_numpy(y), exp)
    if name in ("floor_divide", "pow") and not math.isnan(expected):  # float32 too
        r = getattr(xp, name)(T([a], device, "float32"), T([b], device, "float32"))
        assert r.dtype == xp.float32
        same_bits(to_numpy(r), exp.astype(np.float32))


def test_floor_divide_and_remainder_integers(device):
    a = T([7, -7, 7, -7, 0], device, "int32")
    b = T([2, 2, -2, -2, 3], device, "int32")
    np.testing.assert_array_equal(to_numpy(a // b), [3, -4, -4, 3, 0])
    np.testing.assert_array_equal(to_numpy(a % b), [1, 1, -1, -1, 0])
    assert (a // b).dtype == xp.int32


def test_sign_and_abs_complex(device):
    z = T([3 + 4j, 0j, -2j], device, "complex64")
    assert_close(xp.sign(z), T([0.6 + 0.8j, 0j, -1j], device, "complex64"), rtol=1e-6)
    a = xp.abs(z)
    assert a.dtype == xp.float32
    assert_close(a, T([5.0, 0.0, 2.0], device, "float32"))


# -- clip ---------------------------------------------------------------------------------------
def test_clip(device):
    x = T([-3.0, 0.5, 4.0], device, "float32")
    assert_close(xp.clip(x, -1, 1), T([-1.0, 0.5, 1.0], device, "float32"))
    assert_close(xp.clip(x, min=0.0), T([0.0, 0.5, 4.0], device, "float32"))
    assert_close(xp.clip(x, max=T([0.0], device, "float64")), T([-3.0, 0.0, 0.0], device, "float32"))
    c = xp.clip(x)
    assert c is not x and c.tolist() == x.tolist()
    # the result broadcasts with tensor bounds (a 0-d x and a 1-d bound)
    b = xp.clip(T(2.0, device, "float64"), T([0.0, 1.0, 3.0], device, "float64"))
    assert b.shape == (3,) and b.tolist() == [2.0, 2.0, 3.0]
    i = T([0, 100, 255], device, "uint8")
    assert xp.clip(i, -5, 1000).tolist() == [0, 100, 255]  # out-of-range bounds clamp
    assert xp.clip(i, 10, 20).dtype == xp.uint8
    with pytest.raises(TypeError, match="clip"):
        xp.clip(i, 0.5)
    with pytest.raises(TypeError, match="clip"):
        xp.clip(T([1j], device), 0)
    with pytest.raises(TypeError, match="clip"):
        xp.clip([1.0], 0)


def test_clip_grad(device):
    x = T([-3.0, 0.5, 4.0], device, "float64").requires_grad_()
    xp.sum(xp.clip(x, -1.0, 1.0) * T([1.0, 2.0, 3.0], device, "float64")).backward()
    assert x.grad.tolist() == [0.0, 2.0, 0.0]


# -- Python scalars and promotion -----------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "float32", "float64", "complex64"])
def test_python_scalars_take_the_tensor_dtype(dtype, device):
    x = T([1, 2, 3], device, dtype)
    for s in (2, True) + ((2.5,) if dtype[0] in "fc" else ()) + ((1j,) if dtype[0] == "c" else ()):
        for out in (x + s, s + x, x * s, s * x, x - s, s - x, xp.add(x, s), xp.multiply(s, x),
                    xp.maximum(x, s) if dtype[0] != "c" else x):
            assert out.dtype == np.dtype(dtype), (s, out.dtype)
        np.testing.assert_allclose(to_numpy(s - x), s - np.asarray([1, 2, 3], dtype))
    assert (x < 2).dtype == xp.bool if dtype[0] != "c" else True
    assert (x == 2).tolist() == [False, True, False]
    assert (2 == x).tolist() == [False, True, False]
    assert (x != 2.0).tolist() == [True, False, True]


def test_python_scalar_kinds(device):
    f32 = T([1.0, 2.0], device, "float32")
    assert (f32 + 1e10).dtype == xp.float32  # no widening to float64
    assert (f32 + 1j).dtype == xp.complex64
    assert (T([1.0], device, "float64") + 1j).dtype == xp.complex128
    assert (T([1, 2], device, "int32") + 1.5).dtype == xp.float32  # default float
    assert (T([True], device) + 1).dtype == xp.int64
    assert (T([True], device) & True).dtype == xp.bool
    assert (1.5 / T([2], device, "int16")).dtype == xp.float32
    assert_close(2 ** T([1.0, 3.0], device, "float32"), T([2.0, 8.0], device, "float32"))
    assert_close(T([7.0], device) % 3, T([1.0], device))
    assert_close(10 // T([3], device), T([3], device))
    assert (1 << T([2], device, "uint8")).tolist() == [4]
    with pytest.raises(OverflowError, match="add"):
        T([1], device, "int8") + 300
    with pytest.raises(TypeError, match="unsupported operand"):  # str.__radd__ tried too
        T([1.0], device) + "a"
    with pytest.raises(TypeError):
        T([1.0], device) + [1.0]
    with pytest.raises(TypeError, match="add"):
        xp.add(1, 2)


def test_numpy_scalars_are_python_scalars(device):
    x = T([1.0, 2.0], device, "float32")
    assert (x + np.float64(1.5)).dtype == xp.float32
    assert (np.float64(1.5) + x).dtype == xp.float32  # __array_ufunc__ = None defers to arraylib
    assert (np.int64(2) * x).tolist() == [2.0, 4.0]


PROMOTIONS = [  # mixed kinds as PyTorch (the float wins); same kinds as the standard's table
    ("int8", "uint8", "int16"), ("int32", "uint32", "int64"), ("uint8", "uint16", "uint16"),
    ("float32", "float64", "float64"), ("float32", "complex64", "complex64"),
    ("float64", "complex64", "complex128"), ("int8", "float32", "float32"),
    ("int32", "float32", "float32"), ("uint8", "float32", "float32"),
    ("int64", "complex64", "complex64"), ("bool", "bool", "bool"), ("int64", "float64", "float64"),
]


@pytest.mark.parametrize("d1, d2, r", PROMOTIONS)
def test_binary_promotion(d1, d2, r, device):
    a, b = T([1], device, d1), T([1], device, d2)
    name = "logical_and" if r == "bool" else "add"
    assert getattr(xp, name)(a, b).dtype == np.dtype(r)
    assert getattr(xp, name)(b, a).dtype == np.dtype(r)
    if r != "bool":
        assert (a * b).dtype == np.dtype(r)
        assert (a == b).dtype == xp.bool


def test_promotion_errors(device):
    with pytest.raises(TypeError, match="add.*int64.*uint64"):
        xp.add(T([1], device, "int64"), T([1], device, "uint64"))
    with pytest.raises(TypeError, match="add"):
        xp.add(T([True], device), T([1], device, "int8"))
    with pytest.raises(TypeError, match="bitwise_and"):
        xp.bitwise_and(T([1.0], device), T([1.0], device))
    with pytest.raises(TypeError, match="atan2"):
        xp.atan2(T([1j], device), T([1j], device))
    with pytest.raises(TypeError, match="logical_not"):
        xp.logical_not(T([1], device))
    with pytest.raises(TypeError, match="exp.*list"):
        xp.exp([1.0])


def test_device_mixing():
    a = xp.asarray([1.0], device="cpu")
    b = xp.asarray([1.0], device="strict:device1")
    for f in (xp.add, operator.add, xp.atan2, xp.equal):
        with pytest.raises(ValueError, match="cpu.*strict:device1"):
            f(a, b)
    with pytest.raises(ValueError, match="clip"):
        xp.clip(a, b)


def test_shape_mismatch(device):
    with pytest.raises(ValueError):
        xp.add(T([1.0, 2.0], device), T([1.0, 2.0, 3.0], device))


def test_broadcasting(device):
    out = T(np.ones((2, 1, 3)), device) * T(np.arange(4.0)[:, None], device)
    assert out.shape == (2, 4, 3)


# -- in-place operators ---------------------------------------------------------------------------
IOPS = ["iadd", "isub", "imul", "itruediv", "ifloordiv", "imod", "ipow", "iand", "ior", "ixor",
        "ilshift", "irshift"]


@pytest.mark.parametrize("op", IOPS)
def test_inplace_operators(op, device):
    f = getattr(operator, op)
    plain = getattr(operator, op[1:] if op[1:] not in ("and", "or") else op[1:] + "_")
    dtype = "int32" if op in ("iand", "ior", "ixor", "ilshift", "irshift") else "float64"
    x0 = np.array([5, 6, 7], dtype=dtype)
    y0 = np.array([1, 2, 3], dtype=dtype)
    x, y = T(x0.copy(), device), T(y0, device)
    view_before = x
    r = f(x, y)
    assert r is view_before and r.dtype == np.dtype(dtype)
    np.testing.assert_allclose(to_numpy(x), plain(x0, y0))
    f(x, 2)  # a Python scalar
    np.testing.assert_allclose(to_numpy(x), plain(plain(x0, y0), np.array(2, dtype=dtype)))


def test_inplace_rules(device):
    x = T([1.0, 2.0], device, "float32")
    with pytest.raises(TypeError, match="__iadd__.*float64.*float32"):
        x += T([1.0, 1.0], device, "float64")  # the result dtype differs from x's
    i = T([1, 2], device, "int32")
    with pytest.raises(TypeError, match="__itruediv__"):
        i /= 2
    with pytest.raises(TypeError, match="__iadd__"):
        i += 1.5
    with pytest.raises(ValueError, match="__iadd__.*shape"):
        x += T(np.ones((2, 2)), device, "float32")  # the shape would grow
    assert x.tolist() == [1.0, 2.0]  # untouched by the failed updates
    y = T(np.ones((2, 2)), device, "float32")
    y += T([1.0, 2.0], device, "float32")  # broadcasting the right operand is fine
    assert y.tolist() == [[2.0, 3.0], [2.0, 3.0]]
    f64 = T([1.0], device, "float64")
    f64 += T([1.0], device, "float32")
    assert f64.dtype == xp.float64 and f64.tolist() == [2.0]
    b = T([True, False], device)
    b &= True
    assert b.tolist() == [True, False]


def test_inplace_bumps_version_and_autograd_guard(device):
    x = T([1.0, 2.0], device, "float64")
    v = x._version
    x *= 2
    assert x._version == v + 1
    leaf = T([1.0], device, "float64").requires_grad_()
    with pytest.raises(RuntimeError, match="leaf"):
        leaf += 1
    with xp.no_grad():
        leaf += 1
    assert leaf.tolist() == [2.0]


def test_operators_defer_to_unknown_types(device):
    x = T([1.0], device)

    class Other:
        def __radd__(self, other):
            return "radd"

        def __eq__(self, other):
            return "eq"
    assert (x == Other()) == "eq"
    assert x.__eq__(object()) is NotImplemented


# -- derivatives vs finite differences, float64 and complex128 ---------------------------------
HOLOMORPHIC = {"exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "sin", "cos", "tan",
               "sinh", "cosh", "tanh", "asin", "acos", "atan", "asinh", "acosh", "atanh",
               "square", "reciprocal", "negative", "positive"}
UNARY_GRAD_DOMAIN = {n: d for n, (_, d) in UNARY_FLOAT.items()}
UNARY_GRAD_DOMAIN.update({"square": ANY, "negative": ANY, "positive": ANY, "conj": ANY,
                          "real": ANY, "imag": ANY, "abs": (0.3, 3.0)})
# piecewise constant: zero derivative, away from the jumps (PyTorch's convention)
UNARY_GRAD_DOMAIN.update({"floor": (0.1, 0.4), "ceil": (0.1, 0.4), "trunc": (0.1, 0.4),
                          "round": (0.1, 0.4), "sign": (0.3, 3.0)})
COMPLEX_DOMAIN = {"asin": (-0.5, 0.5), "acos": (-0.5, 0.5), "atanh": (-0.5, 0.5),
                  "acosh": (1.2, 2.0), "tan": (-0.5, 0.5)}
BINARY_GRAD_DOMAIN = {
    "add": (ANY, ANY), "subtract": (ANY, ANY), "multiply": (ANY, ANY), "divide": (ANY, POS),
    "pow": (POS, ANY), "atan2": (POS, POS), "hypot": (POS, POS), "logaddexp": (ANY, ANY),
    "maximum": ((0.0, 1.0), (2.0, 3.0)), "minimum": ((0.0, 1.0), (2.0, 3.0)),
    "copysign": ((0.5, 2.0), (-2.0, -0.5)), "remainder": ((2.2, 2.4), (1.3, 1.4)),
}
COMPLEX_BINARY = {"add", "subtract", "multiply", "divide", "pow"}


def _differentiable(name):
    f = getattr(xp, name)
    return getattr(f, "primitive", None) is not None and f.primitive.vjp is not None


def test_grad_table_covers_every_differentiable_function():
    diff = {n for n in ew.__all__ if n != "clip" and _differentiable(n)}
    assert diff == set(UNARY_GRAD_DOMAIN) | set(BINARY_GRAD_DOMAIN)


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
@pytest.mark.parametrize("name", sorted(UNARY_GRAD_DOMAIN))
def test_unary_grad(name, dtype, device):
    if dtype == "complex128" and name not in HOLOMORPHIC | {"conj", "real", "imag", "abs",
                                                            "sign"}:
        pytest.skip("real only")
    dom = COMPLEX_DOMAIN.get(name, UNARY_GRAD_DOMAIN[name]) if dtype == "complex128" \
        else UNARY_GRAD_DOMAIN[name]
    x = T(draw(dom, (2, 3), dtype), device).requires_grad_()
    assert gradcheck(getattr(xp, name), (x,))


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
@pytest.mark.parametrize("name", sorted(BINARY_GRAD_DOMAIN))
def test_binary_grad(name, dtype, device):
    if dtype == "complex128" and name not in COMPLEX_BINARY:
        pytest.skip("real only")
    d1, d2 = BINARY_GRAD_DOMAIN[name]
    a = T(draw(d1, (2, 3), dtype), device).requires_grad_()
    b = T(draw(d2, (3,), dtype), device).requires_grad_()  # broadcast: unbroadcast in the engine
    assert gradcheck(getattr(xp, name), (a, b))


def test_grad_with_python_scalars(device):
    x = T([0.7, 1.3], device, "float64").requires_grad_()
    assert gradcheck(lambda t: 2.0 ** t + t ** 3 - 1 / t + t * 2 - 3 % t, (x,))


@pytest.mark.parametrize("name", ["exp", "tanh", "sqrt", "log"])
def test_second_derivatives(name, device):
    from arraylib.autograd import gradgradcheck
    x = T(draw(POS, (3,), "float64"), device).requires_grad_()
    assert gradgradcheck(getattr(xp, name), (x,))


def test_grad_vs_torch(device):
    torch = pytest.importorskip("torch")
    v = np.array([0.3, 0.7, 1.9])
    for name, tf in [("tanh", torch.tanh), ("expm1", torch.expm1), ("log1p", torch.log1p),
                     ("atan", torch.atan), ("acosh", torch.acosh)]:
        xv = v + (1.0 if name == "acosh" else 0.0)
        x = T(xv, device, "float64").requires_grad_()
        xp.sum(getattr(xp, name)(x) * T([1.0, -2.0, 0.5], device, "float64")).backward()
        tx = torch.tensor(xv, requires_grad=True)
        (tf(tx) * torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)).sum().backward()
        np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-12)
