"""PyTorch-style methods and top-level conveniences, checked against torch where
useful; the seed's tensor slide with ``import arraylib as torch``."""
import numpy as np
import pytest

import arraylib as al
from conftest import to_numpy, assert_close


def _x(device, shape=(2, 3, 4), dtype=al.float64):
    v = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) / 7.0 - 1.0
    return al.asarray(v, dtype=dtype, device=device), v


def test_seed_tensor_slide():
    import arraylib as torch
    a = torch.tensor([5.5, 3])
    b = torch.rand(5, 3)
    assert a.dtype == torch.float32 and b.shape == (5, 3)
    assert b.reshape(3, 5).shape == (3, 5)
    assert b.view(5, -1).shape == (5, 3)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    b = b.to(device)
    assert b.device == device
    assert torch.cuda.device_count() >= 0
    assert isinstance(torch.cuda.is_available(), bool)


def test_shape_methods(device):
    x, v = _x(device)
    assert x.view(4, 6).shape == (4, 6) and x.view((4, -1)).shape == (4, 6)
    assert x.reshape(-1).shape == (24,) and x.reshape([3, 8]).shape == (3, 8)
    assert x.flatten().shape == (24,) and x.flatten(1).shape == (2, 12)
    assert x.flatten(0, 1).shape == (6, 4) and al.flatten(x, 1, 2).shape == (2, 12)
    assert al.asarray(3.0, device=device).flatten().shape == (1,)
    assert x.unsqueeze(0).shape == (1, 2, 3, 4) and x.unsqueeze(-1).shape == (2, 3, 4, 1)
    assert al.unsqueeze(x, 1).shape == (2, 1, 3, 4)
    y = x.reshape(1, 2, 1, 12)
    assert y.squeeze().shape == (2, 12) and y.squeeze(0).shape == (2, 1, 12)
    assert y.squeeze(1).shape == (1, 2, 1, 12)  # not size one: unchanged (PyTorch)
    assert y.squeeze((0, 2)).shape == (2, 12)
    assert_close(x.permute(2, 0, 1), np.transpose(v, (2, 0, 1)))
    assert_close(al.permute(x, (2, 0, 1)), np.transpose(v, (2, 0, 1)))
    assert_close(x.transpose(0, 2), np.swapaxes(v, 0, 2))
    assert_close(al.transpose(x, -1, 1), np.swapaxes(v, -1, 1))
    m = x[0]
    assert_close(m.t(), v[0].T)
    assert x.contiguous() is x
    c = x.clone()
    assert c is not x and c.device == device
    assert_close(c, v)
    assert x[:, :1].expand(2, 5, 4).shape == (2, 5, 4)
    assert x[:, :1].expand(-1, 3, -1).shape == (2, 3, 4)
    assert_close(m.repeat(2, 1), np.tile(v[0], (2, 1)))
    with pytest.raises(IndexError, match="flatten"):
        x.flatten(5)
    with pytest.raises(ValueError, match="Tensor.t"):
        x.t()


def test_reductions_match_torch(device):
    torch = pytest.importorskip("torch")
    x, v = _x(device)
    t = torch.tensor(v)
    assert_close(x.sum(), t.sum().numpy())
    assert_close(x.sum(1), t.sum(1).numpy())
    assert_close(x.sum(dim=(0, 2), keepdim=True), t.sum(dim=(0, 2), keepdim=True).numpy())
    assert_close(x.sum([0, 1]), t.sum([0, 1]).numpy())
    assert_close(x.mean(-1), t.mean(-1).numpy())
    assert_close(x.prod(1), t.prod(1).numpy())
    assert_close(x.std(), t.std().numpy())
    assert_close(x.std(1, keepdim=True), t.std(1, keepdim=True).numpy())
    assert_close(x.var(0, unbiased=False), t.var(0, unbiased=False).numpy())
    assert_close(x.var(2, correction=0), t.var(2, correction=0).numpy())
    vals, idx = x.max(1)
    tv, ti = t.max(1)
    assert_close(vals, tv.numpy())
    assert_close(idx, ti.numpy())
    assert x.max(dim=2, keepdim=True).values.shape == (2, 3, 1)
    assert_close(x.min(0).indices, t.min(0).indices.numpy())
    assert_close(x.max(), t.max().numpy())
    assert_close(x.max(x * 0), np.maximum(v, 0))
    assert_close(x.argmax(), t.argmax().numpy())
    assert_close(x.argmax(1), t.argmax(1).numpy())
    assert_close(x.argmin(dim=2, keepdim=True), t.argmin(dim=2, keepdim=True).numpy())
    b = x > 0
    assert bool(b.any()) and not bool(b.all())
    assert_close(b.all(1), (t > 0).all(1).numpy())
    assert_close(x.cumsum(1), t.cumsum(1).numpy())
    sv, si = x.sort(1, descending=True)
    tsv, tsi = t.sort(1, descending=True)
    assert_close(sv, tsv.numpy())
    with pytest.raises(TypeError, match="mean"):
        al.asarray([1, 2], device=device).mean()
    assert_close(al.asarray([1, 2], device=device).mean(dtype=al.float64),
                 np.float64(1.5))


def test_elementwise_methods(device):
    torch = pytest.importorskip("torch")
    x, v = _x(device)
    t = torch.tensor(v)
    for name in ["exp", "sin", "cos", "tanh", "abs", "neg", "sigmoid", "relu", "floor", "sign",
                 "square", "reciprocal", "arctan"]:
        assert_close(getattr(x, name)(), getattr(t, name)().numpy(), rtol=1e-12)
    p = x.abs() + 0.5
    for name in ["log", "sqrt", "rsqrt", "log1p"]:
        assert_close(getattr(p, name)(), getattr(torch.tensor(np.abs(v) + 0.5), name)().numpy(),
                     rtol=1e-12)
    assert_close(x.pow(2), v ** 2)
    assert_close(x.clamp(-0.5, 0.5), t.clamp(-0.5, 0.5).numpy())
    assert_close(x.clamp(min=0), t.clamp(min=0).numpy())
    assert_close(al.clamp(x, max=0.1), t.clamp(max=0.1).numpy())
    assert_close(x.add(x, alpha=2), 3 * v)
    assert_close(x.sub(1.0), v - 1)
    assert_close(x.mul(2), 2 * v)
    assert_close(x.div(2), v / 2)
    assert x.eq(x).all() and not x.ne(x).any()
    assert_close(x.softmax(-1), torch.softmax(t, -1).numpy(), rtol=1e-12)
    assert_close(x.log_softmax(1), torch.log_softmax(t, 1).numpy(), rtol=1e-12)
    assert_close(al.softmax(x, dim=0), torch.softmax(t, 0).numpy(), rtol=1e-12)
    assert_close(x.masked_fill(x > 0, -1.0), t.masked_fill(t > 0, -1.0).numpy())
    i = al.asarray([1, 5, -3], device=device)
    assert al.clamp(i, 0, 2).dtype == al.int64
    assert al.clamp(i, 0.5, 2.5).dtype == al.float32


def test_casts_and_info(device):
    x, v = _x(device, dtype=al.float32)
    assert x.double().dtype == al.float64 and x.long().dtype == al.int64
    assert x.int().dtype == al.int32 and x.bool().dtype == al.bool
    assert x.float() is x
    assert x.long().type_as(x).dtype == al.float32
    assert x.numel() == 24 == al.numel(x) == x.nelement() == x.size
    assert x.dim() == 3 == x.ndimension()
    assert x.is_floating_point() and not x.is_complex() and x.element_size() == 4
    assert not x.is_cuda
    assert al.long == al.int64 and al.double == al.float64 and al.cfloat == al.complex64
    z = x.new_zeros(2, 2)
    assert z.shape == (2, 2) and z.dtype == al.float32 and z.device == device
    assert x.new_ones((3,)).shape == (3,) and x.new_full((2,), 7.0).dtype == al.float32
    assert x.new_tensor([1, 2]).dtype == al.float32


def test_inplace_methods(device):
    x = al.zeros(3, dtype=al.float64, device=device)
    view = x.reshape(3)
    assert x.add_(al.ones(3, dtype=al.float64, device=device), alpha=2) is x
    assert_close(x, [2.0, 2.0, 2.0], check_dtype=False)
    x.mul_(3).sub_(1.0).div_(5)
    assert_close(x, [1.0, 1.0, 1.0], check_dtype=False)
    x.clamp_(max=0.5)
    x.fill_(4)
    assert_close(x, [4.0] * 3, check_dtype=False)
    x.copy_(al.asarray([1.0, 2.0, 3.0], device=device))
    assert x.dtype == al.float64
    assert_close(view, [1.0, 2.0, 3.0], check_dtype=False)
    x.masked_fill_(x > 1.5, 0.0)
    assert_close(x, [1.0, 0.0, 0.0], check_dtype=False)
    x.zero_()
    assert_close(x, [0.0] * 3, check_dtype=False)
    x.copy_(al.asarray(7.0, device=device))
    assert_close(x, [7.0] * 3, check_dtype=False)


def test_inplace_on_parameter_rules():
    w = al.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        w.add_(1.0)
    with al.no_grad():
        w.sub_(0.5)
    assert_close(w.detach(), [0.5] * 3, check_dtype=False)
    assert w.requires_grad


def test_gradients_through_methods(device):
    x = al.asarray(np.linspace(-1, 1, 12).reshape(3, 4), dtype=al.float64, device=device,
                   requires_grad=True)
    y = (x.view(4, 3).t().unsqueeze(0).squeeze(0).permute(1, 0).flatten().softmax(0) *
         al.arange(12, dtype=al.float64, device=device)).sum()
    y.backward()
    torch = pytest.importorskip("torch")
    t = torch.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
    (t.view(4, 3).t().unsqueeze(0).squeeze(0).permute(1, 0).flatten().softmax(0) *
     torch.arange(12, dtype=torch.float64)).sum().backward()
    assert_close(x.grad, t.grad.numpy(), rtol=1e-12)
    x.grad = None
    vals, _ = x.max(1)
    (vals.sum() + x.clone().std() + x.mean(0).sum()).backward()
    t.grad = None
    (t.max(1).values.sum() + t.clone().std() + t.mean(0).sum()).backward()
    assert_close(x.grad, t.grad.numpy(), rtol=1e-10)


def test_top_level_conveniences(device):
    a = al.ones((2, 3), device=device)
    assert al.cat([a, a]).shape == (4, 3) and al.cat((a, a), dim=1).shape == (2, 6)
    arr = np.arange(4.0)
    t = al.from_numpy(arr)
    arr[0] = 10.0
    assert float(t[0]) == 10.0 and t.dtype == al.float64
    m = al.ones((2, 3), device=device)
    assert al.mm(m, m.t()).shape == (2, 2) and m.matmul(m.T).shape == (2, 2)
    assert al.bmm(al.ones((4, 2, 3)), al.ones((4, 3, 5))).shape == (4, 2, 5)
    assert_close(al.sigmoid(al.asarray([0.0], device=device)), [0.5], check_dtype=False)
    assert_close(al.relu(al.asarray([-1.0, 2.0], device=device)), [0.0, 2.0],
                 check_dtype=False)
    assert_close(al.asarray([[1.0, 2.0]], device=device).index_select(1, al.asarray(
        [1, 1], device=device)), [[2.0, 2.0]], check_dtype=False)
    for name in ["cat", "from_numpy", "numel", "flatten", "unsqueeze", "transpose", "clamp"]:
        assert name in al.__all__


def test_size_is_the_standard_attribute_and_pytorchs_method():
    x = al.zeros((2, 3))
    assert x.size == 6 and x.shape == (2, 3) and isinstance(x.size, int)
    assert x.size() == (2, 3) and x.size(-1) == 3 and x.size(0) == 2
    assert x / x.size is not None and float(al.sum(x + 1) / x.size) == 1.0
