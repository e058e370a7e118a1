"""Generate `triage_tickets.csv`, a synthetic MULTICLASS sample: support tickets of a software company, by category.

One row per support ticket, 2024-01-01 .. 2024-06-30 (26 Monday weeks, 144-367 tickets a week, median 188; 5,179
rows). The label `category` is one of four STRING classes: account, billing, bug, how_to (31 % how_to, 27 % billing,
27 % bug, 15 % account). A small sample for tests of multiclass monitors, not a shipped monitor.

The model, in the order it is drawn:

* Each day: a ticket count (Poisson; a weekend day a quarter of a workday's 34, x a day-to-day AR(1) volume),
  then each ticket's category from priors that wander a little from day to day (AR(1)); billing questions are
  1.4 times as likely in the first five days of a month, when invoices go out. Times of day around 13:00.
* Features drawn from the category, overlapping enough that no feature gives it away: `channel` (email / chat
  / web_form / phone), `plan_tier` (free / pro / enterprise), `product_area` (web_app / mobile_app / api),
  `message_words` (log-normal), `attachments` (Poisson), `has_error_code` (0/1), `account_age_days`
  (log-normal; how-to questions come from new accounts), `sentiment` (-1 .. 1).

One episode, weeks against the reference window 2024-01-01 .. 2024-02-11 (six weeks, 1,109 tickets: 33 % how_to,
30 % billing, 21 % bug, 15 % account):

a) 2024-02-12 .. 2024-04-01 and 2024-04-22 .. 2024-06-24: quiet weeks. At most 2 of 8 feature columns drift
   (Wasserstein 0.10-0.14 on message_words, attachments, account_age_days or sentiment): no dataset drift at
   the default drift share 0.5.
b) 2024-04-08 and 2024-04-15, a mobile release (5.0) that crashes on some phones, 04-08 .. 04-21: 22 extra
   crash reports a workday, from the in-app "report a problem" button (a chat), on mobile_app, most with an
   error code and screenshots. Tickets 367 and 301; bug 46 % and 55 % of them (reference 21 %). 6 and 5 of 8
   columns drift (attachments 0.44 / 0.61, product_area 0.20 / 0.21, has_error_code 0.18 / 0.24, ...): data
   drift, and the class mix moves.

Checked with scikit-learn directly, fitted on the reference (one-hot + scaling): LogisticRegression (C=1) on the
quiet weeks 2024-02-12 .. 04-07: log loss 0.591, macro F1 0.724; week by week log loss 0.54-0.66, macro F1
0.67-0.78. The release weeks are easier (crash reports are plain to see): log loss 0.46 and 0.38.
HistGradientBoostingClassifier on the same quiet weeks: defaults log loss 1.03 (it overfits 1,109 rows), macro
F1 0.69; max_depth 3, learning_rate 0.05, max_iter 100: log loss 0.62, macro F1 0.71. Fit times on 1,109 rows:
0.5-1.1 s with OMP_NUM_THREADS=1, 9-30 s with its default threads on a busy two-core machine.

Everything comes from one `numpy.random.default_rng(seed)`, so a given seed always writes the same file.
Usage: python data/generate_triage.py [--seed 20240101] [--out data/triage_tickets.csv]
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_SEED = 20240101
DEFAULT_OUT = Path(__file__).resolve().parent / "triage_tickets.csv"
START, END = "2024-01-01", "2024-06-30"

CATEGORIES = ("account", "billing", "bug", "how_to")
PRIORS = np.array([0.16, 0.28, 0.24, 0.32])
INVOICE_DAYS, INVOICE_FACTOR = 5, 1.4  # billing questions x1.4 on the first five days of a month (invoices)
TICKETS_PER_WORKDAY, WEEKEND_SHARE = 34.0, 0.25  # a weekend day has a quarter of a workday's tickets
VOLUME_PERSISTENCE, VOLUME_SD = 0.6, 0.15  # day-to-day AR(1) of the log volume
PRIOR_PERSISTENCE, PRIOR_SD = 0.8, 0.05  # day-to-day AR(1) of each category's log weight

CHANNELS = ("email", "chat", "web_form", "phone")
PLANS = ("free", "pro", "enterprise")
AREAS = ("web_app", "mobile_app", "api")
# Per category (rows in CATEGORIES order): the mix of each categorical feature ...
CHANNEL_MIX = np.array([[0.35, 0.25, 0.15, 0.25], [0.45, 0.15, 0.30, 0.10], [0.35, 0.35, 0.25, 0.05],
                        [0.20, 0.50, 0.25, 0.05]])  # fmt: skip
PLAN_MIX = np.array([[0.25, 0.35, 0.40], [0.20, 0.60, 0.20], [0.40, 0.40, 0.20], [0.55, 0.35, 0.10]])
AREA_MIX = np.array([[0.80, 0.15, 0.05], [0.70, 0.20, 0.10], [0.45, 0.35, 0.20], [0.60, 0.25, 0.15]])
ERROR_CODE = np.array([0.08, 0.02, 0.45, 0.05])  # chance the message quotes an error code
# ... and of each numerical one: message words (log-normal median), attachments (Poisson mean), account age
# (log-normal median, days), sentiment (normal mean; -1 angry .. 1 happy).
WORDS = np.array([40.0, 60.0, 90.0, 45.0])
ATTACHMENTS = np.array([0.1, 0.4, 1.1, 0.2])
ACCOUNT_AGE = np.array([400.0, 400.0, 400.0, 60.0])
SENTIMENT = np.array([-0.1, -0.2, -0.35, 0.1])

# --- the episode (see the module docstring) ---
RELEASE = ("2024-04-08", "2024-04-21")  # mobile app 5.0 crashes on some phones, until the fix ships
RELEASE_EXTRA_PER_DAY = 22.0  # extra bug tickets a workday (a weekend day: WEEKEND_SHARE of it)
RELEASE_CHANNEL = np.array([0.15, 0.60, 0.20, 0.05])  # the in-app "report a problem" button opens a chat
RELEASE_ERROR_CODE, RELEASE_ATTACHMENTS, RELEASE_WORDS = 0.85, 1.6, 70.0

COLUMNS = [
    "ticket_id", "created_at", "channel", "plan_tier", "product_area", "message_words", "attachments",
    "has_error_code", "account_age_days", "sentiment", "category",
]  # fmt: skip


def ar1(rng: np.random.Generator, n: int, phi: float, sd: float, width: int = 1) -> np.ndarray:
    """Stationary AR(1) series (n x width) with marginal standard deviation `sd`."""
    out = np.empty((n, width))
    out[0] = rng.normal(0, sd, width)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + rng.normal(0, sd * np.sqrt(1 - phi**2), width)
    return out


def in_release(day: dt.date) -> bool:
    return dt.date.fromisoformat(RELEASE[0]) <= day <= dt.date.fromisoformat(RELEASE[1])


def ticket_features(
    rng: np.random.Generator, category: np.ndarray, crash: np.ndarray
) -> dict[str, np.ndarray]:
    """The features of tickets of the given categories; `crash`: the release's crash reports."""
    n = len(category)

    def pick(mix: np.ndarray) -> np.ndarray:
        cumulative = np.cumsum(mix[category], axis=1)
        return (rng.random(n)[:, None] > cumulative).sum(axis=1).clip(0, mix.shape[1] - 1)

    channel = pick(CHANNEL_MIX)
    crash_channel = (rng.random(n)[:, None] > np.cumsum(RELEASE_CHANNEL)).sum(axis=1).clip(0, 3)
    words = np.exp(np.log(np.where(crash, RELEASE_WORDS, WORDS[category])) + rng.normal(0, 0.45, n))
    return {
        "channel": np.where(crash, crash_channel, channel),
        "plan_tier": pick(PLAN_MIX),
        "product_area": np.where(crash, AREAS.index("mobile_app"), pick(AREA_MIX)),
        "message_words": np.maximum(np.round(words), 3).astype(int),
        "attachments": rng.poisson(np.where(crash, RELEASE_ATTACHMENTS, ATTACHMENTS[category])),
        "has_error_code": (rng.random(n) < np.where(crash, RELEASE_ERROR_CODE, ERROR_CODE[category])).astype(
            int
        ),
        "account_age_days": np.round(np.exp(np.log(ACCOUNT_AGE[category]) + rng.normal(0, 0.7, n))).astype(
            int
        ),
        "sentiment": np.clip(SENTIMENT[category] + rng.normal(0, 0.3, n), -1, 1),
    }


def day_tickets(rng: np.random.Generator, day: dt.date, volume: float, weights: np.ndarray) -> pd.DataFrame:
    """One day's tickets: categories, then features, at times of the day (busiest 09:00-17:00)."""
    weekend = day.weekday() >= 5
    mean = TICKETS_PER_WORKDAY * (WEEKEND_SHARE if weekend else 1.0) * volume
    priors = PRIORS * weights
    if day.day <= INVOICE_DAYS:
        priors = priors * np.where(np.array(CATEGORIES) == "billing", INVOICE_FACTOR, 1.0)
    category = rng.choice(len(CATEGORIES), rng.poisson(mean), p=priors / priors.sum())
    crash = np.zeros(len(category), dtype=bool)
    if in_release(day):
        extra = rng.poisson(RELEASE_EXTRA_PER_DAY * (WEEKEND_SHARE if weekend else 1.0))
        category = np.r_[category, np.full(extra, CATEGORIES.index("bug"))]
        crash = np.r_[crash, np.ones(extra, dtype=bool)]
    rows = pd.DataFrame(ticket_features(rng, category, crash))
    minutes = np.clip(rng.normal(13 * 60, 180, len(rows)), 0, 24 * 60 - 1).astype(int)
    rows["created_at"] = [dt.datetime.combine(day, dt.time(m // 60, m % 60)) for m in minutes]
    rows["category"] = np.array(CATEGORIES)[category]
    return rows


def generate(seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The full synthetic table, tickets in time order, numbered in that order."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(START, END, freq="D").date
    volume = np.exp(ar1(rng, len(days), VOLUME_PERSISTENCE, VOLUME_SD)[:, 0])
    weights = np.exp(ar1(rng, len(days), PRIOR_PERSISTENCE, PRIOR_SD, len(CATEGORIES)))
    df = pd.concat(
        [day_tickets(rng, d, volume[i], weights[i]) for i, d in enumerate(days)], ignore_index=True
    )
    df = df.sort_values("created_at", kind="stable").reset_index(drop=True)
    df["ticket_id"] = [f"T{i + 1:06d}" for i in range(len(df))]
    df["created_at"] = pd.to_datetime(df["created_at"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    for column, names in (("channel", CHANNELS), ("plan_tier", PLANS), ("product_area", AREAS)):
        df[column] = np.array(names)[df[column]]
    df["sentiment"] = df["sentiment"].round(3)
    return df[COLUMNS]


def main() -> None:
    from sample_cli import write_sample  # data/, beside this file (run as `python data/<this file>`)

    write_sample(generate, DEFAULT_SEED, DEFAULT_OUT, __doc__)


if __name__ == "__main__":
    main()
