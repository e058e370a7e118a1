"""The data contract checked on an Arrow table: the frame `contract.conform` gives, with its rules run by
pyarrow.compute on the Arrow columns.

`conform_table(table, spec, ...)` returns exactly `contract.conform(table.to_pandas(), ...)`: the spec's columns
in its order, in `dataset.pandas_dtype`s, rows sorted by the key (time first), the index reset. Before the rules,
as `source.load_window` does: the datetime column present, the window not empty and within `max_rows`. The rules,
in `conform`'s order: datetime and key present, key unique, datetimes in the window, missing values within
`max_missing_share`, a non-negative target (regression) or known labels (classification), an external model's
logged predictions present, probabilities in [0, 1] summing to 1. Checking them costs a few passes over the
columns; the table becomes pandas once, at the end.

Where a rule is broken, or the table is not in the spec's types (a column of text where the spec says int, a
datetime with a timezone), `contract.conform` runs on the pandas frame instead, and its message is the one
raised: the row labels are the table's pandas index (a CSV's row numbers, `csv_arrow.INDEX_COLUMN`) and missing
text shows as pandas' reading of a CSV shows it (nan). A sum of probabilities within a rounding of the tolerance
is left to `conform` too.

pyarrow and pandas are imported inside the functions: the code location may import this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drift_platform.core.intake.dataset import DatasetSpec, arrow_type

_SUM_MARGIN = 1e-9  # sums this close to the tolerance are decided by contract.conform's own arithmetic


def conform_table(
    table: Any,
    spec: DatasetSpec,
    *,
    window: tuple[Any, Any] | None = None,
    timezone: str = "UTC",
    classes: Sequence | None = None,
    withhold_target: bool = False,
    as_arrow: bool = False,
):
    """`contract.conform(table.to_pandas(), spec, ...)`'s frame, the rules checked on Arrow (module docstring).

    With `window`, first the window's own errors as `source.load_window` raises them: no datetime column, no
    row, more than `max_rows`. `as_arrow`: the checked table itself (the spec's columns and Arrow types, in key
    order), for a caller that converts it later (`to_frame`) or not at all."""
    from drift_platform.core.intake.contract import conform
    from drift_platform.core.intake.source import require_rows, require_time_column

    if window is not None:
        require_time_column(table.column_names, spec)
        require_rows(table.num_rows, spec, *window)
    typed = spec_table(table, spec, withhold_target)
    if typed is None or broken_rule(typed, spec, window, classes, withhold_target):
        return conform(
            pandas_frame(table),
            spec,
            window=window,
            timezone=timezone,
            classes=classes,
            withhold_target=withhold_target,
        )
    del table  # from here the rows are held once: `owned` alone, freed column by column as pandas takes them
    owned = [in_key_order(typed, spec)]
    del typed
    return owned.pop() if as_arrow else to_frame(owned, spec)


def spec_table(table: Any, spec: DatasetSpec, withhold_target: bool):
    """The spec's columns in its order and Arrow types (numbers cast among numbers, text among text, exactly),
    a withheld target empty; None when a column is absent or holds another kind of value."""
    import pyarrow as pa
    import pyarrow.types as t

    columns = []
    for column, typ in spec.columns.items():
        target = arrow_type(typ)
        if withhold_target and column == spec.target:
            columns.append(pa.nulls(table.num_rows, target))
            continue
        if column not in table.column_names:
            return None
        values = table.column(column)
        if typ == "datetime":
            if not t.is_timestamp(values.type) or values.type.tz is not None or beyond_pandas(values):
                return None
        elif values.type != target:
            numbers = [_is_number(values.type), _is_number(target)]
            texts = [_is_text(values.type), _is_text(target)]
            if not (all(numbers) or all(texts)):
                return None
            try:
                values = values.cast(target, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
        columns.append(values)
    return pa.table(columns, names=list(spec.columns))


def _is_number(typ: Any) -> bool:
    import pyarrow.types as t

    return t.is_integer(typ) or t.is_floating(typ) or t.is_boolean(typ)


def _is_text(typ: Any) -> bool:
    import pyarrow.types as t

    return t.is_string(typ) or t.is_large_string(typ) or t.is_string_view(typ)


def beyond_pandas(values: Any) -> bool:
    """Whether a timestamp column holds a value datetime64[ns] cannot (before 1677 or after 2262)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    bounds = pc.min_max(values)
    if not bounds["min"].is_valid:
        return False
    low, high = (pa.scalar(pd.Timestamp(b), type=values.type) for b in (pd.Timestamp.min, pd.Timestamp.max))
    return pc.less(bounds["min"], low).as_py() or pc.greater(bounds["max"], high).as_py()


def pandas_frame(table: Any):
    """The table as `contract.conform` is given it on the pandas path: indexed by the table's pandas index (a
    CSV's row numbers), missing text as nan (as pandas reads a CSV's empty fields)."""
    import numpy as np

    frame = table.to_pandas(coerce_temporal_nanoseconds=True)
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].where(frame[column].notna(), np.nan)
    return frame


def broken_rule(
    typed: Any,
    spec: DatasetSpec,
    window: tuple[Any, Any] | None,
    classes: Sequence | None,
    withhold_target: bool,
) -> bool:
    """Whether any rule of the contract is broken (`conform`'s order; which one, `conform` says)."""
    return (
        missing_identity(typed, spec)
        or repeated_key(typed, spec)
        or (window is not None and outside_window(typed, spec, window))
        or too_many_missing(typed, spec, with_target=not withhold_target)
        or (not withhold_target and target_broken(typed, spec, classes))
        or logged_broken(typed, spec, classes)
    )


def _missing(values: Any) -> int:
    """Missing values as pandas counts them: nulls, and NaN in a float column."""
    import pyarrow.compute as pc
    import pyarrow.types as t

    if not t.is_floating(values.type):
        return values.null_count
    return values.null_count + (pc.sum(pc.is_nan(values)).as_py() or 0)


def missing_identity(typed: Any, spec: DatasetSpec) -> bool:
    return any(_missing(typed.column(column)) for column in dict.fromkeys([spec.datetime_column, *spec.key]))


def repeated_key(typed: Any, spec: DatasetSpec) -> bool:
    """Whether two rows share the key: one column strictly increasing needs no hashing."""
    import pyarrow.compute as pc

    key, rows = spec.key, typed.num_rows
    if rows < 2:
        return False
    if len(key) == 1:
        values = typed.column(key[0])
        if pc.all(pc.less(values.slice(0, rows - 1), values.slice(1))).as_py():
            return False
        return pc.count_distinct(values).as_py() != rows
    return typed.group_by(key, use_threads=False).aggregate([]).num_rows != rows


def outside_window(typed: Any, spec: DatasetSpec, window: tuple[Any, Any]) -> bool:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    values = typed.column(spec.datetime_column)
    bounds = pc.min_max(values)
    start, end = (pa.scalar(pd.Timestamp(b), type=values.type) for b in window)
    return bool(pc.less(bounds["min"], start).as_py() or pc.greater_equal(bounds["max"], end).as_py())


def too_many_missing(typed: Any, spec: DatasetSpec, with_target: bool) -> bool:
    rows = typed.num_rows
    for column in [*spec.features, *([spec.target] if with_target else [])]:
        share = _missing(typed.column(column)) / rows if rows else 0.0
        if share > spec.max_missing_share:
            return True
    return False


def target_broken(typed: Any, spec: DatasetSpec, classes: Sequence | None) -> bool:
    """A negative target (regression, `target_nonnegative`), or a label outside the known classes."""
    import pyarrow.compute as pc

    nonnegative = spec.task == "regression" and spec.target_nonnegative
    if nonnegative and pc.any(pc.less(typed.column(spec.target), 0)).as_py():
        return True
    return (
        spec.is_classifier
        and spec.unknown_class == "reject"
        and unknown_label(typed, spec, classes, spec.target)
    )


def unknown_label(typed: Any, spec: DatasetSpec, classes: Sequence | None, column: str) -> bool:
    """Whether a present value of `column` lies outside the known classes (the spec's, else `classes`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    known = spec.known_classes if spec.known_classes is not None else classes
    if not spec.is_classifier or known is None:
        return False
    values = pc.drop_null(typed.column(column))
    try:
        value_set = pa.array([spec.label(c) for c in known], type=values.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return True
    return bool(pc.any(pc.invert(pc.is_in(values, value_set=value_set))).as_py())


def logged_broken(typed: Any, spec: DatasetSpec, classes: Sequence | None) -> bool:
    """An external model's logged outputs (`contract.check_logged_predictions`): present and finite, the
    probabilities in [0, 1] and summing to 1, the predicted classes known."""
    import pyarrow.compute as pc
    import pyarrow.types as t

    from drift_platform.core.intake.contract import PROBABILITY_SUM_TOLERANCE, logged_columns

    if not spec.prediction_column:
        return False
    for column in logged_columns(spec):
        values = typed.column(column)
        if values.null_count or (
            t.is_floating(values.type) and pc.all(pc.is_finite(values)).as_py() is False
        ):
            return True
    probabilities = [typed.column(c) for c in (spec.probability_columns or {}).values()]
    if any(pc.any(pc.or_(pc.less(p, 0.0), pc.greater(p, 1.0))).as_py() for p in probabilities):
        return True
    if probabilities and (spec.task == "multiclass" or len(probabilities) == 2):
        total = probabilities[0]
        for values in probabilities[1:]:
            total = pc.add(total, values)
        off = pc.abs(pc.subtract(total, 1.0))
        if pc.any(pc.greater(off, PROBABILITY_SUM_TOLERANCE - _SUM_MARGIN)).as_py():
            return True
    rejecting = spec.is_classifier and spec.unknown_class == "reject"
    return rejecting and unknown_label(typed, spec, classes, spec.prediction_column)


def in_key_order(typed: Any, spec: DatasetSpec):
    """The rows sorted by the datetime, then the key (a stable sort; none when they are in order already)."""
    import pyarrow.compute as pc

    order = [spec.datetime_column, *(c for c in spec.key if c != spec.datetime_column)]
    if is_sorted(typed, order):
        return typed
    return typed.take(pc.sort_indices(typed, sort_keys=[(c, "ascending") for c in order]))


def is_sorted(typed: Any, order: list[str]) -> bool:
    """Whether each row comes at or after the one before it, by `order`'s columns (no nulls among them)."""
    import pyarrow.compute as pc

    rows = typed.num_rows
    if rows < 2:
        return True
    ahead = ties = None
    for column in order:
        values = typed.column(column)
        before, after = values.slice(0, rows - 1), values.slice(1)
        less = pc.less(before, after) if ties is None else pc.and_(ties, pc.less(before, after))
        ahead = less if ahead is None else pc.or_(ahead, less)
        ties = pc.equal(before, after) if ties is None else pc.and_(ties, pc.equal(before, after))
    return bool(pc.all(pc.or_(ahead, ties)).as_py())


def to_frame(owned: list, spec: DatasetSpec):
    """The checked table (popped from `owned`, its only holder) as `conform`'s frame: `dataset.pandas_dtype`s (an
    int column with missing values as Int64), datetimes as datetime64[ns], text as objects with None, a
    RangeIndex. The conversion destroys the table as it goes (`self_destruct`), so a large period is not held
    twice (Arrow and pandas) at its peak."""
    import pandas as pd
    import pyarrow as pa

    typed = owned.pop()
    nullable = {column: typed.column(column).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
                for column, typ in spec.columns.items()
                if typ in ("int", "bool") and typed.column(column).null_count}
    frame = typed.to_pandas(coerce_temporal_nanoseconds=True, split_blocks=True, self_destruct=True)
    del typed
    for column, values in nullable.items():
        frame[column] = values
    return frame
