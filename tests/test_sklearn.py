"""ntkc.sklearn: scikit-learn's own estimator checks, Pipeline and GridSearchCV
(with the kernel cache shared across clones), let constants as parameters,
and the predictions against ntkc.predict and an independent numpy solve."""

import pickle

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import ntkc
from conftest import EXAMPLES
from ntkc import predict
from ntkc.data import load_uci
from ntkc.sklearn import NNGPRegressor, NTKClassifier, NTKRegressor, cache

#: A cheap sample of scikit-learn's checks run by default; the rest are -m slow
#: (all of them take ~40 s per estimator on 2 cores; every one passes).
FAST = {"check_estimators_pickle", "check_set_params", "check_get_params_invariance",
        "check_dict_unchanged", "check_supervised_y_2d", "check_estimators_unfitted",
        "check_n_features_in", "check_fit2d_predict1d", "check_estimators_fit_returns_self",
        "check_classifiers_regression_target"}


def _checks():
    mark = parametrize_with_checks([NTKRegressor(), NTKClassifier(), NNGPRegressor()])
    names, values = mark.mark.args[:2]
    params = []
    for value in values:
        est, check = value.values if hasattr(value, "values") else value
        name = getattr(check, "func", check).__name__
        marks = () if name in FAST else (pytest.mark.slow,)
        params.append(pytest.param(est, check, marks=marks,
                                   id=f"{type(est).__name__}-{name}"))
    return names, params


@pytest.mark.parametrize(*_checks())
def test_sklearn_check(estimator, check):
    check(estimator)


def wine(n=60):
    """n rows of UCI wine (13 features, 3 classes), in a fixed random order."""
    data = load_uci(EXAMPLES / "data", "wine")
    rows = np.random.default_rng(0).permutation(len(data.y))[:n]
    return data.x[rows], data.y[rows]


def test_predictions_equal_ntkc_predict_and_numpy():
    """The regressors' means are ntkc.predict's on the same Grams, and the
    t = ∞ NTK mean is the ridge solve k(x, X)(Θ + rI)⁻¹ y done with numpy."""
    rng = np.random.default_rng(1)
    X, Xt, y = rng.normal(size=(20, 3)), rng.normal(size=(6, 3)), rng.normal(size=(20, 2))
    src = "input vector(dim=3)\nlet w = 1.3\nnet n { Dense(W_std=w, b_std=0.1) Erf Dense(W_std=w) }\n"
    kernel = ntkc.compile(src, constants={"w": 1.7})
    kdd = dict(zip(("nngp", "ntk"), map(np.asarray, kernel(X, get=("nngp", "ntk")))))
    ktd = dict(zip(("nngp", "ntk"), map(np.asarray, kernel(Xt, X, get=("nngp", "ntk")))))
    ktt = np.asarray(kernel(Xt, get="nngp"))
    th = kdd["ntk"] + 0.01 * np.trace(kdd["ntk"]) / 20 * np.eye(20)
    reg = NTKRegressor(src, constants={"w": 1.7}, diag_reg=0.01).fit(X, y)
    np.testing.assert_allclose(reg.predict(Xt), ktd["ntk"] @ np.linalg.solve(th, y), rtol=1e-8)
    mean, cov = NTKRegressor(src, constants={"w": 1.7}, t=3.0, learning_rate=0.5).fit(X, y).predict(
        Xt, return_cov=True)
    want = predict.ensemble_from_grams(kdd, y, 0.5, 1e-6)(3.0, ktd, {"nngp": ktt}, get="ntk")
    np.testing.assert_allclose(mean, want.mean, rtol=1e-8)
    np.testing.assert_allclose(cov, want.covariance, rtol=1e-7, atol=1e-12)
    mean, std = NNGPRegressor(src, constants={"w": 1.7}, diag_reg=0.1).fit(X, y[:, 0]).predict(
        Xt, return_std=True)
    want = predict.gp_inference(kdd, y[:, 0], 0.1)("nngp", ktd, ktt)
    np.testing.assert_allclose(mean, want.mean, rtol=1e-8)
    np.testing.assert_allclose(std, np.sqrt(np.diag(want.covariance)), rtol=1e-7)


def test_constants_are_parameters_and_change_the_kernel():
    est = NTKRegressor(constants={"W_std": 1.0})
    assert est.set_params(constants__W_std=2.0, t=5.0) is est
    assert est.get_params()["constants"] == {"W_std": 2.0} and est.t == 5.0
    pipe = make_pipeline(StandardScaler(), NTKRegressor())
    pipe.set_params(ntkregressor__constants__b_std=0.3)
    assert pipe[-1].constants == {"b_std": 0.3}
    X, y = wine(30)
    a = NTKRegressor(constants={"W_std": 1.0}).fit(X, y).train_grams_["ntk"]
    b = NTKRegressor(constants={"W_std": 2.0}).fit(X, y).train_grams_["ntk"]
    assert not np.allclose(a, b)
    with pytest.raises(ntkc.NtkError, match="no 'let w = ...'.*W_std, b_std"):
        NTKRegressor(constants={"w": 1.0}).fit(X, y)


def test_gridsearch_in_pipeline_compiles_each_grid_point_once():
    """GridSearchCV over W_std (3 values × 4 folds + the refit) in a Pipeline:
    one compilation per W_std; the clones of one grid point share it."""
    X, y = wine(60)
    cache.clear()
    grid = GridSearchCV(make_pipeline(StandardScaler(), NTKClassifier()),
                        {"ntkclassifier__constants__W_std": [0.8, 1.5, 2.5]},
                        cv=KFold(4, shuffle=True, random_state=0))
    grid.fit(X, y)
    assert (cache.misses, cache.hits) == (3, 3 * 4 + 1 - 3)   # one look-up per fit
    assert grid.best_score_ > 0.8
    assert grid.score(X, y) > 0.9
    clone = pickle.loads(pickle.dumps(grid.best_estimator_))
    np.testing.assert_array_equal(clone.predict(X), grid.predict(X))


def test_image_net_and_errors(tmp_path):
    path = tmp_path / "cnn.ntk"
    path.write_text("input image(height=3, width=3, channels=2)\n"
                    "net c { Conv(kernel=3, W_std=1.4) Relu GlobalAvgPool Dense }\n")
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(12, 18)), rng.normal(size=12)
    reg = NTKRegressor(str(path)).fit(X, y)
    kernel = ntkc.load(path)
    want = np.asarray(kernel(X[:3].reshape(3, 3, 3, 2), X.reshape(12, 3, 3, 2)))
    assert np.allclose(reg.predict(X[:3]), y[:3], atol=1e-4)   # interpolates its training data
    np.testing.assert_allclose(reg.train_grams_["ntk"][:3], want, rtol=1e-10)
    with pytest.raises(ntkc.NtkError, match="X has 5 features, but the net's input"):
        NTKRegressor(str(path)).fit(X[:, :5], y)
    with pytest.raises(ntkc.NtkError, match="no such file"):
        NTKRegressor(str(tmp_path / "missing.ntk")).fit(X, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        NTKClassifier().fit(X, y)


def test_load_constants_equal_the_edited_file():
    """ntkc.compile(..., constants=) is the file with those lets rewritten;
    lets below see the new value; an unknown name lists the file's lets."""
    src = "input vector(dim=2)\nlet w = 1.0\nlet v = w * 2\nnet n { Dense(W_std=v, b_std=0.1) Relu Dense }\n"
    x = np.random.default_rng(3).normal(size=(4, 2))
    got = ntkc.compile(src, constants={"w": np.float64(1.5)})(x)
    want = ntkc.compile(src.replace("let w = 1.0", "let w = 1.5"))(x)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    with pytest.raises(ntkc.NtkError, match=r"no 'let u = \.\.\.' to override \(its lets: w, v\)"):
        ntkc.compile(src, constants={"u": 1.0})
    with pytest.raises(ntkc.NtkError, match="not a number, string, bool"):
        ntkc.compile(src, constants={"w": [1.0, None]})


def test_import_ntkc_does_not_import_sklearn():
    import subprocess
    import sys
    code = "import sys, ntkc; ntkc.predict; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
