"""scikit-learn estimators over compiled infinite-width kernels.

``NTKRegressor`` and ``NTKClassifier`` predict with the mean of an infinite
ensemble of infinitely wide networks trained by gradient descent on the MSE
for time ``t`` (``None``: to convergence), ``NNGPRegressor`` with the
Bayesian NNGP posterior (``ntkc.predict``). The network is a ``.ntk`` file
(``net_file``: a path, or the source text itself), the net in it (``net``)
and overrides of its ``let`` constants (``constants={"w": 2.0}``, or in a
grid ``{"constants__w": [1.0, 2.0]}``). Without a file the estimators use a
ReLU MLP of depth 3 whose ``let W_std`` and ``let b_std`` can be gridded the
same way, and whose input width is that of X.

Rows of X are examples; for image or sequence nets they are reshaped to the
input's declared shape (X has H·W·C columns). Grams are computed in float64.

Compiling a net is the slow step of a fit, so compiled kernels are kept in
one cache shared by every estimator and clone, keyed by (source text, net,
constants): a ``GridSearchCV`` compiles each grid point once rather than
once per fold, and the examples are padded to a few bucket sizes so that
folds of slightly different sizes reuse one XLA compilation. A ``let``
constant still selects a compiled function (it is baked into the kernel,
not a run-time argument), so each new value of it is one compilation.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as e:  # pragma: no cover - the extras install it
    raise ImportError("ntkc.sklearn needs scikit-learn: pip install 'ntkc[examples]'") from e

from . import predict
from .errors import NtkError

__all__ = ["NTKRegressor", "NTKClassifier", "NNGPRegressor", "cache"]

#: The estimators' network when ``net_file`` is None; ``{dim}`` is X's width.
DEFAULT_NET = """\
# ntkc.sklearn's default network: a ReLU MLP (gridded through its lets)
let W_std = 1.5
let b_std = 0.05
input vector(dim={dim})
net mlp {{
    repeat 2 {{ Dense(W_std=W_std, b_std=b_std) Relu }}
    Dense(W_std=W_std, b_std=b_std)
}}
"""


class KernelCache:
    """Compiled kernels by (source, net, constants), least recently used
    dropped past ``maxsize`` (0: no caching). ``hits``/``misses`` count look-ups."""

    def __init__(self, maxsize: int = 32):
        self.maxsize = maxsize
        self.hits = self.misses = 0
        self._items = OrderedDict()

    def get(self, source, filename, net, constants):
        import ntkc
        key = (source, net, _frozen(constants))
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key]
        self.misses += 1
        kernel = ntkc.compile(source, net, filename, constants=dict(constants or {}))
        if self.maxsize > 0:
            self._items[key] = kernel
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return kernel

    def clear(self):
        self._items.clear()
        self.hits = self.misses = 0


#: The cache every estimator uses.
cache = KernelCache()


def _frozen(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def _bucket(n: int) -> int:
    """n rounded up to keep its top 4 bits (≤ 1/8 padding): fold sizes that
    differ by a few examples share a shape and so one XLA compilation."""
    step = 1 << max(0, n.bit_length() - 4)
    return math.ceil(n / step) * step


class _KernelEstimator(BaseEstimator):
    _gets = ("nngp", "ntk")

    def set_params(self, **params):
        """As BaseEstimator's, plus ``constants__NAME=value`` for one ``let``."""
        lets = {k[len("constants__"):]: params.pop(k) for k in list(params)
                if k.startswith("constants__")}
        if params:
            super().set_params(**params)
        if lets:
            self.constants = {**(self.constants or {}), **lets}
        return self

    # -- the network ---------------------------------------------------------------------
    def _source(self, dim):
        if self.net_file is None:
            return DEFAULT_NET.format(dim=dim), "<ntkc.sklearn default net>"
        text = str(self.net_file)
        if "\n" in text:
            return text, "<net_file>"
        from .parse import read_source
        return read_source(text), text

    def _kernel(self):
        return cache.get(self.source_, self.filename_, self.net, self.constants)

    def _shaped(self, X):
        shape = self._compiled.net.input
        if shape.kind == "graph":
            raise NtkError(f"{self.filename_}: ntkc.sklearn takes vector, sequence or image "
                           f"nets; this one's input is a graph")
        want = tuple(shape.spatial) + (shape.channels,)
        if X.shape[1] != math.prod(want):
            raise NtkError(f"X has {X.shape[1]} features, but the net's input "
                           f"{shape.describe()} has {math.prod(want)} (shape {want})")
        return X.reshape((X.shape[0],) + want)

    def _grams(self, x1, x2, gets):
        """{get: Gram} between rows of x1 and x2 (None: x1), padded to bucket sizes."""
        import jax
        kernel = self._compiled

        def pad(x):
            extra = _bucket(len(x)) - len(x)
            return np.concatenate([x, np.zeros((extra,) + x.shape[1:])]) if extra else x

        with jax.enable_x64(True):
            a = pad(self._shaped(x1))
            b = None if x2 is None else pad(self._shaped(x2))
            out = kernel(a, b, get=gets, memory_limit=self.memory_limit)
            n2 = len(x1) if x2 is None else len(x2)
            return {g: np.asarray(k, dtype=np.float64)[:len(x1), :n2] for g, k in zip(gets, out)}

    # -- fit / predict ---------------------------------------------------------------------
    def _fit(self, X, targets):
        self.source_, self.filename_ = self._source(X.shape[1])
        # One look-up per fit: the fitted estimator keeps its kernel.
        self._compiled = self._kernel()
        self.X_train_ = X
        self.train_grams_ = self._grams(X, None, self._gets)
        self._targets = targets
        # Eigendecompositions happen on first use, inside the predictor.
        self._post = self._make_predictor(self.train_grams_, targets)
        return self

    def _predictor(self):
        return self._post

    def _test(self, X):
        check_is_fitted(self, "train_grams_")
        return validate_data(self, X, reset=False, dtype=np.float64)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_post", None)             # closures and jitted functions:
        state.pop("_compiled", None)         # rebuilt when unpickled
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "train_grams_" in state:
            self._compiled = self._kernel()
            self._post = self._make_predictor(self.train_grams_, self._targets)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


class _Regressor(RegressorMixin, _KernelEstimator):
    def fit(self, X, y):
        """Compute the train Gram(s) of X; y is (n,) or (n, K)."""
        X, y = validate_data(self, X, y, y_numeric=True, multi_output=True, dtype=np.float64)
        return self._fit(X, y)

    def predict(self, X, return_std=False, return_cov=False):
        """The posterior / ensemble mean on X, shaped like y; with ``return_std``
        or ``return_cov`` also the standard deviations (m,) or covariance (m, m)
        of the outputs (each output column has the same)."""
        X = self._test(X)
        if return_std and return_cov:
            raise NtkError("ask for return_std or return_cov, not both")
        need = return_std or return_cov
        k_td = self._grams(X, self.X_train_, self._gets)
        k_tt = self._grams(X, None, ("nngp",) if "ntk" in self._gets else self._gets) if need else None
        out = self._mean_cov(k_td, k_tt)
        if not need:
            return out
        mean, cov = out
        return (mean, np.sqrt(np.diagonal(cov))) if return_std else (mean, cov)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


_COMMON = """
    ``net_file``: a ``.ntk`` path or source text (None: a ReLU MLP with lets
    ``W_std``, ``b_std``); ``net``: the net's name (None: the last);
    ``constants``: ``{let name: value}`` overrides; ``diag_reg``: added to
    the train Gram's diagonal before it is inverted, in units of its mean
    diagonal unless ``diag_reg_absolute_scale`` (like GaussianProcessRegressor's
    ``alpha``, a small default keeps duplicated rows of X solvable);
    ``memory_limit``: the kernel's working-memory budget (ntkc.Kernel)."""


class _GradientDescent(_KernelEstimator):
    """The parameters and predictor of the trained-ensemble estimators."""

    def __init__(self, net_file=None, net=None, constants=None, t=None, learning_rate=1.0,
                 diag_reg=1e-6, diag_reg_absolute_scale=False, memory_limit=None):
        self.net_file, self.net, self.constants = net_file, net, constants
        self.t, self.learning_rate = t, learning_rate
        self.diag_reg, self.diag_reg_absolute_scale = diag_reg, diag_reg_absolute_scale
        self.memory_limit = memory_limit

    def _make_predictor(self, grams, y):
        return predict.ensemble_from_grams(grams, y, self.learning_rate, self.diag_reg,
                                           self.diag_reg_absolute_scale)


class NTKRegressor(_Regressor, _GradientDescent):
    __doc__ = """Regression with the infinite ensemble of infinitely wide nets
    trained by gradient descent on the MSE for ``t`` steps of size
    ``learning_rate`` (``t=None``: to convergence, kernel regression with the
    NTK), as ``ntkc.predict.gradient_descent_mse_ensemble``.""" + _COMMON

    def _mean_cov(self, k_td, k_tt):
        return self._predictor()(self.t, k_td, k_tt, get="ntk")


class NNGPRegressor(_Regressor):
    __doc__ = """Regression with the Bayesian posterior of the infinitely wide
    net (the NNGP), ``diag_reg`` being the observation-noise variance; as
    ``ntkc.predict.gp_inference(...)("nngp", ...)``.""" + _COMMON
    _gets = ("nngp",)

    def __init__(self, net_file=None, net=None, constants=None, diag_reg=1e-6,
                 diag_reg_absolute_scale=False, memory_limit=None):
        self.net_file, self.net, self.constants = net_file, net, constants
        self.diag_reg, self.diag_reg_absolute_scale = diag_reg, diag_reg_absolute_scale
        self.memory_limit = memory_limit

    def _make_predictor(self, grams, y):
        return predict.gp_inference(grams, y, self.diag_reg, self.diag_reg_absolute_scale)

    def _mean_cov(self, k_td, k_tt):
        return self._predictor()("nngp", k_td, k_tt)


class NTKClassifier(ClassifierMixin, _GradientDescent):
    __doc__ = """Classification by the NTK ensemble's mean on one-hot targets:
    the class with the largest output after ``t`` steps (``t=None``: to
    convergence), as in the NTK / CNTK papers.""" + _COMMON
    _gets = ("ntk",)

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, index = np.unique(y, return_inverse=True)
        onehot = np.eye(len(self.classes_))[index]
        return self._fit(X, onehot)

    def decision_function(self, X):
        """The ensemble's mean outputs (m, classes); for two classes the
        difference (m,), positive for ``classes_[1]``."""
        X = self._test(X)
        out = self._predictor()(self.t, self._grams(X, self.X_train_, self._gets), None, get="ntk")
        return out[:, 1] - out[:, 0] if len(self.classes_) == 2 else out

    def predict(self, X):
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]
