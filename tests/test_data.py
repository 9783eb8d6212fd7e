"""arraylib.data: datasets, DataLoader behaviour, random_split, real data loaders."""
import collections
import os
import pickle

import numpy as np
import pytest

import arraylib as al
from arraylib.data import (ConcatDataset, DataLoader, Dataset, Subset, TensorDataset,
                           default_collate, random_split)
from conftest import to_numpy


def _tds(device="cpu", n=10):
    X = al.asarray(np.arange(n * 2, dtype=np.float32).reshape(n, 2), device=device)
    y = al.asarray(np.arange(n), device=device)
    return TensorDataset(X, y)


def test_tensor_dataset(device):
    ds = _tds(device)
    assert len(ds) == 10
    x, y = ds[3]
    assert x.shape == (2,) and int(y) == 3 and x.device == device
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(al.zeros(3), al.zeros(4))
    with pytest.raises(TypeError):
        TensorDataset([1, 2])


@pytest.mark.parametrize("drop_last", [False, True])
def test_loader_sequential(device, drop_last):
    dl = DataLoader(_tds(device), batch_size=4, drop_last=drop_last)
    batches = list(dl)
    assert len(batches) == len(dl) == (2 if drop_last else 3)
    xs = np.concatenate([to_numpy(b[1]) for b in batches])
    np.testing.assert_array_equal(xs, np.arange(8 if drop_last else 10))
    assert batches[0][0].shape == (4, 2) and batches[0][0].device == device


def test_loader_shuffle_seeded(device):
    ds = _tds(device, 37)
    order = lambda seed: np.concatenate([to_numpy(b[1]) for b in DataLoader(
        ds, batch_size=5, shuffle=True, generator=al.Generator().manual_seed(seed))])
    a, b, c = order(1), order(1), order(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert sorted(a.tolist()) == list(range(37))
    # features stay aligned with labels
    for x, y in DataLoader(ds, batch_size=8, shuffle=True):
        np.testing.assert_array_equal(to_numpy(x)[:, 0], 2 * to_numpy(y))
    # two epochs of one loader differ; the default generator is seedable
    dl = DataLoader(ds, batch_size=37, shuffle=True)
    al.manual_seed(0)
    e1 = to_numpy(next(iter(dl))[1])
    e2 = to_numpy(next(iter(dl))[1])
    al.manual_seed(0)
    np.testing.assert_array_equal(e1, to_numpy(next(iter(dl))[1]))
    assert not np.array_equal(e1, e2)


class Dicts(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": al.full((3,), float(i)), "label": i, "w": 0.5 * i, "name": f"s{i}",
                "pair": (i, al.asarray([i, i]))}


def test_collate_dicts_numbers_strings():
    b = next(iter(DataLoader(Dicts(), batch_size=3)))
    assert b["x"].shape == (3, 3) and b["label"].dtype == al.int64
    assert b["w"].dtype == al.float64 and b["name"] == ["s0", "s1", "s2"]
    assert b["pair"][0].shape == (3,) and b["pair"][1].shape == (3, 2)
    P = collections.namedtuple("P", "a b")
    out = default_collate([P(1, 2.0), P(3, 4.0)])
    assert isinstance(out, P) and out.b.dtype == al.float64
    assert default_collate([np.ones(2), np.zeros(2)]).shape == (2, 2)
    assert default_collate([True, False]).dtype == al.bool
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([object()])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [1]])


def test_generic_path_matches_fast_path():
    ds = _tds("cpu", 11)
    gen = lambda: al.Generator().manual_seed(3)
    fast = list(DataLoader(ds, batch_size=4, shuffle=True, generator=gen()))
    slow = list(DataLoader(ds, batch_size=4, shuffle=True, generator=gen(),
                           collate_fn=default_collate))
    for (a, b), (c, d) in zip(fast, slow):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(c))
        np.testing.assert_array_equal(to_numpy(b), to_numpy(d))


def test_sampler_batch_sampler_and_none_batch():
    ds = _tds()
    got = [int(y[0]) for _, y in DataLoader(ds, batch_size=1, sampler=[9, 0, 4])]
    assert got == [9, 0, 4]
    got = [to_numpy(y).tolist() for _, y in DataLoader(ds, batch_sampler=[[1, 2], [7]])]
    assert got == [[1, 2], [7]]
    singles = list(DataLoader(ds, batch_size=None))
    assert len(singles) == 10 and singles[0][0].shape == (2,)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=0)


def test_random_split_subset_concat():
    ds = _tds(n=10)
    a, b = random_split(ds, [7, 3], generator=al.Generator().manual_seed(0))
    assert len(a) == 7 and len(b) == 3
    idx = sorted(a.indices + b.indices)
    assert idx == list(range(10))
    a2, _ = random_split(ds, [7, 3], generator=al.Generator().manual_seed(0))
    assert a.indices == a2.indices
    f = random_split(ds, [0.5, 0.5])
    assert [len(s) for s in f] == [5, 5]
    with pytest.raises(ValueError, match="sum of input lengths"):
        random_split(ds, [3, 3])
    s = Subset(ds, [4, 2])
    assert int(s[1][1]) == 2 and len(s) == 2
    c = ds + s
    assert isinstance(c, ConcatDataset) and len(c) == 12 and int(c[11][1]) == 2
    assert int(c[-1][1]) == 2
    batches = list(DataLoader(a, batch_size=4))
    assert batches[0][0].shape == (4, 2)


def test_load_digits_and_moons():
    X, y = al.data.load_digits()
    assert X.shape == (1797, 64) and X.dtype == al.float32 and y.dtype == al.int64
    assert 0.0 <= float(al.min(X)) and float(al.max(X)) <= 1.0
    Xi, _ = al.data.load_digits(images=True, size=32, channels=3, device="strict:device1")
    assert Xi.shape == (1797, 3, 32, 32) and Xi.device == "strict:device1"
    v = to_numpy(Xi[0, 0])
    np.testing.assert_array_equal(v[:4, :4], v[0, 0])
    with pytest.raises(ValueError, match="multiple of 8"):
        al.data.load_digits(images=True, size=30)
    Xm, ym = al.data.make_moons(200, noise=0.1, random_state=1)
    assert Xm.shape == (200, 2) and set(to_numpy(ym).tolist()) == {0, 1}
    a_tr, a_te, b_tr, b_te = al.data.train_test_split(Xm, ym, test_size=0.25)
    assert a_tr.shape == (150, 2) and b_te.shape == (50,)


def _write_cifar(folder, name, n, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).tolist()
    with open(os.path.join(folder, name), "wb") as f:
        pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                     b"filenames": [b"x.png"] * n}, f)
    return data, labels


def test_load_cifar10(tmp_path, device):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    written = [_write_cifar(folder, f"data_batch_{i}", 4, i) for i in range(1, 6)]
    test_data, test_labels = _write_cifar(folder, "test_batch", 3, 9)
    X, y = al.data.load_cifar10(str(tmp_path), device=device)
    assert X.shape == (20, 3, 32, 32) and X.dtype == al.float32 and X.device == device
    expect = np.concatenate([d for d, _ in written]).reshape(20, 3, 32, 32) / 255.0
    np.testing.assert_allclose(to_numpy(X), expect, rtol=1e-6)
    assert to_numpy(y).tolist() == sum((lab for _, lab in written), [])
    Xt, yt = al.data.load_cifar10(str(folder), train=False)
    assert Xt.shape == (3, 3, 32, 32) and to_numpy(yt).tolist() == test_labels
    with pytest.raises(FileNotFoundError, match="load_cifar10"):
        al.data.load_cifar10(str(tmp_path / "nothing"))
