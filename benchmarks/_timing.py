"""Timing helpers shared by the benchmarks: best-of-N per-call times."""
from __future__ import annotations

import timeit


def per_call_us(fn, number: int = 20000, repeat: int = 7) -> float:
    """Best per-call time of ``fn()`` in microseconds."""
    fn()
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def report(title: str, rows: dict, baseline: str | None = None) -> None:
    """Print times and ratios against every other column of the same row."""
    print(title)
    for name, times in rows.items():
        parts = [f"{lib} {t:7.2f} us" for lib, t in times.items()]
        ours = times.get("arraylib")
        ratios = [f"arraylib/{lib} = {ours / t:.2f}x" for lib, t in times.items()
                  if lib != "arraylib" and ours is not None]
        print(f"  {name:<28} " + "  ".join(parts) + "   " + "  ".join(ratios))
