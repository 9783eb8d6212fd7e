"""The ``fft`` extension of the Array API standard (2025.12), differentiable.

Four primitives carry the transforms, each on the device's backend (``B.fft``):
complex-to-complex (``fftn``/``ifftn``), real-to-complex (``rfftn``), complex-to-real
(``irfftn``); a fifth pads or trims axes (the ``n``/``s`` arguments).  They are linear,
so the JVP applies the same transform to the tangent and the VJP applies the adjoint:
the opposite transform with the opposite normalisation ("backward" <-> "forward",
"ortho" stays), with the Hermitian half-spectrum weighted for the real transforms.
``hfft`` is ``irfft`` of the conjugate, ``ihfft`` a primitive of its own (the conjugate
of ``rfft``); the shifts are primitives too (one gather by a cached index on small
tensors).  Results keep the input's precision (float32 -> complex64).  Axes of at most 16
points transform as products with cached DFT matrices (one product for small trailing
axes together), the rest with the backend's FFT.  A public call whose operand needs no
cast or resize remembers its checked parameters per (shape, storage dtype, device,
arguments): a repeated call is one memo look-up and one primitive.
"""
from __future__ import annotations

import math
import operator

from ._core import _batching as _vb
from . import _dtypes
from ._core._cast import cast
from ._core._devices import as_device
from ._core._primitive import Primitive, apply1, linear_jvp
from ._core._tensor import Tensor, _new
from ._elementwise_functions import conj, positive
from ._statistical_functions import _memo_key
from ._validation import normalize_axes, normalize_axis

__all__ = ["fft", "ifft", "fftn", "ifftn", "rfft", "irfft", "rfftn", "irfftn", "hfft", "ihfft",
           "fftfreq", "rfftfreq", "fftshift", "ifftshift"]

_SWAP = {"backward": "forward", "forward": "backward", "ortho": "ortho"}
_COMPLEX_OF = {_dtypes.float32: _dtypes.complex64, _dtypes.float64: _dtypes.complex128}


# -- argument checks -------------------------------------------------------------
def _as_complex(name, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
    dt = x.dtype
    if dt.kind == "c":
        return x
    if dt in _COMPLEX_OF:
        return cast(x, _COMPLEX_OF[dt], func=name)
    raise TypeError(f"{name}: expected a floating-point (complex) dtype: float32, float64, "
                    f"complex64 or complex128, got {dt}")


def _as_real(name, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
    if x.dtype not in _COMPLEX_OF:
        raise TypeError(f"{name}: expected a real floating-point dtype (float32 or float64), "
                        f"got {x.dtype}")
    return x


def _check_norm(name, norm):
    if norm not in _SWAP:
        raise ValueError(f"{name}: norm must be 'backward', 'ortho' or 'forward', got {norm!r}")


def _axis(name, axis, ndim):
    if ndim == 0:
        raise ValueError(f"{name}: expected a tensor with at least one dimension, got a 0-d tensor")
    return normalize_axis(name, axis, ndim)


def _size(name, n, what="n"):
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"{name}: {what} must be an integer, got {type(n).__name__}") from None
    if n < 1:
        raise ValueError(f"{name}: invalid number of data points ({what}={n}); it must be "
                         "at least 1")
    return n


_AXES_SIZES: dict = {}  # (name, shape, s, axes) -> checked (axes, sizes)


def _int_key(v) -> bool:
    """Whether ``v`` (None, an int or a tuple of ints) may key a memo: no bools or floats
    that hash alike an int but are checked differently."""
    if v is None or v.__class__ is int:
        return True
    if v.__class__ is tuple:
        for e in v:
            if e.__class__ is not int:
                return False
        return True
    return False


def _axes_sizes(name, x, s, axes):
    """Normalised axes and the requested sizes along them (numpy's rules; -1 keeps);
    memoized per (shape, s, axes) of plain ints."""
    key = (name, x.shape, s, axes)
    hit = _AXES_SIZES.get(key) if _int_key(s) and _int_key(axes) else None
    if hit is None:
        hit = _check_axes_sizes(name, x, s, axes)
        if _int_key(s) and _int_key(axes):
            if len(_AXES_SIZES) >= 1024:
                _AXES_SIZES.clear()
            _AXES_SIZES[key] = hit
    return hit


def _check_axes_sizes(name, x, s, axes):
    if x.ndim == 0:
        raise ValueError(f"{name}: expected a tensor with at least one dimension, got a 0-d tensor")
    if axes is None:
        axes = tuple(range(x.ndim)) if s is None else tuple(range(x.ndim - len(s), x.ndim))
        if s is not None and len(s) > x.ndim:
            raise ValueError(f"{name}: s {tuple(s)} has more entries than x has dimensions "
                             f"(shape {x.shape})")
    axes = normalize_axes(name, tuple(axes) if not isinstance(axes, int) else (axes,), x.ndim)
    if s is None:
        sizes = tuple(x.shape[a] for a in axes)
    else:
        s = tuple(s)
        if len(s) != len(axes):
            raise ValueError(f"{name}: s {s} and axes {axes} must have the same length")
        sizes = tuple(x.shape[a] if v == -1 else _size(name, v, "s") for a, v in zip(axes, s))
    return axes, sizes


# -- primitives --------------------------------------------------------------------------
# The rules' helpers take ``ns``: arraylib's namespace or the storage backend (see
# arraylib/_core/_primitive.py).
def _pad_trim(ns, x, axes, sizes):
    """``x`` trimmed or zero-padded along ``axes`` to ``sizes``."""
    for a, n in zip(axes, sizes):
        cur = x.shape[a]
        if n < cur:
            x = x[(slice(None),) * a + (slice(0, n), Ellipsis)]
        elif n > cur:
            shape = list(x.shape)
            shape[a] = n - cur
            x = ns.concat([x, ns.zeros(tuple(shape), dtype=x.dtype, device=x.device)], axis=a)
    return x


_resize_prim = Primitive(
    "fft_resize", lambda B, x, *, axes, sizes, src: _pad_trim(B, x, axes, sizes),
    vjp=lambda ns, needs, g, out, x, *, axes, sizes, src: (_pad_trim(ns, g, axes, src),),
    jvp=linear_jvp(lambda ns, t, *, axes, sizes, src: _resize(t, axes, sizes)),
    saves_inputs=False, saves_output=False)
_resize_prim.batch = _vb.axis_rule(_resize_prim, axes=("axes",))


def _resize(x, axes, sizes):
    """Trim or zero-pad ``x`` along ``axes`` to ``sizes`` (a no-op when they match)."""
    shape = x.shape
    src = (shape[axes[0]],) if len(axes) == 1 else tuple([shape[a] for a in axes])
    if src == tuple(sizes):
        return x
    return apply1(_resize_prim, x, {"axes": tuple(axes), "sizes": tuple(sizes), "src": src})


# -- small transforms as products with cached DFT matrices ---------------------------------
# Along axes of at most _SMALL_DFT points a transform is one matrix product per axis with
# the DFT matrix (exact twiddles, computed in double precision): a BLAS call of ~1 us,
# against pocketfft's 3 us an axis plus NumPy's Python wrappers (~12 us for a 2-D fftn).
_SMALL_DFT = 16
_DFT: dict = {}  # (backend id, kind, n, native dtype, inverse, norm) -> read-only matrix
_SCALE = {("backward", False): lambda n: 1.0, ("backward", True): lambda n: 1.0 / n,
          ("forward", False): lambda n: 1.0 / n, ("forward", True): lambda n: 1.0,
          ("ortho", False): lambda n: n ** -0.5, ("ortho", True): lambda n: n ** -0.5}


def _small(shape, axes) -> bool:
    for a in axes:
        if shape[a] > _SMALL_DFT:
            return False
    return True


def _dft_entries(kind, n, inverse, norm):
    """``_dft_matrix``'s entries as nested lists of Python complex numbers: twiddles from
    exact integer turns ``j k mod n`` in double precision on the host, whatever the
    device's dtypes (a device without float64 gets them rounded once, to its dtype)."""
    rows = n // 2 + 1 if kind == "c2r" else n
    cols = n // 2 + 1 if kind == "r2c" else n
    step = (1.0 if inverse or kind == "c2r" else -1.0) * 2.0 * math.pi / n
    scale = _SCALE[(norm, inverse or kind == "c2r")](n)
    out = []
    for j in range(rows):
        # "c2r": each inner frequency stands for itself and its mirror image
        weight = 2.0 if kind == "c2r" and 0 < j and 2 * j < n else 1.0
        out.append([complex(math.cos(a), math.sin(a)) * scale * weight
                    for a in ((j * k % n) * step for k in range(cols))])
    return out


def _dft_matrix(B, kind, n, cdt, inverse, norm):
    """The (n, n) DFT matrix ("c2c"), its first n//2 + 1 columns ("r2c"), or the
    (n//2 + 1, n) Hermitian-weighted inverse ("c2r", whose real part is the result),
    scaled for ``norm``, in storage dtype ``cdt``."""
    key = (id(B), kind, n, cdt, inverse, norm)
    w = _DFT.get(key)
    if w is None:
        if len(_DFT) >= 512:
            _DFT.clear()
        w = B.asarray(_dft_entries(kind, n, inverse, norm), dtype=B.dtype_from_native(cdt))
        _DFT[key] = w
    return w


def _along(B, x, axis, w):
    """``x`` times matrix ``w`` along ``axis`` (rows of ``w`` index the input)."""
    last = x.ndim - 1
    if axis == last:
        return B.matmul(x, w)
    if axis == last - 1:
        return B.matmul(B.matrix_transpose(w), x)
    moved = B.moveaxis(x, axis, -1)
    return B.moveaxis(B.matmul(moved, w), -1, axis)


_KRON_MAX = 64  # trailing axes of at most this many elements: one product in all
_KRON: dict = {}


def _kron_plan(B, mats, key):
    """The matrix of the separable transform by ``mats`` over flattened trailing axes,
    its number of rows and the output's trailing shape, cached under ``key``."""
    if len(_KRON) >= 256:
        _KRON.clear()
    w = mats[0]
    for m in mats[1:]:
        r, c = w.shape
        w = B.reshape(w[:, None, :, None] * m[None, :, None, :],
                      (r * m.shape[0], c * m.shape[1]))
    plan = _KRON[key] = (w, w.shape[0], tuple(m.shape[1] for m in mats))
    return plan


def _dft_matrices(B, shape, axes, last_kind, n, cdt, norm, inverse):
    """The DFT matrix of each of ``axes``: c2c but the last, ``last_kind`` there."""
    mats = [_dft_matrix(B, "c2c", shape[a], cdt, inverse, norm) for a in axes[:-1]]
    mats.append(_dft_matrix(B, last_kind, n, cdt, inverse, norm))
    return mats


def _small_transform(B, x, axes, last_kind, n, cdt, norm, inverse):
    """The transform over ``axes`` of a small ``x`` (storage, complex unless
    ``last_kind`` is "r2c") as matrix products: c2c along all but the last axis and
    ``last_kind`` along the last (of output length ``n`` for "c2r", whose real part is
    taken)."""
    shape, nd, k = x.shape, x.ndim, len(axes)
    # (a real x, "r2c": the products with complex matrices cast it, the same values as a
    # cast first, one call fewer)
    if k == 1:  # (the common case, without the general case's lists)
        y = _along(B, x, axes[0], _dft_matrix(B, last_kind, n, cdt, inverse, norm))
        return B.real(y) if last_kind == "c2r" else y
    if axes == tuple(range(nd - k, nd)) and math.prod(shape[nd - k:]) <= _KRON_MAX:
        key = (id(B), shape[nd - k:], last_kind, n, cdt, norm, inverse)
        plan = _KRON.get(key)  # (the matrix, its rows, the output's trailing shape)
        if plan is None:
            plan = _kron_plan(B, _dft_matrices(B, shape, axes, last_kind, n, cdt, norm,
                                               inverse), key)
        w, rows, out = plan
        lead = shape[:nd - k]
        y = B.reshape(B.matmul(B.reshape(x, lead + (rows,)), w), lead + out)
    else:
        mats = _dft_matrices(B, shape, axes, last_kind, n, cdt, norm, inverse)
        order = list(range(k)) if last_kind != "r2c" else [k - 1] + list(range(k - 1))
        y = x
        for i in order:
            y = _along(B, y, axes[i], mats[i])
    return B.real(y) if last_kind == "c2r" else y


def _finite(B, y):
    """Whether a small transform's result is finite: otherwise the input held an inf or
    NaN, which a matrix product smears over every entry (inf * 0 twiddle parts), and the
    FFT proper gives the entries PyTorch and NumPy give."""
    return B.all_finite(y)


def _c2c_fwd(B, x, *, axes, norm, inverse):
    m = x.shape[-1] if x.ndim else 0
    if len(axes) == 1 and axes[0] == x.ndim - 1 and m <= _SMALL_DFT:  # one product
        y = B.matmul(x, _dft_matrix(B, "c2c", m, x.dtype, inverse, norm))
        if B.all_finite(y):  # (see _finite)
            return y
    elif _small(x.shape, axes):
        y = _small_transform(B, x, axes, "c2c", x.shape[axes[-1]], x.dtype, norm, inverse)
        if _finite(B, y):
            return y
    if len(axes) == 1:  # the one-axis transform: half the n-d one's overhead
        return (B.fft.ifft if inverse else B.fft.fft)(x, axis=axes[0], norm=norm)
    return (B.fft.ifftn if inverse else B.fft.fftn)(x, axes=axes, norm=norm)


def _c2c_vjp_storage(B, needs, g, out, x, *, axes, norm, inverse):
    """The adjoint on storage: one axis by the backend's one-axis transform (the same
    values as its n-d one, without the n-d wrapper)."""
    if len(axes) == 1:
        return ((B.fft.fft if inverse else B.fft.ifft)(g, axis=axes[0], norm=_SWAP[norm]),)
    return ((B.fft.fftn if inverse else B.fft.ifftn)(g, axes=axes, norm=_SWAP[norm]),)


_c2c_prim = Primitive(
    "fftn", _c2c_fwd,
    vjp=lambda ns, needs, g, out, x, *, axes, norm, inverse:
        ((ns.fft.fftn if inverse else ns.fft.ifftn)(g, axes=axes, norm=_SWAP[norm]),),
    jvp=linear_jvp(lambda ns, t, *, axes, norm, inverse: _c2c(t, axes, norm, inverse)),
    vjp_storage=_c2c_vjp_storage, saves_inputs=False, saves_output=False)
_c2c_prim.batch = _vb.axis_rule(_c2c_prim, axes=("axes",))


def _c2c(x, axes, norm, inverse, key=None):
    return _run(key, _c2c_prim, x, {"axes": axes, "norm": norm, "inverse": inverse})


def _scale_inner(ns, h, axis, n, value):
    """``h``, a half spectrum along ``axis`` of a length-``n`` signal, with its entries
    other than the zero (and, n even, the Nyquist) frequency times ``value``."""
    mid = (n - 1) // 2
    if not mid:
        return h
    lead = (slice(None),) * axis
    parts = [h[lead + (slice(0, 1), Ellipsis)], h[lead + (slice(1, 1 + mid), Ellipsis)] * value]
    if h.shape[axis] > 1 + mid:
        parts.append(h[lead + (slice(1 + mid, None), Ellipsis)])
    return ns.concat(parts, axis=axis)


_COMPLEX_NATIVE: dict = {}  # (backend id, real storage dtype) -> complex storage dtype


def _complex_native(B, rdt):
    key = (id(B), rdt)
    cdt = _COMPLEX_NATIVE.get(key)
    if cdt is None:
        cdt = _COMPLEX_NATIVE[key] = B.native_dtype(_COMPLEX_OF[B.dtype_from_native(rdt)])
    return cdt


def _r2c_fwd(B, x, *, axes, norm, n):
    if len(axes) == 1 and axes[0] == x.ndim - 1 and n <= _SMALL_DFT:  # one product
        cdt = _complex_native(B, x.dtype)
        y = B.matmul(x, _dft_matrix(B, "r2c", n, cdt, False, norm))  # (casts x)
        if B.all_finite(y):  # (see _finite)
            return y
    elif _small(x.shape, axes):
        cdt = _complex_native(B, x.dtype)
        y = _small_transform(B, x, axes, "r2c", n, cdt, norm, False)
        if _finite(B, y):
            return y
    if len(axes) == 1:
        return B.fft.rfft(x, axis=axes[0], norm=norm)
    return B.fft.rfftn(x, axes=axes, norm=norm)


def _r2c_vjp(ns, needs, g, out, x, *, axes, norm, n):
    h = _scale_inner(ns, g, axes[-1], n, 0.5)
    s = tuple(h.shape[a] for a in axes[:-1]) + (n,)
    return (ns.fft.irfftn(h, s=s, axes=axes, norm=_SWAP[norm]),)


_r2c_prim = Primitive(
    "rfftn", _r2c_fwd, vjp=_r2c_vjp,
    jvp=linear_jvp(lambda ns, t, *, axes, norm, n: _r2c(t, axes, norm)),
    saves_inputs=False, saves_output=False)
_r2c_prim.batch = _vb.axis_rule(_r2c_prim, axes=("axes",))


def _r2c(x, axes, norm, key=None):
    return _run(key, _r2c_prim, x, {"axes": axes, "norm": norm, "n": x.shape[axes[-1]]})


def _c2r_fwd(B, x, *, axes, n, norm):
    if len(axes) == 1 and axes[0] == x.ndim - 1 and n <= _SMALL_DFT:  # one product
        y = B.real(B.matmul(x, _dft_matrix(B, "c2r", n, x.dtype, True, norm)))
        if B.all_finite(y):  # (see _finite)
            return y
    elif n <= _SMALL_DFT and _small(x.shape, axes[:-1]):
        y = _small_transform(B, x, axes, "c2r", n, x.dtype, norm, True)
        if _finite(B, y):
            return y
    if len(axes) == 1:
        return B.fft.irfft(x, n=n, axis=axes[0], norm=norm)
    s = tuple(x.shape[a] for a in axes[:-1]) + (n,)
    return B.fft.irfftn(x, s=s, axes=axes, norm=norm)


def _c2r_vjp(ns, needs, g, out, x, *, axes, n, norm):
    return (_scale_inner(ns, ns.fft.rfftn(g, axes=axes, norm=_SWAP[norm]), axes[-1], n, 2.0),)


_c2r_prim = Primitive(
    "irfftn", _c2r_fwd, vjp=_c2r_vjp,
    jvp=linear_jvp(lambda ns, t, *, axes, n, norm: _c2r(t, axes, n, norm)),
    saves_inputs=False, saves_output=False)
_c2r_prim.batch = _vb.axis_rule(_c2r_prim, axes=("axes",))


def _c2r(x, axes, n, norm, key=None):
    return _run(key, _c2r_prim, x, {"axes": axes, "n": n, "norm": norm})


# -- memoized calls: a public call whose operand needs no cast or resize is one transform,
# its checks and parameters remembered per (shape, storage dtype, device, arguments)
_CALLS: dict = {}  # memo key -> (primitive, params)


def _call_key(name, x, n, axis, norm):
    """The memo key of ``name(x, n or s, axis or axes, norm)``, or None (not memoized)."""
    if norm.__class__ is not str or n is not None and not _int_key(n):
        return None
    return _memo_key((name, n, norm), x, axis, False)


def _run(key, prim, x, params):
    """``prim`` on ``x``, remembered under ``key`` (None: not memoized)."""
    if key is not None:
        if len(_CALLS) >= 1024:
            _CALLS.clear()
        _CALLS[key] = (prim, params)
    return apply1(prim, x, params)




# -- complex transforms ---------------------------------------------------------------
def _fft1(name, x, n, axis, norm, inverse):
    key = _call_key(name, x, n, axis, norm)
    hit = _CALLS.get(key)  # (None: never a key)
    if hit is not None:
        return apply1(hit[0], x, hit[1])
    x0 = x
    x = _as_complex(name, x)
    _check_norm(name, norm)
    a = _axis(name, axis, x.ndim)
    if n is not None:
        x = _resize(x, (a,), (_size(name, n),))
    return _c2c(x, (a,), norm, inverse, key if x is x0 else None)


def _fftn(name, x, s, axes, norm, inverse):
    key = _call_key(name, x, s, axes, norm)
    hit = _CALLS.get(key)  # (None: never a key)
    if hit is not None:
        return apply1(hit[0], x, hit[1])
    x0 = x
    x = _as_complex(name, x)
    _check_norm(name, norm)
    axes, sizes = _axes_sizes(name, x, s, axes)
    x = _resize(x, axes, sizes)
    if not axes:
        return positive(x)
    return _c2c(x, axes, norm, inverse, key if x is x0 else None)


def fft(x, /, *, n=None, axis=-1, norm="backward"):
    """One-dimensional discrete Fourier transform along ``axis`` (length ``n``)."""
    return _fft1("fft", x, n, axis, norm, False)


def ifft(x, /, *, n=None, axis=-1, norm="backward"):
    """One-dimensional inverse discrete Fourier transform along ``axis``."""
    return _fft1("ifft", x, n, axis, norm, True)


def fftn(x, /, *, s=None, axes=None, norm="backward"):
    """n-dimensional discrete Fourier transform over ``axes`` (sizes ``s``)."""
    return _fftn("fftn", x, s, axes, norm, False)


def ifftn(x, /, *, s=None, axes=None, norm="backward"):
    """n-dimensional inverse discrete Fourier transform over ``axes`` (sizes ``s``)."""
    return _fftn("ifftn", x, s, axes, norm, True)


# -- real transforms ---------------------------------------------------------------------
def rfft(x, /, *, n=None, axis=-1, norm="backward"):
    """One-dimensional DFT of a real signal: the n//2 + 1 non-negative frequencies."""
    key = _call_key("rfft", x, n, axis, norm)
    hit = _CALLS.get(key)  # (None: never a key)
    if hit is not None:
        return apply1(hit[0], x, hit[1])
    x0 = x = _as_real("rfft", x)
    _check_norm("rfft", norm)
    a = _axis("rfft", axis, x.ndim)
    if n is not None:
        x = _resize(x, (a,), (_size("rfft", n),))
    return _r2c(x, (a,), norm, key if x is x0 else None)


def irfft(x, /, *, n=None, axis=-1, norm="backward"):
    """Inverse of ``rfft``: a real signal of length ``n`` (default 2 * (m - 1)) from
    its m non-negative frequencies."""
    key = _call_key("irfft", x, n, axis, norm)
    hit = _CALLS.get(key)  # (None: never a key)
    if hit is not None:
        return apply1(hit[0], x, hit[1])
    x0 = x
    x = _as_complex("irfft", x)
    _check_norm("irfft", norm)
    a = _axis("irfft", axis, x.ndim)
    n = 2 * (x.shape[a] - 1) if n is None else n
    n = _size("irfft", n)
    x = _resize(x, (a,), (n // 2 + 1,))
    return _c2r(x, (a,), n, norm, key if x is x0 else None)


def rfftn(x, /, *, s=None, axes=None, norm="backward"):
    """n-dimensional DFT of a real signal (half spectrum along the last of ``axes``)."""
    key = _call_key("rfftn", x, s, axes, norm)
    hit = _CALLS.get(key)  # (None: never a key)
    if hit is not None:
        return apply1(hit[0], x, hit[1])
    x0 = x = _as_real("rfftn", x)
    _check_norm("rfftn", norm)
    axes, sizes = _axes_sizes("rfftn", x, s, axes)
    if not axes:
        raise ValueError("rfftn: axes must not be empty")
    x = _resize(x, axes, sizes)
    return _r2c(x, axes, norm, key if x is x0 else None)


def irfftn(x, /, *, s=None, axes=None, norm="backward"):
    """Inverse of ``rfftn``; the last of ``axes`` has output length ``s[-1]``
    (default 2 * (m - 1))."""
    key = _call_key("irfftn", x, s, axes, norm)
    hit = _CALLS.get(key)  # (None: never a key)
    if hit is not None:
        return apply1(hit[0], x, hit[1])
    x0 = x
    x = _as_complex("irfftn", x)
    _check_norm("irfftn", norm)
    axes, sizes = _axes_sizes("irfftn", x, s, axes)
    if not axes:
        raise ValueError("irfftn: axes must not be empty")
    last = axes[-1]
    if s is None or tuple(s)[-1] == -1:
        n = 2 * (x.shape[last] - 1)
    else:
        n = sizes[-1]
    n = _size("irfftn", n, "s[-1]")
    x = _resize(x, axes, sizes[:-1] + (n // 2 + 1,))
    return _c2r(x, axes, n, norm, key if x is x0 else None)


def hfft(x, /, *, n=None, axis=-1, norm="backward"):
    """DFT of a signal with Hermitian symmetry given by its first half: a real result of
    length ``n`` (default 2 * (m - 1))."""
    x = _as_complex("hfft", x)
    _check_norm("hfft", norm)
    return irfft(conj(x), n=n, axis=axis, norm=_SWAP[norm])


def ihfft(x, /, *, n=None, axis=-1, norm="backward"):
    """Inverse of ``hfft``: the n//2 + 1 Hermitian half-spectrum of a real signal."""
    key = _call_key("ihfft", x, n, axis, norm)
    hit = _CALLS.get(key)  # (None: never a key)
    if hit is not None:
        return apply1(hit[0], x, hit[1])
    x0 = x = _as_real("ihfft", x)
    _check_norm("ihfft", norm)
    a = _axis("ihfft", axis, x.ndim)
    if n is not None:
        x = _resize(x, (a,), (_size("ihfft", n),))
    return _run(key if x is x0 else None, _ihfft_prim, x,
                {"axes": (a,), "norm": norm, "n": x.shape[a]})


# ihfft as one primitive: conj(rfft(x, norm=swapped)), whose small transform is the product
# by the conjugate twiddles (the same values, without a second node for the conj)
def _ihfft_fwd(B, x, *, axes, norm, n):
    if axes[0] == x.ndim - 1 and n <= _SMALL_DFT:
        cdt = _complex_native(B, x.dtype)
        y = B.matmul(x, _dft_matrix(B, "r2c", n, cdt, True, norm))  # (casts x)
        if B.all_finite(y):  # (see _finite)
            return y
    return B.conj(_r2c_fwd(B, x, axes=axes, norm=_SWAP[norm], n=n))


_ihfft_prim = Primitive(
    "ihfft", _ihfft_fwd,
    vjp=lambda ns, needs, g, out, x, *, axes, norm, n:
        _r2c_vjp(ns, needs, ns.conj(g), None, x, axes=axes, norm=_SWAP[norm], n=n),
    jvp=linear_jvp(lambda ns, t, *, axes, norm, n:
                   apply1(_ihfft_prim, t, {"axes": axes, "norm": norm, "n": n})),
    saves_inputs=False, saves_output=False)
_ihfft_prim.batch = _vb.axis_rule(_ihfft_prim, axes=("axes",))


# -- frequencies and shifts --------------------------------------------------------------
def _freq(name, n, d, dtype, device, real):
    n = _size(name, n)
    if isinstance(d, bool) or not isinstance(d, (int, float)):
        raise TypeError(f"{name}: d must be a real number, got {type(d).__name__}")
    dev = as_device(device)
    B = dev.backend
    dtype = _dtypes.default_on(_dtypes.default_float, B.supported_dtypes()) if dtype is None \
        else _dtypes.as_dtype(dtype, func=name)
    if dtype.kind != "f":
        raise ValueError(f"{name}: dtype must be a real floating-point dtype, got {dtype}")
    key = (real, n, float(d), dtype, dev)
    data = _FREQS.get(key)
    if data is None:  # (computed once per arguments; each call gets its own copy)
        fn = B.fft.rfftfreq if real else B.fft.fftfreq
        data = B.ensure_array(fn(n, d=float(d), dtype=B.native_dtype(dtype),
                                 device=B.native_device))
        if len(_FREQS) >= 256:
            _FREQS.clear()
        _FREQS[key] = data
    return _new(B.asarray(data, copy=True), dev)


_FREQS: dict = {}  # (real, n, d, dtype, device) -> the frequencies (storage, never exposed)


def fftfreq(n, /, *, d=1.0, dtype=None, device=None):
    """Sample frequencies of a length-``n`` DFT with sample spacing ``d``."""
    return _freq("fftfreq", n, d, dtype, device, False)


def rfftfreq(n, /, *, d=1.0, dtype=None, device=None):
    """Non-negative sample frequencies (n//2 + 1) of a length-``n`` real DFT."""
    return _freq("rfftfreq", n, d, dtype, device, True)


_SHIFT_INDEX: dict = {}  # (backend id, shape, axes, inverse) -> flat gather index
_SHIFT_GATHER_MAX = 4096  # elements: larger tensors roll (a cached index costs memory)


def _shift_fwd(B, x, *, axes, inverse):
    if not axes:
        return B.fft.fftshift(x, axes=axes)
    key = (id(B), x.shape, axes, inverse)
    idx = _SHIFT_INDEX.get(key)
    if idx is None:  # where each output element comes from: the roll of the positions
        shifts = tuple([-(x.shape[a] // 2) if inverse else x.shape[a] // 2 for a in axes])
        if not 0 < x.size <= _SHIFT_GATHER_MAX:
            return B.roll(x, shifts, axis=axes)  # (the library's shifts are this roll)
        if len(_SHIFT_INDEX) >= 256:
            _SHIFT_INDEX.clear()
        pos = B.reshape(B.arange(x.size, dtype=B.native_dtype(_dtypes.int64),
                                 device=B.native_device), x.shape)
        idx = _SHIFT_INDEX[key] = B.reshape(B.roll(pos, shifts, axis=axes), (-1,))
    return B.reshape(B.take(B.reshape(x, (-1,)), idx, axis=0), x.shape)  # one gather


_shift_prim = Primitive(
    "fftshift", _shift_fwd,
    vjp=lambda ns, needs, g, out, x, *, axes, inverse:
        ((ns.fft.fftshift if inverse else ns.fft.ifftshift)(g, axes=axes),),
    jvp=linear_jvp(lambda ns, t, *, axes, inverse: _shift(t, axes, inverse)),
    vjp_storage=lambda B, needs, g, out, x, *, axes, inverse:
        (_shift_fwd(B, g, axes=axes, inverse=not inverse),),
    saves_inputs=False, saves_output=False)
_shift_prim.batch = _vb.axis_rule(_shift_prim, axes=("axes",))


def _shift(x, axes, inverse):
    return apply1(_shift_prim, x, {"axes": axes, "inverse": inverse})


def _shift_public(name, x, axes, inverse):
    key = _memo_key(name, x, axes, False)
    hit = _CALLS.get(key)  # (None: never a key)
    if hit is not None:
        return apply1(hit[0], x, hit[1])
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
    axes = normalize_axes(name, axes, x.ndim)
    return _run(key, _shift_prim, x, {"axes": axes, "inverse": inverse})


def fftshift(x, /, *, axes=None):
    """Move the zero-frequency term to the centre along ``axes`` (default: all)."""
    return _shift_public("fftshift", x, axes, False)


def ifftshift(x, /, *, axes=None):
    """Inverse of ``fftshift``."""
    return _shift_public("ifftshift", x, axes, True)
