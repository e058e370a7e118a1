"""The reference's side of the drift decisions, computed once; each period's decision from it and the current column.

`drift.column_drift` hands both cleaned columns to Evidently's registered `StatTest`, which re-sorts, re-hashes and
re-bins the (unchanging) reference every period. Here the reference is reduced once (`build_reference_stats`) to
what Evidently's tests read of it: its cleaned values sorted, their standard deviation, and its distinct values
with their counts. `column_drift_from_stats` then decides a column from those and the current column alone, with
the test and threshold Evidently 0.7.23 would use and the same score:

| test          | what is done with the current column                         | vs. Evidently                 |
|---------------|--------------------------------------------------------------|-------------------------------|
| ks            | `scipy.stats.ks_2samp` against the cached sorted values      | the same call, same inputs    |
| wasserstein   | sorted once; L1 distance of the two quantile functions       | same value, ~1e-15 relative   |
| jensenshannon | value counts (factorize), or the Sturges histogram, then the | bit for bit (same arrays in   |
| psi           |   same scipy / numpy expressions as Evidently's              |   the same order)             |
| chisquare, z  | value counts                                                 | bit for bit                   |

Evidently's quirks are kept: keys come from a set union built in the order Evidently builds it (so its order,
and the sums over it, are the same), `get_binned_data` bins a numerical column only when the reference has more
than 20 distinct values, fills zero shares for PSI (`feel_zeroes`) and not for Jensen-Shannon, chi-square scales
the reference counts by `k_norm`, the Z-test returns p = 1 when both sides are the same single value, and a
numerical column with at most 5 distinct values (both sides together) gets a categorical test.

Any other configured test (e.g. "anderson", "mannw"), and columns of dtypes the fast paths do not cover (nullable
`Int64`, integers beyond 2**53), go to Evidently's own `StatTest` on a reference Series rebuilt from the stats
(the sorted values, or each distinct value repeated its count times) with the original dtype: correct, not fast.
A test that depends on the ROW ORDER of the reference (none of the defaults; Evidently's "empirical_mmd" draws
permutations) sees the rebuilt order, not the original one.

The artifact also keeps the reference's side of the data-quality check (`ReferenceStats.quality`,
core/stats/quality.py), when built with `quality_blocks`: each column's missing share and, per block of the
reference in row order (one block per period of its window), the block's missing share and its share of values
outside the rest's range or of levels the rest never shows. Format 2 added it; an artifact of another format is
refused by `from_bytes` (`StatsFormatError`) and rebuilt by reference_cache.py.

Pure numpy / pandas / scipy: no Dagster, and Evidently only inside the fallback.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from drift_platform.core.settings import CAT, NUM, DriftSettings
from drift_platform.core.stats.columns import (
    FEW_VALUES,
    SMALL_REFERENCE_ROWS,
    ColumnDrift,
    clean_column,
    seeded_sample,
)
from drift_platform.core.stats.quality import ColumnQuality, ReferenceQuality, block_edges, column_quality

__all__ = [
    "FORMAT",
    "MAX_LEVELS",
    "ColumnStats",
    "ReferenceStats",
    "StatsFormatError",
    "build_reference_stats",
    "column_drift_from_stats",
    "reference_version",
]

FORMAT = 3  # 2: the data-quality blocks (ReferenceStats.quality); 3: the sample keeps the reference's time column
MAX_LEVELS = 10_000  # a numerical column with at most this many distinct reference values also keeps its value counts

# Evidently's get_binned_data: a numerical column with more distinct REFERENCE values than this is binned (Sturges).
BINNED_ABOVE = 20
# Integers at or beyond this magnitude do not survive the float64 cache exactly: such columns take the fallback.
_EXACT_INT = 2.0**53
_CHUNK = 1 << 14  # rows per step of the Wasserstein sum (its temporaries stay in the CPU cache)
_HEAD = 10_000  # rows of the current column looked at first when counting distinct values (drift._distinct_more_than)


@dataclass(frozen=True)
class _Test:
    display_name: str
    default_threshold: float
    kinds: tuple[str, ...]  # the column kinds Evidently registers the test for (only checked when configured)
    drift_if: str  # "le": p <= threshold, "lt": p < threshold, "ge": distance >= threshold


# Evidently 0.7.23's registered tests that have a fast path here (names, display names, defaults, directions).
_FAST: dict[str, _Test] = {
    "ks": _Test("K-S p_value", 0.05, (NUM,), "le"),
    "wasserstein": _Test("Wasserstein distance (normed)", 0.1, (NUM,), "ge"),
    "jensenshannon": _Test("Jensen-Shannon distance", 0.1, (CAT, NUM), "ge"),
    "psi": _Test("PSI", 0.1, (CAT, NUM), "ge"),
    "chisquare": _Test("chi-square p_value", 0.05, (CAT,), "lt"),
    "z": _Test("Z-test p_value", 0.05, (CAT,), "lt"),
}


# --- the artifact -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnStats:
    column: str
    kind: str  # NUM or CAT
    rows: int  # rows left after Evidently's cleaning (NaN/None/+-inf dropped)
    sorted_values: np.ndarray | None  # NUM: the cleaned values sorted ascending (float64); CAT: None
    std: float | None  # NUM: np.std of the cleaned values (ddof=0, Evidently's call); None if np.std fails
    distinct: int  # nunique of the cleaned reference values
    levels: np.ndarray | None  # distinct values in order of first appearance (CAT always; NUM when <= MAX_LEVELS)
    counts: np.ndarray | None  # their counts (int64), aligned with levels
    dtype: str  # the pandas dtype name of the cleaned column, so a reconstructed Series has it

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ColumnStats):
            return NotImplemented
        scalars = ("column", "kind", "rows", "std", "distinct", "dtype")
        return all(getattr(self, f) == getattr(other, f) for f in scalars) and all(
            _arrays_equal(getattr(self, f), getattr(other, f)) for f in ("sorted_values", "levels", "counts")
        )

    def __hash__(self) -> int:
        return hash((self.column, self.kind, self.rows, self.distinct, self.dtype))


@dataclass(frozen=True)
class ReferenceStats:
    version: str  # reference_version(...) of the frame it was built from
    rows: int  # rows of the reference frame
    columns: dict[str, ColumnStats]
    # A seeded sample of at most `sample_rows` rows of the monitored columns (and the time column, when built with
    # one: the multivariate null cuts event data into whole periods by it), in original order.
    sample: pd.DataFrame
    quality: ReferenceQuality | None = None  # the data-quality check's reference side (None: built without blocks)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReferenceStats):
            return NotImplemented
        return (
            self.version == other.version
            and self.rows == other.rows
            and list(self.columns) == list(other.columns)
            and all(self.columns[c] == other.columns[c] for c in self.columns)
            and list(self.sample.dtypes.astype(str)) == list(other.sample.dtypes.astype(str))
            and self.sample.equals(other.sample)
            and self.quality == other.quality
        )

    def __hash__(self) -> int:
        return hash((self.version, self.rows, tuple(self.columns)))

    def to_bytes(self) -> bytes:
        """An .npz archive (no pickle anywhere): a JSON header, each column's arrays, the sample as parquet bytes."""
        arrays: dict[str, np.ndarray] = {}
        described = []
        for index, (name, stats) in enumerate(self.columns.items()):
            if name != stats.column:
                raise ValueError(f"column {name!r} holds the stats of column {stats.column!r}")
            meta: dict[str, Any] = {
                "column": stats.column, "kind": stats.kind, "rows": int(stats.rows),
                "std": None if stats.std is None else float(stats.std), "distinct": int(stats.distinct),
                "dtype": stats.dtype, "sorted": stats.sorted_values is not None, "levels": None,
            }
            if stats.sorted_values is not None:
                arrays[f"sorted_{index}"] = np.ascontiguousarray(stats.sorted_values, dtype=np.float64)
            if stats.levels is not None:
                encoding, array, listed = _encode_levels(stats.column, stats.levels)
                meta["levels"] = encoding
                if listed is not None:
                    meta["levels_json"] = listed
                if array is not None:
                    arrays[f"levels_{index}"] = array
                arrays[f"counts_{index}"] = np.ascontiguousarray(stats.counts, dtype=np.int64)
            described.append(meta)
        buffer = io.BytesIO()
        try:
            self.sample.to_parquet(buffer, engine="pyarrow", index=False)
        except Exception as exc:  # pyarrow's errors (mixed-type object columns, non-string names) vary
            raise ValueError(f"the reference sample cannot be written as parquet: {exc}") from exc
        arrays["sample"] = np.frombuffer(buffer.getvalue(), dtype=np.uint8)
        header = {"format": FORMAT, "version": self.version, "rows": int(self.rows), "columns": described,
                  "quality_blocks": None if self.quality is None else self.quality.blocks}
        if self.quality is not None:
            for index, (name, meta) in enumerate(zip(self.columns, described, strict=True)):
                meta["quality_missing"] = float(self.quality.columns[name].missing)
                arrays[f"quality_{index}"] = np.ascontiguousarray(self.quality.columns[name].blocks, dtype=np.float64)
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        out = io.BytesIO()
        np.savez(out, **arrays)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceStats:
        """The stats `to_bytes` wrote; ValueError naming the problem for anything else (or another FORMAT)."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ValueError(f"reference stats must be bytes, got {type(data).__name__}")
        return cls._load(io.BytesIO(bytes(data)))

    @classmethod
    def from_file(cls, path: str | Path) -> ReferenceStats:
        """The same from a file: numpy reads the archive one array at a time, so the file's bytes are never in
        memory beside the arrays (the peak of a wide reference's load halves)."""
        return cls._load(Path(path))

    @classmethod
    def _load(cls, source: io.BytesIO | Path) -> ReferenceStats:
        try:
            loaded = np.load(source, allow_pickle=False)
            if not hasattr(loaded, "files"):
                raise ValueError("a single .npy array, not an .npz archive")
            with loaded:
                arrays = {name: loaded[name] for name in loaded.files}
        except Exception as exc:
            raise ValueError(f"not a reference-stats artifact (expected an .npz archive): {exc}") from exc
        if "header" not in arrays:
            raise ValueError("not a reference-stats artifact: the .npz archive has no 'header'")
        try:
            header = json.loads(arrays["header"].tobytes().decode())
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"malformed reference stats: the header is not JSON ({exc})") from exc
        _check(isinstance(header, dict), "the header is not a JSON object")
        found = header.get("format")
        if found != FORMAT:
            raise StatsFormatError(
                f"reference stats format {found!r} is not supported: this code reads format {FORMAT}; "
                "rebuild the artifact with build_reference_stats"
            )
        try:
            columns = {}
            for index, meta in enumerate(header["columns"]):
                stats = _column_from_archive(index, meta, arrays)
                _check(stats.column not in columns, f"column {stats.column!r} appears twice")
                columns[stats.column] = stats
            version, rows = header["version"], header["rows"]
            _check(isinstance(version, str) and isinstance(rows, int) and rows >= 0, "bad version or rows")
            _check("sample" in arrays and arrays["sample"].dtype == np.uint8, "no sample")
            sample = pd.read_parquet(io.BytesIO(arrays["sample"].tobytes()), engine="pyarrow")
            quality = _quality_from_archive(header, arrays)
        except ValueError as exc:
            if str(exc).startswith("malformed reference stats"):
                raise
            raise ValueError(f"malformed reference stats: {exc}") from exc
        except (KeyError, TypeError, IndexError, OSError) as exc:
            raise ValueError(f"malformed reference stats: {type(exc).__name__}: {exc}") from exc
        return cls(version=version, rows=rows, columns=columns, sample=sample, quality=quality)


class StatsFormatError(ValueError):
    """An artifact written in another FORMAT: not malformed, only older (or newer); rebuild it."""


def reference_version(reference: pd.DataFrame, columns: Sequence[str]) -> str:
    """sha256 hex of the monitored columns' content: their names, dtypes and values in row order, and the row
    count. A plain numpy column is hashed as its bytes; any other (text, nullable, categorical) as its
    factorization: each row's code and the distinct values with their Python types, so 1 and "1" differ. Each
    column's digest is made on its own (in parallel in `build_reference_stats`), then the digests in order."""
    return _version(reference, [_column_digest(column, reference[column], None) for column in columns])


def _version(reference: pd.DataFrame, digests: Sequence[bytes]) -> str:
    digest = hashlib.sha256(f"drift_platform.core.stats.reference_stats/{FORMAT} rows={len(reference)}".encode())
    for column_digest in digests:
        digest.update(column_digest)
    return digest.hexdigest()


def _plain_array(values: pd.Series) -> bool:
    return isinstance(values.dtype, np.dtype) and values.dtype.kind in "biufmM"


def _column_digest(column: str, values: pd.Series, factorized: tuple[Any, np.ndarray] | None) -> bytes:
    digest = hashlib.sha256(json.dumps([str(column), str(values.dtype)]).encode())
    if _plain_array(values):
        digest.update(np.ascontiguousarray(values.to_numpy()).tobytes())
    else:
        uniques, codes = factorized if factorized is not None else _factorize(values)
        digest.update(json.dumps([[type(u).__name__, repr(u)] for u in np.asarray(uniques, dtype=object)]).encode())
        digest.update(np.ascontiguousarray(codes).tobytes())
    return digest.digest()


def build_reference_stats(
    reference: pd.DataFrame, kinds: Mapping[str, str], *, sample_rows: int = 5_000, seed: int = 0,
    workers: int | None = None, quality_blocks: int | None = None, time_column: str | None = None,
) -> ReferenceStats:
    """Each monitored column's stats (cleaned as Evidently cleans it) and digest, by a pool of `workers` threads
    (default: the cores, at most 4; numpy's sorts and sha256 release the GIL), and the report's seeded sample. A
    text column is factorized once, for its digest and its level counts alike. With `quality_blocks` (the
    periods of the reference window, quality.reference_periods), also each column's data-quality side
    (quality.column_quality on the reference's rows in their order, cut into that many blocks). With
    `time_column` (the spec's datetime column, not monitored), the sample keeps it too (multivariate.py's null
    draws whole periods of event data by its time gaps)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    timed = [time_column] if time_column is not None and time_column not in kinds else []
    missing = [c for c in kinds if c not in reference.columns]
    if missing:
        raise ValueError(f"reference data lacks monitored column(s) {missing}")
    if timed and timed[0] not in reference.columns:
        raise ValueError(f"reference data lacks its time column {time_column!r} (the spec's datetime_column)")

    def one(item: tuple[str, str, pd.Series]) -> tuple[ColumnStats, bytes, ColumnQuality | None]:
        column, kind, values = item
        factorized = None if _plain_array(values) else _factorize(values)
        quality = None if quality_blocks is None else column_quality(
            values, kind, quality_blocks, None if factorized is None or kind != CAT else np.asarray(factorized[1]))
        return _column_stats(values, column, kind, factorized), _column_digest(column, values, factorized), quality

    items = [(column, kind, reference[column]) for column, kind in kinds.items()]  # the frame read in this thread
    workers = workers or min(os.cpu_count() or 1, 4)
    if workers == 1 or len(items) < 2:
        built = [one(item) for item in items]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reference-stats") as pool:
            built = list(pool.map(one, items))  # in order; the first column's error (in order) is raised here
    return ReferenceStats(
        version=_version(reference, [digest for _, digest, _ in built]),
        rows=len(reference),
        columns={stats.column: stats for stats, _, _ in built},
        sample=seeded_sample(reference, [*kinds, *timed], sample_rows, seed),
        quality=None if quality_blocks is None else ReferenceQuality(
            blocks=len(block_edges(len(reference), quality_blocks)) - 1,
            columns={stats.column: quality for stats, _, quality in built}),
    )


def _column_stats(
    values: pd.Series, column: str, kind: str, factorized: tuple[Any, np.ndarray] | None = None
) -> ColumnStats:
    """`factorized`: `_factorize(values)` of the UNCLEANED column, when already made: its levels and counts are
    the cleaned column's when no row was dropped but missing ones (code -1) and no level is an infinity."""
    if kind not in (NUM, CAT):
        raise ValueError(f"Unexpected feature_type {kind}")
    ref = clean_column(values, column, "reference")
    if kind == NUM and not pd.api.types.is_numeric_dtype(ref):
        raise ValueError(f"Column '{column}' in reference dataset should contain numerical values only.")
    sorted_values = std = levels = counts = None
    distinct = None
    if kind == NUM:
        sorted_values = np.sort(ref.to_numpy(dtype=np.float64))
        try:
            std = float(np.std(ref))  # Evidently's call, on the same Series in the same order
        except (TypeError, ValueError):
            std = None
        if _plain_numeric(ref.dtype) and (ref.dtype.kind in "bf" or _exact_ints(sorted_values)):
            distinct = int(np.count_nonzero(sorted_values[1:] != sorted_values[:-1])) + 1
        else:
            distinct = int(ref.nunique())
    if kind == CAT or distinct <= MAX_LEVELS:
        uniques, codes = _reuse(factorized, ref, values) or _factorize(ref)
        levels = np.asarray(uniques)
        counts = np.bincount(codes, minlength=len(levels)).astype(np.int64)
        distinct = len(levels)
    for array in (sorted_values, levels, counts):
        if array is not None:
            array.setflags(write=False)
    return ColumnStats(
        column=column, kind=kind, rows=len(ref), sorted_values=sorted_values, std=std, distinct=int(distinct),
        levels=levels, counts=counts, dtype=str(ref.dtype),
    )


# --- one period's decision ----------------------------------------------------------------------------------------
def column_drift_from_stats(
    stats: ColumnStats, current: pd.Series, settings: DriftSettings
) -> tuple[ColumnDrift, str]:
    """The column's ColumnDrift exactly as `drift.column_drift(reference_column, current, ...)` returns it, and the
    name of the Evidently test used ("ks", "wasserstein", "jensenshannon", "psi", "chisquare", "z", ...)."""
    column, kind = stats.column, stats.kind
    cleaned = clean_column(current, column, "current")
    if kind == NUM and not pd.api.types.is_numeric_dtype(cleaned):
        raise ValueError(f"Column '{column}' in current dataset should contain numerical values only.")
    cur = _Current(cleaned)
    configured = settings.column_method(column, kind)
    threshold = settings.column_threshold(column, kind)
    name = _default_test(stats, cur) if configured is None else str(configured)
    test = _FAST.get(name)
    if (
        test is None
        or (configured is not None and kind not in test.kinds)  # Evidently refuses it: let it say so
        or not _fast_path_applies(name, stats, cur)
    ):
        return _evidently_fallback(stats, cleaned, name, configured, threshold)
    actual = test.default_threshold if threshold is None else threshold
    score = _SCORES[name](stats, cur)
    if test.drift_if == "le":
        drifted = score <= actual
    elif test.drift_if == "lt":
        drifted = score < actual
    else:
        drifted = score >= actual
    drift = ColumnDrift(
        column=column,
        method=str(configured) if configured is not None else test.display_name,
        score=float(score),
        threshold=float(actual),
        drifted=bool(drifted),
    )
    return drift, name


class _Current:
    """The cleaned current column and what the tests read of it, each computed at most once."""

    def __init__(self, series: pd.Series) -> None:
        self.series = series
        self.n = len(series)
        self._factorized: tuple[Any, np.ndarray] | None = None
        self._sorted: np.ndarray | None = None

    @property
    def plain(self) -> bool:
        return _plain_numeric(self.series.dtype)

    @property
    def values(self) -> np.ndarray:
        return self.series.to_numpy()

    @property
    def sorted(self) -> np.ndarray:
        """Sorted in the column's own dtype (what np.histogram and ks_2samp compare)."""
        if self._sorted is None:
            self._sorted = np.sort(self.values)
        return self._sorted

    def _factorize(self) -> tuple[Any, np.ndarray]:
        if self._factorized is None:
            uniques, codes = _factorize(self.series)
            self._factorized = (uniques, np.bincount(codes, minlength=len(uniques)))
        return self._factorized

    @property
    def uniques(self) -> Any:
        """Distinct values in order of first appearance, of the type `Series.unique()` gives (Evidently's keys)."""
        return self._factorize()[0]

    @property
    def counts(self) -> np.ndarray:
        return self._factorize()[1]


def _default_test(stats: ColumnStats, cur: _Current) -> str:
    """drift.default_stattest (Evidently's `_get_default_stattest`) from the stats."""
    if stats.rows <= SMALL_REFERENCE_ROWS:
        if stats.kind == NUM and _more_distinct_than(stats, cur, FEW_VALUES):
            return "ks"
        return "chisquare" if _more_distinct_than(stats, cur, 2) else "z"
    if stats.kind == NUM and _more_distinct_than(stats, cur, FEW_VALUES):
        return "wasserstein"
    return "jensenshannon"


def _more_distinct_than(stats: ColumnStats, cur: _Current, limit: int) -> bool:
    """`pd.concat([reference, current]).nunique() > limit`, from the cached levels."""
    if stats.distinct > limit:
        return True
    reference = set(_level_values(stats))
    if cur.n > 2 * _HEAD and len(reference | set(cur.series.iloc[:_HEAD].unique())) > limit:
        return True
    return len(reference | set(cur.uniques)) > limit


def _fast_path_applies(name: str, stats: ColumnStats, cur: _Current) -> bool:
    if name in ("ks", "wasserstein") or (name in ("jensenshannon", "psi") and _binned(stats)):
        if not (stats.sorted_values is not None and _plain_numeric(_dtype(stats.dtype)) and cur.plain):
            return False
        if not (_exact_ints(stats.sorted_values) or _dtype(stats.dtype).kind in "bf"):
            return False
        if cur.series.dtype.kind in "iu" and not _exact_ints(cur.values):
            return False
        if name == "wasserstein":
            return stats.std is not None
        if name in ("jensenshannon", "psi"):
            return _combined_dtype(stats, cur).kind in "iuf"
        return True
    return stats.levels is not None and stats.counts is not None


def _binned(stats: ColumnStats) -> bool:
    """get_binned_data's choice: a Sturges histogram for a numerical column with > 20 distinct reference values."""
    return stats.kind == NUM and stats.distinct > BINNED_ABOVE


# --- the tests ----------------------------------------------------------------------------------------------------
def _ks(stats: ColumnStats, cur: _Current) -> float:
    from scipy.stats import ks_2samp

    return ks_2samp(stats.sorted_values, cur.values)[1]


def _wasserstein_normed(stats: ColumnStats, cur: _Current) -> float:
    norm = max(float(stats.std), 0.001)
    if cur.series.dtype == np.float64:
        current = cur.sorted
    else:  # scipy compares float64 copies (np.asarray(values, dtype=float))
        current = cur.values.astype(np.float64)
        current.sort()
    return _wasserstein_sorted(stats.sorted_values, current) / norm


def _wasserstein_sorted(a: np.ndarray, b: np.ndarray) -> float:
    """scipy.stats.wasserstein_distance(a, b) of two sorted float64 samples, as the L1 distance between their
    quantile functions (the same area between the two CDFs, summed over the other axis): with n >= m, sample a's
    i-th step [i/n, (i+1)/n] meets at most two of b's steps, the first from j = floor(i*m/n). Weights are
    integers in units of 1/(n*m); every term is non-negative, so the sum is accurate to a few ulps."""
    if len(a) < len(b):
        a, b = b, a
    n, m = len(a), len(b)
    if n * m >= 2**62:  # the integer weights would overflow: scipy's own algorithm
        from scipy.stats import wasserstein_distance

        return float(wasserstein_distance(a, b))
    if n == m:  # the steps coincide
        return float(np.abs(a - b).sum()) / n
    total = 0.0
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        lo = np.arange(start, stop, dtype=np.int64) * m  # step i starts at lo / (n*m)
        j = lo // n  # b's step holding that start
        first = np.minimum((j + 1) * n, lo + m) - lo  # the part of step i inside b's step j
        head = a[start:stop]
        total += _weighted_sum(head - b[j], first)
        split = np.flatnonzero(first < m)  # the rest of step i lies in b's step j + 1
        if split.size:
            total += _weighted_sum(head[split] - b[j[split] + 1], m - first[split])
    return total / (n * m)


def _weighted_sum(differences: np.ndarray, weights: np.ndarray) -> float:
    """sum(|differences| * weights), in numpy's own loops: no BLAS call (whose thread pool can stall a busy host)."""
    np.abs(differences, out=differences)
    differences *= weights
    return float(differences.sum())


def _jensenshannon(stats: ColumnStats, cur: _Current) -> float:
    from scipy.spatial import distance

    reference, current = _binned_data(stats, cur, feel_zeroes=False)
    return distance.jensenshannon(reference, current, None)


def _psi(stats: ColumnStats, cur: _Current) -> float:
    reference, current = _binned_data(stats, cur, feel_zeroes=True)
    return np.sum((reference - current) * np.log(reference / current))


def _chisquare(stats: ColumnStats, cur: _Current) -> float:
    from scipy.stats import chisquare

    keys, reference, current = _keyed_counts(stats, cur)
    k_norm = cur.n / stats.rows
    return chisquare(current, [count * k_norm for count in reference])[1]


def _z(stats: ColumnStats, cur: _Current) -> float:
    """Evidently's two-proportion Z-test: the share of rows that are not the smallest key, on each side."""
    from scipy.stats import norm

    ref_values, cur_values = _level_values(stats), cur.uniques
    if stats.distinct == 1 and len(cur_values) == 1 and _first(ref_values) == _first(cur_values):
        return 1
    key = sorted(set(ref_values) | set(cur_values))[0]
    ref_counts, cur_counts = _count_maps(stats, cur)
    n1, n2 = stats.rows, cur.n
    p1 = float(n1 - ref_counts.get(key, 0)) / n1  # Evidently: sum(reference.apply(0 if x == key else 1)) / n1
    p2 = float(n2 - cur_counts.get(key, 0)) / n2
    share = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(share * (1 - share) * (1.0 / n1 + 1.0 / n2))
    return 2 * (1 - norm.cdf(np.abs(z)))


_SCORES = {
    "ks": _ks,
    "wasserstein": _wasserstein_normed,
    "jensenshannon": _jensenshannon,
    "psi": _psi,
    "chisquare": _chisquare,
    "z": _z,
}


def _keyed_counts(stats: ColumnStats, cur: _Current) -> tuple[list, list[int], list[int]]:
    """Evidently's keys (`list(set(reference uniques) | set(current uniques))`, built in the same order, so the
    same order) and each side's count per key."""
    keys = list(set(_level_values(stats)) | set(cur.uniques))
    ref_counts, cur_counts = _count_maps(stats, cur)
    return keys, [ref_counts.get(k, 0) for k in keys], [cur_counts.get(k, 0) for k in keys]


def _count_maps(stats: ColumnStats, cur: _Current) -> tuple[dict, dict]:
    """value -> count on each side (Evidently's `dict(series.value_counts())`)."""
    return (
        dict(zip(_level_values(stats), stats.counts.tolist(), strict=True)),
        dict(zip(cur.uniques, cur.counts.tolist(), strict=True)),
    )


def _binned_data(stats: ColumnStats, cur: _Current, feel_zeroes: bool) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's `get_binned_data(reference, current, feature_type, n, feel_zeroes)`."""
    if _binned(stats):
        edges = _sturges_edges(stats, cur)
        reference = np.diff(_search_sorted_inclusive(stats.sorted_values, edges)) / stats.rows
        current = np.diff(_search_sorted_inclusive(cur.sorted, edges)) / cur.n
    else:
        _, ref_counts, cur_counts = _keyed_counts(stats, cur)
        reference = np.array([count / stats.rows for count in ref_counts])
        current = np.array([count / cur.n for count in cur_counts])
    if feel_zeroes:
        for percents in (reference, current):
            smallest = min(percents[percents != 0])
            np.place(percents, percents == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return reference, current


def _sturges_edges(stats: ColumnStats, cur: _Current) -> np.ndarray:
    """`np.histogram_bin_edges(np.asarray(pd.concat([reference, current]).values), bins="sturges")` from the two
    sides' minimum and maximum, the total count and the concatenation's dtype (numpy's own steps)."""
    dtype = _combined_dtype(stats, cur)
    low = min(float(stats.sorted_values[0]), float(cur.sorted[0]))
    high = max(float(stats.sorted_values[-1]), float(cur.sorted[-1]))
    return _histogram_bin_edges_sturges(dtype.type(low), dtype.type(high), stats.rows + cur.n, dtype)


def _histogram_bin_edges_sturges(a_min: Any, a_max: Any, size: int, dtype: np.dtype) -> np.ndarray:
    """numpy 2's `histogram_bin_edges(a, "sturges")` (`_get_outer_edges`, `_hist_bin_sturges`, `_get_bin_edges`)
    for an array `a` of `dtype` with `size` elements, minimum `a_min` and maximum `a_max` (scalars of `dtype`)."""
    first_edge, last_edge = a_min, a_max
    if first_edge == last_edge:
        first_edge = first_edge - 0.5
        last_edge = last_edge + 0.5
    width = _unsigned_subtract(a_max, a_min) / (np.log2(size) + 1.0)
    if width:
        if np.issubdtype(dtype, np.integer) and width < 1:
            width = 1
        n_equal_bins = int(np.ceil(_unsigned_subtract(last_edge, first_edge) / width))
    else:
        n_equal_bins = 1
    bin_type = np.result_type(first_edge, last_edge, np.empty(0, dtype=dtype))
    if np.issubdtype(bin_type, np.integer):
        bin_type = np.result_type(bin_type, float)
    edges = np.linspace(first_edge, last_edge, n_equal_bins + 1, endpoint=True, dtype=bin_type)
    if np.any(edges[:-1] >= edges[1:]):
        raise ValueError(f"Too many bins for data range. Cannot create {n_equal_bins} finite-sized bins.")
    return edges


def _unsigned_subtract(a: Any, b: Any) -> Any:
    """numpy's `_unsigned_subtract`: a - b (a >= b) with a signed integer result taken as unsigned."""
    signed_to_unsigned = {np.byte: np.ubyte, np.short: np.ushort, np.intc: np.uintc, np.int_: np.uint,
                          np.longlong: np.ulonglong}
    dt = np.result_type(a, b)
    try:
        unsigned_dt = signed_to_unsigned[dt.type]
    except KeyError:
        return np.subtract(a, b, dtype=dt)
    return np.subtract(np.asarray(a, dtype=dt), np.asarray(b, dtype=dt), casting="unsafe", dtype=unsigned_dt)


def _search_sorted_inclusive(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """numpy's histogram counting on sorted data: `searchsorted` with the last edge inclusive."""
    return np.concatenate((a.searchsorted(v[:-1], "left"), a.searchsorted(v[-1:], "right")))


def _combined_dtype(stats: ColumnStats, cur: _Current) -> np.dtype:
    """The dtype of `pd.concat([reference, current])` (pandas' rules, e.g. bool with int is object)."""
    one = pd.Series(np.zeros(1, dtype=_dtype(stats.dtype)))
    dtype = pd.concat([one, cur.series.iloc[:1].reset_index(drop=True)], ignore_index=True).dtype
    return dtype if isinstance(dtype, np.dtype) else np.dtype(object)


# --- the fallback: Evidently's own test on a rebuilt reference ---------------------------------------------------
def _evidently_fallback(
    stats: ColumnStats, current: pd.Series, name: str, configured: str | None, threshold: float | None
) -> tuple[ColumnDrift, str]:
    from evidently.legacy.calculations import stattests
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    column_type = ColumnType.Numerical if stats.kind == NUM else ColumnType.Categorical
    if configured is not None:
        stattest = get_registered_stattest(configured, column_type)  # Evidently's errors for unknown / not allowed
    else:  # a default test (e.g. on a nullable Int64 column): Evidently applies it whatever the column's kind
        stattest = {
            "ks": stattests.ks_stat_test, "wasserstein": stattests.wasserstein_stat_test,
            "jensenshannon": stattests.jensenshannon_stat_test, "chisquare": stattests.chi_stat_test,
            "z": stattests.z_stat_test,
        }[name]
    outcome = stattest(_reference_series(stats), current, column_type, threshold)
    drift = ColumnDrift(
        column=stats.column,
        method=str(configured) if configured is not None else stattest.display_name,
        score=float(outcome.drift_score),
        threshold=float(outcome.actual_threshold),
        drifted=bool(outcome.drifted),
    )
    return drift, stattest.name


def _reference_series(stats: ColumnStats) -> pd.Series:
    """The cleaned reference column rebuilt from the stats (each distinct value repeated its count times, or the
    sorted values), with its dtype; the row order is not the original one."""
    if stats.levels is not None and stats.counts is not None:
        values = np.repeat(stats.levels, stats.counts)
    else:
        values = np.asarray(stats.sorted_values)
    series = pd.Series(values, name=stats.column)
    try:
        return series.astype(stats.dtype)
    except (TypeError, ValueError):
        return series


# --- helpers ------------------------------------------------------------------------------------------------------
def _reuse(factorized: tuple[Any, np.ndarray] | None, ref: pd.Series, values: pd.Series):
    """The uncleaned column's factorization as the cleaned one's, when that is provably the same: the cleaning
    dropped exactly the rows factorize marks missing (-1), and no level is an infinity. None otherwise."""
    if factorized is None or ref.dtype != values.dtype:
        return None
    uniques, codes = factorized
    kept = codes >= 0
    if int(kept.sum()) != len(ref) or any(isinstance(u, float) and not math.isfinite(u) for u in uniques):
        return None
    return uniques, codes[kept] if len(ref) < len(values) else codes


def _factorize(series: pd.Series) -> tuple[Any, np.ndarray]:
    """Distinct values in order of first appearance (of `Series.unique()`'s type) and each row's code."""
    dtype = series.dtype
    values = series.to_numpy() if isinstance(dtype, np.dtype) and dtype.kind in "biufcO" else series.array
    codes, uniques = pd.factorize(values)
    return uniques, codes


def _level_values(stats: ColumnStats) -> Iterable:
    """The reference's distinct values as `Series.unique()` gives them (so a set of them hashes the same)."""
    levels = stats.levels
    dtype = _dtype(stats.dtype)
    if isinstance(dtype, np.dtype) and dtype.kind in "biufcO":
        return levels
    try:  # category, string, nullable integers, datetimes: iterate the pandas array (Timestamps, str, ...)
        return pd.Series(levels).astype(stats.dtype).array
    except (TypeError, ValueError):
        return levels


def _first(values: Any) -> Any:
    return next(iter(values))


def _dtype(name: str) -> Any:
    try:
        return pd.api.types.pandas_dtype(name)
    except TypeError:
        return None


def _plain_numeric(dtype: Any) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind in "biuf"


def _exact_ints(values: np.ndarray) -> bool:
    """Whether integer values (or the float64 copy of them) all lie within +-2**53, where float64 is exact."""
    if values.size == 0:
        return True
    return bool(max(abs(float(values.min())), abs(float(values.max()))) < _EXACT_INT)


def _arrays_equal(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.array_equal(a, b))


# --- the archive --------------------------------------------------------------------------------------------------
_JSON_TAGS = {bool: "b", int: "i", float: "f", str: "s"}


def _encode_levels(column: str, levels: np.ndarray) -> tuple[str, np.ndarray | None, list | None]:
    """How a column's levels are stored without pickle: as the array itself (numbers, datetimes), as a unicode
    array (all str), or as a JSON list of [type, value] (mixed str / int / float / bool)."""
    if levels.dtype != object:
        return "array", np.ascontiguousarray(levels), None
    items = levels.tolist()
    if all(type(v) is str and not v.endswith("\x00") for v in items):
        return "str", np.array(items, dtype=str) if items else np.array([], dtype="<U1"), None
    listed = []
    for value in items:
        if isinstance(value, np.generic):
            value = value.item()
        tag = _JSON_TAGS.get(type(value))
        if tag is None or (tag == "f" and not math.isfinite(value)):
            raise ValueError(
                f"column {column!r}: a level of type {type(value).__name__} ({value!r}) cannot be stored "
                "without pickle (levels must be numbers, datetimes, str or bool)"
            )
        listed.append([tag, value])
    return "json", None, listed


def _decode_levels(meta: Mapping[str, Any], array: np.ndarray | None) -> np.ndarray:
    encoding = meta["levels"]
    if encoding == "array":
        _check(array is not None and array.dtype != object, "levels array missing")
        return array
    if encoding == "str":
        _check(array is not None and array.dtype.kind == "U", "levels array missing")
        return array.astype(object)
    if encoding == "json":
        kinds = {"b": bool, "i": int, "f": float, "s": str}
        listed = meta["levels_json"]
        _check(isinstance(listed, list), "levels_json is not a list")
        values = np.empty(len(listed), dtype=object)
        for i, (tag, value) in enumerate(listed):
            _check(tag in kinds, f"unknown level tag {tag!r}")
            values[i] = kinds[tag](value)
        return values
    raise ValueError(f"malformed reference stats: unknown levels encoding {encoding!r}")


def _column_from_archive(index: int, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> ColumnStats:
    _check(isinstance(meta, dict), f"column entry {index} is not an object")
    column, kind, rows, distinct = meta["column"], meta["kind"], meta["rows"], meta["distinct"]
    _check(kind in (NUM, CAT), f"column {column!r}: unknown kind {kind!r}")
    _check(isinstance(rows, int) and rows > 0, f"column {column!r}: bad row count {rows!r}")
    _check(isinstance(distinct, int) and 0 < distinct <= rows, f"column {column!r}: bad distinct count")
    _check(isinstance(meta["dtype"], str), f"column {column!r}: bad dtype")
    sorted_values = None
    if meta["sorted"]:
        sorted_values = arrays[f"sorted_{index}"]
        _check(sorted_values.dtype == np.float64 and sorted_values.shape == (rows,),
               f"column {column!r}: sorted values do not match its row count")
    _check((kind == NUM) == (sorted_values is not None), f"column {column!r}: sorted values only for numerical")
    std = meta["std"]
    _check(std is None or isinstance(std, int | float), f"column {column!r}: bad std")
    levels = counts = None
    if meta["levels"] is not None:
        levels = _decode_levels(meta, arrays.get(f"levels_{index}"))
        counts = arrays[f"counts_{index}"]
        _check(counts.dtype == np.int64 and levels.ndim == 1 and counts.shape == levels.shape,
               f"column {column!r}: levels and counts do not align")
        _check(len(levels) == distinct and int(counts.sum()) == rows and bool((counts > 0).all()),
               f"column {column!r}: counts do not add up to its rows")
    _check(levels is not None or (kind == NUM and distinct > MAX_LEVELS),
           f"column {column!r}: levels missing")
    for array in (sorted_values, levels, counts):
        if array is not None:
            array.setflags(write=False)
    return ColumnStats(
        column=column, kind=kind, rows=rows, sorted_values=sorted_values,
        std=None if std is None else float(std), distinct=distinct, levels=levels, counts=counts,
        dtype=meta["dtype"],
    )


def _quality_from_archive(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> ReferenceQuality | None:
    """The data-quality side `to_bytes` wrote (None when the stats were built without it)."""
    blocks = header.get("quality_blocks")
    if blocks is None:
        return None
    _check(isinstance(blocks, int) and blocks >= 1, f"bad quality_blocks {blocks!r}")
    columns = {}
    for index, meta in enumerate(header["columns"]):
        shares, missing = arrays[f"quality_{index}"], meta["quality_missing"]
        _check(shares.dtype == np.float64 and shares.shape == (blocks, 2) and isinstance(missing, int | float),
               f"column {meta['column']!r}: quality blocks do not match quality_blocks")
        shares.setflags(write=False)
        columns[meta["column"]] = ColumnQuality(missing=float(missing), blocks=shares)
    return ReferenceQuality(blocks=blocks, columns=columns)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(f"malformed reference stats: {message}")
