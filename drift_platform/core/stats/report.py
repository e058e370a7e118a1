"""A period's drift report as plain values: the summary `drift_report` hands to its checks, and the figures of
its metadata (drift_platform/lib/assets/drift_report.py turns them into Dagster metadata), with the
small-period note and the most drifted columns.

Values are bool, int, float or str (text), or `Markdown` (a str to show as markdown). The drift module (and
pandas with it) is imported inside the functions: the code location imports this module on every load.

The period's data-quality figures also go into its Evidently run (`quality_run_figures`, `with_quality_metrics`):
the check's own counts and shares (core/stats/quality.py, from the cached reference statistics), not a second
pass over the rows. So do its prediction drift and target drift scores (`output_values`, `with_output_metrics`:
core/stats/outputs.py's summaries), reported apart from the feature columns' drift share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drift_platform.core.stats.columns import ColumnDrift
    from drift_platform.core.stats.drift import DriftResult
    from drift_platform.core.stats.reference_stats import ColumnStats, ReferenceStats

TOP_DRIFTED = 5
# Evidently's metric of the same definition as each data-quality measure (core/stats/quality.py): MissingValueCount
# counts the missing rows of all rows; OutRangeValueCount the present values outside [left, right] (the
# reference's observed range) and OutListValueCount those not in `values` (the reference's levels), of the
# present values. One difference: quality.py counts +-inf as missing (Evidently's drift cleaning drops them),
# Evidently's MissingValueCount as present and outside any range.
QUALITY_METRICS = {"missing": "MissingValueCount", "outside_range": "OutRangeValueCount",
                   "unseen_level": "OutListValueCount"}
# A categorical column with more reference levels than this is left out of the run's unseen-level figures (the
# metric's config lists every level, in every run); the check and its metadata still judge it.
MAX_LISTED_LEVELS = 1_000
# Below this many rows in the period, the per-column tests have little power (docs/statistics.md, measured at
# the bike sample's 28 reference vs 7 current rows): the report's metadata says so with the measured figures.
SMALL_PERIOD_ROWS = 30
SMALL_PERIOD_NOTE = (
    "{rows} rows in the period: at the sample's size (28 reference vs 7 period rows, docs/statistics.md) "
    "no_dataset_drift caught a 1 sd shift of one column in 1.2 % of periods and of two columns in 7.2 %, any "
    "single column's test false-alarmed in 24 % of quiet periods, and no_multivariate_drift caught a 1 sd shift "
    "in 24 % and a flipped correlation in 60 % at 5.6 % false alarms. Read a pass as 'not shown', not 'no drift'."
)


class Markdown(str):
    """A text value to show as markdown."""


def top_drifted(columns: Iterable[ColumnDrift], limit: int = TOP_DRIFTED) -> str:
    """The drifted columns, furthest past their threshold first, e.g. "temp (K-S p_value 1.2e-05 < 0.05)".

    Scores point both ways (a p-value drifts below its threshold, a distance above it), so a column's distance
    past the threshold is the ratio of the two, whichever way round is above 1."""

    from drift_platform.core.stats.drift import drift_margin

    drifted = sorted((c for c in columns if c.drifted), key=drift_margin, reverse=True)[:limit]
    return ", ".join(
        f"{c.column} ({c.method} {c.score:.3g} {'<' if c.score < c.threshold else '>='} {c.threshold:.3g})"
        for c in drifted
    ) or "-"


def small_period_note(rows: int) -> str | None:
    """What a pass is worth in a period of `rows` rows, when fewer than SMALL_PERIOD_ROWS; else None."""
    return SMALL_PERIOD_NOTE.format(rows=rows) if rows < SMALL_PERIOD_ROWS else None


def result_values(result: DriftResult) -> dict[str, Any]:
    """The drift result's figures as the report's metadata shows them: verdict, share, counts, the per-column
    table (markdown) and the most drifted columns."""
    return {
        "dataset_drift": bool(result.dataset_drift),
        "drift_share": float(result.share),
        "drift_share_threshold": float(result.drift_share_threshold),
        "drifted_columns": int(result.drifted_count),
        "monitored_columns": len(result.columns),
        "columns": Markdown(result.table().to_markdown(index=False, floatfmt=".4g")),
        "top_drifted_columns": top_drifted(result.columns),
    }


def period_values(
    result: DriftResult, current_rows: int, multivariate: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The rest of the report's figures: the small-period note (when the period is small), the multivariate
    AUC and threshold (when the classifier judged the period), then each column's `score/<column>` and
    `drifted/<column>` (1 or 0)."""
    values: dict[str, Any] = {}
    note = small_period_note(current_rows)
    if note is not None:
        values["small_period_note"] = note
    if multivariate is not None and "auc" in multivariate:
        values["multivariate_auc"] = float(multivariate["auc"])
        values["multivariate_threshold"] = float(multivariate["threshold"])
    for column in result.columns:
        values[f"score/{column.column}"] = float(column.score)
        values[f"drifted/{column.column}"] = int(column.drifted)
    return values


def report_summary(
    result: DriftResult,
    reference: ReferenceStats,
    current_rows: int,
    multivariate: Mapping[str, Any] | None,
    *,
    monitor: str,
    period: str,
    locations: tuple[str, str],
    report_url: str | None,
) -> dict[str, Any]:
    """The period's summary, the input of the drift report's checks: the result's digest, where the HTML and
    JSON reports are (`locations`), the viewer's link (None when it did not take the report), the row counts
    and the multivariate summary."""
    return {
        **result.summary(),
        "monitor": monitor,
        "period": period,
        "report_html": locations[0],
        "report_json": locations[1],
        "report_url": report_url,
        "reference_rows": reference.rows,
        "reference_version": reference.version,
        "current_rows": current_rows,
        "multivariate": multivariate,
    }


def _label(value: Any) -> bool | int | str:
    """A reference level as Evidently's metric configs take it (bool, int or str)."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, bool | int | str) else str(value)


def _measure_arguments(measure: str, stats: ColumnStats) -> dict[str, Any] | None:
    """The Evidently metric's arguments besides the column: the reference's [min, max] for outside_range, its
    levels for unseen_level (None when more than MAX_LISTED_LEVELS)."""
    if measure == "outside_range":
        return {"left": float(stats.sorted_values[0]), "right": float(stats.sorted_values[-1])}
    if measure == "unseen_level":
        levels = [] if stats.levels is None else list(stats.levels)
        return {"values": [_label(v) for v in levels]} if len(levels) <= MAX_LISTED_LEVELS else None
    return {}


def quality_run_figures(summary: Mapping[str, Any] | None, reference: ReferenceStats) -> dict[str, Any] | None:
    """The period's data-quality figures as its Evidently run shows them, from the check's summary (no second
    pass over the rows): per measure of its table, the Evidently metric of the same definition
    (QUALITY_METRICS), its arguments, the count and the share (of the period's rows for missing, of its present
    values otherwise); and the check's verdict (`regressed` of `checked` columns). None when the check is off or
    did not judge the period."""
    if summary is None or "skipped" in summary:
        return None
    rows = int(summary["rows"])
    missing = {r["column"]: round(float(r["period"]) * rows) for r in summary["table"] if r["measure"] == "missing"}
    measures = []
    for row in summary["table"]:
        arguments = _measure_arguments(row["measure"], reference.columns[row["column"]])
        if arguments is None:
            continue
        of = rows if row["measure"] == "missing" else rows - missing[row["column"]]
        measures.append({"metric": QUALITY_METRICS[row["measure"]], "column": row["column"], "arguments": arguments,
                         "count": round(float(row["period"]) * of), "share": float(row["period"])})
    return {"measures": measures, "regressed": int(summary["columns_failed"]),
            "checked": int(summary["columns_checked"]), "passed": bool(summary["passed"])}


def with_quality_metrics(result: DriftResult, reference: ReferenceStats,
                         summary: Mapping[str, Any] | None) -> DriftResult:
    """The drift result with the period's data-quality figures added to its Evidently snapshot (unchanged when
    the check did not judge the period or there is no snapshot)."""
    from dataclasses import replace

    from drift_platform.core.evidently_workspace import add_quality_metrics

    figures = quality_run_figures(summary, reference)
    if figures is None or result.snapshot is None:
        return result
    return replace(result, snapshot=add_quality_metrics(result.snapshot, figures))


def output_values(prediction: Mapping[str, Any] | None, target: Mapping[str, Any] | None) -> dict[str, Any]:
    """The prediction drift and target drift figures of the report's metadata (core/stats/outputs.py's
    summaries; None: not tested): `prediction_drift` (any output column drifted), `prediction_drift_score`, and
    `prediction_drift_column` (the first output column's), `prediction_drift_columns` (each output column's
    test, markdown); `target_drift`, `target_drift_score`. A skipped one gives `<name>_skipped` (why) instead.
    Apart from the feature columns: none of these enters drift_share, drifted_columns or dataset_drift."""
    import pandas as pd

    values: dict[str, Any] = {}
    for name, summary in (("prediction_drift", prediction), ("target_drift", target)):
        if summary is None:
            continue
        if "skipped" in summary:
            values[f"{name}_skipped"] = str(summary["skipped"])
            continue
        values[name] = bool(summary["drifted"])
        values[f"{name}_score"] = float(summary["score"])
        if name == "prediction_drift":
            values["prediction_drift_column"] = str(summary["column"])
            table = pd.DataFrame(summary["columns"], columns=["column", "method", "score", "threshold", "drifted"])
            values["prediction_drift_columns"] = Markdown(table.to_markdown(index=False, floatfmt=".4g"))
    return values


def output_run_figures(prediction: Mapping[str, Any] | None,
                       target: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The prediction drift and target drift figures of the period's Evidently run (what the dashboard plots):
    the first output column's score and the target's (None when not judged); None when the prediction drift
    was not judged."""
    if prediction is None or "skipped" in prediction:
        return None
    judged = target is not None and "skipped" not in target
    return {"prediction_drift_score": float(prediction["score"]), "column": str(prediction["column"]),
            "target_drift_score": float(target["score"]) if judged else None,
            **({"target_column": str(target["column"])} if judged else {})}


def with_output_metrics(result: DriftResult, prediction: Mapping[str, Any] | None,
                        target: Mapping[str, Any] | None) -> DriftResult:
    """The drift result with the period's prediction (and target) drift scores added to its Evidently snapshot
    (unchanged when the prediction drift was not judged or there is no snapshot); the decisions of the feature
    columns are not touched."""
    from dataclasses import replace

    from drift_platform.core.evidently_workspace import add_output_drift_metrics

    figures = output_run_figures(prediction, target)
    if figures is None or result.snapshot is None:
        return result
    return replace(result, snapshot=add_output_drift_metrics(result.snapshot, figures))
