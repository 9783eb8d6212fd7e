"""Worker processes of the ``DataLoader`` (``num_workers > 0``).

Each worker is a process (fork context on Linux) with one queue of tasks (fed by a thread,
so handing out a task never blocks the main process) and one pipe of results.  The main
process hands out at most ``prefetch_factor * num_workers`` tasks at a time, round-robin,
reads the sampler lazily, and returns the batches in the order of the sampler
(``in_order=True``).  It waits on the results and on the workers' process sentinels
together, so a worker that dies (``os._exit``, a signal) is noticed at once and reported
with its id and exit status; a worker that raises sends its traceback, which is raised
again in the main process (as the same exception type where it can be rebuilt, as PyTorch
does).  Workers exit when told, when their parent is gone, and are terminated after a
grace period otherwise: none is left behind when the loop finishes, breaks early, or its
iterator is garbage collected.
"""
from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import multiprocessing.connection as mpc
import os
import pickle
import queue
import random
import signal
import sys
import time
import traceback

import arraylib as al

from ._collate import default_collate
from .dataset import IterableDataset, TensorDataset
from .sampler import draw_seed

__all__ = ["WorkerInfo", "get_worker_info"]

_POLL_S = 1.0  # how often an idle worker checks that its parent is alive
_JOIN_S = 2.0  # grace period of a worker at shutdown before it is terminated
_worker_info = None
# The queues, pipes and processes of live iterators, held here too: an iterator caught in a
# reference cycle (a traceback that kept it) is collected with them otherwise, and a
# collected queue stops its feeder thread (a pipe closes itself) before the iterator's
# __del__ can use them to stop the workers.
_LIVE = {}


@dataclasses.dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker process."""
    id: int
    num_workers: int
    seed: int
    dataset: object


def get_worker_info():
    """In a worker process: its ``WorkerInfo`` (``id``, ``num_workers``, ``seed``, the
    worker's copy of ``dataset``); in the main process: None."""
    return _worker_info


class Fetcher:
    """Turns one task (a list of indices, an index, or None for an iterable data set) into
    a batch; shared by the single-process loader and the workers."""

    def __init__(self, dataset, auto_collation, collate_fn, drop_last, batch_size):
        self.dataset = dataset
        self.auto, self.collate = auto_collation, collate_fn
        self.drop_last, self.batch_size = drop_last, batch_size
        self.iterable = isinstance(dataset, IterableDataset)
        self.rows = (auto_collation and not self.iterable and collate_fn is default_collate
                     and isinstance(dataset, TensorDataset))
        self._it, self._ended = None, False

    def reset(self):
        """A new epoch of an iterable data set starts from a fresh iterator."""
        self._it, self._ended = None, False

    def __call__(self, index):
        if self.iterable:
            return self._next_iterable()
        ds = self.dataset
        if not self.auto:
            return self.collate(ds[index])
        if self.rows:
            ix = al.asarray(index, dtype=al.int64, device=ds.tensors[0].device)
            return [al.take(t, ix, axis=0) for t in ds.tensors]
        getitems = getattr(ds, "__getitems__", None)
        return self.collate(getitems(index) if getitems is not None else [ds[i] for i in index])

    def _next_iterable(self):
        """The next batch (or sample); StopIteration at the end, and ever after."""
        if self._ended:
            raise StopIteration
        if self._it is None:
            self._it = iter(self.dataset)
        if not self.auto:
            try:
                return self.collate(next(self._it))
            except StopIteration:
                self._ended = True
                raise
        batch = list(itertools.islice(self._it, self.batch_size))
        if not batch or (self.drop_last and len(batch) < self.batch_size):
            self._ended = True
            raise StopIteration
        return self.collate(batch)


class WorkerError:
    """An exception raised in a worker, carried to the main process with its traceback."""

    def __init__(self, worker_id, where=""):
        exc_type, exc, _ = sys.exc_info()
        self.worker_id, self.where = worker_id, where
        self.exc_type = exc_type
        self.text = "".join(traceback.format_exception(exc_type, exc, exc.__traceback__))

    def __reduce__(self):
        try:  # the type travels by reference where it can (a class defined at module level)
            pickle.dumps(self.exc_type)
            exc_type = self.exc_type
        except Exception:
            exc_type = RuntimeError
        return _rebuild_error, (self.worker_id, self.where, exc_type, self.text)

    def exception(self):
        msg = (f"Caught {self.exc_type.__name__} in DataLoader worker process {self.worker_id}"
               f"{self.where}.\nOriginal traceback in the worker:\n{self.text}")
        try:
            return self.exc_type(msg)
        except Exception:
            return RuntimeError(msg)


def _rebuild_error(worker_id, where, exc_type, text):
    err = WorkerError.__new__(WorkerError)
    err.worker_id, err.where, err.exc_type, err.text = worker_id, where, exc_type, text
    return err


def _seed_worker(seed, base_seed, worker_id):
    """``random`` and arraylib's default generator from ``seed`` (= base_seed + id); NumPy's
    global generator too, where the program has already imported NumPy (read from
    ``sys.modules``: this module does not import NumPy itself)."""
    random.seed(seed)
    al.manual_seed(seed)
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed([worker_id, base_seed & 0xFFFFFFFF, base_seed >> 32, 0x9E3779B9])


def _worker_loop(worker_id, num_workers, base_seed, fetcher, init_fn, tasks, results,
                 parent_pid):
    """The body of a worker process: answer every task with ("ok", batch), ("end", None)
    when an iterable data set is exhausted, or ("err", WorkerError)."""
    global _worker_info
    try:
        seed = base_seed + worker_id
        _seed_worker(seed, base_seed, worker_id)
        _worker_info = WorkerInfo(worker_id, num_workers, seed, fetcher.dataset)
        failure = None
        if init_fn is not None:
            try:
                init_fn(worker_id)
            except Exception:
                failure = WorkerError(worker_id, " (in worker_init_fn)")
        while True:
            try:
                task = tasks.get(timeout=_POLL_S)
            except queue.Empty:
                if os.getppid() != parent_pid:
                    return
                continue
            if task is None:
                return
            if task == "reset":
                fetcher.reset()
                continue
            epoch, idx, index = task
            if failure is not None:
                reply = ("err", failure)
            else:
                try:
                    reply = ("ok", fetcher(index))
                except Exception as e:
                    reply = ("end", None) if isinstance(e, StopIteration) and fetcher.iterable \
                        else ("err", WorkerError(worker_id))
            try:
                results.send((epoch, idx) + reply)
            except OSError:
                raise
            except Exception:  # a batch that cannot be pickled: nothing was written yet
                results.send((epoch, idx, "err", WorkerError(worker_id, " (sending the batch)")))
    except (KeyboardInterrupt, EOFError, BrokenPipeError):
        pass


def _context(spec):
    if spec is None:
        methods = multiprocessing.get_all_start_methods()
        return multiprocessing.get_context("fork" if "fork" in methods else None)
    if isinstance(spec, str):
        return multiprocessing.get_context(spec)
    return spec


def _exit_status(code):
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class MultiProcessIter:
    """The iterator of a ``DataLoader`` with workers (reused across epochs when
    ``persistent_workers=True``).  It keeps no reference to the loader."""

    def __init__(self, loader):
        self._shut = True  # until the workers exist
        n = self._n = loader.num_workers
        self._iterable = loader._iterable
        self._index_sampler = loader._index_sampler
        self._ahead = max(1, loader.prefetch_factor * n)
        self._timeout = loader.timeout
        self._persistent = loader.persistent_workers
        self._in_order = loader.in_order
        fetcher = Fetcher(loader.dataset, loader._auto_collation, loader.collate_fn,
                          loader.drop_last, loader.batch_size)
        base_seed = draw_seed(loader.generator)
        ctx = _context(loader.multiprocessing_context)
        self._workers, self._tasks, self._results = [], [], []
        _LIVE[id(self)] = (self._workers, self._tasks, self._results)
        self._shut = False
        try:
            for wid in range(n):
                tasks = ctx.Queue()
                self._tasks.append(tasks)
                res_r, res_w = ctx.Pipe(duplex=False)
                self._results.append(res_r)
                p = ctx.Process(target=_worker_loop, name=f"DataLoader worker {wid}", daemon=True,
                                args=(wid, n, base_seed, fetcher, loader.worker_init_fn,
                                      tasks, res_w, os.getpid()))
                p.start()
                res_w.close()  # the worker holds the only writing end: its death is EOF
                self._workers.append(p)
        except BaseException:
            self._shutdown()
            raise
        self._epoch = 0
        self._begin()

    # -- epochs ----------------------------------------------------------------------------
    def _begin(self):
        self._epoch += 1
        if self._epoch > 1:
            for w in range(self._n):
                self._send(w, "reset")
        self._sampler_iter = None if self._iterable else iter(self._index_sampler)
        self._exhausted = False
        self._send_idx = self._rcvd_idx = 0
        self._pending = {}  # task index -> worker id, for tasks not yet handed out
        self._buffer = {}  # task index -> (kind, payload), received
        self._active = [True] * self._n
        self._next_worker = 0
        self._done = False
        for _ in range(self._ahead):
            self._dispatch()

    def _reset(self):
        """Start the next epoch on the same workers (persistent workers)."""
        if self._shut:
            raise RuntimeError("DataLoader: the workers of this iterator were shut down")
        self._begin()

    def __iter__(self):
        return self

    # -- tasks and results -----------------------------------------------------------------
    def _send(self, w, msg):
        self._tasks[w].put(msg)

    def _dispatch(self):
        if self._exhausted:
            return
        if not self._iterable:
            try:
                index = next(self._sampler_iter)
            except StopIteration:
                self._exhausted = True
                return
        else:
            index = None
        for _ in range(self._n):
            w, self._next_worker = self._next_worker, (self._next_worker + 1) % self._n
            if self._active[w]:
                break
        else:
            self._exhausted = True
            return
        self._send(w, (self._epoch, self._send_idx, index))
        self._pending[self._send_idx] = w
        self._send_idx += 1

    def _ready(self):
        if self._in_order:
            return self._rcvd_idx if self._rcvd_idx in self._buffer else None
        return next(iter(self._buffer), None)

    def __next__(self):
        if self._done or self._shut:
            raise StopIteration
        deadline = time.monotonic() + self._timeout if self._timeout else None
        while True:
            key = self._ready()
            if key is None:
                if not self._pending:
                    self._finish()
                    raise StopIteration
                self._receive(deadline)
                continue
            kind, payload = self._buffer.pop(key)
            w = self._pending.pop(key)
            if key == self._rcvd_idx:
                self._rcvd_idx += 1
            if kind == "end":
                self._active[w] = False
            self._dispatch()
            if kind == "ok":
                return payload
            if kind == "err":
                raise payload.exception()

    def _receive(self, deadline):
        conns = {c: w for w, c in enumerate(self._results)}
        sentinels = {p.sentinel: w for w, p in enumerate(self._workers)}
        wait_s = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready = mpc.wait(list(conns) + list(sentinels), timeout=wait_s)
        if not ready:
            raise RuntimeError(f"DataLoader: timed out after {self._timeout} seconds waiting "
                               f"for a batch from its {self._n} worker processes")
        died = None
        for r in ready:
            if r not in sentinels:
                try:
                    epoch, idx, kind, payload = r.recv()
                except (EOFError, OSError):
                    died = conns[r]
                    continue
                if epoch == self._epoch:
                    self._buffer[idx] = (kind, payload)
            else:
                died = sentinels[r]
        if died is not None:
            self._worker_died(died)

    def _worker_died(self, w):
        p = self._workers[w]
        p.join(timeout=_JOIN_S)
        status = _exit_status(p.exitcode)
        self._shutdown()
        raise RuntimeError(f"DataLoader worker {w} (pid {p.pid}) exited unexpectedly "
                           f"({status}) while the loader was waiting for its batches")

    # -- shutdown --------------------------------------------------------------------------
    def _finish(self):
        self._done = True
        if not self._persistent:
            self._shutdown()

    def _shutdown(self):
        """Tell every worker to stop, drain their results meanwhile, terminate the ones that
        do not stop within the grace period, and reap them all."""
        if self._shut:
            return
        self._shut = True
        try:
            for q in self._tasks:
                try:
                    q.put(None)
                except (OSError, ValueError):
                    pass
            try:
                self._drain(time.monotonic() + _JOIN_S)
            except (OSError, ValueError):
                pass
            for p in self._workers:
                if p.is_alive():
                    p.terminate()
            for p in self._workers:
                p.join(timeout=_JOIN_S)
                if p.is_alive():
                    p.kill()
                    p.join()
        finally:
            for q in self._tasks:
                q.cancel_join_thread()  # never wait at exit on tasks nobody reads
                q.close()
            for c in self._results:
                c.close()
            _LIVE.pop(id(self), None)

    def _drain(self, deadline):
        conns = list(self._results)
        alive = [p for p in self._workers if p.is_alive()]
        while alive and time.monotonic() < deadline:
            for r in mpc.wait(conns + [p.sentinel for p in alive], timeout=0.05):
                if r in conns:
                    try:
                        r.recv()
                    except (EOFError, OSError):
                        conns.remove(r)
            alive = [p for p in alive if p.is_alive()]

    def __del__(self):
        try:
            self._shutdown()
        except Exception:
            pass
