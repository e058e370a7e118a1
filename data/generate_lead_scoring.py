"""Generate `lead_scoring_leads.csv`, a synthetic table of B2B leads and the sales team's own conversion model.

One row per inbound lead of a software vendor (a form filled on its site), from 2024-01-01 to 2025-06-29: 78
Monday weeks, 379-525 leads a week before the episode (median 473; ~250 in the New Year week), 47,474 rows. The
label `converted` (0/1): the lead became a sales-qualified opportunity within 7 days (14.9 % in the reference
window, 12.3 % over the whole sample). The leads are simulated week by week from 2023-01-02; the columns:

* A lead comes from an account: a new one (`company_size` log-normal around 120 employees, an `industry`, a
  `region`), or (20 %) one that sent a lead in the last eight weeks (a colleague, a second visit). Its
  `lead_source` follows the week's channel mix, an AR(1) of log weights week to week (a webinar week, a paid
  campaign), as the industry mix does; a `job_level` (c_level .. individual); `pages_viewed` before the form
  (negative binomial by source), `visited_pricing` and `demo_requested` (0/1, likelier after many pages, for
  senior titles and referrals).
* Volume: +10 % a year, x 0.55 in the holidays (18 December to 3 January), x 0.82 from mid July to late August,
  x 1.12 in the autumn's events season. Conversion: a logistic model of size, source, industry, region, level,
  pages, pricing and demo, lower in the holidays (-0.2 log-odds) and the summer dip (-0.1).
* The logged predictions are the sales team's model, not the platform's: a LogisticRegression (C=1, one-hot
  categoricals, log size) fitted once on the 2023 leads (never written), its coefficients rounded and frozen,
  serving every lead of the sample: `conversion_probability` (the positive class's probability, 4 decimals)
  and `predicted_converted` (its predict(): 1 when the probability is >= 0.5; 14 % of the rows). On the
  channels it knows it stays calibrated throughout (predicted 8.0-30.9 % by source, actual 8.1-32.4 %).

Rows close in time are alike: an account's leads share its size, industry and region, and the channel and
industry mixes move slowly from week to week.

The episode: a review site's "Get pricing" form, from 2024-09-02. Its share of a week's leads follows a logistic
curve: a pilot of 1-5 % for five weeks, then marketing scales the budget (14 % on 2024-10-21, 22 % on 11-04,
31-37 % from December; the review site's leads come on top of the usual ones). The form lands on the pricing
page and ticks "request a demo" (85 %), visitors claim senior titles and have seen two pages of the site: to the
team's model they look like the hottest leads it knows (mean probability 0.488; `review_site` is a source it has
never seen, encoded as none of the known ones), but they are comparison shoppers who convert at 2.6 %. The
team's model is never retrained in the sample.

What the monitor sees (data/lead_scoring.yaml, drift_platform/defs/monitors/lead_scoring/defs.yaml), weeks
against the reference window 2024-01-08 .. 2024-04-28 (16 weeks, 7,718 leads): `python data/generate_lead_scoring.py
--measure` prints, per week, the probability column's drift score by Evidently's default test for it (the
reference has > 1,000 rows: the Wasserstein distance normed by the reference's std, drift at >= 0.1) and the
logged predictions' log loss against the bound the monitor derives from the reference weeks' own log losses
(mean 0.344 + 3 x sd 0.023 = 0.411); drift_platform_tests/test_sample_data.py checks that the platform decides
the same:

a) 2024-04-29 .. 2024-09-09 (20 weeks, the summer included): quiet. Drift score 0.03-0.08 (the reference's own
   weeks 0.03-0.09), log loss 0.26-0.37: nothing fires (run through the monitor, all five of its checks pass
   every week; the multivariate AUC 0.48-0.54 against thresholds 0.54-0.55).
b) 2024-09-16: prediction drift, the review site at 3 % of the leads: score 0.102; every week after drifts
   (0.14-0.20 in the pilot, 0.38 on 10-21, 0.53 on 11-04, 0.69-0.89 from December). The labels do not see it
   yet: log loss 0.357, and 0.34-0.405 through October (0.390 on 10-21, review site 14 %).
c) 2024-11-04, seven weeks later: the labels confirm it, log loss 0.435 > 0.411 (review site 22 %), and every
   week after (0.43-0.52). Dataset drift too that week (lead_source, visited_pricing, demo_requested: 3 of 8
   columns, drift_share 0.3); lead_source drifts from 09-16 on its own (a new category).

How typical that is (seeds 20240101-20240120, the same parameters): prediction drift's false alarms in the 18
weeks 2024-04-29 .. 08-26, 16 of 360 weeks (4.4 %; with ~470 rows a week the normed Wasserstein distance
wanders 0.02-0.16 by chance, its threshold was set for larger samples); the quality bound's, 2 of 360 (0.6 %);
the first prediction drift 2024-09-02 .. 10-14, the first quality failure 2024-10-14 .. 12-09, a median of 6
weeks later (4-11; one seed's first quality failure, on 09-09, was a false alarm). The shipped seed (20240107)
is one of the nine without a false alarm in the quiet weeks, and its 7 weeks are typical.

Everything comes from one `numpy.random.default_rng(seed)`, so a given seed always writes the same file.
Usage: python data/generate_lead_scoring.py [--seed 20240107] [--out data/lead_scoring_leads.csv] [--measure]
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_SEED = 20240107
DEFAULT_OUT = Path(__file__).resolve().parent / "lead_scoring_leads.csv"
BURN_IN = "2023-01-02"  # leads are simulated from here; the team's model is fitted on those before START
START, END = "2024-01-01", "2025-06-29"  # the rows written: Monday 2024-01-01 to Sunday 2025-06-29
REFERENCE = ("2024-01-08", "2024-04-28")  # the monitor's reference window (data/lead_scoring.yaml)

# --- the leads: a week's count, x a growth of 10 % a year, x the season ---
LEADS_PER_WEEK = 470
GROWTH = 0.10
DAY_WEIGHTS = np.array([1.0, 1.05, 1.0, 0.95, 0.8, 0.12, 0.08])  # Monday .. Sunday
REPEAT_SHARE = 0.2  # a lead from an account that sent one in the last eight weeks (a colleague, a second visit)
RECENT_WEEKS = 8

SOURCES = ("organic_search", "paid_search", "webinar", "referral", "events", "content")
SOURCE_MIX = np.array([0.30, 0.22, 0.12, 0.08, 0.10, 0.18])
NEW_SOURCE = "review_site"  # the acquisition channel of the episode (see the docstring); unknown to the model
INDUSTRIES = ("software", "financial_services", "healthcare", "manufacturing", "retail", "education", "other")
INDUSTRY_MIX = np.array([0.28, 0.14, 0.12, 0.14, 0.10, 0.08, 0.14])
REGIONS = ("north_america", "emea", "apac")
REGION_MIX = np.array([0.52, 0.36, 0.12])
JOB_LEVELS = ("c_level", "vp", "director", "manager", "individual")
JOB_MIX = np.array([0.07, 0.10, 0.20, 0.33, 0.30])
MIX_PERSISTENCE, MIX_WEEKLY_SD = 0.8, 0.06  # week-to-week AR(1) of the sources' and industries' log weights
COMPANY_SIZE = 120.0  # median employees; log-normal between accounts
SIZE_SPREAD = 1.3

# --- behaviour on the site before the form ---
PAGES_MEAN = np.array([6.0, 4.0, 5.0, 7.0, 4.5, 5.5])  # by source; negative binomial
DEMO_LOGIT = np.array([-2.2, -1.8, -2.0, -1.2, -1.5, -2.8])  # a demo request, by source
DEMO_JOB_LOGIT = np.array([0.5, 0.4, 0.3, 0.0, -0.6])

# --- conversion: the log-odds of becoming a sales-qualified opportunity within 7 days ---
BASE_LOGIT = -3.0
SIZE_LOGIT = 0.25  # per log(employees / 120)
SOURCE_LOGIT = np.array([0.0, -0.3, 0.2, 0.9, 0.3, -0.6])
INDUSTRY_LOGIT = np.array([0.3, 0.1, -0.1, 0.0, -0.2, -0.4, -0.2])
REGION_LOGIT = np.array([0.1, 0.0, -0.2])
JOB_LOGIT = np.array([0.5, 0.6, 0.4, 0.1, -0.5])
PAGES_LOGIT = 0.07  # per page viewed (up to 25)
PRICING_LOGIT = 0.7
DEMO_CONVERSION_LOGIT = 1.6

# --- the episode: a review site's "request a demo" button, from 2024-09-02 ---
REVIEW_LAUNCH = "2024-09-02"
# The review site's share of a week's leads: a pilot of a few per cent, then marketing scales the budget; a
# logistic curve of the weeks since the launch, half of REVIEW_MAX in week REVIEW_MIDPOINT.
REVIEW_MAX, REVIEW_MIDPOINT, REVIEW_WEEKS_SCALE = 0.35, 8.0, 2.2
REVIEW_DEMO = 0.85  # its "Get pricing" form ticks "request a demo" by default ...
REVIEW_PRICING = 0.9  # ... and lands on our pricing page
REVIEW_PAGES = 2.0  # they have barely seen the rest of our site
REVIEW_JOB_MIX = np.array([0.10, 0.20, 0.30, 0.25, 0.15])  # the form asks for a title: they claim senior ones
REVIEW_SIZE = 150.0
REVIEW_LOGIT = -3.3  # comparison shoppers: a demo clicked on a list of ten vendors rarely becomes an opportunity

COLUMNS = [
    "lead_id", "created_at", "lead_source", "industry", "region", "job_level", "company_size", "pages_viewed",
    "visited_pricing", "demo_requested", "converted", "predicted_converted", "conversion_probability",
]  # fmt: skip


def season(day: dt.date) -> tuple[float, float]:
    """The volume factor and the conversion log-odds shift of a week starting on `day`: quiet holidays (late
    December, the first days of January), a summer dip (mid July to August, buyers away), the autumn's events."""
    md = day.strftime("%m-%d")
    if md >= "12-18" or md <= "01-03":
        return 0.55, -0.2
    if "07-15" <= md <= "08-25":
        return 0.82, -0.1
    if "09-05" <= md <= "10-20":
        return 1.12, 0.0
    return 1.0, 0.0


def review_share(day: dt.date) -> float:
    launch = dt.date.fromisoformat(REVIEW_LAUNCH)
    if day < launch:
        return 0.0
    weeks = (day - launch).days // 7
    return REVIEW_MAX / (1 + np.exp(-(weeks - REVIEW_MIDPOINT) / REVIEW_WEEKS_SCALE))


class Accounts:
    """The companies leads come from: a new account per lead, or (REPEAT_SHARE) one that sent a lead lately."""

    def __init__(self) -> None:
        self.size: list[np.ndarray] = []
        self.industry: list[np.ndarray] = []
        self.region: list[np.ndarray] = []

    def draw(self, rng: np.random.Generator, n: int, industry_mix: np.ndarray, size_median: float):
        size = np.round(np.exp(np.log(size_median) + rng.normal(0, SIZE_SPREAD, n))).clip(2, 60_000)
        industry = rng.choice(len(INDUSTRIES), n, p=industry_mix)
        region = rng.choice(len(REGIONS), n, p=REGION_MIX)
        if self.size:
            recent = [np.concatenate(getattr(self, k)[-RECENT_WEEKS:]) for k in ("size", "industry", "region")]
            again = rng.random(n) < REPEAT_SHARE
            pick = rng.integers(0, len(recent[0]), n)
            size = np.where(again, recent[0][pick], size)
            industry = np.where(again, recent[1][pick], industry)
            region = np.where(again, recent[2][pick], region)
        for key, values in (("size", size), ("industry", industry), ("region", region)):
            getattr(self, key).append(values)
        return size.astype(np.int64), industry, region


def mix(base: np.ndarray, deviation: np.ndarray) -> np.ndarray:
    weights = base * np.exp(deviation)
    return weights / weights.sum()


def week_of_leads(rng, accounts: Accounts, monday: dt.date, state: dict) -> dict[str, np.ndarray]:
    """One week's leads: the usual channels, and the review site's once launched."""
    for key, k in (("source_dev", len(SOURCES)), ("industry_dev", len(INDUSTRIES))):
        phi = MIX_PERSISTENCE
        state[key] = phi * state[key] + rng.normal(0, MIX_WEEKLY_SD * np.sqrt(1 - phi**2), k)
    volume, season_logit = season(monday)
    years = (monday - dt.date.fromisoformat(START)).days / 365.25
    n = int(rng.poisson(LEADS_PER_WEEK * volume * (1 + GROWTH) ** years))
    share = review_share(monday)
    n_review = int(rng.poisson(n * share / (1 - share))) if share else 0
    industry_mix = mix(INDUSTRY_MIX, state["industry_dev"])
    size, industry, region = accounts.draw(rng, n, industry_mix, COMPANY_SIZE)
    r_size, r_industry, r_region = accounts.draw(rng, n_review, industry_mix, REVIEW_SIZE)
    source = np.concatenate([rng.choice(len(SOURCES), n, p=mix(SOURCE_MIX, state["source_dev"])),
                             np.full(n_review, len(SOURCES))])
    review = source == len(SOURCES)
    job = np.concatenate([rng.choice(len(JOB_LEVELS), n, p=JOB_MIX),
                          rng.choice(len(JOB_LEVELS), n_review, p=REVIEW_JOB_MIX)])
    known = np.minimum(source, len(SOURCES) - 1)
    pages_mean = np.where(review, REVIEW_PAGES, PAGES_MEAN[known])
    pages = rng.negative_binomial(2, 2 / (2 + pages_mean))
    pricing_p = 1 / (1 + np.exp(-(-2.0 + 0.18 * np.minimum(pages, 20))))
    pricing = rng.random(n + n_review) < np.where(review, REVIEW_PRICING, pricing_p)
    demo_p = 1 / (1 + np.exp(-(DEMO_LOGIT[known] + DEMO_JOB_LOGIT[job] + 0.5 * pricing)))
    demo = rng.random(n + n_review) < np.where(review, REVIEW_DEMO, demo_p)
    rows = {
        "source": source, "industry": np.concatenate([industry, r_industry]),
        "region": np.concatenate([region, r_region]), "job": job, "size": np.concatenate([size, r_size]),
        "pages": pages, "pricing": pricing.astype(int), "demo": demo.astype(int),
    }  # fmt: skip
    z = (BASE_LOGIT + season_logit + SIZE_LOGIT * np.log(rows["size"] / COMPANY_SIZE)
         + np.where(review, REVIEW_LOGIT, SOURCE_LOGIT[known]) + INDUSTRY_LOGIT[rows["industry"]]
         + REGION_LOGIT[rows["region"]] + JOB_LOGIT[job] + PAGES_LOGIT * np.minimum(pages, 25)
         + PRICING_LOGIT * pricing + DEMO_CONVERSION_LOGIT * demo)  # fmt: skip
    rows["converted"] = (rng.random(n + n_review) < 1 / (1 + np.exp(-z))).astype(int)
    order = rng.permutation(n + n_review)  # the review site's leads arrive among the others
    day = rng.choice(7, n + n_review, p=DAY_WEIGHTS / DAY_WEIGHTS.sum())
    seconds = np.where(day < 5, rng.normal(13.5, 2.8, n + n_review), rng.uniform(8, 22, n + n_review))
    seconds = (np.clip(seconds, 0, 23.99) * 3600).astype(np.int64)
    rows["created_at"] = (np.datetime64(monday) + day.astype("timedelta64[D]")
                          + seconds.astype("timedelta64[s]"))  # fmt: skip
    return {k: v[order] for k, v in rows.items()}


# --- the sales team's model: a logistic regression fitted on 2023's leads, frozen since ---
def design(rows: dict[str, np.ndarray]) -> np.ndarray:
    """The team's features: log size, pages (capped), pricing, demo, one-hot source (a source it has never seen
    is all zeros, as scikit-learn's OneHotEncoder(handle_unknown="ignore") encodes it), industry, region, level."""
    columns = [np.log(rows["size"]), np.minimum(rows["pages"], 25), rows["pricing"], rows["demo"]]
    for key, k in (("source", len(SOURCES)), ("industry", len(INDUSTRIES)), ("region", len(REGIONS)),
                   ("job", len(JOB_LEVELS))):
        columns += [(rows[key] == i).astype(float) for i in range(k)]
    return np.column_stack(columns).astype(float)


def fit_team_model(rows: dict[str, np.ndarray]) -> tuple[float, np.ndarray]:
    """The team's model card: LogisticRegression(C=1.0) on 2023's leads, coefficients rounded to 4 decimals."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=2000).fit(design(rows), rows["converted"])
    return round(float(model.intercept_[0]), 4), np.round(model.coef_[0], 4)


def team_probability(rows: dict[str, np.ndarray], model: tuple[float, np.ndarray]) -> np.ndarray:
    intercept, coef = model
    p = 1 / (1 + np.exp(-(intercept + design(rows) @ coef)))
    return np.clip(np.round(p, 4), 0.0001, 0.9999)


def to_frame(rows: dict[str, np.ndarray], proba: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "lead_id": [f"L{i + 1:06d}" for i in range(len(proba))],
        "created_at": pd.to_datetime(rows["created_at"]).strftime("%Y-%m-%d %H:%M:%S"),
        "lead_source": np.array([*SOURCES, NEW_SOURCE])[rows["source"]],
        "industry": np.array(INDUSTRIES)[rows["industry"]],
        "region": np.array(REGIONS)[rows["region"]],
        "job_level": np.array(JOB_LEVELS)[rows["job"]],
        "company_size": rows["size"],
        "pages_viewed": rows["pages"],
        "visited_pricing": rows["pricing"],
        "demo_requested": rows["demo"],
        "converted": rows["converted"],
        "predicted_converted": (proba >= 0.5).astype(int),
        "conversion_probability": proba,
    })[COLUMNS]  # fmt: skip


def generate(seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The full synthetic table, rows by creation time (lead ids in that order)."""
    rng = np.random.default_rng(seed)
    accounts = Accounts()
    state = {"source_dev": np.zeros(len(SOURCES)), "industry_dev": np.zeros(len(INDUSTRIES))}
    weeks = []
    monday, last = dt.date.fromisoformat(BURN_IN), dt.date.fromisoformat(END)
    while monday <= last:
        weeks.append((monday, week_of_leads(rng, accounts, monday, state)))
        monday += dt.timedelta(days=7)
    start = dt.date.fromisoformat(START)
    joined = {when: {k: np.concatenate([w[k] for d, w in weeks if (d < start) == (when == "before")])
                     for k in weeks[0][1]} for when in ("before", "after")}  # fmt: skip
    model = fit_team_model(joined["before"])
    rows = joined["after"]
    order = np.argsort(rows["created_at"], kind="stable")
    rows = {k: v[order] for k, v in rows.items()}
    return to_frame(rows, team_probability(rows, model))


def measure(frame: pd.DataFrame) -> pd.DataFrame:
    """Per week: rows, conversion, the review site's share, the mean logged probability, the probability column's
    drift score against the reference window (Evidently's default for > 1000 reference rows: Wasserstein distance
    normed by the reference's std, drift at >= 0.1), and the logged predictions' log loss against the bound the
    monitor derives from the reference weeks (mean + 3 sd)."""
    from scipy.stats import wasserstein_distance
    from sklearn.metrics import log_loss

    when = pd.to_datetime(frame["created_at"])
    week = (when - pd.to_timedelta(when.dt.weekday, unit="D")).dt.strftime("%Y-%m-%d")
    first, last = REFERENCE
    in_reference = (week >= first) & (week <= last)
    ref_p = frame.loc[in_reference, "conversion_probability"].to_numpy()
    norm = max(float(np.std(ref_p)), 0.001)
    rows = []
    for start, part in frame.groupby(week):
        p = part["conversion_probability"].to_numpy()
        rows.append({
            "week": start, "rows": len(part), "converted": part["converted"].mean(),
            "review_share": (part["lead_source"] == NEW_SOURCE).mean(), "mean_p": p.mean(),
            "drift_score": wasserstein_distance(ref_p, p) / norm,
            "log_loss": log_loss(part["converted"], p, labels=[0, 1]),
        })  # fmt: skip
    table = pd.DataFrame(rows)
    reference = table[(table["week"] >= first) & (table["week"] <= last)]["log_loss"]
    table["bound"] = reference.mean() + 3 * reference.std(ddof=1)
    table["prediction_drift"] = table["drift_score"] >= 0.1
    table["quality_failed"] = table["log_loss"] > table["bound"]
    return table


def main() -> None:
    from sample_cli import write_sample  # data/, beside this file (run as `python data/<this file>`)

    write_sample(generate, DEFAULT_SEED, DEFAULT_OUT, __doc__, measure=measure)


if __name__ == "__main__":
    main()
