"""The seed lecture's CNN, exactly: two 5x5 convolutions with max pooling and two
dense layers, for (3, 32, 32) inputs; CrossEntropyLoss and SGD with momentum 0.9.

Data: scikit-learn's digits upscaled to 3x32x32 (default), or CIFAR-10 with
``--cifar10 DIR`` (the python-pickle batches).  Saves loss/accuracy curves to ``--out``.

    python examples/seed_cnn.py [--device cpu] [--epochs 8] [--cifar10 DIR]
"""
import os

from _common import Timer, accuracy, parser, plot_curves, progress

import arraylib as torch
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


def load(args, device):
    """Train and test tensors, scaled to [-1, 1] as the PyTorch CIFAR-10 tutorial's
    ``Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))`` does."""
    if args.cifar10:
        x_train, y_train = torch.data.load_cifar10(args.cifar10, train=True, device=device)
        x_test, y_test = torch.data.load_cifar10(args.cifar10, train=False, device=device)
    else:
        X, y = torch.data.load_digits(images=True, size=32, channels=3, device=device)
        x_train, x_test, y_train, y_test = torch.data.train_test_split(
            X, y, test_size=0.2, generator=torch.Generator().manual_seed(0))
    return (x_train - 0.5) / 0.5, (x_test - 0.5) / 0.5, y_train, y_test


def main(argv=None):
    p = parser(__doc__, epochs=8, batch_size=16, lr=0.01)
    p.add_argument("--cifar10", default=None, metavar="DIR",
                   help="train on CIFAR-10 from its python batches in DIR")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    x_train, x_test, y_train, y_test = load(args, device)
    loader = torch.data.DataLoader(torch.data.TensorDataset(x_train, y_train),
                                   batch_size=args.batch_size, shuffle=True,
                                   generator=torch.Generator().manual_seed(args.seed))
    net = Net().to(device)

    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)

    history = {"step": [], "loss": [], "epoch": [], "train_acc": [], "test_acc": []}
    step = 0
    with Timer() as timer:
        for epoch in progress(range(args.epochs), args, desc="epochs"):
            for i, (inputs, labels) in enumerate(progress(loader, args, desc=f"epoch {epoch}")):
                if args.max_batches is not None and i >= args.max_batches:
                    break
                # Zero the gradients, compute model prediction and loss
                optimizer.zero_grad()
                outputs = net(inputs)
                loss = criterion(outputs, labels)
                # Compute gradients of the loss wrt all parameters
                loss.backward()
                # Perform one step of gradient descent
                optimizer.step()
                if step % 10 == 0:
                    history["step"].append(step)
                    history["loss"].append(loss.item())
                step += 1
            n_eval = None if args.max_batches is None else args.max_batches * args.batch_size
            history["epoch"].append(epoch + 1)
            history["train_acc"].append(accuracy(net, x_train[:n_eval], y_train[:n_eval]))
            history["test_acc"].append(accuracy(net, x_test[:n_eval], y_test[:n_eval]))

    train_acc, test_acc = history["train_acc"][-1], history["test_acc"][-1]
    data = "CIFAR-10" if args.cifar10 else "digits 3x32x32"
    print(f"seed_cnn on {data}: {args.epochs} epochs, {step} steps in {timer.seconds:.1f} s "
          f"on {device}")
    print(f"train accuracy {train_acc:.4f}  test accuracy {test_acc:.4f}")
    plot_curves(os.path.join(args.out, "seed_cnn_curves.png"), history, "seed_cnn")
    return {"train_acc": train_acc, "test_acc": test_acc, "seconds": timer.seconds}


if __name__ == "__main__":
    main()
