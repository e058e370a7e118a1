"""Seeded synthetic data for the benchmarks: N rows x 12 monitored columns (8 numerical, 4 categorical).

The current batch drifts in some columns and not in others, so both decisions occur. Categorical values are
Python strings (object dtype), as the warehouse returns `str` columns. Also a bike-sharing-shaped history for
training, built from the sample's rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from drift_platform.core.intake.dataset import DatasetSpec

DATA = Path(__file__).resolve().parents[1] / "data"
BIKE_SPEC, BIKE_SOURCE = DATA / "bike_sharing.yaml", DATA / "bike_sharing_day.csv"

NUMERICAL = [f"num_{i}" for i in range(8)]
CATEGORICAL = [f"cat_{i}" for i in range(4)]
FEATURES = NUMERICAL + CATEGORICAL

SPEC = DatasetSpec.from_dict(
    {
        "name": "bench",
        "datetime_column": "ts",
        "target": "y", "reference_window": {"start": "2020-01-01", "end": "2020-01-28"}, "first_period": "2020-02-03",
        "target_nonnegative": False,
        "columns": {
            "ts": "datetime",
            "y": "float",
            **dict.fromkeys(NUMERICAL, "float"),
            **dict.fromkeys(CATEGORICAL, "str"),
        },
        "numerical_features": NUMERICAL,
        "categorical_features": CATEGORICAL,
        "max_rows": 10_000_000,
    }
)
START = pd.Timestamp("2020-01-06")
_LEVELS = {
    "cat_0": ["north", "south"],  # binary
    "cat_1": ["clear", "mist", "rain", "snow"],
    "cat_2": [f"store_{i:02d}" for i in range(12)],
    "cat_3": [f"segment_{c}" for c in "abcdefghijklmnopqrstuvwxyz"],
}


def _probabilities(k: int, tilt: float) -> np.ndarray:
    p = np.linspace(1.0, 2.0, k) + tilt * np.linspace(-1.0, 1.0, k)
    return p / p.sum()


def frame(rows: int, seed: int, drift: bool = False, start: pd.Timestamp = START) -> pd.DataFrame:
    """`rows` rows, one a second from `start`. With `drift`, num_0..num_3 and cat_1 move; the rest does not."""
    rng = np.random.default_rng(seed)
    shift = 0.5 if drift else 0.0
    data: dict[str, object] = {
        "ts": pd.date_range(start, periods=rows, freq="s"),
        "y": rng.gamma(2.0, 10.0, rows),
    }
    for i, name in enumerate(NUMERICAL):
        moved = shift if i < 4 else 0.0
        if i % 3 == 0:
            data[name] = rng.normal(10.0 * i + moved, 1.0 + i, rows)
        elif i % 3 == 1:
            data[name] = rng.gamma(2.0 + i, 1.0, rows) + moved * 2.0
        else:
            data[name] = rng.uniform(0.0, 1.0 + moved, rows)
    for name, levels in _LEVELS.items():
        tilt = 0.8 if drift and name == "cat_1" else 0.0
        values = np.array(levels, dtype=object)
        data[name] = values[rng.choice(len(levels), rows, p=_probabilities(len(levels), tilt))]
    return pd.DataFrame(data)


def pair(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(reference, current), both `rows` rows."""
    return frame(rows, seed=1), frame(rows, seed=2, drift=True, start=START + pd.Timedelta(seconds=rows))


def bike_history(rows: int, seed: int = 0) -> tuple[pd.DataFrame, DatasetSpec]:
    """A bike-sharing-shaped history of `rows` rows (hourly timestamps), resampled from the sample with noise on
    the weather columns, and the project's spec. Exactly the sample when `rows` is None or 731."""
    from drift_platform.core.intake.source import load_window

    spec = DatasetSpec.from_yaml(BIKE_SPEC)
    sample, _ = load_window(str(BIKE_SOURCE), spec, pd.Timestamp("2011-01-01"), pd.Timestamp("2013-01-01"))
    if rows == len(sample):
        return sample, spec
    rng = np.random.default_rng(seed)
    history = sample.iloc[rng.integers(0, len(sample), rows)].reset_index(drop=True)
    history["dteday"] = pd.date_range("2000-01-01", periods=rows, freq="h").astype("datetime64[ns]")
    for col in ("temp", "atemp", "hum", "windspeed"):
        history[col] = (history[col] + rng.normal(0.0, 0.02, rows)).clip(0.0, 1.0)
    history["instant"] = np.arange(1, rows + 1)
    return history, spec


# --- an event week: many rows per timestamp, a row key -------------------------------------------------------------
EVENT_DEVICES = [f"device_{i:03d}" for i in range(400)]
EVENT_SPEC = DatasetSpec.from_dict(
    {
        "name": "events", "datetime_column": "ts", "target": "amount", "key_columns": ["event_id"],
        "reference_window": {"start": "2021-01-04", "end": "2021-01-31"}, "first_period": "2021-02-01",
        "columns": {"event_id": "int", "ts": "datetime", "device": "str", "channel": "str", "latency_ms": "float",
                    "payload_kb": "float", "retries": "int", "amount": "float"},
        "numerical_features": ["latency_ms", "payload_kb", "retries"], "categorical_features": ["channel"],
        "max_rows": 10_000_000,
    }
)  # fmt: skip
EVENT_WEEK = pd.Timestamp("2021-02-01")


def event_week(rows: int, seed: int, start: pd.Timestamp = EVENT_WEEK, drift: bool = False) -> pd.DataFrame:
    """`rows` events in the week from `start`: timestamps on whole seconds, ~`rows` / 20,000 distinct ones per
    hour, so thousands of events share a timestamp; `event_id` is the key (unique across weeks by `seed`)."""
    rng = np.random.default_rng(seed)
    distinct = max(1, min(rows, rows // 1000 + 1))
    stamps = start + pd.to_timedelta(np.sort(rng.integers(0, 7 * 24 * 3600, distinct)), unit="s")
    shift = 0.3 if drift else 0.0
    return pd.DataFrame({
        "event_id": np.arange(rows, dtype=np.int64) + seed * 100_000_000,
        "ts": np.sort(rng.choice(stamps.to_numpy(), rows)),
        "device": rng.choice(EVENT_DEVICES, rows),
        "channel": rng.choice(["web", "ios", "android", "api"], rows, p=[0.4, 0.25, 0.25, 0.1]),
        "latency_ms": rng.gamma(2.0 + shift, 40.0, rows),
        "payload_kb": rng.lognormal(2.0, 0.5, rows),
        "retries": rng.poisson(0.2, rows),
        "amount": rng.gamma(2.0, 15.0, rows),
    })  # fmt: skip


# --- a wide table: hundreds to thousands of columns ------------------------------------------------------------------
WIDE_LEVELS = np.array([f"level_{i}" for i in range(8)], dtype=object)


def wide_spec(columns: int) -> DatasetSpec:
    """`columns` monitored columns: the first half numerical (float), the second half 8-level text."""
    half = columns // 2
    numerical = [f"x{i:04d}" for i in range(half)]
    categorical = [f"c{i:04d}" for i in range(columns - half)]
    return DatasetSpec.from_dict({
        "name": "wide", "datetime_column": "ts", "target": "y", "target_nonnegative": False,
        "reference_window": {"start": "2020-01-01", "end": "2020-01-28"}, "first_period": "2020-02-03",
        "columns": {"ts": "datetime", "y": "float", **dict.fromkeys(numerical, "float"),
                    **dict.fromkeys(categorical, "str")},
        "numerical_features": numerical, "categorical_features": categorical, "max_rows": 10_000_000,
    })  # fmt: skip


def wide_frame(rows: int, columns: int, seed: int, drifted_share: float = 0.0) -> pd.DataFrame:
    """`rows` rows of `wide_spec(columns)`; with `drifted_share`, that share of each half moves (numerical: mean
    +0.5 sigma; text: one level's share up by ~15 points). Text is Python strings (object), as the warehouse
    returns it."""
    rng = np.random.default_rng(seed)
    spec = wide_spec(columns)
    numerical, categorical = spec.numerical_features, spec.categorical_features
    moved_num, moved_cat = int(len(numerical) * drifted_share), int(len(categorical) * drifted_share)
    # Each dtype's columns made in place as one (columns, rows) block, which pandas takes without a copy (a dict of
    # columns, or blocks of one dtype in two frames, would be copied into one block: twice the frame's memory at
    # its peak, counted in every case's peak RSS). The same draws, in the same order, as column by column.
    values = np.empty((1 + len(numerical), rows))
    values[0] = rng.normal(size=rows)  # y
    for i in range(len(numerical)):
        values[1 + i] = rng.normal(0.5 if i < moved_num else 0.0, 1.0 + (i % 5), rows)
    base = _probabilities(len(WIDE_LEVELS), 0.0)
    tilted = _probabilities(len(WIDE_LEVELS), 1.0)
    text = np.empty((len(categorical), rows), dtype=object)
    for i in range(len(categorical)):
        text[i] = WIDE_LEVELS[rng.choice(len(WIDE_LEVELS), rows, p=tilted if i < moved_cat else base)]
    return pd.concat([pd.DataFrame({"ts": pd.date_range(START, periods=rows, freq="s")}),
                      pd.DataFrame(values.T, columns=["y", *numerical], copy=False),
                      pd.DataFrame(text.T, columns=categorical, copy=False)], axis=1, copy=False)


# --- a model's history per task: regression, binary, multiclass (issue 20) -------------------------------------------
TASK_START = pd.Timestamp("2022-01-03")
_TASK_LEVELS = {
    "region": ["north", "south", "east", "west"],
    "plan": ["basic", "standard", "premium"],
    "channel": ["web", "ios", "android", "partner", "retail", "phone"],
}
_TASK_CLASSES = {"binary": [0, 1], "multiclass": ["account", "billing", "bug", "how_to"]}
_TASK_TARGET = {"regression": ("amount", "float"), "binary": ("churned", "int"), "multiclass": ("category", "str")}


def task_spec(task: str) -> DatasetSpec:
    """The spec of `task_frame(task, ...)`: 4 numerical and 3 categorical features, one row a minute; the target
    `amount` (regression, non-negative), `churned` (binary 0/1, ~10 % positives) or `category` (multiclass, 4
    string classes)."""
    target, kind = _TASK_TARGET[task]
    classes = {"classes": _TASK_CLASSES[task]} if task != "regression" else {}
    return DatasetSpec.from_dict({
        "name": f"bench_{task}", "datetime_column": "ts", "target": target, "task": task, **classes,
        **({"positive_class": 1} if task == "binary" else {}),
        "reference_window": {"start": "2022-01-03", "end": "2022-01-30"}, "first_period": "2022-01-31",
        "columns": {"ts": "datetime", "tenure_months": "int", "monthly_spend": "float", "usage_hours": "float",
                    "tickets": "int", **dict.fromkeys(_TASK_LEVELS, "str"), target: kind},
        "numerical_features": ["tenure_months", "monthly_spend", "usage_hours", "tickets"],
        "categorical_features": list(_TASK_LEVELS), "max_rows": 10_000_000,
    })  # fmt: skip


def task_frame(task: str, rows: int, seed: int, start: pd.Timestamp = TASK_START) -> pd.DataFrame:
    """`rows` customer rows of `task_spec(task)`, one a minute from `start` (in time order). The label follows a
    latent score of the features (tenure, spend, usage, tickets, plan, channel) plus noise, so a model has something
    to learn and something it cannot: Ridge's R² on log1p(amount) ~0.6, LogisticRegression's ROC AUC ~0.8."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {
        "ts": pd.date_range(start, periods=rows, freq="min"),
        "tenure_months": rng.integers(1, 72, rows),
        "monthly_spend": rng.lognormal(3.0, 0.4, rows),
        "usage_hours": rng.gamma(2.0, 15.0, rows),
        "tickets": rng.poisson(0.4, rows),
    }
    for name, levels in _TASK_LEVELS.items():
        data[name] = np.array(levels, dtype=object)[rng.choice(len(levels), rows, p=_probabilities(len(levels), 0.3))]
    frame = pd.DataFrame(data)
    plan = frame["plan"].map({"basic": -0.4, "standard": 0.0, "premium": 0.5}).to_numpy()
    channel = frame["channel"].map({"web": 0.0, "ios": 0.2, "android": 0.1, "partner": -0.5, "retail": 0.3,
                                    "phone": 0.6}).to_numpy()  # fmt: skip
    score = (-0.03 * frame["tenure_months"] + 0.8 * np.log(frame["monthly_spend"] / 20.0)
             - 0.02 * frame["usage_hours"] + 0.7 * frame["tickets"] + plan + channel).to_numpy()
    target, _ = _TASK_TARGET[task]
    if task == "regression":
        frame[target] = np.expm1(np.clip(4.0 + 0.6 * score + rng.normal(0.0, 0.4, rows), 0.0, None)).round(2)
    elif task == "binary":
        frame[target] = (rng.random(rows) < 1.0 / (1.0 + np.exp(-(1.2 * score - 2.0)))).astype("int64")
    else:
        logits = np.column_stack([0.8 * score, -0.05 * frame["tenure_months"] + 1.5 + plan,
                                  frame["tickets"] - 0.3 * score, channel + 0.02 * frame["usage_hours"] - 0.3])
        logits += rng.gumbel(size=logits.shape)  # the class is the argmax of noisy logits
        frame[target] = np.array(_TASK_CLASSES[task], dtype=object)[logits.argmax(axis=1)]
    return frame
