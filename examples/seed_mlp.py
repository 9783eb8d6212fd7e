"""The seed lecture's dense network: a (2, 3, 2) Tanh MLP trained on scikit-learn's
moons with the seed's manual loop (zero_grad, backward, ``param -= lr * grad`` under
no_grad), full batch, learning rate 1.0.  Saves the loss/accuracy curves and the
decision boundary to ``--out``.

    python examples/seed_mlp.py [--device cpu] [--epochs 2000]
"""
import os

from _common import Timer, accuracy, parser, plot_curves, progress

import arraylib as torch
import arraylib.nn as nn


def decision_boundary(path, model, X, y, device):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    Xh, yh = X.to("cpu").numpy(), y.to("cpu").numpy()
    x0, x1 = Xh[:, 0], Xh[:, 1]
    gx, gy = np.meshgrid(np.linspace(x0.min() - 0.5, x0.max() + 0.5, 200),
                         np.linspace(x1.min() - 0.5, x1.max() + 0.5, 200))
    grid = torch.asarray(np.c_[gx.ravel(), gy.ravel()].astype("float32"), device=device)
    with torch.no_grad():
        zz = model(grid).argmax(1).to("cpu").numpy().reshape(gx.shape)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.contourf(gx, gy, zz, alpha=0.3, cmap="coolwarm")
    ax.scatter(x0, x1, c=yh, s=8, cmap="coolwarm", edgecolors="k", linewidths=0.2)
    ax.set(title="(2, 3, 2) Tanh network on moons", xlabel="x1", ylabel="x2")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"seed_mlp: decision boundary written to {path}")


def main(argv=None):
    args = parser(__doc__, epochs=2000, lr=1.0).parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    X, y = torch.data.make_moons(1000, noise=0.1, random_state=args.seed, device=device)
    x_train, x_test, y_train, y_test = torch.data.train_test_split(
        X, y, test_size=0.2, generator=torch.Generator().manual_seed(args.seed))

    # Define a (2, 3, 2) neural network with one hidden layer
    model = nn.Sequential(
        nn.Linear(2, 3),
        nn.Tanh(),
        nn.Linear(3, 2)
    ).to(device)
    loss_fn = nn.CrossEntropyLoss()

    learning_rate = args.lr
    steps = args.epochs if args.max_batches is None else min(args.epochs, args.max_batches)
    history = {"step": [], "loss": [], "iteration": [], "train_acc": [], "test_acc": []}
    with Timer() as timer:
        for t in progress(range(steps), args, desc="training"):
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
            if t % 10 == 0 or t == steps - 1:
                history["step"].append(t)
                history["loss"].append(loss.item())
            if t % 200 == 0 or t == steps - 1:
                history["iteration"].append(t)  # full-batch steps, not epochs
                history["train_acc"].append(accuracy(model, x_train, y_train))
                history["test_acc"].append(accuracy(model, x_test, y_test))

    train_acc, test_acc = accuracy(model, x_train, y_train), accuracy(model, x_test, y_test)
    print(f"seed_mlp: {steps} iterations in {timer.seconds:.1f} s on {device}; "
          f"final loss {loss.item():.4f}")
    print(f"train accuracy {train_acc:.4f}  test accuracy {test_acc:.4f}")
    plot_curves(os.path.join(args.out, "seed_mlp_curves.png"), history, "seed_mlp",
                acc_axis="iteration")
    decision_boundary(os.path.join(args.out, "seed_mlp_boundary.png"), model, X, y, device)
    return {"train_acc": train_acc, "test_acc": test_acc, "seconds": timer.seconds}


if __name__ == "__main__":
    main()
