"""PyTorch's API on Tensor and as functions (``arraylib._torch_functions``): sizes, the
legacy constructor, split/topk/gather/scatter/einsum/..., ``out=``, dtype methods,
``Variable`` and ``inference_mode``; values and gradients against PyTorch and finite
differences."""
import pickle

import numpy as np
import pytest

import arraylib as xp
import arraylib._torch_functions as tf
from _fd import check_grads
from conftest import assert_close, to_numpy

RNG = np.random.default_rng(0)
A34 = RNG.standard_normal((3, 4))
A345 = RNG.standard_normal((3, 4, 5))


# -- sizes ---------------------------------------------------------------------------
def test_size_is_an_int_and_callable():
    x = xp.zeros((2, 3, 4))
    assert x.size == 24 and isinstance(x.size, int) and x.numel() == 24
    s = x.size()
    assert isinstance(s, xp.Size) and isinstance(s, tuple) and s == (2, 3, 4)
    assert s.numel() == 24 and repr(s) == "torch.Size([2, 3, 4])"
    assert isinstance(s[1:], xp.Size) and s[1:] == (3, 4) and s[0] == 2
    assert x.size(1) == 3 and x.size(-1) == 4 and x.size(dim=0) == 2
    with pytest.raises(IndexError, match=r"range of \[-3, 2\], but got 3"):
        x.size(3)
    assert type(pickle.loads(pickle.dumps(x.size))) is int
    assert xp.zeros(()).size() == () and xp.zeros(()).size == 1


def test_size_matches_torch(torch):
    t, x = torch.zeros(2, 3), xp.zeros((2, 3))
    assert x.size() == t.size() and x.size(-2) == t.size(-2)
    assert repr(x.size()) == repr(t.size()) and x.size().numel() == t.size().numel()
    assert repr(x.size() + (4,)) == repr(t.size() + (4,))


def test_size_in_arithmetic_with_tensors():
    # (needs is_python_scalar to accept int subclasses: see the report)
    x = xp.ones(4)
    assert_close(x / x.size, [0.25] * 4, check_dtype=False)
    assert_close(x.size * x, [4.0] * 4, check_dtype=False)


# -- legacy constructor ------------------------------------------------------------
def test_legacy_constructor(torch):
    for args in [([1, 2, 3],), ([[1.5, 2.0]],), (2, 3), (), (np.array([1, 2]),)]:
        a, t = xp.Tensor(*args), torch.Tensor(*args)
        assert a.dtype == xp.float32 and tuple(a.shape) == tuple(t.shape)
        if t.numel() and args and not isinstance(args[0], int):
            assert_close(a, t.numpy())
    assert xp.Tensor(xp.zeros((2, 3)).size()).shape == (2, 3)
    assert isinstance(xp.Tensor([1]), xp.Tensor)
    with pytest.raises(TypeError, match="Tensor"):
        xp.Tensor(2.5)


def test_format_of_0d_tensor(torch):
    assert f"{xp.asarray(92.0)}" == f"{torch.tensor(92.0)}" == "92.0"
    assert format(xp.asarray(92.0), ".2f") == "92.00"
    assert f"{xp.asarray(3)}" == "3"
    with pytest.raises(TypeError):
        format(xp.ones(2), ".2f")


# -- values against torch ------------------------------------------------------------
def _both(torch, a):
    return xp.asarray(a), torch.from_numpy(np.array(a))


def _same(ours, theirs, rtol=1e-6):
    if isinstance(theirs, (tuple, list)):
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            _same(o, t, rtol)
        return
    if isinstance(theirs, (bool, int, float)):
        assert ours == theirs
        return
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(to_numpy(ours), theirs.detach().numpy(), rtol=rtol, atol=1e-12)


INT_IDX = np.array([[0, 2], [1, 1], [3, 0]])
CASES = {
    "split_int": lambda m, x: m.split(x, 2, 1),
    "split_sizes": lambda m, x: m.split(x, [1, 3], 1),
    "method_split": lambda m, x: x.split(1),
    "chunk": lambda m, x: m.chunk(x, 3, 1),
    "method_chunk": lambda m, x: x.chunk(2, dim=-1),
    "narrow": lambda m, x: m.narrow(x, 1, 1, 2),
    "narrow_neg": lambda m, x: x.narrow(0, -2, 2),
    "unbind": lambda m, x: m.unbind(x, 1),
    "topk": lambda m, x: tuple(m.topk(x, 2)),
    "topk_small": lambda m, x: tuple(x.topk(2, dim=0, largest=False)),
    "sort": lambda m, x: tuple(m.sort(x, 1, descending=True)),
    "argsort": lambda m, x: m.argsort(x, 0),
    "max_dim": lambda m, x: tuple(m.max(x, 1)),
    "min_keep": lambda m, x: tuple(x.min(0, keepdim=True)),
    "amax": lambda m, x: m.amax(x, 1),
    "amin_keep": lambda m, x: x.amin(dim=(0, 1), keepdim=True),
    "argmax": lambda m, x: m.argmax(x, 1, keepdim=True),
    "cumsum": lambda m, x: m.cumsum(x, 1),
    "cumprod": lambda m, x: x.cumprod(0),
    "logsumexp": lambda m, x: m.logsumexp(x, 1),
    "logsumexp_keep": lambda m, x: x.logsumexp(dim=0, keepdim=True),
    "roll": lambda m, x: m.roll(x, 1, 1),
    "roll_flat": lambda m, x: x.roll(2),
    "roll_multi": lambda m, x: m.roll(x, (1, -1), (0, 1)),
    "flip": lambda m, x: m.flip(x, [0, 1]),
    "tril": lambda m, x: m.tril(x, 1),
    "triu": lambda m, x: x.triu(-1),
    "stack": lambda m, x: m.stack([x, x], 1),
    "cat": lambda m, x: m.cat((x, x), 1),
    "std": lambda m, x: m.std(x, 1),
    "var_keep": lambda m, x: x.var(0, keepdim=True),
    "sum_dim": lambda m, x: m.sum(x, 1),
    "mean_dims": lambda m, x: m.mean(x, (0, 1)),
    "squeeze": lambda m, x: m.squeeze(m.stack([x], 0), 0),
    "expand_as": lambda m, x: x[:1].expand_as(x),
    "view_as": lambda m, x: x.reshape(-1).view_as(x),
    "where": lambda m, x: m.where(x > 0, x, 0.0),
    "where_method": lambda m, x: x.where(x > 0, -x),
    "clamp_tensor": lambda m, x: m.clamp(x, min=x[0], max=x[0] + 1),
    "masked_fill": lambda m, x: x.masked_fill(x < 0, -1.0),
    "einsum_mm": lambda m, x: m.einsum("ij,kj->ik", x, x),
    "einsum_outer": lambda m, x: m.einsum("i,j", x[0], x[1]),
    "einsum_trace": lambda m, x: m.einsum("ii", x[:, :3]),
    "einsum_diag": lambda m, x: m.einsum("ii->i", x[:, :3]),
    "einsum_ellipsis": lambda m, x: m.einsum("...i,...i->...", x, x),
    "einsum_sum": lambda m, x: m.einsum("ij->j", x),
    "einsum_list": lambda m, x: m.einsum("ij,jk,kl->il", [x, x.T, x]),
    "logical_xor": lambda m, x: m.logical_xor(x > 0, x > 1),
    "add_alpha": lambda m, x: m.add(x, x, alpha=2),
    "sub_kw": lambda m, x: m.sub(input=x, other=x[0]),
    "div_floor": lambda m, x: m.div(x, 0.3, rounding_mode="floor"),
    "div_trunc": lambda m, x: x.div(0.3, rounding_mode="trunc"),
    "outer": lambda m, x: m.outer(x[0], x[1]),
    "tensor_split": lambda m, x: m.tensor_split(x, 3, 1),
    "unflatten": lambda m, x: x.reshape(-1).unflatten(0, (3, 4)),
    "movedim": lambda m, x: m.movedim(m.stack([x, x]), 0, 2),
    "isclose": lambda m, x: m.isclose(x, x + 1e-7),
    "allclose": lambda m, x: m.allclose(x, x + 1e-3),
    "equal": lambda m, x: m.equal(x, x * 1),
    "nonzero": lambda m, x: m.nonzero(x > 0),
    "nonzero_tuple": lambda m, x: m.nonzero(x > 0, as_tuple=True),
    "where_one_arg": lambda m, x: m.where(x > 0),
    "masked_select": lambda m, x: x.masked_select(x > 0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_torch(name, torch):
    a, t = _both(torch, A34)
    _same(CASES[name](tf, a), CASES[name](torch, t))


def test_gather_matches_torch(torch):
    a, t = _both(torch, A34)
    _same(tf.gather(a, 1, xp.asarray(INT_IDX)), torch.gather(t, 1, torch.from_numpy(INT_IDX)))
    _same(a.gather(0, xp.asarray(INT_IDX[:2, :1])), t.gather(0, torch.from_numpy(INT_IDX[:2, :1])))


def test_scatter_family_matches_torch(torch):
    a, t = _both(torch, np.zeros((3, 5)))
    idx = np.array([[0, 1, 2, 0], [2, 0, 0, 1]])
    src = RNG.standard_normal((2, 5))
    ai, ti = xp.asarray(idx), torch.from_numpy(idx)
    asrc, tsrc = xp.asarray(src), torch.from_numpy(src)
    _same(tf.scatter_add(a, 0, ai, asrc), torch.scatter_add(t, 0, ti, tsrc))
    _same(a.scatter_add(0, ai, asrc), t.scatter_add(0, ti, tsrc))
    _same(a.scatter(1, xp.asarray([[0], [4], [2]]), 7.0),
          t.scatter(1, torch.tensor([[0], [4], [2]]), 7.0))
    _same(a.scatter(0, ai[:, :1], asrc), t.scatter(0, ti[:, :1], tsrc))
    b, u = a.clone(), t.clone()
    b.scatter_(0, ai[:1], asrc), u.scatter_(0, ti[:1], tsrc)
    _same(b, u)
    b.scatter_add_(1, ai, asrc), u.scatter_add_(1, ti, tsrc)
    _same(b, u)
    with pytest.raises(IndexError, match="scatter_add: index 5 is out of bounds"):
        tf.scatter_add(a, 1, xp.asarray([[5]]), asrc)


def test_unique_matches_torch(torch):
    v = np.array([[3, 1, 3], [2, 1, 1]])
    a, t = xp.asarray(v), torch.from_numpy(v)
    for kw in [{}, {"return_inverse": True}, {"return_counts": True},
               {"return_inverse": True, "return_counts": True}]:
        _same(tf.unique(a, **kw), torch.unique(t, **kw))
        _same(a.unique(**kw), t.unique(**kw))
    rows = np.array([[1, 2], [0, 5], [1, 2], [0, 4]])
    _same(tf.unique(xp.asarray(rows), dim=0, return_inverse=True, return_counts=True),
          torch.unique(torch.from_numpy(rows), dim=0, return_inverse=True, return_counts=True))
    _same(tf.unique(xp.asarray(rows), dim=1), torch.unique(torch.from_numpy(rows), dim=1))


def test_topk_and_max_return_named_pairs():
    r = xp.asarray([[1.0, 3.0, 2.0]]).topk(2)
    assert r.values.tolist() == [[3.0, 2.0]] and r.indices.tolist() == [[1, 2]]
    m = xp.asarray([[1.0, 3.0, 2.0]]).max(1)
    assert m.values.tolist() == [3.0] and m.indices.tolist() == [1]
    with pytest.raises(RuntimeError, match="topk: k"):
        xp.ones(3).topk(4)


# -- gradients ------------------------------------------------------------------------
GRADS = {
    "split": (lambda x: tf.split(x, [1, 3], 1), [A34]),
    "chunk": (lambda x: x.chunk(2, 1), [A34]),
    "narrow": (lambda x: x.narrow(1, 1, 2), [A34]),
    "unbind": (lambda x: x.unbind(0), [A34]),
    "topk": (lambda x: x.topk(2, 1).values, [A34]),
    "sort": (lambda x: tf.sort(x, 0, descending=True).values, [A34]),
    "max_dim": (lambda x: tf.max(x, 1).values, [A34]),
    "amax": (lambda x: x.amax(1), [A34]),
    "gather": (lambda x: x.gather(1, xp.asarray(INT_IDX, device=x.device)), [A34]),
    "scatter": (lambda x, s: tf.scatter(x, 1, xp.asarray([[0, 2], [1, 3], [3, 0]],
                                                         device=x.device), s), [A34, A34[:, :2]]),
    "scatter_add": (lambda x, s: x.scatter_add(0, xp.asarray([[0, 0, 1, 2], [0, 2, 2, 2]],
                                                             device=x.device), s),
                    [A34, A34[:2]]),
    "einsum_mm": (lambda a, b: tf.einsum("ij,jk->ik", a, b), [A34, A34.T]),
    "einsum_batch": (lambda a, b: tf.einsum("bij,bkj->bik", a, b), [A345, A345]),
    "einsum_trace": (lambda a: tf.einsum("ii->", a), [A34[:, :3]]),
    "einsum_ellipsis": (lambda a, b: tf.einsum("...j,j->...", a, b), [A345, A345[0, 0]]),
    "logsumexp": (lambda x: x.logsumexp(1), [A34]),
    "cumsum": (lambda x: tf.cumsum(x, 1), [A34]),
    "cumprod": (lambda x: x.cumprod(0), [A34]),
    "roll": (lambda x: tf.roll(x, (1, 2), (0, 1)), [A34]),
    "flip": (lambda x: x.flip([1]), [A34]),
    "tril": (lambda x: x.tril(1), [A34]),
    "std": (lambda x: tf.std(x, 1), [A34]),
    "where": (lambda x: x.where(x > 0, x * 2), [A34]),
    "clamp_tensor": (lambda x, lo: tf.clamp(x, min=lo), [A34, A34[0] * 0.5]),
    "expand_as": (lambda x: x[:1].expand_as(xp.zeros((3, 4), device=x.device)), [A34]),
    "add_alpha": (lambda a, b: tf.add(a, b, alpha=3), [A34, A34 + 1]),
}


@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradients_against_finite_differences(name, device):
    fn, arrays = GRADS[name]
    check_grads(fn, arrays, device, forward=name not in ("scatter",))


@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradients_against_torch(name, torch):
    fn, arrays = GRADS[name]
    xs = [xp.asarray(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    outs = list(out) if isinstance(out, tuple) else [out]
    ws = [np.random.default_rng(1).standard_normal(tuple(o.shape)) for o in outs]
    sum(xp.sum(o * xp.asarray(w)) for o, w in zip(outs, ws)).backward()
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    tfn = _torch_version(name, torch)
    tout = tfn(*ts)
    touts = list(tout) if isinstance(tout, tuple) else [tout]
    sum((o * torch.from_numpy(w)).sum() for o, w in zip(touts, ws)).backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(to_numpy(x.grad), t.grad.numpy(), rtol=1e-6, atol=1e-10)


def _torch_version(name, torch):
    g = {
        "split": lambda x: torch.split(x, [1, 3], 1),
        "chunk": lambda x: x.chunk(2, 1),
        "narrow": lambda x: x.narrow(1, 1, 2),
        "unbind": lambda x: x.unbind(0),
        "topk": lambda x: x.topk(2, 1).values,
        "sort": lambda x: torch.sort(x, 0, descending=True).values,
        "max_dim": lambda x: torch.max(x, 1).values,
        "amax": lambda x: x.amax(1),
        "gather": lambda x: x.gather(1, torch.from_numpy(INT_IDX)),
        "scatter": lambda x, s: torch.scatter(x, 1, torch.tensor([[0, 2], [1, 3], [3, 0]]), s),
        "scatter_add": lambda x, s: x.scatter_add(0, torch.tensor([[0, 0, 1, 2], [0, 2, 2, 2]]),
                                                  s),
        "einsum_mm": lambda a, b: torch.einsum("ij,jk->ik", a, b),
        "einsum_batch": lambda a, b: torch.einsum("bij,bkj->bik", a, b),
        "einsum_trace": lambda a: torch.einsum("ii->", a),
        "einsum_ellipsis": lambda a, b: torch.einsum("...j,j->...", a, b),
        "logsumexp": lambda x: x.logsumexp(1),
        "cumsum": lambda x: torch.cumsum(x, 1),
        "cumprod": lambda x: x.cumprod(0),
        "roll": lambda x: torch.roll(x, (1, 2), (0, 1)),
        "flip": lambda x: x.flip([1]),
        "tril": lambda x: x.tril(1),
        "std": lambda x: torch.std(x, 1),
        "where": lambda x: x.where(x > 0, x * 2),
        "clamp_tensor": lambda x, lo: torch.clamp(x, min=lo),
        "expand_as": lambda x: x[:1].expand_as(torch.zeros(3, 4)),
        "add_alpha": lambda a, b: torch.add(a, b, alpha=3),
    }
    return g[name]


# -- out= ----------------------------------------------------------------------------
def test_out_writes_into_and_returns_the_tensor(torch):
    a = xp.asarray(A34)
    out = xp.empty((3, 4), dtype=xp.float64)
    r = tf.add(a, a, out=out)
    assert r is out
    assert_close(out, 2 * A34)
    o2 = xp.empty(0, dtype=xp.float64)
    assert tf.matmul(a, a.T, out=o2) is o2 and o2.shape == (3, 3)
    vals, idx = xp.empty(3, dtype=xp.float64), xp.empty(3, dtype=xp.int64)
    tf.max(a, 1, out=(vals, idx))
    assert_close(vals, A34.max(1))
    assert idx.tolist() == A34.argmax(1).tolist()
    tf.cat([a, a], 0, out=o2)
    assert o2.shape == (6, 4)
    with pytest.raises(RuntimeError, match="can't be cast"):
        tf.add(a, a, out=xp.empty((3, 4), dtype=xp.int64))
    with pytest.raises(RuntimeError, match="automatic differentiation"):
        tf.exp(xp.asarray(A34, requires_grad=True), out=xp.empty((3, 4), dtype=xp.float64))


# -- multinomial ------------------------------------------------------------------------
def test_multinomial_frequencies_and_errors():
    xp.manual_seed(0)
    p = xp.asarray([0.1, 0.0, 0.6, 0.3])
    s = tf.multinomial(p, 20000, replacement=True)
    assert s.dtype == xp.int64 and s.shape == (20000,)
    freq = np.bincount(to_numpy(s), minlength=4) / 20000
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.6, 0.3], atol=0.02)
    rows = xp.asarray([[1.0, 0.0, 2.0, 3.0], [0.0, 1.0, 1.0, 0.0]])
    w = rows.multinomial(2)
    assert w.shape == (2, 2)
    for r, row in zip(to_numpy(w), to_numpy(rows)):
        assert len(set(r)) == 2 and all(row[i] > 0 for i in r)  # no repeats, no zero-p
    firsts = np.bincount([int(tf.multinomial(p, 1)[0]) for _ in range(3000)], minlength=4)
    np.testing.assert_allclose(firsts / 3000, [0.1, 0.0, 0.6, 0.3], atol=0.04)
    g1, g2 = xp.Generator().manual_seed(5), xp.Generator().manual_seed(5)
    assert tf.multinomial(p, 7, True, generator=g1).tolist() == \
        tf.multinomial(p, 7, True, generator=g2).tolist()
    with pytest.raises(RuntimeError, match="without replacement"):
        tf.multinomial(p, 5)
    with pytest.raises(RuntimeError, match="not enough"):
        tf.multinomial(p, 4)
    with pytest.raises(RuntimeError, match="element < 0"):
        tf.multinomial(xp.asarray([1.0, -1.0]), 1)


# -- dtypes and types -------------------------------------------------------------------
def test_type_and_casts_match_torch(torch):
    a, t = _both(torch, A34.astype(np.float32))
    assert a.type() == t.type() == "torch.FloatTensor"
    for name in ["float", "double", "long", "int", "short", "bool", "byte", "char"]:
        assert getattr(a, name)().type() == getattr(t, name)().type(), name
    assert a.type("torch.LongTensor").dtype == xp.int64
    assert a.type(xp.int16).dtype == xp.int16
    assert a.type("torch.DoubleTensor").type() == "torch.DoubleTensor"
    assert a.element_size() == t.element_size() and a.dim() == t.dim() == a.ndimension()
    assert a.new_zeros(2, 3).dtype == xp.float32 and a.new_full((2,), 7.0).tolist() == [7.0, 7.0]


def test_inplace_unary_methods(torch):
    a, t = _both(torch, np.abs(A34) + 0.5)
    for name in ["exp_", "log_", "sqrt_", "neg_", "abs_", "sigmoid_", "tanh_", "clamp_min_"]:
        args = (0.7,) if name == "clamp_min_" else ()
        ra, rt = getattr(a, name)(*args), getattr(t, name)(*args)
        assert ra is a
        _same(a, t)


# -- autograd names -------------------------------------------------------------------
def test_variable_is_a_tensor():
    x = xp.ones(3)
    assert xp.autograd.Variable(x) is x
    v = xp.autograd.Variable(x, requires_grad=True)
    assert v.requires_grad and v.is_leaf and not x.requires_grad
    assert isinstance(x, xp.autograd.Variable)
    (v * 2).sum().backward()
    assert v.grad.tolist() == [2.0, 2.0, 2.0]


def test_inference_mode_is_no_grad():
    x = xp.ones(2, requires_grad=True)
    with xp.inference_mode():
        assert not (x * 2).requires_grad
    with xp.autograd.inference_mode(False):
        assert (x * 2).requires_grad

    @xp.inference_mode()
    def f():
        return (x * 2).requires_grad

    @xp.inference_mode
    def g():
        return (x * 2).requires_grad
    assert not f() and not g() and (x * 2).requires_grad


def test_top_level_keeps_the_standard_signatures():
    x = xp.asarray(A34)
    assert xp.max(x, axis=1).shape == (3,)  # values only
    assert isinstance(xp.nonzero(x > 0), tuple)
    assert xp.split is tf.split and xp.einsum is tf.einsum and xp.topk is tf.topk
    with pytest.raises(TypeError):
        xp.roll(x, 1, 1)  # the standard's axis is keyword-only


# -- layers refuse a dtype mismatch (PyTorch raises; promoting would hide a bug) --------
@pytest.mark.parametrize("call", [
    lambda F, x, w: F.linear(x, w),
    lambda F, x, w: F.linear(xp.astype(x, w.dtype), w, xp.ones(4, dtype=xp.float64)),
    lambda F, x, w: F.conv1d(xp.ones((1, 3, 5), dtype=x.dtype), xp.ones((4, 3, 2))),
    lambda F, x, w: F.conv2d(xp.ones((1, 3, 5, 5), dtype=x.dtype), xp.ones((4, 3, 2, 2))),
    lambda F, x, w: F.conv_transpose2d(xp.ones((1, 3, 5, 5), dtype=x.dtype),
                                       xp.ones((3, 4, 2, 2)))])
def test_layers_refuse_a_dtype_mismatch(call, torch):
    import arraylib.nn.functional as F
    x, w = xp.ones((2, 3), dtype=xp.float64), xp.ones((4, 3))
    with pytest.raises(RuntimeError, match="same dtype.*float64|float64.*float32|float32.*float64"):
        call(F, x, w)
    tF = torch.nn.functional  # PyTorch raises RuntimeError for the same calls
    with pytest.raises(RuntimeError):
        tF.linear(torch.ones(2, 3, dtype=torch.float64), torch.ones(4, 3))


def test_integer_input_to_a_float_layer_is_refused():
    import arraylib.nn as nn
    with pytest.raises(RuntimeError, match="linear: .*int64.*float32"):
        nn.Linear(3, 4)(xp.ones((2, 3), dtype=xp.int64))


def test_parameter_prints_as_pytorch(torch):
    import arraylib.nn as nn
    p = nn.Parameter(xp.asarray([1.0, 2.0]))
    t = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    assert str(p) == str(t) and repr(p) == repr(t)
