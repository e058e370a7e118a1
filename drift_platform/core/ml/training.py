"""Training the model on the history, the champion/challenger comparison and the model-quality decision: plain
scikit-learn, no Dagster.

The recipe (estimator, grid, metric) is the monitor's `training:` (core/ml/recipe.py); every score is the
recipe's metric (core/ml/metrics.py), and a `Scoring` carries it with a classifier's classes and positive class.
Whether a value is good follows the metric: the search, the gate and the quality bound all turn with
`greater_is_better`.

The default regression recipe is the tutorial's model, with its two defects fixed: the grid search MINIMISES
RMSLE (its scorer had `greater_is_better=True` and picked the worst alpha), and RMSLE is computed on the original
target scale (it was applied to targets already on the log scale). The target transform lives inside the
estimator (TransformedTargetRegressor: fit on log1p, predict with expm1), so every score sees real counts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from drift_platform.core.intake.dataset import DatasetSpec, positive_of
from drift_platform.core.ml.metrics import METRICS, Metric, error_of, improvement, rmsle, score, worse
from drift_platform.core.ml.recipe import RIDGE, Recipe, build_model, own_params, recipe_of, search_grid
from drift_platform.core.settings import GateSettings, TrainingSettings

__all__ = ["rmsle"]  # re-exported: tests and benchmarks import it from here


@dataclass(frozen=True)
class Scoring:
    """How a model's output is scored: the metric, and for a classifier its classes (the order of the probability
    columns) and, for two classes, the positive one. Called as GridSearchCV's scorer: greater is better, so an
    error comes negated."""

    metric: str = "rmsle"
    classes: tuple | None = None
    positive: Any = None

    @property
    def info(self) -> Metric:
        return METRICS[self.metric]

    def outputs(self, model: Any, features: pd.DataFrame) -> np.ndarray:
        """What the metric scores: the probabilities (rows x classes) when it needs them, else the predictions."""
        if self.info.needs_proba:
            return class_probabilities(model, features, list(self.classes))
        predicted = np.asarray(model.predict(features))
        return predicted if self.classes is not None else predicted.astype(float)

    def of(self, y: Any, outputs: Any) -> float:
        """The metric of the rows' labels `y` and the model's `outputs` (see `outputs`)."""
        classes = list(self.classes) if self.classes is not None else None
        if self.info.needs_proba:
            return score(self.metric, y, proba=outputs, classes=classes, positive=self.positive)
        return score(self.metric, y, outputs, classes=classes, positive=self.positive)

    def __call__(self, model: Any, features: pd.DataFrame, y: Any) -> float:
        value = self.of(y, self.outputs(model, features))
        return value if self.info.greater_is_better else -value


def class_probabilities(model: Any, features: pd.DataFrame, classes: list[Any]) -> np.ndarray:
    """`predict_proba` with one column per class of `classes`, in that order; 0 for a class the model's fit
    never saw."""
    proba = np.asarray(model.predict_proba(features), dtype=float)
    out = np.zeros((len(proba), len(classes)))
    for j, cls in enumerate(model.classes_):
        if cls in classes:
            out[:, classes.index(cls)] = proba[:, j]
    return out


@dataclass
class TrainingResult:
    model: Any
    metric: str
    best_params: dict[str, Any]  # the estimator's own parameter names
    cv_score: float
    holdout_score: float
    holdout_r2: float | None  # regression only
    train_rows: int
    holdout_rows: int
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    features: list[str]
    cv_scores: list[tuple[dict[str, Any], float]] = field(default_factory=list)  # (params, mean CV value) each
    # The last datetime of the training part: the fitted model has seen no row after it (the holdout is later).
    train_end: pd.Timestamp | None = None
    estimator: str = RIDGE
    scoring: Scoring | None = None  # the metric with a classifier's classes and positive class

    # The names of the rmsle recipe (Ridge on log1p), as manifests and earlier code know them.
    @property
    def best_alpha(self) -> float | None:
        alpha = self.best_params.get("alpha")
        return None if alpha is None else float(alpha)

    @property
    def cv_rmsle(self) -> float:
        return self.cv_score

    @property
    def holdout_rmsle(self) -> float:
        return self.holdout_score

    @property
    def cv_rmsle_by_alpha(self) -> dict[float, float]:
        return {float(params["alpha"]): value for params, value in self.cv_scores if "alpha" in params}


def build_pipeline(spec: DatasetSpec, alpha: float = 1.0):
    """The default regression recipe (Ridge in TransformedTargetRegressor(log1p, expm1) after one-hot + scaling)
    with this alpha."""
    recipe = Recipe("regression", RIDGE, {"alpha": [alpha]}, "rmsle", log_target=True)
    return build_model(spec, recipe, {"alpha": alpha})


def target_values(frame: pd.DataFrame, spec: DatasetSpec) -> pd.Series:
    """The target as models take it: floats for a regression, the labels (ints, or strings) for a classifier."""
    y = frame[spec.target]
    if not spec.is_classifier:
        return y.astype(float)
    return y.astype(object).map(str) if spec.columns[spec.target] == "str" else y.astype("int64")


def model_classes(history: pd.DataFrame, spec: DatasetSpec) -> list[Any] | None:
    """A classifier's classes, in order: the spec's `classes`, else the labels of the reference window's rows
    (of the whole history when it holds none); then, under `unknown_class: admit`, every other label the history
    holds (a new class). None for a regression."""
    if not spec.is_classifier:
        return None
    labels = target_values(history.dropna(subset=[spec.target]), spec)
    known = spec.known_classes
    if known is None:
        start, end = spec.reference_window
        when = history.loc[labels.index, spec.datetime_column]
        in_reference = labels[(when >= start) & (when < end)]
        known = sorted((in_reference if len(in_reference) else labels).unique().tolist())
    new = sorted(set(labels.unique().tolist()) - set(known), key=str) if spec.unknown_class == "admit" else []
    return [*known, *new]


def scoring_for(spec: DatasetSpec, metric: str, classes: list[Any] | None) -> Scoring:
    """The scoring of a monitor's models: its metric, and a classifier's classes and positive class (the spec's
    `positive_class`, else the larger of the two sorted classes)."""
    if classes is None:
        return Scoring(metric)
    given = spec.label(spec.positive_class) if spec.positive_class is not None else None
    positive = positive_of(classes, given) if len(classes) == 2 else None
    return Scoring(metric, tuple(classes), positive)


def scoring_from_manifest(manifest: dict[str, Any]) -> Scoring:
    """The scoring a stored model was trained with (its manifest's metric, classes, positive class); RMSLE for a
    manifest written before they were recorded."""
    classes = manifest.get("classes")
    return Scoring(manifest.get("metric") or "rmsle", tuple(classes) if classes else None,
                   manifest.get("positive_class"))


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


def time_series_folds(when: pd.Series, n_splits: int, labels: pd.Series | None = None
                      ) -> list[tuple[np.ndarray, np.ndarray]]:
    """`TimeSeriesSplit` over the distinct timestamps of rows in time order: each fold trains on every row
    before its test rows, and the rows of one timestamp are never split between train and test.

    With a classifier's `labels` (aligned with `when`), the folds are stratified in time where possible: the cuts
    between timestamps are placed so that each test fold holds about the same number of rows of the rarest
    class (1 / (n_splits + 1) of them each), instead of the same number of timestamps; they are used when every
    fit holds at least two classes and every test fold the rarest one, else the plain folds are."""
    from sklearn.model_selection import TimeSeriesSplit

    times = pd.Series(pd.factorize(when.to_numpy(), sort=True)[0])  # 0, 1, 2 ... per distinct timestamp
    distinct = int(times.max()) + 1 if len(times) else 0
    if distinct <= n_splits:
        raise ValueError(f"{distinct} distinct timestamps cannot make {n_splits} chronological CV folds")
    if labels is not None:
        stratified = stratified_time_folds(times, pd.Series(np.asarray(labels, dtype=object)), n_splits)
        if stratified is not None:
            return stratified
    folds = []
    for train_times, test_times in TimeSeriesSplit(n_splits=n_splits).split(np.arange(distinct)):
        folds.append((np.flatnonzero(times.isin(train_times)), np.flatnonzero(times.isin(test_times))))
    return folds


def stratified_time_folds(times: pd.Series, labels: pd.Series, n_splits: int
                          ) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Chronological folds whose test parts hold equal shares of the rarest class's rows (see
    `time_series_folds`); None when no such folds have two classes in every fit and the rarest in every test."""
    counts = labels.value_counts()
    if len(counts) < 2 or counts.min() < n_splits + 1:
        return None
    rare = (labels == counts.idxmin()).to_numpy()
    per_time = np.bincount(times.to_numpy(), weights=rare, minlength=int(times.max()) + 1)
    cumulative = np.cumsum(per_time)
    targets = [cumulative[-1] * i / (n_splits + 1) for i in range(1, n_splits + 2)]
    cuts = [int(np.searchsorted(cumulative, t - 1e-9)) for t in targets]  # last timestamp of each block
    cuts[-1] = len(per_time) - 1
    if len(set(cuts)) != len(cuts):
        return None
    folds = []
    for i in range(n_splits):
        fit = np.flatnonzero(times <= cuts[i])
        test = np.flatnonzero((times > cuts[i]) & (times <= cuts[i + 1]))
        if labels.iloc[fit].nunique() < 2 or not rare[test].any():
            return None
        folds.append((fit, test))
    return folds


def train(history: pd.DataFrame, spec: DatasetSpec, settings: TrainingSettings | None = None) -> TrainingResult:
    """Grid-search the recipe (core/ml/recipe.py) by chronological CV on the training part, refit on it, score the
    holdout, all by the recipe's metric."""
    from sklearn.metrics import r2_score
    from sklearn.model_selection import GridSearchCV

    settings = settings or TrainingSettings()
    recipe, features = recipe_of(spec, settings), spec.features
    data = history.dropna(subset=[*features, spec.target])
    min_rows = (settings.cv_folds + 1) * 2 + 1
    if len(data) < min_rows:
        raise ValueError(f"training needs at least {min_rows} complete rows; the history has {len(data)}")
    scoring = scoring_for(spec, recipe.metric, model_classes(history, spec))
    train_part, holdout = chronological_split(data, spec, settings.holdout_share)
    y_train = target_values(train_part, spec)
    search = GridSearchCV(
        build_model(spec, recipe),
        param_grid=search_grid(recipe),
        scoring=scoring,  # greater is better: an error is negated
        cv=time_series_folds(train_part[spec.datetime_column], settings.cv_folds,
                             y_train if spec.is_classifier else None),
        n_jobs=settings.n_jobs,
        refit=True,
    )
    search.fit(train_part[features], y_train)
    sign = 1.0 if scoring.info.greater_is_better else -1.0
    y_holdout, outputs = target_values(holdout, spec), scoring.outputs(search.best_estimator_, holdout[features])
    when = data[spec.datetime_column]
    return TrainingResult(
        model=search.best_estimator_,
        metric=recipe.metric,
        best_params=own_params(recipe, search.best_params_),
        cv_score=float(sign * search.best_score_),
        holdout_score=scoring.of(y_holdout, outputs),
        holdout_r2=None if spec.is_classifier else float(r2_score(y_holdout, outputs)),
        train_rows=len(train_part),
        holdout_rows=len(holdout),
        window_start=pd.Timestamp(when.min()),
        window_end=pd.Timestamp(when.max()),
        features=list(features),
        cv_scores=[(own_params(recipe, params), float(sign * value)) for params, value in
                   zip(search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True)],
        train_end=pd.Timestamp(train_part[spec.datetime_column].max()),
        estimator=recipe.estimator,
        scoring=scoring,
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
    """The model's predictions (values on the original scale; a classifier's classes), indexed like `frame`;
    missing (NaN, None for classes) where a feature is missing."""
    classifier = spec.is_classifier
    out = pd.Series(None if classifier else np.nan, index=frame.index, dtype=object if classifier else float)
    complete = frame.dropna(subset=list(spec.features))
    if len(complete):
        predicted = np.asarray(model.predict(complete[spec.features]))
        out.loc[complete.index] = predicted.tolist() if classifier else predicted.astype(float)
    return out


PERIOD_FREQUENCIES = {"weekly": "W-SUN", "daily": "D"}


def period_start(when: pd.Series, cadence: str = "weekly") -> pd.Series:
    """The start of each datetime's period: the Monday of its week (weekly partitions) or its day (daily)."""
    return pd.to_datetime(when).dt.to_period(PERIOD_FREQUENCIES[cadence]).dt.start_time


# --- the champion/challenger comparison ------------------------------------------------------------------------
@dataclass(frozen=True)
class GateComparison:
    """Both models scored by the metric on the same labelled rows, which neither model's fit has seen."""

    periods: list[str]  # the first day of each period the rows come from
    eval_rows: int
    fit_rows: int  # rows the challenger's first refit saw: every complete row before the first evaluated row
    excluded_seen_rows: int  # rows of the last periods left out because the champion's fit had seen them
    challenger_score: float | None
    champion_score: float | None
    eval_start: pd.Timestamp | None = None
    eval_end: pd.Timestamp | None = None
    problem: str | None = None  # why the models could not be compared fairly (None: they were)
    metric: str = "rmsle"

    # The rmsle recipe's names, as earlier code knows them.
    @property
    def challenger_rmsle(self) -> float | None:
        return self.challenger_score

    @property
    def champion_rmsle(self) -> float | None:
        return self.champion_score


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    outcome: str  # "promoted" or "kept"
    reason: str
    improvement: float | None  # relative to the champion's value (metrics.improvement); > 0: the challenger is better


def compare_models(
    challenger: Any,
    history: pd.DataFrame,
    spec: DatasetSpec,
    settings: GateSettings,
    champion: Any | None = None,
    champion_seen_until: pd.Timestamp | None = None,
    cadence: str = "weekly",
    scoring: Scoring | None = None,
) -> GateComparison:
    """Score the challenger and the champion on the same recent labelled rows, which neither has been fitted on.

    - Rows: the complete, labelled rows of the last `eval_periods` periods (weeks or days, by `cadence`) of the
      history, minus those up to `champion_seen_until` (the end of the champion's training part): the champion,
      as it is in service, is scored only on rows its fit never saw.
    - The challenger in the store was fitted on (almost) the whole history, these rows included, so it is not
      scored as is. Its recipe is: its pipeline, cloned with the hyperparameters it chose (those of its grid
      search), refitted period by period (walk-forward): for each evaluated period, on every row before that
      period's first evaluated row, then scored on that period's rows. That is what retraining every period
      would have served, and no refit sees a row it is scored on.

    Both values are of `scoring`'s metric (default RMSLE) over all evaluated rows together. The newest period's
    own value for training cannot be measured yet (that needs labels of later periods): when the champion was
    trained recently, the refits see about the champion's data, the two score alike, and the margin keeps the
    champion. Fewer than `min_eval_rows` rows, or fewer than `min_fit_rows` rows before them (or, for a
    classifier, one class only), means no fair comparison (`problem`).
    """
    scoring = scoring or Scoring()
    data, periods, evaluated, excluded = gate_rows(
        history, spec, settings.eval_periods, champion_seen_until if champion is not None else None, cadence
    )
    problem, first_fit = comparison_problem(data, evaluated, spec, settings)
    if problem:
        return incomparable(evaluated, excluded, first_fit, problem, scoring.metric)
    start = evaluated[spec.datetime_column].min()
    eval_periods = periods[evaluated.index]
    outputs = walk_forward_outputs(challenger, data, evaluated, eval_periods, spec, scoring)
    y = target_values(evaluated, spec)
    champion_score = scoring.of(y, scoring.outputs(champion, evaluated[spec.features])) if champion is not None else None
    return GateComparison(
        periods=[f"{p:%Y-%m-%d}" for p in sorted(eval_periods.unique())],
        eval_rows=len(evaluated),
        fit_rows=first_fit,
        excluded_seen_rows=excluded,
        challenger_score=scoring.of(y, outputs),
        champion_score=champion_score,
        eval_start=pd.Timestamp(start),
        eval_end=pd.Timestamp(evaluated[spec.datetime_column].max()),
        metric=scoring.metric,
    )


def comparison_problem(data: pd.DataFrame, evaluated: pd.DataFrame, spec: DatasetSpec, settings: GateSettings
                       ) -> tuple[str | None, int]:
    """Why the rows allow no fair comparison (None: they do), and how many rows the first refit has."""
    if len(evaluated) < settings.min_eval_rows:
        return (f"only {len(evaluated)} labelled row(s) in the last {settings.eval_periods} period(s) of the history "
                f"that the champion's fit has not seen (at least {settings.min_eval_rows} needed)"), 0
    start = evaluated[spec.datetime_column].min()
    before = data[data[spec.datetime_column] < start]
    if len(before) < settings.min_fit_rows:
        return (f"only {len(before)} row(s) before {start:%Y-%m-%d} to refit the challenger on "
                f"(at least {settings.min_fit_rows} needed)"), len(before)
    if spec.is_classifier and before[spec.target].nunique() < 2:
        return f"the {len(before)} row(s) before {start:%Y-%m-%d} hold one class only: no refit", len(before)
    return None, len(before)


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


def incomparable(evaluated: pd.DataFrame, excluded: int, fit_rows: int, problem: str,
                 metric: str = "rmsle") -> GateComparison:
    """A comparison that could not be made fairly: no periods, no scores, and why (`problem`)."""
    return GateComparison([], len(evaluated), fit_rows, excluded, None, None, problem=problem, metric=metric)


def walk_forward_outputs(
    challenger: Any, data: pd.DataFrame, evaluated: pd.DataFrame, eval_periods: pd.Series, spec: DatasetSpec,
    scoring: Scoring,
) -> np.ndarray:
    """The challenger's recipe refitted period by period: for each period of `eval_periods` (one per evaluated
    row), a clone of `challenger` fitted on every row of `data` before the period's first evaluated row gives
    that period's outputs (`Scoring.outputs`: predictions, or probabilities). In the order of `evaluated`."""
    from sklearn.base import clone

    when = data[spec.datetime_column]
    parts = []
    for period in sorted(eval_periods.unique()):
        rows = evaluated[eval_periods == period]
        fit = data[when < rows[spec.datetime_column].min()]
        refit = clone(challenger).fit(fit[spec.features], target_values(fit, spec))
        parts.append(scoring.outputs(refit, rows[spec.features]))
    return np.concatenate(parts)


def decide(comparison: GateComparison, has_champion: bool, min_improvement: float) -> GateDecision:
    """Promote when there is no champion, or when the challenger's value of the metric is better than the
    champion's by at least `min_improvement` (relative to the champion's: 0.01 = 1 % lower for an error such as
    RMSLE, 1 % higher for ROC AUC, F1, accuracy; a negative margin promotes a challenger up to that much worse,
    for its fresher data). Without a fair comparison the champion stays."""
    if not has_champion:
        return GateDecision(True, "promoted", "no champion yet: the first model in service", None)
    if comparison.problem or comparison.challenger_score is None or comparison.champion_score is None:
        return GateDecision(False, "kept", f"no fair comparison: {comparison.problem}", None)
    metric = METRICS[comparison.metric]
    champion, challenger = comparison.champion_score, comparison.challenger_score
    gain = improvement(metric.name, champion, challenger)
    better, worse_word = ("higher", "lower") if metric.greater_is_better else ("lower", "higher")
    if gain >= min_improvement and (gain > 0 or min_improvement < 0):
        return GateDecision(
            True, "promoted",
            f"challenger {metric.label} {challenger:.4f} is {abs(gain):.1%} {better if gain > 0 else worse_word} "
            f"than the champion's {champion:.4f} (margin {min_improvement:.1%})", float(gain),
        )
    return GateDecision(
        False, "kept",
        f"challenger {metric.label} {challenger:.4f} vs the champion's {champion:.4f}: "
        + (f"{gain:.1%} {better}, below the margin {min_improvement:.1%}" if gain > 0
           else f"not {better} (margin {min_improvement:.1%})"),
        float(gain),
    )


# --- the model-quality check ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QualityBaseline:
    """The champion recipe's value of the metric per period on its own training history, walk-forward: for each
    of the last periods, the recipe (the same pipeline and hyperparameters) refitted on every row before the
    period and scored on the period's labelled rows. Its spread is the noise a period's value shows when nothing
    has changed. (`errors` holds the values whichever way the metric points: the name is the manifests'.)"""

    periods: tuple[str, ...]  # the first day of each period
    errors: tuple[float, ...]  # the metric's value of each period (RMSLE by default)
    rows: tuple[int, ...]  # labelled rows of each period

    def kept(self, min_rows: int) -> QualityBaseline:
        """The periods with at least `min_rows` labelled rows (a 2-row period's value is mostly noise)."""
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
    history: pd.DataFrame, spec: DatasetSpec, alpha: float | None = None, cadence: str = "weekly", *,
    min_fit_rows: int = 14, max_periods: int = 26, model: Any = None, scoring: Scoring | None = None,
) -> QualityBaseline:
    """The recipe's walk-forward values on `history` (see QualityBaseline): the last `max_periods` periods that
    have at least `min_fit_rows` complete labelled rows before them. The recipe is `model` (a fitted model of
    any recipe, cloned with its hyperparameters) or the default Ridge recipe with `alpha`; scored by `scoring`
    (default RMSLE). A classifier's period whose earlier rows hold one class, or whose value its rows cannot
    define (ROC AUC of one class), is left out."""
    from sklearn.base import clone

    scoring = scoring or Scoring()
    data = complete_rows(history, spec).reset_index(drop=True)
    starts = period_start(data[spec.datetime_column], cadence)
    eligible = [start for start in sorted(starts.unique()) if int((starts < start).sum()) >= min_fit_rows]
    periods, values, rows = [], [], []
    for start in eligible[-max_periods:]:
        before, inside = data[starts < start], data[starts == start]
        if spec.is_classifier and before[spec.target].nunique() < 2:
            continue
        recipe = clone(model) if model is not None else build_pipeline(spec, alpha if alpha is not None else 1.0)
        fitted = recipe.fit(before[spec.features], target_values(before, spec))
        value = scoring.of(target_values(inside, spec), scoring.outputs(fitted, inside[spec.features]))
        if np.isnan(value):
            continue
        periods.append(f"{start:%Y-%m-%d}")
        values.append(value)
        rows.append(len(inside))
    return QualityBaseline(tuple(periods), tuple(values), tuple(rows))


@dataclass(frozen=True)
class PeriodQuality:
    rows: int  # labelled rows with a prediction
    value: float | None  # the metric on them
    holdout: float  # the model's holdout value of the metric
    ratio: float | None  # error / the reference error (the baseline's mean, or the holdout's with bound="ratio")
    max_ratio: float
    degraded: bool
    bound: float | None = None  # the value beyond which the period counts as degraded (None: not judged)
    method: str = "ratio"  # how the bound was set: "baseline" (mean -/+ sigmas x std) or "ratio" (max_ratio x holdout)
    judged: bool = True  # False: too few rows (in the period or the baseline) to tell degradation from noise
    note: str = ""  # why not judged, or how
    baseline: QualityBaseline | None = None
    metric: str = "rmsle"

    # The rmsle recipe's names, as earlier code knows them.
    @property
    def rmsle(self) -> float | None:
        return self.value

    @property
    def holdout_rmsle(self) -> float:
        return self.holdout


def labelled_outputs(actual: Any, predicted: Any, scoring: Scoring) -> tuple[pd.Series, Any]:
    """The rows with a label and a prediction: their labels (typed as the models take them) and outputs (the
    predictions, or the probabilities: a frame of one column per class, in the scoring's class order)."""
    actual = pd.Series(actual).reset_index(drop=True)
    frame = isinstance(predicted, pd.DataFrame)
    predicted = predicted.reset_index(drop=True) if frame else pd.Series(predicted).reset_index(drop=True)
    keep = actual.notna() & (predicted.notna().all(axis=1) if frame else predicted.notna())
    labels, outputs = actual[keep], predicted[keep]
    if scoring.classes is None:
        return labels.astype(float), outputs.astype(float).to_numpy()
    typed = str if isinstance(scoring.classes[0], str) else int
    outputs = outputs.to_numpy(dtype=float) if frame else outputs.map(typed).to_numpy()
    return labels.map(typed), outputs


def period_quality(
    actual: Any, predicted: Any, holdout: float, max_ratio: float, *, baseline: QualityBaseline | None = None,
    bound: str = "ratio", sigmas: float = 3.0, min_period_rows: int = 1, min_baseline_periods: int = 5,
    scoring: Scoring | None = None,
) -> PeriodQuality:
    """The model's value of the metric (`scoring`, default RMSLE) on a period's labelled rows, judged against a
    bound with a known spread. `predicted`: the predictions, or for a metric of probabilities a frame of one
    column per class (the scoring's class order).

    bound="baseline": degraded when the value is worse than the mean of the recipe's walk-forward per-period
    values (`baseline`, periods with fewer than `min_period_rows` rows left out) by more than `sigmas` x their
    std: above mean + sigmas x std for an error (RMSLE, log loss), below mean - sigmas x std for a metric where
    greater is better (ROC AUC, F1, accuracy). Not judged, and passing, when the period has fewer than
    `min_period_rows` labelled rows, the baseline fewer than `min_baseline_periods` periods, or the rows cannot
    define the metric (ROC AUC of one class). A model without a baseline is judged by the ratio, and the note
    says so.
    bound="ratio": degraded when the period's error exceeds `max_ratio` x the holdout's, the error being the
    metric itself, or its shortfall from 1 (1 - AUC) when greater is better: the bound is then
    1 - max_ratio x (1 - holdout). Rows without a label or a prediction are left out; none left means not
    evaluated."""
    scoring = scoring or Scoring()
    labels, outputs = labelled_outputs(actual, predicted, scoring)
    rows, common = len(labels), {"max_ratio": max_ratio, "metric": scoring.metric}
    if not rows:
        return PeriodQuality(0, None, holdout, None, degraded=False, judged=False,
                             note="no labelled row with a prediction", **common)
    value = scoring.of(labels, outputs)
    if rows < min_period_rows or np.isnan(value):
        note = (f"{rows} labelled row(s), fewer than min_period_rows={min_period_rows}: not judged"
                if rows < min_period_rows else
                f"the {rows} labelled row(s) cannot define {scoring.info.label} (one class only?): not judged")
        return PeriodQuality(rows, None if np.isnan(value) else value, holdout, None, degraded=False, judged=False,
                             note=note, **common)
    if bound == "baseline" and baseline is not None:
        return baseline_quality(value, rows, holdout, baseline.kept(min_period_rows), sigmas, min_period_rows,
                                min_baseline_periods, **common)
    return ratio_quality(value, rows, holdout, bound == "baseline", **common)


def baseline_quality(value: float, rows: int, holdout: float, kept: QualityBaseline, sigmas: float,
                     min_period_rows: int, min_baseline_periods: int, *, max_ratio: float, metric: str
                     ) -> PeriodQuality:
    """`period_quality` against the walk-forward baseline (its periods of enough rows: `kept`)."""
    common = {"max_ratio": max_ratio, "metric": metric, "method": "baseline", "baseline": kept}
    if kept.n < min_baseline_periods:
        return PeriodQuality(
            rows, value, holdout, None, degraded=False, judged=False, **common,
            note=(f"the baseline rests on {kept.n} period(s) of >= {min_period_rows} rows ({sum(kept.rows)} rows), "
                  f"fewer than min_baseline_periods={min_baseline_periods}: too few to tell degradation from "
                  "noise, not judged"))
    down = METRICS[metric].greater_is_better
    limit = kept.mean - sigmas * kept.std if down else kept.mean + sigmas * kept.std
    error, reference = error_of(metric, value), error_of(metric, kept.mean)
    ratio = error / reference if reference > 0 else (np.inf if error > 0 else 1.0)
    note = (f"bound = mean {kept.mean:.4f} {'-' if down else '+'} {sigmas:g} x std {kept.std:.4f} of {kept.n} "
            "walk-forward periods")
    return PeriodQuality(rows, value, holdout, float(ratio), degraded=worse(metric, value, limit), bound=float(limit),
                         note=note, **common)


def ratio_quality(value: float, rows: int, holdout: float, wanted_baseline: bool, *, max_ratio: float,
                  metric: str) -> PeriodQuality:
    """`period_quality` by the ratio of the period's error to the holdout's (see there)."""
    info = METRICS[metric]
    error, reference = error_of(metric, value), error_of(metric, holdout)
    ratio = error / reference if reference > 0 else (np.inf if error > 0 else 1.0)
    if info.greater_is_better:
        limit = 1.0 - max_ratio * reference
        note = f"bound = 1 - max_ratio {max_ratio:g} x (1 - holdout {info.label} {holdout:.4f})"
    else:
        limit = max_ratio * holdout
        note = f"bound = max_ratio {max_ratio:g} x holdout {info.label} {holdout:.4f}"
    if wanted_baseline:
        note += " (the model has no walk-forward baseline: trained before it was recorded)"
    return PeriodQuality(rows, value, holdout, float(ratio), max_ratio, bool(ratio > max_ratio), bound=limit,
                         method="ratio", note=note, metric=metric)
