"""``repr``/``str`` of tensors as PyTorch prints them (its default print options).

``tensor([5.5000, 3.0000])``, ``tensor([1, 2])``, ``tensor(92.)``: one formatter
per tensor picks integer mode (``1.``), fixed (4 decimals) or scientific notation
from the finite non-zero values, pads every element to one width and wraps lines at
80 characters; more than 1000 elements are summarised with ``...`` (3 edge items
per dimension).  The suffixes follow: ``device='...'`` (non-cpu), ``dtype=float64``
(a non-default dtype; PyTorch spells it ``torch.float64``), ``grad_fn=<AddBackward0>``
(PyTorch's node names) or ``requires_grad=True``.
"""
from __future__ import annotations

import math

from . import _dtypes

__all__ = ["tensor_repr", "grad_fn_name"]

THRESHOLD = 1000
EDGEITEMS = 3
PRECISION = 4
LINEWIDTH = 80

# Primitive names whose PyTorch node is not ``<CamelCase>Backward0``.
_TORCH_NODES = {
    "subtract": "SubBackward0", "multiply": "MulBackward0", "divide": "DivBackward0",
    "negative": "NegBackward0", "square": "PowBackward0", "log1p": "Log1PBackward0",
    "reshape": "ViewBackward0", "permute_dims": "PermuteBackward0", "moveaxis": "PermuteBackward0",
    "matrix_transpose": "TransposeBackward0", "expand_dims": "UnsqueezeBackward0",
    "squeeze": "SqueezeBackward1", "broadcast_to": "ExpandBackward0", "concat": "CatBackward0",
    "astype": "ToCopyBackward0", "to_device": "ToCopyBackward0", "max": "MaxBackward1",
    "min": "MinBackward1", "clip": "ClampBackward1", "cross_entropy": "NllLossBackward0",
    "linear": "AddmmBackward0", "tile": "RepeatBackward0", "narrow": "SliceBackward0",
    "index_put": "IndexPutBackward0", "index_scatter": "ScatterAddBackward0",
    "cumulative_sum": "CumsumBackward0", "cumulative_prod": "CumprodBackward0",
    "vector_norm": "LinalgVectorNormBackward0", "max_pool": "MaxPool2DWithIndicesBackward0",
    "repeat": "RepeatInterleaveBackward0", "logaddexp": "LogaddexpBackward0",
    "sliding_windows": "Im2ColBackward0", "constant_pad": "ConstantPadNdBackward0",
}


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def grad_fn_name(node) -> str:
    """PyTorch's class name for the node that made a tensor (``AddBackward0``, ...)."""
    name = node.prim.name
    if name[:1].isupper():  # a custom autograd.Function: PyTorch's ``<Name>Backward``
        return name + "Backward"
    if name == "getitem":
        key = node.params.get("key", ()) if node.params else ()
        if node.params and node.params.get("adv"):
            return "IndexBackward0"
        return "SelectBackward0" if any(type(k) is int for k in key) else "SliceBackward0"
    if name == "matmul":
        shapes = [m[0] for m in node.in_meta if m is not None]
        if len(shapes) == 2 and len(shapes[0]) == len(shapes[1]) == 2:
            return "MmBackward0"
        if len(shapes) == 2 and len(shapes[0]) == len(shapes[1]) == 1:
            return "DotBackward0"
        if len(shapes) == 2 and len(shapes[0]) == 2 and len(shapes[1]) == 1:
            return "MvBackward0"
        return "UnsafeViewBackward0" if len(shapes) == 2 and len(shapes[0]) > 2 else \
            "BmmBackward0"
    if name == "sum":
        p = node.params or {}
        axis, shape = p.get("axis"), p.get("in_shape", ())
        full = axis is None or len(tuple(axis)) == len(shape) and not p.get("keepdims")
        return "SumBackward0" if full else "SumBackward1"
    return _TORCH_NODES.get(name) or _camel(name) + "Backward0"


# -- values -------------------------------------------------------------------------
class _Formatter:
    """One width and one notation for every element (PyTorch's ``_Formatter``)."""

    def __init__(self, values, floating: bool):
        self.floating = floating
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        if not floating:
            self.width = max([1] + [len(str(v)) for v in values])
            return
        finite = [v for v in values if v != 0 and math.isfinite(v)]
        if not finite:
            return
        lo = min(abs(v) for v in finite)
        hi = max(abs(v) for v in finite)
        self.int_mode = all(v == math.ceil(v) for v in finite)
        if self.int_mode:
            self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8
            if not self.sci_mode:
                self.width = max(len(f"{v:.0f}") + 1 for v in finite)
        else:
            self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
            if not self.sci_mode:
                self.width = max(len(f"{v:.{PRECISION}f}") for v in finite)
        if self.sci_mode:
            self.width = max(len(f"{v:.{PRECISION}e}") for v in finite)

    def format(self, v) -> str:
        if not self.floating:
            s = str(v)
        elif self.sci_mode:
            s = f"{v:{self.width}.{PRECISION}e}"
        elif self.int_mode:
            s = f"{v:.0f}"
            if math.isfinite(v):
                s += "."
        else:
            s = f"{v:.{PRECISION}f}"
        return " " * (self.width - len(s)) + s


class _Elements:
    """How each element is written: real, or complex from a real and an imaginary part."""

    def __init__(self, flat, kind):
        if kind == "c":
            self.re = _Formatter([v.real for v in flat], True)
            self.im = _Formatter([v.imag for v in flat], True)
            self.width = self.re.width + self.im.width + 1
        else:
            self.re = _Formatter(flat, kind in "f" or kind == "V")
            self.im = None
            self.width = self.re.width

    def __call__(self, v) -> str:
        if self.im is None:
            return self.re.format(v)
        re = self.re.format(v.real)
        im = (self.im.format(v.imag) + "j").lstrip()
        return re + im if im[0] in "+-" else re + "+" + im


def _flatten(values, depth):
    if depth == 0:
        return [values]
    if depth == 1:
        return list(values)
    return [v for sub in values for v in _flatten(sub, depth - 1)]


def _vector(values, elided: bool, indent: int, fmt) -> str:
    per_line = max(1, (LINEWIDTH - indent) // (fmt.width + 2))
    if elided:
        data = [fmt(v) for v in values[:EDGEITEMS]] + [" ..."] + \
               [fmt(v) for v in values[EDGEITEMS:]]
    else:
        data = [fmt(v) for v in values]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(values, elided, indent: int, fmt) -> str:
    """Text of the nested lists ``values``; ``elided[d]`` says whether dimension ``d``
    shows only its edge items."""
    ndim = len(elided)
    if ndim == 0:
        return fmt(values)
    if ndim == 1:
        return _vector(values, elided[0], indent, fmt)
    parts = [_nested(v, elided[1:], indent + 1, fmt) for v in values]
    if elided[0]:
        parts = parts[:EDGEITEMS] + ["..."] + parts[EDGEITEMS:]
    return "[" + ("," + "\n" * (ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def _host_values(t, summarize: bool):
    """(nested Python lists of the values shown, which dimensions are elided)."""
    host = t._device.backend.to_numpy(t._data)
    shape = tuple(host.shape)
    elided = [summarize and n > 2 * EDGEITEMS for n in shape]
    for ax, (n, cut) in enumerate(zip(shape, elided)):
        if cut:
            keep = list(range(EDGEITEMS)) + list(range(n - EDGEITEMS, n))
            host = host.take(keep, axis=ax)
    if host.dtype.kind == "V" or host.dtype.itemsize == 2 and host.dtype.kind == "f":
        host = host.astype("float32")  # float16/bfloat16 print as PyTorch: through float32
    return host.tolist(), elided


def values_str(t, indent: int = 7) -> str:
    """The bracketed values of ``t`` as PyTorch writes them after ``tensor(``."""
    if t.numel() == 0:
        return "[]"
    values, elided = _host_values(t, t.numel() > THRESHOLD)
    kind = t.dtype.kind
    fmt = _Elements(_flatten(values, len(elided)), kind)
    return _nested(values, elided, indent, fmt)


# -- the whole repr ----------------------------------------------------------------
def _suffixes(t) -> list:
    out = []
    if t._device.name != "cpu":
        out.append(f"device='{t._device.name}'")
    dt = t.dtype
    if t.numel() == 0:
        if t.ndim != 1:
            out.append(f"size={tuple(t.shape)}")
        if dt != _dtypes.default_float:
            out.append(f"dtype={dt.name}")
    elif dt not in (_dtypes.default_float, _dtypes.default_complex, _dtypes.int64,
                    _dtypes.bool):
        out.append(f"dtype={getattr(dt, 'name', dt)}")
    node = t.grad_fn
    if node is not None:
        out.append(f"grad_fn=<{grad_fn_name(node)}>")
    elif t._requires_grad:
        out.append("requires_grad=True")
    return out


def tensor_repr(t) -> str:
    prefix = "tensor("
    text = prefix + values_str(t, len(prefix))
    parts = [text]
    last = len(text) - text.rfind("\n") + 1
    for s in _suffixes(t):
        if last + len(s) + 2 > LINEWIDTH:
            parts.append(",\n" + " " * len(prefix) + s)
            last = len(prefix) + len(s)
        else:
            parts.append(", " + s)
            last += len(s) + 2
    return "".join(parts) + ")"
