"""One column's drift: what Evidently tests of it (`clean_column`), the decision recorded for it (`ColumnDrift`),
the constants of Evidently's test choice, and the seeded row sample the HTML report is drawn from.

Shared by drift.py (the batch) and reference_stats.py (the reference's side, computed once); pure numpy/pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Evidently's auto-selection (evidently/legacy/calculations/stattests/registry.py, `_get_default_stattest`):
# up to this many reference rows a p-value test (K-S, chi-square, Z), above it a distance (Wasserstein, J-S).
SMALL_REFERENCE_ROWS = 1000
# A numerical column with at most this many distinct values (reference and current together) is tested like
# a categorical one (chi-square / Z-test on a small reference, Jensen-Shannon on a large one).
FEW_VALUES = 5


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    method: str
    score: float
    threshold: float
    drifted: bool


def clean_column(values: pd.Series, column: str, side: str) -> pd.Series:
    """What Evidently tests: the column without NaN, None and +-inf (`replace([-inf, inf], nan).dropna()`).

    The same operation, skipped when it provably changes nothing (a finite float column; strings or integers
    without nulls), since on an object column of 1M rows it alone costs ~0.2 s."""
    if pd.api.types.is_float_dtype(values.dtype) and isinstance(values.dtype, np.dtype):
        clean = bool(np.isfinite(values.to_numpy()).all())
    elif (
        values.dtype == object
        or pd.api.types.is_integer_dtype(values.dtype)
        or pd.api.types.is_bool_dtype(values.dtype)
    ):
        clean = (
            pd.api.types.infer_dtype(values, skipna=False) in ("string", "integer", "boolean")
            and not values.hasnans
        )
    else:
        clean = False
    if not clean:
        values = values.replace([-np.inf, np.inf], np.nan).dropna()
    if values.empty:
        raise ValueError(
            f"An empty column '{column}' was provided for drift calculation in the {side} dataset."
        )
    return values


def seeded_sample(frame: pd.DataFrame, columns: Sequence[str], rows: int, seed: int) -> pd.DataFrame:
    """At most `rows` rows of `columns`, chosen with a seeded generator and kept in their original order."""
    if len(frame) <= rows:
        return frame[list(columns)].reset_index(drop=True)
    positions = np.sort(np.random.default_rng(seed).choice(len(frame), size=rows, replace=False))
    return frame[list(columns)].iloc[positions].reset_index(drop=True)
