"""The classification samples in data/ are exactly what their seeded generators write, and hold the labels the
monitors and tests rely on: churn 5-15 % positives, the triage sample's four string classes."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest

from drift_platform.core.intake.contract import conform
from drift_platform.core.intake.dataset import DatasetSpec

DATA = Path(__file__).resolve().parents[1] / "data"
# generator module, its CSV, its spec
SAMPLES = {
    "churn": ("generate_churn.py", "churn_snapshots.csv", "churn.yaml"),
    "triage": ("generate_triage.py", "triage_tickets.csv", "triage.yaml"),
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
