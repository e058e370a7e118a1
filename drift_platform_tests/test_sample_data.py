"""The classification samples in data/ are exactly what their seeded generators write, and hold the labels the
monitors and tests rely on: churn 5-15 % positives, the triage sample's four string classes, the lead-scoring
sample's story (the sales team's model goes stale: its output drifts weeks before its labels fail the bound), and
the pay-later sample's (labels six weeks late: the estimate flags a covariate shift when the orders land, and
misses the concept drift the labels show), measured with the platform's own decisions."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drift_platform.core.intake.contract import conform
from drift_platform.core.intake.dataset import DatasetSpec

DATA = Path(__file__).resolve().parents[1] / "data"
# generator module, its CSV, its spec
SAMPLES = {
    "churn": ("generate_churn.py", "churn_snapshots.csv", "churn.yaml"),
    "triage": ("generate_triage.py", "triage_tickets.csv", "triage.yaml"),
    "lead_scoring": ("generate_lead_scoring.py", "lead_scoring_leads.csv", "lead_scoring.yaml"),
    "paylater": ("generate_paylater.py", "paylater_orders.csv", "paylater.yaml"),
}


@functools.cache
def generator(name: str):
    path = DATA / SAMPLES[name][0]
    module_spec = importlib.util.spec_from_file_location(f"_sample_{name}", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module  # dataclasses look their module up there
    module_spec.loader.exec_module(module)
    return module


@functools.cache
def generated(name: str) -> pd.DataFrame:
    return generator(name).generate()


def written(frame: pd.DataFrame) -> bytes:
    """The bytes the generators' main() writes."""
    return frame.to_csv(index=False, lineterminator="\n").encode()


@pytest.fixture(scope="module", params=sorted(SAMPLES))
def sample(request):
    return request.param, generated(request.param)


def written_files(name: str, frame: pd.DataFrame) -> dict[str, bytes]:
    """The CSVs the generator's main() writes, by file name: one, or, where the labels come late, the features
    and the labels (the generator's `split`)."""
    module = generator(name)
    if not hasattr(module, "split"):
        return {SAMPLES[name][1]: written(frame)}
    features, labels = module.split(frame)
    return {module.DEFAULT_OUT.name: written(features), module.DEFAULT_LABELS_OUT.name: written(labels)}


def test_csv_is_what_the_generator_writes(sample):
    name, frame = sample
    for file, content in written_files(name, frame).items():
        csv = DATA / file
        assert csv.read_bytes() == content, f"{csv.name} differs from `python data/{SAMPLES[name][0]}`: regenerate it"
        assert csv.stat().st_size < 5_000_000


def test_sample_meets_its_spec(sample):
    name, frame = sample
    spec = DatasetSpec.from_yaml(DATA / SAMPLES[name][2])
    conformed = conform(frame, spec)
    assert len(conformed) == len(frame)
    assert set(conformed[spec.target]) == set(spec.known_classes)


def test_churn_positive_share():
    frame = generated("churn")
    spec = DatasetSpec.from_yaml(DATA / "churn.yaml")
    when = pd.to_datetime(frame[spec.datetime_column])
    start, end = spec.reference_window
    reference = frame[(when >= start) & (when < end)]
    for rows in (frame, reference):
        assert 0.05 <= rows["churned"].mean() <= 0.15
    weekly = frame.groupby(when.dt.to_period("W-SUN"))["churned"].mean()
    # The price rise's weeks more than double the rate; no week is without churners.
    assert weekly.max() > 2 * reference["churned"].mean() and weekly.min() > 0


def test_different_seed_gives_different_data():
    module = generator("triage")
    assert written(module.generate(module.DEFAULT_SEED + 1)) != (DATA / SAMPLES["triage"][1]).read_bytes()


# --- lead_scoring: the team's model goes stale ------------------------------------------------------------------
@functools.cache
def lead_weeks() -> pd.DataFrame:
    """Per week of the lead-scoring sample, as the monitor judges it: the logged probability's drift against the
    reference window by Evidently's default test (core/stats/drift.py) and the logged predictions' log loss against
    the bound external_manifest derives from the reference weeks (core/ml/external.py)."""
    from drift_platform.core.ml.external import external_manifest
    from drift_platform.core.ml.metrics import score
    from drift_platform.core.settings import NUM, DriftSettings, TrainingSettings
    from drift_platform.core.stats.drift import column_drift

    spec = DatasetSpec.from_yaml(DATA / "lead_scoring.yaml")
    frame = conform(pd.read_csv(DATA / "lead_scoring_leads.csv"), spec)
    when = frame[spec.datetime_column]
    start, end = spec.reference_window
    reference = frame[(when >= start) & (when < end)]
    baseline = external_manifest(reference, spec, TrainingSettings(metric="log_loss"))["metrics"]["quality_baseline"]
    bound = float(pd.Series(baseline["errors"]).mean() + 3 * pd.Series(baseline["errors"]).std(ddof=1))
    p = "conversion_probability"
    rows = []
    for week, part in frame[when >= pd.Timestamp(spec.first_period)].groupby(when.dt.to_period("W-SUN")):
        drift, _ = column_drift(reference[p], part[p], p, NUM, DriftSettings())
        rows.append({"week": str(week.start_time.date()), "method": drift.method, "score": drift.score,
                     "drifted": drift.drifted, "log_loss": score("log_loss", part["converted"], proba=np.column_stack([1 - part[p], part[p]]),
                                                       classes=[0, 1]),
                     "bound": bound, "baseline_weeks": len(baseline["errors"])})
    return pd.DataFrame(rows).set_index("week")


def test_lead_scoring_reference_sets_the_bound():
    weeks = lead_weeks()
    assert set(weeks["baseline_weeks"]) == {16}
    assert weeks["bound"].iloc[0] == pytest.approx(0.411, abs=0.0005)
    assert set(weeks["method"]) == {"Wasserstein distance (normed)"}  # > 1,000 reference rows: Evidently's choice


def test_lead_scoring_quiet_stretch_then_prediction_drift_weeks_before_the_labels():
    """Quiet from the first period to the review site's pilot (nothing fires); the output drifts from 2024-09-16,
    every week after; the log loss crosses its bound seven weeks later, on 2024-11-04, and stays above it."""
    weeks = lead_weeks()
    quiet = weeks.loc["2024-04-29":"2024-09-09"]
    assert len(quiet) == 20 and not quiet["drifted"].any() and (quiet["log_loss"] <= quiet["bound"]).all()
    assert quiet["score"].max() < 0.08
    drifted = weeks.index[weeks["drifted"]]
    failed = weeks.index[weeks["log_loss"] > weeks["bound"]]
    assert drifted[0] == "2024-09-16" and failed[0] == "2024-11-04"
    assert list(drifted) == list(weeks.loc["2024-09-16":].index)
    assert list(failed) == list(weeks.loc["2024-11-04":].index)
    # the demo's weeks (scripts/demo.py), as docs/external_models.md quotes them
    assert weeks.loc["2024-09-16", "score"] == pytest.approx(0.102, abs=0.0005)
    assert weeks.loc["2024-10-21", "log_loss"] == pytest.approx(0.390, abs=0.0005)
    assert weeks.loc["2024-11-04", "log_loss"] == pytest.approx(0.435, abs=0.0005)


def test_lead_scoring_generator_measures_what_the_platform_decides():
    """The generator's own figures (`--measure`: scipy and scikit-learn, as its docstring quotes them) are the
    platform's: the same drift score and log loss every monitored week, the same bound."""
    measured = generator("lead_scoring").measure(generated("lead_scoring")).set_index("week")
    weeks = lead_weeks()
    both = measured.loc[weeks.index]
    assert both["drift_score"].to_numpy() == pytest.approx(weeks["score"].to_numpy(), abs=1e-9)
    assert both["log_loss"].to_numpy() == pytest.approx(weeks["log_loss"].to_numpy(), abs=1e-9)
    assert both["bound"].iloc[0] == pytest.approx(weeks["bound"].iloc[0], abs=1e-9)


def test_lead_scoring_logs_the_frozen_models_output():
    """The logged class is the logged probability's (>= 0.5); the reference converts ~15 %, and the review site's
    leads, scored as the hottest, convert far less than the model says."""
    frame = generated("lead_scoring")
    assert (frame["predicted_converted"] == (frame["conversion_probability"] >= 0.5)).all()
    assert frame["conversion_probability"].between(0.0001, 0.9999).all()
    reference = frame[(frame["created_at"] >= "2024-01-08") & (frame["created_at"] < "2024-04-29")]
    assert 0.13 <= reference["converted"].mean() <= 0.17
    assert reference["conversion_probability"].mean() == pytest.approx(reference["converted"].mean(), abs=0.01)
    review = frame[frame["lead_source"] == "review_site"]
    assert review["conversion_probability"].mean() > 0.4 and review["converted"].mean() < 0.05
    assert review["created_at"].min() >= "2024-09-02"


# --- paylater: labels six weeks late, the estimate before them ----------------------------------------------------
def test_paylater_labels_come_in_a_file_of_their_own():
    """The orders carry no label (the checkout cannot know it); the labels file holds the key, the purchase time
    and the label of every order, as the monitor's `labels.source` reads it."""
    orders = pd.read_csv(DATA / "paylater_orders.csv")
    labels = pd.read_csv(DATA / "paylater_labels.csv")
    spec = DatasetSpec.from_yaml(DATA / "paylater.yaml")
    assert spec.target not in orders.columns
    assert list(labels.columns) == [*spec.key_columns, spec.datetime_column, spec.target]
    assert labels["order_id"].tolist() == orders["order_id"].tolist()
    assert labels["purchased_at"].tolist() == orders["purchased_at"].tolist()
    assert set(labels[spec.target]) == {0, 1} and 0.08 <= labels[spec.target].mean() <= 0.12


def load_limits_script():
    """scripts/estimation_limits.py as a module (the figures docs/late_labels.md quotes)."""
    module_spec = importlib.util.spec_from_file_location(
        "drift_platform_estimation_limits", DATA.parent / "scripts" / "estimation_limits.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@functools.cache
def estimated_weeks(name: str) -> pd.DataFrame:
    """Per monitored week, the log loss CBPE estimates before the labels and the realized one, both judged against
    the champion's walk-forward bound (the platform's core functions; scripts/estimation_limits.py)."""
    limits = load_limits_script()
    return limits.weekly_table(name, limits.sample_frame(name)).set_index("week")


def test_paylater_estimate_flags_the_covariate_shift_and_misses_the_concept_drift():
    """Quiet weeks: neither the estimate nor the labels fail. The console launch (covariate shift, P(y | x)
    unchanged): the estimate fails from 2024-09-16 to 10-07, as the labels do six weeks later (and on 10-14). The
    account takeover (concept drift, features unchanged): the estimate stays with the quiet weeks, the realized log
    loss jumps past the bound. The figures docs/late_labels.md and the generator's docstring quote."""
    weeks = estimated_weeks("paylater")
    quiet = weeks[weeks["episode"] == "quiet"]
    assert len(quiet) == 44 and not quiet["estimate_failed"].any() and not quiet["labels_failed"].any()
    assert weeks.index[weeks["estimate_failed"]].tolist() == ["2024-09-16", "2024-09-23", "2024-09-30", "2024-10-07"]
    assert weeks.index[weeks["labels_failed"] & (weeks["episode"] == "covariate shift")].tolist() == [
        "2024-09-16", "2024-09-23", "2024-09-30", "2024-10-07", "2024-10-14"]
    concept = weeks[weeks["episode"] == "concept drift"]
    assert concept.index.tolist() == ["2025-02-03", "2025-02-10"] and concept["labels_failed"].all()
    assert concept["estimated"].max() < quiet["estimated"].max() < weeks["bound"].iloc[0]
    assert (concept["realized"] > concept["upper"]).all()  # outside the estimate's own band
    assert weeks["bound"].iloc[0] == pytest.approx(0.343, abs=0.0005)
    figures = {"2024-09-23": (0.382, 0.385), "2025-02-03": (0.283, 0.377), "2025-02-10": (0.284, 0.458)}
    for week, (estimated, realized) in figures.items():
        assert weeks.loc[week, ["estimated", "realized"]].tolist() == pytest.approx([estimated, realized], abs=0.0005)


def test_churn_concept_drift_weeks_are_invisible_to_the_estimate():
    """churn's rival offer (2023-03-20, 03-27: no feature moves): the estimate stays at the quiet weeks' level while
    the realized log loss doubles; the price rise (features move, and the bill shock the model cannot see)
    raises the estimate, but not past the bound the labels cross."""
    weeks = estimated_weeks("churn")
    concept = weeks[weeks["episode"] == "concept drift"]
    assert not concept["estimate_failed"].any() and concept["labels_failed"].all()
    assert concept["estimated"].tolist() == pytest.approx([0.214, 0.221], abs=0.0005)
    assert concept["realized"].tolist() == pytest.approx([0.444, 0.508], abs=0.0005)
    rise = weeks.loc["2023-05-01"]
    assert not rise["estimate_failed"] and rise["labels_failed"] and rise["estimated"] > concept["estimated"].max()
