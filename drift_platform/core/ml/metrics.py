"""The metrics a model is searched, gated and watched by: one table (`METRICS`) and one function (`score`).

Each value equals scikit-learn's function on the same rows (rmsle: the platform's own, which counts a negative
prediction as 0, as sklearn's `root_mean_squared_log_error` cannot; equal to it otherwise):

    rmse      root_mean_squared_error                  regression
    mae       mean_absolute_error                      regression
    rmsle     sqrt(mean((log1p(pred) - log1p(y))^2))   regression, target non-negative
    log_loss  log_loss(labels=classes)                 binary, multiclass (probabilities)
    roc_auc   roc_auc_score: binary on the positive class's probability; multiclass one-vs-rest, macro
    f1        f1_score: binary of the positive class; multiclass macro
    accuracy  accuracy_score                           binary, multiclass
    brier     brier_score_loss: binary on the positive class's probability; multiclass on every class's

Greater is better for roc_auc, f1 and accuracy (all at most 1); lower for the rest. A value that a period's rows
cannot define (roc_auc of rows of one class) is NaN. Plain numpy; scikit-learn is imported inside `score`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

REGRESSION, BINARY, MULTICLASS = "regression", "binary", "multiclass"
CLASSIFICATION = (BINARY, MULTICLASS)


@dataclass(frozen=True)
class Metric:
    name: str
    tasks: tuple[str, ...]
    greater_is_better: bool
    needs_proba: bool
    label: str  # how texts and tables name it, e.g. "ROC AUC"


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("rmse", (REGRESSION,), False, False, "RMSE"),
        Metric("mae", (REGRESSION,), False, False, "MAE"),
        Metric("rmsle", (REGRESSION,), False, False, "RMSLE"),
        Metric("log_loss", CLASSIFICATION, False, True, "log loss"),
        Metric("roc_auc", CLASSIFICATION, True, True, "ROC AUC"),
        Metric("f1", CLASSIFICATION, True, False, "F1"),
        Metric("accuracy", CLASSIFICATION, True, False, "accuracy"),
        Metric("brier", CLASSIFICATION, False, True, "Brier score"),
    )
}  # fmt: skip
# The best value of each greater-is-better metric: the shortfall from it is the error the ratio bound scales.
PERFECT = 1.0


def metric_names(task: str) -> list[str]:
    """The metrics that fit a task."""
    return [name for name, m in METRICS.items() if task in m.tasks]


def default_metric(task: str, target_nonnegative: bool = True) -> str:
    """rmsle for a regression on a non-negative target, rmse for one that may be negative, log_loss for a
    classifier."""
    if task == REGRESSION:
        return "rmsle" if target_nonnegative else "rmse"
    return "log_loss"


def rmsle(y_true: Any, y_pred: Any) -> float:
    """Root mean squared logarithmic error on the original scale; negative predictions count as 0."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.clip(np.asarray(y_pred, dtype=float), 0.0, None)
    return float(np.sqrt(np.mean((np.log1p(y_pred) - np.log1p(y_true)) ** 2)))


def score(name: str, y_true: Any, predicted: Any = None, proba: Any = None, *, classes: list | None = None,
          positive: Any = None) -> float:
    """The metric `name` of the rows: `predicted` (values or classes) for rmse, mae, rmsle, f1 and accuracy;
    `proba` (rows x `classes`, in that order) for log_loss, roc_auc and brier. `positive`: a binary task's
    positive class (f1, and the probability roc_auc and brier use). NaN when the rows cannot define it."""
    from sklearn import metrics as m

    if name == "rmse":
        return float(m.root_mean_squared_error(np.asarray(y_true, float), np.asarray(predicted, float)))
    if name == "mae":
        return float(m.mean_absolute_error(np.asarray(y_true, float), np.asarray(predicted, float)))
    if name == "rmsle":
        return rmsle(y_true, predicted)
    y = np.asarray(y_true, dtype=object if classes and isinstance(classes[0], str) else None)
    binary = classes is not None and len(classes) == 2
    if name == "accuracy":
        return float(m.accuracy_score(y, np.asarray(predicted, dtype=y.dtype)))
    if name == "f1":
        if binary:
            return float(m.f1_score(y, np.asarray(predicted, dtype=y.dtype), pos_label=positive, average="binary"))
        return float(m.f1_score(y, np.asarray(predicted, dtype=y.dtype), average="macro"))
    proba = np.asarray(proba, dtype=float)
    if name == "log_loss":
        return float(m.log_loss(y, proba, labels=classes))
    column = proba[:, classes.index(positive)] if binary else None
    if name == "brier":
        if binary:
            return float(m.brier_score_loss(y == positive, column))
        return float(m.brier_score_loss(y, proba, labels=classes))
    if name == "roc_auc":
        if len(set(y.tolist())) < 2:
            return float("nan")  # one class only: no ranking to score
        if binary:
            return float(m.roc_auc_score(y == positive, column))
        return roc_auc_multiclass(y, proba, classes)
    raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")


def roc_auc_multiclass(y: np.ndarray, proba: np.ndarray, classes: list) -> float:
    """One-vs-rest macro ROC AUC: the mean over the classes present in `y` of each class's binary AUC on its
    probability column. With every class present this is scikit-learn's `roc_auc_score(y, proba,
    multi_class="ovr", labels=classes)`; a class absent from a period's rows (where sklearn refuses) is left
    out rather than making the period unscored."""
    from sklearn.metrics import roc_auc_score

    present = [i for i, c in enumerate(classes) if (y == c).any()]
    return float(np.mean([roc_auc_score(y == classes[i], proba[:, i]) for i in present]))


def improvement(name: str, champion: float, challenger: float) -> float:
    """How much better the challenger is, relative to the champion's value (> 0: better): (champion -
    challenger) / champion for a lower-is-better metric, (challenger - champion) / champion for a greater one."""
    gain = challenger - champion if METRICS[name].greater_is_better else champion - challenger
    if champion == 0:
        return 0.0 if gain == 0 else (np.inf if gain > 0 else -np.inf)
    return float(gain / abs(champion))


def error_of(name: str, value: float) -> float:
    """The metric as an error (0 = perfect): the value for a lower-is-better metric, the shortfall from 1 for a
    greater one (1 - AUC): what the ratio bound compares."""
    return PERFECT - value if METRICS[name].greater_is_better else value


def worse(name: str, value: float, bound: float) -> bool:
    """Whether `value` is beyond the bound in the metric's bad direction: above it for an error, below it for
    a greater-is-better metric."""
    return bool(value < bound) if METRICS[name].greater_is_better else bool(value > bound)
