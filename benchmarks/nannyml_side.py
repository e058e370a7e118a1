"""NannyML's side of `make bench-estimation` (benchmarks/estimation.py). Runs in the benchmark's own venv
(.bench/nannyml-venv, NannyML 0.13.1), never in the platform's: it imports only NannyML, pandas and the standard
library, and its telemetry is off (NML_DISABLE_USAGE_LOGGING=1, set here too, before the import).

    .bench/nannyml-venv/bin/python benchmarks/nannyml_side.py JOB.json RESULT.json

JOB.json: {"tasks": [{"name", "kind": "cbpe" | "dle", "chunk_size", "reference": parquet, "analyses": {scenario:
parquet}, "metrics": [...], "features": [...] (dle)}]}. The analysis files hold no labels, so `estimate` computes no
realized value (benchmarks/estimation.py computes it once for both tools). RESULT.json: per task the import and fit
seconds (wall and CPU) and, per scenario, the estimate seconds (all periods; wall and CPU), the chunks' first and last row and per metric the
values, sampling errors and NannyML's own confidence band (value +- 3 sampling errors, clipped)."""

from __future__ import annotations

import json
import os
import sys
import time

os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"


def _estimator(nml, task: dict):
    if task["kind"] == "cbpe":
        return nml.CBPE(
            y_pred_proba="proba",
            y_pred="pred",
            y_true="y",
            timestamp_column_name="timestamp",
            metrics=task["metrics"],
            chunk_size=task["chunk_size"],
            problem_type="classification_binary",
        )
    return nml.DLE(
        feature_column_names=task["features"],
        y_pred="pred",
        y_true="y",
        timestamp_column_name="timestamp",
        metrics=task["metrics"],
        chunk_size=task["chunk_size"],
        tune_hyperparameters=False,
    )


def _columns(frame, metrics: list[str]) -> dict:
    out = {
        "start": frame[("chunk", "start_index")].astype(int).tolist(),
        "end": frame[("chunk", "end_index")].astype(int).tolist(),
    }
    for m in metrics:
        out[m] = {
            "value": frame[(m, "value")].astype(float).tolist(),
            "sampling_error": frame[(m, "sampling_error")].astype(float).tolist(),
            "lower": frame[(m, "lower_confidence_boundary")].astype(float).tolist(),
            "upper": frame[(m, "upper_confidence_boundary")].astype(float).tolist(),
        }
    return out


def run_task(nml, pd, task: dict) -> dict:
    reference = pd.read_parquet(task["reference"])
    for c in task.get("categorical", []):
        reference[c] = reference[c].astype("category")
    estimator = _estimator(nml, task)
    started, cpu = time.perf_counter(), time.process_time()
    estimator.fit(reference)
    result = {"fit_s": time.perf_counter() - started, "fit_cpu_s": time.process_time() - cpu, "scenarios": {}}
    for scenario, path in task["analyses"].items():
        analysis = pd.read_parquet(path)
        for c in task.get("categorical", []):
            analysis[c] = pd.Categorical(analysis[c], categories=reference[c].cat.categories)
        started, cpu = time.perf_counter(), time.process_time()
        estimated = estimator.estimate(analysis)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        frame = estimated.filter(period="analysis").to_df()
        result["scenarios"][scenario] = {"estimate_s": seconds, "estimate_cpu_s": cpu, "rows": len(analysis),
                                         **_columns(frame, task["metrics"])}
    return result


def main(argv: list[str]) -> int:
    job_path, out_path = argv
    started = time.perf_counter()
    import nannyml as nml
    import pandas as pd
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency; limits LightGBM's OpenMP too

    imported = time.perf_counter() - started
    threadpool_limits(1)
    with open(job_path) as f:
        job = json.load(f)
    out = {"nannyml": nml.__version__, "pandas": pd.__version__, "import_s": imported, "tasks": {}}
    for task in job["tasks"]:
        out["tasks"][task["name"]] = run_task(nml, pd, task)
    with open(out_path, "w") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
