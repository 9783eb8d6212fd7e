"""``DistributedDataParallel``: synchronous data parallelism over MPI ranks."""
from __future__ import annotations

import contextlib
import weakref

import arraylib as xp
from arraylib import distributed as dist
from arraylib.autograd import queue_callback

from ..modules.module import Module


class DistributedDataParallel(Module):
    """Replicate ``module`` on every rank and average its gradients after ``backward``.

    At construction rank 0's parameters and buffers are broadcast, so every rank
    starts identical.  Each parameter gets a post-accumulate-grad hook; when a
    ``backward`` accumulates a gradient into one of this module's parameters, the
    module's gradients are averaged over ranks at the end of *that* backward, in
    buckets of about ``bucket_cap_mb`` MB (one message per bucket, not per parameter).
    A backward that reaches none of the module's parameters communicates nothing, so
    any number of wrapped models, interleaved backwards (a GAN's ``d_loss.backward()``
    then ``g_loss.backward()``) and unrelated backwards stay in step on every rank.

    Whether a backward averages is decided by the latest forward, as in PyTorch:
    outputs of a forward run inside ``no_sync()`` only accumulate locally; the first
    backward through a forward run outside it averages the accumulated sum.

    Unused parameters never hang a rank: every bucket is reduced once per averaging
    backward, a parameter that got no gradient on a rank contributes zeros there, and one
    that has no gradient on any rank keeps ``grad = None`` -- the results of PyTorch's
    ``find_unused_parameters=True`` (which is accepted, and needs no graph traversal
    here, so ``False`` behaves the same).  Every rank must run the backwards that reach
    the module's parameters in the same order (as with PyTorch).

    Args:
        module: the model to replicate.
        bucket_cap_mb: bucket size for gradient averaging, in megabytes.
        broadcast_buffers: re-broadcast rank 0's buffers (BatchNorm statistics) at
            every forward.
        find_unused_parameters: accepted for compatibility (see above).
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 25.0, broadcast_buffers: bool = True,
                 find_unused_parameters: bool = False):
        super().__init__()
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel: call "
                               "arraylib.distributed.init_process_group() first")
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a Module, got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb}")
        self.module = module
        self.bucket_bytes = int(bucket_cap_mb * 2 ** 20)
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self._sync = True       # outside no_sync()
        self._armed = False     # the latest forward (with grad enabled) was outside no_sync()
        self._queued = False    # an averaging is queued at the end of the running backward
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t, src=0)
        me = weakref.ref(self)

        def hook(param):
            ddp = me()
            if ddp is not None and ddp._armed and not ddp._queued:
                ddp._queued = True
                queue_callback(ddp._average_gradients)
        self._hook_handles = [p.register_post_accumulate_grad_hook(hook)
                              for p in module.parameters() if p.requires_grad]

    def forward(self, *args, **kwargs):
        if self.broadcast_buffers:
            for b in self.module.buffers():
                dist.broadcast(b, src=0)
        if xp.is_grad_enabled():
            self._armed = self._sync
            self._queued = False    # a backward that raised dropped its queued averaging
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Accumulate gradients locally, without communication."""
        old, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = old

    def _buckets(self):
        """Parameters grouped by (device, dtype), each group cut at ``bucket_bytes``; the
        same on every rank (the order of ``parameters()``)."""
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
        """Run at the end of a backward that reached this module's parameters."""
        self._queued = False
        world = dist.get_world_size()
        with xp.no_grad():
            for bucket in self._buckets():
                # one message per bucket: the gradients, then how many ranks have one
                grads, has = [], []
                for p in bucket:
                    g = p.grad
                    has.append(g is not None)
                    grads.append(xp.reshape(g if g is not None else xp.zeros_like(p), (-1,)))
                p0 = bucket[0]
                grads.append(xp.asarray([float(h) for h in has], dtype=p0.dtype, device=p0.device))
                flat = xp.concat(grads)
                dist.all_reduce(flat, dist.ReduceOp.SUM)
                n_total = flat.shape[0] - len(bucket)
                counts = flat[n_total:].tolist()
                flat = flat[:n_total] / world
                offset = 0
                for p, count in zip(bucket, counts):
                    n = p.size
                    if count:   # no rank has a gradient: leave grad None, as PyTorch does
                        p.grad = xp.reshape(flat[offset:offset + n], p.shape)
                    offset += n
