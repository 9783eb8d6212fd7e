"""The seed lecture's autodiff slide: f(x1, x2) = ln(x1) + x1*x2 - sin(x2) at (2, 5).

Reverse mode (``y.backward()``) gives both partial derivatives at once; forward mode
(dual numbers) gives one directional derivative per pass.  The computational graph is
written as Graphviz DOT to ``--out``/autodiff_graph.dot (and rendered to PNG if the
``dot`` program is installed).

    python examples/seed_autodiff.py
"""
import argparse
import math
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import arraylib as torch  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="out")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    # By default, user-created tensors do not track operations on them
    x1 = torch.tensor([2.0], requires_grad=True, device=args.device, dtype=torch.float64)
    x2 = torch.tensor([5.0], requires_grad=True, device=args.device, dtype=torch.float64)

    # Compute some operations on x1 and x2
    y = torch.log(x1) + x1 * x2 - torch.sin(x2)

    # Write the computational graph before backward frees it
    dot = torch.autograd.to_dot(y, names={"x1": x1, "x2": x2, "y": y})
    dot_path = os.path.join(args.out, "autodiff_graph.dot")
    with open(dot_path, "w") as f:
        f.write(dot)

    # Let the magic happen
    y.backward()

    print(f"y = {y.item():.6f}")
    print(f"dy/dx1 = {x1.grad.item():.6f}   (expected 1/x1 + x2 = {1 / 2 + 5:.6f})")
    print(f"dy/dx2 = {x2.grad.item():.6f}   (expected x1 - cos(x2) = {2 - math.cos(5):.6f})")

    # Forward mode: dual numbers carry a tangent along with each value
    try:
        import arraylib.autograd.forward_ad as fwAD
        with fwAD.dual_level():
            d1 = fwAD.make_dual(x1.detach(), torch.ones_like(x1))
            yd = torch.log(d1) + d1 * x2.detach() - torch.sin(x2.detach())
            print(f"forward mode: dy/dx1 = {fwAD.unpack_dual(yd).tangent.item():.6f}")
    except (ImportError, AttributeError) as e:  # forward mode is optional here
        print("forward mode not available:", e)

    print("computational graph (Graphviz DOT) written to", dot_path)
    if shutil.which("dot"):
        png = dot_path[:-4] + ".png"
        subprocess.run(["dot", "-Tpng", dot_path, "-o", png], check=False)
        print("rendered to", png)
    else:
        print("Graphviz's `dot` is not installed, so no picture was rendered; install Graphviz "
              f"(https://graphviz.org) and run: dot -Tpng {dot_path} -o {dot_path[:-4]}.png")
    return x1.grad, x2.grad


if __name__ == "__main__":
    main()
