"""Multivariate drift: can a classifier tell the reference's rows from the current period's rows?

The per-column tests (drift.py) look at one marginal at a time, so they cannot see a change in how columns move
together (a correlation that flips while each column keeps its distribution), and at a few rows a period they
see little at all. This test trains a "domain classifier" on the monitored columns to separate reference rows
(label 0) from current rows (label 1) and measures its cross-validated ROC AUC: 0.5 means the two are
indistinguishable, 1 means perfectly separable.

- Features: numerical columns imputed with the reference's median (plus a missing-value indicator where values
  are missing) and standardized with the reference's mean and standard deviation, with their squares and
  pairwise products (a changed variance shows in the squares, a changed correlation in the products, both
  visible to a linear model); categorical columns one-hot over the levels of both sides (at most `MAX_LEVELS`,
  the most frequent; the rest share one column; missing is its own level). Above `MAX_EXPANDED_NUMERICAL`
  numerical columns the products would be too many: a gradient-boosted tree model on the raw columns instead.
- Score: the mean ROC AUC over stratified, shuffled, seeded folds (`folds`, at most the smaller side's rows) of
  an L2-regularized logistic regression with balanced class weights. A side with more than `max_rows_per_side`
  rows is subsampled with a seeded generator first; the result says so.
- Threshold: not a fixed number. The AUC a classifier reaches on two samples of ONE distribution depends on the
  sizes, the columns and the model (with 7 rows a period it is far from 0.5). `null_aucs` measures it on the
  reference alone: `null_draws` times, a contiguous block of the current's size (the reference's rows in their
  order: time, then key) is scored against the rest of the reference with the same pipeline. A real period is
  such a block: rows close in time are alike (weather, season, a weekend's fixtures), so a period differs from
  the rest of the reference more than rows drawn at random from it would, and a null of random draws flagged
  quiet periods far more often than alpha (half the days of the grid_load sample). Where rows are independent
  the two nulls agree. Where the reference's time cuts it into whole periods (`whole_periods`: event data at
  its period breaks, an evenly spaced series in runs of the period's length), the null is what those periods
  say about one more: each period's AUC against the rest, and the Student-t predictive distribution of a new
  period's AUC from those k (`_period_null`). Sliding blocks overlap: their rows - block + 1 distinct AUCs
  hold about k = rows / block periods' worth of information, and their empirical 95 % quantile, the largest
  few of them, is exceeded by a new period more often than 5 % when k is small (bike_sharing, a week against
  the other 3 of its 28 days: 10.3 % of 78 weeks); the predictive distribution is exact for k normal,
  exchangeable AUCs (bike_sharing: 7.7 %). The threshold is the (1 - alpha)
  quantile of those AUCs (the larger, quantile by quantile, with random draws: see `null_aucs`); the p-value is
  (1 + #null AUCs >= observed) / (1 + draws). The null depends only on the reference, the current's row count
  and the settings: callers cache it per (reference version, block rows) and pass it in.
- Which columns mattered: the final model's absolute coefficients (on standardized features) summed back to
  their source columns, a square to its column, a product to both of its columns, a one-hot level to its
  column, as shares of the total; permutation importance (AUC lost) for the tree model.

Pure functions over DataFrames; numpy and pandas at import, scikit-learn and scipy inside the functions.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from drift_platform.core.settings import MultivariateSettings

# Up to this many numerical columns: logistic regression on values, squares and pairwise products (30 columns
# give 30 + 30 + 435 features); beyond, a gradient-boosted tree model on the raw columns.
MAX_EXPANDED_NUMERICAL = 30
# Categorical levels one-hot encoded per column (the most frequent); the others share one "other" column.
MAX_LEVELS = 100
# The tree model's native categorical support takes at most 255 bins per column.
TREE_MAX_LEVELS = 250
# The tree model: boosting rounds (of at most 15 leaves). One fit on 10,000 rows x 31 columns took ~1.7 s on one
# core of a 2-core machine, so at 5,000 rows a side its null (null_draws x folds fits) takes ~15 min: cache it.
TREE_ITERATIONS = 50
TOP_COLUMNS = 5
LOGISTIC_C = 1.0
# A reference's time gaps are its period breaks (event data: whole periods, `reference_periods`) when each of the
# largest round(rows / block) - 1 gaps is at least this many times every other gap.
PERIOD_GAP_RATIO = 2.0
# A time series is evenly spaced when each step is its usual (median) step within this share (daily rows kept in
# UTC step 23 or 25 hours across a change of summer time: 4 %), or a hole of missing rows.
EVEN_STEP_TOLERANCE = 0.1


@dataclass(frozen=True)
class MultivariateDrift:
    auc: float  # cross-validated ROC AUC of the domain classifier, reference vs current
    threshold: float  # (1 - alpha) quantile of the null AUCs; drifted = auc > threshold
    p_value: float  # (1 + #null AUCs >= auc) / (1 + draws)
    drifted: bool
    reference_rows: int
    current_rows: int
    rows_used: tuple[int, int]  # (reference, current) after subsampling
    top_columns: list[tuple[str, float]]  # the columns the classifier leaned on most, with their weight
    null_aucs: tuple[float, ...]
    method: str  # the model, features, folds, null and any subsampling, in words
    null_method: str = ""  # how the null's blocks were drawn (null_method()), in words

    @property
    def judged(self) -> bool:
        """False when the reference's own periods are told from the rest with a perfect AUC at the threshold's
        quantile (a reference of few, unlike periods, e.g. 28 rows in 7-row weeks of changing weather): no AUC
        can exceed a threshold of 1, so the check cannot judge, and says so rather than pass in silence."""
        return self.threshold < 1.0

    def summary(self) -> dict[str, Any]:
        """A small digest of plain JSON types for checks and sensors (the null as its size and quantiles)."""
        null = np.asarray(self.null_aucs, dtype=float)
        return {
            "drifted": self.drifted,
            "auc": self.auc,
            "threshold": self.threshold,
            "p_value": self.p_value,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "rows_used": list(self.rows_used),
            "top_columns": {name: weight for name, weight in self.top_columns},
            "null_draws": int(null.size),
            "null_median": float(np.median(null)),
            "null_max": float(null.max()),
            "method": self.method,
            "null_method": self.null_method,
            "judged": self.judged,
        }


# --- encoding -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Encoding:
    """How raw columns become features: the reference's statistics and the categorical levels."""

    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    fill: np.ndarray  # reference median per numerical column
    center: np.ndarray  # reference mean (after imputation)
    scale: np.ndarray  # reference standard deviation (1 where constant)
    flagged: tuple[bool, ...]  # numerical columns with missing values somewhere: a 0/1 indicator each
    levels: tuple[pd.Index, ...]  # kept levels per categorical column
    other: tuple[bool, ...]  # an "other level" column per categorical column
    missing: tuple[bool, ...]  # a "missing" column per categorical column
    trees: bool  # gradient-boosted trees on raw columns instead of the expanded logistic regression

    def describe(self) -> str:
        if self.trees:
            return (
                f"gradient-boosted trees (balanced) on {len(self.numerical)} numerical and "
                f"{len(self.categorical)} categorical raw columns"
            )
        parts = []
        k = len(self.numerical)
        if k:
            parts.append(
                f"{k} standardized numerical column(s) with squares and {k * (k - 1) // 2} pairwise "
                "product(s)"
                + (f", {sum(self.flagged)} missing-value indicator(s)" if any(self.flagged) else "")
            )
        if self.categorical:
            width = sum(
                len(lv) + o + m for lv, o, m in zip(self.levels, self.other, self.missing, strict=True)
            )
            parts.append(f"{len(self.categorical)} categorical column(s) one-hot ({width} levels)")
        return f"logistic regression (L2, C={LOGISTIC_C}, balanced) on " + " and ".join(parts)


def _numeric_block(frame: pd.DataFrame, columns: Sequence[str], side: str) -> np.ndarray:
    for column in columns:
        dtype = frame[column].dtype
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            raise ValueError(f"numerical column {column!r} in the {side} data is not numeric (dtype {dtype})")
    values = frame[list(columns)].to_numpy(dtype=float, na_value=np.nan)
    values[~np.isfinite(values)] = np.nan
    return values


def _encoding(
    reference: pd.DataFrame,
    current: pd.DataFrame | None,
    numerical: Sequence[str],
    categorical: Sequence[str],
) -> _Encoding:
    trees = len(numerical) > MAX_EXPANDED_NUMERICAL
    ref_num = _numeric_block(reference, numerical, "reference")
    cur_num = _numeric_block(current, numerical, "current") if current is not None else ref_num[:0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are refused just below
        fill = np.nanmedian(ref_num, axis=0) if numerical else np.zeros(0)
    empty = [c for c, f in zip(numerical, fill, strict=True) if np.isnan(f)]
    if empty:
        raise ValueError(f"numerical column(s) {empty} have no values in the reference data")
    imputed = np.where(np.isnan(ref_num), fill, ref_num)
    center = imputed.mean(axis=0) if numerical else np.zeros(0)
    scale = imputed.std(axis=0) if numerical else np.zeros(0)
    scale = np.where(scale > 0, scale, 1.0)
    flagged = tuple(
        bool(a or b)
        for a, b in zip(np.isnan(ref_num).any(axis=0), np.isnan(cur_num).any(axis=0), strict=True)
    )
    levels, other, missing = [], [], []
    limit = TREE_MAX_LEVELS if trees else MAX_LEVELS
    for column in categorical:
        values = reference[column] if current is None else pd.concat([reference[column], current[column]])
        counts = values.value_counts(dropna=True)
        kept = pd.Index(counts.index[:limit])
        levels.append(kept)
        other.append(len(counts) > limit)
        missing.append(bool(values.isna().any()))
    return _Encoding(
        tuple(numerical),
        tuple(categorical),
        fill,
        center,
        scale,
        flagged,
        tuple(levels),
        tuple(other),
        tuple(missing),
        trees,
    )


@dataclass(frozen=True)
class _Raw:
    """One side's monitored columns as arrays: numerical values (NaN = missing) and categorical level codes
    (0..L-1 a kept level, L another level, -1 missing)."""

    numbers: np.ndarray
    codes: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.numbers)

    def take(self, rows: np.ndarray) -> _Raw:
        return _Raw(self.numbers[rows], tuple(c[rows] for c in self.codes))


def _raw(frame: pd.DataFrame, encoding: _Encoding, side: str) -> _Raw:
    numbers = _numeric_block(frame, encoding.numerical, side)
    if not encoding.numerical:
        numbers = np.zeros((len(frame), 0))
    codes = []
    for column, kept in zip(encoding.categorical, encoding.levels, strict=True):
        values = frame[column]
        code = kept.get_indexer(values).astype(np.int64)
        code[code < 0] = len(kept)
        code[values.isna().to_numpy()] = -1
        codes.append(code)
    return _Raw(numbers, tuple(codes))


def _design(raw: _Raw, encoding: _Encoding) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """The feature matrix of some rows, and for each feature the source columns it comes from (indices into
    numerical + categorical)."""
    blocks: list[np.ndarray] = []
    sources: list[tuple[int, ...]] = []
    k = len(encoding.numerical)
    if encoding.trees:
        blocks.append(raw.numbers)
        sources += [(i,) for i in range(k)]
        for j, code in enumerate(raw.codes):
            blocks.append(np.where(code < 0, np.nan, code).astype(float)[:, None])
            sources.append((k + j,))
        return np.hstack(blocks), sources
    if k:
        nan = np.isnan(raw.numbers)
        z = (np.where(nan, encoding.fill, raw.numbers) - encoding.center) / encoding.scale
        left, right = np.triu_indices(k, 1)
        blocks += [z, z**2, z[:, left] * z[:, right]]
        sources += (
            [(i,) for i in range(k)]
            + [(i,) for i in range(k)]
            + list(zip(left.tolist(), right.tolist(), strict=True))
        )
        flagged = [i for i, f in enumerate(encoding.flagged) if f]
        if flagged:
            blocks.append(nan[:, flagged].astype(float))
            sources += [(i,) for i in flagged]
    for j, (code, kept, other, missing) in enumerate(
        zip(raw.codes, encoding.levels, encoding.other, encoding.missing, strict=True)
    ):
        width = len(kept) + 1  # the last column: another level (dropped below when none)
        onehot = np.zeros((len(code), width + 1))  # + missing (code -1 lands in the last column)
        onehot[np.arange(len(code)), code] = 1.0
        keep = list(range(len(kept))) + ([len(kept)] if other else []) + ([width] if missing else [])
        blocks.append(onehot[:, keep])
        sources += [(k + j,)] * len(keep)
    return np.hstack(blocks), sources


# --- the classifier -----------------------------------------------------------------------------------------------
def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney rank sum (ties count half)."""
    from scipy.stats import rankdata

    positive = labels == 1
    n1, n0 = int(positive.sum()), int((~positive).sum())
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _standardize(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return [(x - mean) / std for x in (train, *others)]


def _model(encoding: _Encoding, seed: int):
    if encoding.trees:
        from sklearn.ensemble import HistGradientBoostingClassifier

        k = len(encoding.numerical)
        mask = [False] * k + [True] * len(encoding.categorical)
        return HistGradientBoostingClassifier(
            max_iter=TREE_ITERATIONS,
            max_leaf_nodes=15,
            categorical_features=mask if any(mask) else None,
            class_weight="balanced",
            random_state=seed,
        )
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=LOGISTIC_C, class_weight="balanced", max_iter=1000, random_state=seed)


def _one_thread():
    """BLAS and OpenMP on one thread: the matrices here are small (at most 2 x max_rows_per_side rows by a few
    hundred features), where threads cost more than they give (on a busy 2-core machine, 28 rows: logistic
    regression 3x slower with OpenBLAS's threads; 90 rows: the tree model 10x slower with OpenMP's)."""
    # Loaded first: threadpoolctl limits only the libraries already loaded (scipy's own OpenBLAS, used by the
    # L-BFGS solver, comes with scipy.optimize).
    import scipy.optimize  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def _scores(model, x: np.ndarray) -> np.ndarray:
    return model.decision_function(x) if hasattr(model, "decision_function") else model.predict_proba(x)[:, 1]


def _fit(encoding: _Encoding, seed: int, x: np.ndarray, y: np.ndarray):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _model(encoding, seed).fit(x, y)


def _cv_auc(x: np.ndarray, y: np.ndarray, encoding: _Encoding, settings: MultivariateSettings) -> float:
    from sklearn.model_selection import StratifiedKFold

    smaller = int(min(y.sum(), len(y) - y.sum()))
    splitter = StratifiedKFold(
        n_splits=min(settings.folds, smaller), shuffle=True, random_state=settings.seed
    )
    aucs = []
    for train, test in splitter.split(x, y):
        x_train, x_test = (x[train], x[test]) if encoding.trees else _standardize(x[train], x[test])
        model = _fit(encoding, settings.seed, x_train, y[train])
        aucs.append(_auc(y[test], _scores(model, x_test)))
    return float(np.mean(aucs))


def _sides(
    reference: _Raw, current: _Raw, encoding: _Encoding
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, ...]]]:
    """Features of both sides stacked, labels (0 reference, 1 current), and each feature's source columns."""
    x_ref, sources = _design(reference, encoding)
    x_cur, _ = _design(current, encoding)
    y = np.r_[np.zeros(len(x_ref), dtype=np.int64), np.ones(len(x_cur), dtype=np.int64)]
    return np.vstack([x_ref, x_cur]), y, sources


def _top_columns(
    x: np.ndarray, y: np.ndarray, sources: list[tuple[int, ...]], encoding: _Encoding, seed: int
) -> list[tuple[str, float]]:
    names = [*encoding.numerical, *encoding.categorical]
    weight = np.zeros(len(names))
    if encoding.trees:
        from sklearn.inspection import permutation_importance

        model = _fit(encoding, seed, x, y)
        result = permutation_importance(model, x, y, scoring="roc_auc", n_repeats=5, random_state=seed)
        weight = np.clip(result.importances_mean, 0.0, None)
    else:
        (scaled,) = _standardize(x)
        model = _fit(encoding, seed, scaled, y)
        for coefficient, source in zip(np.abs(model.coef_[0]), sources, strict=True):
            for column in source:
                weight[column] += coefficient
        total = weight.sum()
        weight = weight / total if total > 0 else weight
    order = sorted(range(len(names)), key=lambda i: (-weight[i], names[i]))[:TOP_COLUMNS]
    return [(names[i], round(float(weight[i]), 4)) for i in order]


# --- the test -----------------------------------------------------------------------------------------------------
def _validate(frame: pd.DataFrame, side: str, numerical: Sequence[str], categorical: Sequence[str]) -> None:
    if not list(numerical) and not list(categorical):
        raise ValueError("no monitored columns: pass at least one numerical or categorical column")
    both = sorted(set(numerical) & set(categorical))
    if both:
        raise ValueError(f"columns are both numerical and categorical: {both}")
    if len(set(numerical)) != len(numerical) or len(set(categorical)) != len(categorical):
        raise ValueError(
            f"a monitored column is listed twice: numerical {list(numerical)}, categorical {list(categorical)}"
        )
    missing = [c for c in [*numerical, *categorical] if c not in frame.columns]
    if missing:
        raise ValueError(f"{side} data lacks monitored column(s) {missing}")
    if len(frame) < 2:
        raise ValueError(
            f"{side} data has {len(frame)} row(s); the multivariate drift test needs at least 2 on each side"
        )


@dataclass(frozen=True)
class NullSizes:
    """The null's sides: a block of `block` contiguous reference rows (the current's rows, at most half the
    reference), subsampled to `chunk`; the rest of the reference (`rows - block` rows) subsampled to `rest`;
    `starts` distinct block starts out of `possible`."""

    rows: int
    block: int
    chunk: int
    rest: int
    starts: int
    possible: int

    def describe(self) -> str:
        return (
            f"contiguous blocks of {self.block} reference rows in row order"
            + (f" (subsampled to {self.chunk})" if self.chunk < self.block else "")
            + f" at {self.starts} seeded start(s) of {self.possible}, vs the other {self.rows - self.block}"
            + (f" (subsampled to {self.rest})" if self.rest < self.rows - self.block else "")
        )


def null_sizes(reference_rows: int, current_rows: int, settings: MultivariateSettings) -> NullSizes:
    """The sizes of the null's draws for a reference and a current of these row counts (what `null_aucs` uses,
    and what a cache of its output must key on: the null depends on the current only through `block`)."""
    block = min(current_rows, reference_rows // 2)
    limit = settings.max_rows_per_side
    possible = reference_rows - block + 1
    return NullSizes(
        rows=reference_rows,
        block=block,
        chunk=min(block, limit),
        rest=min(reference_rows - block, limit),
        starts=min(settings.null_draws, possible),
        possible=possible,
    )


def null_method(reference_rows: int, current_rows: int, settings: MultivariateSettings,
                periods: int | None = None, cut: str = "") -> str:
    """How `null_aucs` draws its null for these row counts, in words (for the check's metadata); `periods`: the
    reference's whole periods when its time cuts it into them (`whole_periods`), `cut` how."""
    sizes = null_sizes(reference_rows, current_rows, settings)
    blocks = sizes.describe() if not periods else (
        f"the Student-t predictive distribution ({periods - 1} df) of the AUCs of the reference's {periods} whole "
        f"periods ({cut}), each vs the rest")
    return (f"the larger, quantile by quantile, of {blocks}, and of {sizes.chunk} rows drawn at "
            "random vs the rest")


def reference_times(reference: pd.DataFrame, numerical: Sequence[str], categorical: Sequence[str]) -> np.ndarray | None:
    """The reference's time as int64 nanoseconds, when it carries one: its only datetime column that is not
    monitored (the reference statistics' sample keeps the spec's datetime column); else None."""
    monitored = set(numerical) | set(categorical)
    found = [c for c in reference.columns
             if c not in monitored and pd.api.types.is_datetime64_any_dtype(reference[c].dtype)]
    if len(found) != 1 or reference[found[0]].isna().any():
        return None
    values = reference[found[0]]
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.to_numpy(dtype="datetime64[ns]").astype(np.int64)


def reference_periods(times: np.ndarray | None, block: int) -> np.ndarray | None:
    """Where the reference's rows fall into whole periods, for event data: row offsets [0, ..., rows] of the
    k = round(rows / block) runs left by cutting at the k - 1 largest time gaps, when those gaps are clearly
    the reference's period breaks (each at least `PERIOD_GAP_RATIO` x every other gap: a football league's
    weekends of ~60 matches, 4 days apart, with hours between kickoffs); else None (time series with even
    spacing, a reference without its time, rows out of time order, a period of a few rows of a weekend)."""
    if times is None or block < 2 or len(times) < 4:
        return None
    gaps = np.diff(times)
    periods = int(round(len(times) / block))
    if periods < 2 or periods > len(gaps) or (gaps < 0).any():
        return None
    order = np.argsort(gaps, kind="stable")[::-1]
    breaks, others = order[: periods - 1], order[periods - 1 :]
    smallest_break = gaps[breaks].min()
    largest_other = gaps[others].max() if len(others) else 0
    if smallest_break <= 0 or smallest_break < PERIOD_GAP_RATIO * largest_other:
        return None
    edges = np.r_[0, np.sort(breaks) + 1, len(times)]
    return edges if np.diff(edges).min() >= 2 else None


def even_periods(times: np.ndarray | None, block: int) -> list[tuple[int, int]] | None:
    """Where an evenly spaced series (hourly or daily rows) falls into whole periods of about `block` rows: its
    rows cut at its holes (a step of over 1.5 x the usual, median, step: a left-out period, missing rows), each
    stretch between holes into round(rows / block) runs of near-equal length, from its first row; a stretch of
    under half a block stays in every period's rest but is no period itself. (first, last) row offsets of the
    runs; None when the series is not evenly spaced (a step neither a hole nor within `EVEN_STEP_TOLERANCE` of
    the usual one: event data, rows out of time order; more holes than periods: rows sampled at random from a
    long reference), or when fewer than 2 runs come out."""
    if times is None or block < 2 or len(times) < 4:
        return None
    steps = np.diff(times)
    usual = float(np.median(steps))
    holes = steps > 1.5 * usual
    regular = np.abs(steps - usual) <= EVEN_STEP_TOLERANCE * usual
    if usual <= 0 or not (holes | regular).all() or holes.sum() > len(times) / block:
        return None
    cuts = np.r_[0, np.flatnonzero(holes) + 1, len(times)]
    spans = []
    for first, last in zip(cuts[:-1], cuts[1:], strict=True):
        runs = int(round((last - first) / block))
        bounds = np.linspace(first, last, runs + 1).round().astype(int) if runs else []
        spans += [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return spans if len(spans) >= 2 and min(b - a for a, b in spans) >= 2 else None


def whole_periods(times: np.ndarray | None, block: int) -> tuple[list[tuple[int, int]], str] | None:
    """The reference's whole periods for the null, as (first, last) row offsets, and how they were cut, in
    words: event data at its period breaks (`reference_periods`), else an evenly spaced series in runs of
    the block's length (`even_periods`); None when its time cuts it into neither (no time column)."""
    edges = reference_periods(times, block)
    if edges is not None:
        return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)], \
            f"cut at its {len(edges) - 2} largest time gaps"
    spans = even_periods(times, block)
    if spans is None:
        return None
    return spans, f"evenly spaced rows cut in runs of about {block}"


def _subsample(rows: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    if rows <= limit:
        return np.arange(rows)
    return np.sort(rng.choice(rows, size=limit, replace=False))


def _block_starts(sizes: NullSizes, draws: int, seed: int) -> np.ndarray:
    """The first row of each draw's block: the possible starts in a seeded random order, the first `draws` of
    them, or all of them repeated in that order when there are fewer than `draws`."""
    return np.resize(np.random.default_rng([seed, 3]).permutation(sizes.possible), draws)


def _block_rows(sizes: NullSizes, start: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rest, block): the reference rows outside the block that starts at `start`, and the block's, each
    subsampled (seeded by the start) to its side's size."""
    rng = np.random.default_rng([seed, 4, start])
    rows = np.arange(sizes.rows)
    inside = rows[start : start + sizes.block]
    outside = np.r_[rows[:start], rows[start + sizes.block :]]
    rest = outside[_subsample(len(outside), sizes.rest, rng)]
    return rest, inside[_subsample(len(inside), sizes.chunk, rng)]


def _check_null(reference: pd.DataFrame, current_rows: int, numerical, categorical) -> None:
    _validate(reference, "reference", numerical, categorical)
    if current_rows < 2:
        raise ValueError(
            f"current_rows is {current_rows}; the multivariate drift test needs at least 2 on each side"
        )
    if len(reference) < 4:
        raise ValueError(
            f"reference data has {len(reference)} rows; the null needs at least 4 (two chunks of 2)"
        )


def _score_draws(
    reference: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    settings: MultivariateSettings,
    draws: dict[int, tuple[np.ndarray, np.ndarray]],
) -> dict[int, float]:
    """The cross-validated AUC of each draw: (pseudo-reference rows, pseudo-current rows) of the reference."""
    encoding = _encoding(reference, None, numerical, categorical)
    raw = _raw(reference, encoding, "reference")
    scored = {}
    with _one_thread():
        for key, (rest, current) in draws.items():
            x, y, _ = _sides(raw.take(rest), raw.take(current), encoding)
            scored[key] = _cv_auc(x, y, encoding, settings)
    return scored


def null_aucs(
    reference: pd.DataFrame,
    current_rows: int,
    numerical: Sequence[str],
    categorical: Sequence[str],
    settings: MultivariateSettings,
) -> np.ndarray:
    """The test's null: the larger, quantile by quantile, of the contiguous-block null (`block_null_aucs`) and
    the random-draw null (`random_draw_null_aucs`), each of `settings.null_draws` AUCs. Where rows close in time
    are alike, the blocks' AUCs are the higher and set the threshold, so a quiet real period passes; where rows
    are independent, or the reference holds too few blocks to estimate a tail from (28 rows, 7 a period), the
    random draws keep the threshold where it was. Its quantiles are the larger of the two nulls' quantiles.
    Depends only on the reference, `null_sizes(...).block` and the settings: cache it per (reference version,
    block rows)."""
    blocks = block_null_aucs(reference, current_rows, numerical, categorical, settings)
    random = random_draw_null_aucs(reference, current_rows, numerical, categorical, settings)
    return combined_null(blocks, random)


def combined_null(blocks: np.ndarray, random: np.ndarray) -> np.ndarray:
    """`null_aucs` from its two parts: the larger, quantile by quantile (sorted, element by element)."""
    return np.maximum(np.sort(np.asarray(blocks, dtype=float)), np.sort(np.asarray(random, dtype=float)))


def block_null_aucs(reference: pd.DataFrame, current_rows: int, numerical: Sequence[str],
                    categorical: Sequence[str], settings: MultivariateSettings) -> np.ndarray:
    """The AUCs of the test on the reference alone, which must be in row order (time, then key; the platform's
    reference and its statistics' sample are): `settings.null_draws` times, a block of `current_rows`
    contiguous rows (at most half the reference; subsampled to `max_rows_per_side`) against the rest of the
    reference (subsampled to `max_rows_per_side`). The blocks start at seeded random rows, each start at most
    once while there are starts left (`null_sizes`). A reference whose time (`reference_times`) cuts it into
    whole periods of about the block's size (`whole_periods`: a league's weekends, an hourly series' days, a
    daily series' weeks) draws whole periods instead (`_period_null`). Depends only on the reference,
    `null_sizes(...).block` and the settings:
    cache it per (reference version, block rows)."""
    _check_null(reference, current_rows, numerical, categorical)
    sizes = null_sizes(len(reference), current_rows, settings)
    periods = whole_periods(reference_times(reference, numerical, categorical), sizes.block)
    if periods is not None:
        return _period_null(reference, numerical, categorical, settings, periods[0])
    starts = _block_starts(sizes, settings.null_draws, settings.seed).tolist()
    draws = {start: _block_rows(sizes, start, settings.seed) for start in dict.fromkeys(starts)}
    scored = _score_draws(reference, numerical, categorical, settings, draws)
    return np.array([scored[start] for start in starts])


def _period_null(reference: pd.DataFrame, numerical: Sequence[str], categorical: Sequence[str],
                 settings: MultivariateSettings, spans: list[tuple[int, int]]) -> np.ndarray:
    """The reference cut into k whole periods (`whole_periods`: a league's weekends, a series' days or weeks):
    each period's AUC against the rest (both subsampled to `max_rows_per_side`), and `null_draws` quantiles of
    the Student-t predictive distribution of one more period's AUC from those k (mean + sd * sqrt(1 + 1/k) * t
    quantile, k - 1 df; clipped to [0, 1]). k of a few (4 weekends, 4 weeks) are too few for an empirical 95 %
    quantile (their largest is exceeded by a new period 1 time in k + 1); the predictive quantile is what k
    values say about the next one: if the k AUCs and the new period's are independent draws of one normal
    distribution, the new one exceeds the bound with probability exactly 5 %, whatever k. Few, unlike periods
    give a wide bound (past 1 for bike_sharing's 4 January weeks: not judged), which is the honest answer."""
    from scipy.stats import t as student

    limit, draws = settings.max_rows_per_side, {}
    for period, (first, last) in enumerate(spans):
        rng = np.random.default_rng([settings.seed, 5, period])
        inside = np.arange(first, last)
        outside = np.r_[np.arange(first), np.arange(last, len(reference))]
        draws[period] = (outside[_subsample(len(outside), limit, rng)], inside[_subsample(len(inside), limit, rng)])
    scored = _score_draws(reference, numerical, categorical, settings, draws)
    aucs = np.array([scored[p] for p in range(len(draws))])
    k = len(aucs)
    levels = (np.arange(settings.null_draws) + 0.5) / settings.null_draws
    spread = aucs.std(ddof=1) * np.sqrt(1 + 1 / k)
    return np.clip(aucs.mean() + spread * student.ppf(levels, k - 1), 0.0, 1.0)


def random_draw_null_aucs(
    reference: pd.DataFrame,
    current_rows: int,
    numerical: Sequence[str],
    categorical: Sequence[str],
    settings: MultivariateSettings = MultivariateSettings(),  # noqa: B008 - frozen, so one shared default is safe
) -> np.ndarray:
    """The null this module used before `null_aucs` drew contiguous blocks, kept for comparison (the
    benchmarks, the tests): `settings.null_draws` chunks of `current_rows` rows (at most half the reference and
    `max_rows_per_side`) drawn at random without replacement, each against the rest of the reference
    (subsampled to `max_rows_per_side`). Right when rows are independent; on data where rows close in time are
    alike its threshold is too low for a real (contiguous) period."""
    _check_null(reference, current_rows, numerical, categorical)
    rows = len(reference)
    chunk = min(current_rows, settings.max_rows_per_side, rows // 2)
    rest = min(rows - chunk, settings.max_rows_per_side)
    rng = np.random.default_rng([settings.seed, 3])
    draws = {}
    for draw in range(settings.null_draws):
        order = rng.permutation(rows)
        draws[draw] = (np.sort(order[chunk : chunk + rest]), np.sort(order[:chunk]))
    scored = _score_draws(reference, numerical, categorical, settings, draws)
    return np.array([scored[draw] for draw in range(settings.null_draws)])


def _drawn(reference: pd.DataFrame, current_rows: int, numerical: Sequence[str], categorical: Sequence[str],
           settings: MultivariateSettings) -> str:
    """`null_method` for this reference (whole periods when its time cuts it into them) and current size."""
    periods = whole_periods(reference_times(reference, numerical, categorical),
                            null_sizes(len(reference), current_rows, settings).block)
    if periods is None:
        return null_method(len(reference), current_rows, settings)
    return null_method(len(reference), current_rows, settings, len(periods[0]), periods[1])


def multivariate_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    settings: MultivariateSettings = MultivariateSettings(),  # noqa: B008 - frozen, so one shared default is safe
    *,
    null: np.ndarray | None = None,
) -> MultivariateDrift:
    """Whether a classifier tells `current`'s rows from `reference`'s on the monitored columns better than it
    tells reference chunks from the rest of the reference. `null`: the output of `null_aucs` for this reference,
    `len(current)` and these settings (computed here when None)."""
    _validate(reference, "reference", numerical, categorical)
    _validate(current, "current", numerical, categorical)
    if null is None:
        null = null_aucs(reference, len(current), numerical, categorical, settings)
    null = np.asarray(null, dtype=float)
    if null.ndim != 1 or null.size == 0 or not np.isfinite(null).all():
        raise ValueError("null must be a non-empty 1-d array of finite AUCs (from null_aucs)")
    limit = settings.max_rows_per_side
    encoding = _encoding(reference, current, numerical, categorical)
    ref_rows = _subsample(len(reference), limit, np.random.default_rng([settings.seed, 1]))
    cur_rows = _subsample(len(current), limit, np.random.default_rng([settings.seed, 2]))
    x, y, sources = _sides(
        _raw(reference, encoding, "reference").take(ref_rows),
        _raw(current, encoding, "current").take(cur_rows),
        encoding,
    )
    with _one_thread():
        auc = _cv_auc(x, y, encoding, settings)
        top_columns = _top_columns(x, y, sources, encoding, settings.seed)
    threshold = float(np.quantile(null, 1 - settings.alpha))
    p_value = float((1 + np.count_nonzero(null >= auc)) / (1 + null.size))

    folds = min(settings.folds, len(ref_rows), len(cur_rows))
    drawn = _drawn(reference, len(current), numerical, categorical, settings)
    method = (
        f"{encoding.describe()}; {folds}-fold stratified CV ROC AUC; threshold: the {1 - settings.alpha:g} "
        f"quantile of {null.size} AUCs of {drawn}"
    )
    subsampled = [
        f"{side} {n} -> {len(kept)} rows"
        for side, n, kept in (("reference", len(reference), ref_rows), ("current", len(current), cur_rows))
        if n > len(kept)
    ]
    if subsampled:
        method += f"; subsampled (seed {settings.seed}): " + ", ".join(subsampled)
    return MultivariateDrift(
        auc=auc,
        threshold=threshold,
        p_value=p_value,
        drifted=bool(auc > threshold),
        reference_rows=len(reference),
        current_rows=len(current),
        rows_used=(len(ref_rows), len(cur_rows)),
        top_columns=top_columns,
        null_aucs=tuple(float(a) for a in null),
        method=method,
        null_method=drawn,
    )
