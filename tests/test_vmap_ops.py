"""vmap over the op table: for every entry, ``vmap(f)`` over a batch equals stacking the
per-example results, for hypothesis-drawn shapes and in_dims (None, 0, -1 per input), on
cpu and strict:device1; and every primitive has a batching rule."""
import importlib
import pkgutil
import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import arraylib as xp
from arraylib._core._primitive import Primitive
from arraylib.func import vmap
from conftest import to_numpy
from op_table import OPS, resolve
from test_autograd_ops import _shapes

SETTINGS = settings(max_examples=2, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))

# entries whose function is data-dependent under vmap (covered in test_vmap.py's errors)
DATA_DEPENDENT: set = set()


def _params(ops):
    return [pytest.param(o, id=o.id, marks=[pytest.mark.xfail(reason=o.known_failure,
                                                              strict=False)]
                         if o.known_failure else []) for o in ops]


def _tuple(o):
    return tuple(o) if isinstance(o, (tuple, list)) else (o,)


def _tensor(a, device, complex_):
    dt = xp.complex128 if complex_ or np.iscomplexobj(a) else xp.float64
    return xp.asarray(np.asarray(a, dtype=np.complex128 if dt == xp.complex128 else np.float64),
                      dtype=dt, device=device)


@pytest.mark.parametrize("opinfo", _params([o for o in OPS if o.id not in DATA_DEPENDENT]))
def test_vmap_equals_stacked_examples(opinfo, device):
    fn = resolve(xp, opinfo.name)
    if fn is None:
        pytest.skip(f"{opinfo.name} is not implemented yet")

    @SETTINGS
    @given(st.data())
    def run(data):
        shape = _shapes(data.draw, opinfo.shapes)
        seed = data.draw(st.integers(0, 2 ** 16))
        n = data.draw(st.integers(1, 3))
        rng = np.random.default_rng(seed)
        examples = [opinfo.make(rng, shape) for _ in range(n)]
        k = len(examples[0])
        dims = [data.draw(st.sampled_from([None, 0, -1])) for _ in range(k)]
        if all(d is None for d in dims):
            dims[data.draw(st.integers(0, k - 1))] = 0
        cplx = opinfo.dtype == "complex128"
        inputs = []
        for i, d in enumerate(dims):
            if d is None:
                inputs.append(_tensor(examples[0][i], device, cplx))
            else:
                a = np.stack([np.asarray(e[i]) for e in examples],
                             axis=d if d >= 0 else np.ndim(examples[0][i]))
                inputs.append(_tensor(a, device, cplx))
        f = lambda *ts: opinfo.fn(xp, *ts)  # noqa: E731
        expected = []
        for j in range(n):
            args = [inputs[i] if d is None else
                    xp.take(inputs[i], xp.asarray(j, device=device), axis=d)
                    for i, d in enumerate(dims)]
            expected.append(_tuple(f(*args)))
        got = _tuple(vmap(f, in_dims=tuple(dims))(*inputs))
        assert len(got) == len(expected[0])
        for m, g in enumerate(got):
            want = np.stack([to_numpy(e[m]) for e in expected])
            assert tuple(g.shape) == want.shape, (opinfo.id, dims, g.shape, want.shape)
            np.testing.assert_allclose(to_numpy(g), want, rtol=1e-7, atol=1e-9,
                                       err_msg=f"{opinfo.id} in_dims={dims}")
    run()


def _all_primitives():
    """Every Primitive reachable from arraylib's modules: module globals, dict values,
    and primitives held in the closures of module-level functions (factories)."""
    for info in pkgutil.walk_packages(xp.__path__, "arraylib."):
        if any(p in info.name for p in (".torch.__main__", "._mpi", "conformance")):
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:
            continue
    import sys
    found = {}

    def visit(obj, where, depth=0):
        if isinstance(obj, Primitive):
            found.setdefault(id(obj), (where, obj))
        elif isinstance(obj, dict) and depth < 2:
            for v in list(obj.values()):
                visit(v, where, depth + 1)
        elif isinstance(obj, (types.FunctionType,)) and depth < 3:
            for c in obj.__closure__ or ():
                try:
                    visit(c.cell_contents, where, depth + 1)
                except ValueError:
                    pass
            p = getattr(obj, "primitive", None)
            if p is not None:
                visit(p, where, depth + 1)
    for name, mod in list(sys.modules.items()):
        if name == "arraylib" or name.startswith("arraylib."):
            for k, v in list(vars(mod).items()):
                visit(v, f"{name}.{k}")
    return found.values()


def test_every_primitive_has_a_batching_rule():
    # the unstack primitives are made per size: make one
    xp.unstack(xp.ones((2, 3)), axis=0)
    prims = list(_all_primitives())
    assert len(prims) > 80
    missing = sorted(f"{where} ({p.name})" for where, p in prims if p.batch is None)
    assert not missing, f"primitives without a batching rule (batch=): {missing}"


# -- the fused nn kernels (not in the op table) ---------------------------------------------
def _nn_cases():
    import arraylib.nn as nn
    import arraylib.nn.functional as F
    lstm, gru = nn.LSTMCell(4, 3), nn.GRUCell(4, 3)
    i = lambda *s: ("int", s)  # noqa: E731  (class indices below 5)
    return [
        ("conv2d[x]", lambda x, w: F.conv2d(x, w, padding=1), [(3, 2, 4, 5, 5), (6, 4, 3, 3)],
         (0, None)),
        ("conv2d[w]", lambda x, w: F.conv2d(x, w), [(2, 4, 5, 5), (3, 6, 4, 3, 3)], (None, 0)),
        ("conv2d[x,w,b]", lambda x, w, b: F.conv2d(x, w, b, stride=2), [(3, 2, 4, 5, 5),
                                                                       (3, 6, 4, 3, 3), (3, 6)],
         (0, 0, 0)),
        ("conv1d[groups]", lambda x, w: F.conv1d(x, w, groups=2), [(2, 4, 7), (3, 6, 2, 3)],
         (None, 0)),
        ("linear[w,b]", lambda x, w, b: F.linear(x, w, b), [(2, 4), (3, 5, 4), (3, 5)],
         (None, 0, 0)),
        ("linear[x]", lambda x, w, b: F.linear(x, w, b), [(3, 2, 4), (5, 4), (5,)],
         (0, None, None)),
        ("cross_entropy[mean]", lambda x, t: F.cross_entropy(x, t), [(3, 4, 5), i(3, 4)], (0, 0)),
        ("cross_entropy[sum]", lambda x, t: F.cross_entropy(x, t, reduction="sum"),
         [(3, 4, 5), i(4,)], (0, None)),
        ("cross_entropy[none]", lambda x, t: F.cross_entropy(x, t, reduction="none"),
         [(4, 5), i(3, 4)], (None, 0)),
        ("max_pool2d", lambda x: F.max_pool2d(x, 2), [(3, 2, 4, 6, 6)], (0,)),
        ("sdpa", F.scaled_dot_product_attention, [(3, 2, 5, 4), (3, 2, 6, 4), (3, 2, 6, 4)],
         (0, 0, 0)),
        ("sdpa[kv unbatched]", F.scaled_dot_product_attention, [(3, 2, 5, 4), (2, 6, 4),
                                                                (2, 6, 4)], (0, None, None)),
        ("pad", lambda x: F.pad(x, (1, 2)), [(3, 2, 4)], (0,)),
        ("unfold", lambda x: F.unfold(x, 2), [(3, 1, 2, 4, 4)], (0,)),
        ("fold", lambda x: F.fold(x, (4, 4), 2), [(3, 1, 8, 9)], (0,)),
        ("gelu", F.gelu, [(3, 4)], (0,)),
        ("relu", F.relu, [(3, 4)], (0,)),
        ("layer_norm", lambda x: F.layer_norm(x, (4,)), [(3, 2, 4)], (0,)),
        ("lstm_cell", lambda x, h, c: lstm(x, (h, c)), [(3, 2, 4), (3, 2, 3), (3, 2, 3)],
         (0, 0, 0)),
        ("gru_cell", lambda x, h: gru(x, h), [(3, 2, 4), (2, 3)], (0, None)),
    ]


_NN = _nn_cases()


@pytest.mark.parametrize("case", _NN, ids=[c[0] for c in _NN])
def test_vmap_of_nn_kernels_equals_stacked_examples(case):
    name, fn, shapes, dims = case
    rng = np.random.default_rng(0)
    dt = np.float32 if "cell" in name else np.float64
    args = [xp.asarray(rng.integers(0, 5, s[1])) if s[0] == "int" else
            xp.asarray(rng.standard_normal(s).astype(dt)) for s in shapes]
    n = next(a.shape[d] for a, d in zip(args, dims) if d is not None)
    got = _tuple(vmap(fn, in_dims=dims)(*args))
    per = [_tuple(fn(*[a if d is None else xp.take(a, xp.asarray(j), axis=d)
                       for a, d in zip(args, dims)])) for j in range(n)]
    for k, g in enumerate(got):
        want = np.stack([to_numpy(p[k].detach()) for p in per])
        np.testing.assert_allclose(to_numpy(g.detach()), want, rtol=1e-5, atol=1e-6,
                                   err_msg=name)
