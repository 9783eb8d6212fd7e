"""Issue 14, the module and data-loader parts: batches never share the data set's storage
(item 3), ``inplace=True`` activation and dropout modules modify their input (item 8),
``Embedding`` refuses out-of-range indices (item 9), layers given a non-tensor and
backward hooks that return the wrong thing raise clear errors (item 12),
``load_state_dict(assign=True)``, ``BatchNorm`` on an empty batch and pickled
``Parameter``/``Buffer`` (item 13).  Compared with PyTorch where it is installed."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import arraylib as xp
import arraylib.nn as nn
import arraylib.data as data
import arraylib.data.dataloader as dataloader_module
from conftest import to_numpy


def _t(a, device="cpu", **kw):
    return xp.asarray(np.asarray(a), device=device, **kw)


# -- item 3: a DataLoader never hands out the data set's storage -------------------------
def _tensor_dataset(device):
    X = _t(np.arange(40.0).reshape(10, 4), device)
    y = _t(np.arange(10), device)
    return X, y, data.TensorDataset(X, y)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_in_place_update_of_a_batch_leaves_the_tensor_dataset(device, shuffle, drop_last):
    X, y, ds = _tensor_dataset(device)
    before_x, before_y = to_numpy(X).copy(), to_numpy(y).copy()
    dl = data.DataLoader(ds, batch_size=4, shuffle=shuffle, drop_last=drop_last)
    for epoch in range(3):
        seen = []
        for xb, yb in dl:
            # every epoch sees the original values, whatever the loop did to earlier batches
            np.testing.assert_array_equal(to_numpy(xb), before_x[to_numpy(yb)])
            seen.extend(to_numpy(yb).tolist())
            xb.mul_(2)
            yb += 100
            xb[0] = -1.0
        assert len(seen) == (8 if drop_last else 10)
        if not shuffle:
            assert seen == list(range(len(seen)))
    np.testing.assert_array_equal(to_numpy(X), before_x)
    np.testing.assert_array_equal(to_numpy(y), before_y)


def test_batches_do_not_share_storage_with_each_other_across_chunks(device, monkeypatch):
    # the fast path copies the data set a chunk of batches at a time: small chunks here
    monkeypatch.setattr(dataloader_module, "_CHUNK_BYTES", 40)
    X, y, ds = _tensor_dataset(device)
    for shuffle in (False, True):
        batches = [(xb, yb) for xb, yb in data.DataLoader(ds, batch_size=3, shuffle=shuffle)]
        assert [tuple(b[0].shape) for b in batches] == [(3, 4), (3, 4), (3, 4), (1, 4)]
        kept = [to_numpy(b[0]).copy() for b in batches]
        for xb, _ in batches:
            xb.mul_(0)
            xb -= 1
        for (xb, yb), k in zip(batches, kept):
            np.testing.assert_array_equal(k, np.arange(40.0).reshape(10, 4)[to_numpy(yb)])
            np.testing.assert_array_equal(to_numpy(xb), np.full(k.shape, -1.0))
    np.testing.assert_array_equal(to_numpy(X), np.arange(40.0).reshape(10, 4))


def test_tensor_dataset_batches_match_pytorch(torch, device):
    X, y, ds = _tensor_dataset(device)
    tds = torch.utils.data.TensorDataset(torch.arange(40.0).reshape(10, 4), torch.arange(10))
    for bs, drop_last in ((3, False), (3, True), (10, False), (64, False)):
        ours = list(data.DataLoader(ds, batch_size=bs, drop_last=drop_last))
        theirs = list(torch.utils.data.DataLoader(tds, batch_size=bs, drop_last=drop_last))
        assert len(ours) == len(theirs)
        for (a, b), (ta, tb) in zip(ours, theirs):
            np.testing.assert_array_equal(to_numpy(a), ta.numpy())
            np.testing.assert_array_equal(to_numpy(b), tb.numpy())
            assert a.dtype == xp.float64 and b.dtype == xp.int64


def test_the_generic_path_and_batch_size_none_copy_too(device):
    X = _t(np.arange(12.0).reshape(6, 2), device)

    class Views(data.Dataset):  # samples are views of X
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return {"x": X[i], "pair": (X[i], X[i, 0])}

    for b in data.DataLoader(Views(), batch_size=4):
        b["x"].mul_(3)
        b["pair"][0].add_(1)
        b["pair"][1].sub_(5)
    for b in data.DataLoader(Views(), batch_size=None):
        assert b["x"].shape == (2,)
        b["x"].mul_(3)
        b["pair"][0].add_(1)
    # a sampler and a batch sampler go through the stacking collate
    for (xb,) in data.DataLoader(data.TensorDataset(X), batch_size=2, sampler=[5, 0, 3]):
        xb.mul_(7)
    for (xb,) in data.DataLoader(data.TensorDataset(X), batch_sampler=[[1, 2], [4]]):
        xb.mul_(7)
    for (xb,) in data.DataLoader(data.TensorDataset(X), batch_size=None):
        xb.mul_(7)
    np.testing.assert_array_equal(to_numpy(X), np.arange(12.0).reshape(6, 2))


def test_numpy_samples_are_copied():
    a = np.arange(12.0).reshape(6, 2)

    class Rows(data.Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return a[i]

    for xb in data.DataLoader(Rows(), batch_size=4):
        assert isinstance(xb, xp.Tensor)
        xb.mul_(2)
    for x in data.DataLoader(Rows(), batch_size=None):
        assert isinstance(x, xp.Tensor)  # PyTorch's default_convert makes tensors of arrays
        x.mul_(2)
    np.testing.assert_array_equal(a, np.arange(12.0).reshape(6, 2))


def test_batches_of_a_dataset_that_requires_grad_carry_the_gradient(torch):
    for shuffle in (False, True):
        X = _t(np.arange(12.0).reshape(6, 2), requires_grad=True)
        total = None
        for (xb,) in data.DataLoader(data.TensorDataset(X), batch_size=4, shuffle=shuffle):
            s = (xb * xb).sum()
            total = s if total is None else total + s
        total.backward()
        tX = torch.arange(12.0, dtype=torch.float64).reshape(6, 2).requires_grad_()
        ttotal = sum((xb * xb).sum() for (xb,) in
                     torch.utils.data.DataLoader(torch.utils.data.TensorDataset(tX), batch_size=4))
        ttotal.backward()
        np.testing.assert_allclose(to_numpy(X.grad), tX.grad.numpy())


# -- item 8: inplace=True modifies the input --------------------------------------------
_INPLACE = [
    ("ReLU", lambda m: m.ReLU(inplace=True)),
    ("ReLU6", lambda m: m.ReLU6(inplace=True)),
    ("LeakyReLU", lambda m: m.LeakyReLU(0.2, inplace=True)),
    ("ELU", lambda m: m.ELU(0.7, inplace=True)),
    ("SiLU", lambda m: m.SiLU(inplace=True)),
    ("Hardtanh", lambda m: m.Hardtanh(-0.5, 2.0, inplace=True)),
]
_VALUES = np.array([[-3.0, -0.75, -0.25, 0.0], [0.3, 1.0, 2.5, 7.0]])


@pytest.mark.parametrize("name,make", _INPLACE, ids=[n for n, _ in _INPLACE])
def test_inplace_activation_modules_modify_their_input(torch, device, name, make):
    m, tm = make(nn), make(torch.nn)
    leaf = _t(_VALUES, device, requires_grad=True)
    tleaf = torch.tensor(_VALUES, requires_grad=True)
    x, tx = leaf * 1.0, tleaf * 1.0
    vx = x._version if hasattr(x, "_version") else None
    y, ty = m(x), tm(tx)
    assert ty is tx and y is x
    if vx is not None:
        assert x._version > vx
    np.testing.assert_allclose(to_numpy(x), tx.detach().numpy(), rtol=1e-12, atol=1e-15)
    g = _t(np.arange(1.0, 9.0).reshape(2, 4), device)
    (y * g).sum().backward()
    (ty * torch.arange(1.0, 9.0, dtype=torch.float64).reshape(2, 4)).sum().backward()
    np.testing.assert_allclose(to_numpy(leaf.grad), tleaf.grad.numpy(), rtol=1e-12, atol=1e-15)
    # without autograd, in place too
    z, tz = _t(_VALUES, device), torch.tensor(_VALUES)
    assert m(z) is z and tm(tz) is tz
    np.testing.assert_allclose(to_numpy(z), tz.numpy(), rtol=1e-12, atol=1e-15)
    # the flag off: a new tensor, the input untouched (as before)
    off = type(m)()
    w = _t(_VALUES, device)
    assert off(w) is not w
    np.testing.assert_array_equal(to_numpy(w), _VALUES)


@pytest.mark.parametrize("name,make", _INPLACE, ids=[n for n, _ in _INPLACE])
def test_inplace_activation_on_a_leaf_that_requires_grad_raises(torch, name, make):
    with pytest.raises(RuntimeError):
        make(torch.nn)(torch.tensor(_VALUES, requires_grad=True))
    leaf = _t(_VALUES, requires_grad=True)
    with pytest.raises(RuntimeError):
        make(nn)(leaf)
    np.testing.assert_array_equal(to_numpy(leaf), _VALUES)


def test_inplace_dropout_module_modifies_its_input(torch, device):
    xp.manual_seed(0)
    d = nn.Dropout(0.5, inplace=True)
    leaf = _t(np.ones((50, 40)), device, requires_grad=True)
    x = leaf * 1.0
    y = d(x)
    assert y is x
    v = to_numpy(x)
    assert set(np.unique(v)) <= {0.0, 2.0} and 0.3 < (v == 0).mean() < 0.7
    y.sum().backward()
    np.testing.assert_array_equal(to_numpy(leaf.grad), v)  # the mask, scaled by 1/(1-p)
    z = _t(np.ones((10, 10)), device)
    assert d(z) is z and set(np.unique(to_numpy(z))) <= {0.0, 2.0}
    d.eval()
    w = _t(np.ones(5), device)
    assert d(w) is w
    np.testing.assert_array_equal(to_numpy(w), np.ones(5))
    # PyTorch: the same contract
    td = torch.nn.Dropout(0.5, inplace=True)
    tx = torch.ones(50, 40)
    assert td(tx) is tx and set(np.unique(tx.numpy())) <= {0.0, 2.0}
    off = nn.Dropout(0.5)
    u = _t(np.ones((10, 10)), device)
    off(u)
    np.testing.assert_array_equal(to_numpy(u), np.ones((10, 10)))


def test_inplace_modules_in_a_sequential_train_as_pytorch(torch):
    rng = np.random.default_rng(0)
    w1, b1 = rng.standard_normal((8, 4)), rng.standard_normal(8)
    w2, b2 = rng.standard_normal((3, 8)), rng.standard_normal(3)
    xin = rng.standard_normal((5, 4))
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True), nn.Linear(8, 3),
                        nn.LeakyReLU(0.1, inplace=True)).double()
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(inplace=True),
                               torch.nn.Linear(8, 3),
                               torch.nn.LeakyReLU(0.1, inplace=True)).double()
    for m, tm, w, b in ((net[0], tnet[0], w1, b1), (net[2], tnet[2], w2, b2)):
        with xp.no_grad():
            m.weight[...] = _t(w)
            m.bias[...] = _t(b)
        with torch.no_grad():
            tm.weight.copy_(torch.tensor(w))
            tm.bias.copy_(torch.tensor(b))
    out, tout = net(_t(xin)), tnet(torch.tensor(xin))
    np.testing.assert_allclose(to_numpy(out), tout.detach().numpy(), rtol=1e-12)
    (out ** 2).sum().backward()
    (tout ** 2).sum().backward()
    for p, tp in zip(net.parameters(), tnet.parameters()):
        np.testing.assert_allclose(to_numpy(p.grad), tp.grad.numpy(), rtol=1e-10, atol=1e-12)


# -- item 9: Embedding refuses out-of-range indices -------------------------------------
@pytest.mark.parametrize("index", [[-1], [0, 4], [[1, 2], [5, 0]], [-5]])
def test_embedding_out_of_range_index_raises(torch, device, index):
    e = nn.Embedding(4, 3, device=device)
    te = torch.nn.Embedding(4, 3)
    with pytest.raises(IndexError):
        te(torch.tensor(index))
    with pytest.raises(IndexError, match="(?i)embedding"):
        e(_t(index, device))


def test_embedding_in_range_indices_still_work(torch, device):
    w = np.arange(12.0).reshape(4, 3)
    e = nn.Embedding.from_pretrained(_t(w, device), freeze=False, padding_idx=3)
    te = torch.nn.Embedding.from_pretrained(torch.tensor(w), freeze=False, padding_idx=3)
    idx = [[0, 3], [2, 3]]
    out, tout = e(_t(idx, device)), te(torch.tensor(idx))
    np.testing.assert_array_equal(to_numpy(out), tout.detach().numpy())
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_array_equal(to_numpy(e.weight.grad), te.weight.grad.numpy())
    assert e(_t(np.zeros((0,), dtype=np.int64), device)).shape == (0, 3)


# -- item 12: layers given a non-tensor; backward hooks that return the wrong thing -------
_LAYERS = [
    ("Linear", lambda m: m.Linear(3, 2), 1),
    ("Conv2d", lambda m: m.Conv2d(1, 1, 2), 1),
    ("MaxPool2d", lambda m: m.MaxPool2d(2), 1),
    ("AvgPool2d", lambda m: m.AvgPool2d(2), 1),
    ("ReLU", lambda m: m.ReLU(), 1),
    ("GELU", lambda m: m.GELU(), 1),
    ("Softmax", lambda m: m.Softmax(dim=-1), 1),
    ("BatchNorm1d", lambda m: m.BatchNorm1d(3), 1),
    ("LayerNorm", lambda m: m.LayerNorm(3), 1),
    ("Dropout", lambda m: m.Dropout(), 1),
    ("Embedding", lambda m: m.Embedding(3, 2), 1),
    ("Flatten", lambda m: m.Flatten(), 1),
    ("MSELoss", lambda m: m.MSELoss(), 2),
    ("CrossEntropyLoss", lambda m: m.CrossEntropyLoss(), 2),
]


@pytest.mark.parametrize("bad", [np.ones((2, 3), dtype=np.float32), [[1.0, 2.0, 3.0]], None],
                         ids=["ndarray", "list", "None"])
@pytest.mark.parametrize("name,make,nargs", _LAYERS, ids=[n for n, _, _ in _LAYERS])
def test_layers_given_a_non_tensor_raise_type_error_naming_the_layer(name, make, nargs, bad):
    m = make(nn)
    good = xp.ones((2, 3))
    args = [bad] + [good] * (nargs - 1)
    with pytest.raises(TypeError, match=name) as info:
        m(*args)
    assert type(bad).__name__ in str(info.value)
    if nargs == 2:
        with pytest.raises(TypeError, match=f"{name}.*target"):
            m(good, bad)


def test_pytorch_layers_refuse_non_tensors_too(torch):
    for bad in (np.ones((2, 3), dtype=np.float32), [[1.0, 2.0, 3.0]], None):
        with pytest.raises(TypeError):
            torch.nn.Linear(3, 2)(bad)
        with pytest.raises(TypeError):
            nn.Linear(3, 2)(bad)


def _hook_pair(torch, device, hook_kind, make_hook, x_requires_grad=True):
    """Run a Linear with the hook in arraylib and in PyTorch; returns the two outcomes."""
    rng = np.random.default_rng(1)
    w, b, xin = rng.standard_normal((2, 3)), rng.standard_normal(2), rng.standard_normal((4, 3))
    outcomes = []
    for lib, ns in (("al", nn), ("torch", torch.nn)):
        m = ns.Linear(3, 2).double()
        if lib == "al":
            m = m.to(device)
            with xp.no_grad():
                m.weight[...] = _t(w, device)
                m.bias[...] = _t(b, device)
            x = _t(xin, device, requires_grad=x_requires_grad)
            mk = (lambda a: _t(a, device))
        else:
            with torch.no_grad():
                m.weight.copy_(torch.tensor(w))
                m.bias.copy_(torch.tensor(b))
            x = torch.tensor(xin, requires_grad=x_requires_grad)
            mk = torch.tensor
        register = getattr(m, f"register_full_backward{'_pre' if hook_kind == 'pre' else ''}_hook")
        register(make_hook(mk))
        try:
            (m(x) * mk(np.arange(8.0).reshape(4, 2))).sum().backward()
        except Exception as e:  # noqa: BLE001 - compared below
            outcomes.append((type(e), str(e)))
            continue
        grads = (None if x.grad is None else to_numpy(x.grad) if lib == "al" else x.grad.numpy(),
                 to_numpy(m.weight.grad) if lib == "al" else m.weight.grad.numpy())
        outcomes.append(grads)
    return outcomes


_BAD_HOOKS = [
    ("full", "wrong shape", lambda mk: lambda m, gi, go: (mk(np.zeros((2, 3))),), RuntimeError),
    ("full", "too many", lambda mk: lambda m, gi, go: (gi[0], gi[0]), RuntimeError),
    ("full", "a string", lambda mk: lambda m, gi, go: ("a",), TypeError),
    ("full", "an int", lambda mk: lambda m, gi, go: 5, TypeError),
    ("pre", "wrong shape", lambda mk: lambda m, go: (mk(np.zeros(3)),), RuntimeError),
    ("pre", "a string", lambda mk: lambda m, go: ("a",), TypeError),
    ("pre", "an int", lambda mk: lambda m, go: 5, TypeError),
]


@pytest.mark.parametrize("kind,what,make_hook,exc", _BAD_HOOKS,
                         ids=[f"{k}-{w}" for k, w, _, _ in _BAD_HOOKS])
def test_backward_hook_returning_the_wrong_thing_raises_naming_the_hook(torch, device, kind,
                                                                         what, make_hook, exc):
    ours, theirs = _hook_pair(torch, device, kind, make_hook)
    assert theirs[0] is exc and ours[0] is exc
    assert "hook" in ours[1] and "<lambda>" in ours[1] and "Linear" in ours[1]


def test_backward_hook_returning_gradients_without_input_grad_raises(torch):
    ours, theirs = _hook_pair(torch, "cpu", "full",
                              lambda mk: lambda m, gi, go: (mk(np.zeros((4, 3))),),
                              x_requires_grad=False)
    assert theirs[0] is RuntimeError and ours[0] is RuntimeError


_GOOD_HOOKS = [
    ("full", "scaled", lambda mk: lambda m, gi, go: (gi[0] * 3.0,)),
    ("full", "observe", lambda mk: lambda m, gi, go: None),
    ("full", "none", lambda mk: lambda m, gi, go: (None,)),
    ("pre", "scaled", lambda mk: lambda m, go: (go[0] * -2.0,)),
    ("pre", "observe", lambda mk: lambda m, go: None),
]


@pytest.mark.parametrize("kind,what,make_hook", _GOOD_HOOKS,
                         ids=[f"{k}-{w}" for k, w, _ in _GOOD_HOOKS])
def test_backward_hooks_replace_gradients_as_pytorch(torch, device, kind, what, make_hook):
    ours, theirs = _hook_pair(torch, device, kind, make_hook)
    for a, b in zip(ours, theirs):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_backward_hooks_see_the_gradients_and_can_be_removed(torch):
    seen = []
    m = nn.Linear(3, 2)
    h1 = m.register_full_backward_pre_hook(lambda mod, go: seen.append(("pre", go[0].shape)))
    h2 = m.register_full_backward_hook(
        lambda mod, gi, go: seen.append(("full", gi[0].shape, go[0].shape)))
    x = xp.ones((4, 3), requires_grad=True)
    m(x).sum().backward()
    assert seen == [("pre", (4, 2)), ("full", (4, 3), (4, 2))]
    seen.clear()
    with xp.no_grad():
        m(x)
    h1.remove()
    h2.remove()
    m(x).sum().backward()
    assert seen == []
    with pytest.raises(TypeError):
        m.register_full_backward_hook(5)


def test_backward_hooks_on_a_two_input_module_match_pytorch(torch, device):
    rng = np.random.default_rng(2)
    w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal(2)
    x1, x2 = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    results = []
    for lib in ("al", "torch"):
        ns = nn if lib == "al" else torch.nn
        mk = (lambda a: _t(a, device)) if lib == "al" else torch.tensor
        m = ns.Bilinear(3, 4, 2).double()
        if lib == "al":
            m = m.to(device)
        with (xp if lib == "al" else torch).no_grad():
            m.weight[...] = mk(w)
            m.bias[...] = mk(b)
        shapes = []
        # grad_input: one entry per tensor argument; the second does not require grad
        m.register_full_backward_hook(
            lambda mod, gi, go: (shapes.append((gi[0].shape, gi[1], go[0].shape)) or
                                 (gi[0] * 0.5, None)))
        m.register_forward_hook(lambda mod, args, out: out * 2.0)
        a1 = mk(x1)
        a1.requires_grad_(True)
        out = m(a1, mk(x2))
        (out ** 2).sum().backward()
        results.append((to_numpy(a1.grad) if lib == "al" else a1.grad.numpy(),
                        to_numpy(m.weight.grad) if lib == "al" else m.weight.grad.numpy(),
                        [(tuple(s0), None if s1 is None else tuple(s1.shape), float(s1.sum()),
                          tuple(s2)) for s0, s1, s2 in shapes]))
    (g, wg, sh), (tg, twg, tsh) = results
    np.testing.assert_allclose(g, tg, rtol=1e-12)
    np.testing.assert_allclose(wg, twg, rtol=1e-12)
    # the input that does not require grad: a zero gradient, in PyTorch as here
    assert sh == tsh == [((5, 3), (5, 4), 0.0, (5, 2))]


def test_forward_hooks_may_still_return_anything(torch):
    # PyTorch does not check what a forward hook returns: neither do we
    for ns, mk in ((nn, xp.ones), (torch.nn, torch.ones)):
        m = ns.Linear(3, 2)
        m.register_forward_hook(lambda mod, args, out: ("wrapped", out.shape[0]))
        assert m(mk((4, 3))) == ("wrapped", 4)


# -- item 13: load_state_dict(assign=True) -----------------------------------------------
def test_load_state_dict_assign_takes_the_given_tensors(torch, device):
    for lib in ("al", "torch"):
        ns = nn if lib == "al" else torch.nn
        m = ns.Linear(2, 3)
        m.register_buffer("count", (xp if lib == "al" else torch).zeros(3))
        m.weight.requires_grad_(False)
        if lib == "al":
            m = m.to(device)
            sd = {"weight": _t(np.ones((3, 2)), device), "bias": nn.Parameter(
                _t(np.full(3, 2.0), device), requires_grad=False), "count": _t(np.ones(3), device)}
        else:
            sd = {"weight": torch.ones(3, 2, dtype=torch.float64),
                  "bias": torch.nn.Parameter(torch.full((3,), 2.0, dtype=torch.float64),
                                             requires_grad=False),
                  "count": torch.ones(3, dtype=torch.float64)}
        result = m.load_state_dict(sd, assign=True)
        assert not result.missing_keys and not result.unexpected_keys
        assert type(m.weight).__name__ == "Parameter" and m.weight.dtype == sd["weight"].dtype
        assert m.weight.requires_grad is False       # the module's flag is kept
        assert m.bias is sd["bias"] and m.bias.requires_grad is True
        assert m.count is sd["count"]
        assert dict(m.named_parameters())["weight"] is m.weight
        # the parameter is the state dict's tensor: writes to one are seen in the other
        if lib == "al":
            sd["weight"][0, 0] = 7.0
            assert float(m.weight[0, 0]) == 7.0
            assert m.weight.device == xp.Device(device)
        else:
            with torch.no_grad():
                sd["weight"][0, 0] = 7.0
            assert float(m.weight[0, 0]) == 7.0
        # and the module trains through it
        m.weight.requires_grad_(True)
        x = _t(np.ones((1, 2)), device) if lib == "al" else torch.ones(1, 2, dtype=torch.float64)
        m(x).sum().backward()
        g = to_numpy(m.weight.grad) if lib == "al" else m.weight.grad.numpy()
        np.testing.assert_array_equal(g, np.ones((3, 2)))


def test_load_state_dict_assign_checks_shapes_and_keys(torch):
    for ns, mk in ((nn, lambda a: _t(a)), (torch.nn, torch.tensor)):
        m = ns.Linear(2, 3)
        with pytest.raises(RuntimeError, match="size mismatch for weight"):
            m.load_state_dict({"weight": mk(np.ones((2, 2))), "bias": mk(np.ones(3))},
                              assign=True)
        with pytest.raises(RuntimeError, match="Missing key"):
            m.load_state_dict({"weight": mk(np.ones((3, 2)))}, assign=True)
        old = m.bias
        res = m.load_state_dict({"weight": mk(np.ones((3, 2)))}, strict=False, assign=True)
        assert res.missing_keys == ["bias"] and m.bias is old


def test_load_state_dict_without_assign_still_copies():
    m = nn.Linear(2, 3)
    w = m.weight
    sd = {"weight": xp.ones((3, 2), dtype=xp.float64), "bias": xp.zeros(3)}
    m.load_state_dict(sd)
    assert m.weight is w and m.weight.dtype == xp.float32
    sd["weight"][0, 0] = 5.0
    assert float(m.weight[0, 0]) == 1.0


# -- item 13: BatchNorm on an empty batch -------------------------------------------------
@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (0, 3)), ("BatchNorm1d", (0, 3, 5)),
                                       ("BatchNorm1d", (2, 3, 0)), ("BatchNorm2d", (0, 3, 4, 4))])
def test_batch_norm_on_an_empty_batch_returns_an_empty_result(torch, device, cls, shape):
    bn, tbn = getattr(nn, cls)(3, device=device), getattr(torch.nn, cls)(3)
    x = _t(np.zeros(shape, dtype=np.float32), device, requires_grad=True)
    tx = torch.zeros(shape, requires_grad=True)
    y, ty = bn(x), tbn(tx)
    assert tuple(y.shape) == tuple(ty.shape) and y.dtype == xp.float32
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_array_equal(to_numpy(getattr(bn, name)), getattr(tbn, name).numpy())
    y.sum().backward()
    ty.sum().backward()
    assert tuple(x.grad.shape) == shape
    np.testing.assert_array_equal(to_numpy(bn.weight.grad), tbn.weight.grad.numpy())
    np.testing.assert_array_equal(to_numpy(bn.bias.grad), tbn.bias.grad.numpy())
    bn.eval()
    tbn.eval()
    assert tuple(bn(x).shape) == tuple(tbn(tx).shape)
    # the non-affine, untracked layer too
    bare = getattr(nn, cls)(3, affine=False, track_running_stats=False, device=device)
    assert tuple(bare(x).shape) == shape


# -- item 13: pickled Parameter and Buffer ------------------------------------------------
def test_pickled_parameter_comes_back_a_parameter(torch, device):
    for rg in (True, False):
        p = nn.Parameter(_t(np.arange(3.0), device), requires_grad=rg)
        q = pickle.loads(pickle.dumps(p))
        tq = pickle.loads(pickle.dumps(torch.nn.Parameter(torch.arange(3.0), requires_grad=rg)))
        assert type(tq) is torch.nn.Parameter and tq.requires_grad is rg
        assert type(q) is nn.Parameter and q.requires_grad is rg and q.is_leaf
        assert q.device == p.device
        np.testing.assert_array_equal(to_numpy(q), np.arange(3.0))
        assert q.grad is None


def test_pickled_module_keeps_its_parameters_and_buffers(device):
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)).to(device)
    m2 = pickle.loads(pickle.dumps(m))
    assert [type(p) for p in m2.parameters()] == [nn.Parameter] * 4
    assert [n for n, _ in m2.named_parameters()] == [n for n, _ in m.named_parameters()]
    assert [n for n, _ in m2.named_buffers()] == [n for n, _ in m.named_buffers()]
    out = m2(_t(np.ones((4, 2), dtype=np.float32), device))
    out.sum().backward()
    assert all(p.grad is not None for p in m2.parameters())


def test_pickled_buffer_comes_back_a_buffer():
    b = nn.Buffer(xp.arange(3.0), persistent=False)
    for q in (pickle.loads(pickle.dumps(b)), copy.deepcopy(b)):
        assert type(q) is nn.Buffer and q.persistent is False
        np.testing.assert_array_equal(to_numpy(q), np.arange(3.0))
    m = nn.Module()
    m.stats = pickle.loads(pickle.dumps(b))
    assert "stats" in dict(m.named_buffers()) and "stats" not in m.state_dict()
