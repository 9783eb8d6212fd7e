"""Grad modes: whether operations are recorded for reverse mode."""
from __future__ import annotations

import functools


class _State:
    """Process-wide autograd switches, read on every operation."""

    grad_enabled = True
    # Forward mode: the current dual level (0: none active) and a generation number
    # that invalidates tangents made at a closed level.
    dual_level = 0
    dual_generation = 0


state = _State


class _GradModeContext:
    """Base of the grad-mode context managers; also usable as decorators."""

    _mode: bool

    def __enter__(self):
        self._prev = state.grad_enabled
        state.grad_enabled = self._mode

    def __exit__(self, *exc):
        state.grad_enabled = self._prev
        return False

    def __call__(self, func):
        mode = self._mode

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return func(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):
    """Disable recording: ``with no_grad(): param -= lr * param.grad``."""

    _mode = False


class enable_grad(_GradModeContext):
    """Enable recording inside a ``no_grad`` block."""

    _mode = True


class set_grad_enabled(_GradModeContext):
    """Set recording on or off; takes effect at once, and as a context manager."""

    def __init__(self, mode: bool):
        self._prev = state.grad_enabled
        self._mode = bool(mode)
        state.grad_enabled = self._mode

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        state.grad_enabled = self._prev
        return False

    def __call__(self, func):
        state.grad_enabled = self._prev  # as a decorator it acts per call only
        return super().__call__(func)


def is_grad_enabled() -> bool:
    return state.grad_enabled
