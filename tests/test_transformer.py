"""``MultiheadAttention`` and the Transformer layers against PyTorch: same weights and
inputs -> same outputs and gradients w.r.t. inputs and parameters (float64 to 1e-10,
float32 to 1e-5) over a grid of options and masks, identical state dicts loaded both ways
through a checkpoint file; gradcheck on cpu and strict:device1.  The fused kernels the
layers run on (GELU, layer norm, dropout): PyTorch's values and gradients, their rules
against finite differences (first and second order), vmap."""
from __future__ import annotations

import math

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn as nn
import arraylib.nn.functional as F
from arraylib._nn_kernels import dropout as dropout_kernel
from arraylib.autograd import gradcheck
from arraylib.func import functional_call, vmap
from _fd import check_grads
from conftest import to_numpy

TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-5, atol=1e-5)}
E = 8


def _load_from_torch(tmod, amod):
    sd = {k: xp.asarray(v.detach().numpy().copy()) for k, v in tmod.state_dict().items()}
    res = amod.load_state_dict(sd)
    assert not res.missing_keys and not res.unexpected_keys
    assert [(k, tuple(v.shape)) for k, v in tmod.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in amod.state_dict().items()]


def compare(torch, name, ctor, shapes, call=None, masks=None, dtype="float64", seed=0,
            ctor_torch=None):
    """Build both modules, copy torch's weights, run on random inputs of ``shapes`` (and
    the NumPy ``masks``), backprop random cotangents, compare everything."""
    rng = np.random.default_rng(seed)
    call, masks = call or {}, masks or {}
    tm = getattr(torch.nn, name)(**(ctor_torch or ctor)).to(getattr(torch, dtype))
    am = getattr(nn, name)(**ctor).to(getattr(xp, dtype))
    _load_from_torch(tm, am)
    xs = [rng.standard_normal(s).astype(dtype) for s in shapes]
    tx = [torch.tensor(x, requires_grad=True) for x in xs]
    ax = [xp.asarray(x, requires_grad=True) for x in xs]

    def cast(m):
        return m.astype(dtype) if m.dtype.kind == "f" else m
    tk = {**call, **{k: torch.tensor(cast(v)) for k, v in masks.items()}}
    ak = {**call, **{k: xp.asarray(cast(v)) for k, v in masks.items()}}
    to, ao = tm(*tx, **tk), am(*ax, **ak)
    to = [t for t in (to if isinstance(to, tuple) else (to,)) if t is not None]
    ao = [a for a in (ao if isinstance(ao, tuple) else (ao,)) if a is not None]
    assert len(to) == len(ao)
    for t, a in zip(to, ao):
        assert a.dtype == getattr(xp, dtype)
        np.testing.assert_allclose(to_numpy(a), t.detach().numpy(), **TOL[dtype])
    gs = [rng.standard_normal(tuple(t.shape)).astype(dtype) for t in to]
    torch.autograd.backward(to, [torch.tensor(g) for g in gs])
    xp.autograd.backward(ao, [xp.asarray(g) for g in gs])
    for t, a in zip(tx, ax):
        np.testing.assert_allclose(to_numpy(a.grad), t.grad.numpy(), **TOL[dtype])
    tp = dict(tm.named_parameters())
    for n, p in am.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), tp[n].grad.numpy(), **TOL[dtype],
                                   err_msg=n)


def _kpm(rows):
    return np.array(rows, bool)


_R = np.random.default_rng(42)
MHA = [  # (constructor, input shapes, call kwargs, masks)
    ({}, [(4, 2, E), (5, 2, E), (5, 2, E)], {}, {}),
    ({}, [(4, 2, E), (5, 2, E), (5, 2, E)], {"average_attn_weights": False},
     {"key_padding_mask": _kpm([[0, 0, 1, 0, 1], [0, 0, 0, 0, 0]])}),
    ({"batch_first": True, "kdim": 3, "vdim": 5, "add_bias_kv": True, "add_zero_attn": True},
     [(2, 4, E), (2, 5, 3), (2, 5, 5)], {},
     {"key_padding_mask": _kpm([[0, 0, 1, 0, 1], [0, 0, 0, 0, 0]]),
      "attn_mask": _R.random((4, 5)) > 0.7}),
    ({"bias": False}, [(4, E), (5, E), (5, E)], {"need_weights": False},
     {"attn_mask": _R.standard_normal((2, 4, 5))}),
    ({}, [(4, 2, E), (5, 2, E), (5, 2, E)], {"need_weights": False},
     {"key_padding_mask": _kpm([[0, 0, 1, 0, 1], [1, 0, 1, 1, 1]]),
      "attn_mask": _R.standard_normal((4, 5))}),
    ({"add_bias_kv": True}, [(4, 2, E), (5, 2, E), (5, 2, E)], {"need_weights": False},
     {"attn_mask": _R.random((4, 2 * 2, 5)).transpose(1, 0, 2) > 0.8}),
    ({"num_heads": 4, "batch_first": True}, [(2, 4, E), (2, 4, E), (2, 4, E)],
     {"need_weights": False, "is_causal": True},
     {"attn_mask": np.triu(np.full((4, 4), -np.inf), 1)}),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", range(len(MHA)))
def test_multihead_attention(torch, case, dtype):
    ctor, shapes, call, masks = MHA[case]
    ctor = {"embed_dim": E, "num_heads": 2, **ctor}
    compare(torch, "MultiheadAttention", ctor, shapes, call, masks, dtype, seed=case)


def test_multihead_self_attention_packed(torch):
    """query is key is value: one projection (torch's packed path), same numbers."""
    rng = np.random.default_rng(0)
    tm, am = torch.nn.MultiheadAttention(E, 2).double(), nn.MultiheadAttention(E, 2).double()
    _load_from_torch(tm, am)
    x = rng.standard_normal((3, 2, E))
    tx, ax = torch.tensor(x, requires_grad=True), xp.asarray(x, requires_grad=True)
    to, tw = tm(tx, tx, tx)
    ao, aw = am(ax, ax, ax)
    np.testing.assert_allclose(to_numpy(ao), to.detach().numpy(), **TOL["float64"])
    np.testing.assert_allclose(to_numpy(aw), tw.detach().numpy(), **TOL["float64"])
    (to.sum() + tw.sum()).backward()
    (xp.sum(ao) + xp.sum(aw)).backward()
    np.testing.assert_allclose(to_numpy(ax.grad), tx.grad.numpy(), **TOL["float64"])


LAYER = dict(d_model=E, nhead=2, dim_feedforward=16, dropout=0.0)
ENC = [
    ({}, {}, {}),
    ({"norm_first": True, "batch_first": True, "activation": "gelu", "bias": False},
     {"is_causal": True}, {"src_mask": np.triu(np.full((5, 5), -np.inf), 1)}),
    ({"layer_norm_eps": 1e-3}, {},
     {"src_key_padding_mask": _kpm([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]]),
      "src_mask": _R.random((5, 5)) > 0.8}),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", range(len(ENC)))
def test_encoder_layer(torch, case, dtype):
    ctor, call, masks = ENC[case]
    bf = ctor.get("batch_first", False)
    compare(torch, "TransformerEncoderLayer", {**LAYER, **ctor}, [(2, 5, E) if bf else (5, 2, E)],
            call, masks, dtype, seed=case)


def test_encoder_layer_callable_activation(torch):
    compare(torch, "TransformerEncoderLayer", {**LAYER, "activation": F.silu}, [(5, 2, E)],
            ctor_torch={**LAYER, "activation": torch.nn.functional.silu})


DEC = [
    ({}, {}, {"tgt_mask": np.triu(np.full((5, 5), -np.inf), 1),
              "memory_key_padding_mask": _kpm([[0, 0, 1], [0, 0, 0]])}),
    ({"norm_first": True, "activation": "gelu", "batch_first": True}, {"tgt_is_causal": True},
     {"tgt_mask": np.triu(np.full((5, 5), -np.inf), 1), "memory_mask": _R.random((5, 3)) > 0.8,
      "tgt_key_padding_mask": _kpm([[0, 0, 0, 0, 1], [0, 0, 0, 0, 0]])}),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", range(len(DEC)))
def test_decoder_layer(torch, case, dtype):
    ctor, call, masks = DEC[case]
    bf = ctor.get("batch_first", False)
    shapes = [(2, 5, E), (2, 3, E)] if bf else [(5, 2, E), (3, 2, E)]
    compare(torch, "TransformerDecoderLayer", {**LAYER, **ctor}, shapes, call, masks, dtype,
            seed=case)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer(torch, norm_first, dtype):
    ctor = dict(d_model=E, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
                dim_feedforward=16, dropout=0.0, batch_first=True, norm_first=norm_first)
    masks = {"tgt_mask": np.triu(np.full((4, 4), -np.inf), 1),
             "src_key_padding_mask": _kpm([[0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]])}
    compare(torch, "Transformer", ctor, [(2, 6, E), (2, 4, E)], {}, masks, dtype)


def test_stacks_match_torch(torch):
    enc_t = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(**LAYER), 2,
                                        enable_nested_tensor=False)
    enc_a = nn.TransformerEncoder(nn.TransformerEncoderLayer(**LAYER), 2)
    _load_from_torch(enc_t, enc_a)
    dec_t = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(**LAYER), 2,
                                        norm=torch.nn.LayerNorm(E))
    dec_a = nn.TransformerDecoder(nn.TransformerDecoderLayer(**LAYER), 2, norm=nn.LayerNorm(E))
    _load_from_torch(dec_t, dec_a)
    rng = np.random.default_rng(0)
    src, tgt = rng.standard_normal((5, 2, E)), rng.standard_normal((3, 2, E))
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    mt = enc_t(torch.tensor(src, dtype=torch.float32))
    ma = enc_a(xp.asarray(src, dtype=xp.float32))
    np.testing.assert_allclose(to_numpy(ma), mt.detach().numpy(), **TOL["float32"])
    ot = dec_t(torch.tensor(tgt, dtype=torch.float32), mt, tgt_mask=torch.tensor(to_numpy(mask)))
    oa = dec_a(xp.asarray(tgt, dtype=xp.float32), ma, tgt_mask=mask)
    np.testing.assert_allclose(to_numpy(oa), ot.detach().numpy(), **TOL["float32"])
    assert enc_a.layers[0].linear1.weight is not enc_a.layers[1].linear1.weight


def test_generate_square_subsequent_mask(torch):
    a = nn.Transformer.generate_square_subsequent_mask(4)
    t = torch.nn.Transformer.generate_square_subsequent_mask(4)
    assert a.dtype == xp.float32
    np.testing.assert_array_equal(to_numpy(a), t.numpy())
    assert nn.Transformer.generate_square_subsequent_mask(2, dtype=xp.float64).dtype == xp.float64


def test_checkpoint_both_ways(torch, tmp_path):
    kw = dict(d_model=E, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
              dim_feedforward=16, dropout=0.0)
    rng = np.random.default_rng(0)
    src = rng.standard_normal((5, 2, E)).astype(np.float32)
    tgt = rng.standard_normal((3, 2, E)).astype(np.float32)
    am = nn.Transformer(**kw)
    xp.save(am.state_dict(), tmp_path / "a.pt")
    tm = torch.nn.Transformer(**kw)
    tm.load_state_dict(torch.load(tmp_path / "a.pt"))
    np.testing.assert_allclose(to_numpy(am(xp.asarray(src), xp.asarray(tgt))),
                               tm(torch.tensor(src), torch.tensor(tgt)).detach().numpy(),
                               **TOL["float32"])
    tm2 = torch.nn.Transformer(**kw)
    torch.save(tm2.state_dict(), tmp_path / "t.pt")
    am2 = nn.Transformer(**kw)
    res = am2.load_state_dict(xp.load(tmp_path / "t.pt"))
    assert not res.missing_keys and not res.unexpected_keys
    np.testing.assert_allclose(to_numpy(am2(xp.asarray(src), xp.asarray(tgt))),
                               tm2(torch.tensor(src), torch.tensor(tgt)).detach().numpy(),
                               **TOL["float32"])


def test_parameter_layout():
    m = nn.MultiheadAttention(E, 2, kdim=3, vdim=5, add_bias_kv=True)
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == {
        "q_proj_weight": (E, E), "k_proj_weight": (E, 3), "v_proj_weight": (E, 5),
        "in_proj_bias": (3 * E,), "bias_k": (1, 1, E), "bias_v": (1, 1, E),
        "out_proj.weight": (E, E), "out_proj.bias": (E,)}
    assert m.in_proj_weight is None
    m = nn.MultiheadAttention(E, 2)
    assert to_numpy(m.in_proj_bias).tolist() == [0.0] * (3 * E)
    bound = np.sqrt(6 / (E + 3 * E))  # xavier_uniform of (3E, E)
    w = to_numpy(m.in_proj_weight)
    assert np.all(np.abs(w) <= bound) and w.std() > bound / 4


def test_gradcheck_encoder_layer(device):
    xp.manual_seed(0)
    m = nn.TransformerEncoderLayer(4, 2, dim_feedforward=4, dropout=0.0).double().to(device)
    x = xp.asarray(np.random.default_rng(0).standard_normal((3, 1, 4)), device=device,
                   requires_grad=True)
    mask = nn.Transformer.generate_square_subsequent_mask(3, device=device, dtype=xp.float64)
    names = ("self_attn.in_proj_weight", "self_attn.out_proj.bias", "linear1.weight",
             "norm2.weight")
    params = tuple(dict(m.named_parameters())[n] for n in names)
    # the parameters go in through functional_call, so gradcheck's copies are the ones used
    assert gradcheck(lambda x, *p: functional_call(m, dict(zip(names, p)), (x,),
                                                   {"src_mask": mask}),
                     (x, *params), atol=1e-7, rtol=1e-5)


def test_gradcheck_multihead_weights(device):
    xp.manual_seed(0)
    m = nn.MultiheadAttention(4, 2, add_bias_kv=True).double().to(device)
    rng = np.random.default_rng(1)
    q = xp.asarray(rng.standard_normal((2, 1, 4)), device=device, requires_grad=True)
    k = xp.asarray(rng.standard_normal((3, 1, 4)), device=device, requires_grad=True)
    names = ("in_proj_weight", "bias_k", "bias_v", "out_proj.weight")
    params = tuple(dict(m.named_parameters())[n] for n in names)
    assert gradcheck(lambda q, k, *p: functional_call(m, dict(zip(names, p)), (q, k, k)),
                     (q, k, *params), atol=1e-7, rtol=1e-5)


def test_dropout_active_in_training():
    xp.manual_seed(0)
    m = nn.TransformerEncoderLayer(E, 2, dim_feedforward=16, dropout=0.5)
    x = xp.asarray(np.random.default_rng(0).standard_normal((4, 2, E)), dtype=xp.float32)
    m.eval()
    a = to_numpy(m(x))
    np.testing.assert_array_equal(a, to_numpy(m(x)))
    m.train()
    assert not np.allclose(to_numpy(m(x)), a)


def test_errors():
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(E, 3)
    with pytest.raises(RuntimeError, match="activation should be relu/gelu"):
        nn.TransformerEncoderLayer(E, 2, activation="tanh")
    m = nn.MultiheadAttention(E, 2)
    x = xp.ones((4, 2, E))
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        m(x, x, x, is_causal=True)
    with pytest.raises(RuntimeError, match="2D attn_mask"):
        m(x, x, x, attn_mask=xp.zeros((3, 4)))
    with pytest.raises(ValueError, match="key_padding_mask"):
        m(x, x, x, key_padding_mask=xp.zeros((4, 2), dtype=xp.bool))
    with pytest.raises(ValueError, match="feature"):
        m(xp.ones((4, 2, 3)), x, x)
    t = nn.Transformer(E, 2, 1, 1, 16)
    with pytest.raises(RuntimeError, match="batch number"):
        t(xp.ones((4, 2, E)), xp.ones((4, 3, E)))


# -- the fused kernels the Transformer layers run on: GELU, layer norm, dropout ----------
def _pair_tensors(torch, arrays, device="cpu"):
    return ([torch.tensor(a, requires_grad=True) for a in arrays],
            [xp.asarray(a, device=device, requires_grad=True) for a in arrays])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gelu_kernel_matches_torch(torch, dtype):
    x = np.concatenate([np.linspace(-8, 8, 20001), [-40.0, 40.0, 0.0, -5.5, 5.5]]).astype(dtype)
    (tx,), (ax,) = _pair_tensors(torch, [x])
    to, ao = torch.nn.functional.gelu(tx), F.gelu(ax)
    assert ao.grad_fn.name == "gelu" and ao.dtype == getattr(xp, dtype)
    np.testing.assert_allclose(to_numpy(ao), to.detach().numpy(), **TOL[dtype])
    g = np.cos(x).astype(dtype)
    to.backward(torch.tensor(g))
    ao.backward(xp.asarray(g))
    np.testing.assert_allclose(to_numpy(ax.grad), tx.grad.numpy(), **TOL[dtype])


def test_gelu_kernel_rules(device):
    """Reverse (storage and tensor forms), forward and second order against differences."""
    x = np.linspace(-4, 4, 13)
    assert gradcheck(F.gelu, (xp.asarray(x, device=device, requires_grad=True),))
    check_grads(F.gelu, [x], device)

    def first(x):
        if not x.requires_grad:  # (the finite-difference evaluations)
            x = x.detach().requires_grad_(True)
        return xp.autograd.grad(xp.sum(F.gelu(x) ** 2), x, create_graph=True)
    check_grads(first, [x], device, forward=False)
    # float32 takes the rational CDF (on any backend)
    x32 = np.linspace(-7, 7, 57).astype(np.float32)
    ref = 0.5 * x32 * (1 + np.vectorize(math.erf)(x32.astype(np.float64) / math.sqrt(2)))
    np.testing.assert_allclose(to_numpy(F.gelu(xp.asarray(x32, device=device))), ref,
                               rtol=1e-6, atol=1e-6)


LN_CASES = [((4, 5, 6), (6,), True, True), ((4, 5, 6), (5, 6), True, False),
            ((3, 6), (6,), False, False), ((2, 3, 6), (6,), False, True), ((6,), (6,), True, True)]


def _ln_args(ts, has_w, has_b):
    """(weight, bias) from the tensors after the input, None where absent."""
    return (ts[1] if has_w else None, ts[1 + has_w] if has_b else None)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", range(len(LN_CASES)))
def test_layer_norm_kernel_matches_torch(torch, case, dtype):
    shape, norm, has_w, has_b = LN_CASES[case]
    rng = np.random.default_rng(case)
    arrays = [(rng.standard_normal(shape) * 3 + 1).astype(dtype)] + \
        [rng.standard_normal(norm).astype(dtype) for _ in range(has_w + has_b)]
    tt, at = _pair_tensors(torch, arrays)
    to = torch.nn.functional.layer_norm(tt[0], norm, *_ln_args(tt, has_w, has_b), eps=1e-5)
    ao = F.layer_norm(at[0], norm, *_ln_args(at, has_w, has_b), eps=1e-5)
    assert ao.grad_fn.name == "layer_norm"
    np.testing.assert_allclose(to_numpy(ao), to.detach().numpy(), **TOL[dtype])
    g = rng.standard_normal(shape).astype(dtype)
    to.backward(torch.tensor(g))
    ao.backward(xp.asarray(g))
    for t, a in zip(tt, at):
        np.testing.assert_allclose(to_numpy(a.grad), t.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("case", range(len(LN_CASES)))
def test_layer_norm_kernel_rules(device, case):
    shape, norm, has_w, has_b = LN_CASES[case]
    rng = np.random.default_rng(case)
    arrays = [rng.standard_normal(shape)] + [rng.standard_normal(norm)
                                             for _ in range(has_w + has_b)]

    def fn(x, *wb):
        return F.layer_norm(x, norm, *_ln_args((x, *wb), has_w, has_b), eps=1e-3)
    check_grads(fn, arrays, device)

    def first(x, *wb):  # the tensor form of the VJP, differentiated again
        if not x.requires_grad:
            x, *wb = (t.detach().requires_grad_(True) for t in (x, *wb))
        out = F.layer_norm(x, norm, *_ln_args((x, *wb), has_w, has_b), eps=1e-3)
        return xp.autograd.grad(xp.sum(out * xp.sin(out)), (x, *wb), create_graph=True)
    check_grads(first, arrays, device, forward=False)


def test_layer_norm_kernel_vmap():
    """vmap over the input (the kernel) and over per-example weights (composite)."""
    rng = np.random.default_rng(7)
    x, w, b = (xp.asarray(rng.standard_normal(s)) for s in ((3, 4, 5), (3, 5), (5,)))
    got = vmap(lambda x, w: F.layer_norm(x, (5,), w, b))(x, w)
    want = xp.stack([F.layer_norm(x[i], (5,), w[i], b) for i in range(3)])
    np.testing.assert_allclose(to_numpy(got), to_numpy(want), rtol=1e-12, atol=1e-12)
    got = vmap(lambda x: F.layer_norm(x, (5,), w[0], b))(x)
    np.testing.assert_allclose(to_numpy(got), to_numpy(F.layer_norm(x, (5,), w[0], b)),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dropout_kernel(device, dtype):
    """One node; kept elements scaled by 1/(1-p), the rest zero; the gradient is the mask;
    the same draws as before the kernel (u >= p)."""
    rng = np.random.default_rng(8)
    x = xp.asarray(rng.standard_normal((50, 40)).astype(dtype), device=device,
                   requires_grad=True)
    xp.manual_seed(3)
    out = F.dropout(x, 0.3)
    xp.manual_seed(3)
    u = to_numpy(xp.rand(50, 40, dtype=getattr(xp, dtype), device=device))
    mask = (u >= 0.3) / 0.7
    assert out.grad_fn.name == "dropout"
    np.testing.assert_allclose(to_numpy(out), to_numpy(x.detach()) * mask, rtol=1e-6)
    xp.sum(out * 2.0).backward()
    np.testing.assert_allclose(to_numpy(x.grad), 2.0 * mask, rtol=1e-6)
    assert 0.6 < (u >= 0.3).mean() < 0.8


def test_dropout_kernel_rules(device):
    rng = np.random.default_rng(9)
    u = xp.asarray(rng.random((4, 5)), device=device)
    check_grads(lambda x: dropout_kernel(x, u, 0.4), [rng.standard_normal((4, 5))], device)
    x = xp.asarray(rng.standard_normal((4, 5)), device=device, requires_grad=True)
    (g,) = xp.autograd.grad(xp.sum(dropout_kernel(x, u, 0.4) * x), x, create_graph=True)
    mask = (to_numpy(u) >= 0.4) / 0.6
    np.testing.assert_allclose(to_numpy(g), 2 * mask * to_numpy(x.detach()), rtol=1e-12)


def test_dropout_kernel_input_overwritten_later():
    """Dropout's backward needs only its mask (PyTorch's): the input may change after."""
    x = xp.ones((6, 7), requires_grad=True)
    h = x * 1.0
    y = F.dropout(h, 0.5)
    h.add_(1.0)
    xp.sum(y).backward()
    np.testing.assert_array_equal(to_numpy(x.grad), to_numpy(y.detach()))
