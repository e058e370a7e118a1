"""Estimated performance before the labels arrive (issue 22): CBPE for classifiers, DLE for regressors. No Dagster.

Both are fitted on the reference, where the model's outputs and the labels are known, and then estimate a period's
metric from the model's outputs (and, for DLE, the features) alone. Both assume that the relation between the
features and the target holds (no concept drift): under covariate shift they follow the model's quality, under
concept drift they stay flat while the realized value moves. That is why the labels check stays.

CBPE, confidence-based performance estimation (as NannyML's CBPE):
- `fit_cbpe` calibrates the model's probabilities on the reference: isotonic regression, or Platt's sigmoid on the
  probability's logit where the reference is small (`auto`: fewer than 1,000 rows or fewer than 50 rows of the
  rarest class). Binary: the positive class's probability; multiclass: one-vs-rest per class, the calibrated row
  renormalised to sum 1.
- `estimate_cbpe` turns a period's calibrated probabilities into the expected confusion matrix (row i counts as
  true class k with its calibrated probability of k) and from it accuracy, precision, recall and F1 (binary: of
  the positive class; multiclass: one-vs-rest macro averages; 0 where a class is never predicted, as
  scikit-learn), and the expected ROC AUC: the rows ranked by the model's own (uncalibrated) score, each counted
  as a positive with its calibrated probability and as a negative with the rest, as NannyML does. The expected
  log loss and Brier score: each row's loss under each class (from the model's own probabilities, which it is
  scored by) weighted by its calibrated probability of that class.
- The band: given a period's probabilities its realized metric is random (each row's label falls as its
  calibrated probabilities say). Accuracy, log loss and Brier score are means of independent per-row terms, each
  of known mean and variance under the row's calibrated probabilities: their variance is exact. Precision, recall,
  F1 and ROC AUC are not: seeded draws of the labels (`DRAWS`) give theirs. The calibration, learnt from the
  reference's own random labels, is uncertain too, most where the reference has few rows: the estimate's variance
  over calibrations refitted on seeded bootstrap resamples of the reference adds to it (NannyML scales a
  reference deviation by the chunk size instead, which misses the second part); all resamples' metrics are
  computed at once (one ranking of the period's scores serves every resample's ROC AUC). `Estimate.sampling_error` is the
  root of the sum; the band is value ± 1.96 of it, within [0, 1]: where the realized value lands in ~95 % of
  periods while the relation between scores and labels holds.
- The estimator is plain numbers (isotonic thresholds or Platt coefficients, its own and the resamples'): `to_dict` / `from_dict` store it as
  JSON, without pickle.

DLE, direct loss estimation: see `fit_dle`.

`fit_estimator` and `estimate_metric` choose by the monitor's metric (core/ml/metrics.py): CBPE for every
classification metric, DLE for rmse, mae and rmsle.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from drift_platform.core.intake.dataset import positive_of

if TYPE_CHECKING:
    import pandas as pd

CBPE_FORMAT = "cbpe/1"
CBPE_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier")
CBPE_LOSSES = ("log_loss", "brier")  # expected from the model's own probabilities, row by row
CONFUSION_METRICS = ("accuracy", "precision", "recall", "f1")
DRAWN_METRICS = ("precision", "recall", "f1", "roc_auc")  # not a mean of per-row terms: their band needs draws
DLE_METRICS = {"squared": "rmse", "absolute": "mae", "squared_log": "rmsle"}
DLE_LOSSES = {metric: loss for loss, metric in DLE_METRICS.items()}
ISOTONIC_MIN_ROWS = 1000  # `auto` calibrates with isotonic regression from this many reference rows ...
ISOTONIC_MIN_MINORITY = 50  # ... and this many rows of the rarest class; Platt's sigmoid below either
BAND_Z = 1.96  # the band's half-width in standard deviations: ~95 %
RESAMPLES = 30  # CBPE's calibrations refitted on this many bootstrap resamples of the reference
DRAWS = 200  # label draws per period behind the band of DRAWN_METRICS
DRAW_CELLS = 2_000_000  # label draws are made in blocks of at most this many draws x rows
DLE_MIN_ROWS = 100
_EPS = 1e-7


@dataclass(frozen=True)
class Estimate:
    """A period's estimated metric: `value`, the band [`lower`, `upper`] where the realized value should fall in
    ~95 % of periods, `sampling_error` (the standard deviation behind the band) and the period's `rows`."""

    value: float
    lower: float
    upper: float
    sampling_error: float
    rows: int


def _band(value: float, sd: float, rows: int, low: float = 0.0, high: float = 1.0) -> Estimate:
    return Estimate(
        float(value),
        float(max(low, value - BAND_Z * sd)),
        float(min(high, value + BAND_Z * sd)),
        float(sd),
        int(rows),
    )


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class Calibration:
    """One probability column's calibration map: `isotonic` (thresholds `x` to values `y`, linear between them,
    clipped outside, as scikit-learn's IsotonicRegression predicts) or `sigmoid` (Platt: 1 / (1 + exp(-(a·logit(p)
    + b))))."""

    method: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 1.0
    b: float = 0.0

    @cached_property
    def _thresholds(self) -> tuple[np.ndarray, np.ndarray]:  # the arrays, made once, not per period
        return np.asarray(self.x, dtype=float), np.asarray(self.y, dtype=float)

    def __call__(self, p: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return np.interp(p, *self._thresholds)
        return _sigmoid(self.a * _logit(p) + self.b)

    def to_dict(self) -> dict[str, Any]:
        if self.method == "isotonic":
            return {"method": "isotonic", "x": list(self.x), "y": list(self.y)}
        return {"method": "sigmoid", "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        if data.get("method") == "isotonic":
            return cls("isotonic", tuple(map(float, data["x"])), tuple(map(float, data["y"])))
        if data.get("method") == "sigmoid":
            return cls("sigmoid", a=float(data["a"]), b=float(data["b"]))
        raise ValueError(f"CBPE calibration method {data.get('method')!r}: expected isotonic or sigmoid")


def _plain(value: Any) -> Any:
    """A class label as a plain Python value (numpy scalars become int, bool, str, float)."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class CBPEstimator:
    """CBPE fitted on a reference: the `classes` in the probability columns' order, the binary task's `positive`
    class (None for multiclass), one `Calibration` per calibrated column (binary: the positive class's; multiclass:
    each class's, in `classes` order), the same calibrations refitted on seeded resamples of the reference
    (`resampled`, for the band) and the reference's row count."""

    classes: tuple[Any, ...]
    positive: Any
    calibrations: tuple[Calibration, ...]
    reference_rows: int
    resampled: tuple[tuple[Calibration, ...], ...] = ()

    @property
    def method(self) -> str:
        return self.calibrations[0].method

    def calibrate(
        self, scores: np.ndarray, calibrations: tuple[Calibration, ...] | None = None
    ) -> np.ndarray:
        """The calibrated rows x classes probabilities of the model's `scores` (rows x classes, see `_scores`), by
        `calibrations` (default: the estimator's own)."""
        calibrations = self.calibrations if calibrations is None else calibrations
        if self.positive is not None:
            i = self.classes.index(self.positive)
            q = calibrations[0](scores[:, i])
            return np.column_stack([1 - q, q] if i == 1 else [q, 1 - q])
        q = np.column_stack([c(scores[:, j]) for j, c in enumerate(calibrations)])
        total = q.sum(axis=1, keepdims=True)
        return np.where(total > 0, q / np.where(total > 0, total, 1.0), scores)

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers and labels only (JSON-ready): `from_dict` gives an equal estimator."""
        return {
            "format": CBPE_FORMAT,
            "classes": list(self.classes),
            "positive": self.positive,
            "reference_rows": self.reference_rows,
            "calibrations": [c.to_dict() for c in self.calibrations],
            "resampled": [[c.to_dict() for c in group] for group in self.resampled],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CBPEstimator:
        if data.get("format") != CBPE_FORMAT:
            raise ValueError(f"CBPE estimator format {data.get('format')!r}: this code reads {CBPE_FORMAT!r}")
        calibrations = tuple(Calibration.from_dict(c) for c in data["calibrations"])
        resampled = tuple(
            tuple(Calibration.from_dict(c) for c in group) for group in data.get("resampled", [])
        )
        return cls(
            tuple(data["classes"]), data["positive"], calibrations, int(data["reference_rows"]), resampled
        )


def _scores(classes: tuple[Any, ...], positive: Any, probabilities: Any) -> np.ndarray:
    """The model's probabilities as a rows x classes matrix: `probabilities` holds one column per class in `classes`
    order, or, for a binary task, may be the positive class's column alone."""
    p = np.asarray(probabilities, dtype=float)
    k = len(classes)
    if p.ndim == 1 and k == 2:
        p = np.column_stack([1 - p, p] if classes.index(positive) == 1 else [p, 1 - p])
    if p.ndim != 2 or p.shape[1] != k:
        alone = " (or the positive class's column alone)" if k == 2 else ""
        raise ValueError(
            f"probabilities of shape {p.shape}: expected rows x {k} columns, one per class of "
            f"{list(classes)} in that order{alone}"
        )
    bad = np.flatnonzero(~np.isfinite(p).all(axis=1) | (p < 0).any(axis=1) | (p > 1).any(axis=1))
    if len(bad):
        raise ValueError(
            f"{len(bad)} rows hold a probability that is missing or outside [0, 1]: rows {bad[:10].tolist()}"
        )
    return p


def _class_index(classes: tuple[Any, ...], values: Any, what: str) -> np.ndarray:
    """Each value's position in `classes`; a value outside them is an error naming the rows."""
    lookup = {c: i for i, c in enumerate(classes)}
    values = list(np.asarray(values, dtype=object))
    index = np.array([lookup.get(_plain(v), -1) for v in values], dtype=np.int64)
    bad = np.flatnonzero(index < 0)
    if len(bad):
        shown = sorted({repr(values[i]) for i in bad[:50]})[:5]
        raise ValueError(
            f"{len(bad)} {what}s are not one of the classes {list(classes)}: {', '.join(shown)} "
            f"at rows {bad[:10].tolist()}"
        )
    return index


def _calibration_method(method: str, rows: int, minority: int) -> str:
    if method == "auto":
        return "isotonic" if rows >= ISOTONIC_MIN_ROWS and minority >= ISOTONIC_MIN_MINORITY else "sigmoid"
    if method in ("isotonic", "sigmoid"):
        return method
    raise ValueError(f"CBPE calibration method {method!r}: expected auto, isotonic or sigmoid")


def _fit_calibration(method: str, p: np.ndarray, hit: np.ndarray) -> Calibration:
    """Isotonic regression of `hit` (the row is of the column's class) on `p`, or Platt's sigmoid on logit(p)
    fitted to Platt's smoothed targets, as scikit-learn's CalibratedClassifierCV does."""
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, hit.astype(float))
        return Calibration(
            "isotonic", tuple(map(float, fitted.X_thresholds_)), tuple(map(float, fitted.y_thresholds_))
        )
    f = _logit(p)
    hits = float(hit.sum())
    target = np.where(hit, (hits + 1) / (hits + 2), 1 / (len(hit) - hits + 2))
    design = np.column_stack([f, np.ones_like(f)])

    def loss(w: np.ndarray) -> float:  # cross-entropy of sigmoid(a·f + b) against the targets
        z = design @ w
        return float(np.sum(np.logaddexp(0, z) - target * z))

    w, current = np.array([1.0, 0.0]), loss(np.array([1.0, 0.0]))
    for _ in range(100):  # Newton's method, halving a step that does not lower the loss
        q = _sigmoid(design @ w)
        hessian = (design * (q * (1 - q))[:, None]).T @ design + 1e-12 * np.eye(2)
        step = np.linalg.solve(hessian, design.T @ (q - target))
        for _ in range(30):
            value = loss(w - step)
            if value <= current:
                break
            step = step / 2
        else:
            break  # no step lowers the loss: at its minimum
        w, gain, current = w - step, current - value, value
        if gain < 1e-12 * max(1.0, abs(current)):
            break
    return Calibration("sigmoid", a=float(w[0]), b=float(w[1]))


def fit_cbpe(
    probabilities: Any,
    labels: Any,
    classes: Any,
    method: str = "auto",
    positive: Any = None,
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> CBPEstimator:
    """CBPE fitted on the reference: the model's `probabilities` there (rows x `classes`, in that order; binary:
    or the positive class's column alone) and the true `labels`. `method`: auto, isotonic or sigmoid (see the
    module). `positive`: a binary task's positive class (default: the larger of the two sorted classes, as the
    dataset spec's `positive_class`). `resamples`: calibrations refitted on seeded bootstrap resamples of the
    reference, whose spread is the calibration's share of the band."""
    classes = tuple(_plain(c) for c in classes)
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError(f"CBPE needs two or more distinct classes, got {list(classes)}")
    positive = _plain(positive_of(list(classes), _plain(positive))) if len(classes) == 2 else None
    if positive is not None and positive not in classes:
        raise ValueError(f"positive class {positive!r} is not one of the classes {list(classes)}")
    scores = _scores(classes, positive, probabilities)
    y = _class_index(classes, labels, "reference label")
    if len(y) != len(scores):
        raise ValueError(f"the reference has {len(scores)} rows of probabilities but {len(y)} labels")
    counts = np.bincount(y, minlength=len(classes))
    unseen = [c for c, n in zip(classes, counts, strict=True) if n == 0]
    if unseen:
        raise ValueError(
            f"the reference's labels hold no row of class {unseen}: CBPE cannot calibrate a class "
            f"it never saw; widen the reference window"
        )
    chosen = _calibration_method(method, len(y), int(counts.min()))
    columns = [classes.index(positive)] if positive is not None else list(range(len(classes)))

    def calibrations(rows: np.ndarray) -> tuple[Calibration, ...]:
        return tuple(_fit_calibration(chosen, scores[rows, j], y[rows] == j) for j in columns)

    rng = np.random.default_rng(seed)
    resampled = tuple(calibrations(rng.integers(0, len(y), len(y))) for _ in range(resamples))
    return CBPEstimator(classes, positive, calibrations(np.arange(len(y))), len(y), resampled)


def _confusion_metrics(confusion: np.ndarray, positive: int | None) -> dict[str, np.ndarray]:
    """Accuracy, precision, recall and F1 of confusion matrices (..., true class, predicted class), counts or
    expected counts: of class `positive`'s, or macro averages over the classes that occur as a label or a
    prediction (scikit-learn's), a class never predicted (or never true) counting 0."""
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    predicted, actual = confusion.sum(axis=-2), confusion.sum(axis=-1)

    def ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
        return np.divide(top, bottom, out=np.zeros_like(top, dtype=float), where=bottom > 0)

    per_class = {
        "precision": ratio(tp, predicted),
        "recall": ratio(tp, actual),
        "f1": ratio(2 * tp, predicted + actual),
    }
    if positive is not None:
        chosen = {name: v[..., positive] for name, v in per_class.items()}
    else:
        occurs = (predicted + actual) > 0
        chosen = {
            name: np.where(occurs, v, 0.0).sum(axis=-1) / occurs.sum(axis=-1) for name, v in per_class.items()
        }
    return {"accuracy": tp.sum(axis=-1) / confusion.sum(axis=(-2, -1)), **chosen}


def _rankings(scores: np.ndarray, columns: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """For each column: the rows in descending order of the model's score, and the last position of each run of
    equal scores."""
    found = {}
    for j in columns:
        order = np.argsort(-scores[:, j], kind="mergesort")
        found[j] = order, np.r_[np.flatnonzero(np.diff(scores[order, j])), len(order) - 1]
    return found


def _mid_ranks(ranking: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Each row's ascending mid-rank (1 = lowest score; ties share the mean of their ranks, as scipy's rankdata)
    from a descending `ranking`."""
    order, ends = ranking
    n = len(order)
    starts = np.r_[0, ends[:-1] + 1]
    ranks = np.empty(n)
    ranks[order] = np.repeat(n - (starts + ends) / 2, ends - starts + 1)
    return ranks


def _expected_auc(weight: np.ndarray, ranking: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """ROC AUC of rows ranked by the model's score (`ranking`), each a positive with `weight` and a negative with
    1 - `weight` (ties in the score share a trapezoid, as scikit-learn's curve does): one per row of `weight`
    (calibrations x rows), NaN where no row can be positive or none negative."""
    order, ends = ranking
    w = weight[:, order]
    zero = np.zeros((len(w), 1))
    tps = np.hstack([zero, np.cumsum(w, axis=1)[:, ends]])
    fps = np.hstack([zero, np.cumsum(1.0 - w, axis=1)[:, ends]])
    top, right = tps[:, -1], fps[:, -1]
    area = np.sum(np.diff(fps, axis=1) * (tps[:, 1:] + tps[:, :-1]), axis=1) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((top > 0) & (right > 0), area / (top * right), np.nan)


def _row_losses(scores: np.ndarray, positive: int | None) -> dict[str, np.ndarray]:
    """Each row's log loss and Brier score were its label each class (rows x classes), from the model's own
    probabilities, as `metrics.score` computes them: log loss -log p (p clipped to [eps, 1 - eps], as
    scikit-learn); Brier of a binary task (1{y = positive} - p_positive)^2, of a multiclass one
    sum_c (1{y = c} - p_c)^2 (scikit-learn's brier_score_loss)."""
    eps = np.finfo(float).eps
    k = scores.shape[1]
    if positive is not None:
        brier = (np.eye(k)[positive][None, :] - scores[:, [positive]]) ** 2
    else:
        brier = (scores**2).sum(axis=1, keepdims=True) - 2 * scores + 1
    return {"log_loss": -np.log(np.clip(scores, eps, 1 - eps)), "brier": brier}


def _expected_metrics(
    calibrated: np.ndarray,
    predicted: np.ndarray,
    positive: int | None,
    rankings: dict[int, tuple[np.ndarray, np.ndarray]],
    losses: dict[str, np.ndarray],
    metrics: tuple[str, ...] = CBPE_METRICS,
) -> dict[str, np.ndarray]:
    """The `metrics` of each calibration's probabilities (`calibrated`: calibrations x rows x classes), one value
    per calibration: those of the expected confusion matrix (true class x predicted class: each row counts as class
    k with its calibrated probability of k), the expected ROC AUC (of the positive class, or the macro mean; from
    `rankings`) and the expected log loss and Brier score (each row's loss under each class, of `losses`, weighted
    by its calibrated probability)."""
    k = calibrated.shape[2]
    values: dict[str, np.ndarray] = {}
    if any(name in metrics for name in CONFUSION_METRICS):
        expected = np.matmul(calibrated.transpose(0, 2, 1), np.eye(k)[predicted])
        values |= {n: v for n, v in _confusion_metrics(expected, positive).items() if n in metrics}
    if "roc_auc" in metrics:
        aucs = np.array([_expected_auc(calibrated[:, :, j], ranking) for j, ranking in rankings.items()])
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a calibration where every class's AUC is NaN
            values["roc_auc"] = np.nanmean(aucs, axis=0)
    for name in set(losses) & set(metrics):
        values[name] = calibrated.reshape(len(calibrated), -1) @ losses[name].ravel() / calibrated.shape[1]
    return values


def _row_variances(
    calibrated: np.ndarray, predicted: np.ndarray, losses: dict[str, np.ndarray], metrics: tuple[str, ...]
) -> dict[str, float]:
    """The exact variance, given the calibrated probabilities, of the metrics that are a mean of independent
    per-row terms: accuracy (row i right with its calibrated probability of the predicted class: p(1 - p)), log
    loss and Brier score (row i's loss under class k with its calibrated probability of k: E[L^2] - E[L]^2),
    each summed over the rows and divided by rows^2."""
    n = len(calibrated)
    found = {}
    if "accuracy" in metrics:
        p = calibrated[np.arange(n), predicted]
        found["accuracy"] = float(np.sum(p * (1 - p))) / n**2
    for name in set(losses) & set(metrics):
        mean = np.sum(calibrated * losses[name], axis=1)
        spread = np.clip(np.sum(calibrated * losses[name] ** 2, axis=1) - mean**2, 0.0, None)
        found[name] = float(np.sum(spread)) / n**2
    return found


def _binary_draws(
    q: np.ndarray, hits: np.ndarray, ranks: np.ndarray, positive: int, draws: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and ROC AUC of `draws` draws of a binary period's labels (row i positive with
    probability q_i): each draw's true positives, positives and rank sum from one product with the rows'
    predicted-positive flags (`hits`), ranks and ones."""
    n = len(q)
    middle = (n + 1) / 2  # ranks centred on it: float32 sums stay small
    weights = np.column_stack([hits, ranks - middle, np.ones(n)]).astype(np.float32)
    q32, predicted = q.astype(np.float32), float(hits.sum())
    block = max(1, DRAW_CELLS // n)
    found: dict[str, list[np.ndarray]] = {}
    for start in range(0, draws, block):
        size = min(block, draws - start)
        drawn = rng.random((size, n), dtype=np.float32)
        np.ceil(np.subtract(q32, drawn, out=drawn), out=drawn)  # 1 where the row's label is positive, else 0
        tp, ranksum, ones = (drawn @ weights).astype(float).T
        ones = np.rint(ones)
        tp, ranksum = np.rint(tp), ranksum + ones * middle
        confusion = np.empty((size, 2, 2))
        confusion[:, positive, positive], confusion[:, positive, 1 - positive] = tp, ones - tp
        confusion[:, 1 - positive, positive] = predicted - tp
        confusion[:, 1 - positive, 1 - positive] = n - ones - predicted + tp
        metrics = _confusion_metrics(confusion, positive)
        with np.errstate(divide="ignore", invalid="ignore"):
            metrics["roc_auc"] = (ranksum - ones * (ones + 1) / 2) / (ones * (n - ones))
        for name, values in metrics.items():
            found.setdefault(name, []).append(values)
    return {name: np.concatenate(parts) for name, parts in found.items()}


def _multiclass_draws(
    calibrated: np.ndarray, predicted: np.ndarray, ranks: dict[int, np.ndarray], draws: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Macro precision, recall, F1 and ROC AUC of `draws` draws of a multiclass period's labels from its
    calibrated probabilities."""
    n, k = calibrated.shape
    cumulative = np.cumsum(calibrated, axis=1)[:, :-1]
    block = max(1, DRAW_CELLS // max(1, n * k))
    found: dict[str, list[np.ndarray]] = {}
    for start in range(0, draws, block):
        size = min(block, draws - start)
        labels = (rng.random((size, n))[:, :, None] > cumulative[None]).sum(axis=2)
        cells = (np.arange(size)[:, None] * k + labels) * k + predicted[None, :]
        confusion = np.bincount(cells.ravel(), minlength=size * k * k).reshape(size, k, k).astype(float)
        metrics = _confusion_metrics(confusion, None)
        aucs = []
        for j, rank in ranks.items():
            hit = labels == j
            ones = hit.sum(axis=1).astype(float)
            with np.errstate(divide="ignore", invalid="ignore"):
                aucs.append((hit @ rank - ones * (ones + 1) / 2) / (ones * (n - ones)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            metrics["roc_auc"] = np.nanmean(np.where(np.isfinite(aucs), aucs, np.nan), axis=0)
        for name, values in metrics.items():
            found.setdefault(name, []).append(values)
    return {name: np.concatenate(parts) for name, parts in found.items()}


def _drawn_variances(
    calibrated: np.ndarray,
    predicted: np.ndarray,
    rankings: dict[int, tuple[np.ndarray, np.ndarray]],
    positive: int | None,
    draws: int,
    seed: int,
    metrics: tuple[str, ...],
) -> dict[str, float]:
    """The variance of the `metrics` that are not a mean of per-row terms (precision, recall, F1, ROC AUC) over
    `draws` seeded draws of the period's labels from its calibrated probabilities (ROC AUC from the mid-ranks of
    the model's scores, ties counting half)."""
    wanted = [name for name in DRAWN_METRICS if name in metrics]
    if not wanted:
        return {}
    rng = np.random.default_rng(seed)
    ranks = {j: _mid_ranks(ranking) for j, ranking in rankings.items()}
    if positive is not None:
        hits = (predicted == positive).astype(float)
        ranks_of = ranks.get(positive, np.zeros(len(predicted)))
        drawn = _binary_draws(calibrated[:, positive], hits, ranks_of, positive, draws, rng)
    else:
        drawn = _multiclass_draws(calibrated, predicted, ranks, draws, rng)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # every draw's AUC undefined: no spread measured
        return {name: float(np.nan_to_num(np.nanvar(drawn[name]))) for name in wanted}


def _predicted_index(estimator: CBPEstimator, scores: np.ndarray, predicted: Any) -> np.ndarray:
    """The predicted classes' positions: given, or the most probable class (binary: the positive class from its
    probability 0.5)."""
    if predicted is not None:
        index = _class_index(estimator.classes, predicted, "predicted class")
        if len(index) != len(scores):
            raise ValueError(
                f"the period has {len(scores)} rows of probabilities but {len(index)} predicted classes"
            )
        return index
    if estimator.positive is None:
        return scores.argmax(axis=1)
    i = estimator.classes.index(estimator.positive)
    return np.where(scores[:, i] >= 0.5, i, 1 - i)


def estimate_cbpe(
    estimator: CBPEstimator,
    probabilities: Any,
    predicted: Any = None,
    *,
    seed: int = 0,
    draws: int = DRAWS,
    metrics: Any = CBPE_METRICS,
) -> dict[str, Estimate]:
    """A period's estimated `metrics` (default all of `CBPE_METRICS`: accuracy, precision, recall, F1, ROC AUC,
    log loss and Brier score, as `metrics.score` defines them: binary of the positive class, multiclass macro),
    each with its band, from the model's `probabilities` on the period's rows (as `fit_cbpe` takes them) and its
    `predicted` classes (default: the most probable class; binary: the positive class from probability 0.5).
    `draws`: seeded draws of the labels behind the band of precision, recall, F1 and ROC AUC (accuracy's, log
    loss's and Brier's variance is exact)."""
    metrics = tuple(metrics)
    unknown = [name for name in metrics if name not in CBPE_METRICS]
    if unknown:
        raise ValueError(f"CBPE estimates {', '.join(CBPE_METRICS)}, not {', '.join(map(repr, unknown))}")
    scores = _scores(estimator.classes, estimator.positive, probabilities)
    rows = len(scores)
    if rows == 0:
        raise ValueError("CBPE cannot estimate a period of 0 rows")
    predicted = _predicted_index(estimator, scores, predicted)
    positive = None if estimator.positive is None else estimator.classes.index(estimator.positive)
    if positive is not None:  # rows in the order of the score: every metric ignores it, interpolation is faster
        ascending = np.argsort(scores[:, positive], kind="stable")
        scores, predicted = scores[ascending], predicted[ascending]
    columns = [positive] if positive is not None else list(range(len(estimator.classes)))
    rankings = _rankings(scores, columns) if "roc_auc" in metrics else {}
    losses = {name: loss for name, loss in _row_losses(scores, positive).items() if name in metrics}
    calibrated = estimator.calibrate(scores)
    values = _expected_metrics(calibrated[None], predicted, positive, rankings, losses, metrics)
    variance = _row_variances(calibrated, predicted, losses, metrics)
    variance |= _drawn_variances(calibrated, predicted, rankings, positive, draws, seed, metrics)
    if estimator.resampled:
        stacked = np.stack([estimator.calibrate(scores, group) for group in estimator.resampled])
        refitted = _expected_metrics(stacked, predicted, positive, rankings, losses, metrics)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            variance = {name: v + float(np.nan_to_num(np.nanvar(refitted[name]))) for name, v in variance.items()}
    highest = {"log_loss": np.inf, "brier": 1.0 if positive is not None else 2.0}
    return {
        name: _band(float(values[name][0]), float(np.sqrt(variance[name])), rows, high=highest.get(name, 1.0))
        for name in metrics
    }


# --- DLE -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DLEstimator:
    """DLE fitted on a reference (see `fit_dle`): the `loss` it models, the feature `columns` in order (the
    prediction follows them), each categorical column's known values (code = position; an unseen value counts as
    missing), the fitted booster, the `dispersion` k of the band and the reference's row count.

    Not storable as plain numbers: the booster is a scikit-learn object. Refit it from the reference (the caller
    caches it, keyed by the model version and the reference version), or store it with skops under an explicit
    trusted-type list (HistGradientBoosting needs `sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor`
    trusted; ../shared/STACK.md); never pickle."""

    loss: str
    columns: tuple[Any, ...]
    categories: dict[Any, tuple[Any, ...]]
    model: Any
    dispersion: float
    reference_rows: int
    seed: int

    @property
    def metric(self) -> str:
        return DLE_METRICS[self.loss]


def _row_loss(loss: str, labels: Any, predictions: Any) -> np.ndarray:
    """Each row's loss: squared error, absolute error, or squared log error (a negative prediction counting as
    0, as the platform's rmsle)."""
    y, yhat = np.asarray(labels, dtype=float), np.asarray(predictions, dtype=float)
    if y.shape != yhat.shape:
        raise ValueError(f"the reference has {len(yhat)} predictions but {len(y)} labels")
    bad = np.flatnonzero(~np.isfinite(y) | ~np.isfinite(yhat) | ((y < 0) if loss == "squared_log" else False))
    if len(bad):
        rule = "missing, or negative for the squared_log loss" if loss == "squared_log" else "missing"
        raise ValueError(
            f"{len(bad)} reference rows have a label or prediction that is {rule}: rows {bad[:10].tolist()}"
        )
    if loss == "squared":
        return (y - yhat) ** 2
    if loss == "absolute":
        return np.abs(y - yhat)
    return (np.log1p(np.clip(yhat, 0.0, None)) - np.log1p(y)) ** 2


def _design(
    columns: tuple[Any, ...], categories: dict[Any, tuple[Any, ...]], features: pd.DataFrame, predictions: Any
) -> np.ndarray:
    """The booster's input: the numeric columns as floats, the categorical ones as codes (missing or unseen:
    NaN, which the booster handles natively), and the prediction last."""
    import pandas as pd

    absent = [c for c in columns if c not in features.columns]
    if absent:
        raise ValueError(f"the features lack the reference's columns {absent}")
    predictions = np.asarray(predictions, dtype=float)
    if len(predictions) != len(features):
        raise ValueError(f"{len(features)} rows of features but {len(predictions)} predictions")
    parts = []
    for c in columns:
        if c in categories:
            codes = {v: i for i, v in enumerate(categories[c])}
            parts.append(features[c].astype(object).map(codes).to_numpy(dtype=float, na_value=np.nan))
        else:
            try:
                parts.append(pd.to_numeric(features[c]).to_numpy(dtype=float, na_value=np.nan))
            except (TypeError, ValueError) as error:
                raise ValueError(f"feature column {c!r} was numeric in the reference: {error}") from error
    return np.column_stack([*parts, predictions])


def _booster(categorical: list[bool], seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    # LightGBM's default tree (31 leaves, 20 rows a leaf, no L2) as NannyML's DLE, 50 rounds at 0.2 instead of 100
    # at 0.1 (as accurate on the benchmark, half the trees to predict); no early stopping: stopping where the
    # reference's own validation rows stop improving left it less accurate under covariate shift (docs/estimation.md)
    return HistGradientBoostingRegressor(
        learning_rate=0.2,
        max_iter=50,
        max_leaf_nodes=31,
        min_samples_leaf=20,
        l2_regularization=0.0,
        early_stopping=False,
        random_state=seed,
        categorical_features=categorical if any(categorical) else None,
    )


def fit_dle(
    features: pd.DataFrame, predictions: Any, labels: Any, loss: str = "squared", seed: int = 0
) -> DLEstimator:
    """DLE fitted on the reference: a HistGradientBoostingRegressor (squared-error objective: the conditional
    mean) of each row's `loss` (squared: for RMSE, absolute: for MAE, squared_log: for RMSLE) on the `features`
    and the model's `predictions`. Numeric columns stay numbers; other columns (strings, categories) become
    codes, the booster's native categories where they have at most 255 values, else ordinal numbers.

    The band's dispersion k, in var(row loss | features) ~ k x estimate^2 (2 for a Gaussian error's squared
    loss, pi/2 - 1 for its absolute loss), is measured out of sample: a booster fitted on a seeded four fifths of
    the reference estimates the other fifth. The returned booster is then fitted on every row. Storage: see
    `DLEstimator`."""
    import pandas as pd

    if loss not in DLE_METRICS:
        raise ValueError(f"DLE loss {loss!r}: expected one of {', '.join(DLE_METRICS)}")
    row_loss = _row_loss(loss, labels, predictions)
    if len(row_loss) < DLE_MIN_ROWS:
        raise ValueError(f"DLE needs at least {DLE_MIN_ROWS} reference rows, got {len(row_loss)}")
    columns = tuple(features.columns)
    categories = {
        c: tuple(
            sorted(pd.unique(features[c].dropna().astype(object)), key=lambda v: (type(v).__name__, str(v)))
        )
        for c in columns
        if not pd.api.types.is_numeric_dtype(features[c])
    }
    x = _design(columns, categories, features, predictions)
    native = [c in categories and len(categories[c]) <= 255 for c in columns] + [False]
    order = np.random.default_rng(seed).permutation(len(x))
    held, kept = order[: len(x) // 5], order[len(x) // 5 :]
    probe = np.clip(_booster(native, seed).fit(x[kept], row_loss[kept]).predict(x[held]), 0.0, None)
    dispersion = float(np.mean((row_loss[held] - probe) ** 2) / max(float(np.mean(probe**2)), 1e-300))
    model = _booster(native, seed).fit(x, row_loss)
    return DLEstimator(loss, columns, categories, model, dispersion, len(x), seed)


def estimate_dle(estimator: DLEstimator, features: pd.DataFrame, predictions: Any) -> Estimate:
    """A period's estimated RMSE, MAE or RMSLE (`estimator.metric`): the mean of the booster's per-row loss
    estimates (square-rooted for the squared losses), with a band from the dispersion: the mean loss's standard
    error is sqrt(k x sum(estimate^2) x (1 + rows / reference rows)) / rows (the period's own spread, and the
    booster's error from the reference's random losses as if at the reference's size), carried through the
    square root."""
    estimated = np.clip(
        estimator.model.predict(_design(estimator.columns, estimator.categories, features, predictions)),
        0.0,
        None,
    )
    rows = len(estimated)
    if rows == 0:
        raise ValueError("DLE cannot estimate a period of 0 rows")
    mean = float(estimated.mean())
    # the period's own spread, and the booster's error from the reference's random losses, at the reference's size
    se = float(
        np.sqrt(estimator.dispersion * np.sum(estimated**2) * (1 + rows / estimator.reference_rows)) / rows
    )
    if estimator.loss == "absolute":
        return _band(mean, se, rows, high=np.inf)
    value = float(np.sqrt(mean))
    lower, upper = np.sqrt(max(mean - BAND_Z * se, 0.0)), np.sqrt(mean + BAND_Z * se)
    return Estimate(value, float(lower), float(upper), se / (2 * value) if value > 0 else 0.0, rows)


# --- by the monitor's metric ----------------------------------------------------------------------------------


def fit_estimator(
    metric: str,
    labels: Any,
    *,
    probabilities: Any = None,
    classes: Any = None,
    positive: Any = None,
    features: pd.DataFrame | None = None,
    predictions: Any = None,
    calibration: str = "auto",
    seed: int = 0,
) -> CBPEstimator | DLEstimator:
    """The estimator of `metric` fitted on the reference's `labels` and the model's outputs there: CBPE (the
    `probabilities`, the `classes`, the binary task's `positive` class, the `calibration` method) for a
    classification metric, DLE (the `features` and the `predictions`) for rmse, mae and rmsle."""
    if metric in DLE_LOSSES:
        if features is None:
            raise ValueError(f"DLE of {metric} needs the reference's features and the model's predictions")
        return fit_dle(features, predictions, labels, DLE_LOSSES[metric], seed=seed)
    if metric in CBPE_METRICS:
        return fit_cbpe(probabilities, labels, classes, calibration, positive, seed=seed)
    raise ValueError(
        f"no estimator of the metric {metric!r}: expected one of {', '.join(CBPE_METRICS + tuple(DLE_LOSSES))}"
    )


def estimation_method(estimator: CBPEstimator | DLEstimator) -> str:
    """How the estimate was made, as texts show it: "CBPE (isotonic)", "CBPE (sigmoid)" or "DLE"."""
    return f"CBPE ({estimator.method})" if isinstance(estimator, CBPEstimator) else "DLE"


def estimate_metric(
    estimator: CBPEstimator | DLEstimator,
    metric: str,
    *,
    probabilities: Any = None,
    predicted: Any = None,
    features: pd.DataFrame | None = None,
    predictions: Any = None,
    seed: int = 0,
) -> Estimate:
    """A period's estimated `metric`: CBPE's from the model's `probabilities` (and `predicted` classes), or DLE's
    from the `features` and `predictions`; an error when the estimator cannot estimate that metric."""
    if isinstance(estimator, CBPEstimator):
        if metric not in CBPE_METRICS:
            raise ValueError(f"CBPE estimates {', '.join(CBPE_METRICS)}, not {metric!r}")
        return estimate_cbpe(estimator, probabilities, predicted, seed=seed, metrics=(metric,))[metric]
    if metric != estimator.metric:
        raise ValueError(f"this DLE models the {estimator.loss} loss ({estimator.metric}), not {metric!r}")
    if features is None:
        raise ValueError(f"DLE of {metric} needs the period's features and the model's predictions")
    return estimate_dle(estimator, features, predictions)


# --- on the predictions table's rows ------------------------------------------------------------------------------


def table_inputs(
    frame: pd.DataFrame,
    spec: Any,
    classes: Any,
    features: pd.DataFrame | None = None,
    labelled: bool = False,
) -> tuple[dict[str, Any], Any]:
    """What an estimator takes from rows of the predictions table (core/ml/predictions.py: `predicted_<target>`
    and a classifier's `proba_<class>` of `classes`) and, for DLE, from the rows' `features` (the spec's feature
    columns, row for row with `frame`): its keyword inputs, and the rows' labels. Rows without the model's
    outputs, or without a label when `labelled`, are left out."""
    from drift_platform.core.ml.predictions import prediction_column, proba_columns

    predicted = prediction_column(spec)
    keep = frame[predicted].notna().to_numpy()
    if classes is not None:
        keep &= frame[proba_columns(classes)].notna().all(axis=1).to_numpy()
    if labelled:
        keep &= frame[spec.target].notna().to_numpy()
    rows = frame[keep]
    if classes is not None:
        inputs = {
            "probabilities": rows[proba_columns(classes)].to_numpy(dtype=float),
            "predicted": rows[predicted].to_numpy(dtype=object),
        }
    else:
        if features is None or len(features) != len(frame):
            raise ValueError("DLE needs the features of the predictions' rows, row for row")
        inputs = {
            "features": features.loc[keep, list(spec.features)].reset_index(drop=True),
            "predictions": rows[predicted].to_numpy(dtype=float),
        }
    return inputs, rows[spec.target].to_numpy(dtype=object)


def fit_on_table(
    metric: str,
    frame: pd.DataFrame,
    spec: Any,
    classes: Any = None,
    positive: Any = None,
    features: pd.DataFrame | None = None,
    *,
    calibration: str = "auto",
    seed: int = 0,
) -> CBPEstimator | DLEstimator:
    """`fit_estimator` of `metric` on the reference's labelled rows of the predictions table (see
    `table_inputs`)."""
    inputs, labels = table_inputs(frame, spec, classes, features, labelled=True)
    if classes is None:
        labels = labels.astype(float)
        return fit_estimator(metric, labels, **inputs, seed=seed)
    inputs.pop("predicted")
    return fit_estimator(
        metric, labels, **inputs, classes=classes, positive=positive, calibration=calibration, seed=seed
    )


def estimate_on_table(
    estimator: CBPEstimator | DLEstimator,
    metric: str,
    frame: pd.DataFrame,
    spec: Any,
    features: pd.DataFrame | None = None,
    seed: int = 0,
) -> Estimate:
    """`estimate_metric` of a period's rows of the predictions table (see `table_inputs`): labelled or not."""
    classes = estimator.classes if isinstance(estimator, CBPEstimator) else None
    inputs, _ = table_inputs(frame, spec, classes, features)
    return estimate_metric(estimator, metric, **inputs, seed=seed)
