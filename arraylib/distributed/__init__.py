"""Data-parallel training across processes and machines, on MPI (mpi4py).

Launch with ``mpiexec -n N python script.py``; call ``init_process_group()`` first.
Collectives work on tensors of every device: CPU storage is exchanged directly,
other devices are staged through host memory.  Every collective first checks that
all ranks passed the same shape and dtype, so a mismatch raises a clear error on
every rank instead of hanging or corrupting memory.
"""
from __future__ import annotations

import enum

import arraylib as xp

__all__ = ["ReduceOp", "init_process_group", "destroy_process_group", "is_initialized",
           "is_available", "get_rank", "get_world_size", "barrier", "all_reduce", "broadcast",
           "all_gather", "reduce_scatter"]


class ReduceOp(enum.Enum):
    SUM = "sum"
    MEAN = "mean"
    MAX = "max"
    MIN = "min"


_state = {"comm": None}


def is_available() -> bool:
    """Whether mpi4py (and an MPI library) can be imported."""
    try:
        import mpi4py  # noqa: F401
        return True
    except ImportError:
        return False


def init_process_group(backend: str = "mpi", comm=None) -> None:
    """Join the process group that ``mpiexec`` started (idempotent)."""
    if backend != "mpi":
        raise ValueError(f"init_process_group: unsupported backend {backend!r}; only 'mpi'")
    if _state["comm"] is not None:
        return
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError("init_process_group: mpi4py is not installed; "
                           "pip install 'arraylib[distributed]'") from e
    _state["comm"] = comm if comm is not None else MPI.COMM_WORLD


def destroy_process_group() -> None:
    _state["comm"] = None


def is_initialized() -> bool:
    return _state["comm"] is not None


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


def barrier() -> None:
    _comm("barrier").Barrier()


def _check_tensor(func: str, t) -> None:
    if not isinstance(t, xp.Tensor):
        raise TypeError(f"{func}: expected a Tensor, got {type(t).__name__}")


def _agree(func: str, comm, meta) -> None:
    """All ranks must pass the same (shape, dtype); raise on every rank if not."""
    everyone = comm.allgather(meta)
    if any(m != everyone[0] for m in everyone):
        detail = ", ".join(f"rank {r}: shape {m[0]} dtype {m[1]}" for r, m in enumerate(everyone))
        raise ValueError(f"{func}: tensors differ across ranks ({detail})")


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


def all_reduce(tensor, op: ReduceOp = ReduceOp.SUM) -> None:
    """Reduce ``tensor`` over all ranks, in place, on every rank."""
    _check_tensor("all_reduce", tensor)
    op = ReduceOp(op)
    comm = _comm("all_reduce")
    _agree("all_reduce", comm, (tensor.shape, str(tensor.dtype)))
    send = _host(tensor)
    recv = send.copy()
    comm.Allreduce(send, recv, op=_mpi_op(op))
    if op is ReduceOp.MEAN:
        if recv.dtype.kind in "iub":
            raise TypeError(f"all_reduce: MEAN needs a floating-point tensor, got {tensor.dtype}")
        recv /= comm.Get_size()
    _write_back(tensor, recv)


def broadcast(tensor, src: int = 0) -> None:
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor``, in place."""
    _check_tensor("broadcast", tensor)
    comm = _comm("broadcast")
    if not 0 <= src < comm.Get_size():
        raise ValueError(f"broadcast: src={src} is not a rank of a world of size {comm.Get_size()}")
    _agree("broadcast", comm, (tensor.shape, str(tensor.dtype)))
    buf = _host(tensor)
    comm.Bcast(buf, root=src)
    _write_back(tensor, buf)


def all_gather(tensor_list, tensor) -> None:
    """Fill ``tensor_list[r]`` with rank r's ``tensor``, on every rank."""
    _check_tensor("all_gather", tensor)
    comm = _comm("all_gather")
    size = comm.Get_size()
    if len(tensor_list) != size:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors for a world of "
                         f"size {size}")
    _agree("all_gather", comm, (tensor.shape, str(tensor.dtype)))
    send = _host(tensor)
    recv = send.copy().reshape((1,) + send.shape).repeat(size, axis=0)
    comm.Allgather(send, recv)
    for r, out in enumerate(tensor_list):
        if out.shape != tensor.shape:
            raise ValueError(f"all_gather: tensor_list[{r}] has shape {out.shape}, expected "
                             f"{tensor.shape}")
        _write_back(out, recv[r])


def reduce_scatter(output, input_list, op: ReduceOp = ReduceOp.SUM) -> None:
    """Reduce ``input_list[r]`` over ranks and leave the result in rank r's ``output``."""
    _check_tensor("reduce_scatter", output)
    op = ReduceOp(op)
    comm = _comm("reduce_scatter")
    size = comm.Get_size()
    if len(input_list) != size:
        raise ValueError(f"reduce_scatter: input_list has {len(input_list)} tensors for a world "
                         f"of size {size}")
    for r, t in enumerate(input_list):
        if t.shape != output.shape or t.dtype != output.dtype:
            raise ValueError(f"reduce_scatter: input_list[{r}] has shape {t.shape} dtype "
                             f"{t.dtype}; output has shape {output.shape} dtype {output.dtype}")
    _agree("reduce_scatter", comm, (output.shape, str(output.dtype)))
    with xp.no_grad():
        send = _host(xp.stack([t.to_device(output.device) for t in input_list]))
    recv = send[0].copy()
    comm.Reduce_scatter_block(send, recv, op=_mpi_op(op))
    if op is ReduceOp.MEAN:
        recv /= size
    _write_back(output, recv)
