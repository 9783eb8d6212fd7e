"""Shortened runs of every example (a few batches), and the seed lecture's code
fragments with ``import arraylib as torch`` so they cannot rot."""
import importlib
import os
import sys

import pytest

import arraylib as torch

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _example(name):
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)
    return importlib.import_module(name)


def test_seed_tensors(capsys):
    b = _example("seed_tensors").main([])
    assert b.shape == (5, 3)
    assert "b.view(5, -1).shape = (5, 3)" in capsys.readouterr().out


def test_seed_autodiff(tmp_path, capsys):
    g1, g2 = _example("seed_autodiff").main(["--out", str(tmp_path)])
    assert g1.item() == pytest.approx(5.5)
    assert g2.item() == pytest.approx(2 - __import__("math").cos(5))
    assert (tmp_path / "autodiff_graph.dot").read_text().startswith("digraph")
    out = capsys.readouterr().out
    assert str(tmp_path / "autodiff_graph.dot") in out  # the DOT path, and Graphviz's role
    assert "Graphviz" in out


def _printed_paths(out, paths):
    """Each of ``paths`` exists and was printed by the example."""
    for p in paths:
        assert p.exists() and str(p) in out, (p, out)


def test_seed_mlp_short(tmp_path, capsys):
    r = _example("seed_mlp").main(["--epochs", "30", "--max-batches", "30", "--out",
                                   str(tmp_path), "--no-progress"])
    assert 0 <= r["test_acc"] <= 1
    _printed_paths(capsys.readouterr().out,
                   [tmp_path / "seed_mlp_curves.png", tmp_path / "seed_mlp_boundary.png"])


def test_seed_mlp_plots_iterations_not_epochs(tmp_path, monkeypatch):
    common = _example("_common")
    seen = {}
    monkeypatch.setattr(_example("seed_mlp"), "plot_curves",
                        lambda path, history, title, **kw: seen.update(kw, keys=set(history)))
    _example("seed_mlp").main(["--epochs", "3", "--out", str(tmp_path), "--no-progress"])
    assert seen["acc_axis"] == "iteration" and "epoch" not in seen["keys"]
    assert common.plot_curves.__defaults__ == ("epoch",)


def test_seed_cnn_short(tmp_path, capsys):
    r = _example("seed_cnn").main(["--epochs", "1", "--max-batches", "3", "--out", str(tmp_path),
                                   "--no-progress"])
    assert 0 <= r["test_acc"] <= 1
    _printed_paths(capsys.readouterr().out, [tmp_path / "seed_cnn_curves.png"])


def test_seed_cnn_cifar10_short(tmp_path):
    import pickle
    import numpy as np
    folder = tmp_path / "cifar"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ["data_batch_1", "test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, (8, 3072), dtype=np.uint8),
                         b"labels": rng.integers(0, 10, 8).tolist()}, f)
    r = _example("seed_cnn").main(["--cifar10", str(folder), "--epochs", "1", "--max-batches",
                                   "2", "--batch-size", "4", "--out", str(tmp_path),
                                   "--no-progress"])
    assert 0 <= r["test_acc"] <= 1


def test_train_digits_short(tmp_path, capsys):
    r = _example("train_digits").main(["--epochs", "2", "--max-batches", "3", "--out",
                                       str(tmp_path), "--no-progress"])
    assert r["reloaded_test_acc"] == r["test_acc"]
    _printed_paths(capsys.readouterr().out, [tmp_path / "train_digits.safetensors",
                                             tmp_path / "train_digits_curves.png"])


def test_examples_on_emulated_device(tmp_path):
    r = _example("train_digits").main(["--device", "strict:device1", "--epochs", "1",
                                       "--max-batches", "2", "--out", str(tmp_path),
                                       "--no-progress"])
    assert 0 <= r["test_acc"] <= 1


# -- the seed lecture's fragments, verbatim but for the import ----------------------------
def test_seed_fragment_autodiff():
    x1 = torch.tensor([2.0], requires_grad=True)
    x2 = torch.tensor([5.0], requires_grad=True)
    # Compute some operations on x1 and x2
    y = torch.log(x1) + x1*x2 - torch.sin(x2)
    # Let the magic happen
    y.backward()
    assert x1.grad.item() == pytest.approx(5.5)
    assert x2.grad.item() == pytest.approx(1.7163378, rel=1e-5)


def test_seed_fragment_mlp():
    import arraylib.nn as nn
    torch.manual_seed(0)
    x_train, y_train = torch.data.make_moons(200, noise=0.1)
    loss_fn = nn.CrossEntropyLoss()

    # Define a (2, 3, 2) neural network with one hidden layer
    model = nn.Sequential(
        nn.Linear(2, 3),
        nn.Tanh(),
        nn.Linear(3, 2)
    )

    learning_rate = 1.0
    for t in range(50):
        # Compute model prediction
        y_pred = model(x_train)
        # Compute loss
        loss = loss_fn(y_pred, y_train)
        # Zero the gradients before running the backward pass
        model.zero_grad()
        # Compute gradient of the loss wrt all the parameters
        loss.backward()
        # Update the weights using gradient descent
        with torch.no_grad():
            for param in model.parameters():
                param -= learning_rate * param.grad
        if t == 0:
            first = loss.item()
    assert loss.item() < first


def test_seed_fragment_cnn():
    import arraylib.nn as nn
    import arraylib.nn.functional as F
    import arraylib.optim as optim

    # Define a CNN that takes (3, 32, 32) tensors as input
    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            # Convolution output is 16 5x5 feature maps
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = x.view(-1, 16 * 5 * 5)
            x = F.relu(self.fc1(x))
            x = self.fc2(x)
            return x

    net = Net()
    torch.manual_seed(0)
    inputs = torch.rand(4, 3, 32, 32)
    labels = torch.randint(0, 10, (4,))

    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)

    losses = []
    for t in range(5):
        optimizer.zero_grad()
        # Compute model prediction
        outputs = net(inputs)
        # Compute loss
        loss = criterion(outputs, labels)
        # Compute gradients of the loss wrt all parameters
        loss.backward()
        # Perform one step of gradient descent
        optimizer.step()
        losses.append(loss.item())
    assert outputs.shape == (4, 10)
    assert losses[-1] < losses[0]
