"""Half precision, as the 'Automatic Mixed Precision' recipe writes it (on the CPU):
float16/bfloat16 tensors, torch.autocast(device_type="cpu", dtype=torch.bfloat16)
around the forward pass, and torch.amp.GradScaler's scale/step/update.

Weights copied from NumPy arrays, data from NumPy's default_rng(0); half-precision
values are printed rounded to 2 decimals, float32 ones to 4."""
import numpy as np
import torch
import torch.nn as nn

rng = np.random.default_rng(0)

# float16 and bfloat16 tensors
a = torch.tensor([1.0, 2.5, -3.25, 1000.0], dtype=torch.float16)
b = torch.from_numpy(np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32)).half()
print("float16:", a.dtype == torch.float16, a.dtype == torch.half, (a + b).dtype == torch.half)
print("sum:", [round(v, 2) for v in (a + b).tolist()])
print("product:", [round(v, 2) for v in (a * b).tolist()])
c = b.to(torch.bfloat16)
print("bfloat16:", c.dtype == torch.bfloat16, [round(v, 3) for v in c.tolist()])
print("promotion f16 + f32:", (a + b.float()).dtype == torch.float32,
      "f16 + bf16:", (a + c).dtype == torch.float32)
print("finfo(float16).eps:", torch.finfo(torch.float16).eps, "max:", torch.finfo(torch.half).max)
print("back to float:", [round(v, 4) for v in c.float().tolist()])

# A model trained under autocast
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.from_numpy(rng.normal(0, 0.3, tuple(p.shape)).astype(np.float32)))
X = torch.from_numpy(rng.normal(size=(32, 8)).astype(np.float32))
y = torch.from_numpy(rng.integers(0, 4, size=32))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
loss_fn = nn.CrossEntropyLoss()
scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 8, growth_interval=2)

for step in range(6):
    optimizer.zero_grad()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        output = model(X)
        loss = loss_fn(output, y)
    if step == 0:
        print("under autocast: output", output.dtype == torch.bfloat16,
              "weights stay float32:", model[0].weight.dtype == torch.float32)
    scaler.scale(loss).backward()
    if step == 0:
        print("grads are float32:", model[0].weight.grad.dtype == torch.float32)
    scaler.step(optimizer)
    scaler.update()
    print(f"step {step}: loss {loss.item():.2f} scale {scaler.get_scale():.0f}")

# An overflowing gradient: the step is skipped and the scale backs off
before = model[0].weight.detach().clone()
optimizer.zero_grad()
loss = loss_fn(model(X), y)
scaler.scale(loss * float("inf")).backward()
scaler.step(optimizer)
scaler.update()
print("inf step skipped:", torch.equal(before, model[0].weight), "scale", scaler.get_scale())

with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
    z = torch.mm(X, X.t())
print("mm under autocast:", z.dtype == torch.bfloat16, f"{z.float().mean().item():.1f}")
print("done")
