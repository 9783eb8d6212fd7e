"""A small CNN, a few SGD steps, as the CIFAR-10 tutorial's 'Net' is written.

The weights are copied from NumPy arrays and the images drawn from NumPy's
default_rng(0); values are printed rounded to 4 decimals."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

rng = np.random.default_rng(0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(16 * 3 * 3, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.bn(self.conv2(x))))
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        return self.fc2(x)


net = Net()
with torch.no_grad():
    for name, p in net.named_parameters():
        scale = 1.0 / np.sqrt(p[0].numel()) if p.dim() > 1 else 0.1
        p.copy_(torch.from_numpy(rng.uniform(-scale, scale, tuple(p.shape)).astype(np.float32)))
print(net)
images = torch.from_numpy(rng.normal(size=(8, 3, 16, 16)).astype(np.float32))
labels = torch.from_numpy(rng.integers(0, 10, size=8))
print("images:", images.size(), "labels:", labels.tolist())

criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
for step in range(5):
    optimizer.zero_grad()
    outputs = net(images)
    loss = criterion(outputs, labels)
    loss.backward()
    grad_norm = torch.sqrt(sum((p.grad ** 2).sum() for p in net.parameters()))
    optimizer.step()
    print(f"step {step}: loss {loss.item():.4f} grad norm {grad_norm.item():.4f}")

print("conv1 output:", net.conv1(images).size())
print(f"bn running mean: {net.bn.running_mean.mean().item():.4f} "
      f"var: {net.bn.running_var.mean().item():.4f}")
net.eval()
with torch.no_grad():
    outputs = net(images)
    _, predicted = torch.max(outputs, 1)
print("predicted:", predicted.tolist())
print("correct:", (predicted == labels).sum().item())
print("done")
