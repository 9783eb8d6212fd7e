"""gradcheck / gradgradcheck themselves: they pass correct rules and catch wrong ones."""
import pytest

import arraylib as xp
from arraylib.autograd import GradcheckError, gradcheck, gradgradcheck


def _x(device, values, dtype=xp.float64):
    return xp.asarray(values, dtype=dtype, device=device, requires_grad=True)


def test_gradcheck_passes_seed(device):
    x1 = _x(device, [0.5, 1.2, 2.0])
    x2 = _x(device, [1.5, -0.2, 0.3])
    f = lambda a, b: xp.log(a) + a * b - xp.sin(b)  # noqa: E731
    assert gradcheck(f, (x1, x2))
    assert gradgradcheck(f, (x1, x2))


def test_gradcheck_broadcast_multi_output_scalar_empty(device):
    x = _x(device, [[0.5, 1.2, 2.0]])
    y = _x(device, [[1.5], [-0.2], [0.3]])
    assert gradcheck(lambda a, b: (a * b, xp.exp(b)), (x, y))
    assert gradgradcheck(lambda a, b: a * b * xp.exp(b), (x, y))
    e = _x(device, [])
    s = _x(device, 0.7)
    assert gradcheck(lambda a, b: a * b, (e, s))
    assert gradgradcheck(lambda b: xp.cos(b) * b, (s,))


def test_gradcheck_complex(device):
    z = _x(device, [0.5 + 1j, 1.2 - 0.3j], xp.complex128)
    assert gradcheck(lambda a: xp.exp(a) * a, (z,))
    assert gradgradcheck(lambda a: xp.sin(a) * a, (z,))


def _broken(name, which, rule):
    """Replace one rule of ``name``'s primitive (and drop a storage form of its VJP, so
    the broken rule runs in every kind of backward); returns a function that restores."""
    prim = getattr(xp, name).primitive
    saved = {k: getattr(prim, k) for k in ("vjp", "jvp", "vjp_storage")}
    setattr(prim, which, rule)
    prim.vjp_storage = None

    def restore():
        for k, v in saved.items():
            setattr(prim, k, v)
    return restore


@pytest.mark.parametrize("which", ["vjp", "jvp"])
def test_gradcheck_catches_wrong_rule(device, which):
    rule = (lambda ns, needs, g, y, x: (g * ns.cos(x) * 1.01,)) if which == "vjp" else \
        (lambda ns, t, y, x: t[0] * ns.cos(x) * 1.01)
    restore = _broken("sin", which, rule)
    try:
        with pytest.raises(GradcheckError, match=r"input 0 \(shape \(3,\).*max abs error"):
            gradcheck(xp.sin, (_x(device, [0.5, 1.2, 2.0]),))
        assert gradcheck(xp.sin, (_x(device, [0.5, 1.2, 2.0]),), raise_exception=False) is False
    finally:
        restore()


def test_gradgradcheck_catches_wrong_second_order(device):
    # first derivative right, but its own derivative rule wrong: cos's vjp
    restore = _broken("cos", "vjp", lambda ns, needs, g, y, x: (g * ns.sin(x),))  # sign error
    try:
        assert gradcheck(xp.sin, (_x(device, [0.5, 1.2]),), check_forward_ad=False)
        with pytest.raises(GradcheckError):
            gradgradcheck(xp.sin, (_x(device, [0.5, 1.2]),), check_forward_ad=False)
    finally:
        restore()


def test_gradcheck_requires_an_input():
    with pytest.raises(ValueError, match="requires_grad"):
        gradcheck(xp.sin, (xp.asarray([1.0], dtype=xp.float64),))
