"""Issue 15, item 6 (worker part): ``DataLoader(num_workers > 0)`` runs real worker
processes: the same batches as in-process for the same generator, IterableDataset sharding
through ``get_worker_info``, per-worker seeds, ``worker_init_fn``, persistent workers,
prefetching from a lazily read sampler, ``timeout``, a prompt and clear error when a worker
dies or raises, and no process left behind however the loop ends."""
from __future__ import annotations

import collections
import gc
import multiprocessing
import os
import signal
import time

import numpy as np
import pytest

import arraylib as al
from arraylib.data import (DataLoader, Dataset, IterableDataset, RandomSampler, TensorDataset,
                           get_worker_info)
from conftest import to_numpy


def _gen(seed):
    return al.Generator().manual_seed(seed)


def _gone(pid):
    """True when ``pid`` is neither running nor a zombie (it has been reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _assert_reaped(pids, within=5.0):
    deadline = time.monotonic() + within
    while not all(_gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert all(_gone(p) for p in pids), f"worker processes left behind: {pids}"


class Samples(Dataset):
    """Dict samples that say which process made them."""

    def __init__(self, n=23):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        w = get_worker_info()
        return {"x": al.full((2,), float(i)), "i": i, "name": f"s{i}",
                "worker": -1 if w is None else w.id, "pid": os.getpid()}


def _batches(ds, **kw):
    return [(to_numpy(b["x"]).tolist(), b["i"].tolist(), b["name"])
            for b in DataLoader(ds, **kw)]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("batch_size,drop_last", [(4, False), (4, True), (1, False)])
def test_two_workers_give_the_same_batches_as_none(shuffle, batch_size, drop_last):
    kw = dict(batch_size=batch_size, shuffle=shuffle, drop_last=drop_last)
    ours = _batches(Samples(), num_workers=0, generator=_gen(5), **kw)
    theirs = _batches(Samples(), num_workers=2, generator=_gen(5), **kw)
    assert ours == theirs and len(ours) == (5 if drop_last else 6 if batch_size == 4 else 23)


def test_tensor_dataset_and_samplers_with_workers():
    X = al.asarray(np.arange(40.0).reshape(20, 2))
    ds = TensorDataset(X, al.arange(20))
    for kw in (dict(shuffle=True), dict(sampler=RandomSampler(ds, replacement=True,
                                                              num_samples=30))):
        g0, g2 = _gen(1), _gen(1)
        if "sampler" in kw:
            kw0 = dict(sampler=RandomSampler(ds, replacement=True, num_samples=30, generator=g0))
            kw2 = dict(sampler=RandomSampler(ds, replacement=True, num_samples=30, generator=g2))
        else:
            kw0 = kw2 = kw
        a = list(DataLoader(ds, batch_size=3, generator=g0, **kw0))
        b = list(DataLoader(ds, batch_size=3, generator=g2, num_workers=2, **kw2))
        assert len(a) == len(b) > 0
        for (xa, ya), (xb, yb) in zip(a, b):
            np.testing.assert_array_equal(to_numpy(xa), to_numpy(xb))
            np.testing.assert_array_equal(to_numpy(ya), to_numpy(yb))
            np.testing.assert_array_equal(to_numpy(xb)[:, 0], 2 * to_numpy(yb))


def test_batch_size_none_and_batch_sampler_with_workers():
    singles = list(DataLoader(Samples(5), batch_size=None, num_workers=2))
    assert [s["i"] for s in singles] == list(range(5))
    assert {s["worker"] for s in singles} == {0, 1}
    got = [b["i"].tolist() for b in DataLoader(Samples(), batch_sampler=[[3, 1], [7], [0, 2]],
                                               num_workers=2)]
    assert got == [[3, 1], [7], [0, 2]]


def test_batches_come_from_the_workers_round_robin():
    batches = list(DataLoader(Samples(16), batch_size=2, num_workers=2))
    assert [b["worker"].tolist() for b in batches] == [[w, w] for w in (0, 1) * 4]
    pids = {b["pid"][0].item() for b in batches}
    assert len(pids) == 2 and os.getpid() not in pids
    _assert_reaped(pids)


# -- iterable data sets ------------------------------------------------------------------------
class Sharded(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        w = get_worker_info()
        start, step = (0, 1) if w is None else (w.id, w.num_workers)
        return iter(range(start, self.n, step))


class Unsharded(IterableDataset):
    def __iter__(self):
        return iter(range(5))


@pytest.mark.parametrize("batch_size", [None, 1, 3])
def test_iterable_dataset_sharded_by_worker_info(batch_size):
    flat = lambda dl: sorted(int(v) for b in dl for v in
                             (b.tolist() if isinstance(b, al.Tensor) and b.ndim else [b]))
    one = flat(DataLoader(Sharded(17), batch_size=batch_size))
    two = flat(DataLoader(Sharded(17), batch_size=batch_size, num_workers=2))
    three = flat(DataLoader(Sharded(17), batch_size=batch_size, num_workers=3,
                            prefetch_factor=1))
    assert one == two == three == list(range(17))


def test_iterable_dataset_order_matches_pytorch(torch):
    class TSharded(torch.utils.data.IterableDataset):
        def __iter__(self):
            w = torch.utils.data.get_worker_info()
            return iter(range(w.id, 11, w.num_workers))

    ours = [b.tolist() for b in DataLoader(Sharded(11), batch_size=2, num_workers=2)]
    theirs = [b.tolist() for b in torch.utils.data.DataLoader(TSharded(), batch_size=2,
                                                              num_workers=2)]
    assert ours == theirs


def test_unsharded_iterable_dataset_is_repeated_per_worker_as_in_pytorch():
    got = collections.Counter(int(v) for b in DataLoader(Unsharded(), batch_size=2,
                                                         num_workers=2) for v in b.tolist())
    assert got == {i: 2 for i in range(5)}
    dropped = list(DataLoader(Unsharded(), batch_size=2, drop_last=True, num_workers=2))
    assert len(dropped) == 4 and all(b.shape == (2,) for b in dropped)


# -- seeds, worker_init_fn, worker info ----------------------------------------------------
class Info(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        w = get_worker_info()
        return {"id": w.id, "num": w.num_workers, "seed": w.seed, "rand": float(al.rand(())),
                "init": os.environ.get("ARRAYLIB_TEST_WORKER_INIT", ""),
                "same": w.dataset is not None and len(w.dataset) == 4}


def _mark(worker_id):
    os.environ["ARRAYLIB_TEST_WORKER_INIT"] = f"init{worker_id}"


def test_worker_seeds_info_and_init_fn():
    dl = lambda g: DataLoader(Info(), batch_size=None, num_workers=2, worker_init_fn=_mark,
                              generator=g)
    a, b, c = list(dl(_gen(0))), list(dl(_gen(0))), list(dl(_gen(1)))
    assert [s["id"] for s in a] == [0, 1, 0, 1] and all(s["num"] == 2 for s in a)
    assert [s["init"] for s in a] == ["init0", "init1"] * 2 and all(s["same"] for s in a)
    base = a[0]["seed"]
    assert [s["seed"] for s in a] == [base, base + 1] * 2
    assert a == b and a[0]["seed"] != c[0]["seed"]
    assert a[0]["rand"] != a[1]["rand"]  # each worker's default generator has its own seed
    # the worker's generator was seeded with its seed
    g = al.Generator().manual_seed(base)
    assert a[0]["rand"] == float(al.rand((), generator=g))
    assert get_worker_info() is None and "ARRAYLIB_TEST_WORKER_INIT" not in os.environ


def test_worker_init_fn_error_is_raised():
    def bad_init(worker_id):
        raise KeyError(f"no config for worker {worker_id}")

    with pytest.raises(KeyError, match="worker_init_fn"):
        list(DataLoader(Samples(4), num_workers=2, worker_init_fn=bad_init))


# -- persistent workers and shutdown ---------------------------------------------------------
def test_persistent_workers_survive_epochs():
    dl = DataLoader(Samples(8), batch_size=2, shuffle=True, num_workers=2,
                    persistent_workers=True, generator=_gen(3))
    pids, orders = [], []
    for _ in range(3):
        batches = list(dl)
        pids.append({p for b in batches for p in b["pid"].tolist()})
        orders.append([i for b in batches for i in b["i"].tolist()])
    assert pids[0] == pids[1] == pids[2] and len(pids[0]) == 2
    assert all(sorted(o) == list(range(8)) for o in orders) and orders[0] != orders[1]
    # a broken-off epoch does not leak into the next one
    it = iter(dl)
    next(it)
    assert sorted(i for b in dl for i in b["i"].tolist()) == list(range(8))
    del dl, it
    gc.collect()
    _assert_reaped(pids[0])


def test_non_persistent_workers_are_new_each_epoch():
    dl = DataLoader(Samples(4), batch_size=2, num_workers=2)
    first = {p for b in dl for p in b["pid"].tolist()}
    second = {p for b in dl for p in b["pid"].tolist()}
    assert first.isdisjoint(second)
    _assert_reaped(first | second)


def test_breaking_out_and_garbage_collection_shut_workers_down():
    dl = DataLoader(Samples(10 ** 6), batch_size=4, num_workers=2)
    for b in dl:
        pids = {b["pid"][0].item()}
        break
    gc.collect()
    _assert_reaped(pids)
    it = iter(dl)
    pids = {next(it)["pid"][0].item(), next(it)["pid"][0].item()}
    assert len(pids) == 2
    del it
    gc.collect()
    _assert_reaped(pids)


def test_endless_sampler_with_workers_is_read_lazily():
    ds = TensorDataset(al.arange(100))
    sampler = RandomSampler(ds, replacement=True, num_samples=10 ** 10, generator=_gen(0))
    t0 = time.perf_counter()
    it = iter(DataLoader(ds, batch_size=16, sampler=sampler, num_workers=2, prefetch_factor=3))
    first = [next(it) for _ in range(20)]
    assert time.perf_counter() - t0 < 20
    assert all(b[0].shape == (16,) for b in first)
    del it
    gc.collect()


# -- failures ------------------------------------------------------------------------------------
class Dies(Dataset):
    def __init__(self, how):
        self.how = how

    def __len__(self):
        return 12

    def __getitem__(self, i):
        if i == 5:
            if self.how == "exit":
                os._exit(3)
            os.kill(os.getpid(), signal.SIGKILL)
        return i


@pytest.mark.parametrize("how,status", [("exit", "exit code 3"),
                                        ("kill", "killed by signal SIGKILL")])
def test_a_dying_worker_raises_promptly(how, status):
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match=rf"DataLoader worker [01] \(pid \d+\) exited "
                                           rf"unexpectedly \({status}"):
        list(DataLoader(Dies(how), batch_size=2, num_workers=2))
    assert time.perf_counter() - t0 < 10
    gc.collect()
    assert not [p for p in multiprocessing.active_children()
                if p.name.startswith("DataLoader worker")]


class Raises(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 7:
            raise ValueError(f"sample {i} is corrupt")
        return i


def test_a_raising_worker_raises_with_its_traceback():
    dl = DataLoader(Raises(), batch_size=2, num_workers=2)
    got = []
    with pytest.raises(ValueError) as info:
        for b in dl:
            got.append(b.tolist())
    msg = str(info.value)
    assert got == [[0, 1], [2, 3], [4, 5]]
    assert "worker process 1" in msg and "sample 7 is corrupt" in msg
    assert "Original traceback" in msg and "__getitem__" in msg


class RaisesLate(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 7:
            raise ValueError("late")
        return os.getpid()


def test_an_iterator_kept_by_a_traceback_stops_its_workers_when_collected():
    """The error's traceback keeps the iterator in a reference cycle; the cyclic garbage
    collector still stops the workers, gracefully (well within the grace period)."""
    pids = set()
    with pytest.raises(ValueError, match="late") as info:
        for b in DataLoader(RaisesLate(), batch_size=2, num_workers=2):
            pids.update(b.tolist())
    assert len(pids) == 2
    del info
    t0 = time.monotonic()
    gc.collect()
    _assert_reaped(pids)
    assert time.monotonic() - t0 < 1.5


class Slow(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(30 if i == 2 else 0)
        return i


def test_timeout_raises():
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match="timed out after 0.5 seconds"):
        list(DataLoader(Slow(), batch_size=1, num_workers=2, timeout=0.5))
    assert time.perf_counter() - t0 < 15


class Unpicklable(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return lambda: i


def test_unpicklable_batch_is_reported():
    with pytest.raises(Exception, match="sending the batch"):
        list(DataLoader(Unpicklable(), batch_size=None, num_workers=1))


def test_in_order_false_gives_every_batch():
    got = sorted(i for b in DataLoader(Samples(13), batch_size=2, num_workers=3,
                                       in_order=False) for i in b["i"].tolist())
    assert got == list(range(13))


@pytest.mark.parametrize("context", ["spawn"])
def test_other_start_methods(context):
    got = [b.tolist() for b in DataLoader(Sharded(6), batch_size=2, num_workers=2,
                                          multiprocessing_context=context)]
    assert sorted(i for b in got for i in b) == list(range(6))
