"""Estimated performance before the labels (CBPE, DLE: drift_platform/core/ml/estimation.py) against what the labels
later say, side by side with NannyML 0.13.1's CBPE and DLE on the same data and the same chunks.

    python -m benchmarks.estimation                    # the full table (make bench-estimation) -> docs/estimation.md
    python -m benchmarks.estimation --quick --no-nannyml --out /tmp/e.md   # the smoke test's path, a few seconds

NannyML is not a dependency of the platform (it pulls xgboost with CUDA libraries and sends usage telemetry):
the benchmark makes its own venv for it (.bench/nannyml-venv, reused when NannyML 0.13.1 imports there), writes
the data to Parquet files in a temp dir, runs benchmarks/nannyml_side.py there with NML_DISABLE_USAGE_LOGGING=1,
and reads its results back. Our estimators run here, in the platform's venv. Both sides run with one
OpenMP/BLAS thread.

The data (seeded, paired: every scenario of a size starts from the same draws): a period is a day of n events
(500 or 5,000), contiguous in time. Rows close in time are alike (an hour-of-day random effect shared by the
rows of each hour, a daily cycle), days drift slowly (an AR(1) level), and there is a weekly season (weekends
differ in two features and the category mix). Features x1, x2, x3 (numerical), amount (log-normal), channel
(4 categories). The truth is non-linear (x3², an x1·x2 interaction); the models are scikit-learn
HistGradientBoosting fitted on the 20 days before the reference; the reference is the next 14 days (the models'
outputs and labels known); each scenario is the following 40 days, its change ramping from nothing on the first
day to full on the last:
- quiet: the same process (the season and the slow level still move the inputs).
- covariate shift: x1's mean +1.5 sd, x3's spread x1.6, the category mix tilts to "d"; P(y | x) unchanged.
- concept drift: P(y | x) changes (classifier: x1's effect on the log-odds goes from +1.1 to -0.5; regressor:
  a new term 1.2·x2 in the target); the inputs as quiet.
- prior shift (classifier): P(y) goes from the base rate to +0.3, P(x | y) unchanged (rows drawn by class).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "docs" / "estimation.md"
DEFAULT_JSON = REPO / "benchmarks" / "results" / "estimation.json"
BEGIN, END = "<!-- estimation table: begin -->", "<!-- estimation table: end -->"
NANNYML_VENV = REPO / ".bench" / "nannyml-venv"
NANNYML_SIDE = Path(__file__).resolve().parent / "nannyml_side.py"
# pandas<3 as the platform's lock; statsmodels: nannyml 0.13.1 imports it (plots/components/joy_plot.py) without
# declaring it, so `import nannyml` fails in a venv holding only its declared dependencies
NANNYML_PINS = ("nannyml==0.13.1", "pandas<3", "pyarrow", "statsmodels")
NANNYML_VERSION = "0.13.1"
SEED = 20_221_203
START = np.datetime64("2026-01-05T00:00:00")  # a Monday
FEATURES = ["x1", "x2", "x3", "amount", "channel"]
CHANNELS = np.array(["a", "b", "c", "d"])
CLS_METRICS = ("roc_auc", "f1", "accuracy")  # those both CBPEs estimate (NannyML's has no log loss)
REG_METRICS = ("rmse", "mae")
Z_NANNYML = 3.0  # NannyML's band: value +- 3 sampling errors (nannyml.sampling_error.SAMPLING_ERROR_RANGE)
Z_95 = 1.96
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    tasks: tuple[str, ...]


SCENARIOS = (
    Scenario("quiet", "quiet", ("binary", "regression")),
    Scenario("covariate", "covariate shift", ("binary", "regression")),
    Scenario("concept", "concept drift", ("binary", "regression")),
    Scenario("prior", "prior shift", ("binary",)),
)


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...] = (500, 5000)
    periods: int = 40
    train_days: int = 20
    reference_days: int = 14
    resamples: int = 30  # our CBPE's calibration resamples (its default)
    draws: int = 200  # our CBPE's label draws per period (its default, estimation.DRAWS)
    replicates: int = 10  # independent runs (own seed: training days, model, reference, scenarios) per cell


QUICK = Plan(sizes=(500,), periods=4, train_days=4, reference_days=4, resamples=5, draws=100, replicates=1)


# --- data -------------------------------------------------------------------------------------------------------
def _levels(days: int, seed: int) -> np.ndarray:
    """The slow day-to-day level of x1: AR(1), phi 0.85, innovations sd 0.15."""
    rng = np.random.default_rng([seed, 1])
    level = np.zeros(days)
    for d in range(1, days):
        level[d] = 0.85 * level[d - 1] + rng.normal(0, 0.15)
    return level


def day_features(n: int, day: int, seed: int, level: float, t: float = 0.0) -> pd.DataFrame:
    """A day's n rows, in time order; `t` in [0, 1] scales the covariate shift (0: none)."""
    rng = np.random.default_rng([seed, day])
    weekend = float(day % 7 >= 5)
    seconds = np.sort(rng.uniform(0, 86_400, n))
    hour = (seconds // 3600).astype(int)
    hourly = rng.normal(0, 0.25, 24)[hour]  # rows of the same hour are alike
    cycle = np.sin(2 * np.pi * seconds / 86_400)
    mix = np.array([0.4, 0.3, 0.2, 0.1]) + weekend * np.array([-0.1, 0.0, 0.0, 0.1])
    mix = mix + t * np.array([-0.15, -0.05, 0.0, 0.2])
    return pd.DataFrame(
        {
            "timestamp": START + (day * 86_400 + seconds).astype("timedelta64[s]"),
            "x1": level + hourly + 1.5 * t + rng.normal(0, 1, n),
            "x2": 0.6 * weekend + 0.5 * cycle + rng.normal(0, 1, n),
            "x3": (1 + 0.6 * t) * rng.normal(0, 1, n) + 0.3 * hourly,
            "amount": np.exp(rng.normal(3 + 0.3 * weekend, 0.6, n)),
            "channel": CHANNELS[(rng.random(n)[:, None] > np.cumsum(mix)[None, :-1]).sum(axis=1)],
        }
    )


def _channel_effect(frame: pd.DataFrame, effects: Sequence[float]) -> np.ndarray:
    return np.asarray(effects)[np.searchsorted(CHANNELS, frame["channel"].to_numpy())]


def true_logit(frame: pd.DataFrame, concept: float = 0.0) -> np.ndarray:
    x1, x2, x3 = (frame[c].to_numpy() for c in ("x1", "x2", "x3"))
    beta1 = 1.1 - 1.6 * concept
    return (-1.6 + beta1 * x1 - 0.7 * x2 + 0.5 * x3**2 + 0.4 * x1 * x2
            + 0.4 * (np.log(frame["amount"].to_numpy()) - 3) + _channel_effect(frame, [0.0, 0.3, -0.4, 0.8]))


def true_target(frame: pd.DataFrame, rng: np.random.Generator, concept: float = 0.0) -> np.ndarray:
    x1, x2, x3 = (frame[c].to_numpy() for c in ("x1", "x2", "x3"))
    mean = (2 + 1.5 * x1 + np.sin(1.5 * x2) + 0.5 * x3 + 0.8 * (np.log(frame["amount"].to_numpy()) - 3)
            + _channel_effect(frame, [0.0, 0.5, -0.5, 1.0]) + 1.2 * concept * x2)
    sd = 0.6 + 0.5 * np.abs(x1) + 0.4 * (frame["channel"].to_numpy() == "d")
    return mean + sd * rng.normal(0, 1, len(frame))


def _labelled(task: str, frame: pd.DataFrame, seed: int, day: int, concept: float) -> pd.DataFrame:
    rng = np.random.default_rng([seed, day, 7])
    if task == "binary":
        p = 1 / (1 + np.exp(-true_logit(frame, concept)))
        return frame.assign(y=(rng.random(len(frame)) < p).astype(int))
    return frame.assign(y=true_target(frame, rng, concept))


def _prior_shifted(frame: pd.DataFrame, n: int, rate: float, seed: int, day: int) -> pd.DataFrame:
    """n rows drawn from a labelled pool so that a share `rate` are positives: P(x | y) as the pool's."""
    rng = np.random.default_rng([seed, day, 11])
    positives = np.flatnonzero(frame["y"].to_numpy() == 1)
    negatives = np.flatnonzero(frame["y"].to_numpy() == 0)
    k = min(round(rate * n), len(positives))
    chosen = np.r_[rng.choice(positives, k, replace=False), rng.choice(negatives, n - k, replace=False)]
    return frame.iloc[np.sort(chosen)].reset_index(drop=True)


def make_days(task: str, scenario: str, n: int, days: Sequence[int], seed: int, base_rate: float = 0.0) -> pd.DataFrame:
    """The labelled rows of `days` (each a period, in time order) under `scenario`; its change ramps from 0 on the
    first day to 1 on the last."""
    level = _levels(max(days) + 1, seed)
    frames = []
    for i, day in enumerate(days):
        t = i / max(1, len(days) - 1) if scenario != "quiet" else 0.0
        size = 4 * n if scenario == "prior" else n
        frame = day_features(size, day, seed, level[day], t if scenario == "covariate" else 0.0)
        frame = _labelled(task, frame, seed, day, t if scenario == "concept" else 0.0)
        if scenario == "prior":
            frame = _prior_shifted(frame, n, base_rate + 0.3 * t, seed, day)
        frames.append(frame.assign(period=i))
    return pd.concat(frames, ignore_index=True)


# --- the models and our side ---------------------------------------------------------------------------------
def fit_model(task: str, train: pd.DataFrame, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    x = train[FEATURES].assign(channel=train["channel"].astype("category"))
    kind = HistGradientBoostingClassifier if task == "binary" else HistGradientBoostingRegressor
    return kind(max_iter=200, learning_rate=0.1, categorical_features="from_dtype", random_state=seed).fit(x, train["y"])


def with_outputs(task: str, model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    x = frame[FEATURES].assign(channel=pd.Categorical(frame["channel"], categories=CHANNELS))
    if task == "binary":
        proba = model.predict_proba(x)[:, 1]
        return frame.assign(proba=proba, pred=(proba >= 0.5).astype(int))
    return frame.assign(pred=model.predict(x))


def realized(task: str, period: pd.DataFrame) -> dict[str, float]:
    """The period's metrics from its labels (scikit-learn's functions: the floor both tools are measured against)."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    y = period["y"].to_numpy()
    if task == "binary":
        return {"roc_auc": float(roc_auc_score(y, period["proba"])), "f1": float(f1_score(y, period["pred"])),
                "accuracy": float(accuracy_score(y, period["pred"]))}
    error = y - period["pred"].to_numpy()
    return {"rmse": float(np.sqrt(np.mean(error**2))), "mae": float(np.mean(np.abs(error)))}


def ours(task: str, reference: pd.DataFrame, analyses: dict[str, pd.DataFrame], plan: Plan) -> dict:
    """Our estimators fitted on the reference and run period by period: fit seconds, per scenario the estimate
    seconds and per metric the values, sampling errors and bands (+-1.96 SE)."""
    from drift_platform.core.ml.estimation import estimate_cbpe, estimate_dle, fit_cbpe, fit_dle

    started, cpu = time.perf_counter(), time.process_time()
    if task == "binary":
        cbpe = fit_cbpe(reference["proba"].to_numpy(), reference["y"].to_numpy(), [0, 1], resamples=plan.resamples)

        def estimate(period: pd.DataFrame) -> dict:
            return estimate_cbpe(cbpe, period["proba"].to_numpy(), period["pred"].to_numpy(), draws=plan.draws)
    else:
        dles = {fitted.metric: fitted for fitted in (
            fit_dle(reference[FEATURES], reference["pred"].to_numpy(), reference["y"].to_numpy(), loss)
            for loss in ("squared", "absolute"))}

        def estimate(period: pd.DataFrame) -> dict:
            return {m: estimate_dle(d, period[FEATURES], period["pred"].to_numpy()) for m, d in dles.items()}
    result = {"fit_s": time.perf_counter() - started, "fit_cpu_s": time.process_time() - cpu, "scenarios": {}}
    metrics = CLS_METRICS if task == "binary" else REG_METRICS
    for key, frame in analyses.items():
        found = {m: {"value": [], "sampling_error": [], "lower": [], "upper": []} for m in metrics}
        seconds = cpu = 0.0
        for _, period in frame.groupby("period", sort=True):
            started, cpu_started = time.perf_counter(), time.process_time()
            estimates = estimate(period)
            seconds, cpu = seconds + time.perf_counter() - started, cpu + time.process_time() - cpu_started
            for m in metrics:
                e = estimates[m]
                for field, v in (("value", e.value), ("sampling_error", e.sampling_error), ("lower", e.lower),
                                 ("upper", e.upper)):
                    found[m][field].append(float(v))
        result["scenarios"][key] = {"estimate_s": seconds, "estimate_cpu_s": cpu, **found}
    return result


# --- NannyML's side ------------------------------------------------------------------------------------------
def nannyml_env() -> dict[str, str]:
    return {**os.environ, **SINGLE_THREAD, "NML_DISABLE_USAGE_LOGGING": "1", "PYTHONHASHSEED": "0"}


def ensure_nannyml_venv(venv: Path = NANNYML_VENV) -> Path:
    """The venv's python, made (python -m venv + pip install NannyML 0.13.1) unless NannyML 0.13.1 imports there."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import nannyml; print(nannyml.__version__)"]
    if python.exists():
        found = subprocess.run(probe, capture_output=True, text=True, env=nannyml_env())
        if found.returncode == 0 and found.stdout.strip() == NANNYML_VERSION:
            return python
    print(f"making {venv} with {' '.join(NANNYML_PINS)} (once; ~1.5 GB, a few minutes) ...", file=sys.stderr)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *NANNYML_PINS],
                   check=True, env=nannyml_env())
    found = subprocess.run(probe, capture_output=True, text=True, env=nannyml_env())
    if found.returncode != 0 or found.stdout.strip() != NANNYML_VERSION:
        raise RuntimeError(f"{venv}: `import nannyml` gave {found.stdout.strip()!r}, expected {NANNYML_VERSION}:\n"
                           f"{found.stderr[-2000:]}")
    return python


def nannyml(python: Path, tasks: list[dict], folder: Path) -> dict:
    job, out = folder / "job.json", folder / "nannyml.json"
    job.write_text(json.dumps({"tasks": tasks}))
    cmd = ["nice", "-n", "10", str(python), str(NANNYML_SIDE), str(job), str(out)]
    done = subprocess.run(cmd, env=nannyml_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"NannyML's side failed ({' '.join(cmd)}):\n{done.stderr[-4000:]}")
    return json.loads(out.read_text())


def nannyml_tasks(name: str, task: str, n: int, reference: pd.DataFrame, analyses: dict[str, pd.DataFrame],
                  folder: Path) -> dict:
    """NannyML's job `name` (one task, size and replicate): the reference (with labels) and each scenario (without
    labels) as Parquet files in `folder`."""
    columns = ["timestamp", *FEATURES, *(["proba", "pred"] if task == "binary" else ["pred"])]
    reference[[*columns, "y"]].to_parquet(folder / f"{name}-reference.parquet", index=False)
    paths = {}
    for key, frame in analyses.items():
        paths[key] = str(folder / f"{name}-{key}.parquet")
        frame[columns].to_parquet(paths[key], index=False)
    spec = {"name": name, "kind": "cbpe" if task == "binary" else "dle", "chunk_size": n,
            "reference": str(folder / f"{name}-reference.parquet"), "analyses": paths,
            "metrics": list(CLS_METRICS if task == "binary" else REG_METRICS)}
    if task != "binary":
        spec |= {"features": FEATURES, "categorical": ["channel"]}
    return spec


def check_chunks(side: dict, n: int, periods: int, name: str) -> None:
    """NannyML's chunks must be our periods: rows [i n, (i + 1) n - 1]."""
    for key, found in side["scenarios"].items():
        if found["start"] != [i * n for i in range(periods)] or found["end"] != [(i + 1) * n - 1 for i in range(periods)]:
            raise RuntimeError(f"{name} {key}: NannyML's chunks {list(zip(found['start'], found['end'], strict=True))[:5]}... "
                               f"are not the periods of {n} rows")


# --- the table -----------------------------------------------------------------------------------------------
def _coverage(truth: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    inside = (truth >= lower - 1e-12) & (truth <= upper + 1e-12)
    return float(np.mean(inside))


def wilson(share: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """The 95 % Wilson interval of a share of n (the periods are not all independent: within a replicate they
    share the reference and the model, so read it as a lower bound on the uncertainty)."""
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def summarise(truth: dict[str, np.ndarray], found: dict, metric: str, z_shown: float, bounded: bool) -> dict:
    """MAE of estimated vs realized, the coverage of the band as the tool shows it, the coverage of value +- 1.96
    SE (like for like), the mean sampling error."""
    value = np.asarray(found[metric]["value"], dtype=float)
    se = np.asarray(found[metric]["sampling_error"], dtype=float)
    real = truth[metric]
    low, high = value - Z_95 * se, value + Z_95 * se
    if bounded:
        low, high = np.clip(low, 0, 1), np.clip(high, 0, 1)
    return {
        "mae": float(np.nanmean(np.abs(value - real))),
        "coverage_shown": _coverage(real, np.asarray(found[metric]["lower"]), np.asarray(found[metric]["upper"])),
        "band_shown": f"±{z_shown:g} SE",
        "coverage_196": _coverage(real, low, high),
        "coverage_196_interval": wilson(_coverage(real, low, high), len(real)),
        "mean_se": float(np.nanmean(se)),
        "missing": int(np.sum(~np.isfinite(value))),
    }


def rows_of(task: str, n: int, truths: dict, tools: dict[str, dict], periods: int) -> list[dict]:
    rows = []
    metrics = CLS_METRICS if task == "binary" else REG_METRICS
    for scenario in SCENARIOS:
        if task not in scenario.tasks:
            continue
        truth = {m: np.array([t[m] for t in truths[scenario.key]]) for m in metrics}
        for metric in metrics:
            for tool, result in tools.items():
                found = result["scenarios"][scenario.key]
                rows.append({
                    "task": task, "scenario": scenario.title, "rows": n, "metric": metric, "tool": tool,
                    "realized_min": float(truth[metric].min()), "realized_max": float(truth[metric].max()),
                    "ms_per_period": 1000 * found["estimate_s"] / periods,
                    "cpu_ms_per_period": 1000 * found["estimate_cpu_s"] / periods,
                    **summarise(truth, found, metric, Z_NANNYML if tool.startswith("NannyML") else Z_95,
                                task == "binary"),
                })
    return rows


def markdown(result: dict) -> str:
    lines = [
        f"Run {result['finished']} ({result['wall_s'] / 60:.1f} min): `{result['command']}`; {result['machine']}; "
        f"{result['versions']}. Per cell: {result['plan']['replicates']} replicates x {result['plan']['periods']} "
        f"periods; reference: {result['plan']['reference_days']} periods; one OpenMP/BLAS thread on each side. "
        "Coverage ±1.96 SE: with its 95 % Wilson interval over the periods.",
        "",
        "| model | scenario | rows/period | metric | realized (min-max) | tool | MAE | coverage (band as shown) "
        "| coverage ±1.96 SE | mean SE | CPU ms/period |",
        "|---|---|---:|---|---|---|---:|---|---:|---:|---:|",
    ]
    model = {"binary": "classifier (CBPE)", "regression": "regressor (DLE)"}
    for r in result["rows"]:
        lines.append(
            f"| {model[r['task']]} | {r['scenario']} | {r['rows']:,} | {r['metric']} | "
            f"{r['realized_min']:.3f}-{r['realized_max']:.3f} | {r['tool']} | {r['mae']:.4f} | "
            f"{100 * r['coverage_shown']:.0f} % ({r['band_shown']}) | {100 * r['coverage_196']:.0f} % "
            f"({100 * r['coverage_196_interval'][0]:.0f}-{100 * r['coverage_196_interval'][1]:.0f}) | "
            f"{r['mean_se']:.4f} | {r['cpu_ms_per_period']:.1f} |"
        )
    lines += ["", "| model | rows/period | tool | fit CPU s (wall) | estimate CPU ms/period (wall) | floor: realized "
              "metrics with scikit-learn, CPU ms/period |", "|---|---:|---|---:|---:|---:|"]
    for t in result["timings"]:
        lines.append(f"| {model[t['task']]} | {t['rows']:,} | {t['tool']} | {t['fit_cpu_s']:.2f} ({t['fit_s']:.2f}) | "
                     f"{t['cpu_ms_per_period']:.1f} ({t['ms_per_period']:.1f}) | {t['floor_cpu_ms']:.2f} |")
    if result["agreement"]:
        lines += ["", "| model | rows/period | metric | periods | point estimates: max abs(ours - NannyML) | mean |",
                  "|---|---:|---|---:|---:|---:|"]
        for a in result["agreement"]:
            lines.append(f"| {model[a['task']]} | {a['rows']:,} | {a['metric']} | {a['periods']} | "
                         f"{a['max_abs_diff']:.2g} | {a['mean_abs_diff']:.2g} |")
    return "\n".join(lines) + "\n"


def write_page(path: Path, table: str) -> None:
    """Between the markers of a page holding them (the rest of the page kept), else the table alone."""
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        table = f"{head}{BEGIN}\n{table.rstrip()}\n{END}{rest.split(END, 1)[1]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(table)


# --- the run -------------------------------------------------------------------------------------------------
def prepare(task: str, n: int, plan: Plan, seed: int) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The reference and each scenario's analysis periods of one task and size, with the model's outputs."""
    train_days = range(plan.train_days)
    reference_days = range(plan.train_days, plan.train_days + plan.reference_days)
    start = plan.train_days + plan.reference_days
    analysis_days = range(start, start + plan.periods)
    model = fit_model(task, make_days(task, "quiet", n, train_days, seed), seed)
    reference = with_outputs(task, model, make_days(task, "quiet", n, reference_days, seed))
    base_rate = float(reference["y"].mean()) if task == "binary" else 0.0
    analyses = {s.key: with_outputs(task, model, make_days(task, s.key, n, analysis_days, seed, base_rate))
                for s in SCENARIOS if task in s.tasks}
    return reference, analyses


def _floor_ms(task: str, analyses: dict[str, pd.DataFrame]) -> tuple[dict, float]:
    """The realized metrics of every period, and the CPU time to compute them (ms per period)."""
    truths, seconds, count = {}, 0.0, 0
    for key, frame in analyses.items():
        truths[key] = []
        for _, period in frame.groupby("period", sort=True):
            started = time.process_time()
            truths[key].append(realized(task, period))
            seconds += time.process_time() - started
            count += 1
    return truths, 1000 * seconds / count


def _merge(results: list[dict]) -> dict:
    """One tool's results over the replicates: fit seconds averaged, estimate seconds summed, the periods' values
    concatenated (replicate by replicate, period by period)."""
    merged = {f: float(np.mean([r[f] for r in results])) for f in ("fit_s", "fit_cpu_s")} | {"scenarios": {}}
    for key in results[0]["scenarios"]:
        parts = [r["scenarios"][key] for r in results]
        scenario = {f: sum(p[f] for p in parts) for f in ("estimate_s", "estimate_cpu_s")}
        for metric, fields in parts[0].items():
            if isinstance(fields, dict):
                scenario[metric] = {f: [v for p in parts for v in p[metric][f]] for f in fields}
        merged["scenarios"][key] = scenario
    return merged


def _cell(task: str, n: int, plan: Plan, seed: int, python: Path | None, log) -> tuple[dict, dict, float]:
    """One task and size over the replicates: the realized values, each tool's merged results, the floor (ms)."""
    truths: dict[str, list] = {}
    mine, specs, floors = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-estimation-") as tmp:
        for r in range(plan.replicates):
            reference, analyses = prepare(task, n, plan, seed + r)
            found, floor = _floor_ms(task, analyses)
            floors.append(floor)
            for key, values in found.items():
                truths.setdefault(key, []).extend(values)
            mine.append(ours(task, reference, analyses, plan))
            if python is not None:
                specs.append(nannyml_tasks(f"{task}-{n}-{r}", task, n, reference, analyses, Path(tmp)))
        tools = {"ours": _merge(mine)}
        if python is not None:
            log(f"{task}, {n:,} rows/period: NannyML {NANNYML_VERSION} in {python.parent.parent} ...")
            side = nannyml(python, specs, Path(tmp))
            for spec in specs:
                check_chunks(side["tasks"][spec["name"]], n, plan.periods, spec["name"])
            tools[f"NannyML {NANNYML_VERSION}"] = _merge([side["tasks"][spec["name"]] for spec in specs])
            tools[f"NannyML {NANNYML_VERSION}"] |= {"import_s": side["import_s"], "pandas": side["pandas"]}
    return truths, tools, float(np.mean(floors))


def agreement(task: str, n: int, tools: dict) -> list[dict]:
    """How far our point estimates are from NannyML's on the same periods (max and mean absolute difference)."""
    names = list(tools)
    if len(names) < 2:
        return []
    found = []
    for metric in CLS_METRICS if task == "binary" else REG_METRICS:
        a = np.concatenate([tools[names[0]]["scenarios"][k][metric]["value"] for k in tools[names[0]]["scenarios"]])
        b = np.concatenate([tools[names[1]]["scenarios"][k][metric]["value"] for k in tools[names[0]]["scenarios"]])
        diff = np.abs(np.asarray(a) - np.asarray(b))
        found.append({"task": task, "rows": n, "metric": metric, "periods": len(diff),
                      "max_abs_diff": float(np.nanmax(diff)), "mean_abs_diff": float(np.nanmean(diff))})
    return found


def run(plan: Plan, with_nannyml: bool, seed: int, log=print) -> dict:
    import sklearn.ensemble  # noqa: F401  (loads scikit-learn's OpenMP before the limit: threadpoolctl limits only
    import sklearn.isotonic  # noqa: F401  the libraries already loaded)
    from threadpoolctl import threadpool_limits

    started, rows, timings, agreements, versions = time.perf_counter(), [], [], [], {}
    python = ensure_nannyml_venv() if with_nannyml else None
    periods = plan.periods * plan.replicates
    with threadpool_limits(1):
        for n in plan.sizes:
            for task in ("binary", "regression"):
                log(f"{task}, {n:,} rows/period, {plan.replicates} replicates: data, models, our estimators ...")
                truths, tools, floor = _cell(task, n, plan, seed, python, log)
                rows += rows_of(task, n, truths, tools, periods)
                agreements += agreement(task, n, tools)
                versions |= {k: v for t in tools.values() for k, v in t.items() if k == "pandas"}
                for tool, found in tools.items():
                    count = periods * len(found["scenarios"])
                    wall, cpu = (sum(s[f] for s in found["scenarios"].values()) for f in ("estimate_s", "estimate_cpu_s"))
                    timings.append({"task": task, "rows": n, "tool": tool, "fit_s": found["fit_s"],
                                    "fit_cpu_s": found["fit_cpu_s"], "floor_cpu_ms": floor,
                                    "ms_per_period": 1000 * wall / count, "cpu_ms_per_period": 1000 * cpu / count})
    return {"rows": rows, "timings": timings, "agreement": agreements, "wall_s": time.perf_counter() - started,
            "nannyml_pandas": versions.get("pandas")}


def _versions(result: dict) -> str:
    import sklearn

    found = f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, " \
            f"scikit-learn {sklearn.__version__}"
    if result.get("nannyml_pandas"):
        found += f"; NannyML's venv: nannyml {NANNYML_VERSION}, pandas {result['nannyml_pandas']}"
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.estimation", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 rows, 4 periods per scenario (a smoke test)")
    parser.add_argument("--no-nannyml", action="store_true", help="our estimators only (no NannyML venv)")
    parser.add_argument("--periods", type=int, default=None, help="periods per scenario (default 40)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="rows per period (default 500 5000)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown (default: docs/estimation.md, between its markers)")
    parser.add_argument("--json", type=Path, default=None, help="raw results (default benchmarks/results/estimation.json)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    if args.periods:
        plan = Plan(**{**plan.__dict__, "periods": args.periods})
    if args.sizes:
        plan = Plan(**{**plan.__dict__, "sizes": tuple(args.sizes)})
    result = run(plan, not args.no_nannyml, args.seed, log=lambda m: print(m, file=sys.stderr, flush=True))
    result |= {
        "plan": plan.__dict__ | {"sizes": list(plan.sizes)}, "seed": args.seed,
        "command": "python -m benchmarks.estimation " + " ".join(argv if argv is not None else sys.argv[1:]),
        "finished": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end",
    }
    result["versions"] = _versions(result)
    result["markdown"] = markdown(result)
    print(result["markdown"])
    write_page(args.out, result["markdown"])
    json_path = args.json or (DEFAULT_JSON if args.out == DEFAULT_OUT else args.out.with_suffix(".json"))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
