"""Tensor basics, as the 'Tensors' tutorial teaches them.

Prints values rounded to 4 decimals; the data comes from NumPy's default_rng(0)."""
import numpy as np
import torch

rng = np.random.default_rng(0)

# Creating tensors
data = [[1, 2], [3, 4]]
x_data = torch.tensor(data)
print("x_data:", x_data)
print("dtype:", x_data.dtype == torch.long, "shape:", tuple(x_data.shape))
np_array = rng.normal(size=(2, 3)).astype(np.float32)
x_np = torch.from_numpy(np_array)
print("from numpy:", x_np.dtype == torch.float32, x_np.size(), x_np.size(1), x_np.size(-1))
x_ones = torch.ones_like(x_data)
x_rand = torch.rand_like(x_data, dtype=torch.float)
print("ones_like:", x_ones)
print("rand_like shape:", x_rand.size(), x_rand.dtype == torch.float)
shape = (2, 3,)
print("zeros:", torch.zeros(shape))
print("ones(2, 3):", torch.ones(2, 3))
print("arange:", torch.arange(6).reshape(2, 3))
print("linspace:", torch.linspace(0, 1, steps=5))
print("legacy:", torch.Tensor([5.5, 3]), torch.FloatTensor([1, 2]), torch.LongTensor([3, 4]))

# Attributes
tensor = torch.from_numpy(rng.normal(size=(3, 4)).astype(np.float32))
print(f"Shape of tensor: {tensor.size()}")
print(f"Datatype is float32: {tensor.dtype == torch.float32}")
print(f"Device tensor is stored on: {tensor.device}")
print("numel:", tensor.numel(), "dim:", tensor.dim(), "size():", tensor.size())

# Operations: indexing and slicing
t = torch.ones(4, 4)
t[:, 1] = 0
print("First row:", t[0])
print("First column:", t[:, 0])
print("Last column:", t[..., -1])
print(t)
t1 = torch.cat([t, t, t], dim=1)
print("cat:", t1.size())
s = torch.stack([t[0], t[1]], 1)
print("stack(ts, 1):", s.size())

# Arithmetic
y1 = tensor @ tensor.T
y2 = tensor.matmul(tensor.T)
y3 = torch.matmul(tensor, tensor.T)
print("matmul agree:", torch.allclose(y1, y2), torch.allclose(y1, y3))
z1 = tensor * tensor
z2 = tensor.mul(tensor)
print("mul agree:", torch.equal(z1, z2))
agg = tensor.sum()
agg_item = agg.item()
print(f"sum: {agg_item:.4f} ({type(agg_item).__name__})")
print(f"mean: {tensor.mean():.4f}")
print("sum(dim=1):", [round(v, 4) for v in tensor.sum(dim=1).tolist()])
print("mean(0, keepdim):", tuple(tensor.mean(0, keepdim=True).shape))
values, indices = tensor.max(dim=1)
print("max values:", [round(v, 4) for v in values.tolist()], "indices:", indices.tolist())
print("argmax:", tensor.argmax(dim=1).tolist(), torch.argmax(tensor, 1).tolist())
print("min:", round(tensor.min().item(), 4), "std:", round(tensor.std().item(), 4))

# In-place operations
t.add_(5)
print("add_:", t[0])

# Views and reshapes
v = torch.arange(12)
print("view(3, -1):", v.view(3, -1).size(), "view(-1, 6).size(0):", v.view(-1, 6).size(0))
print("unsqueeze:", v.unsqueeze(0).size(), "squeeze:", v.view(1, 12, 1).squeeze().size())
print("permute:", torch.zeros(2, 3, 4).permute(2, 0, 1).size())
print("transpose:", torch.zeros(2, 3, 4).transpose(1, 2).size())
print("flatten:", torch.zeros(2, 3, 4).flatten(1).size())
parts = v.split(5)
print("split(5):", [p.tolist() for p in parts])
print("chunk(3):", [c.tolist() for c in v.chunk(3)])
print("narrow:", v.narrow(0, 2, 3).tolist())

# Type conversions
f = v.float()
print("float():", f.dtype == torch.float32, "long():", f.long().dtype == torch.int64,
      "double():", f.double().dtype == torch.float64, "int():", f.int().dtype == torch.int32)
print("to(float64):", v.to(torch.float64).dtype == torch.double)
print("type():", v.type(), v.float().type())
b = v > 5
print("bool:", b.dtype == torch.bool, b.sum().item())

# More functions
w = torch.from_numpy(rng.normal(size=(5,)).astype(np.float32))
print("w:", [round(a, 4) for a in w.tolist()])
print("topk:", [round(a, 4) for a in w.topk(2).values.tolist()], w.topk(2).indices.tolist())
print("sort:", [round(a, 4) for a in torch.sort(w, descending=True)[0].tolist()])
print("cumsum:", [round(a, 4) for a in torch.cumsum(w, dim=0).tolist()])
print("clamp:", [round(a, 4) for a in w.clamp(min=-0.5, max=0.5).tolist()])
print("where:", [round(a, 4) for a in torch.where(w > 0, w, torch.zeros_like(w)).tolist()])
print("abs/exp:", round(w.abs().sum().item(), 4), round(torch.exp(w).mean().item(), 4))
print("softmax:", [round(a, 4) for a in torch.softmax(w, dim=0).tolist()])
print("logsumexp:", round(torch.logsumexp(w, dim=0).item(), 4))
print("einsum:", round(torch.einsum("i,i->", w, w).item(), 4))
print("isclose:", torch.isclose(w, w + 1e-9).all().item())
g = torch.tensor([[1, 2], [3, 4]])
print("gather:", torch.gather(g, 1, torch.tensor([[0, 0], [1, 0]])).tolist())
print("unique:", torch.unique(torch.tensor([3, 1, 2, 3, 1])).tolist())
print("roll:", torch.roll(torch.arange(5), 1, 0).tolist())
print("flip:", torch.flip(torch.arange(4), [0]).tolist())
print("tril:", torch.tril(torch.ones(3, 3)).tolist())
print("numpy():", type(w.numpy()).__name__, w.numpy().dtype)
print(f"f-string of a 0-d tensor: {torch.tensor(92.0)}")
print("done")
