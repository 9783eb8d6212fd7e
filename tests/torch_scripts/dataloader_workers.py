"""Data loading as the 'Datasets & DataLoaders' tutorial and PyTorch's examples write
it: a map-style Dataset, an IterableDataset sharded with get_worker_info, samplers,
and worker processes (num_workers=2, worker_init_fn, persistent_workers).

Shuffled orders come from each framework's own generator, so for those the script
prints what does not depend on the stream (sizes, the multiset of indices seen); the
values printed are rounded to 4 decimals."""
import math

import numpy as np
import torch
from torch.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, IterableDataset,
                              RandomSampler, SequentialSampler, Subset, SubsetRandomSampler,
                              TensorDataset, WeightedRandomSampler, default_collate,
                              get_worker_info, random_split)

rng = np.random.default_rng(0)
FEATURES = rng.normal(size=(20, 3)).astype(np.float32)


class SquaresDataset(Dataset):
    """Item i: (features[i], i * i, a dict with the index as a string)."""

    def __len__(self):
        return len(FEATURES)

    def __getitem__(self, i):
        return torch.from_numpy(FEATURES[i]), i * i, {"name": str(i)}


class RangeStream(IterableDataset):
    """0..n-1, split between workers as the IterableDataset docs show."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            lo, hi = 0, self.n
        else:
            per = int(math.ceil(self.n / info.num_workers))
            lo = info.id * per
            hi = min(lo + per, self.n)
        return iter(torch.tensor([i]) for i in range(lo, hi))


def seed_worker(worker_id):
    info = get_worker_info()
    assert info is not None and info.id == worker_id and info.num_workers == 2


def main():
    ds = SquaresDataset()
    print("len:", len(ds), "item 3:", [round(v, 4) for v in ds[3][0].tolist()], ds[3][1])

    batch = next(iter(DataLoader(ds, batch_size=4)))
    x, sq, meta = batch
    print("batch:", tuple(x.shape), sq.tolist(), meta["name"])
    print("default_collate:", default_collate([(1, 2), (3, 4)]))

    print("sequential:", list(SequentialSampler(range(5))))
    print("batches:", list(BatchSampler(SequentialSampler(range(7)), batch_size=3,
                                        drop_last=False)))
    print("drop_last:", list(BatchSampler(range(7), 3, True)))

    g = torch.Generator().manual_seed(0)
    seen = sorted(i for i in RandomSampler(ds, generator=g))
    print("random sampler is a permutation:", seen == list(range(len(ds))))
    picks = set(WeightedRandomSampler([0, 0, 1, 1, 0], num_samples=50, replacement=True))
    print("weighted picks:", sorted(picks))
    sub = sorted(SubsetRandomSampler([2, 4, 6]))
    print("subset random:", sub)
    huge = RandomSampler(ds, replacement=True, num_samples=10 ** 10)
    first = next(iter(DataLoader(ds, batch_size=5, sampler=huge)))
    print("lazy sampler, first batch:", tuple(first[0].shape), "len:", len(huge))

    subset = Subset(ds, [1, 3, 5])
    both = ConcatDataset([subset, TensorDataset(torch.arange(4))])
    print("subset:", [subset[i][1] for i in range(len(subset))], "concat len:", len(both),
          "item 4:", both[4][0].item())
    train, val = random_split(range(10), [7, 3], generator=torch.Generator().manual_seed(1))
    print("random_split sizes:", len(train), len(val), sorted(list(train) + list(val)))

    loader0 = DataLoader(ds, batch_size=6, shuffle=False, num_workers=0)
    loader2 = DataLoader(ds, batch_size=6, shuffle=False, num_workers=2,
                         worker_init_fn=seed_worker, persistent_workers=True, pin_memory=True)
    same = all(torch.equal(a[0], b[0]) and a[1].tolist() == b[1].tolist()
               for a, b in zip(loader0, loader2))
    print("2 workers give the batches of 0:", same, "batches:", len(loader2))
    for epoch in range(2):
        total = sum(b[1].sum().item() for b in loader2)
        print(f"epoch {epoch}: sum of squares {total}")

    shuffled = DataLoader(ds, batch_size=6, shuffle=True, num_workers=2,
                          generator=torch.Generator().manual_seed(3))
    order = [i for b in shuffled for i in b[2]["name"]]
    print("shuffled epoch covers the data:", sorted(map(int, order)) == list(range(len(ds))))

    stream = DataLoader(RangeStream(10), batch_size=None, num_workers=2)
    print("iterable dataset with 2 workers:", sorted(t.item() for t in stream))
    means = [round(b[0].mean().item(), 4) for b in DataLoader(ds, batch_size=10)]
    print("batch means:", means)
    print("done")


if __name__ == "__main__":
    main()
