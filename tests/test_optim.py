"""Optimizers against PyTorch: same parameters and gradient fields, 50 steps,
float64, trajectories equal to 1e-10; state_dict round trips; validation."""
import copy

import numpy as np
import pytest

import arraylib as al
from conftest import to_numpy

# The trajectories are compared with PyTorch's (the ``torch`` fixture, conftest: those tests
# skip without it); state loading, training on a device and validation run without it.

SHAPES = [(3, 4), (4,), ()]


def _init(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in SHAPES]


def _grad_field(values, t):
    """A gradient depending on the parameter values and the step (same on both sides)."""
    out = []
    for i, v in enumerate(values):
        rng = np.random.default_rng(1000 * t + i)
        out.append(0.5 * v + np.sin(v) + 0.3 * rng.standard_normal(v.shape))
    return out


def _pair(torch, cls_name, kwargs, device, groups=False):
    init = _init()
    ours = [al.asarray(v, dtype=al.float64, device=device, requires_grad=True) for v in init]
    ref = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in init]
    if groups:
        lr2 = kwargs.get("lr", 0.01) * 0.5
        po = [{"params": ours[:2]}, {"params": ours[2:], "lr": lr2}]
        pr = [{"params": ref[:2]}, {"params": ref[2:], "lr": lr2}]
    else:
        po, pr = ours, ref
    opt = getattr(al.optim, cls_name)(po, **kwargs)
    topt = getattr(torch.optim, cls_name)(pr, **kwargs)
    return ours, ref, opt, topt


def _run(torch, ours, ref, opt, topt, steps, start=0):
    for t in range(start, start + steps):
        go = _grad_field([to_numpy(p) for p in ours], t)
        gr = _grad_field([p.detach().numpy() for p in ref], t)
        for p, g in zip(ours, go):
            p.grad = al.asarray(g, dtype=al.float64, device=p.device)
        for p, g in zip(ref, gr):
            p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        topt.step()


def _assert_same(ours, ref, tol=1e-10):
    for p, q in zip(ours, ref):
        np.testing.assert_allclose(to_numpy(p), q.detach().numpy(), rtol=tol, atol=tol)


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.5, nesterov=True, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.05)),
    ("Adam", dict(lr=0.02, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.9), maximize=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1, eps=1e-6)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.005, centered=True, momentum=0.5, weight_decay=0.01, alpha=0.9)),
    ("RMSprop", dict(lr=0.01, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1)),
    ("Adagrad", dict(lr=0.1, maximize=True, eps=1e-6)),
]


def _id(case):
    return case[0] + "-" + "-".join(f"{k}={v}" for k, v in case[1].items())


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_trajectory_matches_torch(case, device, torch):
    name, kwargs = case
    ours, ref, opt, topt = _pair(torch, name, kwargs, device)
    _run(torch, ours, ref, opt, topt, 50)
    _assert_same(ours, ref)
    for p in ours:
        assert p.device == device and p.dtype == al.float64 and p.requires_grad and p.is_leaf
        for v in opt.state[p].values():
            if isinstance(v, al.Tensor):
                assert v.device == device


@pytest.mark.parametrize("case", [CASES[1], CASES[8], CASES[17], CASES[20]],
                         ids=[_id(c) for c in (CASES[1], CASES[8], CASES[17], CASES[20])])
def test_param_groups_match_torch(case, torch):
    name, kwargs = case
    ours, ref, opt, topt = _pair(torch, name, kwargs, "cpu", groups=True)
    assert len(opt.param_groups) == 2
    _run(torch, ours, ref, opt, topt, 50)
    _assert_same(ours, ref)


@pytest.mark.parametrize("case", [CASES[1], CASES[3], CASES[8], CASES[12], CASES[17], CASES[20]],
                         ids=[_id(c) for c in (CASES[1], CASES[3], CASES[8], CASES[12],
                                               CASES[17], CASES[20])])
def test_state_dict_round_trip(case, device, torch):
    name, kwargs = case
    ours, ref, opt, topt = _pair(torch, name, kwargs, device, groups=True)
    _run(torch, ours, ref, opt, topt, 25)
    sd = opt.state_dict()
    tsd = topt.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"])
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in tsd["param_groups"]]
    for k, st in tsd["state"].items():
        for key, v in st.items():
            if key == "step":
                assert float(sd["state"][k][key]) == float(v)
            else:
                np.testing.assert_allclose(to_numpy(sd["state"][k][key]), v.numpy(),
                                           rtol=1e-10, atol=1e-12)
    # a fresh optimizer on copies of the parameters, loaded from the state dict
    fresh = [al.asarray(to_numpy(p), dtype=al.float64, device=device, requires_grad=True)
             for p in ours]
    groups = [{"params": fresh[:2]}, {"params": fresh[2:]}]
    opt2 = getattr(al.optim, name)(groups, **kwargs)
    opt2.load_state_dict(copy.deepcopy(sd) if device == "cpu" else sd)
    assert opt2.param_groups[1]["lr"] == opt.param_groups[1]["lr"]
    _run(torch, fresh, ref, opt2, topt, 25, start=25)
    _assert_same(fresh, ref)


def test_state_dict_loads_to_param_device():
    p = al.asarray([1.0, 2.0], dtype=al.float64, requires_grad=True)
    opt = al.optim.Adam([p], lr=0.1)
    p.grad = al.asarray([0.1, 0.2], dtype=al.float64)
    opt.step()
    sd = opt.state_dict()
    q = al.asarray([1.0, 2.0], dtype=al.float32, device="strict:device1", requires_grad=True)
    opt2 = al.optim.Adam([q], lr=0.1)
    opt2.load_state_dict(sd)
    st = opt2.state[q]
    assert st["exp_avg"].device == "strict:device1" and st["exp_avg"].dtype == al.float32
    q.grad = al.asarray([0.1, 0.2], device="strict:device1")
    opt2.step()
    with pytest.raises(ValueError, match="parameter groups"):
        opt2.load_state_dict({"state": {}, "param_groups": []})


def test_float32_training_on_device(device):
    """A least-squares fit with real backward passes, float32, on every device."""
    al.manual_seed(0)
    X = al.randn(64, 3, device=device)
    w_true = al.asarray([1.0, -2.0, 0.5], device=device)
    y = al.sum(X * w_true, axis=1)
    for name, kw in [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.1)),
                     ("AdamW", dict(lr=0.1, weight_decay=0.0)), ("RMSprop", dict(lr=0.01)),
                     ("Adagrad", dict(lr=0.5))]:
        w = al.zeros(3, device=device, requires_grad=True)
        opt = getattr(al.optim, name)([w], **kw)
        for _ in range(300):
            opt.zero_grad()
            loss = al.sum((al.sum(X * w, axis=1) - y) ** 2) / 64
            loss.backward()
            opt.step()
        assert w.dtype == al.float32 and w.device == device
        np.testing.assert_allclose(to_numpy(w), to_numpy(w_true), atol=0.05, err_msg=name)


def test_step_with_closure_and_zero_grad():
    w = al.asarray([3.0], dtype=al.float64, requires_grad=True)
    opt = al.optim.SGD([w], lr=0.25)
    calls = []

    def closure():
        opt.zero_grad()
        loss = al.sum(w * w)
        loss.backward()
        calls.append(1)
        return loss

    loss = opt.step(closure)
    assert float(loss) == 9.0 and len(calls) == 1
    assert float(w.detach()[0]) == pytest.approx(1.5)
    opt.zero_grad(set_to_none=False)
    assert w.grad is not None and float(w.grad[0]) == 0.0
    opt.zero_grad()
    assert w.grad is None
    opt.step()  # no gradients: nothing happens
    assert float(w.detach()[0]) == pytest.approx(1.5)


def test_add_param_group_and_repr():
    a = al.zeros(2, requires_grad=True)
    b = al.zeros(3, requires_grad=True)
    opt = al.optim.SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.01})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.01
    assert "Parameter Group 1" in repr(opt)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


@pytest.mark.parametrize("bad, match", [
    (lambda p: al.optim.SGD(p, lr=-0.1), "Invalid learning rate"),
    (lambda p: al.optim.SGD(p, lr=0.1, momentum=-1), "Invalid momentum"),
    (lambda p: al.optim.SGD(p, lr=0.1, nesterov=True), "Nesterov"),
    (lambda p: al.optim.SGD(p, lr=0.1, weight_decay=-1), "weight_decay"),
    (lambda p: al.optim.Adam(p, betas=(1.0, 0.999)), "beta parameter at index 0"),
    (lambda p: al.optim.Adam(p, betas=(0.9, -0.1)), "beta parameter at index 1"),
    (lambda p: al.optim.Adam(p, eps=-1.0), "epsilon"),
    (lambda p: al.optim.AdamW(p, lr=-1.0), "learning rate"),
    (lambda p: al.optim.RMSprop(p, alpha=-0.5), "alpha"),
    (lambda p: al.optim.Adagrad(p, lr_decay=-0.5), "lr_decay"),
    (lambda p: al.optim.Adagrad(p, initial_accumulator_value=-1), "initial_accumulator"),
])
def test_validation(bad, match):
    p = [al.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match=match):
        bad(p)


def test_params_errors():
    with pytest.raises(ValueError, match="empty parameter list"):
        al.optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable"):
        al.optim.SGD(al.zeros(2, requires_grad=True), lr=0.1)
    with pytest.raises(TypeError, match="only optimize Tensors"):
        al.optim.SGD([1.0], lr=0.1)
    a = al.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="non-leaf"):
        al.optim.SGD([a * 2], lr=0.1)
    with pytest.raises(ValueError, match="twice"):
        al.optim.SGD([a, a], lr=0.1)
