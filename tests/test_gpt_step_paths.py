"""The paths a GPT training step takes (issue 16's speed work): layer norm by rows as dot
products, chunked over threads (input gradient by rows, weight and bias gradients by
columns), dropout's mask and products in chunks, and Adam/AdamW's update on storage with
the parameters split among threads.  Chunked results equal serial ones bit for bit, the
storage update equals the tensor form bit for bit, and all match PyTorch and finite
differences, on cpu and strict:device1."""
from __future__ import annotations

import numpy as np
import pytest
import threadpoolctl

import arraylib as xp
import arraylib.func as func
import arraylib.nn.functional as F
from arraylib import _nn_kernels
from arraylib._backends import _numpy as numpy_backend
from conftest import serial_blas, to_numpy
from _fd import check_grads


# -- layer norm ------------------------------------------------------------------------
LN_CASES = [((7, 5, 12), 1, True, True), ((7, 5, 12), 2, True, True), ((9, 33), 1, True, False),
            ((6, 8), 1, False, True), ((4, 3, 6), 1, False, False), ((10,), 1, True, True)]


def _ln_arrays(shape, k, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    w, b = (rng.standard_normal(shape[len(shape) - k:]).astype(dtype) for _ in range(2))
    g = rng.standard_normal(shape).astype(dtype)
    return x, w, b, g


def _ln_run(x, w, b, g, k, has_w, has_b, device="cpu"):
    ts = [xp.asarray(a, device=device, requires_grad=True) for a in (x, w, b)]
    out = F.layer_norm(ts[0], x.shape[x.ndim - k:], ts[1] if has_w else None,
                       ts[2] if has_b else None)
    out.backward(xp.asarray(g, device=device))
    grads = [ts[0].grad] + ([ts[1].grad] if has_w else []) + ([ts[2].grad] if has_b else [])
    return [to_numpy(out)] + [to_numpy(t) for t in grads]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(LN_CASES)))
def test_layer_norm_chunked_equals_serial_bit_for_bit(chunked, monkeypatch, case, dtype):
    shape, k, has_w, has_b = LN_CASES[case]
    arrays = _ln_arrays(shape, k, dtype)
    B, counts = xp.Device("cpu").backend, []
    run = B.run_chunks
    monkeypatch.setattr(B, "run_chunks", lambda fn, bounds: counts.append(len(bounds)) or
                        run(fn, bounds))
    parallel = _ln_run(*arrays, k, has_w, has_b)
    rows = int(np.prod(shape[:len(shape) - k]))
    assert (counts and max(counts) == 2) if rows > 1 else not counts  # split where rows allow
    with serial_blas():
        serial = _ln_run(*arrays, k, has_w, has_b)
    for p, s in zip(parallel, serial):
        assert p.dtype == s.dtype and np.array_equal(p, s)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(LN_CASES)))
def test_layer_norm_matches_torch(torch, case, dtype):
    shape, k, has_w, has_b = LN_CASES[case]
    x, w, b, g = _ln_arrays(shape, k, dtype, seed=1)
    ours = _ln_run(x, w, b, g, k, has_w, has_b)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out = torch.nn.functional.layer_norm(tx, x.shape[x.ndim - k:], tw if has_w else None,
                                         tb if has_b else None)
    out.backward(torch.tensor(g))
    theirs = [out] + [tx.grad] + ([tw.grad] if has_w else []) + ([tb.grad] if has_b else [])
    tol = dict(rtol=1e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a, t.detach().numpy(), **tol)


@pytest.mark.parametrize("case", [0, 1, 3, 4])
def test_layer_norm_gradients_against_finite_differences(device, case):
    shape, k, has_w, has_b = LN_CASES[case]
    x, w, b, _ = _ln_arrays(shape, k, np.float64, seed=2)
    norm = x.shape[x.ndim - k:]

    def fn(x, w, b):
        return F.layer_norm(x, norm, w if has_w else None, b if has_b else None)
    check_grads(fn, [x, w, b], device)


def test_layer_norm_on_strict_device_matches_cpu():
    x, w, b, g = _ln_arrays((5, 4, 6), 1, np.float64, seed=3)
    cpu = _ln_run(x, w, b, g, 1, True, True)
    strict = _ln_run(x, w, b, g, 1, True, True, device="strict:device1")
    for c, s in zip(cpu, strict):
        np.testing.assert_allclose(s, c, rtol=1e-13, atol=1e-13)


def test_layer_norm_output_modified_in_place_keeps_the_gradient():
    """Without weight and bias the output is the normalised input itself: the backward
    must not read it (the user may modify it)."""
    x, _, _, g = _ln_arrays((4, 6), 1, np.float64, seed=4)
    ref = _ln_run(x, np.ones(6), np.zeros(6), g, 1, False, False)[1]
    t = xp.asarray(x, requires_grad=True)
    out = F.layer_norm(t, (6,))
    y = out + 1.0  # (a node that saves nothing)
    with xp.no_grad():
        out *= 7.0
    y.backward(xp.asarray(g))
    np.testing.assert_array_equal(to_numpy(t.grad), ref)


def test_layer_norm_empty_input():
    t = xp.zeros((0, 4), requires_grad=True)
    out = F.layer_norm(t, (4,), xp.ones(4), xp.zeros(4))
    assert out.shape == (0, 4)
    out.sum().backward()
    assert t.grad.shape == (0, 4)


# -- dropout -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 5, 4), (3,), ()])
def test_dropout_chunked_equals_serial_bit_for_bit(chunked, shape):
    rng = np.random.default_rng(5)
    x, g = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))

    def run():
        t = xp.asarray(x, requires_grad=True)
        xp.manual_seed(11)
        out = F.dropout(t, 0.3)
        out.backward(xp.asarray(g))
        return to_numpy(out), to_numpy(t.grad)
    parallel = run()
    with serial_blas():
        serial = run()
    for p, s in zip(parallel, serial):
        assert np.array_equal(p, s)
    kept = parallel[0] != 0
    np.testing.assert_allclose(parallel[0][kept], x[kept] / 0.7, rtol=1e-6)
    np.testing.assert_allclose(parallel[1], np.where(kept, g / 0.7, 0), rtol=1e-6)


def test_dropout_on_strict_device():
    t = xp.ones((4, 5), device="strict:device1", requires_grad=True)
    out = F.dropout(t, 0.5)
    out.sum().backward()
    o, g = to_numpy(out), to_numpy(t.grad)
    assert set(np.unique(o)) <= {0.0, 2.0}
    np.testing.assert_array_equal(g, o)


# -- Adam / AdamW ---------------------------------------------------------------------------
SHAPES = [(40, 30), (30,), (5, 7), (1,), (64, 9)]
ADAM_OPTIONS = [("AdamW", {"weight_decay": 0.1}), ("Adam", {}),
                ("Adam", {"weight_decay": 0.05, "amsgrad": True}),
                ("AdamW", {"maximize": True, "betas": (0.3, 0.9)})]


def _trajectory(name, kw, device="cpu", steps=4, dtype=np.float32):
    rng = np.random.default_rng(6)
    params = [xp.nn.Parameter(xp.asarray(rng.standard_normal(s).astype(dtype), device=device))
              for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]
    opt = getattr(xp.optim, name)(params, lr=0.01, **kw)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = xp.asarray(g, device=device)
        opt.step()
    state = [to_numpy(opt.state[p][key]) for p in params for key in ("exp_avg", "exp_avg_sq")]
    return [to_numpy(p) for p in params] + state, grads


@pytest.mark.parametrize("option", range(len(ADAM_OPTIONS)))
def test_adam_storage_update_equals_tensor_form(monkeypatch, option):
    name, kw = ADAM_OPTIONS[option]
    fast, _ = _trajectory(name, kw)
    monkeypatch.setattr(_nn_kernels, "storage_updates_allowed", lambda: False)
    slow, _ = _trajectory(name, kw)
    for a, b in zip(fast, slow):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("option", range(len(ADAM_OPTIONS)))
def test_adam_chunked_equals_serial(chunked, monkeypatch, option):
    name, kw = ADAM_OPTIONS[option]
    B, counts = xp.Device("cpu").backend, []
    run = B.run_chunks
    monkeypatch.setattr(B, "run_chunks", lambda fn, bounds: counts.append(len(bounds)) or
                        run(fn, bounds))
    parallel, _ = _trajectory(name, kw)
    assert counts and max(counts) == 2
    with serial_blas():
        serial, _ = _trajectory(name, kw)
    for a, b in zip(parallel, serial):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("option", range(len(ADAM_OPTIONS)))
def test_adam_matches_torch(torch, option):
    name, kw = ADAM_OPTIONS[option]
    ours, grads = _trajectory(name, kw, dtype=np.float64)
    rng = np.random.default_rng(6)
    params = [torch.nn.Parameter(torch.tensor(rng.standard_normal(s))) for s in SHAPES]
    opt = getattr(torch.optim, name)(params, lr=0.01, **kw)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = torch.tensor(g)
        opt.step()
    for a, p in zip(ours, params):
        np.testing.assert_allclose(a, p.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_adam_on_strict_device_matches_cpu():
    cpu, _ = _trajectory("AdamW", {"weight_decay": 0.1}, dtype=np.float64)
    strict, _ = _trajectory("AdamW", {"weight_decay": 0.1}, device="strict:device1",
                            dtype=np.float64)
    for a, b in zip(cpu, strict):
        np.testing.assert_allclose(b, a, rtol=1e-14, atol=1e-15)


def test_adam_update_bumps_versions():
    """A node that saved a parameter refuses to run backward after the step moved it."""
    p = xp.nn.Parameter(xp.ones(3))
    y = (p * p).sum()
    p.grad = xp.ones(3)
    version = p._version
    xp.optim.AdamW([p], lr=0.1).step()
    assert p._version > version
    with pytest.raises(RuntimeError):
        y.backward()


@pytest.mark.parametrize("sizes", [[5], [1, 1, 1], [100, 1, 1, 1, 1], [3, 50, 2, 60, 1]])
def test_balanced_bounds_cover_the_items(monkeypatch, sizes):
    monkeypatch.setattr(numpy_backend, "CHUNK_MIN_WORK", 1)
    B = xp.Device("cpu").backend
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        bounds = _nn_kernels._balanced_bounds(B, sizes)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(sizes)
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(bounds, bounds[1:]))
    assert len(bounds) <= 2


# -- embedding ----------------------------------------------------------------------------
def _embedding_case(seed=7):
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((12, 5))
    idx = rng.integers(0, 12, (6, 4))
    idx[0] = 3  # repeated indices, and the padding row below
    return weight, idx


@pytest.mark.parametrize("padding_idx", [None, 3, -9])
def test_embedding_one_node_matches_torch_with_second_order(torch, device, padding_idx):
    weight, idx = _embedding_case()
    w = xp.asarray(weight, device=device, requires_grad=True)
    out = F.embedding(xp.asarray(idx, device=device), w, padding_idx=padding_idx)
    (gw,) = xp.autograd.grad((out * out).sum(), [w], create_graph=True)
    (gw * gw).sum().backward()
    tw = torch.tensor(weight, requires_grad=True)
    tout = torch.nn.functional.embedding(torch.from_numpy(idx), tw, padding_idx=padding_idx)
    (tgw,) = torch.autograd.grad((tout * tout).sum(), [tw], create_graph=True)
    (tgw * tgw).sum().backward()
    for a, t in ((out, tout), (gw, tgw), (w.grad, tw.grad)):
        np.testing.assert_allclose(to_numpy(a), t.detach().numpy(), rtol=1e-12, atol=1e-12)
    if padding_idx is not None:
        assert not np.any(to_numpy(w.grad)[padding_idx])


def test_embedding_gradients_against_finite_differences(device):
    weight, idx = _embedding_case(8)
    index = xp.asarray(idx, device=device)
    check_grads(lambda w: F.embedding(index, w), [weight], device)  # (padding: no FD)


def test_embedding_one_node_and_errors():
    weight, idx = _embedding_case(9)
    w = xp.asarray(weight, requires_grad=True)
    out = F.embedding(xp.asarray(idx), w)
    assert out.shape == (6, 4, 5) and out.dtype == w.dtype
    np.testing.assert_array_equal(to_numpy(out), weight[idx])
    with pytest.raises(IndexError, match="embedding: index 12 is out of range"):
        F.embedding(xp.asarray([0, 12]), w)
    with pytest.raises(IndexError, match="embedding: index -1 is out of range"):
        F.embedding(xp.asarray([-1, 0]), w)
    with pytest.raises(TypeError, match="embedding"):
        F.embedding(xp.asarray([0.5]), w)
    empty = F.embedding(xp.zeros((0, 3), dtype=xp.int64), w)
    assert empty.shape == (0, 3, 5)


def test_embedding_weight_updated_before_backward_is_allowed():
    """The weight is not saved (its gradient needs only the indices), as in PyTorch."""
    weight, idx = _embedding_case(10)
    w = xp.nn.Parameter(xp.asarray(weight))
    out = F.embedding(xp.asarray(idx), w)
    with xp.no_grad():
        w *= 2.0
    out.sum().backward()
    expected = np.zeros_like(weight)
    np.add.at(expected, idx.reshape(-1), 1.0)
    np.testing.assert_array_equal(to_numpy(w.grad), expected)


@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_embedding_max_norm_matches_torch(torch, device, norm_type):
    weight, idx = _embedding_case(11)
    weight[2] *= 0.01  # a picked row already inside the ball stays unchanged
    idx[1, 1] = 2
    g = np.random.default_rng(12).standard_normal(idx.shape + (5,))
    w = xp.nn.Parameter(xp.asarray(weight, device=device))
    layer = xp.nn.Embedding(12, 5, max_norm=1.5, norm_type=norm_type, _weight=w)
    out = layer(xp.asarray(idx, device=device))
    out.backward(xp.asarray(g, device=device))
    tlayer = torch.nn.Embedding(12, 5, max_norm=1.5, norm_type=norm_type,
                                _weight=torch.tensor(weight))
    tout = tlayer(torch.from_numpy(idx))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(to_numpy(layer.weight), tlayer.weight.detach().numpy(),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_numpy(out), tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_numpy(layer.weight.grad), tlayer.weight.grad.numpy(),
                               rtol=1e-12)
    unpicked = np.setdiff1d(np.arange(12), idx)
    np.testing.assert_array_equal(to_numpy(layer.weight)[unpicked], weight[unpicked])
    with pytest.raises(IndexError, match="embedding"):
        F.embedding(xp.asarray([0, 12], device=device), w, max_norm=1.0)


@pytest.mark.parametrize("pad", [None, 2])
def test_embedding_kernel_under_vmap_per_example_weights(pad, torch):
    """The embedding primitive's batching rule: per-example weights and indices, shared
    indices, shared weight; gradients against PyTorch example by example (the padding row
    gets none in every example)."""
    rng = np.random.default_rng(0)
    w, idx = rng.standard_normal((3, 7, 4)), rng.integers(0, 7, (3, 5, 2))
    W, I = xp.asarray(w, requires_grad=True), xp.asarray(idx)

    def emb(a, b):
        return _nn_kernels._embedding_prim(a, b, padding_idx=pad, cache={})
    got = func.vmap(emb)(W, I)
    np.testing.assert_array_equal(np.asarray(got.detach()), np.stack([w[i][idx[i]] for i in range(3)]))
    shared_idx = func.vmap(lambda a: emb(a, I[0]))(W)
    np.testing.assert_array_equal(np.asarray(shared_idx.detach()), w[:, idx[0]])
    shared_w = func.vmap(lambda b: emb(W[0].detach(), b))(I)
    np.testing.assert_array_equal(np.asarray(shared_w), w[0][idx])
    g = rng.standard_normal(got.shape)
    (got * xp.asarray(g)).sum().backward()
    tw = torch.tensor(w, requires_grad=True)
    tout = torch.stack([torch.nn.functional.embedding(torch.tensor(idx[i]), tw[i], padding_idx=pad)
                        for i in range(3)])
    (tout * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(np.asarray(W.grad), tw.grad.numpy(), rtol=1e-12, atol=1e-12)
