"""An MLP trained with nn/optim, as the 'Build the Neural Network' and 'Optimizing
Model Parameters' tutorials write it (two moons instead of FashionMNIST).

The weights are copied from NumPy arrays and the data drawn from NumPy's
default_rng(0), so every framework starts from the same numbers; values are printed
rounded to 4 decimals."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR

torch.backends.cudnn.benchmark = True
device = "cuda" if torch.cuda.is_available() else "cpu"
print(f"Using {device} device")
rng = np.random.default_rng(0)


def make_moons(n):
    """Two interleaved half circles with noise (the data set of the seed lecture)."""
    t = rng.uniform(0, np.pi, n)
    upper = rng.uniform(size=n) < 0.5
    x = np.where(upper, np.cos(t), 1 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    pts = np.stack([x, y], 1) + rng.normal(0, 0.1, (n, 2))
    return pts.astype(np.float32), (~upper).astype(np.int64)


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2, 16)
        self.fc2 = nn.Linear(16, 16)
        self.fc3 = nn.Linear(16, 2)
        self.dropout = nn.Dropout(p=0.0)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = self.dropout(torch.tanh(self.fc2(x)))
        return self.fc3(x)


model = NeuralNetwork().to(device)
print(model)
with torch.no_grad():
    for name, param in model.named_parameters():
        param.copy_(torch.from_numpy(rng.normal(0, 0.5, tuple(param.shape)).astype(np.float32)))
n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
print(f"parameters: {n_params}")
for name, param in model.named_parameters():
    print(f"Layer: {name} | Size: {param.size()}")

X_train, y_train = make_moons(256)
X_test, y_test = make_moons(128)
X_train, y_train = torch.from_numpy(X_train).to(device), torch.from_numpy(y_train).to(device)
X_test, y_test = torch.tensor(X_test), torch.tensor(y_test)

loss_fn = nn.CrossEntropyLoss()
optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
scheduler = StepLR(optimizer, step_size=4, gamma=0.5)
batch_size = 32


def train_loop(epoch):
    model.train()
    perm = torch.from_numpy(rng.permutation(len(X_train)))
    total = 0.0
    for i in range(0, len(X_train), batch_size):
        idx = perm[i:i + batch_size]
        pred = model(X_train[idx])
        loss = loss_fn(pred, y_train[idx])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        total += loss.item() * len(idx)
    return total / len(X_train)


def test_loop():
    model.eval()
    with torch.no_grad():
        pred = model(X_test)
        test_loss = loss_fn(pred, y_test).item()
        correct = (pred.argmax(1) == y_test).type(torch.float).sum().item()
    return test_loss, correct / len(X_test)


for epoch in range(8):
    train_loss = train_loop(epoch)
    test_loss, accuracy = test_loop()
    print(f"epoch {epoch + 1}: lr {scheduler.get_last_lr()[0]:.4f} train loss {train_loss:.4f} "
          f"test loss {test_loss:.4f} accuracy {100 * accuracy:.1f}%")
    scheduler.step()

# The same model continued with Adam and weight decay
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
for step in range(20):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(X_train), y_train)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
    if step % 5 == 4:
        print(f"adam step {step + 1}: loss {loss.item():.4f}")
probs = F.softmax(model(X_test[:3]), dim=1)
print("probabilities:", [[round(p, 4) for p in row] for row in probs.tolist()])
print("done")
