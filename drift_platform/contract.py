"""The data contract a dataset spec implies, applied to a DataFrame before anything is written.

Required columns present, types coercible, datetimes parseable, unique and inside the window, target
non-negative where the spec says so, missing values within the spec's `max_missing_share` per feature and
target column. A violation raises DataContractError naming the rule, the columns and a few offending rows
with their count.

Missing values (the policy): the datetime column may have none. A feature or the target may miss at most
`max_missing_share` of a batch's values (default 0.2); more, an all-empty column included, is an error. Missing
values below that share are kept (NULL in the warehouse); drift is computed on the values present, and training
drops rows with a missing feature or target.

Unknown extra columns are accepted, dropped and reported. Constant columns are accepted and reported
(`constant_columns`): a week of "all clear" weather is normal, a stuck sensor shows as drift.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from drift_platform.dataset import DatasetSpec, pandas_dtype


class DataContractError(ValueError):
    """A batch (or the reference) breaks the dataset's contract."""


def _examples(df: pd.DataFrame, mask: pd.Series, columns: Sequence[str], limit: int = 3) -> str:
    rows = df.loc[mask, list(columns)].head(limit)
    shown = "; ".join(f"row {idx}: " + ", ".join(f"{c}={row[c]!r}" for c in columns) for idx, row in rows.iterrows())
    return f"{int(mask.sum())} row(s), e.g. {shown}"


def conform(df: pd.DataFrame, spec: DatasetSpec, *, window: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> pd.DataFrame:
    """Check a frame against the spec's contract and return it with the declared types and column order.

    Unknown extra columns are dropped (the caller reports them); a violation raises DataContractError naming
    the rule, the columns and a few offending rows with their count.
    """
    missing = [c for c in spec.columns if c not in df.columns]
    if missing:
        raise DataContractError(f"missing required column(s) {missing}; the dataset spec {spec.name!r} declares them")
    out = pd.DataFrame(index=df.index)
    for col, typ in spec.columns.items():
        raw = df[col]
        if typ == "datetime":
            parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
            bad = parsed.isna() & raw.notna()
            if bad.any():
                raise DataContractError(f"column {col!r}: unparseable datetime in {_examples(df, bad, [col])}")
            if parsed.dt.tz is not None:
                parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
            out[col] = parsed.astype(pandas_dtype(typ, False))
        elif typ in ("int", "float", "bool"):
            parsed = pd.to_numeric(raw, errors="coerce")
            bad = parsed.isna() & raw.notna()
            if bad.any():
                raise DataContractError(f"column {col!r} must be {typ}: non-numeric value in {_examples(df, bad, [col])}")
            if typ == "int":
                fractional = parsed.notna() & (parsed != parsed.round())
                if fractional.any():
                    raise DataContractError(f"column {col!r} must be int: fractional value in {_examples(df, fractional, [col])}")
            out[col] = parsed.astype(pandas_dtype(typ, bool(parsed.isna().any())))
        else:
            out[col] = raw.astype("string").astype(object).where(raw.notna(), None)

    dt_col = spec.datetime_column
    null_dt = out[dt_col].isna()
    if null_dt.any():
        raise DataContractError(f"column {dt_col!r}: missing datetime in {_examples(df, null_dt, [dt_col])}")
    dup = out[dt_col].duplicated(keep=False)
    if dup.any():
        raise DataContractError(f"column {dt_col!r}: duplicate datetimes in {_examples(out, dup, [dt_col])}")
    if window is not None:
        start, end = window
        outside = (out[dt_col] < start) | (out[dt_col] >= end)
        if outside.any():
            raise DataContractError(
                f"column {dt_col!r}: datetimes outside the window [{start:%Y-%m-%d}, {end:%Y-%m-%d}) in "
                + _examples(out, outside, [dt_col])
            )
    for col in [*spec.features, spec.target]:
        missing = out[col].isna()
        share = float(missing.mean()) if len(out) else 0.0
        if share > spec.max_missing_share:
            raise DataContractError(
                f"column {col!r}: {int(missing.sum())} of {len(out)} values missing ({share:.0%}), above "
                f"max_missing_share {spec.max_missing_share:.0%}; e.g. rows {list(out.index[missing][:3])}"
            )
    if spec.target_nonnegative:
        negative = out[spec.target] < 0
        if negative.any():
            raise DataContractError(f"target {spec.target!r} must be non-negative: {_examples(out, negative, [spec.target])}")
    return out.sort_values(dt_col, kind="stable").reset_index(drop=True)


def extra_columns(df: pd.DataFrame, spec: DatasetSpec) -> list[str]:
    return [c for c in df.columns if c not in spec.columns]


def cut_window(df: pd.DataFrame, column: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Rows whose `column` falls in the half-open window [start, end)."""
    when = pd.to_datetime(df[column], errors="coerce", format="mixed")
    return df.loc[(when >= start) & (when < end)]


def constant_columns(df: pd.DataFrame, spec: DatasetSpec) -> list[str]:
    """Features with a single distinct value in the batch (reported, not rejected)."""
    if len(df) < 2:
        return []
    return [c for c in spec.features if df[c].nunique(dropna=True) <= 1]
