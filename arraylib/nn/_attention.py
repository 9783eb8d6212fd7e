"""``nn.functional.scaled_dot_product_attention``: argument checks, causal and grouped
heads around the one-node kernel of ``arraylib._nn_kernels``."""
from __future__ import annotations

import math

import arraylib as xp
from arraylib import Tensor
from arraylib._nn_kernels import scaled_dot_product_attention as _sdpa_kernel
from arraylib._nn_kernels import dropout_mask as _dropout_mask

__all__ = ["scaled_dot_product_attention"]

_FUNC = "scaled_dot_product_attention"


def _check(query, key, value, attn_mask):
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{_FUNC}: argument '{name}' must be a Tensor, got "
                            f"{type(t).__name__}")
        if t.ndim < 2:
            raise ValueError(f"{_FUNC}: expected {name} of at least 2 dimensions, got shape "
                             f"{tuple(t.shape)}")
    if not (query.dtype == key.dtype == value.dtype) or query.dtype.kind != "f":
        raise TypeError(f"{_FUNC}: expected query, key and value of one floating-point dtype, "
                        f"got {query.dtype}, {key.dtype} and {value.dtype}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"{_FUNC}: query {tuple(query.shape)}, key {tuple(key.shape)} and "
                           f"value {tuple(value.shape)} don't match (query and key need one "
                           "embedding size, key and value one sequence length)")
    if attn_mask is not None:
        if not isinstance(attn_mask, Tensor):
            raise TypeError(f"{_FUNC}: attn_mask must be a Tensor or None, got "
                            f"{type(attn_mask).__name__}")
        if attn_mask.dtype != xp.bool and attn_mask.dtype.kind != "f":
            raise TypeError(f"{_FUNC}: expected a boolean or floating-point attn_mask, got "
                            f"{attn_mask.dtype}")


def _batch_shape(func, *shapes):
    try:
        return tuple(xp.broadcast_shapes(*shapes))
    except ValueError:
        raise RuntimeError(f"{func}: batch dimensions {', '.join(map(str, shapes))} of query, "
                           "key and value (and attn_mask) don't broadcast") from None


def _grouped(query, key, value, mask):
    """Grouped-query attention as broadcasting: query (..., Hk, G, L, E), key and value
    (..., Hk, 1, S, *), the mask likewise."""
    hq, hk = query.shape[-3], key.shape[-3]
    if key.shape[-3] != value.shape[-3] or hq % hk:
        raise RuntimeError(f"{_FUNC}: with enable_gqa, the query's {hq} heads must be a multiple "
                           f"of the key's and value's ({hk} and {value.shape[-3]})")
    lead = tuple(query.shape[:-3])
    q = xp.reshape(query, lead + (hk, hq // hk) + tuple(query.shape[-2:]))
    k, v = xp.expand_dims(key, axis=-3), xp.expand_dims(value, axis=-3)
    if mask is not None and mask.ndim >= 3:
        if mask.shape[-3] == hq and hq != 1:
            mask = xp.reshape(mask, tuple(mask.shape[:-3]) + (hk, hq // hk) +
                              tuple(mask.shape[-2:]))
        else:
            mask = xp.expand_dims(mask, axis=-3)
    return q, k, v, mask


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """``softmax(query @ key^T * scale + mask) @ value`` (PyTorch's semantics): query
    (..., L, E), key (..., S, E), value (..., S, Ev); a boolean ``attn_mask`` says where to
    attend (True), a floating one is added; ``is_causal`` attends to key positions
    ``<=`` the query position; ``scale`` defaults to ``1/sqrt(E)``; ``dropout_p`` drops
    attention probabilities; ``enable_gqa`` shares each key/value head among
    ``Hq / Hk`` query heads.  Rows with nothing to attend give zeros.  One graph node,
    with derivative rules of its own."""
    _check(query, key, value, attn_mask)
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{_FUNC}: dropout_p must be in [0, 1], got {dropout_p}")
    L, S = query.shape[-2], key.shape[-2]
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError(f"{_FUNC}: is_causal=True and an explicit attn_mask are "
                               "exclusive (pass one of them)")
    elif attn_mask is not None and attn_mask.dtype != xp.bool and attn_mask.dtype != query.dtype:
        attn_mask = xp.astype(attn_mask, query.dtype)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    q, k, v, mask = query, key, value, attn_mask
    gqa = enable_gqa and query.ndim >= 3 and key.ndim >= 3 and query.shape[-3] != key.shape[-3]
    if gqa:
        q, k, v, mask = _grouped(q, k, v, mask)
    shapes = [tuple(q.shape[:-2]), tuple(k.shape[:-2]), tuple(v.shape[:-2])]
    if mask is not None:
        shapes.append(tuple(mask.shape[:-2]))
        if tuple(mask.shape[-2:]) != (L, S) and xp.broadcast_shapes(
                tuple(mask.shape[-2:]), (L, S)) != (L, S):
            raise RuntimeError(f"{_FUNC}: attn_mask of shape {tuple(attn_mask.shape)} doesn't "
                               f"broadcast to the scores' ({L}, {S})")
    batch = _batch_shape(_FUNC, *shapes)
    drop = None
    if dropout_p > 0.0:
        drop = _dropout_mask(batch + (L, S), dropout_p, dtype=q.dtype, device=q.device)
    out = _sdpa_kernel(q, k, v, mask, drop, scale=scale, causal=is_causal)
    if gqa:
        out = xp.reshape(out, tuple(out.shape[:-4]) + (query.shape[-3],) +
                         tuple(out.shape[-2:]))
    return out
