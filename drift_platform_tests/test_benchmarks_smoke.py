"""The benchmarks at a smoke size (2,000 rows, one run each, 3 weeks), so `make bench` cannot rot.

Timings are not asserted (this machine is shared and the sizes are tiny); what must hold is that every group
runs in its own processes, the table comes out, and the project's drift decisions equal the bare preset's.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from benchmarks.run import main


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> tuple[dict, str, str]:
    """`make bench` at the smoke size, once for the module's tests: its JSON, its Markdown table, what it printed."""
    out, printed = tmp_path_factory.mktemp("bench"), io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["--smoke", "--out", str(out)]) == 0
    [markdown] = out.glob("bench-*-smoke.md")
    [raw] = out.glob("bench-*-smoke.json")
    return json.loads(raw.read_text()), markdown.read_text(), printed.getvalue()


@pytest.mark.timeout(900)
def test_smoke_benchmark_produces_the_table(smoke) -> None:
    result, table, printed = smoke
    assert table == printed.rstrip("\n") + "\n"
    assert "| group | case | runs | median s | min s | max s | peak RSS MB | note |" in table

    groups = {row["group"].split(".")[0] for row in result["rows"]}
    assert groups == {"a", "a2", "b", "c", "d", "e", "f", "h", "i"}
    for row in result["rows"]:
        assert row["runs"] >= 1 and row["median_s"] > 0 and row["peak_rss_mb"] > 1, row
        assert f"| {row['case']} |" in table
    cases = {row["case"] for row in result["rows"]}
    assert {"2,000: bare Evidently DataDriftPreset", "write 2,000 rows: psql \\copy FROM a CSV file",
            "python -c 'import drift_platform.definitions'", "backfill: the first 3 sample weeks, one in-process run each",
            "731 rows (the sample's history), n_jobs=-1",
            "Parquet, 1 week of 3 (2,000 rows): read_parquet_window"} <= cases

    long = [a for a in result["agreement"] if a["rows"] == "2,000"]
    wide = [a for a in result["agreement"] if a["rows"] == "2,000 x 40"]
    assert [a["variant"] for a in long] == [a["variant"] for a in wide] == [
        "project", "decisions", "cached", "cached_decisions"]
    for agreement in long + wide:
        assert agreement["columns"] == (12 if agreement in long else 40) and agreement["drifted"] > 0
        assert agreement["decisions_identical"] and agreement["methods_identical"] and agreement["dataset_drift_identical"]
        assert agreement["max_rel_score_diff"] <= 1e-9
    targets = {t["target"]: t for t in result["targets"]}
    assert targets["drift 2,000 x 12: identical per-column decisions (cold and warm)"]["holds"] is True
    assert targets["wide 2,000 x 40: identical per-column decisions"]["holds"] is True
    assert {t["target"].split(" ")[0] for t in result["targets"]} >= {"drift", "history", "code-location", "sensor"}


@pytest.mark.timeout(900)
def test_task_benchmark_platform_equals_sklearn_alone(smoke) -> None:
    """The issue-20 case (group h of the smoke run) at 2,000 rows, one run of each side per task: the platform's
    train/predict/store and scikit-learn's alone, each in its own process with one OpenMP/BLAS thread. The platform
    side asserts its holdout metric equals sklearn's function on the same rows and model (the case fails
    otherwise); here both sides must choose the same parameters and get the same CV and holdout values, and the
    table must show the ratios."""
    result = smoke[0]
    overhead = {o["task"]: o for o in result["task_overhead"]}
    assert set(overhead) == {"regression", "binary", "multiclass"}
    assert {o["metric"] for o in overhead.values()} == {"rmsle", "roc_auc", "log_loss"}
    for o in overhead.values():
        assert o["same_model_and_metric"] is True, o
        assert o["holdout"] == pytest.approx(o["holdout_sklearn"], rel=1e-12), o
        assert o["train_s"] > 0 and o["search_s"] > 0 and o["predict_s"] > 0 and o["store_s"] > 0, o
    assert overhead["multiclass"]["best_params"].keys() == {"learning_rate", "max_leaf_nodes"}
    payloads = [row for row in result["rows"] if row["group"].startswith("h.")]
    assert len(payloads) == 3 * 13 and all(row["runs"] == 1 and row["peak_rss_mb"] > 1 for row in payloads)
    assert "OpenMP/BLAS threads: 1" in payloads[0]["group"]
    table = result["markdown"]
    assert "| task | estimator, grid | metric | rows |" in table and "| multiclass | HistGradientBoostingClassifier" in table


@pytest.mark.slow
def test_stats_simulation_at_a_smoke_size_writes_the_table_between_the_markers(tmp_path) -> None:
    """`make bench-stats` at 4 periods per kind (of 500): every kind and check appears, rates are shares, and a
    file with the markers keeps its text around the table, as docs/statistics.md does."""
    from benchmarks import stats_sim

    page = tmp_path / "statistics.md"
    page.write_text(f"# intro\n\n{stats_sim.BEGIN}\nold\n{stats_sim.END}\n\nafter\n")
    raw = tmp_path / "sim.json"
    assert stats_sim.main(["--periods", "4", "--sizes", "28x7", "--jobs", "1", "--out", str(page),
                           "--json", str(raw)]) == 0
    text = page.read_text()
    assert text.startswith("# intro\n") and text.rstrip().endswith("after") and "\nold\n" not in text
    assert "### 28 reference rows vs 7 current rows" in text and "temp-atemp correlation flipped" in text
    assert "`no_multivariate_drift`" in text and "`no_dataset_drift`" in text
    results = json.loads(raw.read_text())
    assert results and "wall_seconds" in results


@pytest.mark.timeout(300)
def test_estimation_benchmark_quick_without_nannyml(tmp_path) -> None:
    """`make bench-estimation`'s own code path at 500 rows, 4 periods per scenario, our estimators only (no NannyML
    venv): every scenario of each model appears with MAE and coverage, the quiet classifier's estimate is close to
    the realized value, and concept drift (where estimation must fail) shows a larger error than quiet periods."""
    from benchmarks import estimation

    page = tmp_path / "estimation.md"
    page.write_text(f"# intro\n\n{estimation.BEGIN}\nold\n{estimation.END}\n\nafter\n")
    assert estimation.main(["--quick", "--no-nannyml", "--out", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# intro\n") and text.rstrip().endswith("after") and "\nold\n" not in text
    result = json.loads(page.with_suffix(".json").read_text())
    cells = {(r["task"], r["scenario"], r["metric"]): r for r in result["rows"]}
    assert {r["tool"] for r in result["rows"]} == {"ours"} and result["agreement"] == []
    assert {s for _, s, _ in cells} == {"quiet", "covariate shift", "concept drift", "prior shift"}
    assert {m for t, _, m in cells if t == "binary"} == {"roc_auc", "f1", "accuracy"}
    assert {(s, m) for t, s, m in cells if t == "regression"} == {
        (s, m) for s in ("quiet", "covariate shift", "concept drift") for m in ("rmse", "mae")}
    for r in result["rows"]:
        assert 0 <= r["coverage_196"] <= 1 and r["mae"] >= 0 and r["mean_se"] > 0 and r["ms_per_period"] > 0, r
        assert f"| {r['metric']} |" in text
    assert cells["binary", "quiet", "accuracy"]["mae"] < 0.05
    for task, metric in (("binary", "roc_auc"), ("regression", "rmse")):
        assert cells[task, "concept drift", metric]["mae"] > 2 * cells[task, "quiet", metric]["mae"]
    assert {t["tool"] for t in result["timings"]} == {"ours"}
