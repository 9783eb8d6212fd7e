"""``arraylib.nn.utils.rnn``: variable-length sequences for the recurrent layers, in
PyTorch's semantics (``PackedSequence``, ``pad_sequence``, ``pack_padded_sequence``,
``pad_packed_sequence``, ``pack_sequence``, ``unpad_sequence``, ``unpack_sequence``).

A packed sequence stores the steps of a batch sorted by decreasing length, time-major:
``data`` (sum(lengths), *) holds step 0 of every sequence, then step 1 of those that are
long enough, ...; ``batch_sizes[t]`` is the number of sequences at step ``t``.
"""
from __future__ import annotations

from collections import namedtuple

import arraylib as xp
from arraylib import Tensor

__all__ = ["PackedSequence", "pad_sequence", "pack_padded_sequence", "pad_packed_sequence",
           "pack_sequence", "unpad_sequence", "unpack_sequence", "invert_permutation"]

_Fields = namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices",
                                        "unsorted_indices"])


def invert_permutation(permutation):
    """The inverse of a permutation (an int64 tensor), or None for None."""
    if permutation is None:
        return None
    n = permutation.shape[0]
    return xp.scatter(xp.zeros((n,), dtype=xp.int64, device=permutation.device), 0,
                      permutation, xp.arange(n, dtype=xp.int64, device=permutation.device))


class PackedSequence(_Fields):
    """A batch of variable-length sequences, packed (see the module docstring).

    Fields: ``data``, ``batch_sizes`` (int64 on the CPU), ``sorted_indices`` and
    ``unsorted_indices`` (the permutation that sorted the batch by length, and its
    inverse; None when the batch came sorted)."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:  # PackedSequence(data_and_sizes_tuple)
            data, batch_sizes = data
        if not isinstance(batch_sizes, Tensor):
            batch_sizes = xp.asarray(list(batch_sizes), dtype=xp.int64)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """Move ``data`` (and the indices) like ``Tensor.to``; ``batch_sizes`` stays on the CPU."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        dev = data.device
        si = None if self.sorted_indices is None else self.sorted_indices.to(dev)
        ui = None if self.unsorted_indices is None else self.unsorted_indices.to(dev)
        return type(self)(data, self.batch_sizes, si, ui)

    def cpu(self):
        return self.to("cpu")

    def double(self):
        return self.to(dtype=xp.float64)

    def float(self):
        return self.to(dtype=xp.float32)

    @property
    def is_cuda(self):
        return self.data.is_cuda

    def is_pinned(self):
        return False


def _host_ints(values, func, name):
    """Python ints of a 1-D tensor or sequence (lengths live on the host, as in PyTorch)."""
    if isinstance(values, Tensor):
        if values.ndim != 1:
            raise ValueError(f"{func}: expected 1-D {name}, got shape {values.shape}")
        values = values.to("cpu").tolist()
    return [int(v) for v in values]


def _batch_sizes(lengths):
    """``batch_sizes[t]``: how many of the (decreasingly sorted) ``lengths`` exceed ``t``."""
    out, k = [], len(lengths)
    for t in range(lengths[0] if lengths else 0):
        while k and lengths[k - 1] <= t:
            k -= 1
        out.append(k)
    return out


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch ``input`` (T, B, *) (``batch_first``: (B, T, *)) of sequences of
    ``lengths``; ``enforce_sorted=False`` sorts the batch by decreasing length first (and
    remembers the permutation)."""
    func = "pack_padded_sequence"
    if not isinstance(input, Tensor):
        raise TypeError(f"{func}: expected a Tensor input, got {type(input).__name__}")
    lengths = _host_ints(lengths, func, "lengths")
    if batch_first:
        input = xp.swapaxes(input, 0, 1)
    t_max, b = input.shape[0], input.shape[1]
    if len(lengths) != b:
        raise ValueError(f"{func}: expected {b} lengths for a batch of shape {input.shape}, got "
                         f"{len(lengths)}")
    if any(n <= 0 for n in lengths):
        raise RuntimeError(f"{func}: length of all samples has to be greater than 0, but found "
                           f"an element in 'lengths' that is <= 0: {lengths}")
    sorted_indices = None
    if enforce_sorted:
        if any(a < c for a, c in zip(lengths, lengths[1:])):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when "
                               "`enforce_sorted` is True. You can pass `enforce_sorted=False` "
                               "to pack_padded_sequence and/or pack_sequence to sidestep this "
                               "requirement if you do not need ONNX exportability.")
    else:
        order = sorted(range(b), key=lambda i: -lengths[i])
        lengths = [lengths[i] for i in order]
        sorted_indices = xp.asarray(order, dtype=xp.int64, device=input.device)
        input = xp.take(input, sorted_indices, axis=1)
    if lengths[0] > t_max:
        raise RuntimeError(f"{func}: a length of {lengths[0]} exceeds the {t_max} steps of the "
                           f"input of shape {input.shape}")
    sizes = _batch_sizes(lengths)
    index = [t * b + j for t, n in enumerate(sizes) for j in range(n)]
    flat = xp.reshape(input, (t_max * b,) + tuple(input.shape[2:]))
    data = xp.take(flat, xp.asarray(index, dtype=xp.int64, device=input.device), axis=0)
    return PackedSequence(data, sizes, sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of ``pack_padded_sequence``: ``(padded, lengths)``, ``padded`` (T, B, *)
    (``batch_first``: (B, T, *)) in the original batch order, ``lengths`` an int64 tensor."""
    func = "pad_packed_sequence"
    data = sequence.data
    sizes = _host_ints(sequence.batch_sizes, func, "batch_sizes")
    b, t_max = sizes[0], len(sizes)
    if total_length is not None:
        if total_length < t_max:
            raise ValueError(f"{func}: expected total_length to be at least the length of the "
                             f"longest sequence in the input, but got total_length="
                             f"{total_length} and max sequence length being {t_max}")
        t_max = total_length
    rest = tuple(data.shape[1:])
    pad_row = data.shape[0]  # index of the padding row appended to data
    index = [pad_row] * (t_max * b)
    off = 0
    for t, n in enumerate(sizes):
        index[t * b:t * b + n] = range(off, off + n)
        off += n
    filler = xp.full((1,) + rest, padding_value, dtype=data.dtype, device=data.device)
    ext = xp.concat([data, filler], axis=0)
    padded = xp.take(ext, xp.asarray(index, dtype=xp.int64, device=data.device), axis=0)
    padded = xp.reshape(padded, (t_max, b) + rest)
    lengths = [sum(1 for n in sizes if n > j) for j in range(b)]
    if sequence.unsorted_indices is not None:
        padded = xp.take(padded, sequence.unsorted_indices, axis=1)
        ui = _host_ints(sequence.unsorted_indices, func, "unsorted_indices")
        lengths = [lengths[i] for i in ui]
    if batch_first:
        padded = xp.swapaxes(padded, 0, 1)
    return padded, xp.asarray(lengths, dtype=xp.int64)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shapes (L_i, *) into (T, B, *) (``batch_first``: (B, T, *)),
    T = max L_i, padded with ``padding_value`` on the ``padding_side`` ('right' or 'left')."""
    func = "pad_sequence"
    if padding_side not in ("right", "left"):
        raise ValueError(f"{func}: padding_side must be 'left' or 'right', got "
                         f"{padding_side!r}")
    if isinstance(sequences, Tensor):
        sequences = list(xp.unbind(sequences, 0))
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError(f"{func}: received an empty list of sequences")
    rest = tuple(sequences[0].shape[1:])
    for s in sequences:
        if tuple(s.shape[1:]) != rest:
            raise RuntimeError(f"{func}: sequences of shapes {tuple(sequences[0].shape)} and "
                               f"{tuple(s.shape)} differ beyond the first dimension")
    t_max = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        n = t_max - s.shape[0]
        if n:
            fill = xp.full((n,) + rest, padding_value, dtype=s.dtype, device=s.device)
            s = xp.concat([s, fill] if padding_side == "right" else [fill, s], axis=0)
        padded.append(s)
    return xp.stack(padded, axis=0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors (L_i, *) (``enforce_sorted``: by decreasing length)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences (L_i, *) in a padded batch."""
    lengths = _host_ints(lengths, "unpad_sequence", "lengths")
    if not batch_first:
        padded_sequences = xp.swapaxes(padded_sequences, 0, 1)
    return [padded_sequences[i, :n] for i, n in enumerate(lengths)]


def unpack_sequence(packed_sequences):
    """The list of sequences (L_i, *) in a packed batch (original order)."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
