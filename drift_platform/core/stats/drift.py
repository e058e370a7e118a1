"""Data drift of a current batch against the reference: Evidently's decisions, the reference's side computed once.

Pure functions over DataFrames, no Dagster. Evidently is imported inside the functions that use it: the import
costs seconds and hundreds of MB, which a code-location load or a sensor tick should not pay.

Evidently's `DataDriftPreset` computes every column's drift three times (once per `ValueDrift` metric, once for
`DriftedColumnsCount`, once more for the preset's rendered table) and builds histograms, correlations and plots
over all rows: ~70-90 s and 1.6 GB for 1M x 12 columns. `compute_drift` splits the work in two:

1. Decisions, on ALL rows: for each monitored column, the test Evidently 0.7.23 would pick (or the one
   configured), with Evidently's thresholds, computed by drift_platform/core/stats/reference_stats.py from the
   reference's statistics (sorted values, category counts, distinct counts: built once per reference version
   and kept by the platform) and the current column, which alone is sorted and counted. Scores equal
   Evidently's within 1e-9 relative and decisions are identical: drift_platform_tests/test_drift.py and test_reference_stats.py
   run Evidently's own preset and `StatTest`s (`column_drift` below) on the same rows. Columns are decided by a
   small pool of threads, a few at a time, with progress in the log on long runs.
2. The visual report, on a bounded seeded sample (`REPORT_SAMPLE_ROWS` rows of each side; all rows when a side
   is smaller) and at most `report_max_columns` columns (the drifted first): Evidently's preset renders the
   HTML, with each column's test and threshold pinned to the ones decided in step 1. Its numbers are the
   SAMPLE's; the HTML says so in a banner, and the JSON report keeps the two apart (see `report_document`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.settings import CAT, NUM, DriftSettings
from drift_platform.core.stats.columns import (
    FEW_VALUES,
    SMALL_REFERENCE_ROWS,
    ColumnDrift,
    clean_column,
    seeded_sample,
)

if TYPE_CHECKING:
    from evidently.legacy.calculations.stattests import StatTest

    from drift_platform.core.stats.reference_stats import ReferenceStats

# The HTML report is rendered from at most this many rows of each side (seeded sample, original row order).
REPORT_SAMPLE_ROWS = 5_000
REPORT_SAMPLE_SEED = 0


@dataclass(frozen=True)
class RunInfo:
    """What Evidently's UI shows of a report's snapshot: its time (the period's start, so a dashboard plots
    periods in order), its name and metadata."""

    timestamp: Any = None  # a datetime; None = now
    name: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class DriftResult:
    columns: Sequence[ColumnDrift]
    drifted_count: int
    share: float
    drift_share_threshold: float
    dataset_drift: bool
    report_html: bytes = b""
    report_json: str = ""
    snapshot: Any = field(default=None, compare=False, repr=False)  # Evidently's Snapshot (for its UI), in memory

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(
            [asdict(c) for c in self.columns], columns=["column", "method", "score", "threshold", "drifted"]
        )

    def summary(self) -> dict[str, Any]:
        """A small, picklable digest for checks and sensors (no report bodies)."""
        return {
            "dataset_drift": self.dataset_drift,
            "share": self.share,
            "drift_share_threshold": self.drift_share_threshold,
            "drifted_count": self.drifted_count,
            "drifted_columns": self.drifted_columns,
            "columns": [asdict(c) for c in self.columns],
        }


def parse_snapshot(snapshot: Mapping[str, Any], drift_share: float) -> tuple[list[ColumnDrift], int, float]:
    """Per-column results from an Evidently snapshot dict: score, method and threshold from each ValueDrift
    metric, the drifted flag from its bound test (status FAIL = drifted)."""
    failed_by_metric = {
        test["metric_config"]["metric_id"]: test["status"] == "FAIL"
        for test in snapshot.get("tests", [])
        if test.get("name", "").startswith("Value Drift for column")
    }
    columns: list[ColumnDrift] = []
    count = share = None
    for metric in snapshot["metrics"]:
        config = metric["config"]
        kind = config.get("type", "")
        if kind.endswith(":ValueDrift"):
            columns.append(
                ColumnDrift(
                    column=config["column"],
                    method=str(config.get("method")),
                    score=float(metric["value"]),
                    threshold=float(config["threshold"]),
                    drifted=failed_by_metric[metric["id"]],
                )
            )
        elif kind.endswith(":DriftedColumnsCount"):
            count, share = int(metric["value"]["count"]), float(metric["value"]["share"])
    if count is None or share is None:
        raise ValueError("the Evidently snapshot has no DriftedColumnsCount metric")
    return columns, count, share


def snapshot_drift_share(snapshot: Mapping[str, Any]) -> float:
    """The dataset-level drift share threshold an Evidently snapshot dict was made with (its
    DriftedColumnsCount metric's config; 0.5, Evidently's default, when it names none)."""
    return next((m["config"].get("drift_share", 0.5) for m in snapshot["metrics"]
                 if m["config"].get("type", "").endswith(":DriftedColumnsCount")), 0.5)


# --- one column through Evidently's StatTest, the reference implementation the tests hold to --------------------------
def _distinct_more_than(reference: pd.Series, current: pd.Series, limit: int, head: int = 10_000) -> bool:
    """`pd.concat([reference, current]).nunique() > limit`, Evidently's count, without hashing every row when the
    first rows already hold more than `limit` distinct values (the heads concatenate to the same dtype)."""
    if (
        len(reference) + len(current) > 2 * head
        and pd.concat([reference.iloc[:head], current.iloc[:head]]).nunique() > limit
    ):
        return True
    return pd.concat([reference, current]).nunique() > limit


def default_stattest(reference: pd.Series, current: pd.Series, kind: str) -> StatTest:
    """The test Evidently 0.7.23 picks when none is configured (`_get_default_stattest`), on cleaned columns:

    | reference rows | numerical, > 5 distinct   | numerical, 3-5 distinct | numerical, <= 2 | categorical, > 2 | cat., <= 2 |
    |----------------|---------------------------|-------------------------|-----------------|------------------|------------|
    | <= 1000        | K-S (p <= 0.05)           | chi-square (p < 0.05)   | Z-test (p<0.05) | chi-square       | Z-test     |
    | > 1000         | Wasserstein normed >= 0.1 | Jensen-Shannon >= 0.1   | Jensen-Shannon  | Jensen-Shannon   | J-S        |

    Distinct values are counted over both sides together; "reference rows" are those left after cleaning.
    """
    from evidently.legacy.calculations import stattests

    if kind not in (NUM, CAT):
        raise ValueError(f"Unexpected feature_type {kind}")
    if len(reference) <= SMALL_REFERENCE_ROWS:
        if kind == NUM and _distinct_more_than(reference, current, FEW_VALUES):
            return stattests.ks_stat_test
        return (
            stattests.chi_stat_test if _distinct_more_than(reference, current, 2) else stattests.z_stat_test
        )
    if kind == NUM and _distinct_more_than(reference, current, FEW_VALUES):
        return stattests.wasserstein_stat_test
    return stattests.jensenshannon_stat_test


def column_drift(
    reference: pd.Series, current: pd.Series, column: str, kind: str, settings: DriftSettings
) -> tuple[ColumnDrift, StatTest]:
    """One column's drift on all its rows, as Evidently's `ValueDrift` computes it, and the test used."""
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    column_type = ColumnType.Numerical if kind == NUM else ColumnType.Categorical
    ref, cur = clean_column(reference, column, "reference"), clean_column(current, column, "current")
    if kind == NUM:
        for side, values in (("reference", ref), ("current", cur)):
            if not pd.api.types.is_numeric_dtype(values):
                raise ValueError(f"Column '{column}' in {side} dataset should contain numerical values only.")
    configured = settings.column_method(column, kind)
    stattest = (
        default_stattest(ref, cur, kind)
        if configured is None
        else get_registered_stattest(configured, column_type)
    )
    outcome = stattest(ref, cur, column_type, settings.column_threshold(column, kind))
    drift = ColumnDrift(
        column=column,
        # Evidently's naming: the display name when it chose the test, the configured name otherwise.
        method=str(configured) if configured is not None else stattest.display_name,
        score=float(outcome.drift_score),
        threshold=float(outcome.actual_threshold),
        drifted=bool(outcome.drifted),
    )
    return drift, stattest


# --- the batch ----------------------------------------------------------------------------------------------------
def _check_inputs(frame: pd.DataFrame, name: str, monitored: Sequence[str]) -> None:
    missing = [c for c in monitored if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} data lacks monitored column(s) {missing}")
    if frame.empty:
        raise ValueError(f"{name} data has no rows")


def column_kinds(spec: DatasetSpec) -> dict[str, str]:
    """Monitored column -> "num" or "cat", from the spec (never inferred from the values)."""
    kinds = {}
    for column in spec.monitored_columns:
        if column in spec.numerical_features:
            kinds[column] = NUM
        elif column in spec.categorical_features:
            kinds[column] = CAT
        else:
            raise ValueError(f"monitored column {column!r} is neither a numerical nor a categorical feature")
    return kinds


def compute_drift(
    reference: pd.DataFrame | ReferenceStats,
    current: pd.DataFrame,
    spec: DatasetSpec,
    settings: DriftSettings | None = None,
    *,
    with_report: bool = True,
    report_sample_rows: int = REPORT_SAMPLE_ROWS,
    report_seed: int = REPORT_SAMPLE_SEED,
    run: RunInfo | None = None,
    workers: int | None = None,
    log: Callable[[str], None] | None = None,
) -> DriftResult:
    """Drift of `current` against the reference on the spec's monitored columns, with the decisions of Evidently's
    DataDriftPreset computed once per column on all rows, and (`with_report`) Evidently's HTML and JSON report
    rendered from a seeded sample of at most `report_sample_rows` rows of each side. `run` names the Evidently
    snapshot (its time, name, metadata) for Evidently's UI.

    `reference` is the reference frame, or its statistics built once (`reference_stats.build_reference_stats`,
    kept by the platform per reference version): with them, only the current side is sorted and counted. Columns
    are decided by `workers` threads (default: the machine's cores, at most 4); `log` receives progress lines
    (columns done / total, rate) every PROGRESS_SECONDS on long runs."""
    from drift_platform.core.stats.reference_stats import ReferenceStats, build_reference_stats

    settings = settings or DriftSettings()
    kinds = column_kinds(spec)
    if isinstance(reference, ReferenceStats):
        _check_stats(reference, kinds)
    else:
        _check_inputs(reference, "reference", list(kinds))
    _check_inputs(current, "current", list(kinds))
    stats = (reference if isinstance(reference, ReferenceStats)
             else build_reference_stats(reference, kinds, sample_rows=report_sample_rows, seed=report_seed))

    decided = decide_columns(stats, current, kinds, settings, workers=workers, log=log)
    columns = [drift for drift, _ in decided]
    tests = {drift.column: name for drift, name in decided}
    count = sum(c.drifted for c in columns)
    share = count / len(columns)
    result = DriftResult(
        columns=columns,
        drifted_count=count,
        share=share,
        drift_share_threshold=settings.drift_share,
        dataset_drift=bool(share >= settings.drift_share),
    )
    if not with_report:
        return result
    html, document, snapshot = render_report(
        stats, current, kinds, settings, result, tests, sample_rows=report_sample_rows, seed=report_seed, run=run,
    )
    return DriftResult(**{**_fields(result), "report_html": html, "report_json": json.dumps(document),
                          "snapshot": snapshot})


PROGRESS_SECONDS = 10.0
MAX_WORKERS = 4


def decide_columns(
    stats: ReferenceStats,
    current: pd.DataFrame,
    kinds: Mapping[str, str],
    settings: DriftSettings,
    *,
    workers: int | None = None,
    log: Callable[[str], None] | None = None,
) -> list[tuple[ColumnDrift, str]]:
    """Each monitored column's decision and the Evidently test it used, in the spec's order.

    Columns go to a pool of threads (numpy's sorts, searches and counts release the GIL), at most `2 x workers`
    in flight, so only a few columns' temporaries are alive at once however wide the table."""
    import os
    import time
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from drift_platform.core.stats.reference_stats import column_drift_from_stats

    names = list(kinds)
    workers = workers or min(os.cpu_count() or 1, MAX_WORKERS)

    def one(column: str) -> tuple[ColumnDrift, str]:
        return column_drift_from_stats(stats.columns[column], current[column], settings)

    if workers == 1 or len(names) < 2 * workers:
        return [one(column) for column in names]
    results: dict[str, tuple[ColumnDrift, str]] = {}
    began = last = time.perf_counter()
    pending = iter(names)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift") as pool:
        running = {pool.submit(one, c): c for c in (next(pending) for _ in range(2 * workers))}
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                results[running.pop(future)] = future.result()
                following = next(pending, None)
                if following is not None:
                    running[pool.submit(one, following)] = following
            now = time.perf_counter()
            if log is not None and now - last >= PROGRESS_SECONDS:
                last = now
                log(f"drift decisions: {len(results):,} / {len(names):,} columns, "
                    f"{len(results) / (now - began):.1f} columns/s")
    if log is not None and time.perf_counter() - began >= PROGRESS_SECONDS:
        log(f"drift decisions: {len(names):,} columns in {time.perf_counter() - began:.1f} s")
    return [results[c] for c in names]


def _check_stats(stats: ReferenceStats, kinds: Mapping[str, str]) -> None:
    built = {name: column.kind for name, column in stats.columns.items()}
    if any(built.get(name) != kind for name, kind in kinds.items()):
        raise ValueError(
            f"the reference statistics were built for columns {built}, the spec monitors {dict(kinds)}; "
            "rebuild them from the reference"
        )


def _fields(result: DriftResult) -> dict[str, Any]:
    return {name: getattr(result, name) for name in result.__dataclass_fields__}


# --- the visual report --------------------------------------------------------------------------------------------
def drift_margin(column: ColumnDrift) -> float:
    """How far past (or short of) its threshold a column's score is, as a ratio (scores point both ways: a
    p-value drifts below its threshold, a distance above it)."""
    low, high = sorted((abs(column.score), abs(column.threshold)))
    return float("inf") if low == 0 else high / low


def report_columns(result: DriftResult, limit: int) -> list[str]:
    """The columns the HTML report shows: every one up to `limit`; beyond, the drifted first (furthest past their
    threshold first), then the others in the spec's order."""
    names = [c.column for c in result.columns]
    if len(names) <= limit:
        return names
    drifted = [c.column for c in sorted((c for c in result.columns if c.drifted), key=drift_margin, reverse=True)]
    chosen = set((drifted + [n for n in names if n not in drifted])[:limit])
    return [n for n in names if n in chosen]


def render_report(
    reference: ReferenceStats,
    current: pd.DataFrame,
    kinds: Mapping[str, str],
    settings: DriftSettings,
    result: DriftResult,
    tests: Mapping[str, str],
    *,
    sample_rows: int = REPORT_SAMPLE_ROWS,
    seed: int = REPORT_SAMPLE_SEED,
    run: RunInfo | None = None,
) -> tuple[bytes, dict[str, Any], Any]:
    """Evidently's preset on (a sample of) both sides: the HTML bytes, the JSON document and the snapshot. The
    reference side is the sample kept in its statistics; `tests` names the Evidently test each column was decided
    with."""
    monitored = report_columns(result, settings.report_max_columns)
    capped = len(monitored) < len(kinds)
    ref_sample = seeded_sample(reference.sample, monitored, sample_rows, seed)
    cur_sample = seeded_sample(current, monitored, sample_rows, seed + 1)
    sampled = len(ref_sample) < reference.rows or len(cur_sample) < len(current)
    # Sampled or capped: the same test and threshold as the decisions; only the rows differ, never the method.
    preset_kwargs = (_pinned_preset_kwargs(settings, result, tests, monitored) if sampled or capped
                     else settings.preset_kwargs())
    snapshot = _run_preset(cur_sample, ref_sample, {c: kinds[c] for c in monitored}, preset_kwargs, run,
                           {"drift_platform/sampled": str(sampled).lower(),
                            "drift_platform/columns_shown": f"{len(monitored)} of {len(result.columns)}",
                            "drift_platform/drift_share_all_columns": f"{result.share:.6g}"})
    html = snapshot_html(snapshot)
    sample = {
        "sampled": sampled,
        "columns_shown": list(monitored),
        "columns_total": len(result.columns),
        "reference_rows": len(ref_sample),
        "current_rows": len(cur_sample),
        "max_rows_per_side": sample_rows,
        "seed": seed,
    }
    totals = {"reference_rows": reference.rows, "current_rows": len(current)}
    if sampled or capped:
        html = _with_banner(html, sample, totals, result)
    return html, report_document(json.loads(snapshot.json()), result, sample, totals), snapshot


def _pinned_preset_kwargs(
    settings: DriftSettings, result: DriftResult, tests: Mapping[str, str], monitored: Sequence[str]
) -> dict[str, Any]:
    """The preset's arguments pinning each shown column to the test and threshold it was decided with."""
    return {
        "drift_share": settings.drift_share,
        "per_column_method": {c: tests[c] for c in monitored},
        "per_column_threshold": {c.column: c.threshold for c in result.columns if c.column in monitored},
    }


def _run_preset(
    cur_sample: pd.DataFrame,
    ref_sample: pd.DataFrame,
    kinds: Mapping[str, str],
    preset_kwargs: Mapping[str, Any],
    run: RunInfo | None,
    sample_metadata: Mapping[str, str],
) -> Any:
    """Evidently's DataDriftPreset (with its tests) over the `kinds` columns: the snapshot, named by `run`,
    with `sample_metadata` (what was sampled and shown) added to the run's metadata."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[c for c, k in kinds.items() if k == NUM],
        categorical_columns=[c for c, k in kinds.items() if k == CAT],
    )
    report = Report([DataDriftPreset(columns=list(kinds), **preset_kwargs)], include_tests=True)
    run = run or RunInfo()
    return report.run(  # current first, then reference
        Dataset.from_pandas(cur_sample, data_definition=definition),
        Dataset.from_pandas(ref_sample, data_definition=definition),
        timestamp=run.timestamp,
        name=run.name,
        metadata={**run.metadata, **sample_metadata},
        tags=list(run.tags),
    )


def snapshot_html(snapshot: Any) -> bytes:
    """The snapshot's HTML report, as Evidently saves it."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        snapshot.save_html(str(path))
        return path.read_bytes()


def report_document(
    snapshot: dict[str, Any], result: DriftResult, sample: Mapping[str, Any], totals: Mapping[str, int]
) -> dict[str, Any]:
    """The JSON report: Evidently's snapshot keys (`metrics`, `tests`) as Evidently wrote them, computed on the
    rows in `drift_platform.evidently_sample`, and `drift_platform.full_data`: the decisions of record, on all
    rows. Without sampling both agree."""
    return {
        **snapshot,
        "drift_platform": {
            "full_data": {
                **totals,
                "drift_share_threshold": result.drift_share_threshold,
                "drifted_count": result.drifted_count,
                "share": result.share,
                "dataset_drift": result.dataset_drift,
                "columns": [asdict(c) for c in result.columns],
            },
            "evidently_sample": dict(sample),
            "note": (
                "full_data: every row, the decisions of record (the asset's metadata and check). "
                "metrics/tests: Evidently's snapshot of the rows described in evidently_sample."
            ),
        },
    }


def _with_banner(
    html: bytes, sample: Mapping[str, Any], totals: Mapping[str, int], result: DriftResult
) -> bytes:
    drifted = result.drifted_columns
    named = ", ".join(drifted[:20]) + (f" and {len(drifted) - 20} more" if len(drifted) > 20 else "") or "none"
    shown = (f"{len(sample['columns_shown']):,} of the {sample['columns_total']:,} monitored columns (the drifted "
             "first, then the others) and " if len(sample["columns_shown"]) < sample["columns_total"] else "")
    text = (
        f"Charts and scores below: {shown}a seeded sample of {sample['reference_rows']:,} of "
        f"{totals['reference_rows']:,} reference rows and {sample['current_rows']:,} of {totals['current_rows']:,} "
        f"current rows, with the same tests and thresholds. Decisions of record (all rows, all columns): "
        f"{result.drifted_count} of {len(result.columns)} columns drifted ({named}), share {result.share:.3f}, "
        f"dataset drift {'YES' if result.dataset_drift else 'no'} - see the JSON report's drift_platform.full_data."
    )
    banner = (
        '<div style="font-family:sans-serif;padding:8px 16px;background:#fff8e1;border-bottom:1px solid #e0c36b">'
        + text.replace("&", "&amp;").replace("<", "&lt;")
        + "</div>"
    ).encode()
    head_end = html.find(b"</head>")
    body = html.find(b"<body>", max(head_end, 0))
    if body < 0:
        return html
    at = body + len(b"<body>")
    return html[:at] + banner + html[at:]
