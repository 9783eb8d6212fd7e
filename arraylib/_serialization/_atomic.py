"""Atomic writes of a checkpoint file.

Saving to a path never destroys the previous file: the bytes go to a temporary file in the
same folder (``.<name>.<host>.<pid>.<random>.tmp``), which is flushed, fsynced and then
renamed over the target with ``os.replace`` (the folder is fsynced too where the platform
allows).  A writer killed mid-save leaves the old file untouched and at most its temporary
file, which the next save to the same target removes once its writer is gone; a save that
fails (a full disk, an unwritable folder) leaves nothing behind.  A special file (a FIFO,
``/dev/null``) is written into, never replaced.
"""
from __future__ import annotations

import os
import re
import secrets
import socket
import stat

__all__ = ["atomic_write"]

# -- atomic save ---------------------------------------------------------------------------
_TMP_SUFFIX = ".tmp"
_MAX_BASE = 180  # keeps ".<base>.<host>.<pid>.<token>.tmp" under the usual 255-byte limit
_HOST = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname() or "host")[:32] or "host"


def _tmp_prefix(base):
    return f".{base[:_MAX_BASE]}."


def _writer_alive(pid):
    """Whether process ``pid`` exists on this host (a zombie, killed but not yet reaped by
    its parent, still counts: its temporary file goes at a later save)."""
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, owned by someone else
        return True
    return True


def _clean_stale(folder, base):
    """Remove temporary files that writers of this target on this host left when they
    were killed (their process is gone); never one a live writer is still filling."""
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return
    prefix = _tmp_prefix(base)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(_TMP_SUFFIX)):
            continue
        parts = name[len(prefix):-len(_TMP_SUFFIX)].split(".")
        if len(parts) != 3 or parts[0] != _HOST or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid == os.getpid() or _writer_alive(pid):
            continue
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass


def _fsync_dir(folder):
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _reword(e, what, path):
    """The same OSError subclass, with a message naming ``save`` and the file."""
    if isinstance(e, OSError) and e.errno is not None:
        try:
            return type(e)(e.errno, f"save: {what} {path!r}: {e.strerror}")
        except Exception:  # an OSError subclass with its own constructor
            pass
    return e


def atomic_write(path, write):
    """Call ``write(fh)`` on a binary file that replaces ``path`` atomically once complete."""
    target = os.path.realpath(path) if os.path.islink(path) else path
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise _reword(e, "cannot write", path) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"save: {path!r} is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):
        # A device, FIFO or socket (/dev/null, a pipe): write into it; a rename would
        # replace the special file itself.
        with open(target, "wb") as fh:
            write(fh)
        return
    folder, base = os.path.split(os.path.abspath(target))
    _clean_stale(folder, base)
    prefix = os.path.join(folder, f"{_tmp_prefix(base)}{_HOST}.{os.getpid()}.")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | \
        getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = f"{prefix}{secrets.token_hex(4)}{_TMP_SUFFIX}"
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies, as for open(path, "wb")
            break
        except FileExistsError:
            continue
        except OSError as e:
            raise _reword(e, "cannot create a temporary file next to", path) from None
    try:
        try:
            fh = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with fh:
            if st is not None and hasattr(os, "fchmod"):
                try:
                    os.fchmod(fh.fileno(), stat.S_IMODE(st.st_mode))  # keep the old mode
                except OSError:
                    pass
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            new = _reword(e, "could not write", path)
            if new is not e:
                raise new from e
        raise
    _fsync_dir(folder)
