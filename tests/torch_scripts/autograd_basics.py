"""Autograd, as the 'Automatic differentiation with torch.autograd' tutorial and the
'Learning PyTorch with examples' custom-Function example write it.

Prints values rounded to 4 decimals; the data comes from NumPy's default_rng(0)."""
import math

import numpy as np
import torch
from torch.autograd import Variable

rng = np.random.default_rng(0)


def rounded(values, digits=4):
    """Nested lists of numbers, rounded (what the line-by-line comparison reads)."""
    if isinstance(values, list):
        return [rounded(v, digits) for v in values]
    return round(values, digits)


# A one-layer network and its gradients
x = torch.ones(5)  # input tensor
y = torch.zeros(3)  # expected output
w = torch.from_numpy(rng.normal(size=(5, 3)).astype(np.float32)).requires_grad_()
b = torch.tensor(rng.normal(size=3).astype(np.float32), requires_grad=True)
z = torch.matmul(x, w) + b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
print("requires_grad:", z.requires_grad, "has grad_fn:", z.grad_fn is not None)
loss.backward()
print(f"loss: {loss.item():.4f}")
print("w.grad:", rounded(w.grad.tolist()))
print("b.grad:", rounded(b.grad.tolist()))

# Disabling gradient tracking
z = torch.matmul(x, w) + b
print("tracked:", z.requires_grad)
with torch.no_grad():
    z = torch.matmul(x, w) + b
print("under no_grad:", z.requires_grad)
z_det = (torch.matmul(x, w) + b).detach()
print("detached:", z_det.requires_grad)
with torch.inference_mode():
    print("under inference_mode:", (x * 2).requires_grad, (w * 2).requires_grad)

# Gradients accumulate; zero them
inp = torch.eye(4, 5, requires_grad=True)
out = (inp + 1).pow(2).t()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"first call: {inp.grad.sum().item():.4f}")
out.backward(torch.ones_like(out), retain_graph=True)
print(f"second call: {inp.grad.sum().item():.4f}")
inp.grad.zero_()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"after zeroing: {inp.grad.sum().item():.4f}")

# The seed example: f(x1, x2) = log(x1) + x1 * x2 - sin(x2)
x1 = torch.tensor(2.0, requires_grad=True)
x2 = torch.tensor(5.0, requires_grad=True)
f = torch.log(x1) + x1 * x2 - torch.sin(x2)
f.backward()
print(f"df/dx1 = {x1.grad.item():.4f}, df/dx2 = {x2.grad.item():.4f}")

# torch.autograd.grad and higher order
t = torch.tensor(1.5, requires_grad=True)
y = t ** 3
(dy,) = torch.autograd.grad(y, t, create_graph=True)
(d2y,) = torch.autograd.grad(dy, t)
print(f"dy/dt = {dy.item():.4f}, d2y/dt2 = {d2y.item():.4f}")

# retain_grad on a non-leaf
a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
h = a * 2
h.retain_grad()
(h ** 2).sum().backward()
print("h.grad:", h.grad.tolist(), "a.grad:", a.grad.tolist())

# Variable, as PyTorch >= 0.4 keeps it: a tensor
v = Variable(torch.ones(2), requires_grad=True)
(v * 3).sum().backward()
print("Variable grad:", v.grad.tolist(), isinstance(v, torch.Tensor))


# A custom autograd Function: the Legendre polynomial P3
class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


dtype = torch.float
xs = torch.linspace(-math.pi, math.pi, 200, dtype=dtype)
ys = torch.sin(xs)
a = torch.full((), 0.0, dtype=dtype, requires_grad=True)
b = torch.full((), -1.0, dtype=dtype, requires_grad=True)
c = torch.full((), 0.0, dtype=dtype, requires_grad=True)
d = torch.full((), 0.3, dtype=dtype, requires_grad=True)
learning_rate = 5e-6
for step in range(300):
    P3 = LegendrePolynomial3.apply
    y_pred = a + b * P3(c + d * xs)
    loss = (y_pred - ys).pow(2).sum()
    if step % 100 == 99:
        print(f"step {step}: loss {loss.item():.3f}")
    loss.backward()
    with torch.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad
        a.grad = None
        b.grad = None
        c.grad = None
        d.grad = None
print(f"Result: y = {a.item():.4f} + {b.item():.4f} * P3({c.item():.4f} + {d.item():.4f} x)")
print("done")
