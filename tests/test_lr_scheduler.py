"""Learning-rate schedulers against PyTorch: 50 steps, learning rates (and cycled
momentum) equal to 1e-10; state_dict round trips."""
import math

import pytest

import arraylib as al

# The schedules are compared with PyTorch's (the ``torch`` fixture, conftest: those tests skip
# without it); state dicts, the epoch argument and the errors are checked without it.


def _opts(opt_name="SGD", torch=None, **kw):
    """Our optimizer on two parameter groups, and PyTorch's twin when ``torch`` is given."""
    kw.setdefault("lr", 0.1)
    a, b = al.zeros(2, requires_grad=True), al.zeros(3, requires_grad=True)
    ours = getattr(al.optim, opt_name)([{"params": [a]}, {"params": [b], "lr": kw["lr"] * 2}], **kw)
    if torch is None:
        return ours, None
    ta, tb = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
    ref = getattr(torch.optim, opt_name)([{"params": [ta]}, {"params": [tb], "lr": kw["lr"] * 2}],
                                         **kw)
    return ours, ref


CASES = [
    ("StepLR", dict(step_size=7, gamma=0.5), {}),
    ("MultiStepLR", dict(milestones=[5, 12, 12, 30], gamma=0.3), {}),
    ("ExponentialLR", dict(gamma=0.95), {}),
    ("CosineAnnealingLR", dict(T_max=20, eta_min=0.001), {}),
    ("CosineAnnealingLR", dict(T_max=50), {}),
    ("LambdaLR", dict(lr_lambda=lambda e: 1.0 / (1 + e)), {}),
    ("LinearLR", dict(start_factor=0.25, end_factor=1.0, total_iters=10), {}),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.1, total_iters=30), {}),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=60), dict(momentum=0.9)),
    ("OneCycleLR", dict(max_lr=[0.5, 1.0], total_steps=55, anneal_strategy="linear",
                        three_phase=True), dict(momentum=0.9)),
    ("OneCycleLR", dict(max_lr=0.01, epochs=5, steps_per_epoch=11), dict(opt="Adam")),
]


def _groups_equal(ours, ref):
    for g, h in zip(ours.param_groups, ref.param_groups):
        assert math.isclose(g["lr"], h["lr"], rel_tol=1e-10, abs_tol=1e-14)
        for key in ("momentum", "betas"):
            if key in h:
                a, b = g[key], h[key]
                a, b = (a, b) if key == "momentum" else (a[0], b[0])
                assert math.isclose(a, b, rel_tol=1e-10), key


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_matches_torch(case, torch):
    name, kw, okw = case
    okw = dict(okw)
    opt_name = okw.pop("opt", "SGD")
    ours, ref = _opts(opt_name, torch, **okw)
    s = getattr(al.optim.lr_scheduler, name)(ours, **kw)
    t = getattr(torch.optim.lr_scheduler, name)(ref, **kw)
    steps = getattr(s, "total_steps", 51) - 1
    for _ in range(min(50, steps)):
        _groups_equal(ours, ref)
        assert all(math.isclose(a, b, rel_tol=1e-10, abs_tol=1e-14)
                   for a, b in zip(s.get_last_lr(), t.get_last_lr()))
        ours.step()
        ref.step()
        s.step()
        t.step()
    _groups_equal(ours, ref)


@pytest.mark.parametrize("kw", [dict(), dict(mode="max", factor=0.5, patience=2, cooldown=1),
                                dict(threshold_mode="abs", threshold=0.1, patience=0,
                                     min_lr=[0.02, 0.05])])
def test_reduce_on_plateau_matches_torch(kw, torch):
    ours, ref = _opts(torch=torch)
    s = al.optim.lr_scheduler.ReduceLROnPlateau(ours, **kw)
    t = torch.optim.lr_scheduler.ReduceLROnPlateau(ref, **kw)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.89, 0.9, 0.9, 0.9, 0.9] * 5
    for m in metrics:
        s.step(m)
        t.step(m)
        _groups_equal(ours, ref)
        assert s.num_bad_epochs == t.num_bad_epochs


@pytest.mark.parametrize("name, kw", [("StepLR", dict(step_size=3)),
                                      ("CosineAnnealingLR", dict(T_max=10)),
                                      ("OneCycleLR", dict(max_lr=1.0, total_steps=40)),
                                      ("LinearLR", dict(total_iters=8))])
def test_state_dict_round_trip(name, kw):
    ours, _ = _opts(momentum=0.9)
    s = getattr(al.optim.lr_scheduler, name)(ours, **kw)
    for _ in range(15):
        ours.step()
        s.step()
    osd, ssd = ours.state_dict(), s.state_dict()
    assert "optimizer" not in ssd
    ours2, _ = _opts(momentum=0.9)
    s2 = getattr(al.optim.lr_scheduler, name)(ours2, **kw)
    ours2.load_state_dict(osd)
    s2.load_state_dict(ssd)
    for _ in range(15):
        ours.step()
        s.step()
        ours2.step()
        s2.step()
        assert s.get_last_lr() == s2.get_last_lr()


def test_lambda_state_dict_and_plateau_state_dict():
    ours, _ = _opts()
    s = al.optim.lr_scheduler.LambdaLR(ours, [lambda e: 0.5 ** e, lambda e: 1.0])
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [None, None]
    s.load_state_dict(sd)
    p = al.optim.lr_scheduler.ReduceLROnPlateau(ours, patience=0)
    p.step(1.0)
    p.step(2.0)
    sd = p.state_dict()
    p2 = al.optim.lr_scheduler.ReduceLROnPlateau(_opts()[0], patience=0)
    p2.load_state_dict(sd)
    assert p2.best == 1.0


def test_closed_form_epoch_argument():
    ours, _ = _opts()
    s = al.optim.lr_scheduler.StepLR(ours, step_size=2, gamma=0.5)
    s.step(5)
    assert ours.param_groups[0]["lr"] == pytest.approx(0.1 * 0.25)


def test_errors():
    ours, _ = _opts()
    with pytest.raises(TypeError, match="not an Optimizer"):
        al.optim.lr_scheduler.StepLR(object(), 3)
    with pytest.raises(ValueError, match="factor"):
        al.optim.lr_scheduler.ReduceLROnPlateau(ours, factor=1.5)
    with pytest.raises(ValueError, match="mode"):
        al.optim.lr_scheduler.ReduceLROnPlateau(ours, mode="median")
    with pytest.raises(ValueError, match="total_steps"):
        al.optim.lr_scheduler.OneCycleLR(ours, max_lr=1.0)
    with pytest.raises(ValueError, match="anneal_strategy"):
        al.optim.lr_scheduler.OneCycleLR(ours, max_lr=1.0, total_steps=5, anneal_strategy="x")
    s = al.optim.lr_scheduler.OneCycleLR(ours, max_lr=1.0, total_steps=3)
    for _ in range(2):
        s.step()
    s.step()
    with pytest.raises(ValueError, match="total steps"):
        s.step()
    with pytest.raises(ValueError, match="momentum or beta1"):
        al.optim.lr_scheduler.OneCycleLR(al.optim.Adagrad([al.zeros(2, requires_grad=True)]),
                                         max_lr=1.0, total_steps=5)
