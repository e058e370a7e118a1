"""Labels that arrive after the features (a monitor's `labels:`), no Dagster: reading a period's labels, checking
them, comparing them with the labels already landed, and filling the landed ones into a batch.

Every landing is kept in the ledger table `<monitor>_labels` (`labels_layout`): the key columns and the datetime
column, the target, `revision` (0 = the first landing of the key's label), `landed_at` (UTC) and `run_id`;
primary key (key..., revision). A key's label is its latest revision (`latest_labels`).

The rules (LabelsError, a DataContractError, naming the rows and the values):
- a labels file holds the key columns, the datetime column and the target (under their identifiers or source
  names); rows without a label are not labels (an `in_source` source fills them in later);
- the target's rules of the contract (its type, non-negative, known classes) apply to the labels;
- two different labels for one key in one file are an error; the same label twice is one label;
- a label for a key the period's history rows lack is an error;
- a label that differs from the landed one is an error unless `revise` (then: a new revision).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from drift_platform.core.intake.contract import (
    DataContractError,
    _examples,
    _plain,
    cut_window,
    read_times,
    require_identity,
    require_in_window,
    require_target_rules,
    to_identifiers,
    typed_column,
)
from drift_platform.core.intake.dataset import DatasetSpec, TableLayout

REVISION, LANDED_AT, RUN_ID = "revision", "landed_at", "run_id"
LANDED = "landed_label"  # the label already landed, beside a new one that differs


class LabelsError(DataContractError):
    """A period's labels cannot land: the rule, the rows and their values are in the message."""


def label_columns(spec: DatasetSpec) -> list[str]:
    """The columns of a label: the datetime column, the key columns, the target."""
    return list(dict.fromkeys([spec.datetime_column, *spec.key, spec.target]))


def labels_layout(spec: DatasetSpec) -> TableLayout:
    """The ledger table: a label's columns, then revision, landed_at and run_id; primary key (key..., revision)."""
    columns = {c: spec.columns[c] for c in label_columns(spec)}
    columns.update({REVISION: "int", LANDED_AT: "datetime", RUN_ID: "str"})
    return TableLayout(columns=columns, time_column=spec.datetime_column, key_columns=(*spec.key, REVISION))


def read_labels(raw: pd.DataFrame, spec: DatasetSpec, window: tuple[pd.Timestamp, pd.Timestamp], *,
                whole_file: bool = False, timezone: str = "UTC", classes: Sequence | None = None) -> pd.DataFrame:
    """The labels of the window from a labels file as read (strings): its rows in [start, end) (with
    `whole_file`, every row must be in it), typed, rows without a label left out, the target's rules checked."""
    raw = to_identifiers(raw, spec)
    needed = label_columns(spec)
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise LabelsError(f"the labels lack column(s) [{', '.join(spec.described(c) for c in missing)}]: a label "
                          f"needs the key columns, the datetime column and the target of the spec {spec.name!r}")
    try:
        frame = read_times(raw[needed], spec, timezone)
        if not whole_file:
            frame = cut_window(frame, spec.datetime_column, *window)
        typed = pd.DataFrame({c: typed_column(frame, spec, c, spec.columns[c]) for c in needed}, index=frame.index)
        require_identity(typed, frame, spec)
        if whole_file:
            require_in_window(typed, spec, window)
        typed = typed[typed[spec.target].notna()]
        require_target_rules(typed, spec, classes)
    except LabelsError:
        raise
    except DataContractError as exc:
        raise LabelsError(str(exc)) from None
    return typed


def one_label_per_key(labels: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, int]:
    """The labels with each key once, and how many repeats (the same label again) were dropped; two different
    labels for one key raise LabelsError naming the rows."""
    key, target = spec.key, spec.target
    repeated = labels.duplicated(subset=key, keep=False)
    if repeated.any():
        values = labels[repeated].groupby(key)[target].transform("nunique")
        conflicting = pd.Series(False, index=labels.index)
        conflicting[values.index] = values > 1
        if conflicting.any():
            raise LabelsError(f"conflicting labels: one key has different labels in the same file in "
                              f"{_examples(labels, conflicting, [*key, target], limit=6)}")
    once = labels.drop_duplicates(subset=key)
    return once, len(labels) - len(once)


def require_known_keys(labels: pd.DataFrame, rows: pd.DataFrame, spec: DatasetSpec, period: str) -> None:
    """Every label's key is among the period's history rows (`rows`); else LabelsError naming them."""
    key = spec.key
    known = pd.MultiIndex.from_frame(rows[key]) if len(rows) else None
    unknown = pd.Series(True if known is None else ~pd.MultiIndex.from_frame(labels[key]).isin(known),
                        index=labels.index)
    if unknown.any():
        raise LabelsError(f"label(s) for key(s) {tuple(key)} not in the history rows of {period}: "
                          f"{_examples(labels, unknown, [*key, spec.target], limit=6)}")


def latest_labels(ledger: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Each key's latest revision of the ledger's rows."""
    ordered = ledger.sort_values(REVISION, kind="stable")
    return ordered.drop_duplicates(subset=spec.key, keep="last").reset_index(drop=True)


@dataclass(frozen=True)
class LabelChanges:
    """A period's labels against the landed ones: the ledger rows to append (new labels at revision 0, revised
    ones at the next revision), how many are new, unchanged and revised, and the revised ones (key, landed label,
    new label, revision)."""

    appended: pd.DataFrame
    new: int
    unchanged: int
    revised: pd.DataFrame


def compare_labels(labels: pd.DataFrame, landed: pd.DataFrame, spec: DatasetSpec, revise: bool = False
                   ) -> LabelChanges:
    """The period's labels (one per key) against the latest landed ones (`latest_labels`). A label differing from
    the landed one raises LabelsError naming the rows, their landed and new values, unless `revise`."""
    key, target = spec.key, spec.target
    before = landed[[*key, target, REVISION]].rename(columns={target: LANDED})
    merged = labels.reset_index(names="_row").merge(before, on=key, how="left").set_index("_row")
    fresh = merged[REVISION].isna()
    same = ~fresh & (merged[target] == merged[LANDED]).fillna(False).astype(bool)
    differing = ~fresh & ~same
    if differing.any() and not revise:
        shown = [f"row {row}: " + ", ".join(f"{c}={_plain(merged.at[row, c])!r}" for c in key)
                 + f": landed {_plain(merged.at[row, LANDED])!r}, new {_plain(merged.at[row, target])!r}"
                 for row in merged.index[differing][:6]]
        raise LabelsError(f"{int(differing.sum())} label(s) differ from the landed ones: {'; '.join(shown)}. Set "
                          "revise: true in the run config to record a revision")
    revision = merged[REVISION].where(~fresh, -1).astype(int) + 1
    appended = merged.assign(**{REVISION: revision})[fresh | differing]
    revised = merged.loc[differing, [*key, LANDED, target]].assign(**{REVISION: revision[differing]})
    return LabelChanges(appended=appended[[*label_columns(spec), REVISION]].reset_index(drop=True),
                        new=int(fresh.sum()), unchanged=int(same.sum()), revised=revised.reset_index(drop=True))


def ledger_rows(appended: pd.DataFrame, spec: DatasetSpec, landed_at: pd.Timestamp, run_id: str) -> pd.DataFrame:
    """The ledger's rows of a landing (`labels_layout`'s columns): the labels with their landing's time and run."""
    return appended.assign(**{LANDED_AT: landed_at, RUN_ID: run_id})[list(labels_layout(spec).columns)]


def fill_labels(batch: pd.DataFrame, landed: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """The batch with its target taken from the landed labels (`latest_labels`) by key; a row without one keeps
    no label (pending)."""
    key, target = spec.key, spec.target
    if landed.empty:
        return batch
    found = batch[key].merge(landed[[*key, target]], on=key, how="left")[target]
    out = batch.copy()
    values = found.set_axis(batch.index)
    out[target] = values.astype(batch[target].dtype) if values.isna().any() else values
    return out


def empty_ledger(spec: DatasetSpec) -> pd.DataFrame:
    """A ledger without rows, typed as `labels_layout` (no label has landed yet)."""
    from drift_platform.core.intake.dataset import pandas_dtype

    return pd.DataFrame({c: pd.Series(dtype=pandas_dtype(t, False)) for c, t in labels_layout(spec).columns.items()})


def labelled_reference(reference: pd.DataFrame, raw: pd.DataFrame, spec: DatasetSpec,
                       window: tuple[pd.Timestamp, pd.Timestamp], timezone: str = "UTC") -> pd.DataFrame:
    """The reference window's rows (their target withheld) with their labels joined by key from the labels
    source as read (`raw`); the target's rules of the contract, missing share included, then apply as to any
    reference (LabelsError naming the rows)."""
    from drift_platform.core.intake.contract import limit_missing

    labels, _ = one_label_per_key(read_labels(raw, spec, window, timezone=timezone), spec)
    out = fill_labels(reference, labels, spec)
    try:
        limit_missing(out, spec)
        require_target_rules(out, spec)
    except DataContractError as exc:
        raise LabelsError(f"the reference window's labels (joined by key from labels.source): {exc}") from None
    return out
