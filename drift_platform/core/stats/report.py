"""A period's drift report as plain values: the summary `drift_report` hands to its checks, and the figures of
its metadata (drift_platform/lib/assets/drift_report.py turns them into Dagster metadata), with the
small-period note and the most drifted columns.

Values are bool, int, float or str (text), or `Markdown` (a str to show as markdown). The drift module (and
pandas with it) is imported inside the functions: the code location imports this module on every load.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drift_platform.core.stats.columns import ColumnDrift
    from drift_platform.core.stats.drift import DriftResult
    from drift_platform.core.stats.reference_stats import ReferenceStats

TOP_DRIFTED = 5
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
