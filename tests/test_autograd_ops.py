"""The op table drives gradient checks of every differentiable function.

For each entry, on cpu and strict:device1, with hypothesis-drawn shapes (0-d,
empty and broadcasting included where the function allows): gradcheck (reverse
and forward mode against finite differences), gradgradcheck, and forward-mode
Jacobian == reverse-mode Jacobian == finite-difference Jacobian.  Where PyTorch is
installed its gradients are the reference too.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import arraylib as xp
from arraylib.autograd import gradcheck, gradgradcheck
from op_table import NON_DIFFERENTIABLE, OPS, public_functions, resolve
from conftest import to_numpy
from _fd import fd_jacobian

SETTINGS = settings(max_examples=2, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))

def _params(ops):
    return [pytest.param(o, id=o.id, marks=[pytest.mark.xfail(reason=o.known_failure,
                                                              strict=False)]
                         if o.known_failure else []) for o in ops]


def test_every_differentiable_function_has_an_entry():
    covered = {o.name for o in OPS}
    missing = sorted(public_functions(xp) - covered - NON_DIFFERENTIABLE)
    assert not missing, f"public functions with no op-table entry (add one to tests/op_table.py, " \
                        f"or list them in NON_DIFFERENTIABLE): {missing}"
    # a function listed as non-differentiable must really be (its primitive has no VJP)
    for name in NON_DIFFERENTIABLE:
        f = resolve(xp, name)
        prim = getattr(f, "primitive", None)
        assert prim is None or prim.vjp is None, f"{name} has a VJP rule but is listed as " \
                                                 "non-differentiable"


def test_op_table_count():
    # the number quoted in the notes; grows when functions are added
    assert len(OPS) >= 150


def _shape(draw, kind):
    small = st.integers(0, 3)
    nonzero = st.integers(1, 3)
    if kind == "any":
        return (draw(st.lists(small, max_size=3)),)
    if kind == "nonempty":
        return (draw(st.lists(nonzero, max_size=3)),)
    if kind == "ndim1":
        return (draw(st.lists(small, min_size=1, max_size=3)),)
    if kind == "ndim1ne":
        return (draw(st.lists(nonzero, min_size=1, max_size=3)),)
    if kind == "ndim2":
        return (draw(st.lists(nonzero, min_size=2, max_size=3)),)
    if kind == "rows2":
        return ([draw(st.integers(2, 3))] + draw(st.lists(nonzero, max_size=2)),)
    if kind in ("same2", "same2nd"):
        s = draw(st.lists(small, min_size=1 if kind == "same2nd" else 0, max_size=3))
        return (s, s)
    if kind == "broadcast2":
        s = draw(st.lists(small, max_size=3))
        t = [d if draw(st.booleans()) else 1 for d in s]
        t = t[draw(st.integers(0, len(t))):]
        return (s, t) if draw(st.booleans()) else (t, s)
    if kind == "fixed":
        return ((),)
    raise ValueError(kind)


def _shapes(draw, kind):
    s = _shape(draw, kind)
    s = tuple(tuple(x) for x in s)
    return s[0] if len(s) == 1 else s


def _make(opinfo, data, device):
    fn = resolve(xp, opinfo.name)
    if fn is None:
        pytest.skip(f"{opinfo.name} is not implemented yet")
    shape = _shapes(data.draw, opinfo.shapes)
    seed = data.draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    arrays = opinfo.make(rng, shape)
    dt = xp.complex128 if opinfo.dtype == "complex128" else xp.float64
    tensors = tuple(xp.asarray(np.asarray(a, dtype=np.complex128 if np.iscomplexobj(a) else
                                          np.float64), dtype=dt if dt == xp.complex128 or not
                               np.iscomplexobj(a) else xp.complex128, device=device,
                               requires_grad=True) for a in arrays)
    return tensors


def _f(opinfo):
    return lambda *ts: opinfo.fn(xp, *ts)


@pytest.mark.parametrize("opinfo", _params(OPS))
def test_gradcheck(opinfo, device):
    @SETTINGS
    @given(st.data())
    def run(data):
        inputs = _make(opinfo, data, device)
        assert gradcheck(_f(opinfo), inputs, atol=opinfo.atol, rtol=opinfo.rtol)
        if opinfo.gradgrad:
            assert gradgradcheck(_f(opinfo), inputs, atol=opinfo.atol, rtol=opinfo.rtol)
    run()


def _as_tuple(o):
    return tuple(o) if isinstance(o, (tuple, list)) else (o,)


@pytest.mark.parametrize("opinfo", _params([o for o in OPS if o.dtype == "float64"]))
def test_jacobian_forward_equals_reverse_equals_fd(opinfo, device):
    @SETTINGS
    @given(st.data())
    def run(data):
        inputs = _make(opinfo, data, device)
        rest = inputs[1:]
        x = inputs[0].detach()

        def f(a):
            return opinfo.fn(xp, a, *[r.detach() for r in rest])
        outs = _as_tuple(f(x))
        if any(o.dtype.kind == "c" for o in outs):
            return  # complex outputs: covered by gradcheck
        Jr = _as_tuple(xp.autograd.functional.jacobian(f, x))
        Jf = _as_tuple(xp.autograd.functional.jacobian(f, x, strategy="forward-mode"))
        Jn = fd_jacobian(f, x)
        for r, fw, n in zip(Jr, Jf, Jn):
            np.testing.assert_allclose(to_numpy(fw), to_numpy(r), rtol=1e-9, atol=1e-10)
            np.testing.assert_allclose(to_numpy(r), n, rtol=1e-4, atol=1e-6)
    run()


_TORCH_OPS = [o for o in OPS if o.torch_fn is not None]


@pytest.mark.parametrize("opinfo", _params(_TORCH_OPS))
def test_against_torch_autograd(opinfo):
    torch = pytest.importorskip("torch")

    @SETTINGS
    @given(st.data())
    def run(data):
        inputs = _make(opinfo, data, "cpu")
        t_inputs = [torch.tensor(to_numpy(x), requires_grad=True) for x in inputs]
        outs = _as_tuple(opinfo.fn(xp, *inputs))
        t_outs = _as_tuple(opinfo.torch_fn(torch, *t_inputs))
        rng = np.random.default_rng(0)
        cots = []
        for o, to in zip(outs, t_outs):
            np.testing.assert_allclose(to_numpy(o), to.detach().resolve_conj().numpy(), rtol=1e-10,
                                       atol=1e-12)
            c = rng.standard_normal(o.shape)
            if o.dtype.kind == "c":
                c = c + 1j * rng.standard_normal(o.shape)
            cots.append(c)
        diff = [(o, c) for o, c in zip(outs, cots) if o.dtype.kind in "fc"]
        gs = xp.autograd.grad([o for o, _ in diff], inputs,
                              [xp.asarray(c, device="cpu", dtype=o.dtype) for o, c in diff],
                              allow_unused=True)
        tdiff = [(to, c) for to, c in zip(t_outs, cots) if to.dtype.is_floating_point or
                 to.dtype.is_complex]
        tgs = torch.autograd.grad([to for to, _ in tdiff], t_inputs,
                                  [torch.tensor(c) for _, c in tdiff], allow_unused=True)
        for g, tg in zip(gs, tgs):
            a = np.zeros(1) if g is None else to_numpy(g)
            b = np.zeros(1) if tg is None else tg.resolve_conj().numpy()
            np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)
    run()
