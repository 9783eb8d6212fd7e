"""``MultiheadAttention`` and the Transformer layers against PyTorch: same weights and
inputs -> same outputs and gradients w.r.t. inputs and parameters (float64 to 1e-10,
float32 to 1e-5) over a grid of options and masks, identical state dicts loaded both ways
through a checkpoint file; gradcheck on cpu and strict:device1."""
from __future__ import annotations

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn as nn
import arraylib.nn.functional as F
from arraylib.autograd import gradcheck
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
    w = m.self_attn.in_proj_weight
    assert gradcheck(lambda x, w: m(x, src_mask=mask), (x, w), atol=1e-7, rtol=1e-5)


def test_gradcheck_multihead_weights(device):
    xp.manual_seed(0)
    m = nn.MultiheadAttention(4, 2, add_bias_kv=True).double().to(device)
    rng = np.random.default_rng(1)
    q = xp.asarray(rng.standard_normal((2, 1, 4)), device=device, requires_grad=True)
    k = xp.asarray(rng.standard_normal((3, 1, 4)), device=device, requires_grad=True)
    assert gradcheck(lambda q, k: m(q, k, k), (q, k), atol=1e-7, rtol=1e-5)


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
