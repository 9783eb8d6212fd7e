"""The reverse-mode engine: hooks, retain_grad, pruning, errors, custom Functions, to_dot."""
import gc
import math
import shutil
import subprocess

import numpy as np
import pytest

import arraylib as xp
from arraylib.autograd import Function, gradcheck, gradgradcheck
from conftest import assert_close, to_numpy


def _t(device, v, rg=True):
    return xp.asarray(v, dtype=xp.float64, device=device, requires_grad=rg)


def test_seed_example(device):
    x1, x2 = _t(device, 2.0), _t(device, 5.0)
    y = xp.log(x1) + x1 * x2 - xp.sin(x2)
    y.backward()
    assert float(x1.grad) == pytest.approx(0.5 + 5.0)
    assert float(x2.grad) == pytest.approx(2.0 - math.cos(5.0))
    with xp.no_grad():  # the seed's update step
        x1 -= 0.1 * x1.grad
    x1.grad = None
    assert x1.grad is None and float(x1) == pytest.approx(2.0 - 0.55)


def test_accumulation_and_graph_free(device):
    x = _t(device, [1.0, 2.0])
    y = x * x
    y.backward(xp.ones_like(y), retain_graph=True)
    y.backward(xp.ones_like(y))
    assert_close(x.grad, _t(device, [4.0, 8.0], False))
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward(xp.ones_like(y))


def test_nonscalar_needs_gradient(device):
    x = _t(device, [1.0, 2.0])
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (x * 2.0).backward()


def test_hooks_leaf_and_nonleaf(device):
    x = _t(device, [1.0, 2.0])
    seen = []
    hx = x.register_hook(lambda g: seen.append(("x", to_numpy(g).tolist())))
    y = x * x
    y.register_hook(lambda g: g * 2.0)  # replaces the gradient flowing into y's producer
    z = y * 3.0
    z.backward(xp.ones_like(z))
    assert_close(x.grad, _t(device, [12.0, 24.0], False))
    assert seen == [("x", [12.0, 24.0])]
    hx.remove()
    x.grad = None
    (x * 1.0).backward(xp.ones_like(x))
    assert len(seen) == 1


def test_retain_grad(device):
    x = _t(device, [1.0, 2.0])
    y = x * x
    y.retain_grad()
    assert y.retains_grad
    z = xp.exp(y)
    w = z * 1.0
    w.backward(xp.ones_like(w))
    assert_close(y.grad, xp.exp(y.detach()))
    assert z.grad is None  # not retained
    assert_close(x.grad, xp.exp(y.detach()) * 2.0 * x.detach())


def test_grad_prunes_unrelated_branches(device):
    a, b = _t(device, 1.0), _t(device, 2.0)
    calls = []
    c = xp.exp(b)
    c.register_hook(lambda g: calls.append("c"))
    out = a * 2.0 + c
    (ga,) = xp.autograd.grad(out, a, retain_graph=True)
    assert float(ga) == 2.0 and calls == []
    out.backward(inputs=[a], retain_graph=True)
    assert float(a.grad) == 2.0 and b.grad is None and calls == []
    out.backward(inputs=[c], retain_graph=True)  # a non-leaf input gets .grad
    assert float(c.grad) == 1.0 and b.grad is None
    out.backward()
    assert float(b.grad) == pytest.approx(math.exp(2.0))


def test_grad_allow_unused(device):
    a, b = _t(device, 1.0), _t(device, 2.0)
    with pytest.raises(RuntimeError, match="allow_unused"):
        xp.autograd.grad(a * 3.0, [a, b])
    ga, gb = xp.autograd.grad(a * 3.0, [a, b], allow_unused=True)
    assert float(ga) == 3.0 and gb is None
    ga, gb = xp.autograd.grad(a * 3.0, [a, b], allow_unused=True, materialize_grads=True)
    assert float(gb) == 0.0
    with pytest.raises(RuntimeError, match="does not require grad"):
        xp.autograd.grad(a * 3.0, [_t(device, 1.0, False)])


def test_grad_with_nonleaf_input(device):
    x = _t(device, [1.0, 2.0])
    y = x * x
    z = xp.sin(y)
    (gy,) = xp.autograd.grad(z, y, xp.ones_like(z))
    assert_close(gy, xp.cos(y.detach()))


def test_version_counter_error_input(device):
    x = _t(device, [1.0, 2.0])
    y = xp.exp(x)
    z = y * y  # saves y
    y += 1.0
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation: input 0 of multiply"):
        z.backward(xp.ones_like(z))


def test_version_counter_error_output(device):
    x = _t(device, [1.0, 2.0])
    y = xp.exp(x)  # exp's rule uses its output
    y += 1.0
    with pytest.raises(RuntimeError, match=r"output 0 of exp .* is at version 1"):
        y.backward(xp.ones_like(y))


def test_inplace_recorded_correctly(device):
    x = _t(device, [1.0, 2.0])
    y = x * 2.0
    y *= x  # y = 2x^2 (the old y is saved: the snapshot), d/dx = 4x
    y = xp.exp(y)
    y.backward(xp.ones_like(y))
    xv = np.array([1.0, 2.0])
    assert_close(x.grad, xp.asarray(4 * xv * np.exp(2 * xv**2), device=device))


def test_leaf_inplace_error(device):
    x = _t(device, [1.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        x += 1.0
    with xp.no_grad():
        x += 1.0
    assert_close(x.detach(), _t(device, [2.0, 3.0], False))


def test_numpy_on_requires_grad_errors():
    x = _t("cpu", [1.0, 2.0])
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    with pytest.raises(RuntimeError, match="detach"):
        np.asarray(x)
    assert x.detach().numpy().tolist() == [1.0, 2.0]


def test_no_grad_and_detach(device):
    x = _t(device, [1.0, 2.0])
    with xp.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.grad_fn is None
    assert not x.detach().requires_grad
    z = x * 2.0
    assert z.requires_grad and not z.is_leaf and z.grad_fn is not None


def test_third_derivative(device):
    x = _t(device, [0.3, 1.1])
    y = xp.sin(x) * x  # y''' = -3 sin(x) - x cos(x)
    (g1,) = xp.autograd.grad(y, x, xp.ones_like(y), create_graph=True)
    (g2,) = xp.autograd.grad(g1, x, xp.ones_like(g1), create_graph=True)
    (g3,) = xp.autograd.grad(g2, x, xp.ones_like(g2))
    xv = to_numpy(x)
    np.testing.assert_allclose(to_numpy(g3), -3 * np.sin(xv) - xv * np.cos(xv), rtol=1e-12)
    x.grad = None
    (g1,) = xp.autograd.grad(y, x, xp.ones_like(y), create_graph=True)
    g1.backward(xp.ones_like(g1))  # second derivative accumulated into .grad
    np.testing.assert_allclose(to_numpy(x.grad), 2 * np.cos(xv) - xv * np.sin(xv), rtol=1e-12)


# -- custom Functions --------------------------------------------------------------
class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = xp.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y

    @staticmethod
    def jvp(ctx, t):
        return t * ctx.saved_tensors[0]


class MulSub(Function):
    """(a * b + c, a - b) with a non-tensor argument c."""

    @staticmethod
    def forward(ctx, a, b, c):
        ctx.save_for_backward(a, b)
        return a * b + c, a - b

    @staticmethod
    def backward(ctx, g1, g2):
        a, b = ctx.saved_tensors
        assert ctx.needs_input_grad == (True, True, False)
        return g1 * b + g2, g1 * a - g2, None


class ArgmaxAndMax(Function):
    @staticmethod
    def forward(ctx, x):
        idx = x > 0.0
        ctx.mark_non_differentiable(idx)
        return x * 2.0, idx

    @staticmethod
    def backward(ctx, g, gidx):
        return g * 2.0


def test_custom_function(device):
    x = _t(device, [0.1, 0.5, 1.0])
    b = _t(device, [1.1, 0.5, -1.0])
    assert gradcheck(Exp.apply, (x,))
    assert gradgradcheck(Exp.apply, (x,))
    y = Exp.apply(x)
    assert y.grad_fn is not None and y.grad_fn.name == "Exp"
    assert gradcheck(lambda a, bb: MulSub.apply(a, bb, 3.0), (x, b), check_forward_ad=False)
    assert gradgradcheck(lambda a, bb: MulSub.apply(a, bb, 3.0), (x, b), check_forward_ad=False)
    with pytest.raises(Exception, match="no JVP rule"):
        gradcheck(lambda a, bb: MulSub.apply(a, bb, 3.0), (x, b))
    out, idx = ArgmaxAndMax.apply(x)
    assert out.requires_grad and not idx.requires_grad
    out.backward(xp.ones_like(out))
    assert_close(x.grad, _t(device, [2.0, 2.0, 2.0], False))


def test_custom_function_saved_tensor_modified(device):
    x = _t(device, [0.1, 0.5])
    y = Exp.apply(x)
    with xp.no_grad():
        y += 1.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward(xp.ones_like(y))


def test_to_dot(device, tmp_path):
    x1, x2 = _t(device, 2.0), _t(device, 5.0)
    y = xp.log(x1) + x1 * x2 - xp.sin(x2)
    dot = xp.autograd.to_dot(y, names={"x1": x1, "x2": x2, "y": y})
    assert dot.startswith("digraph")
    for op in ("log", "multiply", "sin", "add", "subtract", "x1", "x2"):
        assert op in dot
    if shutil.which("dot"):
        path = tmp_path / "g.dot"
        path.write_text(dot)
        subprocess.run(["dot", "-Tsvg", str(path), "-o", str(tmp_path / "g.svg")], check=True)


def test_graph_freed_when_output_dies():
    import weakref
    x = _t("cpu", [1.0, 2.0])
    y = xp.exp(x) * x
    ref = weakref.ref(y.grad_fn)
    del y
    gc.collect()
    assert ref() is None


def test_complex_cotangent_reaches_real_input_on_every_device(device):
    # the engine casts a complex cotangent for a real input back to the input's dtype
    x = xp.asarray([1.0, 2.0], dtype=xp.float64, device=device, requires_grad=True)
    c = xp.asarray([1 + 2j, 3 - 1j], dtype=xp.complex128, device=device)
    y = xp.real(xp.sum(x * c))
    y.backward()
    assert x.grad.dtype == xp.float64
    assert to_numpy(x.grad).tolist() == [1.0, 3.0]


def test_hooks_returning_a_wrong_gradient_raise_clearly(device):
    w = xp.ones(3, device=device, requires_grad=True)

    def bad_shape(g):
        return xp.ones(4, device=device)

    def not_a_tensor(g):
        return 1

    for hook, exc, match in ((bad_shape, RuntimeError, "bad_shape.*changed the size"),
                             (not_a_tensor, TypeError, "not_a_tensor.*returned 'int'")):
        h = w * 2
        h.register_hook(hook)
        with pytest.raises(exc, match=match):
            h.sum().backward()
        leaf = xp.ones(3, device=device, requires_grad=True)
        leaf.register_hook(hook)
        with pytest.raises(exc, match=match):
            (leaf * 2).sum().backward()
