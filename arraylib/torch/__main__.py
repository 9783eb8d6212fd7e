"""``python -m arraylib.torch script.py args...``: run an unchanged PyTorch script on
arraylib.

The face is installed as ``torch`` first, then the script runs as ``__main__`` the way
``python script.py args...`` would run it: ``sys.argv`` is ``[script.py, args...]``, the
script's directory is ``sys.path[0]``, an uncaught exception prints its traceback
(without this runner's frames) and exits with status 1, ``sys.exit(n)`` exits with n.
``-m module args...`` runs a module as ``python -m`` does, ``-c code`` a string.
"""
from __future__ import annotations

import builtins
import os
import runpy
import signal
import sys
import types

from ._install import install

USAGE = ("usage: python -m arraylib.torch script.py [args...]\n"
         "       python -m arraylib.torch -m module [args...]\n"
         "       python -m arraylib.torch -c code [args...]\n"
         "Runs a PyTorch script unchanged, with arraylib's torch face as 'torch'.\n")


def _user_frames(tb, entry):
    """The traceback from the first frame of the user's code on: the script's (``entry``:
    its names), or for ``-m`` the first frame past this runner and runpy."""
    skip = {os.path.abspath(__file__), os.path.abspath(runpy.__file__)}
    t = tb
    while t is not None:
        name = t.tb_frame.f_code.co_filename
        if entry and (name in entry or os.path.abspath(name) in entry):
            return t
        if not entry and os.path.abspath(name) not in skip and not name.startswith("<frozen"):
            return t
        t = t.tb_next
    return tb


def _plan(argv):
    """Install the face and set up ``sys`` for ``argv``; returns ``(run, entry)`` (the call
    that runs the user's code, and the names of its file) or an exit status."""
    if not argv or argv[0] in ("-h", "--help"):
        sys.stderr.write(USAGE)
        return 0 if argv else 2
    install()
    if argv[0] == "-m" and len(argv) > 1:
        sys.argv = [argv[1]] + argv[2:]
        sys.path[0] = os.getcwd()
        return lambda: runpy.run_module(argv[1], run_name="__main__", alter_sys=True), None
    if argv[0] == "-c" and len(argv) > 1:
        sys.argv = ["-c"] + argv[2:]
        sys.path[0] = ""
        return lambda: _run_string(argv[1]), {"<string>"}
    if argv[0].startswith("-"):
        sys.stderr.write(f"python -m arraylib.torch: unknown option {argv[0]!r}\n{USAGE}")
        return 2
    script = argv[0]
    if not os.path.exists(script):
        sys.stderr.write(f"python -m arraylib.torch: can't open file {os.path.abspath(script)!r}: "
                         f"[Errno 2] No such file or directory\n")
        return 2
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    path = os.path.abspath(script)  # as python 3.9+ names its __main__ file
    return lambda: runpy.run_path(path, run_name="__main__"), {script, path}


def _run_string(code: str) -> None:
    """Run ``code`` as ``python -c`` does, in a fresh ``__main__`` module."""
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = main
    try:
        exec(compile(code, "<string>", "exec"), vars(main))
    finally:
        sys.modules["__main__"] = saved


def _report(e: BaseException, entry) -> None:
    """Print ``e`` through ``sys.excepthook`` from the user's first frame on."""
    tb = _user_frames(e.__traceback__, entry)
    sys.excepthook(type(e), e.with_traceback(tb), tb)


def main(argv=None) -> int:
    how = _plan(sys.argv[1:] if argv is None else argv)
    if isinstance(how, int):
        return how
    run, entry = how
    try:
        run()
    except SystemExit:
        raise
    except KeyboardInterrupt as e:  # as python does: traceback, then die by SIGINT
        _report(e, entry)
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        return 130
    except BaseException as e:  # noqa: BLE001  (reported as python reports it)
        _report(e, entry)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
