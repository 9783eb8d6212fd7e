"""The dtypes, the standard's promotion table, mixed-kind promotion (as PyTorch), as_dtype,
isdtype.  float16/bfloat16 have their own tests in test_half.py."""
import numpy as np
import pytest

import arraylib as xp
from arraylib import _dtypes

i1, i2, i4, i8 = "int8", "int16", "int32", "int64"
u1, u2, u4, u8 = "uint8", "uint16", "uint32", "uint64"
f4, f8, c8, c16 = "float32", "float64", "complex64", "complex128"

# The standard's table, written out from the specification (section "Type Promotion Rules").
SIGNED = {(i1, i1): i1, (i1, i2): i2, (i1, i4): i4, (i1, i8): i8,
          (i2, i2): i2, (i2, i4): i4, (i2, i8): i8, (i4, i4): i4, (i4, i8): i8, (i8, i8): i8}
UNSIGNED = {(u1, u1): u1, (u1, u2): u2, (u1, u4): u4, (u1, u8): u8,
            (u2, u2): u2, (u2, u4): u4, (u2, u8): u8, (u4, u4): u4, (u4, u8): u8, (u8, u8): u8}
MIXED_INT = {(i1, u1): i2, (i1, u2): i4, (i1, u4): i8, (i2, u1): i2, (i2, u2): i4, (i2, u4): i8,
             (i4, u1): i4, (i4, u2): i4, (i4, u4): i8, (i8, u1): i8, (i8, u2): i8, (i8, u4): i8}
FLOATS = {(f4, f4): f4, (f4, f8): f8, (f8, f8): f8, (f4, c8): c8, (f4, c16): c16,
          (f8, c8): c16, (f8, c16): c16, (c8, c8): c8, (c8, c16): c16, (c16, c16): c16}
STANDARD = {**SIGNED, **UNSIGNED, **MIXED_INT, **FLOATS, ("bool", "bool"): "bool"}

ALL = [d.name for d in _dtypes.standard_dtypes]
HALF = (xp.float16, xp.bfloat16)


def test_fourteen_dtypes_are_numpy_dtypes():
    assert len(_dtypes.standard_dtypes) == 13  # bool + 12 numeric
    assert _dtypes.all_dtypes == _dtypes.standard_dtypes + HALF  # the non-standard extras
    for name in ALL:
        dt = getattr(xp, name)
        assert isinstance(dt, np.dtype) and dt == np.dtype(name)
        assert dt == getattr(np, name)
    assert xp.float64.kind == "f" and xp.int8.kind == "i" and xp.bool.kind == "b"


@pytest.mark.parametrize("pair, result", sorted(STANDARD.items()))
def test_standard_table(pair, result):
    a, b = (np.dtype(p) for p in pair)
    assert _dtypes.result_type_of(a, b) == np.dtype(result)
    assert _dtypes.result_type_of(b, a) == np.dtype(result)
    assert xp.result_type(a, b) == np.dtype(result)


def test_table_beyond_the_standard_is_pytorch_mixed_kinds():
    for a in _dtypes.standard_dtypes:
        for b in _dtypes.standard_dtypes:
            key = (a.name, b.name)
            if key in STANDARD or key[::-1] in STANDARD:
                continue
            if a.kind in "fc" or b.kind in "fc":  # bool or integer with floating: the float
                assert a.kind != b.kind
                assert _dtypes.result_type_of(a, b) == (a if a.kind in "fc" else b)
            else:  # bool with integers, and signed with uint64: no rule
                assert a == xp.bool or b == xp.bool or {a.kind, b.kind} == {"i", "u"}
                assert (a, b) not in _dtypes.promotion_table
                with pytest.raises(TypeError, match=f"{a}.*{b}"):
                    _dtypes.result_type_of(a, b, func="add")


def test_mixed_kind_examples():
    assert _dtypes.result_type_of(xp.int8, xp.float32) == xp.float32
    assert _dtypes.result_type_of(xp.int16, xp.float32) == xp.float32
    assert _dtypes.result_type_of(xp.int32, xp.float32) == xp.float32  # NumPy 2: float64
    assert _dtypes.result_type_of(xp.int64, xp.float32) == xp.float32
    assert _dtypes.result_type_of(xp.uint64, xp.complex64) == xp.complex64
    assert _dtypes.result_type_of(xp.bool, xp.float64) == xp.float64


def test_python_scalar_dtypes():
    s = _dtypes.scalar_dtype_for
    assert s(1.5, xp.float32) == xp.float32  # never widened to float64
    assert s(1, xp.uint8) == xp.uint8
    assert s(True, xp.int16) == xp.int16
    assert s(1, xp.bool) == xp.int64
    assert s(1.5, xp.int32) == xp.float32
    assert s(1j, xp.float32) == xp.complex64
    assert s(1j, xp.float64) == xp.complex128
    assert s(1j, xp.complex128) == xp.complex128
    assert s("a", xp.float32) is None
    assert xp.result_type(xp.float32, 1.5) == xp.float32
    assert xp.result_type(xp.int8, 1) == xp.int8


@pytest.mark.parametrize("spec", ["float32", np.float32, np.dtype("float32"), xp.float32])
def test_as_dtype_accepts_numpy_spellings(spec):
    assert _dtypes.as_dtype(spec) is xp.float32 or _dtypes.as_dtype(spec) == xp.float32


@pytest.mark.parametrize("bad", [np.longdouble, "clongdouble", "U5", object, None, 3, "nonsense"])
def test_as_dtype_rejects(bad):
    with pytest.raises(TypeError, match="astype: .* is not a supported data type"):
        _dtypes.as_dtype(bad, func="astype")


KINDS = {
    "bool": {"bool"}, "signed integer": {i1, i2, i4, i8}, "unsigned integer": {u1, u2, u4, u8},
    "integral": {i1, i2, i4, i8, u1, u2, u4, u8}, "real floating": {f4, f8},
    "complex floating": {c8, c16},
    "numeric": {i1, i2, i4, i8, u1, u2, u4, u8, f4, f8, c8, c16},
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_isdtype_kinds(kind):
    for name in ALL:
        dt = np.dtype(name)
        assert xp.isdtype(dt, kind) == (name in KINDS[kind]), (name, kind)
        assert _dtypes.is_kind(dt, kind) == (name in KINDS[kind])


def test_isdtype_tuples_and_dtypes():
    assert xp.isdtype(xp.float32, ("integral", "real floating"))
    assert not xp.isdtype(xp.complex64, ("integral", "real floating"))
    assert xp.isdtype(xp.float32, xp.float32)
    assert not xp.isdtype(xp.float32, xp.float64)
    assert xp.isdtype(xp.int8, ("bool", xp.int8))
    with pytest.raises(ValueError, match="isdtype"):
        xp.isdtype(xp.float32, "floating")


def test_categories_match_the_standard():
    c = _dtypes.CATEGORIES
    assert set(c["floating-point"]) == {xp.float32, xp.float64, xp.complex64, xp.complex128,
                                        *HALF}  # float16 and bfloat16 beyond the standard
    assert set(c["real numeric"]) == {np.dtype(n) for n in KINDS["integral"] | {f4, f8}} | set(HALF)
    assert set(c["numeric"]) == {np.dtype(n) for n in KINDS["numeric"]} | set(HALF)
    assert set(c["integer or boolean"]) == {np.dtype(n) for n in KINDS["integral"] | {"bool"}}
    assert set(c["any"]) == set(_dtypes.all_dtypes)


def test_defaults_follow_pytorch():
    d = xp.__array_namespace_info__().default_dtypes()
    assert d == {"real floating": xp.float32, "complex floating": xp.complex64,
                 "integral": xp.int64, "indexing": xp.int64}
    assert xp.asarray(1.0).dtype == xp.float32
    assert xp.asarray(1).dtype == xp.int64
    assert xp.asarray(1j).dtype == xp.complex64


def test_dtypes_on_strict_devices(device):
    for name in ALL:
        x = xp.asarray([1], dtype=name, device=device)
        assert x.dtype == np.dtype(name)
        assert isinstance(x.dtype, np.dtype)
