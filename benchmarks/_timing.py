"""Timing helpers shared by the benchmarks: interleaved best-of-N per-call times.

The libraries of one row are timed in alternation, round after round, and each keeps
its best round: on a shared, noisy machine this keeps the ratios honest even when the
load drifts during the run.
"""
from __future__ import annotations

import timeit


def per_call_us(fn, number: int = 20000, repeat: int = 7) -> float:
    """Best per-call time of ``fn()`` in microseconds."""
    fn()
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def interleaved_us(fns: dict, number: int = 20000, rounds: int = 9) -> dict:
    """Best per-call time (µs) of each ``fns[name]()``, timed in alternating rounds."""
    best = {name: float("inf") for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            t = timeit.timeit(fn, number=number) / number * 1e6
            best[name] = min(best[name], t)
    return best


def interleaved_rates(steps: dict, per_round: int, rounds: int = 3, warmup: int = 3) -> dict:
    """Best steps per second of each ``steps[name]()`` (one training step), timed in
    alternating rounds of ``per_round`` steps."""
    import time
    for step in steps.values():
        for _ in range(warmup):
            step()
    best = {name: 0.0 for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            for _ in range(per_round):
                step()
            best[name] = max(best[name], per_round / (time.perf_counter() - t0))
    return best


def report(title: str, rows: dict) -> None:
    """Print times and the ratios of arraylib against every other column of a row."""
    print(title)
    for name, times in rows.items():
        parts = [f"{lib} {t:7.2f} us" for lib, t in times.items()]
        ours = times.get("arraylib")
        ratios = [f"arraylib/{lib} = {ours / t:.2f}x" for lib, t in times.items()
                  if lib != "arraylib" and ours is not None]
        print(f"  {name:<28} " + "  ".join(parts) + "   " + "  ".join(ratios))
