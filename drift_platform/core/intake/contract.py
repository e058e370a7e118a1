"""The data contract a dataset spec implies, applied to a DataFrame before anything is written.

Required columns present (under their source names, `source_names`), types coercible, datetimes parseable and
inside the window, the row key (`key_columns`, else the datetime column) present and unique, the target
non-negative where the spec says so (regression), a classifier's labels among its known classes (`classes`, else
the reference's; `unknown_class: admit` keeps others as new classes, which `unknown_labels` reports), missing values within the spec's `max_missing_share` per feature and
target column; and for an external model (the spec's `prediction_column`), its logged prediction in every row
and its probabilities (`probability_columns`) in [0, 1] and summing to 1 (PROBABILITY_SUM_TOLERANCE), a
predicted class following `unknown_class` as labels do. A violation raises DataContractError naming the rule, the
columns (identifier and source name) and a few offending rows with their count.

Datetimes are read as sources write them: ISO 8601, with or without an offset (`Z`, `+02:00`), or the spec's
`datetime_format` (a strptime format, or epoch seconds/milliseconds); never guessed. A value with an offset is
converted to the monitor's timezone; a value without one is taken as already in it. Either way the platform
holds naive datetimes in that timezone, as the partitions' windows are.

Missing values (the policy): the datetime and key columns may have none. A feature or the target may miss at
most `max_missing_share` of a batch's values (default 0.2); more, an all-empty column included, is an error.
Missing values below that share are kept (NULL in the warehouse); drift is computed on the values present, and
training drops rows with a missing feature or target.

Unknown extra columns are accepted, dropped and reported. Constant columns are accepted and reported
(`constant_columns`): a week of "all clear" weather is normal, a stuck sensor shows as drift.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from drift_platform.core.intake.dataset import DatasetSpec, pandas_dtype

EPOCH_UNITS = {"epoch_seconds": "s", "epoch_milliseconds": "ms"}
# An external model's logged probabilities of a row (every class's, or a binary's two) must sum to 1 within this:
# room for the rounding of a CSV's decimals, not for a missing class or a score that is no probability.
PROBABILITY_SUM_TOLERANCE = 1e-3
# A trailing UTC offset: Z, +02, +0200 or +02:00.
_OFFSET = r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"


class DataContractError(ValueError):
    """A batch (or the reference) breaks the dataset's contract."""


def _examples(df: pd.DataFrame, mask: pd.Series, columns: Sequence[str], limit: int = 3) -> str:
    rows = df.loc[mask, list(columns)].head(limit)  # each value read from its own column, in its own type
    shown = "; ".join(f"row {idx}: " + ", ".join(f"{c}={_plain(rows[c].iloc[pos])!r}" for c in columns)
                      for pos, idx in enumerate(rows.index))
    return f"{int(mask.sum())} row(s), e.g. {shown}"


def _plain(value):
    """A numpy scalar as the Python value it holds (shown as 1.7, not np.float64(1.7))."""
    return value.item() if isinstance(value, np.generic) else value


def parse_datetimes(values: pd.Series, fmt: str | None = None, timezone: str = "UTC") -> pd.Series:
    """Naive datetime64[ns] in `timezone`, NaT where a value is missing or cannot be read.

    `fmt`: None = ISO 8601 (a date, or a date and time, with or without an offset); a strptime format; or
    "epoch_seconds" / "epoch_milliseconds" (numbers since 1970-01-01 UTC)."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        tz = getattr(values.dt, "tz", None)
        return (values.dt.tz_convert(timezone).dt.tz_localize(None) if tz is not None else values).astype(
            "datetime64[ns]")
    if fmt in EPOCH_UNITS:
        numbers = pd.to_numeric(values, errors="coerce")
        parsed = pd.to_datetime(numbers, unit=EPOCH_UNITS[fmt], utc=True, errors="coerce")
        return parsed.dt.tz_convert(timezone).dt.tz_localize(None).astype("datetime64[ns]")
    text = values.astype("string").str.strip()
    style = fmt or "ISO8601"
    with warnings.catch_warnings():  # mixed offsets: pandas warns, and gives objects; handled below
        warnings.simplefilter("ignore", FutureWarning)
        parsed = pd.to_datetime(text, format=style, errors="coerce")
    if not isinstance(parsed.dtype, pd.DatetimeTZDtype) and parsed.dtype != object:
        return parsed.astype("datetime64[ns]")  # no value had an offset: all are local already
    # Some values have an offset (pandas would take the others as UTC): find them, convert them alone.
    aware = has_offset(text)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if (~aware).any():
        out[~aware] = pd.to_datetime(text[~aware], format=style, errors="coerce")
    local = pd.to_datetime(text[aware], format=style, errors="coerce", utc=True).dt.tz_convert(timezone)
    out[aware] = local.dt.tz_localize(None)
    return out


def has_offset(text: pd.Series) -> pd.Series:
    """Which values end with a UTC offset (RE2 through pyarrow: 0.12 s for 1M values, pandas' str.contains 0.74 s)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pa.array(text.to_numpy(dtype=object, na_value=None), type=pa.string())
    found = pc.match_substring_regex(values, _OFFSET).to_numpy(zero_copy_only=False)
    return pd.Series(found, index=text.index).fillna(False).astype(bool)


def unparseable_message(spec: DatasetSpec, column: str, raw: pd.Series, parsed: pd.Series) -> str | None:
    """None when every present value was read; else the contract's message naming rows."""
    bad = parsed.isna() & raw.notna()
    if not bad.any():
        return None
    how = f"datetime_format {spec.datetime_format!r}" if spec.datetime_format else (
        "ISO 8601 (set datetime_format in the spec for another layout, e.g. '%d/%m/%Y' or epoch_seconds)")
    frame = raw.to_frame(column)
    return f"column {spec.described(column)}: unparseable datetime in {_examples(frame, bad, [column])}; expected {how}"


def to_identifiers(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """The frame with its columns under the platform's identifiers (a source name becomes its identifier)."""
    renames = {spec.source_name(c): c for c in spec.columns if spec.source_name(c) != c}
    return df.rename(columns=renames) if renames else df


def read_times(df: pd.DataFrame, spec: DatasetSpec, timezone: str = "UTC") -> pd.DataFrame:
    """The frame (identifiers) with its datetime columns read (`parse_datetimes`); unparseable values raise."""
    out = df.copy(deep=False)
    for column, typ in spec.columns.items():
        if typ == "datetime" and column in out.columns:
            parsed = parse_datetimes(out[column], spec.datetime_format, timezone)
            message = unparseable_message(spec, column, out[column], parsed)
            if message:
                raise DataContractError(message)
            out[column] = parsed
    return out


def conform(
    df: pd.DataFrame,
    spec: DatasetSpec,
    *,
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    timezone: str = "UTC",
    classes: Sequence | None = None,
    withhold_target: bool = False,
) -> pd.DataFrame:
    """Check a frame against the spec's contract and return it with the declared types and column order, rows
    ordered by the key (time first).

    `withhold_target` (a monitor whose labels arrive late, `labels:`): the target column may be absent or empty,
    its values are dropped (the labels land later, core/intake/labels.py applies the target's rules then).

    A classifier's labels must be known classes (the spec's `classes`, else `classes` when given: the
    reference's labels) unless the spec sets `unknown_class: admit`; with neither, labels are not checked.

    Columns may come under their identifiers or their source names. Unknown extra columns are dropped (the caller
    reports them); a violation raises DataContractError naming the rule, the columns and a few offending rows
    with their count. The rules, in order: required columns, datetimes readable, types, datetime and key present,
    key unique, datetimes in the window, missing values within the share, target non-negative (regression) or
    labels among the known classes (classification), then an external model's logged predictions
    (`check_logged_predictions`).
    """
    df = to_identifiers(df, spec)
    if withhold_target:
        df = df.assign(**{spec.target: None})
    require_columns(df, spec)
    df = read_times(df[list(spec.columns)], spec, timezone)
    out = pd.DataFrame(index=df.index)
    for col, typ in spec.columns.items():
        out[col] = typed_column(df, spec, col, typ)
    require_identity(out, df, spec)
    require_unique_key(out, spec)
    if window is not None:
        require_in_window(out, spec, window)
    limit_missing(out, spec, with_target=not withhold_target)
    if not withhold_target:
        require_target_rules(out, spec, classes)
    check_logged_predictions(out, spec, classes)
    order = [spec.datetime_column, *(c for c in spec.key if c != spec.datetime_column)]
    return out.sort_values(order, kind="stable").reset_index(drop=True)


def require_columns(df: pd.DataFrame, spec: DatasetSpec) -> None:
    """Every column the spec declares is present (under its identifier: `to_identifiers` first). An external
    model's logged columns are named as what they are (the spec key that names them)."""
    missing = [c for c in spec.columns if c not in df.columns]
    if not missing:
        return
    logged = logged_columns(spec)
    plain = [spec.described(c) for c in missing if c not in logged]
    parts = [f"missing required column(s) [{', '.join(plain)}]"] if plain else []
    parts += [f"missing {logged[c]}" for c in missing if c in logged]
    raise DataContractError(f"{'; '.join(parts)}; the dataset spec {spec.name!r} declares them")


def logged_columns(spec: DatasetSpec) -> dict[str, str]:
    """An external model's logged columns (spec keys `prediction_column`, `probability_columns`), each with what
    it is as a message says it."""
    if not spec.prediction_column:
        return {}
    column = spec.prediction_column
    found = {column: f"the external model's prediction column {spec.described(column)} (spec key prediction_column)"}
    for label, column in (spec.probability_columns or {}).items():
        found[column] = (f"the external model's probability column {spec.described(column)} of class "
                         f"{spec.label(label)!r} (spec key probability_columns)")
    return found


def typed_column(df: pd.DataFrame, spec: DatasetSpec, col: str, typ: str) -> pd.Series:
    """The column under its declared type: datetimes as read, numbers coerced (a non-numeric value, or a
    fractional one in an int column, raises), anything else as text with None where missing."""
    raw = df[col]
    if typ == "datetime":
        return raw
    if typ not in ("int", "float", "bool"):
        return raw.astype("string").astype(object).where(raw.notna(), None)
    parsed = pd.to_numeric(raw, errors="coerce")
    bad = parsed.isna() & raw.notna()
    if bad.any():
        raise DataContractError(
            f"column {spec.described(col)} must be {typ}: non-numeric value in {_examples(df, bad, [col])}")
    if typ == "int":
        fractional = parsed.notna() & (parsed != parsed.round())
        if fractional.any():
            raise DataContractError(
                f"column {spec.described(col)} must be int: fractional value in "
                f"{_examples(df, fractional, [col])}")
    return parsed.astype(pandas_dtype(typ, bool(parsed.isna().any())))


def require_identity(out: pd.DataFrame, df: pd.DataFrame, spec: DatasetSpec) -> None:
    """No missing datetime or key value (`out` typed; the examples shown from `df`, the values as read)."""
    dt_col = spec.datetime_column
    for col in dict.fromkeys([dt_col, *spec.key]):
        null = out[col].isna()
        if null.any():
            what = "datetime" if col == dt_col else "key value"
            raise DataContractError(f"column {spec.described(col)}: missing {what} in {_examples(df, null, [col])}")


def require_unique_key(out: pd.DataFrame, spec: DatasetSpec) -> None:
    """No two rows share the key (the datetime column when the spec declares no key)."""
    dt_col, key = spec.datetime_column, spec.key
    dup = out.duplicated(subset=key, keep=False)
    if dup.any():
        what = "duplicate datetimes" if key == [dt_col] else f"duplicate key {tuple(key)}"
        raise DataContractError(
            f"{'column ' + spec.described(dt_col) + ': ' if key == [dt_col] else ''}{what} in "
            f"{_examples(out, dup, key)}")


def require_in_window(out: pd.DataFrame, spec: DatasetSpec, window: tuple[pd.Timestamp, pd.Timestamp]) -> None:
    """Every datetime in the half-open window [start, end)."""
    dt_col, (start, end) = spec.datetime_column, window
    outside = (out[dt_col] < start) | (out[dt_col] >= end)
    if outside.any():
        raise DataContractError(
            f"column {spec.described(dt_col)}: datetimes outside the window [{start:%Y-%m-%d}, {end:%Y-%m-%d}) in "
            + _examples(out, outside, [dt_col])
        )


def require_target_rules(out: pd.DataFrame, spec: DatasetSpec, classes: Sequence | None = None) -> None:
    """The target's own rules: non-negative (regression, `target_nonnegative`), labels among the known classes
    (classification, `unknown_class: reject`)."""
    if spec.task == "regression" and spec.target_nonnegative:
        require_nonnegative_target(out, spec)
    if spec.is_classifier and spec.unknown_class == "reject":
        require_known_labels(out, spec, classes)


def limit_missing(out: pd.DataFrame, spec: DatasetSpec, with_target: bool = True) -> None:
    """No feature or target column (the target: unless `with_target` is False) misses more than the spec's
    `max_missing_share` of the values."""
    for col in [*spec.features, *([spec.target] if with_target else [])]:
        missing = out[col].isna()
        share = float(missing.mean()) if len(out) else 0.0
        if share > spec.max_missing_share:
            raise DataContractError(
                f"column {spec.described(col)}: {int(missing.sum())} of {len(out)} values missing ({share:.0%}), "
                f"above max_missing_share {spec.max_missing_share:.0%}; e.g. rows {list(out.index[missing][:3])}"
            )


def require_nonnegative_target(out: pd.DataFrame, spec: DatasetSpec) -> None:
    """No negative target value (applied when the spec sets `target_nonnegative`)."""
    negative = out[spec.target] < 0
    if negative.any():
        raise DataContractError(
            f"target {spec.described(spec.target)} must be non-negative: {_examples(out, negative, [spec.target])}")


def check_logged_predictions(out: pd.DataFrame, spec: DatasetSpec, classes: Sequence | None = None) -> None:
    """An external model's logged outputs (the spec sets `prediction_column`): a prediction in every row; its
    probabilities (`probability_columns`) finite and in [0, 1], and summing to 1 (within
    PROBABILITY_SUM_TOLERANCE) where a row holds every class's (multiclass, or a binary's two; a binary's
    positive column alone is only range-checked); a predicted class among the known classes, as labels are
    (`unknown_class`)."""
    if not spec.prediction_column:
        return
    require_logged_values(out, spec)
    probabilities = list((spec.probability_columns or {}).values())
    if probabilities:
        require_probability_range(out, spec, probabilities)
        if spec.task == "multiclass" or len(probabilities) == 2:
            require_probability_sums(out, spec, probabilities)
    if spec.is_classifier and spec.unknown_class == "reject":
        require_known_labels(out, spec, classes, spec.prediction_column)


def require_logged_values(out: pd.DataFrame, spec: DatasetSpec) -> None:
    """No row without its logged prediction or probabilities (missing, or an infinite number)."""
    named, rows = _flagged({c: out[c].isna() | (np.isinf(out[c]) if out[c].dtype.kind == "f" else False)
                            for c in logged_columns(spec)})
    if named:
        raise DataContractError(
            f"the external model's logged output is missing or infinite in column(s) {_described(spec, named)} "
            f"(spec keys prediction_column / probability_columns): {_examples(out, rows, [*spec.key, *named])}; "
            "every row must carry the model's prediction")


def require_probability_range(out: pd.DataFrame, spec: DatasetSpec, columns: list[str]) -> None:
    """Every logged probability in [0, 1] (missing and infinite ones are caught before)."""
    named, rows = _flagged({c: ~out[c].between(0.0, 1.0) for c in columns})
    if named:
        raise DataContractError(
            f"probability column(s) {_described(spec, named)} (spec key probability_columns) must hold values in "
            f"[0, 1]: {_examples(out, rows, [*spec.key, *named])}")


def require_probability_sums(out: pd.DataFrame, spec: DatasetSpec, columns: list[str]) -> None:
    """Each row's probabilities of every class sum to 1, within PROBABILITY_SUM_TOLERANCE."""
    total = out[columns].sum(axis=1)
    off = (total - 1.0).abs() > PROBABILITY_SUM_TOLERANCE
    if off.any():
        shown = f"sum({' + '.join(columns)})"
        frame = out[spec.key].assign(**{shown: total.round(6)})
        raise DataContractError(
            f"probability columns {_described(spec, columns)} (spec key probability_columns, classes "
            f"{[spec.label(c) for c in spec.probability_columns]}) must sum to 1 in every row (within "
            f"PROBABILITY_SUM_TOLERANCE {PROBABILITY_SUM_TOLERANCE:g}): {_examples(frame, off, [*spec.key, shown])}")


def _flagged(masks: dict[str, pd.Series]) -> tuple[list[str], pd.Series]:
    """The columns with a flagged row (in order), and the rows flagged in any column."""
    named = [c for c, mask in masks.items() if mask.any()]
    rows = pd.concat([masks[c] for c in named], axis=1).any(axis=1) if named else pd.Series(dtype=bool)
    return named, rows


def _described(spec: DatasetSpec, columns: Sequence[str]) -> str:
    return f"[{', '.join(spec.described(c) for c in columns)}]"


def unknown_labels(out: pd.DataFrame, spec: DatasetSpec, classes: Sequence | None = None,
                   column: str | None = None) -> pd.Series:
    """Which rows of a classifier's typed frame hold a label (or, with `column`, a class there: the logged
    prediction) outside the known classes (the spec's `classes`, else `classes`); none when neither is known or
    the task is regression."""
    known = spec.known_classes if spec.known_classes is not None else classes
    if not spec.is_classifier or known is None:
        return pd.Series(False, index=out.index)
    labels = out[column or spec.target]
    return labels.notna() & ~labels.isin([spec.label(c) for c in known])


def require_known_labels(out: pd.DataFrame, spec: DatasetSpec, classes: Sequence | None = None,
                         column: str | None = None) -> None:
    """No label (or, with `column`, no logged predicted class) outside the known classes (applied when the spec
    sets `unknown_class: reject`, the default)."""
    column = column or spec.target
    unknown = unknown_labels(out, spec, classes, column)
    if unknown.any():
        known = spec.known_classes if spec.known_classes is not None else sorted(classes)
        new = sorted(out.loc[unknown, column].unique().tolist(), key=str)
        if column == spec.target:
            what, shown = f"target {spec.described(column)}: label(s)", [column]
        else:
            what, shown = f"prediction_column {spec.described(column)}: predicted class(es)", [*spec.key, column]
        raise DataContractError(
            f"{what} {new} outside the known classes {known} in {_examples(out, unknown, shown)}; declare them in "
            "the spec's `classes`, or set `unknown_class: admit` to keep them as new classes")


def reference_labels_check(reference: pd.DataFrame, batches: dict[str, pd.DataFrame], spec: DatasetSpec
                           ) -> list[str]:
    """A classifier whose spec gives no `classes` takes them from the reference's labels: each period's labels
    are checked against those before it joins the history. `unknown_class: reject` raises DataContractError
    naming the period and the rows; `admit` returns one line per period with new classes (to report)."""
    if not spec.is_classifier or spec.known_classes is not None:
        return []
    classes = sorted(reference[spec.target].dropna().unique().tolist())
    frames = {f"period {period}": batch for period, batch in batches.items()}
    if spec.prediction_column:  # the reference's own logged predictions too: its labels are the classes
        frames = {"the reference": reference, **frames}
    found = []
    for where, frame in frames.items():
        for column in dict.fromkeys([spec.target, spec.prediction_column or spec.target]):
            found += _classes_check(where, frame, spec, classes, column)
    return found


def _classes_check(where: str, frame: pd.DataFrame, spec: DatasetSpec, classes: list, column: str) -> list[str]:
    """One frame's column (the labels, or the logged predicted classes) against the reference's classes: reject
    raises DataContractError naming `where` and the rows; admit returns a line to report, if any is new."""
    if spec.unknown_class == "reject":
        try:
            require_known_labels(frame, spec, classes, column)
        except DataContractError as exc:
            raise DataContractError(f"{where}: {exc} (the classes are the reference's labels)") from None
    new = unknown_labels(frame, spec, classes, column)
    if not new.any():
        return []
    labels = sorted(frame.loc[new, column].unique().tolist(), key=str)
    what = "new class(es)" if column == spec.target else f"new predicted class(es) in {column!r}"
    return [f"{where}: {what} {labels} in {int(new.sum())} row(s), kept (unknown_class: admit; the reference's "
            f"classes are {classes})"]


def extra_columns(df: pd.DataFrame, spec: DatasetSpec) -> list[str]:
    known = {spec.source_name(c) for c in spec.columns} | set(spec.columns)
    return [c for c in df.columns if c not in known]


def cut_window(df: pd.DataFrame, column: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Rows whose `column` (already read as datetimes) falls in the half-open window [start, end)."""
    return df.loc[(df[column] >= start) & (df[column] < end)]


def constant_columns(df: pd.DataFrame, spec: DatasetSpec) -> list[str]:
    """Features with a single distinct value in the batch (reported, not rejected)."""
    if len(df) < 2:
        return []
    return [c for c in spec.features if df[c].nunique(dropna=True) <= 1]
