"""The classification samples in data/ are exactly what their seeded generators write, and hold the labels the
monitors and tests rely on: churn 5-15 % positives, the triage sample's four string classes, and the lead-scoring
sample's story (the sales team's model goes stale: its output drifts weeks before its labels fail the bound),
measured with the platform's own decisions."""

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
}


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


def test_csv_is_what_the_generator_writes(sample):
    name, frame = sample
    csv = DATA / SAMPLES[name][1]
    assert csv.read_bytes() == written(frame), (
        f"{csv.name} differs from `python data/{SAMPLES[name][0]}`: regenerate it"
    )
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
