"""Grad mode, the forward-AD level and backward callbacks are per thread (PyTorch's rule),
so threads can train and evaluate side by side."""
import threading

import numpy as np
import pytest

import arraylib as xp
from arraylib import nn
from arraylib.autograd import forward_ad as fwAD

STEPS = 300


def _model(seed):
    rng = np.random.default_rng(seed)
    m = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
    with xp.no_grad():
        for p in m.parameters():
            p.copy_(xp.asarray(rng.standard_normal(p.shape).astype(np.float32) * 0.3))
    return m


def _data(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((32, 8)).astype(np.float32)
    return xp.asarray(x), xp.asarray(x.sum(axis=1, keepdims=True))


def _train(seed, steps, errors, losses):
    try:
        model, (x, y) = _model(seed), _data(seed)
        opt = xp.optim.SGD(model.parameters(), lr=0.05)
        for _ in range(steps):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            if loss.grad_fn is None:
                raise AssertionError("the loss was not recorded (grad mode leaked from another thread)")
            loss.backward()
            if any(p.grad is None for p in model.parameters()):
                raise AssertionError("a parameter got no gradient")
            opt.step()
        losses[seed] = float(loss)
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        errors.append(repr(exc))


def _run_threads(*targets):
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"


def test_two_threads_train_separate_models_like_one_thread():
    errors, losses, alone = [], {}, {}
    _run_threads(lambda: _train(1, STEPS, errors, losses), lambda: _train(2, STEPS, errors, losses))
    assert errors == []
    for seed in (1, 2):
        _train(seed, STEPS, errors, alone)
    assert errors == []
    assert losses == alone  # the same arithmetic as without the other thread: bitwise


def test_training_beside_a_no_grad_evaluation_thread():
    errors, losses = [], {}
    stop = threading.Event()
    evals = []

    def evaluate():
        model, (x, _) = _model(3), _data(3)
        try:
            while not stop.is_set():
                with xp.no_grad():
                    out = model(x)
                    if out.requires_grad:
                        raise AssertionError("no_grad did not hold in its own thread")
                    evals.append(float(out.sum()))
        except BaseException as exc:  # noqa: BLE001
            errors.append(repr(exc))

    def train():
        _train(4, STEPS, errors, losses)
        stop.set()

    _run_threads(evaluate, train)
    assert errors == []
    assert 4 in losses and evals


def test_no_grad_in_one_thread_leaves_the_others_recording():
    entered, release = threading.Event(), threading.Event()

    def hold_no_grad():
        with xp.no_grad():
            entered.set()
            release.wait(10)

    t = threading.Thread(target=hold_no_grad)
    t.start()
    entered.wait(10)
    try:
        assert xp.is_grad_enabled()
        w = xp.ones(3, requires_grad=True)
        assert (w * 2).requires_grad
    finally:
        release.set()
        t.join()


def test_backward_turns_grad_mode_off_only_in_its_thread():
    seen = []
    inside, release = threading.Event(), threading.Event()
    w = xp.ones(3, requires_grad=True)

    def hook(g):  # runs inside the main thread's backward
        inside.set()
        release.wait(10)
        return g

    def other():
        inside.wait(10)
        v = xp.ones(2, requires_grad=True)
        seen.append((v * 3).requires_grad)
        release.set()

    t = threading.Thread(target=other)
    t.start()
    h = w * 2
    h.register_hook(hook)
    h.sum().backward()
    t.join()
    assert seen == [True]


def test_dual_level_is_per_thread():
    result = {}
    entered, release = threading.Event(), threading.Event()

    def with_level():
        with fwAD.dual_level():
            x = fwAD.make_dual(xp.asarray([1.0, 2.0], dtype=xp.float64),
                               xp.asarray([1.0, 1.0], dtype=xp.float64))
            entered.set()
            release.wait(10)
            result["tangent"] = fwAD.unpack_dual(x * x).tangent.tolist()

    t = threading.Thread(target=with_level)
    t.start()
    entered.wait(10)
    try:
        with pytest.raises(RuntimeError):
            fwAD.make_dual(xp.ones(2), xp.ones(2))  # no level is open in this thread
    finally:
        release.set()
        t.join()
    assert result["tangent"] == [2.0, 4.0]


def test_backward_callbacks_are_per_thread():
    ran = []
    queued, release = threading.Event(), threading.Event()

    def queue_then_wait():
        xp.autograd.queue_callback(lambda: ran.append("thread"))
        queued.set()
        release.wait(10)
        w = xp.ones(2, requires_grad=True)
        (w * 2).sum().backward()

    t = threading.Thread(target=queue_then_wait)
    t.start()
    queued.wait(10)
    w = xp.ones(2, requires_grad=True)
    (w * 2).sum().backward()       # the main thread's backward runs no other thread's callback
    assert ran == []
    release.set()
    t.join()
    assert ran == ["thread"]


def test_no_grad_on_a_generator_applies_inside_it():
    w = xp.ones(2, requires_grad=True)

    @xp.no_grad()
    def gen():
        for _ in range(3):
            yield (w * 2).requires_grad, xp.is_grad_enabled()

    it = gen()
    first = next(it)
    assert xp.is_grad_enabled()            # the caller's mode between items
    assert (w * 2).requires_grad
    assert [first] + list(it) == [(False, False)] * 3

    @xp.enable_grad()
    def gen2():
        yield (w * 2).requires_grad

    with xp.no_grad():
        assert list(gen2()) == [True]
        assert not xp.is_grad_enabled()


def test_post_accumulate_grad_hook():
    w = xp.ones(3, requires_grad=True)
    seen = []
    handle = w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.tolist()))
    (w * 2).sum().backward()
    (w * 3).sum().backward()
    assert seen == [[2.0] * 3, [5.0] * 3]      # after accumulation
    handle.remove()
    (w * 3).sum().backward()
    assert len(seen) == 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w * 2).register_post_accumulate_grad_hook(lambda p: None)


def test_post_accumulate_grad_hook_matches_pytorch(torch):
    calls = {}
    for lib, mk in (("al", lambda: xp.ones(3, requires_grad=True)),
                    ("pt", lambda: torch.ones(3, requires_grad=True))):
        w = mk()
        log = calls[lib] = []
        w.register_post_accumulate_grad_hook(lambda p, log=log: log.append(p.grad.tolist()))
        (w * 2).sum().backward()
        (w * w).sum().backward()
    assert calls["al"] == calls["pt"]

