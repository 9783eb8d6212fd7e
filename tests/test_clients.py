"""Client libraries written against the standard take arraylib arrays as they are.

scikit-learn (array_api_dispatch=True), SciPy (SCIPY_ARRAY_API=1, set in conftest) and
array-api-extra run real calls on arraylib tensors; results must be arraylib tensors
on the input's device with NumPy's values.
"""
import numpy as np
import pytest

import arraylib as xp
from conftest import to_numpy

RNG = np.random.default_rng(0)
X_NP = RNG.standard_normal((40, 5))
Y_NP = X_NP @ RNG.standard_normal(5) + 0.1 * RNG.standard_normal(40)


def _check(result, expected, device, rtol=1e-7, atol=1e-9):
    assert isinstance(result, xp.Tensor), type(result)
    assert result.device == device
    np.testing.assert_allclose(to_numpy(result), expected, rtol=rtol, atol=atol)


# -- scikit-learn ----------------------------------------------------------------
sklearn = pytest.importorskip("sklearn")


@pytest.fixture
def dispatch():
    with sklearn.config_context(array_api_dispatch=True):
        yield


def test_sklearn_standard_scaler(dispatch, device):
    from sklearn.preprocessing import StandardScaler
    X = xp.asarray(X_NP, device=device)
    _check(StandardScaler().fit_transform(X), (X_NP - X_NP.mean(0)) / X_NP.std(0), device)


def test_sklearn_pca(dispatch, device):
    from sklearn.decomposition import PCA
    X = xp.asarray(X_NP, device=device)
    ours = PCA(n_components=3, svd_solver="full").fit(X)
    with sklearn.config_context(array_api_dispatch=False):
        ref = PCA(n_components=3, svd_solver="full").fit(X_NP)
    _check(ours.explained_variance_, ref.explained_variance_, device)
    # components are defined up to sign
    np.testing.assert_allclose(np.abs(to_numpy(ours.components_)), np.abs(ref.components_),
                               rtol=1e-6, atol=1e-9)


def test_sklearn_ridge(dispatch, device):
    from sklearn.linear_model import Ridge
    X, y = xp.asarray(X_NP, device=device), xp.asarray(Y_NP, device=device)
    ours = Ridge(alpha=1.0, solver="svd").fit(X, y)
    with sklearn.config_context(array_api_dispatch=False):
        ref = Ridge(alpha=1.0, solver="svd").fit(X_NP, Y_NP)
    _check(ours.coef_, ref.coef_, device)
    _check(ours.predict(X), ref.predict(X_NP), device)


def test_sklearn_pairwise_and_r2(dispatch, device):
    from sklearn.metrics import pairwise_distances, r2_score
    X = xp.asarray(X_NP, device=device)
    with sklearn.config_context(array_api_dispatch=False):
        ref_d = pairwise_distances(X_NP)
        ref_r2 = r2_score(Y_NP, 0.9 * Y_NP)
    _check(pairwise_distances(X), ref_d, device, atol=1e-7)
    y = xp.asarray(Y_NP, device=device)
    r2 = r2_score(y, 0.9 * y)
    assert float(r2) == pytest.approx(ref_r2, rel=1e-10)


# -- SciPy -------------------------------------------------------------------------
def test_scipy_logsumexp(device):
    from scipy.special import logsumexp
    X = xp.asarray(X_NP, device=device)
    _check(logsumexp(X, axis=1), np.log(np.exp(X_NP).sum(1)), device)


def test_scipy_fft(device):
    import scipy.fft
    X = xp.asarray(X_NP, device=device)
    _check(scipy.fft.fft(X, axis=0), np.fft.fft(X_NP, axis=0), device)


def test_scipy_zscore(device):
    from scipy import stats
    X = xp.asarray(X_NP, device=device)
    _check(stats.zscore(X, axis=0), (X_NP - X_NP.mean(0)) / X_NP.std(0), device)


# -- array-api-extra ----------------------------------------------------------------
xpx = pytest.importorskip("array_api_extra")


def test_xpx_cov(device):
    X = xp.asarray(X_NP.T, device=device)
    _check(xpx.cov(X), np.cov(X_NP.T), device)


def test_xpx_atleast_nd(device):
    x = xp.asarray(1.0, device=device)
    y = xpx.atleast_nd(x, ndim=3)
    assert isinstance(y, xp.Tensor) and y.shape == (1, 1, 1)


def test_xpx_at_set(device):
    x = xp.zeros(5, dtype=xp.float64, device=device)
    y = xpx.at(x)[1:3].set(7.0, copy=True)
    _check(y, np.array([0, 7, 7, 0, 0.0]), device)
    assert to_numpy(x).tolist() == [0.0] * 5  # copy=True leaves the input untouched
    z = xpx.at(x, 4).add(2.0, copy=False)      # copy=False writes through
    assert z is x and to_numpy(x).tolist() == [0.0, 0.0, 0.0, 0.0, 2.0]
