"""Data quality per period against the reference's own period-to-period spread (`no_data_quality_regression`).

Three shares per monitored column (kinds from core/stats/drift.py `column_kinds`):

- missing: the rows whose value is missing (NaN, None, +-inf: what Evidently's cleaning drops, columns.py);
- outside_range (numerical columns): the present values outside the reference's observed [min, max];
- unseen_level (categorical columns): the present values whose level the reference never shows.

The reference's side (`column_quality`) is computed once per reference version, when its statistics are built
(reference_stats.build_reference_stats keeps it in their artifact): the reference, in row (time) order, is cut
into `blocks` contiguous blocks of near-equal size, one per period of its window (`reference_periods`), and
each block's shares are measured as a period's are, "outside" and "unseen" against the reference WITHOUT that
block (leave one block out). They are how far a period of the reference strays from the rest of it: a cold
day of a January reference has a few hours below the other days' minimum, a rare weather code shows up in a
single week.

The decision (`judge_period`) measures the period against the whole reference. A column's measure fails when
the period's share (of its n rows for "missing", of its n present values otherwise) exceeds

    bound = max(quantile(the blocks' shares, q), chance) + max(floor, tolerated_values / n)
    chance = Binomial(n, mean of the blocks' shares).ppf(1 - alpha) / n

The blocks' quantile (q = 1: the largest block) carries what the reference's periods showed, clustered as
real data clusters (a cold spell). A reference of few periods (the bike sample's 4 weeks) has seen too few to
know its largest: `chance`, the share a period of n values reaches at the reference's mean rate with
probability alpha (1 %), stands in then. The allowance keeps a column never missing in the reference from
failing on one missing value (with the defaults, floor 2 % and one value: a 24-row day passes one missing
value, 4.2 %, and fails on two; a period of 1,000 rows fails 2 % above the spread).

Measured on the shipped samples (drift_platform_tests/test_data_quality.py prints the figures): each period of
the grid-load (daily) and bike-sharing (weekly) samples, left out of windows of reference + 1 periods and
judged against the other reference-sized part, is flagged in 1.0 % (grid, 725 days) and 4.0 % (bike, 100
weeks) of cases (without `chance`: 11 % of the bike's weeks); a quiet day with 15 % of one column's values
made missing, 10 % pushed out of the reference's range or a new category in 10 % of its rows fails. With 7
rows a week, one value is 14 % of the period: the tolerated value makes the bike's weekly check blind to a
single bad row.

Pure numpy / pandas: no Dagster. The check's metadata table and figures are plain values (`quality_table`,
`quality_values`); lib/checks.py turns them into Dagster metadata.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from drift_platform.core.settings import CAT, NUM, DataQualitySettings

if TYPE_CHECKING:
    from drift_platform.core.intake.dataset import DatasetSpec
    from drift_platform.core.stats.reference_stats import ColumnStats, ReferenceStats

MISSING, OUTSIDE, UNSEEN = "missing", "outside_range", "unseen_level"
# How an alert or a description says a measure: "humidity missing 16.7 % (bound 4.2 %)".
MEASURE_WORDS = {MISSING: "missing", OUTSIDE: "outside the reference's range", UNSEEN: "of unseen levels"}
_TIE = 1e-12  # a share equal to its bound (up to rounding) passes


@dataclass(frozen=True)
class ColumnQuality:
    """One column's reference side: its missing share over all rows, and per block (rows of `blocks`) the
    block's missing share and its share of present values outside the rest's range (numerical) or of levels
    the rest never shows (categorical)."""

    missing: float
    blocks: np.ndarray  # float64, shape (blocks, 2): [missing share, outside / unseen share]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ColumnQuality):
            return NotImplemented
        return self.missing == other.missing and bool(np.array_equal(self.blocks, other.blocks))

    def __hash__(self) -> int:
        return hash((self.missing, self.blocks.shape))


@dataclass(frozen=True)
class ReferenceQuality:
    """The reference's side of every monitored column, from `blocks` blocks of it."""

    blocks: int
    columns: dict[str, ColumnQuality]


def reference_periods(spec: DatasetSpec, cadence: str) -> int:
    """How many periods (days, or weeks of 7 days) the spec's reference window spans: its blocks."""
    days = (spec.reference_dates.end - spec.reference_dates.start).days + 1
    return max(1, math.ceil(days / (7 if cadence == "weekly" else 1)))


def missing_mask(values: pd.Series) -> np.ndarray:
    """Rows whose value is missing: NaN, None, pandas' NA or +-inf (the rows Evidently's cleaning drops)."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return ~np.isfinite(values.to_numpy())
    mask = values.isna().to_numpy(dtype=bool)
    if not (isinstance(dtype, np.dtype) and dtype.kind in "biumM"):  # object, nullable floats: infinities too
        mask |= values.isin([np.inf, -np.inf]).to_numpy(dtype=bool)
    return mask


def block_edges(rows: int, blocks: int) -> np.ndarray:
    """Row offsets of `blocks` contiguous blocks of near-equal size (fewer when there are fewer rows)."""
    blocks = max(1, min(blocks, rows))
    return np.linspace(0, rows, blocks + 1).round().astype(np.int64)


def column_quality(values: pd.Series, kind: str, blocks: int,
                   codes: np.ndarray | None = None) -> ColumnQuality:
    """The reference side of one column, its rows in time order. `codes`: the column's factorization codes (-1
    for missing), when already made (categorical columns only)."""
    edges = block_edges(len(values), blocks)
    sizes = np.diff(edges)
    block = np.repeat(np.arange(len(sizes)), sizes)
    mask = missing_mask(values)
    present = ~mask
    if kind == NUM:
        strays = _outside_rows(values, present, block, edges[:-1])
    elif kind == CAT:
        strays = _unseen_rows(values, present, block, codes)
    else:
        raise ValueError(f"Unexpected feature_type {kind}")
    n_present = np.bincount(block, weights=present, minlength=len(sizes))
    stray_share = np.divide(np.bincount(block, weights=strays, minlength=len(sizes)), n_present,
                            out=np.zeros(len(sizes)), where=n_present > 0)
    missing_share = np.bincount(block, weights=mask, minlength=len(sizes)) / sizes
    return ColumnQuality(missing=float(mask.mean()) if len(mask) else 0.0,
                         blocks=np.column_stack([missing_share, stray_share]).astype(np.float64))


def _leave_one_out(per_block: np.ndarray, ufunc: np.ufunc, identity: float) -> np.ndarray:
    """Per block, `ufunc` reduced over every OTHER block (prefix and suffix accumulations)."""
    before = np.concatenate([[identity], ufunc.accumulate(per_block)[:-1]])
    after = np.concatenate([ufunc.accumulate(per_block[::-1])[::-1][1:], [identity]])
    return ufunc(before, after)


def _outside_rows(values: pd.Series, present: np.ndarray, block: np.ndarray,
                  starts: np.ndarray) -> np.ndarray:
    """Present rows outside the [min, max] of the present values of the other blocks."""
    x = values.to_numpy(dtype=np.float64, na_value=np.nan)
    lows = np.minimum.reduceat(np.where(present, x, np.inf), starts)
    highs = np.maximum.reduceat(np.where(present, x, -np.inf), starts)
    rest_low, rest_high = _leave_one_out(lows, np.minimum, np.inf), _leave_one_out(highs, np.maximum, -np.inf)
    with np.errstate(invalid="ignore"):
        return present & ((x < rest_low[block]) | (x > rest_high[block]))


def _unseen_rows(values: pd.Series, present: np.ndarray, block: np.ndarray,
                 codes: np.ndarray | None) -> np.ndarray:
    """Present rows whose level no other block shows: blocks are contiguous, so a level is unseen by the rest
    of the reference exactly when its first and last rows fall in the same block."""
    codes = np.where(present, pd.factorize(values)[0] if codes is None else codes, -1)
    kept = codes >= 0
    if not kept.any():
        return kept
    levels, kept_codes, kept_blocks = int(codes.max()) + 1, codes[kept], block[kept]
    first = np.full(levels, np.iinfo(np.int64).max)
    last = np.full(levels, -1)
    np.minimum.at(first, kept_codes, kept_blocks)
    np.maximum.at(last, kept_codes, kept_blocks)
    unseen = np.zeros(len(codes), dtype=bool)
    unseen[kept] = (first == last)[kept_codes]
    return unseen


# --- one period's decision -------------------------------------------------------------------------
def period_shares(stats: ColumnStats, values: pd.Series) -> tuple[float, float, int]:
    """The period's missing share, its share of present values outside the reference's range (numerical) or
    of unseen levels (categorical), and its count of present values."""
    mask = missing_mask(values)
    present = ~mask
    count = int(present.sum())
    missing = float(mask.mean()) if len(mask) else 0.0
    if count == 0:
        return missing, 0.0, 0
    if stats.kind == NUM:
        x = values.to_numpy(dtype=np.float64, na_value=np.nan)[present]
        low, high = float(stats.sorted_values[0]), float(stats.sorted_values[-1])
        return missing, float(np.mean((x < low) | (x > high))), count
    known = values[present].isin(stats.levels).to_numpy(dtype=bool)
    return missing, float(1.0 - known.mean()), count


def bound_of(spread: np.ndarray, values: int, settings: DataQualitySettings) -> float:
    """The share a period of `values` values may reach: the larger of the blocks' `quantile` and the share
    a period of that size reaches by chance (binomial at the blocks' mean share, exceeded with probability
    `alpha`), plus max(floor, tolerated share)."""
    from scipy.stats import binom

    if not values:
        return 1.0
    chance = float(binom.ppf(1 - settings.alpha, values, float(spread.mean()))) / values
    spread_bound = max(float(np.quantile(spread, settings.quantile)), chance)
    return min(1.0, spread_bound + max(settings.floor, settings.tolerated_values / values))


def column_rows(stats: ColumnStats, quality: ColumnQuality, values: pd.Series,
                settings: DataQualitySettings) -> list[dict[str, Any]]:
    """One column's two measures: the reference's value (its missing share; the mean block share for outside /
    unseen), the period's, the bound and whether the period passed."""
    missing, stray, present = period_shares(stats, values)
    measures = ((MISSING, quality.missing, missing, quality.blocks[:, 0], len(values)),
                (OUTSIDE if stats.kind == NUM else UNSEEN, float(quality.blocks[:, 1].mean()), stray,
                 quality.blocks[:, 1], present))
    rows = []
    for measure, reference, share, spread, count in measures:
        bound = bound_of(spread, count, settings)
        rows.append({"column": stats.column, "measure": measure, "reference": reference, "period": share,
                     "bound": bound, "passed": bool(share <= bound + _TIE)})
    return rows


def judge_period(stats: ReferenceStats, current: pd.DataFrame,
                 settings: DataQualitySettings) -> dict[str, Any]:
    """The period's data-quality summary (plain values, the check's input): every monitored column's measures
    (`table`), the columns that failed, the worst measure (furthest above its bound) and the verdict; or
    {"skipped": why} when the period cannot be judged (too few rows, a reference of one period, statistics
    without the quality blocks)."""
    quality = stats.quality
    skipped = ("the reference's statistics carry no data-quality blocks" if quality is None
               else f"the reference spans {quality.blocks} period(s): no spread to judge by"
               if quality.blocks < 2
               else f"{len(current)} row(s) in the period, fewer than min_rows={settings.min_rows}"
               if len(current) < settings.min_rows else None)
    if skipped:
        return {"skipped": skipped, "severity": settings.severity}
    table = [row for column, column_stats in stats.columns.items()
             for row in column_rows(column_stats, quality.columns[column], current[column], settings)]
    failed = list(dict.fromkeys(row["column"] for row in table if not row["passed"]))
    worst = max(table, key=lambda row: row["period"] - row["bound"])
    return {"passed": not failed, "severity": settings.severity, "rows": len(current),
            "blocks": quality.blocks, "columns_checked": len(stats.columns), "columns_failed": len(failed),
            "failed_columns": failed, "worst": dict(worst), "table": table}


# --- what the check and the report show --------------------------------------------------------------
def percent(share: float) -> str:
    """A share as the check and the alert write it: "16.7 %"."""
    return f"{100 * share:.1f} %"


def measure_text(row: Mapping[str, Any]) -> str:
    """One measure of the period against its bound, e.g. "humidity missing 16.7 % (bound 4.2 %)"."""
    words = MEASURE_WORDS[row["measure"]]
    return f"{row['column']} {words} {percent(row['period'])} (bound {percent(row['bound'])})"


def quality_table(table: Sequence[Mapping[str, Any]]) -> str:
    """The per-column markdown table: column, measure, reference value, period value, bound, passed."""
    frame = pd.DataFrame([{"column": row["column"], "measure": row["measure"],
                           "reference": percent(row["reference"]), "period": percent(row["period"]),
                           "bound": percent(row["bound"]), "passed": "yes" if row["passed"] else "NO"}
                          for row in table])
    return frame.to_markdown(index=False)


def quality_description(summary: Mapping[str, Any]) -> str:
    """The check's one line: how many columns regressed and the worst measure (the closest one when none)."""
    worst = measure_text(summary["worst"])
    if summary["passed"]:
        return (f"no monitored column regressed ({summary['columns_checked']} columns against the spread of "
                f"the reference's {summary['blocks']} periods); closest: {worst}")
    return (f"{summary['columns_failed']} of {summary['columns_checked']} monitored columns regressed: "
            f"{', '.join(summary['failed_columns'])}; worst: {worst}")


def quality_values(summary: Mapping[str, Any] | None) -> dict[str, Any]:
    """The drift report's data-quality figures: failed columns and the largest missing and outside / unseen
    shares of the period (none when the check is off or did not judge the period)."""
    if summary is None or "skipped" in summary:
        return {}
    table = summary["table"]
    return {
        "data_quality_columns_failed": int(summary["columns_failed"]),
        "data_quality_max_missing": max(float(r["period"]) for r in table if r["measure"] == MISSING),
        "data_quality_max_stray": max(float(r["period"]) for r in table if r["measure"] != MISSING),
    }
