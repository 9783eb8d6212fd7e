"""Issue 14, items 7, 12 and 13 (namespace parts): PyTorch's gradient conventions at the
edges, standard exceptions that name the function, and the NumPy / DLPack contracts.

Each test compares values, gradients, tangents and exception types with PyTorch where it
is installed (the ``torch`` fixture), on cpu and strict:device1 (the ``device`` fixture)."""
import math
import warnings
from builtins import sum as builtins_sum

import numpy as np
import pytest

import arraylib as xp
import arraylib.autograd.forward_ad as fwAD
from conftest import to_numpy


def T(values, device, dtype="float64", requires_grad=False):
    return xp.asarray(np.asarray(values, dtype=dtype), device=device, requires_grad=requires_grad)


def _same(actual, expected, signed_zeros=False):
    a = to_numpy(actual)
    e = expected.detach().numpy() if hasattr(expected, "detach") else np.asarray(expected)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    np.testing.assert_allclose(a, e, rtol=1e-12, atol=0, equal_nan=True)
    if signed_zeros:
        assert (np.signbit(a) == np.signbit(e)).all(), f"signs of zeros: {a} vs {e}"


def _grads(f, tf, torch, values, device, weights=None):
    """Gradients of ``sum(f(*xs) * w)`` in arraylib and PyTorch, one per input."""
    xs = [T(v, device, requires_grad=True) for v in values]
    ts = [torch.tensor(np.asarray(v, dtype="float64"), requires_grad=True) for v in values]
    y, ty = f(*xs), tf(*ts)
    _same(y.detach(), ty.detach())
    w = np.ones(tuple(ty.shape)) if weights is None else np.asarray(weights, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no 0 * inf along the way either
        xp.sum(y * T(w, device)).backward()
    (ty * torch.tensor(w)).sum().backward()
    return [x.grad for x in xs], [t.grad for t in ts]


def _tangent(f, values, tangents, device):
    """The forward-mode tangent of ``f`` at ``values`` in the direction ``tangents``."""
    with fwAD.dual_level():
        duals = [fwAD.make_dual(T(v, device), T(t, device)) for v, t in zip(values, tangents)]
        return fwAD.unpack_dual(f(*duals)).tangent


def _torch_tangent(torch, tf, values, tangents):
    import torch.autograd.forward_ad as tfw
    with tfw.dual_level():
        duals = [tfw.make_dual(torch.tensor(np.asarray(v, dtype="float64")),
                               torch.tensor(np.asarray(t, dtype="float64")))
                 for v, t in zip(values, tangents)]
        return tfw.unpack_dual(tf(*duals)).tangent


# -- item 7: gradient conventions at the edges ---------------------------------------------
@pytest.mark.parametrize("name", ["std", "var"])
@pytest.mark.parametrize("correction", [0, 1])
def test_std_var_of_a_constant_have_finite_gradients(name, correction, device, torch):
    values = [[2.0, 2.0, 2.0], [1.0, 3.0, 2.0]]  # row 0 constant, row 1 not
    for axis, dim in ((None, None), (1, 1), (0, 0)):
        kw = {} if axis is None else {"axis": axis}
        tkw = {} if dim is None else {"dim": dim}
        (g,), (tg,) = _grads(lambda x: getattr(xp, name)(x, correction=correction, **kw),
                             lambda t: getattr(torch, name)(t, correction=correction, **tkw),
                             torch, [values], device)
        _same(g, tg)
        assert np.isfinite(to_numpy(g)).all()


def test_std_tangent_and_method_at_a_constant(device, torch):
    v, t = [[5.0, 5.0, 5.0, 5.0]], [[1.0, -2.0, 0.5, 3.0]]
    tan = _tangent(lambda x: xp.std(x, axis=1), [v], [t], device)
    _same(tan, _torch_tangent(torch, lambda x: torch.std(x, dim=1, correction=0), [v], [t]))
    x = T(v, device, requires_grad=True)
    x.std().backward()  # the method: PyTorch's correction=1
    tx = torch.tensor(v, dtype=torch.float64, requires_grad=True)
    tx.std().backward()
    _same(x.grad, tx.grad)


def test_std_of_one_element_with_correction_is_nan_as_in_torch(device, torch):
    x = T([2.0], device, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xp.std(x, correction=1).backward()
        tx = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
        torch.std(tx, correction=1).backward()
    _same(x.grad, tx.grad)


def test_std_second_order_away_from_zero_unchanged(device):
    from arraylib.autograd import gradgradcheck
    x = T([[0.3, 1.2, -0.7], [2.0, 0.1, 0.5]], device, requires_grad=True)
    assert gradgradcheck(lambda t: xp.std(t, axis=1, correction=1), (x,))


def test_pow_zero_exponent_at_zero(device, torch):
    v = [0.0, 1.5, -2.0]
    (g,), (tg,) = _grads(lambda x: x ** 0, lambda t: t ** 0, torch, [v], device)
    _same(g, tg)
    (g,), (tg,) = _grads(lambda x: xp.pow(x, 0.0), lambda t: torch.pow(t, 0.0), torch, [v], device)
    _same(g, tg)
    # tensor exponents, mixed zero and non-zero
    v, e = [0.0, 1.5, 0.0], [0.0, 2.0, 3.0]
    (gx, ge), (tgx, tge) = _grads(xp.pow, torch.pow, torch, [v, e], device)
    _same(gx, tgx)
    _same(ge, tge)
    tan = _tangent(xp.pow, [v, e], [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]], device)
    _same(tan, _torch_tangent(torch, torch.pow, [v, e], [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]))


def test_pow_other_exponents_unchanged(device, torch):
    v, e = [0.5, 1.5, 3.0], [2.0, -1.0, 0.5]
    (gx, ge), (tgx, tge) = _grads(xp.pow, torch.pow, torch, [v, e], device)
    _same(gx, tgx)
    _same(ge, tge)


def test_atan2_at_the_origin(device, torch):
    a, b = [0.0, 0.0, 1.0, -0.0], [0.0, -0.0, 2.0, 0.0]
    (ga, gb), (tga, tgb) = _grads(xp.atan2, torch.atan2, torch, [a, b], device)
    _same(ga, tga, signed_zeros=True)
    _same(gb, tgb, signed_zeros=True)
    # forward mode: the same derivative (PyTorch's atan2 JVP is NaN at the origin, its VJP
    # is not; arraylib's two rules agree, finite)
    t = [[1.0, 2.0, 1.0, 1.0], [1.0, 1.0, 1.0, 3.0]]
    tan = _tangent(xp.atan2, [a, b], t, device)
    expected = tga.numpy() * np.array(t[0]) + tgb.numpy() * np.array(t[1])
    _same(tan, expected)


@pytest.mark.parametrize("name", ["sign", "round", "floor", "ceil", "trunc"])
def test_piecewise_constant_functions_have_zero_gradients(name, device, torch):
    v = [1.5, -0.3, 2.0, 0.0, -2.7]
    f, tf = getattr(xp, name), getattr(torch, name)
    x = T(v, device, requires_grad=True)
    y = f(x)
    ty = tf(torch.tensor(v, dtype=torch.float64, requires_grad=True))
    assert y.requires_grad == ty.requires_grad is True
    (g,), (tg,) = _grads(f, tf, torch, [v], device)
    _same(g, tg)
    (g,), (tg,) = _grads(lambda t: f(t) * t, lambda t: tf(t) * t, torch, [v], device)
    _same(g, tg)
    (gr,) = xp.autograd.grad(xp.sum(f(x)), (x,))
    _same(gr, np.zeros(5))
    tan = _tangent(f, [v], [[1.0] * 5], device)
    _same(tan, _torch_tangent(torch, tf, [v], [[1.0] * 5]))


def test_sign_of_complex_has_sgn_gradient(device, torch):
    v = np.array([3 + 4j, -1j, 0j, 0.5 - 2j])
    w = np.array([1 - 1j, 2 + 0j, 1j, -0.5 + 0.5j])
    x = xp.asarray(v, device=device, requires_grad=True)
    xp.sum(xp.real(xp.sign(x) * xp.asarray(w, device=device))).backward()
    tx = torch.tensor(v, requires_grad=True)
    torch.real(torch.sgn(tx) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(to_numpy(x.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    with fwAD.dual_level():
        d = fwAD.make_dual(xp.asarray(v, device=device), xp.asarray(w, device=device))
        tan = fwAD.unpack_dual(xp.sign(d)).tangent
    import torch.autograd.forward_ad as tfw
    with tfw.dual_level():
        td = tfw.make_dual(torch.tensor(v), torch.tensor(w))
        ttan = tfw.unpack_dual(torch.sgn(td)).tangent
    np.testing.assert_allclose(to_numpy(tan), ttan.numpy(), rtol=1e-12, atol=1e-15)


def test_sign_of_complex_gradcheck(device):
    from arraylib.autograd import gradcheck
    x = xp.asarray(np.array([3 + 4j, -1 - 1j, 0.5 - 2j]), device=device, requires_grad=True)
    assert gradcheck(xp.sign, (x,))


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_dim_ties_send_the_gradient_to_the_returned_index(name, keepdim, device, torch):
    v = [[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 5.0], [-1.0, -1.0, 4.0, -1.0]]
    w = np.array([[1.0], [2.0], [-3.0]]) if keepdim else np.array([1.0, 2.0, -3.0])
    for dim in (1, -1, 0):
        x = T(v, device, requires_grad=True)
        tx = torch.tensor(v, dtype=torch.float64, requires_grad=True)
        vals, idx = getattr(x, name)(dim, keepdim=keepdim)
        tvals, tidx = getattr(tx, name)(dim, keepdim=keepdim)
        _same(vals.detach(), tvals)
        np.testing.assert_array_equal(to_numpy(idx), tidx.numpy())
        ww = w if dim != 0 else np.ones(tuple(tvals.shape))
        xp.sum(vals * T(ww, device)).backward()
        (tvals * torch.tensor(ww)).sum().backward()
        _same(x.grad, tx.grad)
        res = getattr(x, name)(dim=dim, keepdim=keepdim)  # the named tuple
        assert res.indices.dtype == xp.int64 and res.values.shape == tuple(tvals.shape)


@pytest.mark.parametrize("name", ["max", "min"])
def test_the_standard_reductions_still_split_ties_like_amax(name, device, torch):
    v = [[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]
    tf = getattr(torch, "amax" if name == "max" else "amin")
    (g,), (tg,) = _grads(lambda x: getattr(xp, name)(x, axis=1), lambda t: tf(t, dim=1),
                         torch, [v], device)
    _same(g, tg)


def test_max_dim_tangent_follows_the_index(device, torch):
    v, t = [[1.0, 3.0, 3.0]], [[10.0, 20.0, 30.0]]
    tan = _tangent(lambda x: x.max(1).values, [v], [t], device)
    _same(tan, _torch_tangent(torch, lambda x: x.max(1).values, [v], [t]))


CLIP_X = [-1.0, -0.5, 0.0, 0.5, 1.0, float("nan")]


@pytest.mark.parametrize("lo,hi", [(-0.5, 0.5), (0.0, 0.0), (0.5, -0.5), (None, 0.5),
                                   (-0.5, None), (-1.0, 1.0)])
def test_clip_scalar_bounds_gradient_as_torch_clamp(lo, hi, device, torch):
    (g,), (tg,) = _grads(lambda x: xp.clip(x, lo, hi), lambda t: torch.clamp(t, lo, hi),
                         torch, [CLIP_X], device)
    _same(g, tg)
    (g,), (tg,) = _grads(lambda x: x.clamp(lo, hi), lambda t: t.clamp(lo, hi),
                         torch, [CLIP_X], device)
    _same(g, tg)
    t = [[1.0] * 6]
    _same(_tangent(lambda x: xp.clip(x, lo, hi), [CLIP_X], t, device),
          _torch_tangent(torch, lambda x: torch.clamp(x, lo, hi), [CLIP_X], t))


@pytest.mark.parametrize("lo,hi", [(-0.5, 0.5), (0.0, 0.0), (0.5, -0.5), (None, 0.5),
                                   (-0.5, None)])
def test_clip_tensor_bounds_gradient_as_torch_clamp(lo, hi, device, torch):
    vals = [CLIP_X] + [np.full(6, b) for b in (lo, hi) if b is not None]

    def f(x, *b, _xp=xp):
        it = iter(b)
        lo_t = next(it) if lo is not None else None
        hi_t = next(it) if hi is not None else None
        return _xp.clip(x, lo_t, hi_t)

    def tf(x, *b):
        it = iter(b)
        return torch.clamp(x, next(it) if lo is not None else None,
                           next(it) if hi is not None else None)
    gs, tgs = _grads(f, tf, torch, vals, device)
    for g, tg in zip(gs, tgs):
        _same(g, tg)
    # forward mode: J t with the Jacobian of the VJP above (PyTorch's clamp JVP with tensor
    # bounds disagrees with its own VJP at the bounds and at NaN; arraylib's rules agree)
    ts = [[1.0] * 6, [2.0] * 6, [3.0] * 6][:len(vals)]
    expected = builtins_sum(tg.numpy() * np.array(t) for tg, t in zip(tgs, ts))
    _same(_tangent(f, vals, ts, device), expected)


def test_clip_broadcast_bounds_and_scalar_tensor_mix(device, torch):
    x = [[0.0, 0.5, 1.0], [2.0, -1.0, 0.25]]
    lo = [0.5, 0.0, 1.0]
    (gx, gl), (tgx, tgl) = _grads(lambda a, b: xp.clip(a, b, 1.0),
                                  lambda a, b: torch.clamp(a, b, torch.tensor(1.0,
                                                                              dtype=torch.float64)),
                                  torch, [x, lo], device)
    _same(gx, tgx)
    _same(gl, tgl)


def test_clip_values_and_errors(device):
    x = T([1, 5, 9], device, "int32")
    np.testing.assert_array_equal(to_numpy(xp.clip(x, 2, 6)), [2, 5, 6])
    np.testing.assert_array_equal(to_numpy(xp.clip(x, -2**40, 2**40)), [1, 5, 9])
    assert xp.clip(x, 2, 6).dtype == xp.int32
    y = T([0.2, 0.7], device, "float32")
    assert xp.clip(y, np.float32(0.5), None).dtype == xp.float32
    with pytest.raises(ValueError, match=r"clip: shapes \(3,\), \(4,\)"):
        xp.clip(T([1.0, 2.0, 3.0], device), T([0.0] * 4, device))
    with pytest.raises(TypeError, match="clip"):
        xp.clip(y, "0", None)
    with pytest.raises(TypeError, match="clip"):
        xp.clip([1.0], 0.0, 1.0)


# -- item 12: the standard exception, naming the function ----------------------------------
NOT_TENSORS = [np.zeros(3, dtype=np.float32), [1.0, 2.0], None]
LIKE = {"rand_like": (), "randn_like": (), "randint_like": (5,)}


@pytest.mark.parametrize("bad", NOT_TENSORS, ids=["ndarray", "list", "None"])
@pytest.mark.parametrize("name", sorted(LIKE))
def test_random_like_functions_refuse_non_tensors(name, bad, torch):
    with pytest.raises(TypeError) as tex:
        getattr(torch, name)(bad, *LIKE[name])
    with pytest.raises(tex.type, match=name):
        getattr(xp, name)(bad, *LIKE[name])


OTHERS = {"flatten": (), "unsqueeze": (0,), "permute": ((0,),), "transpose": (0, 0),
          "numel": (), "clamp": (0.0, 1.0), "sigmoid": (), "relu": (), "softmax": (0,),
          "log_softmax": (0,), "mm": None, "bmm": None, "zeros_like": (), "ones_like": (),
          "empty_like": (), "full_like": (1.0,), "exp": (), "sum": (), "clip": (0.0, 1.0)}


@pytest.mark.parametrize("bad", NOT_TENSORS, ids=["ndarray", "list", "None"])
@pytest.mark.parametrize("name", sorted(OTHERS))
def test_namespace_functions_refuse_non_tensors_with_their_name(name, bad):
    args = (bad,) + (OTHERS[name] if OTHERS[name] is not None else (bad,))
    with pytest.raises(TypeError, match=name):
        getattr(xp, name)(*args)


@pytest.mark.parametrize("bad", NOT_TENSORS, ids=["ndarray", "list", "None"])
def test_cat_from_numpy_randperm_refuse_bad_input(bad, torch):
    if not isinstance(bad, list):
        with pytest.raises(TypeError, match="cat"):
            xp.cat(bad)
    if not isinstance(bad, np.ndarray):
        with pytest.raises(TypeError):
            torch.from_numpy(bad)
        with pytest.raises(TypeError, match="from_numpy"):
            xp.from_numpy(bad)
        with pytest.raises(TypeError, match="randperm"):
            xp.randperm(bad)


HUGE = (2**40, 2**40)
FACTORIES = {
    "zeros": lambda: xp.zeros(HUGE), "ones": lambda: xp.ones(HUGE),
    "empty": lambda: xp.empty(HUGE), "full": lambda: xp.full(HUGE, 1.0),
    "eye": lambda: xp.eye(2**40), "rand": lambda: xp.rand(HUGE), "randn": lambda: xp.randn(HUGE),
    "randint": lambda: xp.randint(0, 5, HUGE), "normal": lambda: xp.normal(0.0, 1.0, HUGE),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_huge_shapes_name_the_function(name):
    with pytest.raises(ValueError, match=rf"{name}: .*shape \(1099511627776, 1099511627776\)"):
        FACTORIES[name]()


def test_huge_shape_on_the_emulated_device(device):
    with pytest.raises(ValueError, match="zeros: "):
        xp.zeros(HUGE, device=device)
    with pytest.raises(ValueError, match="randn: "):
        xp.randn(HUGE, device=device)


@pytest.mark.parametrize("stop", [math.inf, -math.inf, math.nan])
def test_arange_non_finite_names_the_function(stop, torch):
    with pytest.raises(RuntimeError):
        torch.arange(0, stop)
    with pytest.raises(ValueError, match="arange: unsupported range"):
        xp.arange(0, stop)
    with pytest.raises(ValueError, match="arange"):
        xp.arange(0.0, 1.0, math.inf)


@pytest.mark.parametrize("op", ["add", "multiply", "pow", "less", "atan2"])
def test_broadcast_mismatch_names_the_function(op, device):
    # (needs the broadcast_error patch of arraylib/_core/_primitive.py)
    a, b = T([1.0, 2.0, 3.0], device), T([[1.0, 2.0, 3.0, 4.0]], device)
    with pytest.raises(ValueError, match=rf"{op}: shapes \(3,\) and \(1, 4\)"):
        getattr(xp, op)(a, b)
    with pytest.raises(ValueError, match=rf"{op}: shapes"):
        getattr(xp, op)(a.requires_grad_(), b)


def test_broadcast_mismatch_of_operators_names_the_function(device):
    a, b = T([1.0, 2.0, 3.0], device), T([1.0, 2.0], device)
    with pytest.raises(ValueError, match="add: shapes"):
        a + b
    with pytest.raises(ValueError, match="subtract: shapes"):
        a - b


def test_format_of_a_non_scalar_tensor(device, torch):
    # (needs the __format__ patch of arraylib/_core/_tensor.py)
    with pytest.raises(TypeError):
        format(torch.ones(3), ".2f")
    with pytest.raises(TypeError, match=r"Tensor.__format__: .*shape \(3,\)"):
        format(xp.ones(3, device=device), ".2f")
    with pytest.raises(TypeError, match="Tensor.__format__"):
        f"{xp.ones((2, 2), device=device):>10}"
    assert format(xp.asarray(1.25, device=device), ".2f") == format(torch.tensor(1.25), ".2f")
    assert format(xp.ones(2, device=device), "") == str(xp.ones(2, device=device))


# -- item 13: NumPy's copy protocol and DLPack -------------------------------------------
def test_numpy_asarray_copy_false_shares_or_raises():
    # (needs the __array__ patch of arraylib/_core/_tensor.py)
    t = xp.asarray([1.0, 2.0, 3.0])
    a = np.asarray(t, copy=False)
    a[0] = 7.0
    assert t[0].item() == 7.0
    assert np.shares_memory(np.asarray(t, dtype=np.float32, copy=False), t.numpy())
    with pytest.raises(ValueError, match="Tensor.__array__: copy=False"):
        np.asarray(t, dtype=np.float64, copy=False)
    c = np.asarray(t, copy=True)
    c[1] = -1.0
    assert t[1].item() == 2.0
    d = np.asarray(t, dtype=np.float64)
    assert d.dtype == np.float64 and d[0] == 7.0
    assert np.shares_memory(np.asarray(t), t.numpy())


def test_numpy_asarray_copy_false_off_the_host():
    t = xp.asarray([1.0, 2.0], device="strict:device1")
    with pytest.raises(ValueError, match="copy=False"):
        np.asarray(t, copy=False)
    with pytest.raises(RuntimeError, match="to_device"):
        np.asarray(t)


def test_numpy_asarray_of_a_tensor_requiring_grad(torch):
    with pytest.raises(RuntimeError):
        np.asarray(torch.ones(2, requires_grad=True))
    with pytest.raises(RuntimeError, match="requires grad"):
        np.asarray(xp.ones(2, requires_grad=True))


def test_dlpack_export_of_a_tensor_requiring_grad_is_refused(device, torch):
    # (needs the __dlpack__ patch of arraylib/_core/_tensor.py)
    with pytest.raises(BufferError) as tex:
        torch.ones(2, requires_grad=True).__dlpack__()
    x = xp.ones(2, device=device, requires_grad=True)
    with pytest.raises(tex.type, match="requires grad"):
        x.__dlpack__()
    with xp.no_grad():  # as in PyTorch, whatever the grad mode
        with pytest.raises(tex.type):
            x.__dlpack__()
    y = x * 2  # a non-leaf too
    with pytest.raises(tex.type):
        y.__dlpack__()
    x.detach().__dlpack__()  # detached: fine


def test_torch_from_dlpack_of_a_tensor_requiring_grad(torch):
    x = xp.ones(2, requires_grad=True)
    with pytest.raises(BufferError):
        torch.from_dlpack(x)
    back = torch.from_dlpack(x.detach())
    assert back.tolist() == [1.0, 1.0]


def test_asarray_of_a_torch_tensor_with_copy_false_shares_memory(torch):
    tt = torch.zeros(3)
    t = xp.asarray(tt, copy=False)
    tt[0] = 5.0
    assert t.dtype == xp.float32 and to_numpy(t).tolist() == [5.0, 0.0, 0.0]
    t[1] = 2.0
    assert tt.tolist() == [5.0, 2.0, 0.0]
    assert xp.asarray(tt, copy=False, dtype=xp.float32).shape == (3,)
    with pytest.raises(ValueError, match="asarray: copy=False"):
        xp.asarray(tt, copy=False, dtype=xp.float64)
    with pytest.raises(ValueError, match="asarray: copy=False"):
        xp.asarray(tt, copy=False, device="strict:device1")
    c = xp.asarray(tt, copy=True)
    tt[2] = 9.0
    assert to_numpy(c).tolist() == [5.0, 2.0, 0.0]
    with pytest.raises(ValueError, match="asarray"):
        xp.asarray(torch.ones(2, requires_grad=True), copy=False)
    # a non-contiguous torch view keeps its strides
    base = torch.arange(6.0).reshape(2, 3)
    v = xp.asarray(base.t(), copy=False)
    base[0, 1] = 100.0
    assert to_numpy(v)[1, 0] == 100.0 and v.shape == (3, 2)


BAD_SECOND = {
    "arange": lambda t: xp.arange(t), "full": lambda t: xp.full((2,), t),
    "randint": lambda t: xp.randint(0, t, (2,)), "randint_like": lambda t: xp.randint_like(t, t),
    "normal": lambda t: xp.normal(t, [1.0]), "bernoulli": lambda t: xp.bernoulli(t, [0.5]),
    "softmax": lambda t: xp.softmax(t, [0]), "log_softmax": lambda t: xp.log_softmax(t, None),
    "flatten": lambda t: xp.flatten(t, [0]), "permute": lambda t: xp.permute(t, None),
    "unsqueeze": lambda t: xp.unsqueeze(t, np.zeros(3)),
    "randperm": lambda t: xp.randperm(2.5),
}


@pytest.mark.parametrize("name", sorted(BAD_SECOND))
def test_bad_other_arguments_name_the_function(name, device):
    t = xp.ones((2, 2), device=device)
    with pytest.raises(TypeError, match=rf"^{name}: "):
        BAD_SECOND[name](t)
