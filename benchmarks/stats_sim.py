"""How often each drift check fires, by simulation: false alarms on quiet periods, power on drifted ones.

    python -m benchmarks.stats_sim                     # the full table (make bench-stats) -> docs/statistics.md
    python -m benchmarks.stats_sim --periods 50 --sizes 28x7 --out /tmp/t.md --json /tmp/t.json   # a quick look
    python -m benchmarks.stats_sim --leave-one-period-out --every grid_load=4   # the shipped samples (below)

The data are the bike sample's monitored columns (weathersit categorical; temp, atemp, hum, windspeed numerical)
in the monitor's reference window, 2011-01-01..2011-01-28 (28 daily rows; a period is a week, 7 rows), and the
target cnt. Periods come from two sources:

- bootstrap: the reference is the real 28-row window; a period is 7 of its rows drawn with replacement.
- a stationary generator fitted to the window: a Gaussian copula over temp, atemp, hum, windspeed, weathersit
  (ordinal: its latent normal cut at the window's level shares) and cnt, with the correlations of the window's
  normal scores and each column's own marginal (numerical: the window's quantile function, linear between order
  statistics). A reference is drawn from it (several per size, so the rates average over references) and
  each period is a fresh draw, unchanged (quiet) or changed in one way (the kinds below). Every kind of a
  period starts from the same draw (paired), so the rows of the table differ only by the change.

Checks on each period: `no_dataset_drift` (compute_drift with default settings: Evidently's DataDriftPreset
choices, drift when >= 50 % of the 5 columns drift, i.e. >= 3), "any column drifted" (the same per-column
tests, alarm on >= 1), `no_multivariate_drift` (drift_platform.core.stats.multivariate with default settings; its null is
computed once per reference and size and reused), and for contrast a check that needs labels: a ridge model of
cnt fitted on the reference, alarm when its RMSE on the period exceeds twice its leave-one-out RMSE on the
reference (the platform's quality check compares errors the same way).

Each rate comes with a 95 % Wilson interval. Results go to --out (markdown) and --json (raw counts).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import inspect
import json
import math
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
BIKE_SPEC, BIKE_SOURCE = DATA / "bike_sharing.yaml", DATA / "bike_sharing_day.csv"
DEFAULT_OUT = REPO / "docs" / "statistics.md"
# In a file holding both markers, the table replaces what is between them; any other file is the table alone.
BEGIN, END = "<!-- stats_sim table: begin -->", "<!-- stats_sim table: end -->"
DEFAULT_JSON = REPO / "benchmarks" / "results" / "stats_sim.json"

NUMERICAL = ["temp", "atemp", "hum", "windspeed"]
CATEGORICAL = ["weathersit"]
TARGET = "cnt"
LATENT = [*NUMERICAL, *CATEGORICAL, TARGET]  # the copula's variables, in this order
SEED = 20_111_228
RIDGE_ALPHA = 1.0
ERROR_RATIO = 2.0
CHECKS = ("no_dataset_drift", "any_column", "no_multivariate_drift", "model_error")
CHECK_TITLES = {
    "no_dataset_drift": "`no_dataset_drift` (>= 3 of 5 columns)",
    "any_column": "any column drifted",
    "no_multivariate_drift": "`no_multivariate_drift`",
    "model_error": "model error > 2x (needs labels)",
}


# --- the sizes and the kinds of period ------------------------------------------------------------------------
@dataclass(frozen=True)
class Size:
    name: str
    reference_rows: int
    current_rows: int
    references: int  # references drawn from the generator; the periods are spread over them


SIZES = {
    "28x7": Size("28x7", 28, 7, references=20),
    "1000x1000": Size("1000x1000", 1_000, 1_000, references=10),
    "100000x100000": Size("100000x100000", 100_000, 100_000, references=1),
}
LARGE_ROWS = 100_000  # cells of this many rows run --large-periods periods


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    quiet: bool
    bootstrap: bool = False  # from the real window (sample size only), not the generator


SHIFTED, VARIED, HALF, LEVEL, FLIPPED = "hum", "hum", ("temp", "atemp"), 2, ("temp", "atemp")
KINDS = [
    Kind("quiet_bootstrap", "quiet: bootstrap of the real window", quiet=True, bootstrap=True),
    Kind("quiet", "quiet: stationary generator", quiet=True),
    Kind("shift_0.5", f"mean +0.5 sd in {SHIFTED}", quiet=False),
    Kind("shift_1", f"mean +1 sd in {SHIFTED}", quiet=False),
    Kind("shift_2", f"mean +2 sd in {SHIFTED}", quiet=False),
    Kind("shift_half", f"mean +1 sd in {' and '.join(HALF)} (half the numerical)", quiet=False),
    Kind("category", f"weathersit: level {LEVEL}'s share +20 points", quiet=False),
    Kind("variance", f"variance x2 in {VARIED}", quiet=False),
    Kind("correlation", f"{FLIPPED[0]}-{FLIPPED[1]} correlation flipped, marginals kept", quiet=False),
    Kind("concept", "concept drift: cnt's relation to the weather reversed, inputs unchanged", quiet=False),
]
KIND_BY_KEY = {k.key: k for k in KINDS}


def kinds_for(size: Size) -> list[Kind]:
    """The bootstrap of the real 28-row window only makes sense at the sample's own size."""
    return [k for k in KINDS if not k.bootstrap or (size.reference_rows, size.current_rows) == (28, 7)]


# --- the data ---------------------------------------------------------------------------------------------------
@functools.cache
def spec():
    from drift_platform.core.intake.dataset import DatasetSpec

    return DatasetSpec.from_yaml(BIKE_SPEC)


@functools.cache
def window() -> pd.DataFrame:
    """The monitor's reference window: the sample's rows from the spec's reference dates."""
    day = pd.read_csv(BIKE_SOURCE, parse_dates=[spec().datetime_column])
    start, end = spec().reference_window
    dates = day[spec().datetime_column]
    rows = day[(dates >= start) & (dates < end)]
    return rows[[*NUMERICAL, *CATEGORICAL, TARGET]].reset_index(drop=True)


class Copula:
    """A Gaussian copula fitted to a small table: the correlations of its normal scores, each numerical column's
    quantile function (linear between order statistics), the categorical's level shares (cut points on its
    latent normal, in level order)."""

    def __init__(self, table: pd.DataFrame) -> None:
        from scipy.stats import norm, rankdata

        n = len(table)
        scores = np.column_stack([norm.ppf((rankdata(table[c]) - 0.5) / n) for c in LATENT])
        corr = np.corrcoef(scores, rowvar=False)
        values, vectors = np.linalg.eigh(corr)
        corr = vectors @ np.diag(np.clip(values, 1e-6, None)) @ vectors.T
        d = np.sqrt(np.diag(corr))
        self.corr = corr / np.outer(d, d)
        self.cholesky = np.linalg.cholesky(self.corr)
        self.sorted = {c: np.sort(table[c].to_numpy(float)) for c in [*NUMERICAL, TARGET]}
        self.grid = (np.arange(n) + 0.5) / n
        shares = table[CATEGORICAL[0]].value_counts(normalize=True).sort_index()
        self.levels, self.shares = shares.index.to_numpy(), shares.to_numpy()
        self.mean = {c: float(table[c].mean()) for c in NUMERICAL}
        self.sd = {c: float(table[c].std(ddof=1)) for c in NUMERICAL}
        # The target's latent given the features' latents: z_y = b . z_f + residual.
        f, y = slice(0, len(LATENT) - 1), len(LATENT) - 1
        self.slope = np.linalg.solve(self.corr[f, f], self.corr[f, y])
        self.r2 = float(self.slope @ self.corr[f, y])

    def latents(self, rows: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((rows, len(LATENT))) @ self.cholesky.T

    def frame(self, z: np.ndarray, kind: str = "quiet") -> pd.DataFrame:
        """Values from latents, changed as `kind` says (see KINDS)."""
        from scipy.special import ndtr

        z = z.copy()
        index = {c: i for i, c in enumerate(LATENT)}
        if kind == "correlation":  # a mirrored latent keeps the marginal and flips the sign of its correlations
            z[:, index[FLIPPED[1]]] *= -1
        if kind == "concept":  # the fitted part of the target's latent reversed; its marginal unchanged
            features = z[:, : len(LATENT) - 1]
            z[:, index[TARGET]] -= 2 * features @ self.slope
        u = ndtr(z)
        out = {c: np.interp(u[:, index[c]], self.grid, self.sorted[c]) for c in [*NUMERICAL, TARGET]}
        shares = self.shares
        if kind == "category":
            position = int(np.flatnonzero(self.levels == LEVEL)[0])
            moved = min(shares[position] + 0.20, 1.0)
            others = np.delete(np.arange(len(shares)), position)
            shares = shares.copy()
            shares[others] *= (1 - moved) / shares[others].sum()
            shares[position] = moved
        cuts = np.cumsum(shares)[:-1]
        out[CATEGORICAL[0]] = self.levels[np.searchsorted(cuts, u[:, index[CATEGORICAL[0]]], side="right")]
        table = pd.DataFrame(out)[[*NUMERICAL, *CATEGORICAL, TARGET]]
        if kind.startswith("shift_") and kind != "shift_half":
            table[SHIFTED] += float(kind.removeprefix("shift_")) * self.sd[SHIFTED]
        if kind == "shift_half":
            for column in HALF:
                table[column] += self.sd[column]
        if kind == "variance":
            table[VARIED] = self.mean[VARIED] + math.sqrt(2) * (table[VARIED] - self.mean[VARIED])
        return table


@functools.cache
def copula() -> Copula:
    return Copula(window())


# --- the label check ------------------------------------------------------------------------------------------
class ErrorCheck:
    """Ridge regression of the target on the standardized numerical columns and the categorical's one-hot levels,
    fitted on the reference; alarm when the RMSE on a period exceeds ERROR_RATIO x the reference's leave-one-out
    RMSE (closed form)."""

    def __init__(self, reference: pd.DataFrame) -> None:
        self.center = reference[NUMERICAL].mean().to_numpy()
        self.scale = reference[NUMERICAL].std(ddof=0).replace(0, 1).to_numpy()
        self.levels = np.sort(reference[CATEGORICAL[0]].unique())
        x, y = self._design(reference), reference[TARGET].to_numpy(float)
        penalty = RIDGE_ALPHA * np.eye(x.shape[1])
        penalty[0, 0] = 0.0  # not the intercept
        inverse = np.linalg.inv(x.T @ x + penalty)
        self.beta = inverse @ x.T @ y
        leverage = np.einsum("ij,jk,ik->i", x, inverse, x)
        residual = (y - x @ self.beta) / (1 - leverage)
        self.baseline = float(np.sqrt(np.mean(residual**2)))

    def _design(self, frame: pd.DataFrame) -> np.ndarray:
        numbers = (frame[NUMERICAL].to_numpy(float) - self.center) / self.scale
        onehot = (frame[CATEGORICAL[0]].to_numpy()[:, None] == self.levels[1:][None, :]).astype(float)
        return np.column_stack([np.ones(len(frame)), numbers, onehot])

    def alarm(self, current: pd.DataFrame) -> bool:
        error = np.sqrt(np.mean((current[TARGET].to_numpy(float) - self._design(current) @ self.beta) ** 2))
        return bool(error > ERROR_RATIO * self.baseline)


# --- one reference, many periods ----------------------------------------------------------------------------------
def _seed(*parts: int) -> np.random.Generator:
    return np.random.default_rng([SEED, *parts])


@functools.lru_cache(maxsize=2)
def reference_frame(size_name: str, ref: int, bootstrap: bool) -> pd.DataFrame:
    """The real window for the bootstrap kind; else reference `ref` of this size, drawn from the generator."""
    if bootstrap:
        return window()
    size = SIZES[size_name]
    return copula().frame(copula().latents(size.reference_rows, _seed(1, list(SIZES).index(size_name), ref)))


def multivariate_settings():
    from drift_platform.core.stats.multivariate import MultivariateSettings

    return MultivariateSettings()


def compute_null(key: tuple[str, int, bool]) -> tuple[str, int, bool, list[float], float]:
    """The multivariate null of one reference at its size's current rows (once per reference and size)."""
    from drift_platform.core.stats.multivariate import null_aucs

    size_name, ref, bootstrap = key
    _quiet_warnings()
    began = time.perf_counter()
    size = SIZES[size_name]
    null = null_aucs(reference_frame(size_name, ref, bootstrap), size.current_rows, NUMERICAL, CATEGORICAL,
                     multivariate_settings())
    return size_name, ref, bootstrap, null.tolist(), time.perf_counter() - began


@functools.cache
def _drift_keywords() -> dict[str, Any]:
    """compute_drift's options for this use: no report; one thread per column decision where it takes `workers`
    (the periods here are small, and the pool's threads would only compete with the other worker process)."""
    from drift_platform.core.stats.drift import compute_drift

    keywords: dict[str, Any] = {"with_report": False}
    if "workers" in inspect.signature(compute_drift).parameters:
        keywords["workers"] = 1
    return keywords


@dataclass(frozen=True)
class Block:
    """Periods [first, last) of reference `ref` of a size, for the given kinds."""

    size: str
    ref: int
    bootstrap: bool
    first: int
    last: int
    kinds: tuple[str, ...]
    null: tuple[float, ...]


def _quiet_warnings() -> None:
    """scipy warns (divide by zero) whenever Evidently's chi-square meets a level the reference lacks (its
    expected count is 0; the p-value is then 0: drift). That happens in many small periods; it is counted,
    not printed."""
    import warnings

    warnings.filterwarnings("ignore", category=RuntimeWarning)


def run_block(block: Block) -> dict[str, Any]:
    """Alarm counts of each check for each kind over the block's periods, the drifted columns, and the Evidently
    tests used."""
    from drift_platform.core.stats.drift import compute_drift
    from drift_platform.core.stats.multivariate import multivariate_drift

    _quiet_warnings()
    began = time.perf_counter()
    size = SIZES[block.size]
    reference = reference_frame(block.size, block.ref, block.bootstrap)
    errors = ErrorCheck(reference)
    settings, null = multivariate_settings(), np.asarray(block.null)
    counts = {k: dict.fromkeys(CHECKS, 0) for k in block.kinds}
    columns = {k: dict.fromkeys([*CATEGORICAL, *NUMERICAL], 0) for k in block.kinds}
    methods: set[str] = set()
    size_index = list(SIZES).index(block.size)
    for period in range(block.first, block.last):
        rng = _seed(2, size_index, block.ref, period, int(block.bootstrap))
        if block.bootstrap:
            base = None
            currents = {k: reference.iloc[rng.integers(0, len(reference), size.current_rows)].reset_index(drop=True)
                        for k in block.kinds}
        else:
            base = copula().latents(size.current_rows, rng)
            currents = {k: copula().frame(base, k) for k in block.kinds}
        for kind, current in currents.items():
            drift = compute_drift(reference, current, spec(), **_drift_keywords())
            multi = multivariate_drift(reference, current, NUMERICAL, CATEGORICAL, settings, null=null)
            alarms = {
                "no_dataset_drift": drift.dataset_drift,
                "any_column": drift.drifted_count >= 1,
                "no_multivariate_drift": multi.drifted,
                "model_error": errors.alarm(current),
            }
            for check, alarm in alarms.items():
                counts[kind][check] += int(alarm)
            for column in drift.drifted_columns:
                columns[kind][column] += 1
            methods.update(f"{c.column}: {c.method}" for c in drift.columns)
    return {"block": block, "counts": counts, "columns": columns, "methods": sorted(methods),
            "seconds": time.perf_counter() - began}


# --- statistics and output -------------------------------------------------------------------------------------
def wilson(alarms: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = alarms / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate_cell(alarms: int, n: int) -> str:
    low, high = wilson(alarms, n)
    return f"{100 * alarms / n:.1f} % [{100 * low:.1f}, {100 * high:.1f}]"


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "## The table: false alarms and power, by simulation",
        "",
        f"Made by `{results['command']}` on {results['finished']}, "
        f"{results['machine']}; wall time {results['wall_seconds'] / 60:.1f} min. Raw counts: "
        f"`{results['json']}`. See the module's docstring for the method.",
        "",
        "Data: the bike sample's monitored columns (weathersit; temp, atemp, hum, windspeed) in the reference "
        "window 2011-01-01..2011-01-28 (28 daily rows; a weekly period = 7 rows). \"bootstrap\": the real window "
        "is the reference and a period is 7 of its rows drawn with replacement. Every other row: a Gaussian "
        "copula fitted to the window (normal-score correlations, each column's own marginal, weathersit as an "
        "ordinal latent, cnt as the target) draws the references (several per size; the rates average over "
        "them) and the periods; each kind changes the same draws in one way. sd = the window's standard "
        "deviation of the column.",
        "",
        "Each cell: alarm rate with its 95 % Wilson interval. Quiet rows: the false-alarm rate. Other rows: the "
        "detection rate (power). `no_dataset_drift` and \"any column drifted\" are compute_drift with default "
        "settings (Evidently's DataDriftPreset: K-S / chi-square or Z up to 1,000 reference rows, Wasserstein / "
        "Jensen-Shannon above; dataset drift at >= 50 % of the 5 columns, i.e. 3). `no_multivariate_drift` is "
        "drift_platform.core.stats.multivariate with default settings (alpha 0.05, 100 null draws, 5 folds, 5,000 rows a "
        "side at most), its null computed once per reference. The last check needs labels and is there for "
        f"contrast: a ridge model of cnt fitted on the reference, alarm when its RMSE on the period exceeds "
        f"{ERROR_RATIO:g}x its leave-one-out RMSE on the reference. Mean shifts and the variance change move the "
        "inputs after cnt is drawn, so the model's error grows with them where it leans on the moved column.",
        "",
    ]
    for cell in results["cells"]:
        size = SIZES[cell["size"]]
        n_note = f"{cell['periods']} periods per kind"
        if cell["periods"] < results["periods"]:
            n_note += f" (fewer than the {results['periods']} of the smaller sizes, for time)"
        lines += [
            f"### {size.reference_rows:,} reference rows vs {size.current_rows:,} current rows",
            "",
            f"{n_note}; generator references: {size.references}; multivariate threshold (0.95 quantile of the "
            f"null AUCs) per reference: {', '.join(f'{t:.3f}' for t in cell['thresholds'])}"
            + (f" (bootstrap's real window: {cell['bootstrap_threshold']:.3f})" if cell.get("bootstrap_threshold")
               is not None else "")
            + f". Evidently's tests here: {'; '.join(cell['methods'])}. Time: {cell['seconds'] / 60:.1f} min "
            "(CPU, all workers).",
            "",
            "| period | " + " | ".join(CHECK_TITLES[c] for c in CHECKS) + " | n |",
            "|---|" + "---|" * (len(CHECKS) + 1),
        ]
        for key, count in cell["kinds"].items():
            kind = KIND_BY_KEY[key]
            label = ("**quiet** " + kind.label.removeprefix("quiet: ")) if kind.quiet else kind.label
            n = count["n"]
            lines.append(f"| {label} | " + " | ".join(rate_cell(count["alarms"][c], n) for c in CHECKS) + f" | {n} |")
        quiet = cell["kinds"].get("quiet")
        if quiet:
            spread = []
            for check in CHECKS:
                rates = [100 * r["alarms"][check] / r["n"] for r in quiet["by_reference"].values()]
                spread.append(f"{CHECK_TITLES[check]} {min(rates):.0f}-{max(rates):.0f} %")
            columns = ", ".join(f"{c} {100 * v / quiet['n']:.1f} %" for c, v in quiet["drifted_columns"].items())
            lines += [
                "",
                f"Quiet (stationary) periods, false-alarm rate per reference (min-max over the {len(quiet['by_reference'])} "
                f"reference(s)): {'; '.join(spread)}. Each column's own false-alarm rate there: {columns}.",
            ]
        lines.append("")
    lines += [
        "### Notes",
        "",
        "- The intervals treat periods as independent. Periods share a reference (rates are averages over the "
        "references of a size), and a test's false-alarm rate given one reference varies between references "
        "(see the min-max lines), so for the average over references the intervals are somewhat too narrow.",
        "- Evidently's chi-square (categorical columns, <= 1,000 reference rows) is a goodness-of-fit test of the "
        "period's counts against the reference's shares taken as exact; it ignores the reference's own sampling "
        "noise, so its false-alarm rate exceeds 5 % as the period grows towards the reference's size. A level the "
        "reference lacks but the period has gets an expected count of 0 and a p-value of 0: drift.",
        "- `no_multivariate_drift` sets its threshold from chunks of the reference scored against the rest of it. "
        "The chunks have the period's size (after subsampling to 5,000 rows) but at most half the reference's: "
        "7 of 28 rows vs the other 21; 5,000 vs 5,000 of 100,000. At 1,000 vs 1,000 they are 500 vs 500, so that "
        "null is wider than the period's and the check conservative there (fewer false alarms than alpha, less "
        "power on small changes).",
        "- Concept drift leaves the inputs' joint distribution exactly as in the quiet periods (the same draws): no "
        "check on the inputs can see it, and its rates equal the quiet ones up to noise. Only a check with labels "
        "(the last column) or on the predictions' errors can.",
        "",
    ]
    return "\n".join(lines)


# --- leave one period out on the shipped monitors' sample data ----------------------------------------------------
MONITORS = REPO / "drift_platform" / "defs" / "monitors"
LOPO_JSON = REPO / "benchmarks" / "results" / "leave_one_period_out.json"
LOPO_MD = REPO / "benchmarks" / "results" / "leave_one_period_out.md"
# random_draw_null_aucs (the former null), block_null_aucs (contiguous blocks in row order, or the reference's
# whole periods for event data) and null_aucs (the larger of both, quantile by quantile: what the platform uses)
NULLS = ("random", "blocks", "now")
# The generators' built-in episodes (data/generate_*.py docstrings): periods that are NOT quiet (a sensor fault, a
# heat wave, a storm and its replays, a new season in a heat wave; the concept-drift periods sit in a spell of
# weather unlike their own window's). Counted apart: an alarm there is not a false one.
EPISODES = {
    "grid_load": ("2011-02-08", *(f"2011-03-{d}" for d in range(12, 19)), *(f"2011-07-{d}" for d in range(17, 24))),
    "football": ("2021-10-04", "2022-02-14", "2022-03-21", "2022-08-01", "2022-08-08"),
}


@functools.cache
def shipped_monitor(name: str) -> dict[str, Any]:
    """A shipped monitor's defs.yaml as this benchmark needs it: its spec, its sample CSV (the source's default,
    not the environment's override), cadence, timezone and multivariate settings."""
    import re

    import yaml

    from drift_platform.core.intake.dataset import DatasetSpec
    from drift_platform.core.settings import MultivariateSettings

    attributes = yaml.safe_load((MONITORS / name / "defs.yaml").read_text())["attributes"]
    root = re.compile(r"\{\{\s*context\.project_root\s*\}\}")
    source = re.search(r"project_root\s*~\s*'([^']+)'", attributes["source"])
    return {
        "spec": DatasetSpec.from_yaml(Path(root.sub(str(REPO), attributes["spec"]))),
        "source": REPO / source.group(1).lstrip("/") if source else Path(attributes["source"]),
        "cadence": attributes.get("cadence", "weekly"),
        "timezone": attributes.get("timezone", "UTC"),
        "settings": MultivariateSettings(**attributes.get("multivariate", {})),
    }


@functools.cache
def monitor_rows(name: str) -> pd.DataFrame:
    """All the sample's rows through the monitor's contract (types; time then key order; its timezone)."""
    from drift_platform.core.intake.source import load_window

    monitor = shipped_monitor(name)
    frame, _ = load_window(str(monitor["source"]), monitor["spec"], pd.Timestamp.min, pd.Timestamp.max,
                           whole_file=True, timezone=monitor["timezone"])
    return frame


def lopo_tasks(name: str, every: int = 1, days: int | None = None) -> list[tuple[str, str, str, str, str]]:
    """(monitor, window start, window end, period start, period end) of every `every`-th period of each
    reference-sized window: windows of the reference's length (or of `days` days) laid end to end from the
    reference's first day, those wholly inside the sample's days; periods the monitor's (days, or Monday weeks)
    wholly inside a window."""
    monitor = shipped_monitor(name)
    start, end = (pd.Timestamp(t) for t in monitor["spec"].reference_window)
    length = pd.Timedelta(days=days) if days else end - start
    step = pd.Timedelta(days=1 if monitor["cadence"] == "daily" else 7)
    times = monitor_rows(name)[monitor["spec"].datetime_column]
    first, last = times.min().normalize(), times.max().normalize() + pd.Timedelta(days=1)
    window = start + math.ceil((first - start) / length) * length
    tasks = []
    while window + length <= last:
        period = window + pd.Timedelta(days=(-window.weekday()) % 7 if step.days == 7 else 0)
        periods = []
        while period + step <= window + length:
            periods.append(period)
            period += step
        tasks += [(name, str(window), str(window + length), str(p), str(p + step)) for p in periods[::every]]
        window += length
    return tasks


def lopo_period(task: tuple[str, str, str, str, str]) -> dict[str, Any]:
    """One period against the rest of its window, as `no_multivariate_drift` would judge it with each null. The
    rest keeps its datetime column, as the reference statistics' sample does."""
    from drift_platform.core.stats.multivariate import (
        block_null_aucs,
        combined_null,
        multivariate_drift,
        random_draw_null_aucs,
    )

    _quiet_warnings()
    began = time.perf_counter()
    name, window_start, window_end, period_start, period_end = task
    monitor, rows = shipped_monitor(name), monitor_rows(name)
    spec, settings = monitor["spec"], monitor["settings"]
    times = rows[spec.datetime_column]
    in_window = rows[(times >= window_start) & (times < window_end)]
    inside = (in_window[spec.datetime_column] >= period_start) & (in_window[spec.datetime_column] < period_end)
    current, rest = in_window[inside].reset_index(drop=True), in_window[~inside].reset_index(drop=True)
    outcome: dict[str, Any] = {"monitor": name, "window": window_start, "period": period_start, "rows": len(current),
                               "reference_rows": len(rest)}
    if len(current) < 2 or len(rest) < 4:
        return {**outcome, "skipped": True, "seconds": time.perf_counter() - began}
    numerical = [c for c in spec.monitored_columns if c in spec.numerical_features]
    categorical = [c for c in spec.monitored_columns if c in spec.categorical_features]
    rest = rest[[*numerical, *categorical, spec.datetime_column]]
    random = random_draw_null_aucs(rest, len(current), numerical, categorical, settings)
    blocks = block_null_aucs(rest, len(current), numerical, categorical, settings)
    for null_name, null in zip(NULLS, (random, blocks, combined_null(blocks, random)), strict=True):
        result = multivariate_drift(rest, current, numerical, categorical, settings, null=null)
        outcome[null_name] = {"drifted": result.drifted, "judged": result.judged, "auc": round(result.auc, 4),
                              "threshold": round(result.threshold, 4), "p_value": round(result.p_value, 4)}
    outcome["null_method"] = result.null_method
    return {**outcome, "skipped": False, "seconds": time.perf_counter() - began}


def lopo_counts(entry: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    """Per null (NULLS): alarms, periods judged (threshold below 1) and periods, over a monitor's periods that
    could be scored: all of them, and those outside the generator's built-in episodes (EPISODES)."""
    scored = [p for p in entry["periods"] if not p["skipped"]]
    quiet = [p for p in scored if p["period"][:10] not in EPISODES.get(name.split()[0], ())]
    return {label: {null: (sum(p[null]["drifted"] for p in ps), sum(p[null].get("judged", True) for p in ps),
                           len(ps)) for null in NULLS}
            for label, ps in (("all", scored), ("quiet", quiet))}


def lopo_markdown(results: dict[str, Any]) -> str:
    """The false-alarm rates per monitor with each null (the former random draws, the blocks alone, and the
    larger of both, which the platform uses), as a markdown table."""
    lines = [
        "## `no_multivariate_drift` leave one period out on the shipped sample data",
        "",
        f"Raw: `{results['json']}` (each monitor's entry says the command that made it and when).",
        "",
        "Windows of the reference's length (or the length the row says) laid end to end through each sample (from "
        "the reference's first day); each period of a window (or every k-th, as the table says) is the current, "
        "the rest of its window (with its datetime column, as the reference statistics' sample keeps it) the "
        "reference, judged with the monitor's multivariate settings and `multivariate_drift`. Thresholds: the "
        "former `random_draw_null_aucs` (chunks drawn at random), `block_null_aucs` alone (contiguous blocks; for "
        "event data cut by its time gaps into whole periods, their predictive distribution), and `null_aucs` (the "
        "larger of both: what the platform uses). A period comes from the same stretch of data as its reference, "
        "so an alarm is a false one, except in the generators' built-in episodes (EPISODES: a sensor fault, a heat "
        "wave, a storm; left out) and up to the seasonal change within a window. A period whose threshold is 1 is "
        "'not judged' (it passes): the share judged is given. 95 % Wilson intervals.",
        "",
        "| monitor | cadence | windows | periods (without episodes) | old null: random draws | blocks alone | "
        "now: the larger of both | judged now | all periods, now |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in results["monitors"].items():
        counts = lopo_counts(entry, name)
        quiet, every = counts["quiet"], counts["all"]["now"]
        n = quiet["now"][2]
        cells = " | ".join(rate_cell(quiet[null][0], n) if n else "-" for null in NULLS)
        lines.append(f"| {name} | {entry['cadence']} (every {entry['every']}) | {entry['windows']} | {n} | {cells} | "
                     f"{quiet['now'][1]} of {n} | {rate_cell(every[0], every[2]) if every[2] else '-'} |")
    lines += ["", *(f"- {name}: null {entry['null_method']}; {entry['skipped']} period(s) skipped (fewer than 2 "
                    f"rows, or fewer than 4 in the rest); {entry['seconds'] / 60:.1f} min CPU; made by "
                    f"`{entry.get('command', '?')}`"
                    for name, entry in results["monitors"].items()), ""]
    return "\n".join(lines)


def leave_one_period_out(monitors: Sequence[str], every: Mapping[str, int], jobs: int,
                         command: str = "", days: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Each shipped monitor's false-alarm rate of `no_multivariate_drift` when each period of a reference-sized
    window (or one of `days[monitor]` days) of its sample data is judged against the rest of that window, with
    each null (NULLS); written to LOPO_JSON and LOPO_MD (entries of earlier runs of other monitors kept)."""
    began = time.perf_counter()
    days = dict(days or {})
    command = command or f"leave_one_period_out({list(monitors)}, {dict(every)}, days={days})"
    say = functools.partial(print, flush=True)
    label = {name: name if name not in days else f"{name} ({days[name]}-day windows)" for name in monitors}
    tasks = [task for name in monitors for task in lopo_tasks(name, every.get(name, 1), days.get(name))]
    say(f"leave one period out: {len(tasks)} periods of {list(monitors)}, {jobs} worker(s)")
    entries = {label[name]: {"cadence": shipped_monitor(name)["cadence"], "every": every.get(name, 1), "n": 0,
                             "skipped": 0, "alarms": dict.fromkeys(NULLS, 0), "seconds": 0.0, "null_method": "",
                             "windows": len({t[1] for t in tasks if t[0] == name}), "periods": []}
               for name in monitors}
    with _pool(jobs) as pool:
        for done, outcome in enumerate(pool(lopo_period, tasks), start=1):
            entry = entries[label[outcome.pop("monitor")]]
            entry["periods"].append(outcome)
            entry["seconds"] += outcome["seconds"]
            if outcome["skipped"]:
                entry["skipped"] += 1
                continue
            entry["n"] += 1
            entry["null_method"] = outcome["null_method"]
            for null_name in NULLS:
                entry["alarms"][null_name] += int(outcome[null_name]["drifted"])
            if done % 25 == 0 or done == len(tasks):
                say(f"  [{done}/{len(tasks)}] elapsed {time.perf_counter() - began:.0f} s")
    for entry in entries.values():
        entry["periods"].sort(key=lambda p: p["period"])
        entry["rates"] = {n: entry["alarms"][n] / entry["n"] if entry["n"] else None for n in NULLS}
        entry["wilson95"] = {n: wilson(entry["alarms"][n], entry["n"]) for n in NULLS}
    # Monitors run before (another command) keep their entries; each entry says how it was run.
    earlier = json.loads(LOPO_JSON.read_text())["monitors"] if LOPO_JSON.exists() else {}
    for entry in entries.values():
        entry["command"], entry["wall_seconds"] = command, time.perf_counter() - began
    entries = {**{k: v for k, v in earlier.items() if k not in entries and all(
        n in p for p in v["periods"] if not p["skipped"] for n in NULLS)}, **entries}
    results = {"command": command,
               "finished": dt.datetime.now().isoformat(timespec="seconds"),
               "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
                          f"Python {platform.python_version()}",
               "wall_seconds": time.perf_counter() - began, "json": _shown(LOPO_JSON), "monitors": entries}
    LOPO_JSON.parent.mkdir(parents=True, exist_ok=True)
    LOPO_JSON.write_text(json.dumps(results, indent=1))
    LOPO_MD.write_text(lopo_markdown(results))
    say(lopo_markdown(results))
    return results


# --- autocorrelated hourly data with a daily cycle ---------------------------------------------------------------
AR_JSON = REPO / "benchmarks" / "results" / "autocorrelated.json"
AR_MD = REPO / "benchmarks" / "results" / "autocorrelated.md"
AR_PHI = 0.9  # hourly AR(1) coefficient of the weather's anomalies: a spell of about half a day (0.9^24 = 0.08 a day on)
AR_DAYS = 27  # reference days (the grid_load monitor's window); a period is the next day (24 rows)
AR_COLUMNS = ["temp", "hum", "wind", "weather"]
AR_CHECKS = ("no_dataset_drift", "any_column", "no_multivariate_drift", "no_data_quality_regression")
AR_KINDS = {
    "quiet": "quiet: the next day of the same stationary process",
    "quiet_iid": "quiet, rows independent (phi 0, same cycle): the control",
    "shift_1": "temp +1 sd (of its anomaly) all day",
    "correlation": "temp-hum relation reversed (each column's distribution kept)",
    "missing_15": "15 % of hum missing",
    "outside_10": "10 % of wind pushed above the reference's maximum",
    "new_level_10": "a new weather level in 10 % of rows",
}


def ar_spec():
    from drift_platform.core.intake.dataset import DatasetSpec

    return DatasetSpec.from_dict({
        "name": "autocorrelated_hourly", "datetime_column": "timestamp", "target": "load",
        "columns": {"timestamp": "datetime", "hour": "int", "temp": "float", "hum": "float", "wind": "float",
                    "weather": "str", "load": "float"},
        "numerical_features": ["temp", "hum", "wind"], "categorical_features": ["hour", "weather"],
        "drift_columns": AR_COLUMNS, "reference_window": {"start": "2011-01-01", "end": "2011-01-27"},
        "first_period": "2011-01-28"})


def ar_frame(hours: int, rng: np.random.Generator, phi: float = AR_PHI, start: str = "2011-01-01") -> pd.DataFrame:
    """`hours` hourly rows: each column a daily cycle (hour-of-day effect) plus AR(1) anomalies with unit
    stationary variance (the first row drawn from the stationary law); hum falls as temp rises; weather cut from
    a latent AR(1) (clear / cloudy / rain at 50 / 35 / 15 %)."""
    from scipy.signal import lfilter

    noise = rng.standard_normal((hours, 4)) * math.sqrt(1 - phi**2)
    noise[0] = rng.standard_normal(4)
    z = lfilter([1.0], [1.0, -phi], noise, axis=0)  # z[t] = phi z[t-1] + noise[t]
    hour = (np.arange(hours) % 24)
    cycle = np.cos(2 * np.pi * (hour - 15) / 24)
    temp = 5 + 4 * cycle + 3 * z[:, 0]
    hum = 0.75 - 0.08 * cycle - 0.6 * 0.08 * z[:, 0] + 0.8 * 0.08 * z[:, 1]
    wind = np.exp(1.5 + 0.2 * np.sin(2 * np.pi * hour / 24) + 0.4 * z[:, 2])
    weather = np.where(z[:, 3] < 0.0, "clear", np.where(z[:, 3] < 1.04, "cloudy", "rain"))
    times = pd.Timestamp(start) + pd.to_timedelta(np.arange(hours), unit="h")
    return pd.DataFrame({"timestamp": times, "hour": hour, "temp": temp, "hum": hum, "wind": wind,
                         "weather": weather, "load": 100 - 2 * temp + rng.normal(0, 3, hours)})


def ar_change(day: pd.DataFrame, kind: str, reference: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The day changed as `kind` says (AR_KINDS)."""
    day = day.copy()
    rows = len(day)
    if kind == "shift_1":
        day["temp"] += 3.0
    elif kind == "correlation":  # hum's anomaly mirrored around its hourly cycle: its law kept, its link to temp flipped
        cycle = 0.75 - 0.08 * np.cos(2 * np.pi * (day["hour"] - 15) / 24)
        day["hum"] = cycle - (day["hum"] - cycle)
    elif kind == "missing_15":
        day.loc[rng.choice(rows, round(0.15 * rows), replace=False), "hum"] = np.nan
    elif kind == "outside_10":
        picked = rng.choice(rows, round(0.10 * rows) or 1, replace=False)
        day.loc[picked, "wind"] = reference["wind"].max() * 1.2
    elif kind == "new_level_10":
        day.loc[rng.choice(rows, round(0.10 * rows) or 1, replace=False), "weather"] = "fog"
    return day


def ar_reference(ref: int, iid: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference `ref` (AR_DAYS days) and the days that follow it, of one continuous series."""
    rng = _seed(7, ref, int(iid))
    series = ar_frame(24 * (AR_DAYS + AR_PERIODS), rng, 0.0 if iid else AR_PHI)
    return series.iloc[: 24 * AR_DAYS].reset_index(drop=True), series.iloc[24 * AR_DAYS:].reset_index(drop=True)


AR_PERIODS = 10  # days judged after each reference


def ar_block(task: tuple[int, bool]) -> dict[str, Any]:
    """Alarm counts of every check over the days after one reference, each day as every kind (quiet_iid: the
    days of an independent-rows reference)."""
    from drift_platform.core.settings import DataQualitySettings, MultivariateSettings
    from drift_platform.core.stats.drift import column_kinds, compute_drift
    from drift_platform.core.stats.multivariate import multivariate_drift, null_aucs
    from drift_platform.core.stats.quality import judge_period
    from drift_platform.core.stats.reference_stats import build_reference_stats

    _quiet_warnings()
    began, (ref, iid) = time.perf_counter(), task
    spec, settings = ar_spec(), MultivariateSettings()
    reference, after = ar_reference(ref, iid)
    stats = build_reference_stats(reference, column_kinds(spec), quality_blocks=AR_DAYS, time_column="timestamp",
                                  workers=1)
    numerical, categorical = ["temp", "hum", "wind"], ["weather"]
    null = null_aucs(stats.sample, 24, numerical, categorical, settings)
    kinds = ["quiet_iid"] if iid else [k for k in AR_KINDS if k != "quiet_iid"]
    counts = {k: dict.fromkeys(AR_CHECKS, 0) for k in kinds}
    columns = {k: dict.fromkeys(AR_COLUMNS, 0) for k in kinds}
    for day in range(AR_PERIODS):
        base = after.iloc[24 * day: 24 * (day + 1)].reset_index(drop=True)
        for kind in kinds:
            current = ar_change(base, "quiet" if kind == "quiet_iid" else kind, reference, _seed(8, ref, day))
            drift = compute_drift(stats, current, spec, **_drift_keywords())
            multi = multivariate_drift(stats.sample, current, numerical, categorical, settings, null=null)
            quality = judge_period(stats, current, DataQualitySettings())
            alarms = (drift.dataset_drift, drift.drifted_count >= 1, multi.drifted, not quality.get("passed", True))
            for check, alarm in zip(AR_CHECKS, alarms, strict=True):
                counts[kind][check] += int(alarm)
            for column in drift.drifted_columns:
                columns[kind][column] += 1
    return {"ref": ref, "iid": iid, "counts": counts, "columns": columns, "n": AR_PERIODS,
            "threshold": float(np.quantile(null, 1 - settings.alpha)), "seconds": time.perf_counter() - began}


def autocorrelated(references: int, jobs: int, command: str) -> dict[str, Any]:
    """False alarms and power of every check on AR(1) hourly data with a daily cycle: `references` references
    (and as many of independent rows), AR_PERIODS days judged after each; to AR_JSON and AR_MD."""
    began = time.perf_counter()
    tasks = [(ref, iid) for ref in range(references) for iid in (False, True)]
    totals: dict[str, Any] = {}
    with _pool(jobs) as pool:
        for outcome in pool(ar_block, tasks):
            for kind, counts in outcome["counts"].items():
                entry = totals.setdefault(kind, {"n": 0, "alarms": dict.fromkeys(AR_CHECKS, 0),
                                                 "columns": dict.fromkeys(AR_COLUMNS, 0)})
                entry["n"] += outcome["n"]
                for check, value in counts.items():
                    entry["alarms"][check] += value
                for column, value in outcome["columns"][kind].items():
                    entry["columns"][column] += value
            totals.setdefault("_thresholds", []).append(round(outcome["threshold"], 3))
            print(f"  reference {outcome['ref']} ({'iid' if outcome['iid'] else 'AR'}): "
                  f"{outcome['seconds']:.0f} s", flush=True)
    results = {"command": command, "finished": dt.datetime.now().isoformat(timespec="seconds"),
               "references": references, "days_per_reference": AR_PERIODS, "phi": AR_PHI,
               "wall_seconds": time.perf_counter() - began, "kinds": totals}
    AR_JSON.parent.mkdir(parents=True, exist_ok=True)
    AR_JSON.write_text(json.dumps(results, indent=1))
    AR_MD.write_text(ar_markdown(results))
    print(ar_markdown(results), flush=True)
    return results


def ar_markdown(results: dict[str, Any]) -> str:
    titles = ["`no_dataset_drift`", "any column drifted", "`no_multivariate_drift`", "`no_data_quality_regression`"]
    lines = [f"Made by `{results['command']}` on {results['finished']}; {results['references']} references of "
             f"{AR_DAYS} days x 24 hours (AR(1) phi {results['phi']}) and as many of independent rows, "
             f"{results['days_per_reference']} days judged after each; wall time {results['wall_seconds'] / 60:.1f} "
             "min. 95 % Wilson intervals.", "",
             "| day | " + " | ".join(titles) + " | n | columns flagged (share of days) |",
             "|---|" + "---|" * (len(titles) + 2)]
    for kind, label in AR_KINDS.items():
        entry = results["kinds"].get(kind)
        if not entry:
            continue
        n = entry["n"]
        flagged = ", ".join(f"{c} {100 * v / n:.0f} %" for c, v in entry["columns"].items())
        lines.append(f"| {label} | " + " | ".join(rate_cell(entry["alarms"][c], n) for c in AR_CHECKS)
                     + f" | {n} | {flagged} |")
    return "\n".join(lines) + "\n"


# --- the run ------------------------------------------------------------------------------------------------------
def plan(sizes: Sequence[str], periods: int, large_periods: int, kinds: Sequence[str] | None,
         block_periods: int) -> list[tuple[Size, tuple[str, ...], int, bool, int, int]]:
    """(size, kinds, reference, bootstrap, first period, last period + 1): blocks of at most `block_periods`
    periods, without their nulls yet."""
    out = []
    for name in sizes:
        size = SIZES[name]
        wanted = [k for k in kinds_for(size) if kinds is None or k.key in kinds]
        total = large_periods if size.reference_rows >= LARGE_ROWS else periods
        for bootstrap in (True, False):
            chosen = tuple(k.key for k in wanted if k.bootstrap == bootstrap)
            if not chosen:
                continue
            references = 1 if bootstrap else size.references
            per_reference = [total // references + (r < total % references) for r in range(references)]
            for ref, count in enumerate(per_reference):
                step = max(1, min(block_periods, count))
                for first in range(0, count, step):
                    out.append((size, chosen, ref, bootstrap, first, min(first + step, count)))
    return out


def write_table(path: Path, table: str) -> None:
    """The table into `path`: between BEGIN and END when the file holds both (the rest of it kept), else alone."""
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        table = f"{head}{BEGIN}\n{table.rstrip()}\n{END}{rest.split(END, 1)[1]}"
    path.write_text(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stats_sim", description=__doc__.split("\n")[0])
    parser.add_argument("--periods", type=int, default=500, help="periods per kind in each cell (default 500)")
    parser.add_argument("--large-periods", type=int, default=200,
                        help=f"periods per kind in cells of {LARGE_ROWS:,} rows (default 200)")
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES), help="cells to run")
    parser.add_argument("--kinds", nargs="+", default=None, choices=[k.key for k in KINDS], help="kinds to run")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown table (default: between the markers of docs/statistics.md)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="raw counts (default benchmarks/results/stats_sim.json)")
    parser.add_argument("--leave-one-period-out", action="store_true",
                        help="instead of the simulation: no_multivariate_drift's false alarms when each period of "
                        f"the shipped monitors' sample data is judged against the rest of its reference-sized window "
                        f"(-> {_shown(LOPO_MD)} and .json)")
    parser.add_argument("--monitors", nargs="+", default=sorted(p.name for p in MONITORS.iterdir() if p.is_dir()),
                        help="with --leave-one-period-out: the shipped monitors (default: all)")
    parser.add_argument("--every", nargs="+", default=[], metavar="MONITOR=K",
                        help="with --leave-one-period-out: judge every K-th period of each window of MONITOR "
                        "(default 1: all)")
    parser.add_argument("--window-days", nargs="+", default=[], metavar="MONITOR=DAYS",
                        help="with --leave-one-period-out: windows of DAYS days for MONITOR instead of its reference's "
                        "length (its own row in the table)")
    parser.add_argument("--autocorrelated", type=int, default=0, metavar="REFERENCES",
                        help="instead of the simulation: every check on AR(1) hourly data with a daily cycle, "
                        f"REFERENCES references x {AR_PERIODS} days (-> {_shown(AR_MD)} and .json)")
    args = parser.parse_args(argv)
    if args.autocorrelated:
        command = " ".join(["python -m benchmarks.stats_sim", *(argv if argv is not None else sys.argv[1:])])
        autocorrelated(args.autocorrelated, args.jobs, command)
        return 0
    if args.periods < 1 or args.large_periods < 1 or args.jobs < 1:
        parser.error("--periods, --large-periods and --jobs must be at least 1")
    if args.leave_one_period_out:
        every = {name: int(k) for name, k in (item.split("=", 1) for item in args.every)}
        command = " ".join(["python -m benchmarks.stats_sim", *(argv if argv is not None else sys.argv[1:])])
        days = {name: int(k) for name, k in (item.split("=", 1) for item in args.window_days)}
        leave_one_period_out(args.monitors, every, args.jobs, command=command, days=days)
        return 0

    began = time.perf_counter()
    say = functools.partial(print, flush=True)
    say(f"stats_sim: sizes {args.sizes}, {args.periods} periods per kind ({args.large_periods} at "
        f"{LARGE_ROWS:,} rows), {args.jobs} worker(s)")
    blocks = plan(args.sizes, args.periods, args.large_periods, args.kinds, block_periods=25)
    nulls_wanted = sorted({(size.name, ref, bootstrap) for size, _, ref, bootstrap, _, _ in blocks},
                          key=lambda t: (list(SIZES).index(t[0]), t[1], t[2]))

    with _pool(args.jobs) as pool:
        nulls: dict[tuple[str, int, bool], list[float]] = {}
        for size_name, ref, bootstrap, null, seconds in pool(compute_null, nulls_wanted):
            nulls[(size_name, ref, bootstrap)] = null
            say(f"  null {size_name} reference {'window' if bootstrap else ref}: threshold "
                f"{np.quantile(null, 0.95):.3f}, median {np.median(null):.3f} ({seconds:.1f} s)")
        say(f"nulls done in {time.perf_counter() - began:.0f} s; {len(blocks)} blocks of periods")
        work = [Block(size.name, ref, bootstrap, first, last, kinds, tuple(nulls[(size.name, ref, bootstrap)]))
                for size, kinds, ref, bootstrap, first, last in blocks]
        cells: dict[str, dict[str, Any]] = {}
        for done, outcome in enumerate(pool(run_block, work), start=1):
            block: Block = outcome["block"]
            cell = cells.setdefault(block.size, {"size": block.size, "kinds": {}, "methods": set(), "seconds": 0.0})
            reference = "window" if block.bootstrap else str(block.ref)
            for kind, counts in outcome["counts"].items():
                entry = cell["kinds"].setdefault(kind, {"n": 0, "alarms": dict.fromkeys(CHECKS, 0),
                                                        "drifted_columns": {}, "by_reference": {}})
                by_reference = entry["by_reference"].setdefault(reference, {"n": 0, "alarms": dict.fromkeys(CHECKS, 0)})
                for target in (entry, by_reference):
                    target["n"] += block.last - block.first
                    for check, value in counts.items():
                        target["alarms"][check] += value
                for column, value in outcome["columns"][kind].items():
                    entry["drifted_columns"][column] = entry["drifted_columns"].get(column, 0) + value
            cell["methods"].update(outcome["methods"])
            cell["seconds"] += outcome["seconds"]
            say(f"  [{done}/{len(work)}] {block.size} reference {'window' if block.bootstrap else block.ref} "
                f"periods {block.first}-{block.last - 1} x {len(block.kinds)} kinds: {outcome['seconds']:.1f} s "
                f"(elapsed {time.perf_counter() - began:.0f} s)")

    results = {
        "command": " ".join(["python -m benchmarks.stats_sim", *(argv if argv is not None else sys.argv[1:])]).strip(),
        "finished": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "wall_seconds": time.perf_counter() - began,
        "periods": args.periods,
        "large_periods": args.large_periods,
        "jobs": args.jobs,
        "seed": SEED,
        "json": _shown(args.json),
        "copula": {"latent_correlations": dict(zip(LATENT, copula().corr.round(3).tolist(), strict=True)),
                   "target_r2_latent": round(copula().r2, 3), "window_sd": copula().sd},
        "cells": [],
    }
    for name in args.sizes:
        if name not in cells:
            continue
        cell = cells[name]
        order = [k.key for k in KINDS if k.key in cell["kinds"]]
        thresholds = [float(np.quantile(nulls[(name, r, False)], 0.95)) for r in range(SIZES[name].references)
                      if (name, r, False) in nulls]
        bootstrap = nulls.get((name, 0, True))
        results["cells"].append({
            "size": name,
            "reference_rows": SIZES[name].reference_rows,
            "current_rows": SIZES[name].current_rows,
            "references": SIZES[name].references,
            "periods": max(cell["kinds"][k]["n"] for k in order),
            "kinds": {k: {**cell["kinds"][k], "label": KIND_BY_KEY[k].label, "quiet": KIND_BY_KEY[k].quiet,
                          "rates": {c: cell["kinds"][k]["alarms"][c] / cell["kinds"][k]["n"] for c in CHECKS},
                          "wilson95": {c: wilson(cell["kinds"][k]["alarms"][c], cell["kinds"][k]["n"])
                                       for c in CHECKS}}
                      for k in order},
            "thresholds": thresholds,
            "bootstrap_threshold": float(np.quantile(bootstrap, 0.95)) if bootstrap is not None else None,
            "nulls": {f"{'window' if b else r}": v for (s, r, b), v in nulls.items() if s == name},
            "methods": sorted(cell["methods"]),
            "seconds": cell["seconds"],
        })
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    table = markdown(results)
    write_table(args.out, table)
    say(table)
    say(f"wrote {_shown(args.out)} and {_shown(args.json)} in {results['wall_seconds'] / 60:.1f} min")
    return 0


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


class _pool:
    """`with _pool(jobs) as run: for result in run(function, items)`: results as they finish, from `jobs`
    processes (each with one BLAS / OpenMP thread), or in this process when jobs == 1."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.pool = None

    def __enter__(self) -> Callable[[Callable, Sequence], Any]:
        if self.jobs > 1:
            for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                os.environ.setdefault(name, "1")
            self.pool = multiprocessing.get_context("spawn").Pool(self.jobs)
            return lambda function, items: self.pool.imap_unordered(function, items)
        return lambda function, items: map(function, items)

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.terminate() if exc[0] else self.pool.close()
            self.pool.join()


if __name__ == "__main__":
    raise SystemExit(main())
