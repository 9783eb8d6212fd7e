"""PyTorch's list-wise in-place updates: ``_foreach_*`` and ``_fused_sgd_`` give what the
per-tensor methods give (bit for bit), on the storage path and the general one."""
import numpy as np
import pytest

import arraylib as al

SHAPES = [(3, 4), (4,), (2, 1)]


def _tensors(device, seed, dtype=al.float32):
    rng = np.random.default_rng(seed)
    return [al.asarray(rng.standard_normal(s).astype(np.float64), dtype=dtype, device=device)
            for s in SHAPES]


def _host(ts):
    return [np.asarray(t.to_device("cpu")) for t in ts]


@pytest.mark.parametrize("name, method, other", [
    ("_foreach_add_", "add_", "tensors"), ("_foreach_sub_", "sub_", "tensors"),
    ("_foreach_mul_", "mul_", "tensors"), ("_foreach_div_", "div_", "tensors"),
    ("_foreach_add_", "add_", 0.25), ("_foreach_mul_", "mul_", 3), ("_foreach_div_", "div_", 0.5)])
@pytest.mark.parametrize("grad_mode", [False, True])
def test_foreach_equals_the_methods(device, name, method, other, grad_mode):
    xs, ys = _tensors(device, 0), _tensors(device, 1)
    ref = [x.clone() for x in xs]
    others = ys if other == "tensors" else other
    kw = {"alpha": 0.5} if method in ("add_", "sub_") else {}
    with al.set_grad_enabled(grad_mode):
        getattr(al, name)(xs, others, **kw)
        for i, r in enumerate(ref):
            getattr(r, method)(ys[i] if other == "tensors" else other, **kw)
    for a, b in zip(_host(xs), _host(ref)):
        np.testing.assert_array_equal(a, b)
    assert all(x._version == 1 for x in xs)


def test_foreach_sees_views_and_records_where_grad_is_asked():
    base = al.zeros((2, 3))
    view = base[0]
    al._foreach_add_([view], [al.ones(3)])
    assert base.tolist() == [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    w = al.ones(3, requires_grad=True)
    y = w * 2
    al._foreach_mul_([y], 3.0)  # recorded: y is not a leaf
    y.sum().backward()
    assert w.grad.tolist() == [6.0, 6.0, 6.0]
    with pytest.raises(RuntimeError, match="leaf"):
        al._foreach_add_([w], [al.ones(3)])


def test_foreach_errors():
    with pytest.raises(RuntimeError, match="_foreach_add_: .*same number"):
        al._foreach_add_([al.ones(2)], [al.ones(2), al.ones(2)])
    with pytest.raises(TypeError, match="_foreach_mul_: expected a list"):
        al._foreach_mul_(al.ones(2), 2.0)
    with pytest.raises(TypeError, match="_foreach_add_"):
        al._foreach_add_([al.ones(2), "x"], 1.0)


def _sgd_by_methods(ps, gs, bs, *, weight_decay, momentum, lr, dampening, nesterov, maximize,
                    is_first_step):
    for p, g, b in zip(ps, gs, bs):
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            if is_first_step:
                b.copy_(g)
            else:
                b.mul_(momentum).add_(g, alpha=1 - dampening)
            g = g + momentum * b if nesterov else b
        p.add_(g, alpha=-lr)


@pytest.mark.parametrize("opts", [
    dict(weight_decay=0.0, momentum=0.9, dampening=0.0, nesterov=False, maximize=False),
    dict(weight_decay=0.01, momentum=0.9, dampening=0.1, nesterov=False, maximize=True),
    dict(weight_decay=0.0, momentum=0.5, dampening=0.0, nesterov=True, maximize=False),
    dict(weight_decay=0.1, momentum=0.0, dampening=0.0, nesterov=False, maximize=False)])
@pytest.mark.parametrize("first", [True, False])
def test_fused_sgd_equals_the_methods_and_torch(device, opts, first, torch):
    ps, gs, bs = _tensors(device, 0), _tensors(device, 1), _tensors(device, 2)
    qs, cs = [p.clone() for p in ps], [b.clone() for b in bs]
    with al.no_grad():
        al._fused_sgd_(ps, gs, bs, lr=0.05, is_first_step=first, **opts)
        _sgd_by_methods(qs, gs, cs, lr=0.05, is_first_step=first, **opts)
    for a, b in zip(_host(ps) + _host(bs), _host(qs) + _host(cs)):
        np.testing.assert_array_equal(a, b)
    tp, tg, tb = ([torch.from_numpy(a.copy()) for a in _host(t)]
                  for t in (_tensors("cpu", 0), _tensors("cpu", 1), _tensors("cpu", 2)))
    tb = tb if opts["momentum"] else []  # torch wants no buffers without momentum
    torch._fused_sgd_(tp, tg, tb, lr=0.05, is_first_step=first, **opts)
    ours = _host(ps) + (_host(bs) if opts["momentum"] else [])
    for a, t in zip(ours, tp + tb):  # torch's fused kernel rounds its own way
        np.testing.assert_allclose(a, t.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("lr, momentum", [(0.05, 0.9), (1, 0.5), (0.3, 0)])
def test_fused_sgd_plain_step_is_bit_identical_per_dtype(device, lr, momentum):
    # the plain step's scalars are 0-d storage of each parameter's dtype (switching dtype
    # within the list): the same bits as the in-place methods with Python scalars
    dtypes = [al.float32, al.float64, al.float32]
    if device == "cpu":  # (half precision: NumPy storage only)
        dtypes += [al.float16, al.bfloat16]
    ps = [_tensors(device, 10 + i, dt)[0] for i, dt in enumerate(dtypes)]
    gs = [_tensors(device, 20 + i, dt)[0] for i, dt in enumerate(dtypes)]
    bs = [_tensors(device, 30 + i, dt)[0] for i, dt in enumerate(dtypes)]
    qs, cs = [p.clone() for p in ps], [b.clone() for b in bs]
    opts = dict(weight_decay=0, momentum=momentum, dampening=0, nesterov=False, maximize=False,
                is_first_step=False)
    with al.no_grad():
        for _ in range(3):
            al._fused_sgd_(ps, gs, bs, lr=lr, **opts)
            _sgd_by_methods(qs, gs, cs, lr=lr, **opts)
    for a, b in zip(ps + (bs if momentum else []), qs + (cs if momentum else [])):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(np.asarray(al.astype(a, al.float64).to("cpu")),
                                      np.asarray(al.astype(b, al.float64).to("cpu")))


def test_fused_sgd_errors():
    p = al.ones(2)
    with pytest.raises(RuntimeError, match="_fused_sgd_: got 1 parameters, 1 gradients and 2"):
        al._fused_sgd_([p], [p], [p, p], weight_decay=0, momentum=0.9, lr=0.1, dampening=0,
                       nesterov=False, maximize=False, is_first_step=False)
    with pytest.raises(TypeError, match="_fused_sgd_: expected tensors"):
        al._fused_sgd_([p], [None], [], weight_decay=0, momentum=0, lr=0.1, dampening=0,
                       nesterov=False, maximize=False, is_first_step=False)
