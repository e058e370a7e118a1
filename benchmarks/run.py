"""Run the benchmarks side by side and print one markdown table (see docs/benchmarks.md).

    python -m benchmarks                      # the full run (make bench), ~20 min on 2 cores
    python -m benchmarks --smoke              # tiny sizes, one run each (make bench-smoke; also a test)
    python -m benchmarks --sizes 10000,100000 --repeat 5 --only drift,imports
    python -m benchmarks --only backfill_production --weeks 26 --timeout 3600   # opt-in: the production topology
    python -m benchmarks --only sources --source-rows 1000000 --source-weeks 52   # issue 23 (benchmarks/sources.py)

Every run of every case is a fresh process (benchmarks/cases.py, or `python -c ...` for the imports), started and
waited for one at a time, never two at once. Its peak RSS is the `ru_maxrss` that `os.wait4` returns for it: the
largest resident set of that process (or of a child it waited for, e.g. a grid-search worker); Linux starts a
forked child's count at its parent's RSS, and this orchestrator stays at ~35-60 MB, below every case (psql,
started by a case process, is measured by its own VmHWM instead). The server's memory counts on neither side. Time is what
the case measured around the work itself, except for the imports, which are the wall time of the whole process.
The two sides of a comparison alternate (A B A B ...) so a change in the machine's load hits both alike.
Results go to stdout and to benchmarks/results/ (git-ignored) as .md and .json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.cases import RESULT_PREFIX

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
GROUPS = ("drift", "wide", "history", "imports", "platform", "training", "events", "tasks", "sources")
# Opt-in groups (--only NAME): longer than the whole default run on 2 cores.
OPT_IN_GROUPS = ("backfill_production",)
LARGE_ROWS = 500_000  # the bare preset at this size and above runs --large-repeat times (~90 s a run at 1M)
PACKAGES = (
    "dagster",
    "evidently",
    "pandas",
    "numpy",
    "scipy",
    "scikit-learn",
    "pyarrow",
    "SQLAlchemy",
    "psycopg2-binary",
)
TARGETS = {
    "drift_speedup": 5.0,
    "drift_rss_mb": 1024.0,
    "history_ratio": 1.5,
    "load_ratio": 1.5,
    "tick_s": 1.0,
    "cached_decisions_s": 1.0,  # 1M x 12, reference statistics cached
    "cached_drift_s": 2.0,  # the same with the HTML/JSON report
    "cached_speedup": 20.0,
    "cached_rss_mb": 700.0,
    "cold_over_warm": 1.5,
    "wide_speedup": 20.0,
    "wide_rss_mb": 2048.0,
}
DRIFT_GROUP = "a. drift (N ref + N cur rows x 12 cols)"
WIDE_GROUP = "a2. drift, wide (N ref + N cur rows x C cols: half numerical, half 8-level text, 10% drifted)"
VARIANTS = {  # drift case variant -> label suffix
    "preset": "bare Evidently DataDriftPreset",
    "project": "project compute_drift, cold: reference statistics built in the call (+ HTML/JSON report)",
    "decisions": "project decisions only, cold (with_report=False)",
    "cached": "project compute_drift, warm: reference statistics cached (+ HTML/JSON report)",
    "cached_decisions": "project decisions only, warm (with_report=False)",
    "floor": "floor: numpy sort of each numerical + factorize/bincount of each categorical current column",
}
TASK_GROUP = "h. training and prediction by task, platform vs scikit-learn alone (OpenMP/BLAS threads: {threads})"
TASK_LABELS = {  # (side, timing) -> label; the first of each pair of a ratio is the platform's
    ("platform", "train"): "platform train(): chronological grid search + refit + holdout score",
    ("sklearn", "search"): "sklearn alone: GridSearchCV (same grid, same folds) + refit",
    ("sklearn", "holdout"): "sklearn alone: holdout score of the best model",
    ("sklearn", "fit"): "sklearn alone: one fit with the chosen params",
    ("platform", "predictions_frame"): "platform predictions_frame(): the batch's rows (class + proba_* for classifiers)",
    ("platform", "predict"): "platform predict(): the batch's predictions",
    ("sklearn", "predict"): "sklearn alone: predict (+ predict_proba for classifiers) of the batch",
    ("platform", "save"): "platform save_model (skops, sha256, manifest, local store)",
    ("platform", "load"): "platform load_model (sha256, type audit, skops)",
    ("sklearn", "skops_save"): "skops alone: dumps + write a file",
    ("sklearn", "skops_load"): "skops alone: read the file + loads (trusted list)",
    ("sklearn", "pickle_save"): "floor: pickle dumps + write a file",
    ("sklearn", "pickle_load"): "floor: read the file + pickle loads",
}
TASK_ESTIMATORS = {"regression": "Ridge on log1p (default recipe), 7 alphas", "binary":
                   "LogisticRegression (default), C in 0.1, 1, 10", "multiclass":
                   "HistGradientBoostingClassifier, learning_rate 0.1/0.3 x max_leaf_nodes 15/31"}
TARGET_DRIFT_ROWS, TARGET_HISTORY_ROWS = (
    1_000_000,
    100_000,
)  # the targets are for these sizes and above


@dataclass
class Row:
    """One line of the table: a measured quantity over several runs."""

    group: str
    label: str
    seconds: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    note: str = ""

    def stats(self) -> dict[str, Any]:
        return {
            "group": self.group, "case": self.label, "runs": len(self.seconds),
            "median_s": statistics.median(self.seconds) if self.seconds else None,
            "min_s": min(self.seconds, default=None), "max_s": max(self.seconds, default=None),
            "peak_rss_mb": max(self.rss_kb) / 1024 if self.rss_kb else None, "note": self.note,
        }  # fmt: skip


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rows: dict[tuple[str, str], Row] = {}
        self.payloads: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.env = self._env()

    # --- processes ------------------------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        self._home = tempfile.TemporaryDirectory(prefix="drift-bench-home-")  # removed at the end of run()
        home = Path(self._home.name)
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        return {
            **os.environ,
            "PYTHONHASHSEED": "0",  # set iteration order (Evidently's category keys) is then the same in every run
            "DAGSTER_HOME": str(home),
            "DRIFT_DATA_DIR": str(home / "drift_data"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
        }

    def spawn(self, argv: Sequence[str]) -> tuple[float, int, str]:
        """Run one process to its end (killed after --timeout): wall seconds, its peak RSS in kB, its stdout."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            began = time.perf_counter()
            proc = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd=REPO,
                env=self.env,
                start_new_session=True,
            )
            timer = threading.Timer(self.args.timeout, os.killpg, (proc.pid, signal.SIGKILL))
            timer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
            wall = time.perf_counter() - began
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode}:\n{stderr[-3000:]}")
        return wall, usage.ru_maxrss, stdout

    def case(self, name: str, module: str = "benchmarks.cases", **params: Any) -> tuple[dict[str, Any], int]:
        _, rss_kb, stdout = self.spawn([sys.executable, "-m", module, name, json.dumps(params)])
        lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        if not lines:
            raise RuntimeError(f"case {name} {params} printed no result:\n{stdout[-2000:]}")
        payload = json.loads(lines[-1][len(RESULT_PREFIX) :])
        return payload, int(payload.get("rss_kb", rss_kb))

    def record(
        self,
        group: str,
        label: str,
        seconds: float | Sequence[float],
        rss_kb: int,
        note: str = "",
        payload: dict[str, Any] | None = None,
    ) -> None:
        row = self.rows.setdefault((group, label), Row(group, label, note=note))
        row.seconds.extend([seconds] if isinstance(seconds, int | float) else seconds)
        row.rss_kb.append(rss_kb)
        if payload is not None:
            self.payloads.setdefault((group, label), []).append(payload)
        shown = f"{seconds:.2f} s" if isinstance(seconds, int | float) else f"{len(seconds)} values"
        print(f"  [{group}] {label}: {shown}, {rss_kb / 1024:.0f} MB", file=sys.stderr, flush=True)

    def alternate(self, variants: list[tuple[int, Any]]) -> None:
        """Run callables A B A B ...: `variants` holds (runs, callable) pairs."""
        for run in range(max(runs for runs, _ in variants)):
            for runs, fn in variants:
                if run < runs:
                    fn()

    # --- groups ---------------------------------------------------------------------------------------------------
    def drift(self) -> None:
        for rows in self.args.sizes:
            preset_runs = (
                min(self.args.repeat, self.args.large_repeat) if rows >= LARGE_ROWS else self.args.repeat
            )
            note = f"{preset_runs} runs at this size (--large-repeat)" if preset_runs < self.args.repeat else ""
            self._drift_variants(DRIFT_GROUP, f"{rows:,}", {"rows": rows},
                                 [("preset", preset_runs, note)] + [(v, self.args.repeat, "") for v in VARIANTS
                                                                    if v != "preset"])

    def wide(self) -> None:
        rows, columns = self.args.wide
        self._drift_variants(WIDE_GROUP, f"{rows:,} x {columns:,}", {"rows": rows, "shape": "wide", "columns": columns},
                             [("preset", self.args.wide_preset_runs, "the bare preset runs once or twice at this size")]
                             + [(v, self.args.repeat, "") for v in VARIANTS if v != "preset"])

    def _drift_variants(self, group: str, size: str, params: dict[str, Any],
                        variants: list[tuple[str, int, str]]) -> None:
        if any(variant.startswith("cached") for variant, runs, _ in variants if runs > 0):
            self.case("prepare_stats", **params)  # built once, in processes of their own, not measured

        def one(variant: str, note: str) -> None:
            payload, rss = self.case("drift", variant=variant, **params)
            self.record(group, f"{size}: {VARIANTS[variant]}", payload["timings"]["drift"], rss, note, payload)

        self.alternate([(runs, lambda v=variant, n=note: one(v, n)) for variant, runs, note in variants if runs > 0])

    def history(self) -> None:
        from loopback.postgres import PostgresServer

        group = "b. history in PostgreSQL (14 cols)"
        labels = {
            "write": "write {rows:,} rows: WarehouseResource.replace_windows (COPY, streamed CSV)",
            "psql_write": "write {rows:,} rows: psql \\copy FROM a CSV file",
            "read": "read {rows:,} rows: WarehouseResource.read (COPY TO STDOUT)",
            "psql_read": "read {rows:,} rows: psql \\copy (SELECT ...) TO a CSV file",
        }
        notes = {
            "psql_write": "RSS: psql's own (VmHWM)",
            "psql_read": "RSS: psql's own (VmHWM)",
            "write": "into an empty table with its primary key, as psql",
        }
        with PostgresServer() as server:
            for rows in self.args.history_sizes:

                def one(variant: str, rows: int = rows) -> None:
                    payload, rss = self.case(
                        "history", rows=rows, variant=variant, host=server.host, port=server.port
                    )
                    if payload["rows_in_table"] != rows:
                        raise RuntimeError(
                            f"history {variant}: {payload['rows_in_table']} rows in the table, not {rows}"
                        )
                    self.record(
                        group,
                        labels[variant].format(rows=rows),
                        payload["timings"]["history"],
                        rss,
                        notes.get(variant, ""),
                        payload,
                    )

                self.alternate([(self.args.repeat, lambda v=v: one(v)) for v in labels])

    def imports(self) -> None:
        group = "c. code-location load (whole process)"
        commands = {
            "python -c 'import drift_platform.definitions'": "import drift_platform.definitions",
            "python -c 'import dagster'": "import dagster",
        }
        for code in commands.values():  # warm the page cache and __pycache__ once, unmeasured
            self.spawn([sys.executable, "-c", code])

        def one(label: str, code: str) -> None:
            wall, rss, _ = self.spawn([sys.executable, "-c", code])
            self.record(group, label, wall, rss)

        self.alternate(
            [(self.args.import_repeat, lambda lab=lab, c=c: one(lab, c)) for lab, c in commands.items()]
        )

    def platform(self) -> None:
        group = "d. platform in-process (sample data, SQLite, temp instance)"
        for _ in range(self.args.repeat):
            payload, rss = self.case("week", idle_ticks=self.args.idle_ticks)
            t = payload["timings"]
            self.record(group, "one week end to end, fresh process (cold: lazy imports)", t["week_cold"], rss)
            self.record(group, "one week end to end, next week (warm)", t["week_warm"], rss)
            self.record(
                group,
                "sensor tick, nothing new (after those 2 weeks)",
                payload["series"]["tick_idle"],
                rss,
                "every idle tick of every run",
            )
        payload, rss = self.case("backfill", weeks=self.args.weeks, idle_ticks=self.args.idle_ticks)
        weeks = payload["weeks"]
        t = payload["timings"]
        which = "all" if self.args.weeks is None else "the first"
        self.record(
            group,
            f"backfill: {which} {weeks} sample weeks, one in-process run each",
            t["backfill"],
            rss,
            f"one run; the first week pays the lazy imports; {payload['history_rows']} history rows after",
            payload,
        )
        self.record(
            group,
            "backfill: one week's run",
            payload["series"]["backfill_week"],
            rss,
            f"each of the {weeks} weeks",
        )
        self.record(
            group,
            f"sensor tick, first after the backfill ({payload['retrain_requests']} retrain requests)",
            t["tick_first"],
            rss,
            "one run",
        )
        self.record(
            group,
            f"sensor tick, nothing new (after the backfill: {weeks} evaluations)",
            payload["series"]["tick_idle"],
            rss,
            "every idle tick",
        )

    def backfill_production(self) -> None:
        """The sample's bike weeks (--weeks: the first N) backfilled on the production topology, three ways: an asset
        backfill and a job backfill of the drift job (both split by the BackfillPolicy: 13 weeks a run), and one
        launched run a week.
        Each on fresh databases, a fresh bucket and fresh processes; timed from the launch to the last run's end."""
        group = "g. backfill on the production topology (PostgreSQL, S3, code server, daemon, 4 runs at once)"
        labels = {"asset": "asset backfill (BackfillPolicy: 13 weeks a run)",
                  "job": "job backfill of bike_sharing_drift_job from the UI (the job's policy: 13 weeks a run)",
                  "runs": "one launched run a week (the CLI's `dagster job backfill`, or before the policy)"}
        for _ in range(self.args.backfill_repeat):
            for mode in self.args.backfill_modes:
                payload, rss = self.case("backfill_production", weeks=self.args.weeks, mode=mode,
                                         timeout=self.args.timeout)
                weeks, runs = payload["weeks"], payload["runs"]
                self.record(group, f"{weeks} weeks, {labels[mode]}: wall", payload["timings"]["backfill"], rss,
                            f"{runs} runs {payload['run_statuses']}; {payload['seconds_per_week']:.2f} s a week; "
                            f"{payload['history_rows']} history rows; no_dataset_drift {payload['no_dataset_drift']}",
                            payload)

    def training(self) -> None:
        group = "e. training on the history (GridSearchCV 7 alphas x 3 folds)"
        for rows in self.args.train_sizes:
            what = "the sample's history" if rows == 731 else "bike-shaped history"

            def one(n_jobs: int, rows: int = rows, what: str = what) -> None:
                payload, rss = self.case("training", rows=rows, n_jobs=n_jobs)
                self.record(
                    group,
                    f"{rows:,} rows ({what}), n_jobs={n_jobs}",
                    payload["timings"]["train"],
                    rss,
                    "RSS: largest process (workers included)" if n_jobs != 1 else "",
                )

            self.alternate([(self.args.repeat, lambda: one(1)), (self.args.repeat, lambda: one(-1))])

    def events(self) -> None:
        """One step of an event week at a time, each in a fresh process: rows/s and peak RSS, at the sizes of
        --event-sizes (7 rows: a one-row-a-day week; 1,000,000: a week of events)."""
        from loopback.postgres import PostgresServer

        group = "f. a week of event data (many rows per timestamp, key event_id)"
        steps = {
            "contract": "contract: read the CSV (ISO times with Z), types, key, window",
            "history": "history: replace the week in PostgreSQL (COPY, key event_id)",
            "drift": "drift: compute_drift vs as many reference events (with the report)",
            "predictions": "predictions: the champion's predictions for the week",
            "quality": "quality: the model-quality check's error over the week",
        }
        with PostgresServer() as server:
            for rows in self.args.event_sizes:
                for step, label in steps.items():
                    for _ in range(self.args.repeat):
                        params = {"rows": rows, "step": step}
                        if step == "history":
                            params.update(host=server.host, port=server.port)
                        payload, rss = self.case("events", **params)
                        seconds = payload["timings"]["step"]
                        self.record(group, f"{rows:,} events, {label}", seconds, rss,
                                    f"{rows / seconds:,.0f} rows/s" if seconds > 0 else "")

    def tasks(self) -> None:
        """Per task, the platform's side and scikit-learn's side alternately, each in a fresh process with
        OpenMP/BLAS held to --task-threads threads (benchmarks/cases.py `task_training`)."""
        group = TASK_GROUP.format(threads=self.args.task_threads)
        rows = self.args.task_rows
        for task in self.args.tasks:

            def one(side: str, task: str = task) -> None:
                payload, rss = self.case("task_training", task=task, rows=rows, side=side,
                                         threads=self.args.task_threads)
                self.payloads.setdefault((group, f"{task} {side}"), []).append(payload)
                for (which, timing), label in TASK_LABELS.items():
                    if which == side:
                        self.record(group, f"{task} {rows:,}: {label}", payload["timings"][timing], rss,
                                    "RSS: the whole process" if timing in ("train", "search") else "")

            self.alternate([(self.args.task_repeat, lambda: one("platform")),
                            (self.args.task_repeat, lambda: one("sklearn"))])

    def sources(self) -> None:
        """Issue 23: a period from Parquet, PostgreSQL and CSV beside the floor, and a 20M-row week's memory
        (benchmarks/sources.py)."""
        from benchmarks.sources import run_group

        run_group(self)

    def task_overhead(self) -> list[dict[str, Any]]:
        """Per task: the platform's medians over scikit-learn's alone, and whether both sides chose the same
        parameters and got the same CV and holdout values of the metric."""
        group, out = TASK_GROUP.format(threads=self.args.task_threads), []
        for task in self.args.tasks:
            ours, theirs = (self.payloads.get((group, f"{task} {side}"), []) for side in ("platform", "sklearn"))
            if not ours or not theirs:
                continue

            def med(payloads: list[dict[str, Any]], *names: str) -> float:
                return statistics.median(sum(p["timings"][n] for n in names) for p in payloads)

            same = all(p["best_params"] == theirs[0]["best_params"] and _close(p["cv"], theirs[0]["cv"])
                       and _close(p["holdout"], theirs[0]["holdout"]) for p in ours + theirs)
            out.append({
                "task": task, "estimator": TASK_ESTIMATORS[task], "metric": ours[0]["metric"],
                "rows": ours[0]["rows"], "runs": f"{len(ours)} + {len(theirs)}",
                "train_s": med(ours, "train"), "search_s": med(theirs, "search", "holdout"),
                "fit_s": med(theirs, "fit"), "frame_s": med(ours, "predictions_frame"),
                "predict_s": med(ours, "predict"), "sk_predict_s": med(theirs, "predict"),
                "sk_predict_only_s": med(theirs, "predict_only"),
                "store_s": med(ours, "save", "load"), "skops_s": med(theirs, "skops_save", "skops_load"),
                "pickle_s": med(theirs, "pickle_save", "pickle_load"), "best_params": ours[0]["best_params"],
                "holdout": ours[0]["holdout"], "holdout_sklearn": theirs[0]["holdout"], "cv": ours[0]["cv"],
                "same_model_and_metric": same, "artifact_kb": ours[0]["artifact_bytes"] / 1024,
            })  # fmt: skip
        return out

    # --- report ---------------------------------------------------------------------------------------------------
    def agreement(self) -> list[dict[str, Any]]:
        """Per size and shape: do the project's decisions equal the bare preset's, column by column?"""
        out = []
        sizes = [(DRIFT_GROUP, f"{rows:,}") for rows in self.args.sizes] + [
            (WIDE_GROUP, f"{self.args.wide[0]:,} x {self.args.wide[1]:,}")]
        for group, size in sizes:
            preset = self.payloads.get((group, f"{size}: {VARIANTS['preset']}"))
            if not preset:
                continue
            for variant in ("project", "decisions", "cached", "cached_decisions"):
                ours = self.payloads.get((group, f"{size}: {VARIANTS[variant]}"), [])
                if not ours:
                    continue
                theirs = preset[0]["columns"]
                every = [p["columns"] for p in preset + ours]
                same_decisions = all(
                    {c: v["drifted"] for c, v in cols.items()} == {c: v["drifted"] for c, v in theirs.items()}
                    for cols in every
                )
                same_methods = all(
                    {c: v["method"] for c, v in cols.items()} == {c: v["method"] for c, v in theirs.items()}
                    for cols in every
                )
                delta = max(abs(cols[c]["score"] - theirs[c]["score"]) / max(abs(theirs[c]["score"]), 1e-300)
                            for cols in every for c in theirs)
                out.append({
                    "rows": size, "variant": variant, "columns": len(theirs),
                    "drifted": sum(v["drifted"] for v in theirs.values()),
                    "decisions_identical": same_decisions, "methods_identical": same_methods,
                    "dataset_drift_identical": len({p["dataset_drift"] for p in preset + ours}) == 1,
                    "max_rel_score_diff": delta,
                })  # fmt: skip
        return out

    def targets(self, agreement: list[dict[str, Any]]) -> list[dict[str, Any]]:
        stats = {key: row.stats() for key, row in self.rows.items()}

        def find(group_prefix: str, label: str) -> dict[str, Any] | None:
            return next(
                (s for (g, lab), s in stats.items() if g.startswith(group_prefix) and lab == label), None
            )

        out = []
        if self.args.sizes and "drift" in self.args.only:
            rows = max(self.args.sizes)
            size, applies = f"{rows:,}", rows >= TARGET_DRIFT_ROWS
            got = {v: find("a.", f"{size}: {label}") for v, label in VARIANTS.items()}
            agree = [a for a in agreement if a["rows"] == size]
            identical = bool(agree) and all(a["decisions_identical"] for a in agree)
            preset, cold, warm, warm_decisions, floor = (got[v] for v in ("preset", "project", "cached",
                                                                          "cached_decisions", "floor"))
            if warm_decisions:
                out.append(self._target(
                    f"drift {size} x 12, statistics cached: decisions <= {TARGETS['cached_decisions_s']:g} s",
                    warm_decisions["median_s"], TARGETS["cached_decisions_s"], applies, floor))
            if warm:
                out.append(self._target(
                    f"drift {size} x 12, statistics cached: compute_drift with its report <= "
                    f"{TARGETS['cached_drift_s']:g} s", warm["median_s"], TARGETS["cached_drift_s"], applies, floor))
            if warm and preset:
                out.append(self._speedup(f"drift {size} x 12, cached,", warm, preset, TARGETS["cached_speedup"],
                                         applies))
            if warm:
                out.append(self._rss(f"drift {size} x 12, cached,", warm, preset, TARGETS["cached_rss_mb"], applies))
            if warm and cold:
                ratio = cold["median_s"] / warm["median_s"]
                out.append({"target": f"drift {size} x 12: first week after a new reference (cold) <= "
                                      f"{TARGETS['cold_over_warm']:g}x the warm week",
                            "measured": f"{ratio:.2f}x ({cold['median_s']:.2f} s vs {warm['median_s']:.2f} s)",
                            "holds": ratio <= TARGETS["cold_over_warm"] if applies else None})
            if preset and agree:
                out.append({"target": f"drift {size} x 12: identical per-column decisions (cold and warm)",
                            "measured": "identical" if identical else "DIFFERENT", "holds": identical})
        if "wide" in self.args.only:
            rows, columns = self.args.wide
            size = f"{rows:,} x {columns:,}"
            got = {v: find("a2.", f"{size}: {label}") for v, label in VARIANTS.items()}
            preset, warm, cold = got["preset"], got["cached"], got["project"]
            applies = rows * columns >= 100_000 * 1_000
            for name, ours in (("warm (statistics cached)", warm), ("cold", cold)):
                if preset and ours:
                    out.append(self._speedup(f"wide {size}, {name}:", ours, preset, TARGETS["wide_speedup"], applies))
                if ours:
                    out.append(self._rss(f"wide {size}, {name}:", ours, preset, TARGETS["wide_rss_mb"], applies))
            agree = [a for a in agreement if a["rows"] == size]
            if agree:
                identical = all(a["decisions_identical"] for a in agree)
                out.append({"target": f"wide {size}: identical per-column decisions",
                            "measured": "identical" if identical else "DIFFERENT", "holds": identical})
        for rows in self.args.history_sizes if "history" in self.args.only else ():
            ours = find("b.", f"write {rows:,} rows: WarehouseResource.replace_windows (COPY, streamed CSV)")
            psql = find("b.", f"write {rows:,} rows: psql \\copy FROM a CSV file")
            if ours and psql:
                ratio = ours["median_s"] / psql["median_s"]
                out.append(
                    {
                        "target": f"history write {rows:,} rows within {TARGETS['history_ratio']:g}x of psql \\copy",
                        "measured": f"{ratio:.2f}x ({ours['median_s']:.2f} s vs {psql['median_s']:.2f} s)",
                        "holds": ratio <= TARGETS["history_ratio"] if rows >= TARGET_HISTORY_ROWS else None,
                    }
                )
        ours = find("c.", "python -c 'import drift_platform.definitions'")
        bare = find("c.", "python -c 'import dagster'")
        if ours and bare:
            ratio = ours["median_s"] / bare["median_s"]
            out.append(
                {
                    "target": f"code-location load <= {TARGETS['load_ratio']:g}x import dagster",
                    "measured": f"{ratio:.2f}x ({ours['median_s']:.2f} s vs {bare['median_s']:.2f} s)",
                    "holds": ratio <= TARGETS["load_ratio"],
                }
            )
        ticks = [
            s
            for (g, lab), s in stats.items()
            if g.startswith("d.") and lab.startswith("sensor tick, nothing new")
        ]
        if ticks:
            worst = max(s["max_s"] for s in ticks)
            out.append(
                {
                    "target": f"sensor tick with nothing new < {TARGETS['tick_s']:g} s",
                    "measured": f"max {worst * 1000:.0f} ms over {sum(s['runs'] for s in ticks)} ticks",
                    "holds": worst < TARGETS["tick_s"],
                }
            )
        from benchmarks.sources import targets as source_targets

        return out + source_targets(self)

    @staticmethod
    def _speedup(what: str, ours: dict[str, Any], preset: dict[str, Any], limit: float, applies: bool) -> dict:
        speedup = preset["median_s"] / ours["median_s"]
        return {"target": f"{what} >= {limit:g}x the bare preset",
                "measured": f"{speedup:.1f}x ({ours['median_s']:.2f} s vs {preset['median_s']:.1f} s)",
                "holds": speedup >= limit if applies else None}

    @staticmethod
    def _rss(what: str, ours: dict[str, Any], preset: dict[str, Any] | None, limit: float, applies: bool) -> dict:
        return {"target": f"{what} peak RSS < {limit:.0f} MB",
                "measured": f"{ours['peak_rss_mb']:.0f} MB"
                + (f" (bare preset: {preset['peak_rss_mb']:.0f} MB)" if preset else ""),
                "holds": ours["peak_rss_mb"] < limit if applies else None}

    @staticmethod
    def _target(name: str, seconds: float, limit: float, applies: bool, floor: dict[str, Any] | None) -> dict:
        beside = f"; floor {floor['median_s']:.3f} s, {seconds / floor['median_s']:.1f}x it" if floor else ""
        return {"target": name, "measured": f"{seconds:.3f} s{beside}", "holds": seconds <= limit if applies else None}

    def markdown(
        self, machine: dict[str, Any], agreement: list[dict[str, Any]], targets: list[dict[str, Any]],
        overhead: list[dict[str, Any]] = (),
    ) -> str:
        lines = [f"# drift_platform benchmarks ({machine['finished']})", ""]
        lines += [f"- {k}: {v}" for k, v in machine.items() if k not in ("finished",)]
        lines += [
            "",
            "| group | case | runs | median s | min s | max s | peak RSS MB | note |",
            "|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for row in self.rows.values():
            s = row.stats()
            lines.append(
                f"| {s['group']} | {s['case']} | {s['runs']} | {_num(s['median_s'])} | {_num(s['min_s'])} | "
                f"{_num(s['max_s'])} | {s['peak_rss_mb']:.0f} | {s['note']} |"
            )
        if agreement:
            lines += [
                "",
                "Per-column drift decisions, project vs bare preset (every run of both):",
                "",
                "| rows | project side | columns | drifted | decisions identical | methods identical | "
                "dataset drift identical | max relative score diff |",
                "|---:|---|---:|---:|---|---|---|---:|",
            ]
            for a in agreement:
                lines.append(
                    f"| {a['rows']} | {a['variant']} | {a['columns']} | {a['drifted']} | {_yes(a['decisions_identical'])} | "
                    f"{_yes(a['methods_identical'])} | {_yes(a['dataset_drift_identical'])} | {a['max_rel_score_diff']:.3g} |"
                )
        if targets:
            lines += ["", "| target | measured | holds |", "|---|---|---|"]
            lines += [f"| {t['target']} | {t['measured']} | {_yes(t['holds'])} |" for t in targets]
        if overhead:
            lines += ["", *overhead_table(overhead)]
        return "\n".join(lines) + "\n"

    def run(self) -> dict[str, Any]:
        started = time.time()
        load_before = os.getloadavg()
        try:
            # warm the page cache and __pycache__ once, unmeasured
            self.spawn(
                [sys.executable, "-c", "import evidently.presets, sklearn, drift_platform.definitions"]
            )
            for group in GROUPS + OPT_IN_GROUPS:
                if group in self.args.only:
                    print(f"{group} ...", file=sys.stderr, flush=True)
                    getattr(self, group)()
        finally:
            self._home.cleanup()
        machine = machine_facts()
        machine["duration"] = f"{(time.time() - started) / 60:.1f} min"
        machine["load average (1 min) before / after"] = f"{load_before[0]:.2f} / {os.getloadavg()[0]:.2f}"
        machine["options"] = " ".join(self.args.argv) or "(defaults)"
        machine["finished"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        agreement = self.agreement()
        targets = self.targets(agreement)
        overhead = self.task_overhead()
        return {
            "machine": machine,
            "rows": [
                row.stats() | {"seconds": row.seconds, "rss_kb": row.rss_kb} for row in self.rows.values()
            ],
            "agreement": agreement,
            "targets": targets,
            "task_overhead": overhead,
            "markdown": self.markdown(machine, agreement, targets, overhead),
        }


def overhead_table(overhead: list[dict[str, Any]]) -> list[str]:
    """The platform's overhead by task (medians; ratio = platform / scikit-learn alone) and the metric check."""
    lines = ["Training and prediction by task: the platform over scikit-learn alone (medians, seconds):", "",
             "| task | estimator, grid | metric | rows | runs | train() | GridSearchCV + holdout alone | ratio | "
             "one fit | predictions_frame() | predict() | sklearn predict (+proba) | ratio frame / predict | "
             "save + load | skops alone | pickle | ratio store / skops | chosen params | holdout metric (platform "
             "= sklearn) | same params, CV and holdout |",
             "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---|---|"]
    for o in overhead:
        lines.append(
            f"| {o['task']} | {o['estimator']} | {o['metric']} | {o['rows']:,} | {o['runs']} | {_num(o['train_s'])} | "
            f"{_num(o['search_s'])} | {o['train_s'] / o['search_s']:.2f}x | {_num(o['fit_s'])} | "
            f"{_num(o['frame_s'])} | {_num(o['predict_s'])} | {_num(o['sk_predict_s'])} | "
            f"{o['frame_s'] / o['sk_predict_s']:.2f}x / {o['predict_s'] / o['sk_predict_only_s']:.2f}x | "
            f"{_num(o['store_s'])} | {_num(o['skops_s'])} | {_num(o['pickle_s'])} | "
            f"{o['store_s'] / o['skops_s']:.2f}x | {o['best_params']} | {o['holdout']:.6f} = "
            f"{o['holdout_sklearn']:.6f} | {_yes(o['same_model_and_metric'])} |")
    return lines


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:.1f}"


def _yes(flag: bool | None) -> str:
    if flag is None:
        return "n/a (the target is set for larger sizes)"
    return "yes" if flag else "**NO**"


def machine_facts() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    from loopback.postgres import PG_BIN

    cpu = "?"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        mem_kb = int(next(line for line in info if line.startswith("MemTotal")).split()[1])
    versions = []
    for name in PACKAGES:
        with contextlib.suppress(PackageNotFoundError):
            versions.append(f"{name} {version(name)}")
    try:
        postgres = subprocess.run(
            [str(PG_BIN / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except OSError:
        postgres = "?"
    return {
        "machine": f"{os.cpu_count()} CPUs ({cpu}), {mem_kb / 1024 / 1024:.1f} GiB RAM, {platform.platform()}",
        "python": platform.python_version(),
        "packages": ", ".join(versions),
        "postgresql": postgres,
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    def ints(text: str) -> list[int]:
        return [int(x.replace("_", "")) for x in text.split(",") if x]

    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=ints, default=[10_000, 100_000, 1_000_000], help="drift: rows per side"
    )
    parser.add_argument(
        "--history-sizes", type=ints, default=[100_000, 1_000_000], help="history write/read rows"
    )
    parser.add_argument(
        "--train-sizes", type=ints, default=[731, 100_000], help="training rows (731 = the sample)"
    )
    parser.add_argument(
        "--event-sizes", type=ints, default=[7, 1_000_000], help="events per week (7: a one-row-a-day week)"
    )
    parser.add_argument(
        "--wide", type=ints, default=[100_000, 1_000], help="wide drift: ROWS,COLUMNS (rows per side)"
    )
    parser.add_argument("--wide-preset-runs", type=int, default=1, help="runs of the bare preset on the wide table")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (fresh process each)")
    parser.add_argument("--task-rows", type=lambda t: int(t.replace("_", "")), default=100_000,
                        help="tasks: history rows, and as many batch rows to predict")
    parser.add_argument("--tasks", type=lambda t: t.split(","), default=["regression", "binary", "multiclass"],
                        help="tasks: which of regression, binary, multiclass")
    parser.add_argument("--task-repeat", type=int, default=3, help="tasks: runs of each side of each task")
    parser.add_argument("--task-threads", type=int, default=1,
                        help="tasks: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS of every case process")
    parser.add_argument(
        "--large-repeat", type=int, default=2, help=f"runs of the bare preset at >= {LARGE_ROWS:,} rows"
    )
    parser.add_argument("--import-repeat", type=int, default=7, help="runs of each import")
    parser.add_argument(
        "--weeks", type=int, default=None, help="backfill only the first N sample weeks (default all)"
    )
    parser.add_argument("--backfill-repeat", type=int, default=1,
                        help="runs of each side of backfill_production (opt-in; each side starts its own stack)")
    parser.add_argument("--backfill-modes", type=lambda s: s.split(","), default=["asset", "job", "runs"],
                        help="backfill_production sides: asset, job, runs")
    parser.add_argument("--source-rows", type=lambda t: int(t.replace("_", "")), default=1_000_000,
                        help="sources: rows of the period read (a Parquet week, a SQL week, the CSV contract)")
    parser.add_argument("--source-weeks", type=int, default=52, help="sources: weeks in the Parquet dataset")
    parser.add_argument("--parquet-repeat", type=int, default=7, help="sources: runs of each Parquet side (~0.2 s each)")
    parser.add_argument("--source-memory-rows", type=lambda t: int(t.replace("_", "")), default=20_000_000,
                        help="sources: rows of the week read and decided for the peak RSS")
    parser.add_argument("--idle-ticks", type=int, default=5, help="sensor ticks with nothing new, per run")
    parser.add_argument(
        "--only", type=lambda s: s.split(","), default=list(GROUPS),
        help=f"groups: {','.join(GROUPS)}; opt-in: {','.join(OPT_IN_GROUPS)}"
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds before one case process is killed"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the .md and .json results")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, one run each: 2,000 rows, 3 weeks (overrides the size and repeat options)",
    )
    args = parser.parse_args(list(argv))
    unknown = sorted(set(args.only) - set(GROUPS) - set(OPT_IN_GROUPS))
    if unknown:
        parser.error(f"unknown groups {unknown}; known: {', '.join(GROUPS + OPT_IN_GROUPS)}")
    if args.smoke:
        args.sizes, args.history_sizes, args.train_sizes, args.event_sizes = [2_000], [2_000], [731], [2_000]
        args.wide = [2_000, 40]
        args.task_rows = 2_000
        args.repeat = args.large_repeat = args.import_repeat = args.task_repeat = 1
        args.weeks, args.idle_ticks = 3, 2
        args.source_rows, args.source_weeks, args.source_memory_rows, args.parquet_repeat = 2_000, 3, 20_000, 1
    args.argv = list(argv)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    result = Bench(args).run()
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"bench-{dt.datetime.now():%Y%m%d-%H%M%S}{'-smoke' if args.smoke else ''}"
    stem.with_suffix(".md").write_text(result["markdown"])
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str))
    print(result["markdown"])
    print(f"written: {stem}.md and .json", file=sys.stderr)
    return 0
