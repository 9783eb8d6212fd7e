"""Attention and Transformers in PyTorch's shape: ``MultiheadAttention``,
``TransformerEncoderLayer``, ``TransformerDecoderLayer``, ``TransformerEncoder``,
``TransformerDecoder``, ``Transformer``.

Parameter names and layouts are PyTorch's (``in_proj_weight`` (3E, E) or
``q_proj_weight``/``k_proj_weight``/``v_proj_weight`` when ``kdim``/``vdim`` differ,
``in_proj_bias``, ``out_proj``, ``bias_k``/``bias_v``), so state dicts load both ways.
Masks follow PyTorch: in ``MultiheadAttention`` a boolean ``attn_mask`` or
``key_padding_mask`` is True where attention is *not* allowed; a floating one is added.
Without ``need_weights`` (as the Transformer layers call it) attention runs as one
``scaled_dot_product_attention`` node.
"""
from __future__ import annotations

import copy
import math

import arraylib as xp
from arraylib import Tensor

from .. import functional as F
from .. import init
from ..parameter import Parameter
from .container import ModuleList
from .linear import Linear
from .misc import Dropout
from .module import Module, _not_a_tensor
from .normalization import LayerNorm

__all__ = ["MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer",
           "TransformerEncoder", "TransformerDecoder", "Transformer"]


def _canonical_mask(mask, name, dtype, owner):
    """A float mask of ``dtype`` (-inf where a boolean mask is True), or None."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        _not_a_tensor(owner, mask, name)
    if mask.dtype == xp.bool:
        return xp.where(mask, xp.full((), -math.inf, dtype=dtype, device=mask.device),
                        xp.zeros((), dtype=dtype, device=mask.device))
    if mask.dtype.kind != "f":
        raise TypeError(f"{type(owner).__name__}: only bool and floating types of {name} are "
                        f"supported, got {mask.dtype}")
    return mask if mask.dtype == dtype else xp.astype(mask, dtype)


class MultiheadAttention(Module):
    """Multi-head attention (PyTorch's ``nn.MultiheadAttention``).

    Args: embed_dim, num_heads, dropout=0.0 (on the attention weights), bias=True,
    add_bias_kv=False, add_zero_attn=False, kdim=None, vdim=None, batch_first=False,
    device, dtype.  ``forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False) -> (output, weights)``;
    query (L, N, E) ((N, L, E) with ``batch_first``, (L, E) unbatched)."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None,
                 dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim must be divisible by num_heads, got embed_dim="
                             f"{embed_dim} and num_heads={num_heads}")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        kw = dict(dtype=dtype, device=device)
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(xp.empty((embed_dim, embed_dim), **kw))
            self.k_proj_weight = Parameter(xp.empty((embed_dim, self.kdim), **kw))
            self.v_proj_weight = Parameter(xp.empty((embed_dim, self.vdim), **kw))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(xp.empty((3 * embed_dim, embed_dim), **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(xp.empty((3 * embed_dim,), **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(xp.empty((1, 1, embed_dim), **kw))
            self.bias_v = Parameter(xp.empty((1, 1, embed_dim), **kw))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor):
                _not_a_tensor(self, t, name)
        batched = query.ndim == 3
        if self.batch_first and batched:
            same_kv = key is value
            same_qk = query is key
            query = xp.swapaxes(query, 0, 1)
            key = query if same_qk else xp.swapaxes(key, 0, 1)
            value = key if same_kv else xp.swapaxes(value, 0, 1)
        out, weights = self._attend(query, key, value, key_padding_mask, need_weights, attn_mask,
                                    average_attn_weights, is_causal)
        if self.batch_first and batched:
            out = xp.swapaxes(out, 0, 1)
        return out, weights

    def _project(self, query, key, value):
        e, w, b = self.embed_dim, self.in_proj_weight, self.in_proj_bias
        bq = bk = bv = None
        if b is not None:
            bq, bk, bv = b[:e], b[e:2 * e], b[2 * e:]
        if not self._qkv_same_embed_dim:
            return (F.linear(query, self.q_proj_weight, bq), F.linear(key, self.k_proj_weight, bk),
                    F.linear(value, self.v_proj_weight, bv))
        if query is key and key is value:
            qkv = F.linear(query, w, b)
            return qkv[..., :e], qkv[..., e:2 * e], qkv[..., 2 * e:]
        return (F.linear(query, w[:e], bq), F.linear(key, w[e:2 * e], bk),
                F.linear(value, w[2 * e:], bv))

    def _check_shapes(self, query, key, value, key_padding_mask):
        name = type(self).__name__
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"{name}: query, key and value must all be 2-D (unbatched) or 3-D "
                             f"(batched), got shapes {tuple(query.shape)}, {tuple(key.shape)} "
                             f"and {tuple(value.shape)}")
        if query.shape[-1] != self.embed_dim or key.shape[-1] != self.kdim or \
                value.shape[-1] != self.vdim:
            raise ValueError(f"{name}: expected query, key and value of feature sizes "
                             f"{self.embed_dim}, {self.kdim} and {self.vdim}, got shapes "
                             f"{tuple(query.shape)}, {tuple(key.shape)} and {tuple(value.shape)}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"{name}: key shape {tuple(key.shape)} does not match value shape "
                             f"{tuple(value.shape)}")
        if key_padding_mask is not None:
            want = tuple(key.shape[1::-1]) if query.ndim == 3 else (key.shape[0],)
            if tuple(key_padding_mask.shape) != want:
                raise ValueError(f"{name}: expected key_padding_mask of shape {want}, got "
                                 f"{tuple(key_padding_mask.shape)}")

    def _attend(self, query, key, value, key_padding_mask, need_weights, attn_mask,
                average_attn_weights, is_causal):
        name = type(self).__name__
        self._check_shapes(query, key, value, key_padding_mask)
        batched = query.ndim == 3
        if not batched:
            query, key, value = (xp.expand_dims(t, axis=1) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = xp.expand_dims(key_padding_mask, axis=0)
        tgt_len, bsz, e = query.shape
        h, hd = self.num_heads, self.head_dim
        dt = query.dtype
        kpm = _canonical_mask(key_padding_mask, "key_padding_mask", dt, self)
        mask = _canonical_mask(attn_mask, "attn_mask", dt, self)
        if is_causal and mask is None:
            raise RuntimeError(f"{name}: Need attn_mask if specifying the is_causal hint. You "
                               "may use the Transformer module method "
                               "`generate_square_subsequent_mask` to create this mask.")
        if is_causal and kpm is None and not need_weights:
            mask = None  # the kernel's own causal mask
        else:
            is_causal = False
        q, k, v = self._project(query, key, value)
        if mask is not None:
            if mask.ndim == 2:
                if tuple(mask.shape) != (tgt_len, key.shape[0]):
                    raise RuntimeError(f"{name}: The shape of the 2D attn_mask is "
                                       f"{tuple(mask.shape)}, but should be "
                                       f"{(tgt_len, key.shape[0])}.")
                mask = xp.expand_dims(mask, axis=0)
            elif mask.ndim == 3:
                if tuple(mask.shape) != (bsz * h, tgt_len, key.shape[0]):
                    raise RuntimeError(f"{name}: The shape of the 3D attn_mask is "
                                       f"{tuple(mask.shape)}, but should be "
                                       f"{(bsz * h, tgt_len, key.shape[0])}.")
            else:
                raise RuntimeError(f"{name}: attn_mask's dimension {mask.ndim} is not supported")
        if self.bias_k is not None and self.bias_v is not None:
            k = xp.concat([k, xp.broadcast_to(self.bias_k, (1, bsz, e))], axis=0)
            v = xp.concat([v, xp.broadcast_to(self.bias_v, (1, bsz, e))], axis=0)
            mask = None if mask is None else F.pad(mask, (0, 1))
            kpm = None if kpm is None else F.pad(kpm, (0, 1))
        q = xp.swapaxes(xp.reshape(q, (tgt_len, bsz * h, hd)), 0, 1)
        k = xp.swapaxes(xp.reshape(k, (k.shape[0], bsz * h, hd)), 0, 1)
        v = xp.swapaxes(xp.reshape(v, (v.shape[0], bsz * h, hd)), 0, 1)
        if self.add_zero_attn:
            zeros = xp.zeros((bsz * h, 1, hd), dtype=dt, device=q.device)
            k, v = xp.concat([k, zeros], axis=1), xp.concat([v, zeros], axis=1)
            mask = None if mask is None else F.pad(mask, (0, 1))
            kpm = None if kpm is None else F.pad(kpm, (0, 1))
        src_len = k.shape[1]
        if kpm is not None:
            kpm = xp.reshape(xp.broadcast_to(xp.reshape(kpm, (bsz, 1, 1, src_len)),
                                             (bsz, h, 1, src_len)), (bsz * h, 1, src_len))
            mask = kpm if mask is None else mask + kpm
        p = self.dropout if self.training else 0.0
        if need_weights:
            w = xp.matmul(q * math.sqrt(1.0 / hd), xp.swapaxes(k, -1, -2))
            if mask is not None:
                w = mask + w
            w = F.softmax(w, dim=-1)
            if p > 0.0:
                w = F.dropout(w, p)
            out = xp.matmul(w, v)  # (N*H, L, hd)
            out = xp.reshape(xp.swapaxes(out, 0, 1), (tgt_len * bsz, e))
            out = xp.reshape(self.out_proj(out), (tgt_len, bsz, e))
            w = xp.reshape(w, (bsz, h, tgt_len, src_len))
            if average_attn_weights:
                w = xp.mean(w, axis=1)
            if not batched:
                out, w = out[:, 0], w[0]
            return out, w
        if mask is not None:
            mask = xp.expand_dims(mask, axis=0) if mask.shape[0] == 1 else \
                xp.reshape(mask, (bsz, h, mask.shape[1], src_len))
        q = xp.reshape(q, (bsz, h, tgt_len, hd))
        k = xp.reshape(k, (bsz, h, src_len, hd))
        v = xp.reshape(v, (bsz, h, src_len, hd))
        out = F.scaled_dot_product_attention(q, k, v, mask, p, is_causal)
        out = xp.reshape(xp.permute_dims(out, (2, 0, 1, 3)), (tgt_len * bsz, e))
        out = xp.reshape(self.out_proj(out), (tgt_len, bsz, e))
        return (out if batched else out[:, 0]), None

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"


def _activation(activation):
    if isinstance(activation, str):
        if activation == "relu":
            return F.relu
        if activation == "gelu":
            return F.gelu
        raise RuntimeError(f"activation should be relu/gelu, not {activation}")
    if not callable(activation):
        raise TypeError(f"activation should be a string or a callable, got "
                        f"{type(activation).__name__}")
    return activation


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with a residual connection and layer
    norm (after, or before with ``norm_first``).  Args as PyTorch: d_model, nhead,
    dim_feedforward=2048, dropout=0.1, activation='relu' (or 'gelu' or a callable),
    layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, device, dtype."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    """Self-attention, attention over the encoder's ``memory`` and a feed-forward block,
    each with a residual connection and layer norm.  Args as ``TransformerEncoderLayer``."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout,
                                            batch_first=batch_first, bias=bias, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout,
                                                 batch_first=batch_first, bias=bias, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                               memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           is_causal=is_causal, need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal=False):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, is_causal=is_causal,
                                need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


def _clones(module, n):
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` (then ``norm`` if given)."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
                 mask_check=True):
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        out = src
        for mod in self.layers:
            out = mod(out, src_mask=mask, is_causal=bool(is_causal),
                      src_key_padding_mask=src_key_padding_mask)
        return out if self.norm is None else self.norm(out)


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer`` (then ``norm`` if given)."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        out = tgt
        for mod in self.layers:
            out = mod(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return out if self.norm is None else self.norm(out)


class Transformer(Module):
    """An encoder-decoder Transformer (PyTorch's ``nn.Transformer``): d_model=512,
    nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
    dropout=0.1, activation='relu', custom_encoder=None, custom_decoder=None,
    layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, device, dtype.
    Weights of more than one dimension are Xavier-uniform initialised."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                 dim_feedforward=2048, dropout=0.1, activation="relu", custom_encoder=None,
                 custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False,
                 bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias, **kw)
            self.encoder = TransformerEncoder(layer, num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias,
                                                        **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias, **kw)
            self.decoder = TransformerDecoder(layer, num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias,
                                                        **kw))
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        for name, t in (("src", src), ("tgt", tgt)):
            if not isinstance(t, Tensor):
                _not_a_tensor(self, t, name)
        batched = src.ndim == 3
        b = 0 if self.batch_first else 1
        if batched and src.shape[b] != tgt.shape[b]:
            raise RuntimeError(f"Transformer: the batch number of src and tgt must be equal, got "
                               f"shapes {tuple(src.shape)} and {tuple(tgt.shape)}")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature number of src and tgt must be equal to "
                               f"d_model ({self.d_model}), got shapes {tuple(src.shape)} and "
                               f"{tuple(tgt.shape)}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """(sz, sz) float mask: -inf above the diagonal, 0 elsewhere."""
        full = xp.full((sz, sz), -math.inf, dtype=dtype or xp.float32, device=device)
        return xp.triu(full, k=1)

    def _reset_parameters(self):
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
