"""One benchmark case, run in a fresh process by benchmarks/run.py so its peak RSS is its own:

    python -m benchmarks.cases NAME '{"param": ...}'

Each case prepares its inputs (not timed), times the work with `time.perf_counter`, and prints one line
`BENCH_RESULT {json}` with `timings` (name -> seconds) and facts to compare (drift decisions, row counts).
Imports a case needs anyway (evidently, drift_platform) happen before the timer, for both sides of a comparison.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    value = fn()
    return time.perf_counter() - began, value


# --- (a) drift ----------------------------------------------------------------------------------------------------
def _spec(shape: str, columns: int | None):
    from benchmarks import data

    return data.SPEC if shape == "long" else data.wide_spec(columns)


def _reference(shape: str, rows: int, columns: int | None):
    from benchmarks import data

    return data.frame(rows, seed=1) if shape == "long" else data.wide_frame(rows, columns, seed=1)


def _current(shape: str, rows: int, columns: int | None):
    """The week: "long" = 12 columns (benchmarks/data.py `pair`, some drifted), "wide" = `columns` columns, half
    numerical, half 8-level text, 10% of each half drifted."""
    import pandas as pd

    from benchmarks import data

    if shape == "long":
        return data.frame(rows, seed=2, drift=True, start=data.START + pd.Timedelta(seconds=rows))
    return data.wide_frame(rows, columns, seed=2, drifted_share=0.1)


def build_stats(shape: str, rows: int, path: str, columns: int | None = None) -> dict[str, Any]:
    """The reference's statistics, built in a process of their own and written to `path` (so a warm week's peak
    RSS is its own, not that of making the reference)."""
    from drift_platform.core.stats.drift import column_kinds
    from drift_platform.core.stats.reference_stats import build_reference_stats

    reference = _reference(shape, rows, columns)
    seconds, stats = _timed(lambda: build_reference_stats(reference, column_kinds(_spec(shape, columns))))
    data = stats.to_bytes()
    Path(path).write_bytes(data)
    return {"timings": {"build": seconds}, "bytes": len(data)}


def _cached_stats(shape: str, rows: int, columns: int | None):
    """The statistics of the shape's reference, built once per (shape, rows, columns) by a child process."""
    from drift_platform.core.stats.reference_stats import ReferenceStats

    cache = Path(os.environ.get("DAGSTER_HOME") or tempfile.gettempdir()) / "drift-bench-stats"
    cache.mkdir(exist_ok=True)
    path = cache / f"{shape}-{rows}-{columns}.npz"
    if not path.exists():
        params = {"shape": shape, "rows": rows, "path": str(path) + ".tmp", "columns": columns}
        subprocess.run([sys.executable, "-m", "benchmarks.cases", "build_stats", json.dumps(params)], check=True,
                       stdout=subprocess.DEVNULL)
        Path(str(path) + ".tmp").rename(path)
    return ReferenceStats.from_file(path)  # as the platform loads them: an array at a time


def prepare_stats(rows: int, shape: str = "long", columns: int | None = None) -> dict[str, Any]:
    """Build the shape's cached statistics now (run.py calls it before the warm runs, so the child process that
    builds them, holding the reference frame, never counts in a warm run's peak RSS)."""
    _cached_stats(shape, rows, columns)
    return {"timings": {}}


def floor(current, spec) -> float:
    """The machine's floor for one week's decisions: what no implementation can skip on the current side, each
    numerical column sorted once (numpy) and each categorical one counted once (pandas factorize + bincount)."""
    import numpy as np
    import pandas as pd

    def work() -> None:
        for name in spec.numerical_features:
            if name in spec.monitored_columns:
                np.sort(current[name].to_numpy())
        for name in spec.categorical_features:
            if name in spec.monitored_columns:
                codes, _ = pd.factorize(current[name])
                np.bincount(codes[codes >= 0])

    return _timed(work)[0]


def drift(rows: int, variant: str, shape: str = "long", columns: int | None = None) -> dict[str, Any]:
    """variant: "preset" = bare `Report([DataDriftPreset()], include_tests=True).run(cur, ref)` on the monitored
    columns; "project" = `compute_drift` from the reference frame (its statistics built in the call: a cold
    week) with its HTML and JSON report; "decisions" = the same with_report=False; "cached" / "cached_decisions" =
    `compute_drift` from the reference's statistics built beforehand (a warm week), with / without the report;
    "floor" = the machine's floor (`floor`). shape: "long" (12 columns) or "wide" (`columns` columns)."""
    import evidently.legacy.calculations.stattests  # noqa: F401 - the import is not what is measured
    import evidently.presets  # noqa: F401

    from drift_platform.core.stats.drift import compute_drift, parse_snapshot

    spec = _spec(shape, columns)
    features = spec.monitored_columns
    current = _current(shape, rows, columns)
    if variant in ("cached", "cached_decisions"):
        reference = _cached_stats(shape, rows, columns)
    elif variant != "floor":
        reference = _reference(shape, rows, columns)
    if variant == "floor":
        return {"timings": {"drift": floor(current, spec)}}
    if variant == "preset":
        from evidently import Report
        from evidently.presets import DataDriftPreset

        cur, ref = current[features], reference[features]
        seconds, snapshot = _timed(
            lambda: Report([DataDriftPreset()], include_tests=True).run(cur, ref).dict()
        )
        columns_, count, share = parse_snapshot(snapshot, 0.5)
        dataset_drift = share >= 0.5
        report_bytes = None
    else:
        with_report = variant in ("project", "cached")
        seconds, result = _timed(lambda: compute_drift(reference, current, spec, with_report=with_report))
        columns_, count, share, dataset_drift = result.columns, result.drifted_count, result.share, result.dataset_drift
        report_bytes = len(result.report_html) + len(result.report_json) if with_report else None
    return {
        "timings": {"drift": seconds},
        "columns": {
            c.column: {"method": c.method, "score": c.score, "threshold": c.threshold, "drifted": c.drifted}
            for c in columns_
        },
        "drifted_count": count,
        "share": share,
        "dataset_drift": bool(dataset_drift),
        "report_bytes": report_bytes,
    }


# --- (b) history write and read on PostgreSQL -----------------------------------------------------------------------
def _database(host: str, port: int) -> tuple[str, Callable[[], None]]:
    """A fresh database on the benchmark's server: its SQLAlchemy URL and a function that drops it."""
    import psycopg2

    name = f"bench_{uuid.uuid4().hex[:12]}"

    def admin(statement: str) -> None:
        conn = psycopg2.connect(host=host, port=port, user="postgres", dbname="postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement)
        finally:
            conn.close()

    admin(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg2://postgres@{host}:{port}/{name}", lambda: admin(
        f'DROP DATABASE "{name}" WITH (FORCE)'
    )


def _psql(host: str, port: int, url: str, command: str) -> tuple[float, int]:
    """Run one psql meta-command: its wall time and its own peak RSS in kB.

    The RSS is psql's VmHWM, polled every 5 ms (a high-water mark, so the last reading is the peak): the
    `ru_maxrss` that wait4 reports would include this Python process's RSS, which a forked child inherits."""
    import sqlalchemy as sa

    argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", str(port), "-U", "postgres",
            "-d", sa.make_url(url).database, "-c", command]  # fmt: skip
    peak_kb = 0
    began = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        status_file = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                fields = dict(
                    line.split(":", 1) for line in status_file.read_text().splitlines() if ":" in line
                )
                if (
                    fields["Name"].strip() == "psql"
                ):  # before exec the status is the forked copy of this process
                    peak_kb = max(peak_kb, int(fields["VmHWM"].split()[0]))
            except (OSError, KeyError, ValueError):
                pass  # not started yet, or already gone
            time.sleep(0.005)
        seconds = time.perf_counter() - began
    finally:
        if proc.poll() is None:
            proc.kill()
    error = proc.stderr.read().decode()
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"psql failed ({proc.returncode}): {error}")
    return seconds, peak_kb


def history(rows: int, variant: str, host: str, port: int) -> dict[str, Any]:
    """variant: "write" = `WarehouseResource.replace_windows` of `rows` rows into an empty history table;
    "psql_write" = `psql \\copy ... FROM` a file holding the very CSV text `write` streams, into the same (empty,
    same DDL) table;
    "read" = `WarehouseResource.read` of the whole table; "psql_read" = `psql \\copy (SELECT ...) TO` a file."""

    import pandas as pd
    import psycopg  # noqa: F401 - imported before the timer, as in a process that already reads the reference
    import pyarrow.csv  # noqa: F401
    import sqlalchemy  # noqa: F401

    from benchmarks.data import SPEC, frame
    from drift_platform.resources.warehouse import WarehouseResource, csv_slices

    rows_frame = frame(rows, seed=3)
    start, end = rows_frame["ts"].iloc[0], rows_frame["ts"].iloc[-1] + pd.Timedelta(seconds=1)
    url, drop = _database(host, port)
    warehouse = WarehouseResource(url=url)
    # Before the timer, as in the assets, which read the reference through the same engine before writing.
    warehouse.engine.connect().close()
    columns = ", ".join(SPEC.columns)
    out: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            csv_path = Path(tmp) / "history.csv"
            if variant == "write":
                seconds, _ = _timed(
                    lambda: warehouse.replace_windows("history", SPEC.layout, [(rows_frame, start, end)])
                )
            elif variant == "psql_write":
                warehouse.replace_windows(
                    "history", SPEC.layout, [(rows_frame.iloc[:0], start, end)]
                )  # the same DDL
                with csv_path.open("wb") as sink:  # the very text COPY gets
                    for block in csv_slices(rows_frame):
                        sink.write(block)
                seconds, out["rss_kb"] = _psql(
                    host, port, url, f"\\copy history ({columns}) FROM '{csv_path}' WITH (FORMAT csv)"
                )
            elif variant == "read":
                warehouse.replace_windows("history", SPEC.layout, [(rows_frame, start, end)])
                del rows_frame
                seconds, back = _timed(lambda: warehouse.read("history", SPEC.layout))
                out["dtypes"] = sorted({str(t) for t in back.dtypes})
            elif variant == "psql_read":
                warehouse.replace_windows("history", SPEC.layout, [(rows_frame, start, end)])
                del rows_frame
                seconds, out["rss_kb"] = _psql(
                    host,
                    port,
                    url,
                    f"\\copy (SELECT {columns} FROM history ORDER BY ts) TO '{csv_path}' WITH (FORMAT csv)",
                )
            else:
                raise ValueError(f"unknown history variant {variant!r}")
            out["rows_in_table"] = warehouse.stats("history", SPEC.layout)["rows"]
    finally:
        warehouse.engine.dispose()
        drop()
    return {"timings": {"history": seconds}, **out}


# --- (d) the platform in-process --------------------------------------------------------------------------------------
class _Platform:
    """The code location as `make demo` loads it (the shipped monitors on the embedded default: SQLite warehouse,
    local store, logged alerts) with its files under `root`, and the bike_sharing monitor's jobs and sensor run
    in-process on a temporary instance."""

    MONITOR = "bike_sharing"

    def __init__(self, root: Path, instance) -> None:
        from drift_platform.definitions import build_definitions

        self.defs = build_definitions(env={"DRIFT_DATA_DIR": str(root)})
        self.instance = instance
        self.cursor: str | None = None

    def run_week(self, week: str):
        job = self.defs.resolve_job_def(f"{self.MONITOR}_drift_job")
        return job.execute_in_process(partition_key=week, instance=self.instance)

    def tick(self):
        import dagster as dg

        sensor = self.defs.resolve_sensor_def(f"{self.MONITOR}_retrain_on_drift_sensor")
        with dg.build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.defs.resources) as ctx:
            result = sensor(ctx)
        self.cursor = result.cursor
        return result

    def history(self):
        from benchmarks.data import BIKE_SPEC
        from drift_platform.core.intake.dataset import DatasetSpec

        return self.defs.resources["warehouse"].read(f"{self.MONITOR}_history", DatasetSpec.from_yaml(BIKE_SPEC).layout)


def _platform(root: Path, instance) -> _Platform:
    return _Platform(root, instance)


def sample_weeks(limit: int | None = None) -> list[str]:
    """The weekly partitions the sample covers in full: 2011-01-31 .. 2012-12-24."""
    return sample_periods(_Platform.MONITOR, limit)


def _idle_ticks(platform, count: int) -> list[float]:
    """Sensor ticks with nothing new since the previous tick."""
    seconds = []
    for _ in range(count):
        took, result = _timed(platform.tick)
        if result.run_requests:
            raise RuntimeError("a tick with nothing new requested a run")
        seconds.append(took)
    return seconds


def week(idle_ticks: int = 5) -> dict[str, Any]:
    """One weekly partition end to end in a fresh process (cold: pays the lazy imports), then another (warm), then
    sensor ticks with nothing new."""
    import dagster as dg

    first, second = sample_weeks(2)
    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
        platform = _platform(Path(tmp), instance)
        cold, result = _timed(lambda: platform.run_week(first))
        warm, again = _timed(lambda: platform.run_week(second))
        if not (result.success and again.success):
            raise RuntimeError("a weekly run failed")
        platform.tick()
        ticks = _idle_ticks(platform, idle_ticks)
    return {"timings": {"week_cold": cold, "week_warm": warm}, "series": {"tick_idle": ticks}}


def backfill(weeks: int | None = None, idle_ticks: int = 5) -> dict[str, Any]:
    """Every sample week in order, one in-process run each (reference created by the first), then the sensor's
    first tick (one retrain request per drifted week) and ticks with nothing new on an instance holding them all."""
    import dagster as dg

    keys = sample_weeks(weeks)
    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
        platform = _platform(Path(tmp), instance)
        began = time.perf_counter()
        per_week = []
        for key in keys:
            took, result = _timed(lambda key=key: platform.run_week(key))
            if not result.success:
                raise RuntimeError(f"week {key} failed")
            per_week.append(took)
        total = time.perf_counter() - began
        first_tick, tick = _timed(platform.tick)
        ticks = _idle_ticks(platform, idle_ticks)
        history_rows = len(platform.history())
    return {
        "timings": {"backfill": total, "tick_first": first_tick},
        "series": {"tick_idle": ticks, "backfill_week": per_week},
        "weeks": len(keys),
        "retrain_requests": len(tick.run_requests or []),
        "history_rows": history_rows,
    }


# --- (e) training ---------------------------------------------------------------------------------------------------
def training(rows: int, n_jobs: int) -> dict[str, Any]:
    """`train` (GridSearchCV over 7 alphas x 3 chronological folds, then refit) on a history of `rows` rows."""
    import sklearn.model_selection  # noqa: F401 - the import is not what is measured

    from benchmarks.data import bike_history
    from drift_platform.core.ml.training import train
    from drift_platform.core.settings import TrainingSettings

    history, spec = bike_history(rows)
    seconds, result = _timed(lambda: train(history, spec, TrainingSettings(n_jobs=n_jobs)))
    return {
        "timings": {"train": seconds},
        "best_alpha": result.best_alpha,
        "rows": len(history),
        "cv_rmsle": result.cv_rmsle,
    }


# --- (h) training and prediction by task, beside scikit-learn alone (issue 20) ----------------------------------------
# One estimator per task, as a monitor's `training:` would name it: the default Ridge recipe (log1p target, 7 alphas)
# scored by rmsle; LogisticRegression (the classifiers' default, C in 0.1, 1, 10) by roc_auc; HistGradientBoosting
# with a 2 x 2 grid by log_loss.
TASK_RECIPES: dict[str, dict[str, Any]] = {
    "regression": {"metric": "rmsle"},
    "binary": {"metric": "roc_auc"},
    "multiclass": {"estimator": "sklearn.ensemble.HistGradientBoostingClassifier", "metric": "log_loss",
                   "param_grid": {"learning_rate": [0.1, 0.3], "max_leaf_nodes": [15, 31]}},
}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _task_inputs(task: str, rows: int) -> dict[str, Any]:
    """The history (`rows` rows, one a minute), the next `rows` rows as the batch to predict, the spec, the
    settings, and the holdout the platform should score: the last 10 % of the rows in time (distinct timestamps)."""
    import pandas as pd

    from benchmarks.data import TASK_START, task_frame, task_spec
    from drift_platform.core.settings import TrainingSettings

    history = task_frame(task, rows, seed=1)
    batch = task_frame(task, rows, seed=2, start=TASK_START + pd.Timedelta(minutes=rows))
    settings = TrainingSettings(**TASK_RECIPES[task], n_jobs=1)
    n_holdout = max(1, int(round(rows * settings.holdout_share)))
    return {"spec": task_spec(task), "settings": settings, "history": history, "batch": batch,
            "train_part": history.iloc[:-n_holdout], "holdout": history.iloc[-n_holdout:]}


def _sklearn_metric(metric: str, model: Any, rows, spec) -> float:
    """scikit-learn's own function of the metric on `rows` and `model` (binary: class 1 is the positive class)."""
    from sklearn import metrics

    X, y = rows[spec.features], rows[spec.target]
    if metric == "rmsle":  # the platform counts a negative prediction as 0, sklearn refuses it: none may occur
        predicted = model.predict(X)
        if (predicted < 0).any():
            raise AssertionError(f"{int((predicted < 0).sum())} negative predictions: rmsle is not sklearn's here")
        return float(metrics.root_mean_squared_log_error(y, predicted))
    proba = model.predict_proba(X)
    if metric == "roc_auc":
        return float(metrics.roc_auc_score(y, proba[:, list(model.classes_).index(1)]))
    return float(metrics.log_loss(y, proba, labels=model.classes_))


def _thread_facts(threads: int) -> dict[str, Any]:
    from threadpoolctl import threadpool_info

    return {"threads": threads, "pools": sorted({f"{p['user_api']}:{p['num_threads']}" for p in threadpool_info()})}


def task_training(task: str, rows: int, side: str, threads: int = 1) -> dict[str, Any]:
    """One task's model at `rows` rows, timed on one side (each in a process of its own; OpenMP and BLAS held to
    `threads` threads, set before numpy loads):
    "platform" = `train` (chronological grid search, refit, holdout score), `predictions_frame` and `predict` of
    the batch, `save_model` + `load_model` (skops, LocalObjectStore); asserts the holdout value equals
    scikit-learn's function on the same rows and model, and the loaded model predicts as the trained one.
    "sklearn" = the same pipeline built by hand: GridSearchCV (same grid, same folds, sklearn's scorer), its
    holdout score, one fit with the chosen parameters, predict (+ predict_proba) of the batch, and
    pickle / skops dumps + loads through a file."""
    if "numpy" in sys.modules:
        raise RuntimeError("task_training must set the thread counts before numpy is imported")
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    import sklearn.ensemble  # noqa: F401 - the imports are not what is measured
    import sklearn.linear_model  # noqa: F401
    import sklearn.model_selection  # noqa: F401
    import skops.io  # noqa: F401

    inputs = _task_inputs(task, rows)
    out = _task_platform(inputs) if side == "platform" else _task_sklearn(inputs)
    return {**out, "task": task, "rows": rows, "side": side, **_thread_facts(threads)}


def _task_platform(inputs: dict[str, Any]) -> dict[str, Any]:
    import math

    import numpy as np

    from drift_platform.core.ml.model_registry import configured_trust, load_model, save_model
    from drift_platform.core.ml.predictions import predictions_frame
    from drift_platform.core.ml.training import predict, train
    from drift_platform.resources.store import LocalObjectStore

    spec, settings, batch = inputs["spec"], inputs["settings"], inputs["batch"]
    timings: dict[str, float] = {}
    timings["train"], result = _timed(lambda: train(inputs["history"], spec, settings))
    expected = _sklearn_metric(result.metric, result.model, inputs["holdout"], spec)
    if not math.isclose(result.holdout_score, expected, rel_tol=1e-12, abs_tol=1e-15):
        raise AssertionError(f"holdout {result.metric}: platform {result.holdout_score!r} != sklearn {expected!r}")
    classes = list(result.scoring.classes) if result.scoring.classes else None
    timings["predictions_frame"], frame = _timed(lambda: predictions_frame(result.model, batch, spec, "v1", classes))
    timings["predict"], predicted = _timed(lambda: predict(result.model, batch, spec))
    with tempfile.TemporaryDirectory(prefix="drift-bench-models-") as tmp:
        store = LocalObjectStore(root=tmp)
        timings["save"], saved = _timed(lambda: save_model(store, result.model, {"metric": result.metric}))
        trust = configured_trust(settings)
        timings["load"], (loaded, _) = _timed(lambda: load_model(store, saved.version, trusted_extra=trust))
        artifact_bytes = Path(store.location(saved.artifact_key)).stat().st_size
    if not np.array_equal(np.asarray(loaded.predict(batch[spec.features])), predicted.to_numpy()):
        raise AssertionError("the model loaded from skops predicts otherwise than the trained one")
    return {"timings": timings, "metric": result.metric, "holdout": result.holdout_score, "holdout_sklearn": expected,
            "cv": result.cv_score, "best_params": result.best_params, "frame_columns": list(frame.columns),
            "artifact_bytes": artifact_bytes, "train_rows": result.train_rows, "holdout_rows": result.holdout_rows}


def _by_hand(spec, task: str, params: dict[str, Any] | None = None):
    """The recipe's pipeline written with scikit-learn alone, and its grid under pipeline names."""
    import numpy as np
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    sparse = {} if task != "multiclass" else {"sparse_threshold": 0.0}
    preprocess = ColumnTransformer([("categorical", OneHotEncoder(handle_unknown="ignore"), spec.categorical_features),
                                    ("numerical", StandardScaler(), spec.numerical_features)], **sparse)
    if task == "regression":
        model, prefix = TransformedTargetRegressor(Ridge(), func=np.log1p, inverse_func=np.expm1,
                                                   check_inverse=False), "model__regressor__"
        grid = {"alpha": [0.1, 1, 2, 3, 4, 10, 100]}
    elif task == "binary":  # roc_auc scores a ranking: balanced class weights (core/ml/recipe.py's rule)
        model, prefix = LogisticRegression(class_weight="balanced", random_state=0), "model__"
        grid = {"C": [0.1, 1.0, 10.0]}
    else:  # log_loss scores the probabilities themselves: no class weights (core/ml/recipe.py's rule)
        model, prefix = HistGradientBoostingClassifier(random_state=0), "model__"
        grid = TASK_RECIPES[task]["param_grid"]
    pipeline = Pipeline([("preprocess", preprocess), ("model", model)])
    pipeline.set_params(**{prefix + k: v for k, v in (params or {}).items()})
    return pipeline, {prefix + k: v for k, v in grid.items()}, prefix


def _task_sklearn(inputs: dict[str, Any]) -> dict[str, Any]:
    import pickle

    import numpy as np
    from sklearn.base import clone
    from sklearn.metrics import make_scorer, roc_auc_score
    from sklearn.model_selection import GridSearchCV, TimeSeriesSplit

    from drift_platform.core.ml.training import time_series_folds

    spec, train_part, batch = inputs["spec"], inputs["train_part"], inputs["batch"]
    task, metric = spec.task, TASK_RECIPES[spec.task]["metric"]
    X, y = train_part[spec.features], train_part[spec.target]
    # The platform's fold positions (its chronological folds, stratified in time for a classifier), made before
    # the timer: the search below runs on exactly the same rows.
    folds = time_series_folds(train_part["ts"], inputs["settings"].cv_folds, y if spec.is_classifier else None)
    plain = [(a.tolist(), b.tolist()) for a, b in TimeSeriesSplit(len(folds)).split(X)]
    scoring = {"rmsle": "neg_root_mean_squared_log_error", "log_loss": "neg_log_loss",
               "roc_auc": make_scorer(roc_auc_score, response_method="predict_proba")}[metric]
    pipeline, grid, prefix = _by_hand(spec, task)
    search = GridSearchCV(pipeline, grid, scoring=scoring, cv=folds, n_jobs=1, refit=True)
    timings: dict[str, float] = {}
    timings["search"], _ = _timed(lambda: search.fit(X, y))
    timings["holdout"], holdout = _timed(
        lambda: _sklearn_metric(metric, search.best_estimator_, inputs["holdout"], spec))
    best = {k.removeprefix(prefix): v for k, v in search.best_params_.items()}
    timings["fit"], model = _timed(lambda: clone(pipeline).set_params(**search.best_params_).fit(X, y))
    Xb = batch[spec.features]
    timings["predict"], _ = _timed(lambda: (model.predict(Xb), model.predict_proba(Xb) if task != "regression" else 0))
    timings["predict_only"], predicted = _timed(lambda: model.predict(Xb))
    import skops.io

    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    with tempfile.TemporaryDirectory(prefix="drift-bench-models-") as tmp:
        path = Path(tmp) / "model"
        formats = (("pickle", pickle.dumps, pickle.loads),
                   ("skops", skops.io.dumps, lambda b: skops.io.loads(b, trusted=trusted)))
        for name, dumps, loads in formats:
            timings[f"{name}_save"], _ = _timed(lambda dumps=dumps: path.write_bytes(dumps(model)))
            timings[f"{name}_load"], back = _timed(lambda loads=loads: loads(path.read_bytes()))
            if not np.array_equal(np.asarray(back.predict(Xb)), np.asarray(predicted)):
                raise AssertionError(f"the model loaded from {name} predicts otherwise")
    sign = -1.0 if metric != "roc_auc" else 1.0
    return {"timings": timings, "metric": metric, "holdout": holdout, "cv": float(sign * search.best_score_),
            "best_params": best, "folds_are_timeseriessplit": [(a.tolist(), b.tolist()) for a, b in folds] == plain,
            "trusted_by_skops_audit": trusted}


# --- (f) a week of event data --------------------------------------------------------------------------------------
def events(rows: int, step: str, host: str | None = None, port: int | None = None) -> dict[str, Any]:
    """One step of a period of `rows` events (many per timestamp, keyed by event_id), timed alone:
    "contract" = read the week's CSV file and conform it (source.load_window: parse, datetimes, key, types);
    "history" = `WarehouseResource.replace_windows` into PostgreSQL (COPY, primary key event_id);
    "drift" = `compute_drift` against a reference of as many events (decisions and HTML/JSON report);
    "predictions" = the champion's predictions for the week (`predictions_frame`, a fitted Ridge pipeline);
    "quality" = `period_quality`, the model-quality check's arithmetic over the week's rows."""
    import pandas as pd

    from benchmarks.data import EVENT_SPEC, EVENT_WEEK, event_week
    from drift_platform.core.intake.source import load_window
    from drift_platform.core.ml.predictions import predictions_frame
    from drift_platform.core.ml.training import build_pipeline, period_quality

    week = event_week(rows, seed=2, drift=True)
    start, end = EVENT_WEEK, EVENT_WEEK + pd.Timedelta(days=7)
    if step == "contract":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "events.csv"
            week.assign(ts=week["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(path, index=False)
            seconds, (frame, _) = _timed(lambda: load_window(str(path), EVENT_SPEC, start, end))
        assert len(frame) == rows
    elif step == "history":
        from drift_platform.resources.warehouse import WarehouseResource

        url, drop = _database(host, port)
        warehouse = WarehouseResource(url=url)
        warehouse.engine.connect().close()
        try:
            seconds, _ = _timed(lambda: warehouse.replace_windows("events_history", EVENT_SPEC.layout,
                                                                  [(week, start, end)]))
            assert warehouse.stats("events_history", EVENT_SPEC.layout)["rows"] == rows
        finally:
            warehouse.engine.dispose()
            drop()
    elif step == "drift":
        import evidently.presets  # noqa: F401 - the import is not what is measured

        from drift_platform.core.stats.drift import compute_drift

        reference = event_week(rows, seed=1, start=pd.Timestamp("2021-01-04"))
        seconds, result = _timed(lambda: compute_drift(reference, week, EVENT_SPEC))
        assert result.dataset_drift in (True, False)
    elif step in ("predictions", "quality"):
        sample = event_week(min(rows, 20_000), seed=1, start=pd.Timestamp("2021-01-04"))
        model = build_pipeline(EVENT_SPEC).fit(sample[EVENT_SPEC.features], sample["amount"])
        seconds, frame = _timed(lambda: predictions_frame(model, week, EVENT_SPEC, "v1"))
        if step == "quality":
            seconds, quality = _timed(lambda: period_quality(frame["amount"], frame["predicted_amount"], 0.5, 2.0))
            assert quality.rows == rows
    else:
        raise ValueError(f"unknown events step {step!r}")
    return {"timings": {"step": seconds}, "rows": rows}


# --- (g) a backfill on the production topology ------------------------------------------------------------------------
BACKFILL_ASSETS = ("current_batch", "drift_report", "combined_history")  # no champion: predictions left out


def sample_periods(monitor: str, limit: int | None = None) -> list[str]:
    """The partitions the shipped sample covers in full: the bike weeks 2011-01-31 .. 2012-12-24, the grid_load
    days 2011-01-31 .. 2012-12-31."""
    from drift_platform.definitions import defs

    last = {"bike_sharing": "2012-12-24", "grid_load": "2012-12-31"}[monitor]
    periods = [p for p in defs.resolve_job_def(f"{monitor}_drift_job").partitions_def.get_partition_keys() if p <= last]
    return periods[:limit] if limit else periods


STEP_KINDS = ("current_batch", "combined_history", "drift_report")


def run_phases(instance, records) -> dict[str, float]:
    """Where the backfill's runs spent their time, summed over the runs, from their event logs: queued (created
    to launched), the run's start (launched to the run's first event in its own process: the process, Dagster's
    and the code location's imports), each step (start to end; the checks together; Evidently's import falls in
    the first drift_report step of each run), and the rest (the run's end, Dagster's bookkeeping between steps)."""
    from dagster import DagsterEventType as T

    phases: dict[str, float] = {}

    def add(name: str, seconds: float) -> None:
        phases[name] = phases.get(name, 0.0) + max(seconds, 0.0)

    for record in records:
        events = [e for e in instance.all_logs(record.dagster_run.run_id) if e.dagster_event is not None]
        first = {}
        for event in events:
            first.setdefault(event.dagster_event.event_type, event.timestamp)
        launched = first.get(T.RUN_STARTING, record.create_timestamp.timestamp())
        started = first.get(T.RUN_START, launched)
        add("queued (created to launched)", launched - record.create_timestamp.timestamp())
        add("run start (process, imports, code location)", started - launched)
        opened: dict[str, float] = {}
        in_steps = 0.0
        for event in events:
            kind, step = event.dagster_event.event_type, event.dagster_event.step_key
            if kind == T.STEP_START:
                opened[step] = event.timestamp
            elif kind in (T.STEP_SUCCESS, T.STEP_FAILURE) and step in opened:
                name = next((k for k in STEP_KINDS if step.endswith(f"__{k}")), "checks")
                add(f"step: {name}", event.timestamp - opened[step])
                in_steps += event.timestamp - opened[step]
        add("rest of the run (between steps, its end)", record.end_time - started - in_steps)
    return phases


def run_timeline(instance, records, began: float) -> list[dict[str, float]]:
    """Each run's milestones in seconds after the launch: made (by the daemon), launched (RUN_STARTING), its
    process running the job (RUN_START), its drift report's step begun, ended."""
    from dagster import DagsterEventType as T

    timeline = []
    for record in sorted(records, key=lambda r: r.create_timestamp):
        first: dict[str, float] = {}
        for event in instance.all_logs(record.dagster_run.run_id):
            kind = event.dagster_event.event_type if event.dagster_event else None
            step = event.dagster_event.step_key if event.dagster_event else None
            name = {T.RUN_STARTING: "launched", T.RUN_START: "started"}.get(kind) or (
                "drift_report" if kind == T.STEP_START and step.endswith("__drift_report") else None)
            if name:
                first.setdefault(name, event.timestamp - began)
        timeline.append({"made": record.create_timestamp.timestamp() - began, **first,
                         "ended": record.end_time - began})
    return timeline


def backfill_production(weeks: int | None = None, mode: str = "asset", timeout: float = 3600.0,
                        monitor: str = "bike_sharing", periods_per_run: int | None = None) -> dict[str, Any]:
    """The sample's bike weeks backfilled on the production topology, as real processes on loopback: PostgreSQL
    (Dagster's storage through the production dagster.yaml, and the warehouse), an S3 server (store and IO
    manager), a code server, dagster-webserver and dagster-daemon (QueuedRunCoordinator, 4 runs at once;
    DefaultRunLauncher: each run a subprocess of the code server). Launched as the UI does (GraphQL
    launchPartitionBackfill) and timed from the launch to the end of the backfill's last run.
    mode "asset": an asset backfill of current_batch, drift_report and combined_history (their BackfillPolicy:
    13 weeks a run); "job": a job backfill of bike_sharing_drift_job from the UI/GraphQL (the daemon splits it by
    the job's policy, which its assets give it: 13 weeks a run too); "runs": one launched drift-job run per week
    (what the CLI's `dagster job backfill` does, and any backfill did before the policy).
    Retrains are turned off (retrain_on: []) so only the backfill's runs use the machine.
    `monitor`: bike_sharing (weeks) or grid_load (days; `weeks` then counts its days); `periods_per_run`: the
    monitors' backfill_periods_per_run (default: the cadence's). `phases_per_period`: `run_phases` over the
    periods."""
    from dagster._core.execution.backfill import BulkActionStatus

    from loopback import unique_name
    from loopback.dagster_stack import DagsterStack
    from loopback.postgres import PostgresServer
    from loopback.s3 import MotoServer

    keys = sample_periods(monitor, weeks)
    overrides = {"retrain_on": [], **({"backfill_periods_per_run": periods_per_run} if periods_per_run else {})}
    with tempfile.TemporaryDirectory(prefix="drift-bench-prod-") as tmp, PostgresServer() as postgres, \
            MotoServer() as s3:
        postgres.create_database("dagster")
        warehouse_url = postgres.create_database("drift_warehouse")
        bucket = s3.create_bucket(unique_name("drift-bench"))
        env = {
            "DAGSTER_POSTGRES_USER": "postgres", "DAGSTER_POSTGRES_PASSWORD": "bench", "DAGSTER_POSTGRES_HOST": postgres.host,
            "DAGSTER_POSTGRES_PORT": str(postgres.port), "DAGSTER_POSTGRES_DB": "dagster",
            "DRIFT_WAREHOUSE_URL": warehouse_url, "DRIFT_STORE_URL": f"s3://{bucket}/drift",
            "DRIFT_S3_ENDPOINT_URL": s3.endpoint_url, "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key, "AWS_REGION": s3.region, "DRIFT_DATA_DIR": str(Path(tmp) / "data"),
        }
        stack = DagsterStack(env, home=Path(tmp) / "home", sensor_interval_seconds=30, **overrides)
        stack.start()
        try:
            instance = stack.instance()
            cpu_before = cpu_by_part(stack, postgres, s3)
            began = time.time()
            runs_filter, backfill_id = _launch(stack, mode, monitor, keys)
            done = {BulkActionStatus.COMPLETED, BulkActionStatus.COMPLETED_SUCCESS, BulkActionStatus.COMPLETED_FAILED,
                    BulkActionStatus.FAILED, BulkActionStatus.CANCELED}
            while True:
                status = None if mode == "runs" else instance.get_backfill(backfill_id).status
                runs = instance.get_runs(runs_filter)
                if (mode == "runs" and len(runs) == len(keys) or status in done) and all(r.is_finished for r in runs):
                    break
                if time.time() - began > timeout:
                    raise RuntimeError(f"{mode} of {len(keys)} weeks not done after {timeout:.0f} s: {status}")
                time.sleep(1.0)
            cpu = {part: seconds - cpu_before[part] for part, seconds in cpu_by_part(stack, postgres, s3).items()}
            outcome = _outcome(instance, instance.get_run_records(runs_filter), monitor, len(keys), began)
            history_rows = postgres.execute(f"SELECT count(*) FROM {monitor}_history", dbname="drift_warehouse")[0][0]
        finally:
            stack.stop()
    return {**outcome, "mode": mode, "monitor": monitor, "weeks": len(keys), "periods": len(keys),
            "cpu_seconds_by_part": cpu,
            "backfill_status": status.value if status else "-", "history_rows": history_rows}


def process_cpu_seconds(pid: int, children: bool = False) -> float:
    """A live process's CPU time (user + system, its threads included) from /proc; `children`: with that of its
    children that have ended and been waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_by_part(stack, postgres, s3) -> dict[str, float]:
    """CPU seconds so far of each part of the topology but the runs: the code server, webserver and daemon,
    PostgreSQL (the postmaster, its ended backends and the live ones), the S3 server."""
    parts = {"code server": process_cpu_seconds(stack.code_server.pid),
             "webserver": process_cpu_seconds(stack.webserver.pid, children=True),
             "daemon": process_cpu_seconds(stack.daemon.pid, children=True),
             "S3 server": process_cpu_seconds(s3.pid, children=True),
             "PostgreSQL": process_cpu_seconds(postgres.pid, children=True)}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == postgres.pid:
                parts["PostgreSQL"] += process_cpu_seconds(int(stat.parent.name))
        except (OSError, ValueError):
            continue  # a process that ended meanwhile
    return parts


def _launch(stack, mode: str, monitor: str, keys: list[str]):
    """The backfill (or, mode "runs", one run per period) launched as the UI does: the filter of its runs and
    the backfill's id (None for "runs")."""
    import dagster as dg

    if mode == "runs":  # one launched run per week, as the schedule or the CLI's `dagster job backfill` makes
        batch = {"drift_platform/bench": uuid.uuid4().hex[:12]}
        for key in keys:
            stack.client().submit_job_execution(f"{monitor}_drift_job", tags={"dagster/partition": key, **batch},
                                        run_config={})
        return dg.RunsFilter(tags=batch), None
    if mode == "asset":
        params = {"assetSelection": [{"path": [monitor, a]} for a in BACKFILL_ASSETS], "partitionNames": keys}
    else:
        params = {"selector": {"partitionSetName": f"{monitor}_drift_job_partition_set",
                               "repositorySelector": {"repositoryName": "__repository__",
                                                      "repositoryLocationName": "drift_platform"}},
                  "partitionNames": keys}
    backfill_id = stack.launch_backfill(params)
    return dg.RunsFilter(tags={"dagster/backfill": backfill_id}), backfill_id


def _outcome(instance, records, monitor: str, periods: int, began: float) -> dict[str, Any]:
    """The backfill's wall time (launch to its last run's end), its runs by status, the no_dataset_drift
    evaluations by status, where the runs' time went (`run_phases`, per period) and the daemon's pick-up."""
    import dagster as dg

    wall = max(r.end_time for r in records) - began
    statuses: dict[str, int] = {}
    for record in records:
        statuses[record.dagster_run.status.value] = statuses.get(record.dagster_run.status.value, 0) + 1
    check = dg.AssetCheckKey(dg.AssetKey([monitor, "drift_report"]), "no_dataset_drift")
    by_status: dict[str, int] = {}
    for record in instance.event_log_storage.get_asset_check_execution_history(check, limit=10_000):
        by_status[record.status.value] = by_status.get(record.status.value, 0) + 1
    return {
        "timings": {"backfill": wall}, "runs": len(records), "run_statuses": statuses,
        "no_dataset_drift": by_status, "seconds_per_week": wall / periods,
        "phases_per_period": {name: seconds / periods for name, seconds in run_phases(instance, records).items()},
        "launch_to_first_run": min(r.create_timestamp.timestamp() for r in records) - began,  # the daemon's pick-up
        "timeline": run_timeline(instance, records, began),
    }


CASES: dict[str, Callable[..., dict[str, Any]]] = {
    "drift": drift, "build_stats": build_stats, "prepare_stats": prepare_stats, "history": history, "week": week,
    "backfill": backfill, "training": training, "events": events, "backfill_production": backfill_production,
    "task_training": task_training,
}  # fmt: skip


def main(argv: list[str]) -> int:
    name, params = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    result = CASES[name](**params)
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
