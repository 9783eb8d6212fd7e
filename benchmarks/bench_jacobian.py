"""The 100x100 Jacobian of an element-wise-heavy function, reverse and forward mode:
arraylib.func's jacrev / jacfwd vs torch.func's, with ratios (bench_vmap.py's first
section; run that for vmap's other figures).

    OMP_NUM_THREADS=1 python benchmarks/bench_jacobian.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_vmap import main as _vmap_main  # noqa: E402


def main(argv=None):
    return _vmap_main(["--only", "jacobian"] + list(argv or []))


if __name__ == "__main__":
    main(sys.argv[1:])
