"""Estimated performance before the labels arrive (core/ml/estimation.py), on seeded synthetic data whose truth is
known: CBPE for classifiers (calibration on the reference, the expected confusion matrix and ROC AUC of a period, the
band's coverage over many periods, covariate shift, multiclass, a JSON round trip of the estimator) and DLE for
regressors (a known noise level recovered, and a shift into a region of larger noise followed). Realized values
come from the platform's `metrics.score` (scikit-learn's functions)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from drift_platform.core.ml.estimation import (
    CBPE_METRICS,
    CBPEstimator,
    estimate_cbpe,
    estimate_dle,
    estimate_metric,
    estimation_method,
    fit_cbpe,
    fit_dle,
    fit_estimator,
)
from drift_platform.core.ml.metrics import score

BINARY = [0, 1]
ANIMALS = ["ant", "bee", "cat"]


def binary_rows(
    rng: np.random.Generator, rows: int, shift: float = 0.0, spread: float = 1.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x ~ N(shift, spread); the true P(y=1 | x) = sigmoid(2x - 0.5). Returns (true probability, label, x)."""
    x = rng.normal(shift, spread, rows)
    p = 1 / (1 + np.exp(-(2 * x - 0.5)))
    return p, (rng.random(rows) < p).astype(int), x


def realized(labels: np.ndarray, predicted: np.ndarray, proba: np.ndarray, classes: list) -> dict[str, float]:
    """The period's metrics from its labels: scikit-learn's, the platform's way (binary: of class 1; multiclass:
    macro)."""
    from sklearn.metrics import precision_score, recall_score

    binary = len(classes) == 2
    average = {"average": "binary", "pos_label": classes[1]} if binary else {"average": "macro"}
    return {
        "accuracy": score("accuracy", labels, predicted, classes=classes),
        "precision": float(precision_score(labels, predicted, zero_division=0, **average)),
        "recall": float(recall_score(labels, predicted, zero_division=0, **average)),
        "f1": score("f1", labels, predicted, classes=classes, positive=classes[1] if binary else None),
        **{
            name: score(name, labels, proba=proba, classes=classes, positive=classes[1] if binary else None)
            for name in ("roc_auc", "log_loss", "brier")
        },
    }


@pytest.fixture(scope="module")
def calibrated_cbpe() -> CBPEstimator:
    """CBPE fitted on 5,000 reference rows whose probabilities are the true ones (perfectly calibrated)."""
    p, y, _ = binary_rows(np.random.default_rng(1), 5000)
    return fit_cbpe(p, y, BINARY)


def test_cbpe_on_calibrated_probabilities_equals_the_expected_accuracy(calibrated_cbpe: CBPEstimator) -> None:
    """The true expected accuracy of a period is mean(max(p, 1 - p)) of its true probabilities: the estimate is
    inside the estimate's band, which holds the calibration's own error (the reference's labels are random too)."""
    assert calibrated_cbpe.method == "isotonic"
    rng = np.random.default_rng(2)
    for rows in (500, 5000):
        p, _, _ = binary_rows(rng, rows)
        accuracy = estimate_cbpe(calibrated_cbpe, p)["accuracy"]
        expected = float(np.mean(np.maximum(p, 1 - p)))
        assert accuracy.lower <= expected <= accuracy.upper, (rows, accuracy, expected)
        assert abs(accuracy.value - expected) < 0.01 and accuracy.rows == rows


def test_cbpe_band_covers_the_realized_metrics_in_about_95_percent_of_periods(
    calibrated_cbpe: CBPEstimator,
) -> None:
    """200 seeded periods of 500 rows: the realized accuracy falls inside its band in 90-99 % of them, and so do
    the other metrics (aim 95 %); the estimates are unbiased to a fraction of the band."""
    rng = np.random.default_rng(3)
    inside = {name: 0 for name in CBPE_METRICS}
    errors = {name: [] for name in CBPE_METRICS}
    for period in range(200):
        p, y, _ = binary_rows(rng, 500)
        estimates = estimate_cbpe(calibrated_cbpe, p, seed=period)
        truth = realized(y, (p >= 0.5).astype(int), np.column_stack([1 - p, p]), BINARY)
        for name, estimate in estimates.items():
            inside[name] += estimate.lower <= truth[name] <= estimate.upper
            errors[name].append(estimate.value - truth[name])
    coverage = {name: count / 200 for name, count in inside.items()}
    assert 0.90 <= coverage["accuracy"] <= 0.99, coverage
    assert all(0.88 <= c <= 0.99 for c in coverage.values()), coverage
    assert all(abs(np.mean(e)) < 0.01 for e in errors.values()), {n: np.mean(e) for n, e in errors.items()}


def test_cbpe_follows_covariate_shift_with_a_miscalibrated_model() -> None:
    """The model's probability sigmoid(x) is miscalibrated (the truth is sigmoid(2x - 0.5)); CBPE calibrates it on
    a reference around x = 0. As the periods move along x, the realized accuracy goes from ~0.98 down to ~0.65 and
    back: each estimate lands within 3 standard errors of the realized value, within 0.03 in accuracy, where the raw
    probabilities would be off by more."""
    rng = np.random.default_rng(11)
    _, y, x = binary_rows(rng, 5000, spread=2.0)
    cbpe = fit_cbpe(1 / (1 + np.exp(-x)), y, BINARY)
    seen = []
    for shift in (-2.0, -1.0, 0.0, 0.25, 0.5, 1.0, 2.0):
        _, y, x = binary_rows(rng, 2000, shift=shift, spread=0.5)
        model = 1 / (1 + np.exp(-x))
        estimates = estimate_cbpe(cbpe, model)
        truth = realized(y, (model >= 0.5).astype(int), np.column_stack([1 - model, model]), BINARY)
        raw = float(np.mean(np.maximum(model, 1 - model)))
        seen.append(
            (shift, round(estimates["accuracy"].value, 3), round(truth["accuracy"], 3), round(raw, 3))
        )
        for name in ("accuracy", "f1", "roc_auc"):
            e = estimates[name]
            assert abs(e.value - truth[name]) <= 3 * e.sampling_error, (shift, name, e, truth[name])
    accuracy = [s[2] for s in seen]
    assert max(accuracy) - min(accuracy) > 0.25, seen
    assert max(abs(s[1] - s[2]) for s in seen) < 0.03 < max(abs(s[3] - s[2]) for s in seen), seen


def multiclass_rows(
    rng: np.random.Generator, rows: int, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three classes whose true probabilities are a softmax of 1.5 x (x1, x2, 0) over x ~ N(shift, 1);
    the model's are the same softmax at two thirds of the scale (under-confident). Returns (model, true, label)."""
    x = rng.normal(shift, 1.0, (rows, 2))
    logits = np.column_stack([x, np.zeros(rows)]) * 1.5

    def softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    true = softmax(logits)
    labels = (rng.random((rows, 1)) > np.cumsum(true, axis=1)[:, :-1]).sum(axis=1)
    return softmax(logits / 1.5), true, np.array(ANIMALS)[labels]


def test_cbpe_multiclass_one_vs_rest_macro() -> None:
    """String classes, an under-confident model calibrated one-vs-rest (rows renormalised): across 40 periods
    (quiet and shifted) the realized accuracy, macro F1 and one-vs-rest ROC AUC fall inside the bands in most
    periods, and the estimated accuracy follows the shift."""
    rng = np.random.default_rng(5)
    model, _, labels = multiclass_rows(rng, 6000)
    cbpe = fit_cbpe(model, labels, ANIMALS)
    assert cbpe.method == "isotonic" and cbpe.positive is None and len(cbpe.calibrations) == 3
    assert np.allclose(cbpe.calibrate(model).sum(axis=1), 1.0)
    inside, pairs = {name: 0 for name in CBPE_METRICS}, []
    for period in range(40):
        shift = 0.0 if period % 2 else 1.0
        model, _, labels = multiclass_rows(rng, 800, shift)
        predicted = np.array(ANIMALS)[model.argmax(axis=1)]
        estimates = estimate_cbpe(cbpe, model, predicted, seed=period)
        truth = realized(labels, predicted, model, ANIMALS)
        for name, e in estimates.items():
            inside[name] += e.lower <= truth[name] <= e.upper
        pairs.append((shift, estimates["accuracy"].value, truth["accuracy"]))
    assert all(count >= 32 for count in inside.values()), inside
    quiet, shifted = ([p for p in pairs if p[0] == s] for s in (0.0, 1.0))
    for group in (quiet, shifted):
        assert abs(np.mean([p[1] for p in group]) - np.mean([p[2] for p in group])) < 0.01, group
    assert np.mean([p[2] for p in shifted]) - np.mean([p[2] for p in quiet]) > 0.03, pairs


@pytest.mark.parametrize("classes", [BINARY, ANIMALS], ids=["binary", "multiclass"])
def test_cbpe_with_certain_probabilities_is_the_realized_metric(classes: list) -> None:
    """Probabilities that are 0 or 1 and right: the expected confusion matrix is the realized one, so the estimated
    accuracy, precision, recall and F1 equal scikit-learn's on the labels to 1e-12 (for any predicted classes),
    the ROC AUC is 1 and the band has no width."""
    rng = np.random.default_rng(6)
    k = len(classes)
    labels = rng.integers(0, k, 2000)
    cbpe = fit_cbpe(np.eye(k)[labels], np.array(classes)[labels], classes, method="isotonic")
    labels = rng.integers(0, k, 700)
    predicted = np.where(rng.random(700) < 0.3, rng.integers(0, k, 700), labels)
    named = np.array(classes)
    estimates = estimate_cbpe(cbpe, np.eye(k)[labels], named[predicted])
    truth = realized(named[labels], named[predicted], np.eye(k)[labels], classes)
    for name, e in estimates.items():
        assert e.value == pytest.approx(truth[name], abs=1e-12), name
        assert e.upper - e.lower < 1e-12 and e.sampling_error < 1e-12, (name, e)
    assert estimates["roc_auc"].value == 1.0


@pytest.mark.parametrize(("rows", "method"), [(400, "sigmoid"), (3000, "isotonic")])
def test_cbpe_estimator_round_trips_through_json(rows: int, method: str) -> None:
    """`auto` picks Platt's sigmoid for a small reference and isotonic for a large one; to_dict is plain JSON and
    from_dict gives an equal estimator with identical estimates."""
    rng = np.random.default_rng(7)
    p, y, _ = binary_rows(rng, rows)
    classes = ["no", "yes"]
    cbpe = fit_cbpe(p**1.5, np.array(classes)[y], classes)
    assert cbpe.method == method and cbpe.positive == "yes"
    text = json.dumps(cbpe.to_dict())
    again = CBPEstimator.from_dict(json.loads(text))
    assert again == cbpe
    period = binary_rows(rng, 600)[0] ** 1.5
    assert estimate_cbpe(again, period, seed=3) == estimate_cbpe(cbpe, period, seed=3)
    assert estimate_cbpe(again, np.column_stack([1 - period, period])) == estimate_cbpe(cbpe, period)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: fit_cbpe([0.2, 0.9, 0.7], [0, 1, 2], BINARY),
            r"1 reference labels are not one of .* at rows \[2\]",
        ),
        (
            lambda: fit_cbpe(np.full((3, 3), 1 / 3), ["ant", "bee", "bee"], ANIMALS),
            r"no row of class \['cat'\]",
        ),
        (lambda: fit_cbpe(np.full((3, 2), 0.5), [0, 1, 0], ANIMALS), r"expected rows x 3 columns"),
        (lambda: fit_cbpe([0.2, 1.4, 0.5], [0, 1, 0], BINARY), r"outside \[0, 1\]: rows \[1\]"),
        (lambda: CBPEstimator.from_dict({"format": "cbpe/0"}), r"format 'cbpe/0'"),
        (
            lambda: fit_dle(pd.DataFrame({"x": range(200)}), np.ones(200), np.ones(200), loss="huber"),
            r"'huber'",
        ),
        (
            lambda: fit_dle(
                pd.DataFrame({"x": range(200)}), np.ones(200), np.r_[-1.0, np.ones(199)], loss="squared_log"
            ),
            r"negative for the squared_log loss: rows \[0\]",
        ),
    ],
    ids=["unknown-label", "unseen-class", "columns", "probability", "format", "loss", "negative-label"],
)
def test_estimators_name_what_is_wrong(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def regression_rows(
    rng: np.random.Generator, rows: int, shift: float = 0.0, calm_share: float = 0.7
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """y = f(x) + N(0, sigma(x)): f = 3 sin(x1) + x2; sigma is 1 where x1 <= 1 and 3 above, doubled on the rows of
    `site` "wild" (share 1 - calm_share). Returns (features, f, y, sigma)."""
    x = np.column_stack([rng.normal(shift, 1.0, rows), rng.normal(0.0, 1.0, rows)])
    site = np.where(rng.random(rows) < calm_share, "calm", "wild")
    sigma = np.where(x[:, 0] > 1, 3.0, 1.0) * np.where(site == "wild", 2.0, 1.0)
    f = 3 * np.sin(x[:, 0]) + x[:, 1]
    features = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "site": pd.Series(site, dtype="category")})
    return features, f, f + rng.normal(0.0, 1.0, rows) * sigma, sigma


@pytest.mark.parametrize(
    ("loss", "truth"),
    [("squared", 2.0), ("absolute", 2.0 * np.sqrt(2 / np.pi)), ("squared_log", 0.3)],
)
def test_dle_recovers_a_known_noise_level(loss: str, truth: float) -> None:
    """A perfect f and noise N(0, sigma = 2): the estimated RMSE is sigma, the MAE sigma·sqrt(2/pi) (and, with
    y = expm1(f + N(0, 0.3)), the RMSLE 0.3), each within 4 %; the period's realized value is inside the band."""
    rng = np.random.default_rng(8)

    def rows(n: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        x = rng.normal(0.0, 1.0, (n, 2))
        f = 3 * np.sin(x[:, 0]) + x[:, 1]
        if loss == "squared_log":
            return (
                pd.DataFrame(x, columns=["a", "b"]),
                np.expm1(f + 12),
                np.expm1(f + 12 + rng.normal(0, 0.3, n)),
            )
        return pd.DataFrame(x, columns=["a", "b"]), f, f + rng.normal(0.0, 2.0, n)

    dle = fit_dle(*rows(5000), loss=loss, seed=0)
    assert dle.metric == {"squared": "rmse", "absolute": "mae", "squared_log": "rmsle"}[loss]
    features, predictions, labels = rows(4000)
    estimate = estimate_dle(dle, features, predictions)
    assert estimate.value == pytest.approx(truth, rel=0.04), estimate
    actual = score(dle.metric, labels, predictions)
    assert estimate.lower <= actual <= estimate.upper, (estimate, actual)


def test_dle_rises_with_a_shift_into_larger_noise() -> None:
    """Fitted on a reference mostly in the calm region, DLE's estimated RMSE rises when the periods move where the
    noise is larger (x1 above 1; more rows of the categorical site "wild"), within 10 % of the realized RMSE,
    while a quiet period stays where it was; the band covers the quiet periods' realized RMSE."""
    rng = np.random.default_rng(9)
    features, f, y, _ = regression_rows(rng, 6000)
    dle = fit_dle(features, f, y, seed=1)
    cases = {"quiet": {}, "x1 moved": {"shift": 1.5}, "more wild": {"calm_share": 0.2}}
    found = {}
    for name, args in cases.items():
        features, f, y, _ = regression_rows(rng, 3000, **args)
        estimate = estimate_dle(dle, features, f)
        found[name] = (estimate, score("rmse", y, f))
    (quiet, quiet_actual) = found["quiet"]
    assert quiet.lower <= quiet_actual <= quiet.upper, found["quiet"]
    for name in ("x1 moved", "more wild"):
        estimate, actual = found[name]
        assert actual > 1.25 * quiet_actual and estimate.value > 1.25 * quiet.value, (name, found)
        assert estimate.value == pytest.approx(actual, rel=0.10), (name, estimate, actual)


def test_dle_takes_an_unseen_category_as_missing() -> None:
    """A site value the reference never had is estimated like a missing one, not refused."""
    rng = np.random.default_rng(10)
    features, f, y, _ = regression_rows(rng, 2000)
    dle = fit_dle(features, f, y, loss="absolute", seed=0)
    period, f, _, _ = regression_rows(rng, 300)
    period["site"] = pd.Series(["storm"] * 300)
    missing = period.assign(site=pd.Series([None] * 300, dtype=object))
    assert estimate_dle(dle, period, f) == estimate_dle(dle, missing, f)


def test_cbpe_expected_log_loss_and_brier_on_calibrated_probabilities(calibrated_cbpe: CBPEstimator) -> None:
    """Perfectly calibrated probabilities: the expected log loss is the mean entropy -(p log p + (1-p) log(1-p))
    and the expected Brier score mean p(1-p); the estimates are within 0.01 of them, and over 200 seeded periods
    of 500 rows the realized values (scikit-learn's) fall inside the bands in 90-99 % of periods."""
    rng = np.random.default_rng(12)
    p, _, _ = binary_rows(rng, 5000)
    estimates = estimate_cbpe(calibrated_cbpe, p)
    entropy = float(np.mean(-(p * np.log(p) + (1 - p) * np.log1p(-p))))
    assert estimates["log_loss"].value == pytest.approx(entropy, abs=0.01)
    assert estimates["brier"].value == pytest.approx(float(np.mean(p * (1 - p))), abs=0.005)
    inside = {"log_loss": 0, "brier": 0}
    for period in range(200):
        p, y, _ = binary_rows(rng, 500)
        for name in inside:
            e = estimate_metric(calibrated_cbpe, name, probabilities=p, seed=period)
            truth = score(name, y, proba=np.column_stack([1 - p, p]), classes=BINARY, positive=1)
            inside[name] += e.lower <= truth <= e.upper
    assert all(0.90 <= count / 200 <= 0.99 for count in inside.values()), inside


def test_estimate_metric_chooses_by_the_metric_and_names_a_mismatch() -> None:
    """A classification metric is CBPE's (its method named by the calibration), rmse/mae/rmsle DLE's; a DLE of
    the squared loss refuses mae, CBPE refuses rmse."""
    rng = np.random.default_rng(13)
    p, y, _ = binary_rows(rng, 600)
    cbpe = fit_estimator("log_loss", y, probabilities=p, classes=BINARY)
    assert estimation_method(cbpe) == "CBPE (sigmoid)"
    assert estimate_metric(cbpe, "f1", probabilities=p) == estimate_cbpe(cbpe, p)["f1"]
    x = pd.DataFrame({"x": rng.normal(0, 1, 600)})
    truth = 3 + x["x"].to_numpy()
    labels = truth + rng.normal(0, 0.5, 600)
    dle = fit_estimator("rmse", labels, features=x, predictions=truth)
    assert estimation_method(dle) == "DLE" and dle.metric == "rmse"
    assert estimate_metric(dle, "rmse", features=x, predictions=truth).value == pytest.approx(0.5, abs=0.08)
    with pytest.raises(ValueError, match="not 'mae'"):
        estimate_metric(dle, "mae", features=x, predictions=truth)
    with pytest.raises(ValueError, match="not 'rmse'"):
        estimate_metric(cbpe, "rmse", probabilities=p)


@pytest.mark.parametrize("classes", [BINARY, ANIMALS])
def test_cbpe_exact_variances_match_label_draws(classes: list) -> None:
    """Accuracy, log loss and Brier are means of independent per-row terms, so their band's period share is exact
    (no draws): without calibration resamples the sampling error equals the standard deviation of the realized
    metric over 20,000 seeded draws of the labels from the calibrated probabilities, within 3 %."""
    rng = np.random.default_rng(21)
    k, rows = len(classes), 400
    logits = rng.normal(0, 1.5, (3000, k))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = (rng.random(3000)[:, None] > np.cumsum(proba, axis=1)[:, :-1]).sum(axis=1)
    cbpe = fit_cbpe(proba, np.array(classes)[labels], classes, resamples=0)
    period = proba[:rows] ** 1.3 / (proba[:rows] ** 1.3).sum(axis=1, keepdims=True)
    estimates = estimate_cbpe(cbpe, period)
    calibrated = cbpe.calibrate(period)
    predicted = period.argmax(axis=1)
    drawn = (rng.random((20_000, rows))[:, :, None] > np.cumsum(calibrated, axis=1)[None, :, :-1]).sum(axis=2)
    eps = np.finfo(float).eps
    log_loss = -np.log(np.clip(period, eps, 1 - eps))[np.arange(rows), drawn].mean(axis=1)
    if k == 2:
        brier = ((drawn == 1) - period[:, 1]) ** 2
    else:
        brier = ((np.eye(k)[drawn] - period[None]) ** 2).sum(axis=2)
    spread = {"accuracy": (drawn == predicted).mean(axis=1).std(), "log_loss": log_loss.std(), "brier": brier.mean(axis=1).std()}
    for name, sd in spread.items():
        assert estimates[name].sampling_error == pytest.approx(sd, rel=0.03), name


def test_estimate_metric_computes_the_one_metric_as_estimate_cbpe(calibrated_cbpe: CBPEstimator) -> None:
    """`estimate_metric` (the platform's per-period call) computes only the metric asked for, with the same value
    and band as `estimate_cbpe` computing all of them; `metrics` restricts `estimate_cbpe`'s answer, an unknown
    one is named."""
    p, _, _ = binary_rows(np.random.default_rng(22), 700)
    everything = estimate_cbpe(calibrated_cbpe, p, seed=4)
    for name in CBPE_METRICS:
        assert estimate_metric(calibrated_cbpe, name, probabilities=p, seed=4) == everything[name], name
    assert set(estimate_cbpe(calibrated_cbpe, p, metrics=("brier", "f1"))) == {"brier", "f1"}
    with pytest.raises(ValueError, match="not 'rmse'"):
        estimate_cbpe(calibrated_cbpe, p, metrics=("accuracy", "rmse"))


def test_mid_ranks_equal_scipys_rankdata() -> None:
    """The draws' ROC AUC uses mid-ranks taken from the descending ranking (ties share their mean rank)."""
    from scipy.stats import rankdata

    from drift_platform.core.ml.estimation import _mid_ranks, _rankings

    scores = np.round(np.random.default_rng(23).random((500, 1)), 2)
    assert np.array_equal(_mid_ranks(_rankings(scores, [0])[0]), rankdata(scores[:, 0]))
