"""Data-parallel training across processes and machines, on MPI (mpi4py).

Launch with ``mpiexec -n N python script.py``; call ``init_process_group()`` first.
Collectives work on tensors of every device: CPU storage is exchanged directly,
other devices are staged through host memory.

Failures end the job instead of hanging it:

* every collective first exchanges, in one small message, each rank's shape, dtype and
  verdict on its own arguments (a non-tensor, a wrong list length, ``src`` out of range,
  ``MEAN`` on integers...).  If any rank's arguments are wrong, or the ranks disagree, the
  collective raises the same error on *every* rank, naming the rank(s) at fault.
* ``init_process_group`` installs an exception hook: an uncaught exception on any rank
  prints that rank's traceback and aborts the whole job (``MPI_Abort``), as
  ``python -m mpi4py`` does; ``sys.exit`` with a non-zero status on one rank aborts the
  job with that status too (a bare ``raise SystemExit(n)`` bypasses ``sys.exit`` and is
  not seen).  ``destroy_process_group`` removes both.
* every collective takes ``timeout`` (seconds or a ``datetime.timedelta``; the default is
  ``init_process_group``'s, ``None``: wait for ever).  When it expires the collective
  raises ``RuntimeError`` naming itself; MPI cannot cancel a collective, so the process
  group is unusable afterwards -- let the error end the job.  Give a collective a timeout
  on every rank or on none (``init_process_group(timeout=...)`` does): MPI does not match
  a waiting-with-timeout (non-blocking) collective with a blocking one, so a rank with a
  timeout waiting for ranks without one times out.
"""
from __future__ import annotations

import atexit
import datetime
import enum
import pickle
import sys
import time

import arraylib as xp

__all__ = ["ReduceOp", "init_process_group", "destroy_process_group", "is_initialized",
           "is_available", "get_rank", "get_world_size", "barrier", "all_reduce", "broadcast",
           "all_gather", "reduce_scatter"]


class ReduceOp(enum.Enum):
    SUM = "sum"
    MEAN = "mean"
    MAX = "max"
    MIN = "min"


_state = {"comm": None, "timeout": None, "hooks": None, "exit_status": None}


def is_available() -> bool:
    """Whether mpi4py (and an MPI library) can be imported."""
    try:
        import mpi4py  # noqa: F401
        return True
    except ImportError:
        return False


def _seconds(func: str, timeout):
    if timeout is None:
        return None
    if isinstance(timeout, datetime.timedelta):
        timeout = timeout.total_seconds()
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"{func}: timeout must be a number of seconds, a datetime.timedelta or "
                        f"None, got {type(timeout).__name__}")
    if not timeout > 0:
        raise ValueError(f"{func}: timeout must be positive, got {timeout}")
    return float(timeout)


def init_process_group(backend: str = "mpi", comm=None, timeout=None) -> None:
    """Join the process group that ``mpiexec`` started (idempotent).

    ``timeout`` (seconds or ``datetime.timedelta``) becomes the default of every
    collective.  Installs the hooks that abort the whole job when one rank fails."""
    if backend != "mpi":
        raise ValueError(f"init_process_group: unsupported backend {backend!r}; only 'mpi'")
    timeout = _seconds("init_process_group", timeout)
    if _state["comm"] is not None:
        return
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError("init_process_group: mpi4py is not installed; "
                           "pip install 'arraylib[distributed]'") from e
    _state["comm"] = comm if comm is not None else MPI.COMM_WORLD
    _state["timeout"] = timeout
    _install_failure_hooks()


def destroy_process_group() -> None:
    _remove_failure_hooks()
    _state["comm"] = None
    _state["timeout"] = None


def is_initialized() -> bool:
    return _state["comm"] is not None


# -- a failing rank ends the job ---------------------------------------------------------------
_FORWARD_GRACE_S = 0.5  # mpiexec relays output asynchronously; MPI_Abort cuts it short
def _abort(status: int) -> None:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(_FORWARD_GRACE_S)  # let the launcher forward this rank's last output
    finally:
        from mpi4py import MPI
        MPI.COMM_WORLD.Abort(status)


def _world_rank_size():
    """``(rank, size)`` in MPI_COMM_WORLD; size 0 once MPI has been finalized."""
    from mpi4py import MPI
    if MPI.Is_finalized() or not MPI.Is_initialized():
        return 0, 0
    return MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()


def _install_failure_hooks() -> None:
    if _state["hooks"] is not None:
        return
    prev_excepthook, prev_exit = sys.excepthook, sys.exit

    def excepthook(etype, value, tb):
        rank, size = _world_rank_size()
        prev_excepthook(etype, value, tb)   # the traceback, as Python prints it
        if size > 1:
            print(f"arraylib.distributed: rank {rank} of {size} raised an uncaught "
                  f"{etype.__name__}; aborting the job", file=sys.stderr, flush=True)
            _abort(1)

    def exit(status=None):
        _state["exit_status"] = status
        prev_exit(status)

    def at_exit():
        status = _state["exit_status"]
        if status is None or status == 0 or _state["hooks"] is None:
            return
        rank, size = _world_rank_size()
        if size > 1:
            code = status if isinstance(status, int) and not isinstance(status, bool) else 1
            print(f"arraylib.distributed: rank {rank} of {size} exited with status {status!r}; "
                  "aborting the job", file=sys.stderr, flush=True)
            _abort(code)

    sys.excepthook, sys.exit = excepthook, exit
    atexit.register(at_exit)
    _state["hooks"] = (excepthook, exit, at_exit, prev_excepthook, prev_exit)


def _remove_failure_hooks() -> None:
    hooks = _state["hooks"]
    if hooks is None:
        return
    excepthook, exit, at_exit, prev_excepthook, prev_exit = hooks
    if sys.excepthook is excepthook:
        sys.excepthook = prev_excepthook
    if sys.exit is exit:
        sys.exit = prev_exit
    atexit.unregister(at_exit)
    _state["hooks"] = None
    _state["exit_status"] = None


# -- plumbing --------------------------------------------------------------------------------
def _comm(func: str):
    comm = _state["comm"]
    if comm is None:
        raise RuntimeError(f"{func}: the default process group is not initialized; "
                           "call arraylib.distributed.init_process_group() first")
    return comm


def get_rank() -> int:
    return _comm("get_rank").Get_rank()


def get_world_size() -> int:
    return _comm("get_world_size").Get_size()


class _ArgError(Exception):
    """A problem with this rank's arguments, raised on every rank after the agreement."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


_KINDS = {"TypeError": TypeError, "ValueError": ValueError, "RuntimeError": RuntimeError}


def _deadline(func: str, timeout):
    """``(seconds, deadline)``; a bad timeout is an argument error like any other."""
    if timeout is None:
        timeout = _state["timeout"]
    seconds = _seconds(func, timeout)
    return seconds, None if seconds is None else time.monotonic() + seconds


def _wait(func: str, req, seconds, deadline) -> None:
    """Wait for the non-blocking request ``req``; raise when ``deadline`` passes."""
    spin = 0
    while not req.Test():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{func}: timed out after {seconds:g} s waiting for the other "
                               "ranks; the process group can no longer be used")
        spin += 1
        if spin > 200:
            time.sleep(min(1e-3, 1e-5 * (spin - 200)))


def _run(func, blocking, nonblocking, seconds, deadline):
    """``blocking()``, or with a ``deadline``, ``nonblocking()`` waited on until then."""
    if deadline is None:
        blocking()
    else:
        _wait(func, nonblocking(), seconds, deadline)


_SLOT = 512  # bytes per rank in the one-message exchange of ``_allgather_obj``


def _allgather_obj(func: str, comm, obj, seconds, deadline):
    """``comm.allgather(obj)`` in one fixed-size message per rank (an 8-byte length, then
    the pickle), and a second exchange only when some rank's pickle does not fit; made of
    non-blocking collectives when there is a ``deadline``."""
    from mpi4py import MPI
    size = comm.Get_size()
    data = pickle.dumps(obj)
    n = len(data)
    slot = bytearray(_SLOT)
    slot[:8] = n.to_bytes(8, "little")
    if n <= _SLOT - 8:
        slot[8:8 + n] = data
    recv = bytearray(_SLOT * size)
    _run(func, lambda: comm.Allgather([slot, MPI.BYTE], [recv, MPI.BYTE]),
         lambda: comm.Iallgather([slot, MPI.BYTE], [recv, MPI.BYTE]), seconds, deadline)
    lens = [int.from_bytes(recv[r * _SLOT:r * _SLOT + 8], "little") for r in range(size)]
    if max(lens) <= _SLOT - 8:
        return [pickle.loads(bytes(recv[r * _SLOT + 8:r * _SLOT + 8 + lens[r]]))
                for r in range(size)]
    big = bytearray(sum(lens))
    displs = [sum(lens[:r]) for r in range(size)]
    send, spec = [bytearray(data), MPI.BYTE], [big, (lens, displs), MPI.BYTE]
    _run(func, lambda: comm.Allgatherv(send, spec), lambda: comm.Iallgatherv(send, spec),
         seconds, deadline)
    return [pickle.loads(bytes(big[d:d + k])) for d, k in zip(displs, lens)]


def _begin(func: str, check, timeout):
    """Check this rank's arguments, agree with every rank, and return
    ``(comm, result of check, seconds, deadline)``.

    ``check()`` validates the local arguments (raising ``_ArgError``) and returns the
    rank-independent description (shape, dtype...) every rank must share.  The verdicts
    and descriptions of all ranks travel in one message, so a problem that one rank
    detects raises on every rank instead of leaving the others waiting."""
    comm = _comm(func)
    try:
        seconds, deadline = _deadline(func, timeout)
    except (TypeError, ValueError) as e:
        seconds, deadline, err = None, None, (type(e).__name__, str(e).split(": ", 1)[-1])
    else:
        err = None
    meta = None
    if err is None:
        try:
            meta = check(comm)
        except _ArgError as e:
            err = (e.kind, str(e))
        except Exception as e:  # noqa: BLE001 -- whatever it is, every rank must hear of it
            err = (type(e).__name__, f"{type(e).__name__}: {e}")
    everyone = _allgather_obj(func, comm, (err, meta), seconds, deadline)
    bad = [(r, e) for r, (e, _) in enumerate(everyone) if e is not None]
    if bad:
        kind = _KINDS.get(bad[0][1][0], RuntimeError)
        if len(bad) == len(everyone) and all(e == bad[0][1] for _, e in bad):
            raise kind(f"{func}: {bad[0][1][1]} (on every rank)")
        raise kind(f"{func}: " + "; ".join(f"rank {r}: {msg}" for r, (_, msg) in bad))
    if any(m != everyone[0][1] for _, m in everyone):
        detail = ", ".join(f"rank {r}: {_describe(m)}" for r, (_, m) in enumerate(everyone))
        raise ValueError(f"{func}: arguments differ across ranks ({detail})")
    return comm, meta, seconds, deadline


def _describe(meta) -> str:
    if isinstance(meta, tuple) and len(meta) >= 2 and isinstance(meta[0], tuple):
        extra = "".join(f" {x}" for x in meta[2:])
        return f"shape {meta[0]} dtype {meta[1]}{extra}"
    return repr(meta)


def _tensor(what: str, t):
    if not isinstance(t, xp.Tensor):
        raise _ArgError("TypeError", f"expected a Tensor for {what}, got {type(t).__name__}")
    return t


def _op(op, dtype=None):
    try:
        op = ReduceOp(op)
    except ValueError:
        raise _ArgError("ValueError", f"op must be a ReduceOp, got {op!r}") from None
    if op is ReduceOp.MEAN and dtype is not None and \
            not xp.isdtype(dtype, ("real floating", "complex floating")):
        raise _ArgError("TypeError", f"MEAN needs a floating-point tensor, got {dtype}")
    return op


def _host(t):
    """A host NumPy copy of ``t``'s values (never a view of it)."""
    with xp.no_grad():
        return xp.asarray(t.detach(), device="cpu", copy=True).numpy()


def _write_back(t, host) -> None:
    with xp.no_grad():
        t[...] = xp.asarray(host, device=t.device)


def _mpi_op(op: ReduceOp):
    from mpi4py import MPI
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.MEAN: MPI.SUM, ReduceOp.MAX: MPI.MAX,
            ReduceOp.MIN: MPI.MIN}[op]


# -- collectives -----------------------------------------------------------------------------
def barrier(timeout=None) -> None:
    """Wait until every rank has reached this call."""
    comm, _, seconds, deadline = _begin("barrier", lambda comm: "barrier", timeout)
    _run("barrier", comm.Barrier, comm.Ibarrier, seconds, deadline)


def all_reduce(tensor, op: ReduceOp = ReduceOp.SUM, timeout=None) -> None:
    """Reduce ``tensor`` over all ranks, in place, on every rank."""
    def check(comm):
        t = _tensor("tensor", tensor)
        return (t.shape, str(t.dtype), _op(op, t.dtype).value)
    comm, meta, seconds, deadline = _begin("all_reduce", check, timeout)
    rop = ReduceOp(meta[2])
    send = _host(tensor)
    recv = send.copy()
    _run("all_reduce", lambda: comm.Allreduce(send, recv, op=_mpi_op(rop)),
         lambda: comm.Iallreduce(send, recv, op=_mpi_op(rop)), seconds, deadline)
    if rop is ReduceOp.MEAN:
        recv /= comm.Get_size()
    _write_back(tensor, recv)


def broadcast(tensor, src: int = 0, timeout=None) -> None:
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor``, in place."""
    def check(comm):
        t = _tensor("tensor", tensor)
        size = comm.Get_size()
        if isinstance(src, bool) or not isinstance(src, int):
            raise _ArgError("TypeError", f"src must be an int, got {type(src).__name__}")
        if not 0 <= src < size:
            raise _ArgError("ValueError", f"src={src} is not a rank of a world of size {size}")
        return (t.shape, str(t.dtype), src)
    comm, _, seconds, deadline = _begin("broadcast", check, timeout)
    buf = _host(tensor)
    _run("broadcast", lambda: comm.Bcast(buf, root=src),
         lambda: comm.Ibcast(buf, root=src), seconds, deadline)
    _write_back(tensor, buf)


def _tensor_list(what: str, tensors, size: int, like):
    if isinstance(tensors, xp.Tensor) or not isinstance(tensors, (list, tuple)):
        raise _ArgError("TypeError", f"{what} must be a list of {size} tensors, got "
                        f"{type(tensors).__name__}")
    if len(tensors) != size:
        raise _ArgError("ValueError", f"{what} has {len(tensors)} tensors for a world of "
                        f"size {size}")
    for r, t in enumerate(tensors):
        _tensor(f"{what}[{r}]", t)
        if t.shape != like.shape or t.dtype != like.dtype:
            raise _ArgError("ValueError", f"{what}[{r}] has shape {t.shape} dtype {t.dtype}; "
                            f"expected shape {like.shape} dtype {like.dtype}")


def all_gather(tensor_list, tensor, timeout=None) -> None:
    """Fill ``tensor_list[r]`` with rank r's ``tensor``, on every rank."""
    def check(comm):
        t = _tensor("tensor", tensor)
        _tensor_list("tensor_list", tensor_list, comm.Get_size(), t)
        return (t.shape, str(t.dtype))
    comm, _, seconds, deadline = _begin("all_gather", check, timeout)
    size = comm.Get_size()
    send = _host(tensor)
    recv = send.copy().reshape((1,) + send.shape).repeat(size, axis=0)
    _run("all_gather", lambda: comm.Allgather(send, recv),
         lambda: comm.Iallgather(send, recv), seconds, deadline)
    for r, out in enumerate(tensor_list):
        _write_back(out, recv[r])


def reduce_scatter(output, input_list, op: ReduceOp = ReduceOp.SUM, timeout=None) -> None:
    """Reduce ``input_list[r]`` over ranks and leave the result in rank r's ``output``."""
    def check(comm):
        t = _tensor("output", output)
        _tensor_list("input_list", input_list, comm.Get_size(), t)
        return (t.shape, str(t.dtype), _op(op, t.dtype).value)
    comm, meta, seconds, deadline = _begin("reduce_scatter", check, timeout)
    rop = ReduceOp(meta[2])
    size = comm.Get_size()
    with xp.no_grad():
        send = _host(xp.stack([t.to_device(output.device) for t in input_list]))
    recv = send[0].copy()
    _run("reduce_scatter",
         lambda: comm.Reduce_scatter_block(send, recv, op=_mpi_op(rop)),
         lambda: comm.Ireduce_scatter_block(send, recv, op=_mpi_op(rop)), seconds, deadline)
    if rop is ReduceOp.MEAN:
        recv /= size
    _write_back(output, recv)
