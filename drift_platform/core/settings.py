"""A monitor's settings: every attribute of a `DriftMonitor` (one `defs.yaml` per monitor), validated once, here,
when the YAML is resolved. Plain pydantic, no Dagster, no pandas: the code location imports this when it loads.

- `Monitor`: one monitored dataset and model; the names of what it owns (tables, jobs, store folders) derive
  from its name, so two monitors never share one.
- The settings of each step (`DriftSettings`, `MultivariateSettings`, `DataQualitySettings`, `TrainingSettings`,
  `GateSettings`, `QualitySettings`): the logic takes them (core/stats, core/ml), the YAML sets them, and each
  step's run config is made from them with the monitor's values as defaults (lib/run_config.py), so the
  Launchpad can override any of them for one run.
- `ScheduleSettings`, `LandingSettings`, `RetrySettings`: when and how the monitor's runs start.

Bounds are checked by validators rather than `Field(gt=...)`: Dagster derives a component's YAML schema from
plain field types only.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.intake.reads import redact_url
from drift_platform.core.names import NO_DATASET_DRIFT_CHECK, NO_MODEL_DEGRADATION_CHECK, OWNERS

# Column kinds of the drift decisions (drift.py): numerical or categorical.
NUM, CAT = "num", "cat"
# The tutorial's Ridge grid.
DEFAULT_ALPHAS: tuple[float, ...] = (0.1, 1.0, 2.0, 3.0, 4.0, 10.0, 100.0)


class _Settings(BaseModel):
    """Every settings model: unknown keys are errors, values never change after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DriftSettings(_Settings):
    """Evidently's DataDriftPreset settings; unset means Evidently's default for the column's type and size."""

    drift_share: float = Field(default=0.5, description="Share of drifted columns at which the dataset has drifted, [0, 1]")
    method: str | None = Field(default=None, description="Drift test for every column, e.g. 'ks', 'psi', 'wasserstein'")
    num_method: str | None = Field(default=None, description="Drift test for numerical columns")
    cat_method: str | None = Field(default=None, description="Drift test for categorical columns")
    per_column_method: dict[str, str] = Field(default_factory=dict, description="Drift test per column")
    threshold: float | None = Field(default=None, description="Threshold for every column's test")
    num_threshold: float | None = Field(default=None, description="Threshold for numerical columns")
    cat_threshold: float | None = Field(default=None, description="Threshold for categorical columns")
    per_column_threshold: dict[str, float] = Field(default_factory=dict, description="Threshold per column")
    report_max_columns: int = Field(
        default=50, description="Columns the HTML report shows (the drifted first, then the rest); decisions always "
        "cover every monitored column",
    )

    @model_validator(mode="after")
    def _bounds(self) -> DriftSettings:
        if not 0 <= self.drift_share <= 1:
            raise ValueError(f"drift_share must be in [0, 1], got {self.drift_share}")
        if self.report_max_columns < 1:
            raise ValueError(f"report_max_columns must be at least 1, got {self.report_max_columns}")
        return self

    def preset_kwargs(self) -> dict[str, Any]:
        """The settings DataDriftPreset takes (the report's own settings left out)."""
        return {k: v for k, v in self.model_dump(exclude={"report_max_columns"}).items() if v not in (None, {})}

    def column_method(self, column: str, kind: str) -> str | None:
        """The configured test of a column, with Evidently's precedence: per column, then per type, then all."""
        method = self.method
        by_type = self.cat_method if kind == CAT else self.num_method
        if by_type is not None:
            method = by_type
        return (self.per_column_method or {}).get(column, method)

    def column_threshold(self, column: str, kind: str) -> float | None:
        """The configured threshold of a column, with Evidently's precedence; None = the test's default."""
        per_column = self.per_column_threshold or {}
        if column in per_column:
            return per_column[column]
        by_type = self.cat_threshold if kind == CAT else self.num_threshold
        if by_type is not None:
            return by_type
        return self.threshold


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


class TrainingSettings(_Settings):
    """The model recipe and its search (core/ml/recipe.py): by default the tutorial's Ridge on log1p of the target
    for regression, LogisticRegression for classification."""

    estimator: str | None = Field(
        default=None, description="Import path of a scikit-learn-compatible estimator (fit, predict; predict_proba "
        "for log_loss, roc_auc, brier), e.g. sklearn.ensemble.HistGradientBoostingClassifier; unset: "
        "sklearn.linear_model.Ridge for regression, sklearn.linear_model.LogisticRegression for classification",
    )
    param_grid: dict[str, list[Any]] | None = Field(
        default=None, description="The estimator's own parameters searched by GridSearchCV (name -> values); "
        "unset: {alpha: alphas} for Ridge, {C: [0.1, 1, 10]} for LogisticRegression, none for others",
    )
    metric: str | None = Field(
        default=None, description="What the search, the gate and the quality check optimise. Regression: rmse, mae, "
        "rmsle (target non-negative); classification: log_loss, roc_auc, f1 (macro for multiclass), accuracy, "
        "brier. Unset: rmsle (rmse if the target may be negative), log_loss for classification",
    )
    alphas: list[float] = Field(
        default_factory=lambda: list(DEFAULT_ALPHAS), description="Ridge alphas searched by GridSearchCV (the "
        "default Ridge recipe's grid)"
    )
    cv_folds: int = Field(default=3, description="Chronological CV folds (TimeSeriesSplit) of the search, at least 2")
    holdout_share: float = Field(default=0.1, description="Latest share of the history held out for scoring, (0, 1)")
    n_jobs: int = Field(default=1, description="Parallel jobs of the grid search (-1 = all cores)")
    baseline_periods: int = Field(
        default=26, description="Last periods of the history scored walk-forward (the recipe refitted on the rows "
        "before each): the model-quality check's baseline",
    )

    @model_validator(mode="after")
    def _bounds(self) -> TrainingSettings:
        _require(bool(self.alphas) and all(a > 0 for a in self.alphas), f"alphas must be positive numbers, got {self.alphas}")
        _require(self.cv_folds >= 2, f"cv_folds must be at least 2, got {self.cv_folds}")
        _require(0 < self.holdout_share < 1, f"holdout_share must be in (0, 1), got {self.holdout_share}")
        _require(self.baseline_periods >= 1, f"baseline_periods must be at least 1, got {self.baseline_periods}")
        return self


class GateSettings(_Settings):
    """How the challenger is compared with the champion."""

    eval_periods: int = Field(
        default=4, description="Compare on the labelled rows of the last N periods of the history (those the "
        "champion's fit has not seen); the challenger is refitted on the rows before them for the comparison",
    )
    min_improvement: float = Field(default=0.01, description=(
        "Promote only if the challenger's metric (training.metric) is better than the champion's by at least this "
        "share of the champion's value (0.01 = 1 %: lower for an error such as RMSLE, higher for ROC AUC, F1, "
        "accuracy); 0 = any improvement; negative tolerates a slightly worse, fresher model"))
    min_eval_rows: int = Field(default=7, description="Fewer rows to compare on than this: keep the champion")
    min_fit_rows: int = Field(default=20, description="Fewer rows to refit the challenger on than this: keep the champion")

    @model_validator(mode="after")
    def _bounds(self) -> GateSettings:
        for name in ("eval_periods", "min_eval_rows", "min_fit_rows"):
            _require(getattr(self, name) >= 1, f"{name} must be at least 1, got {getattr(self, name)}")
        return self


class QualitySettings(_Settings):
    """When the champion's error on a period counts as degraded (docs/statistics.md: why these defaults)."""

    bound: Literal["baseline", "ratio"] = Field(
        default="baseline", description="baseline: fail when the period's metric is worse than mean + sigmas x std "
        "(mean - sigmas x std for a greater-is-better metric) of the champion recipe's walk-forward per-period "
        "values on its training history; ratio: when its error (the metric, or 1 - it when greater is better) "
        "exceeds max_ratio x the model's holdout error",
    )
    sigmas: float = Field(default=3.0, description="Width of the baseline bound, in standard deviations")
    min_period_rows: int = Field(
        default=5, description="Fewer labelled rows than this in the period (or in a baseline period): not judged",
    )
    min_baseline_periods: int = Field(default=5, description="A baseline of fewer periods than this is too thin "
                                      "to judge by: the check passes and says so")
    max_ratio: float = Field(
        default=2.0, description="bound=ratio (or a model without a baseline): fail when the period's error (the "
        "metric, or 1 - it when greater is better) exceeds this multiple of the model's holdout error",
    )
    severity: Literal["WARN", "ERROR"] = Field(default="ERROR", description="Severity of a failure: WARN or ERROR")

    @model_validator(mode="after")
    def _bounds(self) -> QualitySettings:
        _require(self.max_ratio > 0, f"max_ratio must be positive, got {self.max_ratio}")
        _require(self.sigmas > 0, f"sigmas must be positive, got {self.sigmas}")
        _require(self.min_period_rows >= 1, f"min_period_rows must be at least 1, got {self.min_period_rows}")
        _require(self.min_baseline_periods >= 2,
                 f"min_baseline_periods must be at least 2 (a spread needs two), got {self.min_baseline_periods}")
        return self


class MultivariateSettings(_Settings):
    """The domain-classifier drift test (`no_multivariate_drift`)."""

    enabled: bool = Field(default=True, description="Run the multivariate drift check")
    alpha: float = Field(
        default=0.05,
        description="False-alarm rate aimed at: the threshold is the (1 - alpha) quantile of the "
        "AUCs of reference chunks against the rest of the reference, (0, 1)",
    )
    null_draws: int = Field(
        default=100, description="Reference chunks scored to set the threshold; at least 1/alpha - 1"
    )
    folds: int = Field(
        default=5, description="Cross-validation folds (at most the smaller side's rows), at least 2"
    )
    max_rows_per_side: int = Field(
        default=5_000, description="Larger sides are subsampled (seeded) to this many rows, at least 10"
    )
    seed: int = Field(default=0, description="Seed of the folds, the chunks and the subsamples")
    max_columns: int = Field(
        default=100, description="Monitors with more monitored columns skip the check (its null would take minutes)"
    )
    severity: Literal["WARN", "ERROR"] = Field(
        default="WARN", description="Severity of a failure: WARN or ERROR"
    )

    @model_validator(mode="after")
    def _bounds(self) -> MultivariateSettings:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.null_draws < 1 or 1 / (1 + self.null_draws) > self.alpha:
            raise ValueError(
                f"null_draws must be at least {math.ceil(1 / self.alpha - 1)} for alpha {self.alpha} (the "
                f"smallest p-value is 1 / (1 + null_draws)), got {self.null_draws}"
            )
        if self.folds < 2:
            raise ValueError(f"folds must be at least 2, got {self.folds}")
        if self.max_rows_per_side < 10:
            raise ValueError(f"max_rows_per_side must be at least 10, got {self.max_rows_per_side}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")
        return self


class DataQualitySettings(_Settings):
    """The per-period data-quality check (`no_data_quality_regression`, core/stats/quality.py).

    Each monitored column's missing share, and its share of values outside the reference's range (numerical) or
    of levels the reference never shows (categorical), against the spread of the same shares over the
    reference's own periods."""

    enabled: bool = Field(default=True, description="Run the data-quality check")
    severity: Literal["WARN", "ERROR"] = Field(default="WARN", description="Severity of a failure: WARN or ERROR")
    min_rows: int = Field(default=5, description="Fewer rows in the period than this: not judged (passes, says so)")
    quantile: float = Field(
        default=1.0, description="The bound starts from this quantile of the shares of the reference's periods, "
        "each measured against the rest of the reference (1 = the largest), (0, 1]",
    )
    alpha: float = Field(
        default=0.01, description="Or, when larger, from the share a period of its size exceeds with this "
        "probability at the reference periods' mean share (binomial; it matters for references of few periods), "
        "(0, 1)",
    )
    floor: float = Field(default=0.02, description="Added to that start: the least share of the period's values "
                         "by which a column may exceed it, [0, 1)")
    tolerated_values: int = Field(default=1, description="The least count of the period's values by which a column "
                                  "may exceed it (1: a column never missing in the reference does not fail on one "
                                  "missing value)")

    @model_validator(mode="after")
    def _bounds(self) -> DataQualitySettings:
        _require(0 < self.quantile <= 1, f"quantile must be in (0, 1], got {self.quantile}")
        _require(0 < self.alpha < 1, f"alpha must be in (0, 1), got {self.alpha}")
        _require(0 <= self.floor < 1, f"floor must be in [0, 1), got {self.floor}")
        _require(self.tolerated_values >= 0, f"tolerated_values must be at least 0, got {self.tolerated_values}")
        _require(self.min_rows >= 1, f"min_rows must be at least 1, got {self.min_rows}")
        return self


class PredictionDriftSettings(_Settings):
    """Prediction drift (`no_prediction_drift`) and target drift, apart from the feature columns' share.

    Each output column of the model (and the target, where labels are present) against the reference's, by
    Evidently's test for the column (its default for the column's type and size unless set here)."""

    enabled: bool = Field(default=True, description="Test the model's output (and the target) for drift")
    method: str | None = Field(default=None, description="Drift test of the output and target columns, e.g. 'ks', "
                               "'psi', 'wasserstein'; unset: Evidently's default for the column")
    threshold: float | None = Field(default=None, description="Threshold of that test; unset: the test's default")
    severity: Literal["WARN", "ERROR"] = Field(default="WARN", description="Severity of a failure: WARN or ERROR")

    def drift_settings(self) -> DriftSettings:
        """The settings the column tests take (core/stats/drift.py)."""
        return DriftSettings(method=self.method, threshold=self.threshold)


class ModelSettings(_Settings):
    """Where the model comes from: trained and served here (platform), or elsewhere (external).

    `platform` (the default): trained, gated and served here (the retrain job, the champion/challenger gate).
    `external`: trained and served by the team elsewhere; the source's
    rows carry its predictions (the spec's `prediction_column`, and `probability_columns` for a classifier), and
    the platform trains, gates and serves nothing: no trained_model, champion_model or retrain job."""

    source: Literal["platform", "external"] = Field(default="platform", description="platform: trained and "
                                                    "served here; external: monitored from its logged predictions")
    on_failure_job: str | None = Field(
        default=None, description="External models: a Dagster job of this code location launched once per failed "
        "evaluation of a check in retrain_on, tagged with the period and the failed checks",
    )

    @property
    def external(self) -> bool:
        return self.source == "external"


_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(hour|day|week)s?\s*$")


def parse_delay(text: str) -> dt.timedelta:
    """A label delay as written in the YAML ("4 weeks", "7 days", "36 hours", "1 week") as a timedelta; a
    ValueError naming the text otherwise."""
    found = _DELAY.match(text or "")
    if not found:
        raise ValueError(f"label_delay {text!r}: write a number and hours, days or weeks, e.g. '4 weeks'")
    return dt.timedelta(**{f"{found.group(2)}s": float(found.group(1))})


class LabelsSettings(_Settings):
    """Labels that arrive after the features (`labels:`): a period's target is withheld when its features land
    and written by the `labels` asset when its labels land (upserted by key into the history and the predictions,
    every landing kept in `<monitor>_labels`). Either the labels' own `source` (a CSV path or URL with the
    spec's key columns, its datetime column and the target), or `in_source: true` (the monitor's source fills
    the target column in later). `label_delay` is when a period's labels are due after the period ends."""

    source: str | None = Field(default=None, description="Where the labels come from: a CSV path (relative to "
                               "defs.yaml) or an http(s), s3:// or file:// URL with the key columns, the datetime "
                               "column and the target; `{{ env.X }}` allowed")
    in_source: bool = Field(default=False, description="The labels fill in the monitor's own source's target column "
                            "later (instead of a source of their own)")
    label_delay: str = Field(description="How long after a period ends its labels are due, e.g. '4 weeks', "
                             "'30 days', '36 hours': the labels schedule lands each period then")
    pattern: str | None = Field(default=None, description="Label files dropped into the monitor's landing folder "
                                "whose names match this glob (e.g. 'labels*.csv') land as labels, not batches")

    @model_validator(mode="after")
    def _one_source(self) -> LabelsSettings:
        _require((self.source is not None) != self.in_source,
                 "labels: set either source (the labels' own CSV) or in_source: true (the monitor's source fills "
                 "the target in later), not both and not neither")
        parse_delay(self.label_delay)
        return self

    @property
    def delay(self) -> dt.timedelta:
        return parse_delay(self.label_delay)


class EstimationSettings(_Settings):
    """Performance estimated before the labels land (`no_estimated_degradation`, core/ml/estimation.py): CBPE for a
    classifier (its probabilities calibrated on the reference), DLE for a regressor (a gradient-boosted model of
    its loss), of the monitor's metric, judged against the same bound as `no_model_degradation`."""

    enabled: bool | None = Field(default=None, description="Estimate the metric per period; unset: on when the "
                                 "labels arrive late (`labels:` declared)")
    calibration: Literal["auto", "isotonic", "sigmoid"] = Field(
        default="auto", description="CBPE's calibration of the probabilities on the reference: isotonic, sigmoid "
        "(Platt) or auto (isotonic from 1,000 reference rows and 50 of the rarest class, else sigmoid)")
    bound: float | None = Field(default=None, description="A fixed bound on the estimated metric; unset: the "
                                "bound no_model_degradation judges the realized value by")
    severity: Literal["WARN", "ERROR"] = Field(default="WARN", description="Severity of a failure: WARN or ERROR")
    seed: int = Field(default=0, description="Seed of the estimator's resamples, folds and label draws")


# --- the monitor ------------------------------------------------------------------------------------------------
Cadence = Literal["weekly", "daily"]
ActionableCheck = Literal[
    "no_dataset_drift", "no_model_degradation", "no_multivariate_drift", "no_data_quality_regression",
    "no_prediction_drift", "no_estimated_degradation",
]
# A monitor's name prefixes its tables (`<name>_predictions`: at most 63 characters in PostgreSQL).
MAX_NAME_LENGTH = 40
_NAME = re.compile(rf"^[a-z][a-z0-9_]{{0,{MAX_NAME_LENGTH - 1}}}$")


class ScheduleSettings(_Settings):
    """When the drift job runs for the period that just ended (the monitor's timezone)."""

    hour: int = Field(default=11, description="Hour of the run, 0-23 (weekly: on Mondays)")
    minute: int = Field(default=0, description="Minute of the run, 0-59")
    running: bool = Field(default=True, description="Whether the schedule starts running (else: stopped until turned on)")


class LandingSettings(_Settings):
    """Batch files dropped into the monitor's landing folder of the object store become runs."""

    folder: str = Field(default="landing", description="Folder under the monitor's store folder (<store>/<monitor>/<folder>)")
    pattern: str = Field(default="*.csv", description="Glob on file names; other files are left alone")
    min_age_seconds: float = Field(default=10.0, description="A file is taken once unchanged this long")
    running: bool = Field(default=True, description="Whether the landing sensor starts running")


class SqlSource(_Settings):
    """A SQL table or query as a monitor's source (`source: {url: ..., table: ...}` or `{url: ..., query: ...}`).
    Each period reads only its rows: `WHERE datetime >= :start AND datetime < :end`, run in the database
    (core/intake/sql_source.py). Credentials only from the environment (`url: "{{ env.ORDERS_DB_URL }}"`); the
    URL is shown without them everywhere."""

    url: str = Field(description="SQLAlchemy URL of the database: postgresql://user:pass@host/db (production) or "
                     "sqlite:///path.db (embedded); credentials through `{{ env.X }}`")
    table: str | None = Field(default=None, description="A table (or schema.table) with the spec's columns, by "
                              "their source names")
    query: str | None = Field(default=None, description="A SELECT returning the spec's columns, with :start and "
                              ":end placeholders bound as parameters (never formatted into the text), e.g. "
                              "SELECT * FROM events WHERE ts >= :start AND ts < :end")

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlSource:
        _require((self.table is None) != (self.query is None),
                 "source: set either table or query (with :start and :end), not both and not neither")
        if self.query is not None:
            missing = [p for p in (":start", ":end") if not re.search(re.escape(p) + r"\b", self.query)]
            _require(not missing, f"source.query must bind the period with {' and '.join(missing)} "
                     "(e.g. WHERE ts >= :start AND ts < :end)")
        _require("://" in self.url, f"source.url must be a SQLAlchemy URL (postgresql://..., sqlite:///...), got "
                 f"{redact_url(self.url)!r}")
        return self


SourceKind = Literal["csv", "parquet", "sql"]


def source_kind(source: str | SqlSource) -> SourceKind:
    """How a monitor's source is read: `sql` ({url, table|query}); `parquet` (a path or URL ending .parquet or /,
    or an existing local folder: a folder of Parquet files, hive `key=value` subfolders as partitions); else `csv`."""
    import os
    import urllib.parse

    if isinstance(source, SqlSource):
        return "sql"
    path = urllib.parse.urlsplit(source).path if "://" in source else source
    if path.lower().endswith(".parquet") or path.endswith("/"):
        return "parquet"
    local = urllib.parse.unquote(path) if source.lower().startswith("file://") or "://" not in source else None
    return "parquet" if local and os.path.isdir(local) else "csv"


def describe_source(source: str | SqlSource) -> str:
    """A source as messages and metadata show it: redacted, a SQL source with its table (or "query")."""
    if isinstance(source, SqlSource):
        return f"{redact_url(source.url)} " + (f"table {source.table}" if source.table else "query")
    return redact_url(source)


class RetrySettings(_Settings):
    """Transient faults (warehouse restarting, S3 or the source unreachable) are retried with backoff."""

    max_retries: int = Field(default=2, description="Retries of a failed step")
    delay_seconds: float = Field(default=5.0, description="First delay; doubled at each retry")


class Monitor(_Settings):
    """One monitored dataset and model."""

    name: str | None = Field(
        default=None, description="Prefix of every asset key, job, table and store folder (default: the folder name)"
    )
    description: str = Field(default="", description="Shown in the UI")
    spec: DatasetSpec = Field(description="The dataset spec: a YAML path relative to defs.yaml, or the mapping inline")
    source: str | SqlSource = Field(
        description="Where the periods' rows come from: a CSV (http(s), s3://, file:// URL or a path); Parquet (a "
        ".parquet file or a folder of them, local or s3://, hive key=value subfolders as partitions); or SQL "
        "({url, table} or {url, query} with :start and :end)")
    cadence: Cadence = Field(default="weekly", description="Partitions: weekly (Monday weeks) or daily")
    timezone: str = Field(default="UTC", description="Timezone of the partitions and the schedule")
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    multivariate: MultivariateSettings = Field(default_factory=MultivariateSettings)
    data_quality: DataQualitySettings = Field(default_factory=DataQualitySettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    prediction_drift: PredictionDriftSettings = Field(default_factory=PredictionDriftSettings)
    # `model` in the YAML; `model_settings` here: a component already has a `model` (Dagster's Resolvable.model()).
    model_settings: ModelSettings = Field(default_factory=ModelSettings, alias="model")
    labels: LabelsSettings | None = Field(default=None, description="Labels that arrive after the features: "
                                          "their source (or in_source: true) and label_delay; unset: each period's "
                                          "rows carry their labels")
    estimation: EstimationSettings = Field(default_factory=EstimationSettings)
    retrain_on: list[ActionableCheck] = Field(
        default_factory=lambda: [NO_DATASET_DRIFT_CHECK, NO_MODEL_DEGRADATION_CHECK],
        description="Checks whose failures retrain the model (an external model: launch model.on_failure_job) "
        "and alert (others are recorded only); no_multivariate_drift, no_data_quality_regression and "
        "no_prediction_drift and no_estimated_degradation are left out by default (WARN, acted on only when "
        "listed here)",
    )
    slack_channel: str | None = Field(default=None, description="Channel of this monitor's alerts (None: the deployment's)")
    landing: LandingSettings = Field(default_factory=LandingSettings)
    sensor_interval_seconds: int = Field(default=30, description="Least seconds between two ticks of its sensors")
    retry: RetrySettings = Field(default_factory=RetrySettings)
    backfill_periods_per_run: int | None = Field(
        default=None, description="Most periods per run of an asset backfill (None: 13 weekly, 31 daily); "
        "the drift job's own backfill is one run per period",
    )
    owners: list[str] = Field(default_factory=lambda: list(OWNERS), description="Owners of its assets in the UI")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        problem = timezone_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    def problems(self) -> list[str]:
        """What makes this monitor unusable, one line per attribute (empty: none). Checked when it loads."""
        found = []
        if self.name is None or not _NAME.fullmatch(self.name):
            found.append(
                f"name: {self.name!r} must be lower-case letters, digits and underscores, starting with a letter, "
                f"at most {MAX_NAME_LENGTH} characters (it prefixes tables, jobs and asset keys)"
            )
        if self.cadence == "weekly" and self.spec.first_period.weekday() != 0:
            found.append(f"spec.first_period: {self.spec.first_period} must be a Monday for a weekly monitor")
        bounds = [("schedule.hour", self.schedule.hour, 0, 23), ("schedule.minute", self.schedule.minute, 0, 59),
                  ("landing.min_age_seconds", self.landing.min_age_seconds, 0, None),
                  ("retry.max_retries", self.retry.max_retries, 0, None),
                  ("retry.delay_seconds", self.retry.delay_seconds, 0, None),
                  ("sensor_interval_seconds", self.sensor_interval_seconds, 1, None)]
        if self.backfill_periods_per_run is not None:
            bounds.append(("backfill_periods_per_run", self.backfill_periods_per_run, 1, None))
        found += [f"{key}: {value} is outside [{low}, {high if high is not None else 'inf'}]"
                  for key, value, low, high in bounds if value < low or (high is not None and value > high)]
        found += self.recipe_problems() + self.model_problems() + self.estimation_problems()
        if self.labels is not None and self.labels.in_source and self.source_kind != "csv":
            found.append(f"labels.in_source: the labels are read again from a CSV source; this {self.source_kind} "
                         "source needs labels.source (the labels' own CSV)")
        if "/" in self.landing.folder.strip("/") or self.landing.folder.strip("/") in ("", ".", "..", *STORE_FOLDERS):
            found.append(f"landing.folder: {self.landing.folder!r} must be one folder name, not one of {list(STORE_FOLDERS)}")
        return found

    def recipe_problems(self) -> list[str]:
        """The model recipe's problems (`training.estimator`, `training.param_grid`, `training.metric`); a named
        estimator is imported to check it (core/ml/recipe.py)."""
        from drift_platform.core.ml.recipe import recipe_problems

        return recipe_problems(self.spec, self.training)

    def model_problems(self) -> list[str]:
        """An external model needs the spec's `prediction_column`; a platform-served one has no on_failure_job
        (its failures retrain it) and no logged predictions to confuse with its own."""
        spec, model = self.spec, self.model_settings
        if model.external:
            return [] if spec.prediction_column else [
                "model.source: external needs the spec's prediction_column (the source's column of the model's "
                "predictions)"]
        found = []
        if model.on_failure_job is not None:
            found.append("model.on_failure_job: only an external model (model.source: external) has one; a "
                         "platform-served model's failures retrain it")
        if spec.prediction_column or spec.probability_columns:
            found.append("spec.prediction_column / probability_columns: logged predictions belong to an external "
                         "model; set model.source: external")
        return found

    @property
    def late_labels(self) -> bool:
        """Its labels arrive after its features (`labels:`): withheld at ingestion, landed by the labels asset."""
        return self.labels is not None

    @property
    def estimates(self) -> bool:
        """Whether `no_estimated_degradation` runs: `estimation.enabled`, else when the labels arrive late."""
        return self.late_labels if self.estimation.enabled is None else self.estimation.enabled

    def estimation_problems(self) -> list[str]:
        """Estimation needs the model's probabilities for a classifier: an external one's probability_columns."""
        spec = self.spec
        if self.estimates and self.external and spec.is_classifier and not spec.probability_columns:
            return ["estimation: an external classifier's performance is estimated from its probabilities: set "
                    "the spec's probability_columns, or estimation.enabled: false"]
        return []

    @property
    def external(self) -> bool:
        """Its model is trained and served elsewhere (`model: {source: external}`): nothing trained here."""
        return self.model_settings.external

    # --- names of what the monitor owns -----------------------------------------------------------------------
    def table(self, kind: str) -> str:
        """Its warehouse table of a kind: reference, history or predictions."""
        return f"{self.name}_{kind}"

    @property
    def source_kind(self) -> SourceKind:
        return source_kind(self.source)

    def job_name(self, purpose: str) -> str:
        return f"{self.name}_{purpose}"

    @property
    def periods_per_backfill_run(self) -> int:
        """`backfill_periods_per_run`, or the cadence's default: a quarter of weeks, a month of days."""
        return self.backfill_periods_per_run or {"weekly": 13, "daily": 31}[self.cadence]

    @property
    def period_label(self) -> str:
        return {"weekly": "week", "daily": "day"}[self.cadence]


# The folders of a monitor's part of the object store, beside its landing folder.
STORE_FOLDERS = ("models", "drift_reports", "drift_trend", "quality_reports", "reviews", "estimators",
                 "estimate_reports")


def timezone_problem(name: str) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{name!r} is not a known IANA timezone (e.g. UTC, Europe/Berlin)"
    return None
