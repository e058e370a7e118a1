"""The model-quality check's decisions (`no_model_degradation`), no Dagster: from a period's stored predictions
to the champion's error on it (`training.period_quality`) and the check's verdict.

lib/checks.py reads the rows and the model's manifest, and turns a QualityInputError into a run failure and the
verdict into an AssetCheckResult.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.ml.predictions import MODEL_VERSION_COLUMN, scored_outputs
from drift_platform.core.settings import QualitySettings

if TYPE_CHECKING:
    import pandas as pd

    from drift_platform.core.ml.training import PeriodQuality, QualityBaseline, Scoring


class QualityInputError(ValueError):
    """The period cannot be judged at all: no predictions stored, several model versions, no holdout error."""


def period_model_version(rows: pd.DataFrame | None, period: str) -> str:
    """The one model version whose predictions the period's stored rows hold; QualityInputError when the period
    has none stored (`rows` None or empty) or holds predictions of several versions."""
    if rows is None or rows.empty:
        raise QualityInputError(f"no predictions stored for {period}: materialize predictions first")
    versions = sorted(rows[MODEL_VERSION_COLUMN].dropna().unique())
    if len(versions) != 1:
        raise QualityInputError(f"{period} holds predictions of {len(versions)} model versions: {versions}")
    return versions[0]


def manifest_terms(manifest: dict[str, Any], version: str) -> tuple[Scoring, float, QualityBaseline | None]:
    """What a model is judged by, from its `manifest`: its scoring (metric, classes), its holdout value of the
    metric and its walk-forward baseline (None when it has none); QualityInputError without a holdout value."""
    from drift_platform.core.ml.model_registry import metric
    from drift_platform.core.ml.training import QualityBaseline, scoring_from_manifest

    scoring = scoring_from_manifest(manifest)
    holdout = metric(manifest, f"holdout_{scoring.metric}")
    if holdout is None:
        raise QualityInputError(f"model {version} has no holdout {scoring.info.label} in its manifest")
    baseline = manifest.get("metrics", {}).get("quality_baseline")
    return scoring, holdout, QualityBaseline.from_dict(baseline) if baseline else None


def _as_judged(quality: PeriodQuality, manifest: dict[str, Any]) -> PeriodQuality:
    """An external model's baseline is its logged predictions' values on the reference's periods, not
    walk-forward: its note says so."""
    if manifest.get("source") != "external":
        return quality
    from dataclasses import replace

    return replace(quality, note=quality.note.replace("walk-forward periods", "reference periods (logged predictions)"))


def judge_period(
    rows: pd.DataFrame, spec: DatasetSpec, version: str, manifest: dict[str, Any], settings: QualitySettings
) -> PeriodQuality:
    """`training.period_quality` of the model `version` (its `manifest`: the metric it was trained with, its
    holdout value, and the walk-forward baseline when it has one) on the period's stored rows, under the quality
    settings; QualityInputError when the manifest has no holdout value of its metric."""
    from drift_platform.core.ml.training import period_quality

    scoring, holdout, baseline = manifest_terms(manifest, version)
    quality = period_quality(
        rows[spec.target], scored_outputs(rows, spec, scoring), holdout, settings.max_ratio,
        baseline=baseline, bound=settings.bound, sigmas=settings.sigmas, min_period_rows=settings.min_period_rows,
        min_baseline_periods=settings.min_baseline_periods, scoring=scoring,
    )
    return _as_judged(quality, manifest)


@dataclass(frozen=True)
class QualityBound:
    """The bound a period's value of the metric is judged by (None: the model's baseline is too short to judge
    any period), how it was set (`method`: baseline or ratio) and the note saying so."""

    metric: str
    value: float | None
    method: str
    note: str


def quality_bound(manifest: dict[str, Any], settings: QualitySettings, version: str = "") -> QualityBound:
    """The bound `no_model_degradation` judges a period of enough labelled rows by, for the model of `manifest`
    under the quality `settings`: the same code as `judge_period` (training.baseline_quality, ratio_quality), with
    no period's value needed. QualityInputError when the manifest has no holdout value."""
    from drift_platform.core.ml.training import baseline_quality, ratio_quality

    scoring, holdout, baseline = manifest_terms(manifest, version or str(manifest.get("version")))
    common = {"max_ratio": settings.max_ratio, "metric": scoring.metric}
    if settings.bound == "baseline" and baseline is not None:
        quality = baseline_quality(holdout, settings.min_period_rows, holdout, baseline.kept(settings.min_period_rows),
                                   settings.sigmas, settings.min_period_rows, settings.min_baseline_periods, **common)
    else:
        quality = ratio_quality(holdout, settings.min_period_rows, holdout, settings.bound == "baseline", **common)
    quality = _as_judged(quality, manifest)
    return QualityBound(scoring.metric, quality.bound if quality.judged else None, quality.method, quality.note)


def quality_verdict(quality: PeriodQuality, period: str, version: str) -> tuple[bool, str]:
    """The check's outcome and description: passes, not evaluated, without a labelled row with a prediction;
    passes, not judged, when too few rows tell (the note says why); else fails when the value is beyond the
    bound (above it for an error, below it where greater is better)."""
    from drift_platform.core.ml.metrics import METRICS

    label, model = METRICS[quality.metric].label, model_text(version)
    if quality.value is None and quality.rows == 0:
        return True, f"not evaluated: no labelled row with a prediction in {period} yet"
    if not quality.judged:
        shown = "-" if quality.value is None else f"{quality.value:.4f}"
        return True, f"{model}: {label} {shown} on {period}, not judged: {quality.note}"
    beyond = "below" if METRICS[quality.metric].greater_is_better else "above"
    return not quality.degraded, (
        f"{model}: {label} {quality.value:.4f} on {period}, {beyond if quality.degraded else 'within'} "
        f"the bound {quality.bound:.4f} ({quality.note})"
    )


def model_text(version: str) -> str:
    """How texts name the model that made a period's predictions."""
    from drift_platform.core.names import EXTERNAL_MODEL_VERSION

    return "the external model's logged predictions" if version == EXTERNAL_MODEL_VERSION else f"champion {version}"


def estimate_verdict(metric: str, estimate: tuple[float, float, float], bound: float | None, note: str, period: str,
                     version: str, pending: bool) -> tuple[bool, str]:
    """`no_estimated_degradation`'s outcome and description: fails when the point estimate (`estimate`: value,
    lower, upper) is beyond the bound (above it for an error, below it where greater is better); passes, not
    judged, without a bound (`note` says why). The description ends "(estimated, labels pending)" when the
    period's labels arrive later (`pending`), else "(estimated)"."""
    from drift_platform.core.ml.metrics import METRICS, worse

    value, lower, upper = estimate
    shown = f"{model_text(version)}: estimated {METRICS[metric].label} {value:.4f} [{lower:.4f}, {upper:.4f}] on {period}"
    tail = " (estimated, labels pending)" if pending else " (estimated)"
    if bound is None:
        return True, f"{shown}, not judged: {note}{tail}"
    degraded = worse(metric, value, bound)
    side = ("below" if METRICS[metric].greater_is_better else "above") if degraded else "within"
    return not degraded, f"{shown}, {side} the bound {bound:.4f} ({note}){tail}"
