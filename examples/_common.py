"""Shared bits of the examples: command-line flags, progress bars, accuracy, plots."""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import arraylib as torch  # noqa: E402  (the examples read as PyTorch scripts)


def parser(description, *, epochs, batch_size=None, lr=None):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="cpu, cuda, cuda:N or strict:device1 (default: cuda if available)")
    p.add_argument("--epochs", type=int, default=epochs, help=f"default {epochs}")
    if batch_size is not None:
        p.add_argument("--batch-size", type=int, default=batch_size, help=f"default {batch_size}")
    if lr is not None:
        p.add_argument("--lr", type=float, default=lr, help=f"default {lr}")
    p.add_argument("--max-batches", type=int, default=None,
                   help="stop each epoch after this many batches/iterations (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out", help="directory for plots and checkpoints")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return p


def progress(iterable, args, **kw):
    from tqdm.auto import tqdm
    return tqdm(iterable, disable=args.no_progress, leave=False, dynamic_ncols=True, **kw)


def accuracy(model, X, y, batch_size=512):
    """Fraction of correct predictions, evaluated in batches under no_grad."""
    correct = 0
    with torch.no_grad():
        for start in range(0, X.shape[0], batch_size):
            out = model(X[start:start + batch_size])
            correct += int(torch.sum(out.argmax(1) == y[start:start + batch_size]))
    return correct / X.shape[0]


def plot_curves(path, history, title, acc_axis="epoch"):
    """Loss and accuracy curves side by side (matplotlib, Agg backend), written to ``path``
    (printed); the accuracies are plotted against ``history[acc_axis]``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(history["step"], history["loss"], lw=0.8)
    a.set(xlabel="step", ylabel="training loss", title=title)
    a.set_yscale("log")
    for key, label in (("train_acc", "train"), ("test_acc", "test")):
        if history.get(key):
            b.plot(history[acc_axis], history[key], marker="o", label=label)
    b.set(xlabel=acc_axis, ylabel="accuracy", title="accuracy")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"{title}: curves written to {path}")


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
