"""Training the model on the history: plain scikit-learn, no Dagster.

The tutorial's model, with its two defects fixed: the grid search MINIMISES RMSLE (its scorer had
`greater_is_better=True` and picked the worst alpha), and RMSLE is computed on the original target scale
(it was applied to targets already on the log scale). The target transform lives inside the estimator
(TransformedTargetRegressor: fit on log1p, predict with expm1), so every score sees real counts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.settings import GateSettings, TrainingSettings


@dataclass
class TrainingResult:
    model: Any
    best_alpha: float
    cv_rmsle: float
    holdout_rmsle: float
    holdout_r2: float
    train_rows: int
    holdout_rows: int
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    features: list[str]
    cv_rmsle_by_alpha: dict[float, float] = field(default_factory=dict)
    # The last datetime of the training part: the fitted model has seen no row after it (the holdout is later).
    train_end: pd.Timestamp | None = None


def rmsle(y_true: Any, y_pred: Any) -> float:
    """Root mean squared logarithmic error on the original scale; negative predictions count as 0."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.clip(np.asarray(y_pred, dtype=float), 0.0, None)
    return float(np.sqrt(np.mean((np.log1p(y_pred) - np.log1p(y_true)) ** 2)))


def build_pipeline(spec: DatasetSpec, alpha: float = 1.0):
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    preprocess = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(spec.categorical_features)),
            ("numerical", StandardScaler(), list(spec.numerical_features)),
        ]
    )
    regressor = TransformedTargetRegressor(
        regressor=Ridge(alpha=alpha), func=np.log1p, inverse_func=np.expm1, check_inverse=False
    )
    return Pipeline([("preprocess", preprocess), ("model", regressor)])


def in_time_order(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Rows by time, then by the rest of the key: one order whichever warehouse the rows came from."""
    order = [spec.datetime_column, *(c for c in spec.key if c != spec.datetime_column and c in frame.columns)]
    return frame.sort_values(order, kind="stable")


def chronological_split(history: pd.DataFrame, spec: DatasetSpec, holdout_share: float):
    """Sort by time and keep about the last `holdout_share` of rows for the holdout: no future leaks into
    training, and all rows of one timestamp on the same side (many events may share one)."""
    if not 0 < holdout_share < 1:
        raise ValueError(f"holdout_share must be in (0, 1), got {holdout_share}")
    ordered = in_time_order(history, spec).reset_index(drop=True)
    when = ordered[spec.datetime_column]
    n_holdout = max(1, int(round(len(ordered) * holdout_share)))
    cut = when.iloc[len(ordered) - n_holdout]  # the holdout starts with this timestamp's first row
    train_part = ordered[when < cut]
    if train_part.empty:  # one timestamp holds more than the training share: keep its rows for training
        train_part, holdout = ordered[when <= cut], ordered[when > cut]
        if holdout.empty:
            raise ValueError("the history holds a single timestamp: nothing to hold out")
        return train_part, holdout
    return train_part, ordered[when >= cut]


def time_series_folds(when: pd.Series, n_splits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`TimeSeriesSplit` over the distinct timestamps of rows in time order: each fold trains on every row
    before its test rows, and the rows of one timestamp are never split between train and test."""
    from sklearn.model_selection import TimeSeriesSplit

    times = pd.Series(pd.factorize(when.to_numpy(), sort=True)[0])  # 0, 1, 2 ... per distinct timestamp
    distinct = int(times.max()) + 1 if len(times) else 0
    if distinct <= n_splits:
        raise ValueError(f"{distinct} distinct timestamps cannot make {n_splits} chronological CV folds")
    folds = []
    for train_times, test_times in TimeSeriesSplit(n_splits=n_splits).split(np.arange(distinct)):
        folds.append((np.flatnonzero(times.isin(train_times)), np.flatnonzero(times.isin(test_times))))
    return folds


def train(history: pd.DataFrame, spec: DatasetSpec, settings: TrainingSettings | None = None) -> TrainingResult:
    """Grid-search Ridge's alpha by chronological CV on the training part, refit, score the holdout."""
    from sklearn.metrics import make_scorer, r2_score
    from sklearn.model_selection import GridSearchCV

    settings = settings or TrainingSettings()
    features = spec.features
    data = history.dropna(subset=[*features, spec.target])
    min_rows = (settings.cv_folds + 1) * 2 + 1
    if len(data) < min_rows:
        raise ValueError(f"training needs at least {min_rows} complete rows; the history has {len(data)}")
    train_part, holdout = chronological_split(data, spec, settings.holdout_share)
    search = GridSearchCV(
        build_pipeline(spec),
        param_grid={"model__regressor__alpha": list(settings.alphas)},
        scoring=make_scorer(rmsle, greater_is_better=False),  # minimise RMSLE
        cv=time_series_folds(train_part[spec.datetime_column], settings.cv_folds),
        n_jobs=settings.n_jobs,
        refit=True,
    )
    search.fit(train_part[features], train_part[spec.target].astype(float))
    predictions = search.predict(holdout[features])
    y_holdout = holdout[spec.target].astype(float)
    by_alpha = {
        float(alpha): float(-score)
        for alpha, score in zip(
            search.cv_results_["param_model__regressor__alpha"], search.cv_results_["mean_test_score"], strict=True
        )
    }
    when = data[spec.datetime_column]
    return TrainingResult(
        model=search.best_estimator_,
        best_alpha=float(search.best_params_["model__regressor__alpha"]),
        cv_rmsle=float(-search.best_score_),
        holdout_rmsle=rmsle(y_holdout, predictions),
        holdout_r2=float(r2_score(y_holdout, predictions)),
        train_rows=len(train_part),
        holdout_rows=len(holdout),
        window_start=pd.Timestamp(when.min()),
        window_end=pd.Timestamp(when.max()),
        features=list(features),
        cv_rmsle_by_alpha=by_alpha,
        train_end=pd.Timestamp(train_part[spec.datetime_column].max()),
    )


# --- what a model saw, and how well it does on given rows ------------------------------------------------------
def history_sha256(history: pd.DataFrame, spec: DatasetSpec) -> str:
    """sha256 of the history as canonical CSV: the spec's columns in spec order, rows by time (then key), ISO
    datetimes, empty fields for missing values. The same rows give the same hash whichever warehouse they came
    from."""
    columns = [c for c in spec.columns if c in history.columns]
    ordered = in_time_order(history[columns], spec)
    text = ordered.to_csv(index=False, lineterminator="\n", date_format="%Y-%m-%dT%H:%M:%S")
    return hashlib.sha256(text.encode()).hexdigest()


def complete_rows(frame: pd.DataFrame, spec: DatasetSpec, labelled: bool = True) -> pd.DataFrame:
    """Rows with every feature (and the target, if `labelled`) present, in time order."""
    subset = [*spec.features, spec.target] if labelled else list(spec.features)
    return in_time_order(frame.dropna(subset=subset), spec)


def predict(model: Any, frame: pd.DataFrame, spec: DatasetSpec) -> pd.Series:
    """The model's predictions on the original scale, indexed like `frame`; NaN where a feature is missing."""
    out = pd.Series(np.nan, index=frame.index, dtype=float)
    complete = frame.dropna(subset=list(spec.features))
    if len(complete):
        out.loc[complete.index] = np.asarray(model.predict(complete[spec.features]), dtype=float)
    return out


PERIOD_FREQUENCIES = {"weekly": "W-SUN", "daily": "D"}


def period_start(when: pd.Series, cadence: str = "weekly") -> pd.Series:
    """The start of each datetime's period: the Monday of its week (weekly partitions) or its day (daily)."""
    return pd.to_datetime(when).dt.to_period(PERIOD_FREQUENCIES[cadence]).dt.start_time


# --- the champion/challenger comparison ------------------------------------------------------------------------
@dataclass(frozen=True)
class GateComparison:
    """Both models scored on the same labelled rows, which neither model's fit has seen."""

    periods: list[str]  # the first day of each period the rows come from
    eval_rows: int
    fit_rows: int  # rows the challenger's first refit saw: every complete row before the first evaluated row
    excluded_seen_rows: int  # rows of the last periods left out because the champion's fit had seen them
    challenger_rmsle: float | None
    champion_rmsle: float | None
    eval_start: pd.Timestamp | None = None
    eval_end: pd.Timestamp | None = None
    problem: str | None = None  # why the models could not be compared fairly (None: they were)


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    outcome: str  # "promoted" or "kept"
    reason: str
    improvement: float | None  # (champion - challenger) / champion; > 0 means the challenger is better


def compare_models(
    challenger: Any,
    history: pd.DataFrame,
    spec: DatasetSpec,
    settings: GateSettings,
    champion: Any | None = None,
    champion_seen_until: pd.Timestamp | None = None,
    cadence: str = "weekly",
) -> GateComparison:
    """Score the challenger and the champion on the same recent labelled rows, which neither has been fitted on.

    - Rows: the complete, labelled rows of the last `eval_periods` periods (weeks or days, by `cadence`) of the
      history, minus those up to `champion_seen_until` (the end of the champion's training part): the champion,
      as it is in service, is scored only on rows its fit never saw.
    - The challenger in the store was fitted on (almost) the whole history, these rows included, so it is not
      scored as is. Its recipe is: its pipeline, cloned with the hyperparameters it chose (the alpha of its grid
      search), refitted period by period (walk-forward): for each evaluated period, on every row before that
      period's first evaluated row, then scored on that period's rows. That is what retraining every period
      would have served, and no refit sees a row it is scored on.

    Both RMSLEs are over all evaluated rows together. The newest period's own value for training cannot be
    measured yet (that needs labels of later periods): when the champion was trained recently, the refits see
    about the champion's data, the two score alike, and the margin keeps the champion. Fewer than
    `min_eval_rows` rows, or fewer than `min_fit_rows` rows before them, means no fair comparison (`problem`).
    """
    data, periods, evaluated, excluded = gate_rows(
        history, spec, settings.eval_periods, champion_seen_until if champion is not None else None, cadence
    )
    if len(evaluated) < settings.min_eval_rows:
        problem = (
            f"only {len(evaluated)} labelled row(s) in the last {settings.eval_periods} period(s) of the history "
            f"that the champion's fit has not seen (at least {settings.min_eval_rows} needed)"
        )
        return incomparable(evaluated, excluded, 0, problem)
    start = evaluated[spec.datetime_column].min()
    first_fit = int((data[spec.datetime_column] < start).sum())
    if first_fit < settings.min_fit_rows:
        problem = (
            f"only {first_fit} row(s) before {start:%Y-%m-%d} to refit the challenger on "
            f"(at least {settings.min_fit_rows} needed)"
        )
        return incomparable(evaluated, excluded, first_fit, problem)
    eval_periods = periods[evaluated.index]
    predicted = walk_forward_predictions(challenger, data, evaluated, eval_periods, spec)
    y = evaluated[spec.target].astype(float)
    champion_rmsle = rmsle(y, champion.predict(evaluated[spec.features])) if champion is not None else None
    return GateComparison(
        periods=[f"{p:%Y-%m-%d}" for p in sorted(eval_periods.unique())],
        eval_rows=len(evaluated),
        fit_rows=first_fit,
        excluded_seen_rows=excluded,
        challenger_rmsle=rmsle(y, predicted),
        champion_rmsle=champion_rmsle,
        eval_start=pd.Timestamp(start),
        eval_end=pd.Timestamp(evaluated[spec.datetime_column].max()),
    )


def gate_rows(
    history: pd.DataFrame,
    spec: DatasetSpec,
    eval_periods: int,
    seen_until: pd.Timestamp | None,
    cadence: str = "weekly",
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, int]:
    """The rows a gate scores the models on. Returns the complete labelled rows in time order (index 0..n-1),
    the start of each one's period, the rows to evaluate (those of the last `eval_periods` periods after
    `seen_until`, when given) and how many rows of those periods were left out for being seen."""
    data = complete_rows(history, spec).reset_index(drop=True)
    when = data[spec.datetime_column]
    periods = period_start(when, cadence)
    last = sorted(periods.unique())[-eval_periods:] if len(data) else []
    in_window = periods.isin(last)
    seen = pd.Series(False, index=data.index)
    if seen_until is not None:
        seen = when <= pd.Timestamp(seen_until)
    return data, periods, data[in_window & ~seen], int((in_window & seen).sum())


def incomparable(evaluated: pd.DataFrame, excluded: int, fit_rows: int, problem: str) -> GateComparison:
    """A comparison that could not be made fairly: no periods, no scores, and why (`problem`)."""
    return GateComparison([], len(evaluated), fit_rows, excluded, None, None, problem=problem)


def walk_forward_predictions(
    challenger: Any, data: pd.DataFrame, evaluated: pd.DataFrame, eval_periods: pd.Series, spec: DatasetSpec
) -> pd.Series:
    """The challenger's recipe refitted period by period: for each period of `eval_periods` (one per evaluated
    row), a clone of `challenger` fitted on every row of `data` before the period's first evaluated row predicts
    that period's rows. Indexed like `evaluated`."""
    from sklearn.base import clone

    when = data[spec.datetime_column]
    predicted = pd.Series(np.nan, index=evaluated.index, dtype=float)
    for period in sorted(eval_periods.unique()):
        rows = evaluated[eval_periods == period]
        fit = data[when < rows[spec.datetime_column].min()]
        refit = clone(challenger).fit(fit[spec.features], fit[spec.target].astype(float))
        predicted.loc[rows.index] = refit.predict(rows[spec.features])
    return predicted


def decide(comparison: GateComparison, has_champion: bool, min_improvement: float) -> GateDecision:
    """Promote when there is no champion, or when the challenger's RMSLE is lower than the champion's by at
    least `min_improvement` (relative: 0.01 = 1 % lower; a negative margin promotes a challenger up to that much
    worse, for its fresher data). Without a fair comparison the champion stays."""
    if not has_champion:
        return GateDecision(True, "promoted", "no champion yet: the first model in service", None)
    if comparison.problem or comparison.challenger_rmsle is None or comparison.champion_rmsle is None:
        return GateDecision(False, "kept", f"no fair comparison: {comparison.problem}", None)
    champion, challenger = comparison.champion_rmsle, comparison.challenger_rmsle
    improvement = (champion - challenger) / champion if champion > 0 else (0.0 if challenger == 0 else -np.inf)
    if improvement >= min_improvement and (improvement > 0 or min_improvement < 0):
        return GateDecision(
            True, "promoted",
            f"challenger RMSLE {challenger:.4f} is {abs(improvement):.1%} {'lower' if improvement > 0 else 'higher'} "
            f"than the champion's {champion:.4f} (margin {min_improvement:.1%})", float(improvement),
        )
    return GateDecision(
        False, "kept",
        f"challenger RMSLE {challenger:.4f} vs the champion's {champion:.4f}: "
        + (f"{improvement:.1%} lower, below the margin {min_improvement:.1%}" if improvement > 0
           else f"not lower (margin {min_improvement:.1%})"),
        float(improvement),
    )


# --- the model-quality check ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QualityBaseline:
    """The champion recipe's error per period on its own training history, walk-forward: for each of the last
    periods, the recipe (the same pipeline and alpha) refitted on every row before the period and scored on the
    period's labelled rows. Its spread is the noise a period's error shows when nothing has changed."""

    periods: tuple[str, ...]  # the first day of each period
    errors: tuple[float, ...]  # RMSLE of each period
    rows: tuple[int, ...]  # labelled rows of each period

    def kept(self, min_rows: int) -> QualityBaseline:
        """The periods with at least `min_rows` labelled rows (a 2-row period's RMSLE is mostly noise)."""
        keep = [i for i, n in enumerate(self.rows) if n >= min_rows]
        return QualityBaseline(*(tuple(getattr(self, f)[i] for i in keep) for f in ("periods", "errors", "rows")))

    @property
    def n(self) -> int:
        return len(self.errors)

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.errors)) if self.errors else None

    @property
    def std(self) -> float | None:
        return float(np.std(self.errors, ddof=1)) if self.n >= 2 else None

    def to_dict(self) -> dict[str, Any]:
        return {"periods": list(self.periods), "errors": list(self.errors), "rows": list(self.rows)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QualityBaseline:
        return cls(tuple(data["periods"]), tuple(float(e) for e in data["errors"]), tuple(int(n) for n in data["rows"]))


def walk_forward_baseline(
    history: pd.DataFrame, spec: DatasetSpec, alpha: float, cadence: str = "weekly", *, min_fit_rows: int = 14,
    max_periods: int = 26,
) -> QualityBaseline:
    """The recipe's walk-forward errors on `history` (see QualityBaseline): the last `max_periods` periods that
    have at least `min_fit_rows` complete labelled rows before them."""
    data = complete_rows(history, spec).reset_index(drop=True)
    starts = period_start(data[spec.datetime_column], cadence)
    eligible = [start for start in sorted(starts.unique()) if int((starts < start).sum()) >= min_fit_rows]
    periods, errors, rows = eligible[-max_periods:], [], []
    for start in periods:
        before, inside = data[starts < start], data[starts == start]
        model = build_pipeline(spec, alpha).fit(before[spec.features], before[spec.target].astype(float))
        errors.append(rmsle(inside[spec.target].astype(float), model.predict(inside[spec.features])))
        rows.append(len(inside))
    return QualityBaseline(tuple(f"{p:%Y-%m-%d}" for p in periods), tuple(errors), tuple(rows))


@dataclass(frozen=True)
class PeriodQuality:
    rows: int  # labelled rows with a prediction
    rmsle: float | None
    holdout_rmsle: float
    ratio: float | None  # rmsle / the reference error (the baseline's mean, or the holdout's with bound="ratio")
    max_ratio: float
    degraded: bool
    bound: float | None = None  # the RMSLE above which the period counts as degraded (None: not judged)
    method: str = "ratio"  # how the bound was set: "baseline" (mean + sigmas x std) or "ratio" (max_ratio x holdout)
    judged: bool = True  # False: too few rows (in the period or the baseline) to tell degradation from noise
    note: str = ""  # why not judged, or how
    baseline: QualityBaseline | None = None


def period_quality(
    actual: Any, predicted: Any, holdout_rmsle: float, max_ratio: float, *, baseline: QualityBaseline | None = None,
    bound: str = "ratio", sigmas: float = 3.0, min_period_rows: int = 1, min_baseline_periods: int = 5,
) -> PeriodQuality:
    """The model's RMSLE on a period's labelled rows, judged against a bound with a known spread.

    bound="baseline": degraded when the error exceeds mean + `sigmas` x std of the recipe's walk-forward
    per-period errors (`baseline`, periods with fewer than `min_period_rows` rows left out); not judged, and
    passing, when the period has fewer than `min_period_rows` labelled rows or the baseline fewer than
    `min_baseline_periods` periods. A model without a baseline is judged by the ratio, and the note says so.
    bound="ratio": degraded when the error exceeds `max_ratio` x the model's holdout RMSLE.
    Rows without a label or a prediction are left out; none left means not evaluated."""
    actual = pd.Series(actual, dtype=float).reset_index(drop=True)
    predicted = pd.Series(predicted, dtype=float).reset_index(drop=True)
    keep = actual.notna() & predicted.notna()
    rows = int(keep.sum())
    if not rows:
        return PeriodQuality(0, None, holdout_rmsle, None, max_ratio, False, judged=False,
                             note="no labelled row with a prediction")
    error = rmsle(actual[keep], predicted[keep])
    if rows < min_period_rows:
        return PeriodQuality(rows, error, holdout_rmsle, None, max_ratio, False, judged=False,
                             note=f"{rows} labelled row(s), fewer than min_period_rows={min_period_rows}: not judged")
    if bound == "baseline" and baseline is not None:
        kept = baseline.kept(min_period_rows)
        if kept.n < min_baseline_periods:
            return PeriodQuality(
                rows, error, holdout_rmsle, None, max_ratio, False, method="baseline", judged=False, baseline=kept,
                note=(f"the baseline rests on {kept.n} period(s) of >= {min_period_rows} rows ({sum(kept.rows)} rows), "
                      f"fewer than min_baseline_periods={min_baseline_periods}: too few to tell degradation from "
                      "noise, not judged"))
        limit = kept.mean + sigmas * kept.std
        ratio = error / kept.mean if kept.mean > 0 else (np.inf if error > 0 else 1.0)
        return PeriodQuality(
            rows, error, holdout_rmsle, float(ratio), max_ratio, bool(error > limit), bound=float(limit),
            method="baseline", baseline=kept,
            note=f"bound = mean {kept.mean:.4f} + {sigmas:g} x std {kept.std:.4f} of {kept.n} walk-forward periods")
    ratio = error / holdout_rmsle if holdout_rmsle > 0 else (np.inf if error > 0 else 1.0)
    note = f"bound = max_ratio {max_ratio:g} x holdout RMSLE {holdout_rmsle:.4f}"
    if bound == "baseline":
        note += " (the model has no walk-forward baseline: trained before it was recorded)"
    return PeriodQuality(rows, error, holdout_rmsle, float(ratio), max_ratio, bool(ratio > max_ratio),
                         bound=max_ratio * holdout_rmsle, method="ratio", note=note)
