"""Gradients *through* array-API client code: scikit-learn, SciPy and array-api-extra
run on tensors that require grad (or carry a forward-mode tangent), and the derivative
of their output w.r.t. the array input is checked against central differences in both
modes, and forward mode against reverse (<u, J v> == <J^T u, v>).

Where a client path leaves the namespace (it converts to NumPy), arraylib refuses with a
clear error instead of silently dropping the gradient; those paths are listed at the end.
Each test skips on its own when its client is not installed.
"""
from __future__ import annotations

import importlib
import os
import sys

import numpy as np
import pytest

import arraylib as xp
from arraylib.autograd import forward_ad as fwAD
from _fd import check_grads
from conftest import to_numpy

RNG = np.random.default_rng(19)
X = RNG.standard_normal((6, 3))           # samples x features
Y = RNG.standard_normal(6)                # a 1-d signal / target
POS = RNG.uniform(0.5, 2.0, (6, 3))       # positive data (means, entropies, chi2)
PROB = RNG.uniform(0.1, 0.9, 6)           # probabilities
LABELS = [0, 1, 1, 0, 1, 0]


def _sk(fn):
    """Run ``fn`` with scikit-learn's array-API dispatch on."""
    def run(*args):
        sklearn = pytest.importorskip("sklearn")
        with sklearn.config_context(array_api_dispatch=True):
            return fn(*args)
    return run


def _mods(*names):
    """Import the named client modules (skipping the test when one is missing)."""
    return [pytest.importorskip(n) for n in names]


# -- the calls: name -> (client module, function of tensors, input arrays) ---------------------
def _skpp():
    return _mods("sklearn.preprocessing")[0]


def _skm():
    return _mods("sklearn.metrics")[0]


def _skpw():
    return _mods("sklearn.metrics.pairwise")[0]


def _special():
    return _mods("scipy.special")[0]


def _stats():
    return _mods("scipy.stats")[0]


def _signal():
    return _mods("scipy.signal")[0]


def _fft():
    return _mods("scipy.fft")[0]


def _xpx():
    return _mods("array_api_extra")[0]


def _labels(like):
    return xp.asarray(LABELS, device=like.device)


CALLS = {
    # scikit-learn preprocessing
    "sklearn.MinMaxScaler": (_sk(lambda a: _skpp().MinMaxScaler().fit_transform(a)), [X]),
    "sklearn.MaxAbsScaler": (_sk(lambda a: _skpp().MaxAbsScaler().fit_transform(a)), [X]),
    "sklearn.StandardScaler(with_std=False)": (
        _sk(lambda a: _skpp().StandardScaler(with_std=False).fit_transform(a)), [X]),
    "sklearn.KernelCenterer": (_sk(lambda a: _skpp().KernelCenterer().fit_transform(a @ a.T)),
                               [X]),
    # scikit-learn linear models (the fitted coefficients as functions of the data)
    "sklearn.Ridge.coef_": (_sk(lambda a, b: _mods("sklearn.linear_model")[0].Ridge(
        alpha=1.0, solver="svd").fit(a, b).coef_), [X, Y]),
    "sklearn.Ridge.predict": (_sk(lambda a, b: _mods("sklearn.linear_model")[0].Ridge(
        alpha=0.5).fit(a, b).predict(a)), [X, Y]),
    # scikit-learn metrics (per output: the averaged ones return a Python float)
    "sklearn.r2_score": (_sk(lambda a, b: _skm().r2_score(a, b, multioutput="raw_values")),
                         [X, 0.5 * X + 0.1]),
    "sklearn.mean_squared_error": (_sk(lambda a, b: _skm().mean_squared_error(
        a, b, multioutput="raw_values")), [X, 0.5 * X]),
    "sklearn.mean_absolute_error": (_sk(lambda a, b: _skm().mean_absolute_error(
        a, b, multioutput="raw_values")), [X, 0.5 * X]),
    "sklearn.explained_variance_score": (_sk(lambda a, b: _skm().explained_variance_score(
        a, b, multioutput="raw_values")), [X, 0.5 * X + 0.1 * X ** 2]),
    "sklearn.mean_pinball_loss": (_sk(lambda a, b: _skm().mean_pinball_loss(
        a, b, multioutput="raw_values")), [X, 0.5 * X]),
    "sklearn.mean_absolute_percentage_error": (
        _sk(lambda a, b: _skm().mean_absolute_percentage_error(a, b, multioutput="raw_values")),
        [POS, 0.5 * POS]),
    "sklearn.d2_absolute_error_score": (_sk(lambda a, b: _skm().d2_absolute_error_score(
        a, b, multioutput="raw_values")), [X, 0.5 * X]),
    "sklearn.pairwise_distances": (_sk(lambda a: _skpw().pairwise_distances(a, a[:2] + 1.0)),
                                   [X]),
    "sklearn.euclidean_distances": (_sk(lambda a, b: _skpw().euclidean_distances(a, b)),
                                    [X, X[:2] + 0.3]),
    "sklearn.rbf_kernel": (_sk(lambda a: _skpw().rbf_kernel(a, gamma=0.3)), [X]),
    "sklearn.polynomial_kernel": (_sk(lambda a: _skpw().polynomial_kernel(a, degree=2)), [X]),
    "sklearn.linear_kernel": (_sk(lambda a: _skpw().linear_kernel(a)), [X]),
    "sklearn.sigmoid_kernel": (_sk(lambda a: _skpw().sigmoid_kernel(a)), [X]),
    "sklearn.chi2_kernel": (_sk(lambda a: _skpw().chi2_kernel(a)), [POS]),
    "sklearn.additive_chi2_kernel": (_sk(lambda a: _skpw().additive_chi2_kernel(a)), [POS]),
    "sklearn.paired_euclidean_distances": (
        _sk(lambda a, b: _skpw().paired_euclidean_distances(a, b)), [X, X + 0.5]),
    "sklearn.manhattan_distances": (_sk(lambda a: _skpw().manhattan_distances(a, a[:2] + 0.25)),
                                    [X]),
    "sklearn.laplacian_kernel": (_sk(lambda a: _skpw().laplacian_kernel(a, a[:2] + 0.25)), [X]),
    # SciPy special
    "scipy.special.logsumexp": (lambda a: _special().logsumexp(a, axis=1), [X]),
    "scipy.special.softmax": (lambda a: _special().softmax(a, axis=1), [X]),
    "scipy.special.xlogy": (lambda a, b: _special().xlogy(a, b), [POS, POS[::-1].copy()]),
    "scipy.special.rel_entr": (lambda a, b: _special().rel_entr(a, b), [POS, POS[::-1].copy()]),
    # SciPy stats
    "scipy.stats.zmap": (lambda a, b: _stats().zmap(a, b), [X, X + 0.2 * X ** 2]),
    "scipy.stats.kurtosis": (lambda a: _stats().kurtosis(a, axis=0), [X]),
    "scipy.stats.variation": (lambda a: _stats().variation(a, axis=0), [POS]),
    "scipy.stats.gmean": (lambda a: _stats().gmean(a, axis=0), [POS]),
    "scipy.stats.hmean": (lambda a: _stats().hmean(a, axis=0), [POS]),
    "scipy.stats.pmean": (lambda a: _stats().pmean(a, 2.5, axis=0), [POS]),
    "scipy.stats.tmean": (lambda a: _stats().tmean(a), [Y]),
    "scipy.stats.tvar": (lambda a: _stats().tvar(a), [Y]),
    "scipy.stats.tstd": (lambda a: _stats().tstd(a), [Y]),
    "scipy.stats.sem": (lambda a: _stats().sem(a, axis=0), [X]),
    "scipy.stats.entropy(p, q)": (lambda a, b: _stats().entropy(a, b), [PROB, PROB[::-1].copy()]),
    "scipy.stats.describe.variance": (lambda a: _stats().describe(a).variance, [Y]),
    "scipy.stats.gstd": (lambda a: _stats().gstd(a), [POS[:, 0].copy()]),
    "scipy.stats.differential_entropy": (lambda a: _stats().differential_entropy(a), [Y]),
    "scipy.stats.iqr": (lambda a: _stats().iqr(a), [Y]),
    "scipy.stats.trim_mean": (lambda a: _stats().trim_mean(a, 0.1), [Y]),
    # SciPy signal
    "scipy.signal.fftconvolve": (lambda a, b: _signal().fftconvolve(a, b), [Y, PROB[:3].copy()]),
    "scipy.signal.oaconvolve": (lambda a, b: _signal().oaconvolve(a, b), [Y, PROB[:3].copy()]),
    "scipy.signal.hilbert": (lambda a: _signal().hilbert(a), [Y]),
    # SciPy fft
    "scipy.fft.fft": (lambda a: _fft().fft(a), [Y]),
    "scipy.fft.ifft": (lambda a: _fft().ifft(a), [Y]),
    "scipy.fft.rfft": (lambda a: _fft().rfft(a), [Y]),
    "scipy.fft.irfft": (lambda a: _fft().irfft(a), [Y]),
    "scipy.fft.hfft": (lambda a: _fft().hfft(a), [Y]),
    "scipy.fft.fft2": (lambda a: _fft().fft2(a), [X]),
    "scipy.fft.rfftn": (lambda a: _fft().rfftn(a), [X]),
    "scipy.fft.fftshift": (lambda a: _fft().fftshift(a), [Y]),
    # array-api-extra
    "xpx.cov": (lambda a: _xpx().cov(a), [X.T.copy()]),
    "xpx.sinc": (lambda a: _xpx().sinc(a), [Y]),
    "xpx.atleast_nd": (lambda a: _xpx().atleast_nd(a, ndim=3), [Y]),
    "xpx.expand_dims": (lambda a: _xpx().expand_dims(a, axis=(0, 2)), [Y]),
    "xpx.kron": (lambda a, b: _xpx().kron(a, b), [X[:2, :2].copy(), PROB[:3].copy()]),
    "xpx.pad": (lambda a: _xpx().pad(a, 2), [Y]),
    "xpx.create_diagonal": (lambda a: _xpx().create_diagonal(a), [Y]),
    "xpx.nan_to_num": (lambda a: _xpx().nan_to_num(a), [Y]),
    "xpx.apply_where": (lambda a: _xpx().apply_where(a > 0.5, a, xp.log, fill_value=0.0),
                        [POS[:, 0].copy()]),
    "xpx.partition": (lambda a: _xpx().partition(a, 2), [Y]),
    "xpx.at.set(copy=True)": (lambda a: _xpx().at(a)[1:3].set(0.0, copy=True), [Y]),
    "xpx.at.add(copy=True)": (lambda a, b: _xpx().at(a)[1:3].add(b, copy=True),
                              [Y, PROB[:2].copy()]),
    "xpx.at.multiply(copy=True)": (lambda a, b: _xpx().at(a)[1:3].multiply(b, copy=True),
                                   [Y, PROB[:2].copy()]),
    "xpx.one_hot": (lambda a: _xpx().one_hot(xp.asarray([0, 2, 1], device=a.device), 3) * a[:3],
                    [Y]),
}


def _dot(a, b) -> float:
    return float(np.real(np.vdot(to_numpy(a), to_numpy(b))))


def _forward_matches_reverse(fn, arrays, device, seed=1):
    """<u, J v> from one forward-mode pass equals <J^T u, v> from one backward pass."""
    rng = np.random.default_rng(seed)
    vs = [rng.standard_normal(np.shape(a)) for a in arrays]
    with fwAD.dual_level():
        duals = [fwAD.make_dual(xp.asarray(a, device=device), xp.asarray(v, device=device))
                 for a, v in zip(arrays, vs)]
        dual_out = fwAD.unpack_dual(fn(*duals))
    us = rng.standard_normal(dual_out.primal.shape)
    if xp.isdtype(dual_out.primal.dtype, "complex floating"):
        us = us + 1j * rng.standard_normal(us.shape)
    xs = [xp.asarray(a, device=device, requires_grad=True) for a in arrays]
    out = fn(*xs)
    grads = xp.autograd.grad([out], xs, [xp.asarray(us, device=device)], allow_unused=True)
    rev = sum(_dot(g, v) for g, v in zip(grads, vs) if g is not None)
    fwd = _dot(xp.asarray(us, device=device), dual_out.tangent)
    assert fwd == pytest.approx(rev, rel=1e-8, abs=1e-10)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_gradient_through_client(name, device):
    fn, arrays = CALLS[name]
    check_grads(fn, arrays, device, rtol=1e-5, atol=1e-6)
    _forward_matches_reverse(fn, arrays, device)


def test_enough_client_calls_are_covered():
    assert len(CALLS) >= 40


# -- paths that leave the namespace ------------------------------------------------------------
# SciPy runs these through NumPy (np.asarray on the input) for a namespace it does not
# know natively; scikit-learn's LinearRegression calls scipy.linalg.lstsq.  A tensor that
# requires grad refuses the conversion instead of losing its gradient silently; the same
# call on a detached tensor runs (the conversion is the only problem), except
# LinearRegression, whose array-API path itself breaks on NumPy's lstsq result
# (``xp.astype(ndarray)``, for array_api_strict too).
LEAVES = {
    "scipy.special.erf": lambda a: _special().erf(a),
    "scipy.special.gammaln": lambda a: _special().gammaln(a),
    "scipy.special.expit": lambda a: _special().expit(a),
    "scipy.special.ndtr": lambda a: _special().ndtr(a),
    "scipy.stats.ttest_1samp": lambda a: _stats().ttest_1samp(a, 0.0).statistic,
    "scipy.stats.pearsonr": lambda a: _stats().pearsonr(a, a ** 2).statistic,
    "scipy.signal.convolve": lambda a: _signal().convolve(a, a),
    "scipy.signal.lfilter": lambda a: _signal().lfilter(
        xp.asarray([0.5, 0.5], device=a.device), xp.asarray([1.0], device=a.device), a),
    "scipy.fft.dct": lambda a: _fft().dct(a),
    "sklearn.LinearRegression": _sk(lambda a: _mods("sklearn.linear_model")[0]
                                    .LinearRegression().fit(a[:, None], a ** 2).coef_),
}
NOT_ARRAY_API = {"sklearn.LinearRegression"}


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_leaving_the_namespace_is_a_clear_error(name):
    call = LEAVES[name]
    x = xp.asarray(PROB, requires_grad=True)
    with pytest.raises(RuntimeError, match="can't convert a tensor that requires grad to NumPy"):
        call(x)
    if name in NOT_ARRAY_API:
        return
    out = call(x.detach())  # without a gradient to lose, the same path runs
    assert np.all(np.isfinite(np.asarray(to_numpy(xp.asarray(out)), dtype=complex)))


def test_metrics_averaged_to_a_python_float_end_the_graph():
    """scikit-learn's averaged metrics return ``float(...)``: the path leaves tensors (as
    with ``float(t)`` in PyTorch); the per-output form keeps the gradient (above)."""
    skm = _skm()
    y = xp.asarray(Y, requires_grad=True)
    r2 = _sk(lambda a: skm.r2_score(a, 0.5 * a + 0.1))(y)
    assert isinstance(r2, float)


# -- paths that write in place into a tensor saved for backward --------------------------------
# These clients overwrite, in place, an intermediate that an earlier operation saved for
# its derivative (StandardScaler: ``scale[scale == 0] = 1`` after ``sqrt``; PCA: svd_flip's
# ``u *= signs``; scipy's log_softmax: ``x_max[~isfinite(x_max)] = 0`` after ``max``).
# arraylib records the write, then refuses the stale derivative as PyTorch does, naming
# the operation whose saved tensor changed.
INPLACE = {
    "sklearn.StandardScaler": (_sk(lambda a: _skpp().StandardScaler().fit_transform(a)), "sqrt"),
    "sklearn.normalize": (_sk(lambda a: _skpp().normalize(a)), "sqrt"),
    "sklearn.PCA": (_sk(lambda a: _mods("sklearn.decomposition")[0].PCA(
        2, svd_solver="full").fit_transform(a)), "svd"),
    "scipy.special.log_softmax": (lambda a: _special().log_softmax(a, axis=1), "max"),
    "scipy.stats.zscore": (lambda a: _stats().zscore(a, axis=0), "divide"),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_write_over_a_saved_tensor_is_named(name):
    call, prim = INPLACE[name]
    x = xp.asarray(X, requires_grad=True)
    out = call(x)
    with pytest.raises(RuntimeError, match=f"modified by an inplace operation: output 0 of {prim}"):
        xp.sum(out).backward()


def test_differentiable_scipy_example_recovers_the_blur(device, capsys):
    pytest.importorskip("scipy.signal")
    examples = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "examples")
    if examples not in sys.path:
        sys.path.insert(0, examples)
    example = importlib.import_module("differentiable_scipy")
    sigma = example.main(["--steps", "100", "--device", str(device)])
    assert sigma == pytest.approx(3.0, rel=0.03)
    assert "true sigma = 3.0000" in capsys.readouterr().out
