"""``DistributedDataParallel``: synchronous data parallelism over MPI ranks."""
from __future__ import annotations

import contextlib

import arraylib as xp
from arraylib import distributed as dist
from arraylib.autograd import queue_callback

from ..modules.module import Module


class DistributedDataParallel(Module):
    """Replicate ``module`` on every rank and average gradients after ``backward``.

    At construction rank 0's parameters and buffers are broadcast, so every rank
    starts identical.  Each ``backward`` through an output of this wrapper ends with
    the gradients averaged over ranks, in buckets of about ``bucket_cap_mb`` MB (one
    message per bucket, not per parameter).  Inside ``no_sync()`` gradients only
    accumulate locally; the first backward after it averages the accumulated sum.

    Args:
        module: the model to replicate.
        bucket_cap_mb: bucket size for gradient averaging, in megabytes.
        broadcast_buffers: re-broadcast rank 0's buffers (BatchNorm statistics) at
            every forward.
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 25.0, broadcast_buffers: bool = True):
        super().__init__()
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel: call "
                               "arraylib.distributed.init_process_group() first")
        if bucket_cap_mb <= 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb}")
        self.module = module
        self.bucket_bytes = int(bucket_cap_mb * 2 ** 20)
        self.broadcast_buffers = broadcast_buffers
        self._sync = True
        self._pending = False
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t, src=0)

    def forward(self, *args, **kwargs):
        if self.broadcast_buffers:
            for b in self.module.buffers():
                dist.broadcast(b, src=0)
        out = self.module(*args, **kwargs)
        if self._sync and xp.is_grad_enabled() and not self._pending:
            self._pending = True
            queue_callback(self._average_gradients)
        return out

    @contextlib.contextmanager
    def no_sync(self):
        """Accumulate gradients locally, without communication."""
        old, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = old

    def _buckets(self):
        """Parameters grouped by (device, dtype), each group cut at ``bucket_bytes``."""
        groups: dict = {}
        for p in self.module.parameters():
            if p.requires_grad:
                groups.setdefault((p.device, p.dtype), []).append(p)
        for params in groups.values():
            bucket, size = [], 0
            for p in params:
                bucket.append(p)
                size += p.size * p.dtype.itemsize
                if size >= self.bucket_bytes:
                    yield bucket
                    bucket, size = [], 0
            if bucket:
                yield bucket

    def _average_gradients(self) -> None:
        self._pending = False
        world = dist.get_world_size()
        with xp.no_grad():
            for bucket in self._buckets():
                grads = [p.grad if p.grad is not None else xp.zeros_like(p) for p in bucket]
                flat = xp.concat([xp.reshape(g, (-1,)) for g in grads])
                dist.all_reduce(flat, dist.ReduceOp.SUM)
                flat = flat / world
                offset = 0
                for p in bucket:
                    n = p.size
                    p.grad = xp.reshape(flat[offset:offset + n], p.shape)
                    offset += n
