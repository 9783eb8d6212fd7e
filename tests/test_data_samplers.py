"""Issue 15, item 6 (in-process part): samplers, datasets, ``default_collate`` and the
DataLoader's argument checks as PyTorch's ``torch.utils.data``, a loader that reads its
sampler lazily, and ``arraylib.utils.data``.  Compared with PyTorch where the result is
deterministic."""
from __future__ import annotations

import collections
import time
import tracemalloc

import numpy as np
import pytest

import arraylib as al
from arraylib.data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset,
                           IterableDataset, RandomSampler, Sampler, SequentialSampler, Subset,
                           SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                           default_collate, get_worker_info, random_split)
from arraylib.utils.data import DataLoader as DL
from arraylib.utils.data.dataloader import default_collate as dc
from arraylib.utils.data.distributed import DistributedSampler
from arraylib.utils.data.sampler import RandomSampler as RS
import arraylib.utils
import arraylib.utils.data as utils_data
from conftest import to_numpy


def _gen(seed):
    return al.Generator().manual_seed(seed)


class Range(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


# -- samplers ------------------------------------------------------------------------------
def test_sequential_and_batch_sampler_match_pytorch(torch):
    tud = torch.utils.data
    for n in (0, 1, 7, 12):
        assert list(SequentialSampler(range(n))) == list(tud.SequentialSampler(range(n)))
        assert len(SequentialSampler(range(n))) == n
        for bs in (1, 3, 4, 20):
            for drop_last in (False, True):
                ours = BatchSampler(SequentialSampler(range(n)), bs, drop_last)
                theirs = tud.BatchSampler(tud.SequentialSampler(range(n)), bs, drop_last)
                assert list(ours) == list(theirs)
                assert len(ours) == len(theirs)


def test_batch_sampler_reads_its_sampler_lazily():
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    it = iter(BatchSampler(endless(), 3, False))
    assert next(it) == [0, 1, 2] and next(it) == [3, 4, 5]


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, None])
def test_batch_sampler_argument_checks_match_pytorch(torch, bad):
    with pytest.raises(ValueError) as theirs:
        torch.utils.data.BatchSampler(range(3), bad, False)
    with pytest.raises(type(theirs.value), match="batch_size"):
        BatchSampler(range(3), bad, False)
    with pytest.raises(ValueError, match="drop_last"):
        BatchSampler(range(3), 2, "yes")


def test_random_sampler_permutations_and_seeds():
    ds = range(50)
    a = list(RandomSampler(ds, generator=_gen(3)))
    assert sorted(a) == list(range(50)) and a != list(range(50))
    assert a == list(RandomSampler(ds, generator=_gen(3)))
    assert a != list(RandomSampler(ds, generator=_gen(4)))
    # more samples than the data set: whole permutations, then part of one
    more = list(RandomSampler(ds, num_samples=120, generator=_gen(0)))
    assert len(more) == 120
    assert sorted(more[:50]) == list(range(50)) and sorted(more[50:100]) == list(range(50))
    assert len(set(more[100:])) == 20
    fewer = list(RandomSampler(ds, num_samples=10, generator=_gen(0)))
    assert len(fewer) == 10 and len(set(fewer)) == 10
    # the default generator: manual_seed reproduces the order, two epochs differ
    s = RandomSampler(ds)
    al.manual_seed(7)
    e1, e2 = list(s), list(s)
    al.manual_seed(7)
    assert list(s) == e1 and e1 != e2


def test_random_sampler_with_replacement():
    s = RandomSampler(range(5), replacement=True, num_samples=3000, generator=_gen(1))
    draws = list(s)
    assert len(draws) == len(s) == 3000 and set(draws) == set(range(5))
    counts = np.bincount(draws, minlength=5)
    assert counts.min() > 450 and counts.max() < 750  # uniform: 600 each, std ~ 22
    assert draws == list(RandomSampler(range(5), replacement=True, num_samples=3000,
                                       generator=_gen(1)))


@pytest.mark.parametrize("kwargs", [dict(replacement=1), dict(replacement="yes"),
                                    dict(num_samples=0), dict(num_samples=-3),
                                    dict(num_samples=2.5)])
def test_random_sampler_argument_checks_match_pytorch(torch, kwargs):
    with pytest.raises((TypeError, ValueError)) as theirs:
        torch.utils.data.RandomSampler(range(4), **kwargs)
    with pytest.raises(type(theirs.value)):
        RandomSampler(range(4), **kwargs)


def test_endless_random_sampler_is_read_lazily_by_the_loader():
    ds = TensorDataset(al.arange(100.0), al.arange(100))
    sampler = RandomSampler(ds, replacement=True, num_samples=10 ** 10, generator=_gen(0))
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        dl = DataLoader(ds, batch_size=8, sampler=sampler)
        assert len(dl) == 10 ** 10 // 8
        it = iter(dl)
        batches = [next(it) for _ in range(50)]
        elapsed = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 5 and peak < 20 * 2 ** 20
    x, y = batches[0]
    assert x.shape == (8,) and to_numpy(y).max() < 100
    np.testing.assert_array_equal(to_numpy(x), to_numpy(y).astype(np.float64))


def test_subset_random_sampler():
    idx = [10, 20, 30, 40, 50]
    a = list(SubsetRandomSampler(idx, generator=_gen(2)))
    assert sorted(a) == idx and len(SubsetRandomSampler(idx)) == 5
    assert a == list(SubsetRandomSampler(idx, generator=_gen(2)))


def test_weighted_random_sampler_with_replacement():
    w = [0.0, 1.0, 3.0, 6.0]
    draws = list(WeightedRandomSampler(w, 20000, generator=_gen(5)))
    assert len(draws) == 20000 and 0 not in draws
    freq = np.bincount(draws, minlength=4) / 20000
    np.testing.assert_allclose(freq, [0, 0.1, 0.3, 0.6], atol=0.02)
    assert draws == list(WeightedRandomSampler(al.asarray(w), 20000, generator=_gen(5)))


def test_weighted_random_sampler_without_replacement():
    w = [5.0, 0.0, 1.0, 1.0, 0.5]
    firsts = []
    for seed in range(300):
        d = list(WeightedRandomSampler(w, 4, replacement=False, generator=_gen(seed)))
        assert sorted(d) == [0, 2, 3, 4]  # each index at most once, the zero weight never
        firsts.append(d[0])
    # the first draw has probability w / sum(w): index 0 about 67% of the time
    assert 0.55 < firsts.count(0) / 300 < 0.78
    with pytest.raises(RuntimeError, match="without replacement"):
        WeightedRandomSampler(w, 5, replacement=False)


@pytest.mark.parametrize("args", [([1.0, 2.0], 0), ([1.0, 2.0], -1), ([1.0, 2.0], 1.5),
                                  ([1.0, 2.0], True), ([1.0, 2.0], 2, "yes"),
                                  ([[1.0, 2.0]], 2)])
def test_weighted_random_sampler_argument_checks_match_pytorch(torch, args):
    with pytest.raises(ValueError) as theirs:
        torch.utils.data.WeightedRandomSampler(*args)
    with pytest.raises(type(theirs.value)):
        WeightedRandomSampler(*args)


def test_sampler_base_and_subclass():
    class Evens(Sampler):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(0, self.n, 2))

        def __len__(self):
            return (self.n + 1) // 2

    dl = DataLoader(Range(9), batch_size=2, sampler=Evens(9))
    assert [b.tolist() for b in dl] == [[0, 2], [4, 6], [8]] and len(dl) == 3
    with pytest.raises(NotImplementedError):
        iter(Sampler())


# -- data sets --------------------------------------------------------------------------------
def test_subset_and_concat_indices_match_pytorch(torch):
    tud = torch.utils.data
    parts = [Range(3), Range(5), Range(2)]
    tparts = [tud.Subset(range(3), range(3)), tud.Subset(range(5), range(5)),
              tud.Subset(range(2), range(2))]
    c, tc = ConcatDataset(parts), tud.ConcatDataset(tparts)
    assert len(c) == len(tc) and c.cumulative_sizes == tc.cumulative_sizes
    assert [c[i] for i in range(-10, 10)] == [tc[i] for i in range(-10, 10)]
    with pytest.raises(IndexError):
        c[-11]
    s, ts = Subset(c, [9, 0, 4, 3]), tud.Subset(tc, [9, 0, 4, 3])
    assert [s[i] for i in range(4)] == [ts[i] for i in range(4)]
    assert s.__getitems__([3, 1]) == ts.__getitems__([3, 1])
    with pytest.raises(TypeError, match="IterableDataset"):
        ConcatDataset([Range(2), Stream(2)])


def test_random_split_lengths_match_pytorch(torch):
    for n, fr in ((10, [0.3, 0.7]), (11, [0.5, 0.5]), (7, [0.2, 0.2, 0.6])):
        ours = random_split(Range(n), fr, generator=_gen(0))
        theirs = torch.utils.data.random_split(range(n), fr)
        assert [len(s) for s in ours] == [len(s) for s in theirs]
        assert sorted(i for s in ours for i in s.indices) == list(range(n))


def test_iterable_dataset_in_process():
    assert [b.tolist() for b in DataLoader(Stream(7), batch_size=3)] == [[0, 1, 2], [3, 4, 5],
                                                                          [6]]
    assert [b.tolist() for b in DataLoader(Stream(7), batch_size=3, drop_last=True)] == \
        [[0, 1, 2], [3, 4, 5]]
    assert list(DataLoader(Stream(3), batch_size=None)) == [0, 1, 2]
    assert len(DataLoader(Stream(7), batch_size=3)) == 3
    chain = Stream(2) + Stream(3)
    assert isinstance(chain, ChainDataset) and list(chain) == [0, 1, 0, 1, 2]
    assert get_worker_info() is None


# -- default_collate --------------------------------------------------------------------------
def _structure(x, torch):
    """The structure of a collated batch, with leaves as (dtype kind, values)."""
    if isinstance(x, (al.Tensor, torch.Tensor)):
        a = to_numpy(x) if isinstance(x, al.Tensor) else x.numpy()
        return ("tensor", a.dtype.kind, a.tolist())
    if isinstance(x, dict):
        return (type(x).__name__, {k: _structure(v, torch) for k, v in x.items()})
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return (type(x).__name__, [_structure(v, torch) for v in x])
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [_structure(v, torch) for v in x])
    return (type(x).__name__, x)


Pair = collections.namedtuple("Pair", "a b")


def _samples(lib, i):
    t = lambda v: lib.asarray(v) if lib is al else lib.as_tensor(v)
    return {"x": t([float(i), 2.0 * i]), "label": i, "w": 0.5 * i, "ok": i % 2 == 0,
            "name": f"s{i}", "pair": (i, t([i, i])), "lst": [i, 1.5],
            "nt": Pair(i, t(float(i))), "od": collections.OrderedDict(b=i, a=t(i)),
            "arr": np.array([i, i + 1], dtype=np.float32)}


def test_default_collate_structure_matches_pytorch(torch):
    ours = default_collate([_samples(al, i) for i in range(3)])
    theirs = torch.utils.data.default_collate([_samples(torch, i) for i in range(3)])
    assert _structure(ours, torch) == _structure(theirs, torch)
    assert isinstance(ours["nt"], Pair) and isinstance(ours["od"], collections.OrderedDict)
    assert ours["label"].dtype == al.int64 and ours["w"].dtype == al.float64
    assert ours["ok"].dtype == al.bool and ours["arr"].dtype == al.float32


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="dtype"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_tensor_dataset_batches_are_lists_as_in_pytorch(torch):
    ds = TensorDataset(al.arange(6.0), al.arange(6))
    tds = torch.utils.data.TensorDataset(torch.arange(6.0), torch.arange(6))
    for kw in (dict(batch_size=4), dict(batch_size=4, sampler=[5, 1, 2]),
               dict(batch_size=None)):
        ours, theirs = list(DataLoader(ds, **kw)), list(torch.utils.data.DataLoader(tds, **kw))
        assert [_structure(b, torch) for b in ours] == [_structure(b, torch) for b in theirs]


# -- the DataLoader's argument checks -------------------------------------------------------
_BAD = [dict(num_workers=-1), dict(timeout=-1), dict(prefetch_factor=2),
        dict(num_workers=1, prefetch_factor=-1), dict(persistent_workers=True),
        dict(sampler=[0, 1], shuffle=True), dict(batch_sampler=[[0]], batch_size=2),
        dict(batch_sampler=[[0]], shuffle=True), dict(batch_sampler=[[0]], sampler=[0]),
        dict(batch_sampler=[[0]], drop_last=True), dict(batch_size=None, drop_last=True),
        dict(batch_size=0), dict(batch_size=-2)]


@pytest.mark.parametrize("kwargs", _BAD, ids=[",".join(k) for k in _BAD])
def test_loader_argument_checks_match_pytorch(torch, kwargs):
    with pytest.raises(ValueError) as theirs:
        torch.utils.data.DataLoader(list(range(4)), **kwargs)
    with pytest.raises(type(theirs.value)):
        DataLoader(Range(4), **kwargs)


@pytest.mark.parametrize("kwargs", [dict(shuffle=True), dict(sampler=[0]),
                                    dict(batch_sampler=[[0]])])
def test_iterable_dataset_refuses_samplers_as_pytorch(torch, kwargs):
    class TStream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(3))

    with pytest.raises(ValueError, match="IterableDataset"):
        torch.utils.data.DataLoader(TStream(), **kwargs)
    with pytest.raises(ValueError, match="IterableDataset"):
        DataLoader(Stream(3), **kwargs)


def test_loader_options_accepted():
    dl = DataLoader(Range(5), batch_size=2, pin_memory=True, pin_memory_device="cpu",
                    shuffle=False)
    assert [b.tolist() for b in dl] == [[0, 1], [2, 3], [4]]
    assert isinstance(dl.sampler, SequentialSampler) and isinstance(dl.batch_sampler,
                                                                    BatchSampler)
    assert isinstance(DataLoader(Range(5), shuffle=True).sampler, RandomSampler)
    assert DataLoader(Range(5), batch_sampler=[[0, 1]]).batch_size is None
    with pytest.raises(TypeError):
        DataLoader(Range(5), no_such_option=1)


def test_shuffle_order_from_the_generator():
    ds = TensorDataset(al.arange(30))
    order = lambda **kw: [i for (b,) in DataLoader(ds, batch_size=4, **kw) for i in b.tolist()]
    a = order(shuffle=True, generator=_gen(11))
    assert a == order(shuffle=True, generator=_gen(11)) and sorted(a) == list(range(30))
    # the fast TensorDataset path and the sampler path draw the same order
    g = _gen(11)  # one generator: the base seed, then the permutation
    assert a == order(sampler=RandomSampler(ds, generator=g), generator=g)
    al.manual_seed(4)
    b = order(shuffle=True)
    al.manual_seed(4)
    assert order(shuffle=True) == b


# -- arraylib.utils.data ---------------------------------------------------------------------------
def test_utils_data_is_data():
    assert utils_data is al.data and arraylib.utils.data is al.data
    assert DL is DataLoader and dc is default_collate and RS is RandomSampler
    assert issubclass(DistributedSampler, Sampler)
