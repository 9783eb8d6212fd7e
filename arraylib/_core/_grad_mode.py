"""Grad modes: whether operations are recorded for reverse mode; per thread, as in PyTorch."""
from __future__ import annotations

import functools
import inspect
import itertools
import threading
from threading import get_ident as _get_ident

_generations = itertools.count()


def new_generation() -> int:
    """A forward-mode generation number never used before, in any thread."""
    return next(_generations)


class _Anywhere:
    """Process-wide sets of the threads (by ident) in a mode, read first on the hot paths
    (a class attribute read is cheaper than a thread-local one): when a set is empty, no
    thread, the caller included, is in that mode, so its thread-local state need not be
    read.  ``set.add``/``discard`` are atomic, so no lock is taken."""

    no_grad: set = set()   # threads whose grad mode is off
    dual: set = set()      # threads with an open dual level


anywhere = _Anywhere


class _Modes:
    """What ``anywhere`` holds for one thread; when the thread ends (its thread-local
    state is dropped) it takes the thread out of ``anywhere``'s sets."""

    __slots__ = ("ident", "__weakref__")
    sets = _Anywhere  # held by the class: module globals may be gone at interpreter exit

    def __init__(self):
        self.ident = threading.get_ident()

    def __del__(self):
        self.sets.no_grad.discard(self.ident)
        self.sets.dual.discard(self.ident)


class _State(threading.local):
    """The autograd switches of the calling thread, read on every operation.

    ``grad_enabled``: whether operations are recorded.  Forward mode: the current dual
    level (0: none active) and a generation number that invalidates tangents made at a
    closed level.  ``callbacks``: functions queued to run when this thread's next
    ``backward()`` has accumulated every gradient.

    Leaving the default (grad off, a dual level open) goes through ``set_grad_mode`` /
    ``set_dual_level``, which keep ``anywhere``'s sets; a plain write may only restore
    an earlier value or move back toward the default for a while (the sets stay a
    superset: an empty set still means no thread is in that mode)."""

    def __init__(self):
        self._modes = _Modes()  # this thread's ident, out of anywhere's sets when it ends
        self.grad_enabled = True
        self.dual_level = 0
        self.dual_generation = new_generation()
        self.callbacks = []


state = _State()


def set_grad_mode(mode) -> None:
    """Turn recording on or off in the calling thread."""
    mode = bool(mode)
    state.grad_enabled = mode  # first: it makes this thread's state (and its _Modes)
    if mode:
        anywhere.no_grad.discard(_get_ident())
    else:
        anywhere.no_grad.add(_get_ident())


def set_dual_level(level: int) -> None:
    """Set the calling thread's dual level (entering or leaving forward mode)."""
    state.dual_level = level  # first: it makes this thread's state (and its _Modes)
    if level:
        anywhere.dual.add(_get_ident())
    else:
        anywhere.dual.discard(_get_ident())


class _GradModeContext:
    """Base of the grad-mode context managers; also usable as decorators."""

    _mode: bool

    def __enter__(self):  # set_grad_mode(self._mode), inlined (every optimizer step)
        st = state
        self._prev = st.grad_enabled
        st.grad_enabled = mode = self._mode
        if mode:
            anywhere.no_grad.discard(_get_ident())
        else:
            anywhere.no_grad.add(_get_ident())

    def __exit__(self, *exc):
        state.grad_enabled = mode = self._prev
        if mode:
            anywhere.no_grad.discard(_get_ident())
        else:
            anywhere.no_grad.add(_get_ident())
        return False

    def __call__(self, func):
        mode = self._mode
        if inspect.isgeneratorfunction(func):
            return _generator_under(func, mode)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return func(*args, **kwargs)
        return wrapper


def _generator_under(func, mode):
    """Decorate a generator function so that its body runs with grad mode ``mode`` each
    time it resumes, and the caller's mode is back whenever it yields."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        gen = func(*args, **kwargs)
        step, arg = gen.send, None
        while True:
            try:
                with set_grad_enabled(mode):
                    value = step(arg)
            except StopIteration as stop:
                return stop.value
            try:
                arg = yield value
                step = gen.send
            except GeneratorExit:
                with set_grad_enabled(mode):
                    gen.close()
                raise
            except BaseException as exc:  # thrown in: forward it to the body
                step, arg = gen.throw, exc
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
        set_grad_mode(self._mode)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        set_grad_mode(self._prev)
        return False

    def __call__(self, func):
        set_grad_mode(self._prev)  # as a decorator it acts per call only
        return super().__call__(func)


def is_grad_enabled() -> bool:
    return state.grad_enabled
