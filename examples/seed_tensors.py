"""The seed lecture's tensor slide, run with ``import arraylib as torch``.

    python examples/seed_tensors.py [--device cpu]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import arraylib as torch  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)

    a = torch.tensor([5.5, 3])
    b = torch.rand(5, 3)
    print("a =", a)
    print("b =", b)
    print("b.reshape(3, 5).shape =", b.reshape(3, 5).shape)  # Shape: (3, 5)
    print("b.view(5, -1).shape =", b.view(5, -1).shape)      # Shape: (5, 3)

    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if args.device:
        device = torch.device(args.device)
    b = b.to(device)
    print("b is on", b.device)
    # a few more conversions a PyTorch user expects
    print("b.sum(dim=0) =", b.sum(dim=0))
    print("b.max(1).indices =", b.max(1).indices)
    print("a.numpy() =", a.numpy(), " a[0].item() =", a[0].item(), " b.numel() =", b.numel())
    return b


if __name__ == "__main__":
    main()
