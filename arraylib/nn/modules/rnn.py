"""Recurrent layers in PyTorch's shape: ``RNN`` (tanh/relu), ``LSTM`` (with ``proj_size``),
``GRU`` and the cells ``RNNCell``, ``LSTMCell``, ``GRUCell``.

Parameter names, shapes, gate order (LSTM: input, forget, cell, output; GRU: reset,
update, new) and initialisation (U(-1/sqrt(hidden), 1/sqrt(hidden))) are PyTorch's, so
state dicts load both ways.  The time loop works on the packed layout (a padded batch
is a packed one whose sequences all have the same length): the input projection of a
whole sequence is one matrix product, and the loop over the steps of one layer and
direction is one node (``arraylib._nn_kernels.rnn_sequence``: per step one product with
``weight_hh`` and the fused gate math; its backward is backpropagation through time on
storage).  The cells use the fused one-step kernels ``lstm_cell`` / ``gru_cell``.
"""
from __future__ import annotations

import math
import numbers
import warnings

import arraylib as xp
from arraylib import Tensor
from arraylib._nn_kernels import gru_cell as _gru_cell, lstm_cell as _lstm_cell, \
    rnn_sequence as _rnn_sequence

from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence
from .module import Module, _not_a_tensor

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _host_list(t):
    return [int(v) for v in (t.to("cpu").tolist() if isinstance(t, Tensor) else t)]


def _no_proj(layer, kwargs):
    if "proj_size" in kwargs:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
    if kwargs:
        raise TypeError(f"{type(layer).__name__}.__init__() got an unexpected keyword argument "
                        f"{next(iter(kwargs))!r}")


class RNNBase(Module):
    """The multi-layer, optionally bidirectional recurrent layer behind ``RNN``, ``LSTM``
    and ``GRU`` (``mode``: 'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU')."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if mode not in _GATES:
            raise ValueError(f"{name}: unrecognized RNN mode: {mode!r}")
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) \
                or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        for arg, v, low in (("hidden_size", hidden_size, 1), ("num_layers", num_layers, 1),
                            ("proj_size", proj_size, 0)):
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"{name}: {arg} should be of type int, got: "
                                f"{type(v).__name__}")
            if v < low:
                raise ValueError(f"{name}: {arg} must be {'positive' if low else 'non-negative'},"
                                 f" got {v}")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          f"non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", UserWarning,
                          stacklevel=2)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        gate_size = _GATES[mode] * hidden_size
        dirs = 2 if bidirectional else 1
        real_hidden = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for d in range(dirs):
                in_size = input_size if layer == 0 else real_hidden * dirs
                shapes = [(gate_size, in_size), (gate_size, real_hidden)]
                names = ["weight_ih_l{}{}", "weight_hh_l{}{}"]
                if bias:
                    shapes += [(gate_size,), (gate_size,)]
                    names += ["bias_ih_l{}{}", "bias_hh_l{}{}"]
                if proj_size > 0:
                    shapes.append((proj_size, hidden_size))
                    names.append("weight_hr_l{}{}")
                suffix = "_reverse" if d == 1 else ""
                names = [n.format(layer, suffix) for n in names]
                for n, s in zip(names, shapes):
                    setattr(self, n, Parameter(xp.empty(s, dtype=dtype, device=device)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def flatten_parameters(self):
        """A no-op (PyTorch packs the weights for cuDNN here)."""

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def _weights(self, layer, d):
        """(weight_ih, bias_ih, weight_hh, bias_hh, weight_hr) of one layer and direction."""
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        get = self._parameters.get
        return (get("weight_ih" + sfx), get("bias_ih" + sfx), get("weight_hh" + sfx),
                get("bias_hh" + sfx), get("weight_hr" + sfx))

    def _state_shapes(self, batch):
        dirs = 2 if self.bidirectional else 1
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        shapes = [(self.num_layers * dirs, batch, real_hidden)]
        if self.mode == "LSTM":
            shapes.append((self.num_layers * dirs, batch, self.hidden_size))
        return shapes

    def _initial_states(self, hx, batch, batched, like, sorted_indices):
        name = type(self).__name__
        shapes = self._state_shapes(batch)
        if hx is None:
            return [xp.zeros(s, dtype=like.dtype, device=like.device) for s in shapes]
        states = list(hx) if self.mode == "LSTM" else [hx]
        if self.mode == "LSTM" and (not isinstance(hx, (tuple, list)) or len(states) != 2):
            raise TypeError(f"{name}: expected hx to be a tuple (h_0, c_0), got "
                            f"{type(hx).__name__}")
        out = []
        for s, shape in zip(states, shapes):
            if not isinstance(s, Tensor):
                _not_a_tensor(self, s, "hx")
            want = 3 if batched else 2
            if s.ndim != want:
                raise RuntimeError(f"{name}: for {'batched 3-D' if batched else 'unbatched 2-D'}"
                                   f" input, hx should also be {want}-D but got {s.ndim}-D "
                                   "tensor")
            if not batched:
                s = xp.expand_dims(s, axis=1)
            if tuple(s.shape) != shape:
                raise RuntimeError(f"{name}: Expected hidden size {shape}, got "
                                   f"{tuple(s.shape) if batched else tuple(s.shape[::2])}")
            if sorted_indices is not None:
                s = xp.take(s, sorted_indices, axis=1)
            out.append(s)
        return out

    def _prepare(self, input):
        """(data (N, input_size), batch sizes, batched, packed info, steps, batch)."""
        name = type(self).__name__
        if isinstance(input, PackedSequence):
            sizes = _host_list(input.batch_sizes)
            return input.data, sizes, True, input, len(sizes), sizes[0]
        if not isinstance(input, Tensor):
            _not_a_tensor(self, input, "input")
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D tensor "
                             "instead")
        batched = input.ndim == 3
        if not batched:
            input = xp.expand_dims(input, axis=1)
        elif self.batch_first:
            input = xp.swapaxes(input, 0, 1)
        t, b = input.shape[0], input.shape[1]
        data = xp.reshape(input, (t * b, input.shape[2]))
        return data, [b] * t, batched, None, t, b

    def forward(self, input, hx=None):
        name = type(self).__name__
        data, sizes, batched, packed, steps, batch = self._prepare(input)
        if data.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {data.shape[-1]}")
        sorted_indices = packed.sorted_indices if packed is not None else None
        states0 = self._initial_states(hx, batch, batched, data, sorted_indices)
        dirs = 2 if self.bidirectional else 1
        finals = [[] for _ in states0]
        x = data
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:
                x = F.dropout(x, self.dropout, True)
            outs = []
            for d in range(dirs):
                w_ih, b_ih, w_hh, b_hh, w_hr = self._weights(layer, d)
                if b_hh is not None and self.mode != "GRU":  # both biases in one product
                    b_ih, b_hh = b_ih + b_hh, None
                i = layer * dirs + d
                out, *last = _rnn_sequence(self.mode, F.linear(x, w_ih, b_ih),
                                           [s[i] for s in states0], w_hh, b_hh, w_hr, sizes,
                                           reverse=bool(d))
                outs.append(out)
                for k, s in enumerate(last):
                    finals[k].append(s)
            x = outs[0] if dirs == 1 else xp.concat(outs, axis=-1)
        states = [xp.stack(f, axis=0) for f in finals]
        if packed is not None:
            if packed.unsorted_indices is not None:
                states = [xp.take(s, packed.unsorted_indices, axis=1) for s in states]
            output = PackedSequence(x, packed.batch_sizes, packed.sorted_indices,
                                    packed.unsorted_indices)
        else:
            output = xp.reshape(x, (steps, batch, x.shape[-1]))
            if not batched:
                output = output[:, 0]
                states = [s[:, 0] for s in states]
            elif self.batch_first:
                output = xp.swapaxes(output, 0, 1)
        return output, (tuple(states) if self.mode == "LSTM" else states[0])

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, ``act`` tanh or
    relu.  Args as PyTorch: input_size, hidden_size, num_layers=1, nonlinearity='tanh',
    bias=True, batch_first=False, dropout=0.0, bidirectional=False, device, dtype.
    ``forward(input, hx=None) -> (output, h_n)``."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None,
                 **kwargs):
        _no_proj(self, kwargs)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)

    def extra_repr(self):
        s = super().extra_repr()
        return s + (", nonlinearity='relu'" if self.nonlinearity != "tanh" else "")


class LSTM(RNNBase):
    """Long short-term memory, PyTorch's gates (input, forget, cell, output) and, with
    ``proj_size > 0``, a projection of ``h`` (``weight_hr``).
    ``forward(input, (h_0, c_0)=None) -> (output, (h_n, c_n))``."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, device=device, dtype=dtype)


class GRU(RNNBase):
    """Gated recurrent unit, PyTorch's gates (reset, update, new):
    ``n = tanh(W_in x + b_in + r (W_hn h + b_hn))``, ``h' = (1 - z) n + z h``.
    ``forward(input, hx=None) -> (output, h_n)``."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None, **kwargs):
        _no_proj(self, kwargs)
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)


# -- cells ----------------------------------------------------------------------------
class RNNCellBase(Module):
    """The parameters of one recurrent cell: weight_ih (chunks*H, input_size), weight_hh
    (chunks*H, H), bias_ih and bias_hh (chunks*H), all U(-1/sqrt(H), 1/sqrt(H))."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        g = num_chunks * hidden_size
        self.weight_ih = Parameter(xp.empty((g, input_size), dtype=dtype, device=device))
        self.weight_hh = Parameter(xp.empty((g, hidden_size), dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(xp.empty((g,), dtype=dtype, device=device))
            self.bias_hh = Parameter(xp.empty((g,), dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _check(self, input, hx, n_states):
        """(input as 2-D, the states as 2-D (zeros when None), batched)."""
        name = type(self).__name__
        if not isinstance(input, Tensor):
            _not_a_tensor(self, input, "input")
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        batched = input.ndim == 2
        if not batched:
            input = xp.expand_dims(input, axis=0)
        if input.shape[1] != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got "
                               f"{input.shape[1]} expected {self.input_size}")
        shape = (input.shape[0], self.hidden_size)
        if hx is None:
            return input, [xp.zeros(shape, dtype=input.dtype, device=input.device)
                           for _ in range(n_states)], batched
        states = list(hx) if n_states > 1 else [hx]
        out = []
        for s in states:
            if not isinstance(s, Tensor):
                _not_a_tensor(self, s, "hx")
            if s.ndim != (2 if batched else 1):
                raise RuntimeError(f"{name}: expected hidden state of {2 if batched else 1} "
                                   f"dimensions, got shape {tuple(s.shape)}")
            if not batched:
                s = xp.expand_dims(s, axis=0)
            if tuple(s.shape) != shape:
                raise RuntimeError(f"{name}: hidden state of shape {tuple(s.shape)} doesn't "
                                   f"match the expected {shape}")
            out.append(s)
        return input, out, batched


class RNNCell(RNNCellBase):
    """``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``, ``act`` tanh or relu."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._check(input, hx, 1)
        pre = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh,
                                                                   self.bias_hh)
        out = xp.tanh(pre) if self.nonlinearity == "tanh" else F.relu(pre)
        return out if batched else out[0]


class LSTMCell(RNNCellBase):
    """One LSTM step: ``forward(input, (h, c)=None) -> (h', c')``."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        x, (h, c), batched = self._check(input, hx, 2)
        h, c = _lstm_cell(F.linear(x, self.weight_ih, self.bias_ih),
                          F.linear(h, self.weight_hh, self.bias_hh), c)
        return (h, c) if batched else (h[0], c[0])


class GRUCell(RNNCellBase):
    """One GRU step: ``forward(input, h=None) -> h'``."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._check(input, hx, 1)
        out = _gru_cell(F.linear(x, self.weight_ih, self.bias_ih),
                        F.linear(h, self.weight_hh, self.bias_hh), h)
        return out if batched else out[0]
