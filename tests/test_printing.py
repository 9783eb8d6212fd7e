"""``repr``/``str`` of tensors against PyTorch's, over a grid of values, shapes and dtypes
(arraylib writes ``dtype=float64`` where PyTorch writes ``dtype=torch.float64``)."""
import numpy as np
import pytest

import arraylib as xp

RNG = np.random.default_rng(0)
f32 = np.float32
GRID = {
    "fixed": np.array([5.5, 3.0], f32),
    "ints": np.array([1, 2]),
    "scalar_int_mode": np.array(92.0, f32),
    "int_mode": np.array([1.0, 2.0, -30.0], f32),
    "small": np.array([1e-5, 1.0], f32),
    "large": np.array([1e9, 1.0], f32),
    "wide_ratio": np.array([0.5, 2000.0], f32),
    "int_mode_sci": np.array([1.0, 2e6], f32),
    "nonfinite": np.array([np.nan, np.inf, -np.inf, 1.5], f32),
    "only_nan": np.array([np.nan], f32),
    "zeros": np.zeros(3, f32),
    "neg_zero": np.array([-0.0, 1.25], f32),
    "bools": np.array([True, False]),
    "matrix": RNG.standard_normal((3, 4)).astype(f32),
    "cube": RNG.standard_normal((2, 3, 4)),
    "wrapped_line": RNG.standard_normal(30).astype(f32),
    "wrapped_sci": (RNG.standard_normal(30) * 1e6).astype(f32),
    "summarised_1d": RNG.standard_normal(2000).astype(f32),
    "summarised_2d": RNG.standard_normal((40, 50)).astype(f32),
    "summarised_3d": RNG.standard_normal((12, 12, 12)).astype(f32),
    "summarised_ints": RNG.integers(-1000, 1000, (10, 200)),
    "empty_2d": np.zeros((0, 3), f32),
    "empty_int": np.zeros((0,), np.int64),
    "empty_float": np.zeros((0,), f32),
    "complex": np.array([1 + 2j, -3.5 - 1j], np.complex64),
    "int32_scalar": np.array(3, np.int32),
    "uint8": np.array([0, 7, 255], np.uint8),
    "float64": np.array([0.1, 0.25]),
    "float16": RNG.standard_normal((2, 3)).astype(np.float16),
    "int16_matrix": RNG.integers(-5, 5, (3, 3)).astype(np.int16),
}


def _torch_repr(t):
    return repr(t).replace("torch.", "")


@pytest.mark.parametrize("name", sorted(GRID))
def test_repr_matches_torch(name, torch):
    a = GRID[name]
    ours = xp.asarray(a)
    theirs = torch.from_numpy(a.copy())
    assert repr(ours) == _torch_repr(theirs)
    assert str(ours) == str(theirs).replace("torch.", "")


def test_autograd_suffixes_match_torch(torch):
    x, t = xp.asarray([1.0], requires_grad=True), torch.tensor([1.0], requires_grad=True)
    m, u = xp.ones((2, 3), requires_grad=True), torch.ones(2, 3, requires_grad=True)
    pairs = [
        (x, t), (x + 1, t + 1), (x * 2, t * 2), (x - 1, t - 1), (x / 2, t / 2), (-x, -t),
        (x.exp(), t.exp()), (x.sum(), t.sum()), (m.sum(1), u.sum(1)), (m[0], u[0]),
        (m[:, 1:], u[:, 1:]), (m @ m.T, u @ u.T), (m.reshape(6), u.reshape(6)),
        (m.max(), u.max()), (xp.cat([m, m]), torch.cat([u, u])), (m.tanh(), u.tanh()),
        (m.permute(1, 0), u.permute(1, 0)), (m.unsqueeze(0), u.unsqueeze(0)),
        (m.double(), u.double()), (m ** 2, u ** 2), (m.log(), u.log()),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == _torch_repr(theirs)


def _twice(base):
    class Twice(base):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2
    return Twice


def test_custom_function_node_name(torch):
    ours = _twice(xp.autograd.Function).apply(xp.ones(2, requires_grad=True))
    theirs = _twice(torch.autograd.Function).apply(torch.ones(2, requires_grad=True))
    assert "grad_fn=<TwiceBackward>" in repr(ours)
    assert repr(ours) == _torch_repr(theirs)


def test_parameter_repr_matches_torch(torch):
    p = xp.nn.Parameter(xp.ones(2))
    assert repr(p) == repr(torch.nn.Parameter(torch.ones(2)))
    assert repr(p) == "Parameter containing:\ntensor([1., 1.], requires_grad=True)"


def test_long_suffixes_wrap_as_torch(torch):
    a = RNG.standard_normal((2, 6)).astype(f32)
    ours, theirs = xp.asarray(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    assert repr(ours * 2) == _torch_repr(theirs * 2)
    assert repr(ours) == _torch_repr(theirs)


def test_device_and_dtype_suffixes():
    x = xp.asarray([1.0, 2.0], device="strict:device1")
    assert repr(x) == "tensor([1., 2.], device='strict:device1')"
    y = xp.asarray([1.0], dtype=xp.float64, device="strict:device1", requires_grad=True)
    assert repr(y) == "tensor([1.], device='strict:device1', dtype=float64, requires_grad=True)"


def test_format_and_fstrings(torch):
    assert f"{xp.asarray(92.0)}" == f"{torch.tensor(92.0)}" == "92.0"
    assert format(xp.asarray(1.25), ".3f") == format(torch.tensor(1.25), ".3f")
    assert f"{xp.ones(2)}" == str(xp.ones(2)) == "tensor([1., 1.])"
    with pytest.raises(TypeError, match="Tensor.__format__"):
        format(xp.ones(2), ".2f")
