"""Generate `churn_snapshots.csv`, a synthetic customer table of a video-streaming subscription: will they churn?

One row per customer and monthly bill (a snapshot taken on the billing date), from 2023-01-02 to 2024-12-29: 104
Monday weeks, 227-403 rows a week (median 300), 31,100 rows. The label `churned` (0/1) says whether the customer
cancels before the next bill: 9.6 % of all rows. The service (plans basic / standard / premium, add-ons, monthly or
annual contracts, four regions) is simulated day by day from 2013 so that its customer base is settled when rows
start; the columns, in the order they are drawn:

* A customer signs up on a day (Poisson, 3.7 a day x 8 % growth a year x the campaigns: New Year sale, the
  autumn launch, Black Friday with its annual deals, gift subscriptions) with a region, an acquisition `channel`
  (web / app_store / partner (a mobile carrier's bundle) / retail), a `plan`, a `contract` (annual: 25 %, 40-55 %
  in the campaigns), a `payment_method` (card / paypal / direct_debit / carrier, mostly carrier for the partner's
  customers), 0-3 add-ons, a viewing level and a support-ticket rate.
* Every month on the signup's day of the month (a short month's last day instead) the customer is billed and a
  row is written: `tenure_months` (bills so far), `monthly_charges` (plan + 3.99 an add-on; annual contracts pay
  10 months for 12), `usage_hours` (viewing hours of the last 30 days: the customer's level x an AR(1) month to
  month x a season of +-2 %), `support_tickets` (Poisson; more in the first two months), `renewal_due` (an annual
  contract that ends before the next bill; peaks in late October, when Black Friday's annual contracts end).
* `churned`: Bernoulli of a logistic model: monthly contracts, new customers, tickets, higher charges, an annual
  contract at its renewal, card and paypal payments churn more; viewers, direct debit and partner customers less.
  A churned customer writes no further rows; 40 % of the annual customers who renew move to monthly billing.

Rows close in time are alike: a customer's plan, contract and payment persist and their viewing is autocorrelated
from bill to bill; a week's rows are the customers whose billing day falls in it.

Built-in episodes, weekly partitions (Monday to Sunday) against the reference window 2023-01-02 .. 2023-02-12
(six weeks, 1,776 rows, 8.3 % churned):

a) 2023-02-13 .. 2023-03-13 (five weeks), and 2023-04-03 .. 2023-04-24: quiet, the reference's regime. No
   monitored column drifts (largest scores: monthly_charges 0.08, support_tickets 0.09, against 0.1 / 0.15).
b) 2023-03-20 and 2023-03-27, concept drift: a rival's free offer (a regional fibre provider bundles a rival
   streaming service, 2023-03-20 .. 04-02) takes the east's heavy viewers (>= 30 hours), the customers the
   model calls safest: churn in the east 44.7 % and 40.3 % (elsewhere 8.5 %, 7.7 %), 17.0 % and 15.6 % overall.
   No feature changes: the east's share 23.5 % / 24.3 % (reference 24.8 %), mean viewing 48.1 / 50.5 h
   (reference 51.0), no monitored column drifts, and the multivariate test passes (AUC 0.49 / 0.47, threshold
   0.54; the price rise's 2023-05-01: 0.68). Only the model's error jumps.
c) 2023-05-01 .. 2023-05-28, a price rise (basic 7.99 -> 9.49, standard 12.99 -> 14.99, premium 17.99 -> 20.99):
   a monthly customer pays the new price from the first bill on or after 2023-05-01, an annual one from the
   renewal. At that first bill: billing queries (support tickets 0.93 and 1.00 a row, reference 0.38), bill
   shock (churn 23.9 %, 20.9 %, 19.8 %, 15.8 %, 11.9 % in the five weeks from 05-01), downgrades and dropped
   add-ons. monthly_charges and support_tickets drift (Wasserstein 0.24 / 0.78 on 05-01): data drift, and the
   positive rate more than doubles. From June only monthly_charges drifts (the new price list, 0.2-0.45, rising
   as annual contracts renew): no dataset drift, but for 2024-11-04 (support_tickets 0.17 by chance).
d) Seasons, left as the model makes them: renewal waves (late October / November), campaign signups (January,
   September, late November) who churn more in their first months; monthly churn 8-11 % outside May 2023
   (19.7 %): 2023-01 8.3 %, 03 10.3 %, 06 8.7 %, 11 11.4 %, 2024-03 8.6 %, 2024-12 10.4 %.

Checked with scikit-learn directly: LogisticRegression (C=1, no class weights; one-hot + scaling) fitted on the
reference, scored week by week. Walk-forward over the reference's weeks (each fitted on the weeks before): log
loss 0.259 0.196 0.201 0.187 0.274, mean 0.224, sd 0.040 (mean + 3 sd = 0.343); ROC AUC mean 0.810, sd 0.049
(mean - 3 sd = 0.661). Quiet weeks: log loss 0.19-0.28, AUC 0.76-0.85. Concept drift: log loss 0.445 and 0.529
(above 0.343), AUC 0.752 and 0.584 (only the second below 0.661). Price rise: log loss 0.500, 0.403, 0.355 (then
0.27), AUC 0.81-0.92 (the queries and charges rank the leavers well). Log loss sees both episodes; ROC AUC,
with about 25 churners a week, is too noisy to. With class_weight="balanced" the same model predicts 35 % churn
on average where 8 % churn: walk-forward log loss 0.517 +- 0.020 (bound 0.576), concept weeks 0.518 and 0.642,
price rise 0.580 and 0.558: the first concept week and most of the price rise go unseen.

Everything comes from one `numpy.random.default_rng(seed)`, so a given seed always writes the same file.
Usage: python data/generate_churn.py [--seed 20230102] [--out data/churn_snapshots.csv]
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_SEED = 20230102
DEFAULT_OUT = Path(__file__).resolve().parent / "churn_snapshots.csv"
BURN_IN = "2013-01-07"  # the service's history is simulated from here; rows are written from START
START, END = "2023-01-02", "2024-12-29"

# --- the customers ---
REGIONS = ("north", "south", "east", "west")
REGION_MIX = np.array([0.30, 0.25, 0.25, 0.20])
CHANNELS = ("web", "app_store", "partner", "retail")
CHANNEL_MIX = np.array([0.45, 0.25, 0.20, 0.10])
PLANS = ("basic", "standard", "premium")
PLAN_MIX = {"monthly": np.array([0.40, 0.44, 0.16]), "annual": np.array([0.25, 0.47, 0.28])}
PAYMENTS = ("card", "paypal", "direct_debit", "carrier")
PAYMENT_MIX = np.array([0.52, 0.22, 0.22, 0.04])  # web, app store and retail signups
PARTNER_CARRIER_SHARE = 0.8  # the mobile carrier's customers mostly pay on their phone bill
ANNUAL_SHARE = 0.25  # outside the campaigns
ADDON_MIX = np.array([0.62, 0.26, 0.09, 0.03])  # 0-3 add-ons (extra screens, sports pack)
USAGE_HOURS = 32.0  # median viewing hours in 30 days of a standard-plan customer
PLAN_USAGE = np.array([0.8, 1.0, 1.3])
USAGE_SPREAD, USAGE_PERSISTENCE, USAGE_MONTHLY_SD = 0.55, 0.7, 0.25  # between customers; month to month (log)
USAGE_SEASON = 0.02  # +2 % in mid-January, -2 % in mid-July
TICKET_RATE = 0.35  # support tickets in 30 days of an average customer (gamma between customers)

# --- prices (a month; annual contracts pay 10 months for 12) ---
PRICES_BEFORE = np.array([7.99, 12.99, 17.99])
PRICES_AFTER = np.array([9.49, 14.99, 20.99])
ADDON_PRICE = 3.99
ANNUAL_FACTOR = 10 / 12

# --- acquisitions: new customers a day, x a growth of 8 % a year, x the campaigns ---
NEW_PER_DAY = 3.7
GROWTH = 0.08
# (first day, last day as month-day, factor, annual share)
CAMPAIGNS = (
    ("01-02", "01-15", 1.5, 0.40),  # New Year sale
    ("09-01", "09-21", 1.4, ANNUAL_SHARE),  # the autumn season's launch
    ("11-20", "12-01", 2.6, 0.55),  # Black Friday: annual deals
    ("12-18", "12-31", 1.3, 0.45),  # gift subscriptions
)

# --- churn: the log-odds of cancelling before the next bill ---
BASE_LOGIT = -2.75
CONTRACT_LOGIT = {"monthly": 0.5, "annual": -1.8}
RENEWAL_LOGIT = 2.3  # an annual contract that ends before the next bill
RENEWAL_TO_MONTHLY = 0.4  # share of the annual customers who renew that switch to monthly billing
NEW_CUSTOMER_LOGIT = (0.8, 0.35)  # tenure 1-2 months, 3-6 months
USAGE_LOGIT = -1.2  # per log(usage / median): viewers stay
TICKET_LOGIT = 0.45  # per ticket
CHARGE_LOGIT = 0.07  # per currency unit above 13
PAYMENT_LOGIT = np.array([0.15, 0.25, -0.35, 0.0])
CHANNEL_LOGIT = np.array([0.0, 0.2, -0.3, -0.1])

# --- the episodes (see the module docstring) ---
COMPETITOR = ("2023-03-20", "2023-04-02")  # a rival's free offer in the east, for heavy viewers
COMPETITOR_REGION, COMPETITOR_MIN_HOURS, COMPETITOR_LOGIT = "east", 30.0, 4.0
PRICE_RISE = "2023-05-01"  # new price list: a monthly customer's next bill, an annual one's renewal
BILL_SHOCK_LOGIT = 1.1  # a monthly customer's first bill at the new price
DOWNGRADE = (0.0, 0.12, 0.14)  # chance a plan is stepped down at the first bill at the new price
ADDON_DROP = 0.15  # chance each add-on is dropped then
BILLING_QUERIES = (1.0, 0.1)  # extra tickets (Poisson means) at the first and second bill at the new price
ANNUAL_QUERIES = 0.15  # annual customers, whose price moves at their renewal, ask less
NEVER_OLD_PRICE = 10  # bills at the new price counted for those who sign up after the rise: no reaction

COLUMNS = [
    "customer_id", "snapshot_date", "region", "channel", "plan", "contract", "payment_method",
    "tenure_months", "monthly_charges", "usage_hours", "support_tickets", "renewal_due", "churned",
]  # fmt: skip
MAX_CUSTOMERS = 40_000


@dataclass
class Customers:
    """Every customer ever signed up, one array per attribute (index = customer number)."""

    signup: np.ndarray  # day number (days since BURN_IN)
    billing_day: np.ndarray  # day of the month of the bills (the signup's; a short month's last day instead)
    region: np.ndarray
    channel: np.ndarray
    plan: np.ndarray
    annual: np.ndarray  # bool
    payment: np.ndarray
    addons: np.ndarray
    usage_level: np.ndarray  # log hours
    usage_dev: np.ndarray  # the month-to-month AR(1) deviation (log)
    ticket_rate: np.ndarray
    new_price_bills: np.ndarray  # bills at the new price so far
    active: np.ndarray  # bool
    count: int = 0

    @classmethod
    def empty(cls) -> Customers:
        n = MAX_CUSTOMERS
        ints = ("signup", "billing_day", "region", "channel", "plan", "payment", "addons", "new_price_bills")
        floats = ("usage_level", "usage_dev", "ticket_rate")
        fields = {name: np.zeros(n, dtype=np.int64) for name in ints}
        fields |= {name: np.zeros(n) for name in floats}
        fields |= {name: np.zeros(n, dtype=bool) for name in ("annual", "active")}
        return cls(**fields)


def day_number(day: str) -> int:
    return (dt.date.fromisoformat(day) - dt.date.fromisoformat(BURN_IN)).days


def campaign(day: dt.date) -> tuple[float, float]:
    """The acquisition factor and the annual share of a day."""
    md = day.strftime("%m-%d")
    for first, last, factor, annual in CAMPAIGNS:
        if first <= md <= last:
            return factor, annual
    return 1.0, ANNUAL_SHARE


def sign_up(rng: np.random.Generator, c: Customers, today: int, day: dt.date) -> None:
    """The day's new customers (Poisson around the growing, seasonal rate)."""
    factor, annual_share = campaign(day)
    years = (today - day_number(START)) / 365.25
    n = int(rng.poisson(NEW_PER_DAY * factor * (1 + GROWTH) ** years))
    if n == 0:
        return
    idx = np.arange(c.count, c.count + n)
    c.count += n
    c.signup[idx] = today
    c.billing_day[idx] = day.day
    c.region[idx] = rng.choice(len(REGIONS), n, p=REGION_MIX)
    c.channel[idx] = rng.choice(len(CHANNELS), n, p=CHANNEL_MIX)
    c.annual[idx] = rng.random(n) < annual_share
    for is_annual, contract in ((False, "monthly"), (True, "annual")):
        sel = idx[c.annual[idx] == is_annual]
        c.plan[sel] = rng.choice(len(PLANS), len(sel), p=PLAN_MIX[contract])
    partner = c.channel[idx] == CHANNELS.index("partner")
    c.payment[idx] = rng.choice(len(PAYMENTS), n, p=PAYMENT_MIX)
    carrier = partner & (rng.random(n) < PARTNER_CARRIER_SHARE)
    c.payment[idx[carrier]] = PAYMENTS.index("carrier")
    c.addons[idx] = rng.choice(len(ADDON_MIX), n, p=ADDON_MIX)
    c.usage_level[idx] = np.log(USAGE_HOURS * PLAN_USAGE[c.plan[idx]]) + rng.normal(0, USAGE_SPREAD, n)
    c.usage_dev[idx] = rng.normal(0, USAGE_MONTHLY_SD, n)
    c.ticket_rate[idx] = rng.gamma(2.0, TICKET_RATE / 2.0, n)
    c.new_price_bills[idx] = NEVER_OLD_PRICE if today >= day_number(PRICE_RISE) else 0
    c.active[idx] = True


def months_between(first: int, today: int) -> np.ndarray:
    """Whole months (bills) since signup: bills fall on the same day of each month."""
    base = dt.date.fromisoformat(BURN_IN)
    now = base + dt.timedelta(days=today)
    firsts = [base + dt.timedelta(days=int(d)) for d in np.atleast_1d(first)]
    return np.array([(now.year - f.year) * 12 + now.month - f.month for f in firsts])


def charges(c: Customers, idx: np.ndarray, new_price: np.ndarray) -> np.ndarray:
    prices = np.where(new_price, PRICES_AFTER[c.plan[idx]], PRICES_BEFORE[c.plan[idx]])
    return (prices + ADDON_PRICE * c.addons[idx]) * np.where(c.annual[idx], ANNUAL_FACTOR, 1.0)


def price_rise(rng: np.random.Generator, c: Customers, idx: np.ndarray, today: int, tenure: np.ndarray):
    """Who pays the new prices on this bill, and the first bill's reaction: downgrades, dropped add-ons.
    Monthly customers from their first bill on or after the rise, annual ones from their renewal."""
    after = today >= day_number(PRICE_RISE)
    renewed = (tenure % 12 == 0) & (tenure > 0)
    moved = after & ((c.new_price_bills[idx] > 0) | ~c.annual[idx] | renewed)
    first = moved & (c.new_price_bills[idx] == 0)
    down = first & (rng.random(len(idx)) < np.array(DOWNGRADE)[c.plan[idx]])
    c.plan[idx[down]] -= 1
    dropped = rng.binomial(c.addons[idx], ADDON_DROP)
    c.addons[idx[first]] -= dropped[first]
    c.new_price_bills[idx[moved]] += 1
    return moved, c.new_price_bills[idx]


def usage(rng: np.random.Generator, c: Customers, idx: np.ndarray, day: dt.date) -> np.ndarray:
    """Viewing hours of the last 30 days: the customer's level, an AR(1) month to month, the season."""
    phi = USAGE_PERSISTENCE
    c.usage_dev[idx] = phi * c.usage_dev[idx] + rng.normal(
        0, USAGE_MONTHLY_SD * np.sqrt(1 - phi**2), len(idx)
    )
    season = 1 + USAGE_SEASON * np.cos(2 * np.pi * (day.timetuple().tm_yday - 15) / 365.25)
    return np.exp(c.usage_level[idx] + c.usage_dev[idx]) * season


def churn_logit(
    c: Customers, idx: np.ndarray, row: dict[str, np.ndarray], bills_new: np.ndarray, day: dt.date
):
    """The true log-odds of cancelling before the next bill."""
    tenure = row["tenure_months"]
    z = BASE_LOGIT + np.where(c.annual[idx], CONTRACT_LOGIT["annual"], CONTRACT_LOGIT["monthly"])
    z = z + RENEWAL_LOGIT * row["renewal_due"]
    z = z + NEW_CUSTOMER_LOGIT[0] * (tenure <= 2) + NEW_CUSTOMER_LOGIT[1] * ((tenure >= 3) & (tenure <= 6))
    z = z + USAGE_LOGIT * np.log(row["usage_hours"] / USAGE_HOURS)
    z = z + TICKET_LOGIT * row["support_tickets"] + CHARGE_LOGIT * (row["monthly_charges"] - 13.0)
    z = z + PAYMENT_LOGIT[c.payment[idx]] + CHANNEL_LOGIT[c.channel[idx]]
    z = z + BILL_SHOCK_LOGIT * ((bills_new == 1) & ~c.annual[idx])
    first, last = COMPETITOR
    if dt.date.fromisoformat(first) <= day <= dt.date.fromisoformat(last):
        targeted = (c.region[idx] == REGIONS.index(COMPETITOR_REGION)) & (
            row["usage_hours"] >= COMPETITOR_MIN_HOURS
        )
        z = z + COMPETITOR_LOGIT * targeted
    return z


def bill(rng: np.random.Generator, c: Customers, today: int, day: dt.date) -> dict[str, np.ndarray] | None:
    """The snapshot rows of the customers billed today (tenure >= 1), with whether they churn before the next
    bill; churned customers leave."""
    month_end = (day + dt.timedelta(days=1)).day == 1
    due = (c.billing_day[: c.count] == day.day) | (month_end & (c.billing_day[: c.count] > day.day))
    idx = np.flatnonzero(c.active[: c.count] & due & (c.signup[: c.count] < today))
    if len(idx) == 0:
        return None
    tenure = months_between(c.signup[idx], today)
    new_price, bills_new = price_rise(rng, c, idx, today, tenure)
    hours = usage(rng, c, idx, day)
    queries = np.where(bills_new == 1, BILLING_QUERIES[0], np.where(bills_new == 2, BILLING_QUERIES[1], 0.0))
    queries = queries * np.where(c.annual[idx], ANNUAL_QUERIES, 1.0)
    ticket_mean = c.ticket_rate[idx] * (1 + 0.8 * (tenure <= 2)) + queries
    row = {
        "tenure_months": tenure,
        "monthly_charges": charges(c, idx, new_price),
        "usage_hours": hours,
        "support_tickets": rng.poisson(ticket_mean),
        "renewal_due": (c.annual[idx] & (tenure % 12 == 11)).astype(int),
    }
    p = 1 / (1 + np.exp(-churn_logit(c, idx, row, bills_new, day)))
    churned = rng.random(len(idx)) < p
    c.active[idx[churned]] = False
    # Annual customers who stay past their renewal: some move to monthly billing.
    switch = idx[(row["renewal_due"] == 1) & ~churned & (rng.random(len(idx)) < RENEWAL_TO_MONTHLY)]
    c.annual[switch] = False
    return {"idx": idx, "day": np.full(len(idx), day.isoformat()), **row, "churned": churned.astype(int),
            "plan": c.plan[idx].copy(), "annual": c.annual[idx].copy()}  # fmt: skip


def to_frame(c: Customers, parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    idx = cols["idx"]
    return pd.DataFrame({
        "customer_id": [f"C{i + 1:06d}" for i in idx],
        "snapshot_date": cols["day"],
        "region": np.array(REGIONS)[c.region[idx]],
        "channel": np.array(CHANNELS)[c.channel[idx]],
        "plan": np.array(PLANS)[cols["plan"]],
        "contract": np.where(cols["annual"], "annual", "monthly"),
        "payment_method": np.array(PAYMENTS)[c.payment[idx]],
        "tenure_months": cols["tenure_months"],
        "monthly_charges": cols["monthly_charges"].round(2),
        "usage_hours": cols["usage_hours"].round(1),
        "support_tickets": cols["support_tickets"],
        "renewal_due": cols["renewal_due"],
        "churned": cols["churned"],
    })[COLUMNS]  # fmt: skip


def generate(seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The full synthetic table, rows by snapshot date then customer id."""
    rng = np.random.default_rng(seed)
    c = Customers.empty()
    parts = []
    first_row_day, last_day = day_number(START), day_number(END)
    base = dt.date.fromisoformat(BURN_IN)
    for today in range(last_day + 1):
        day = base + dt.timedelta(days=today)
        rows = bill(rng, c, today, day)
        if rows is not None and today >= first_row_day:
            parts.append(rows)
        sign_up(rng, c, today, day)
    return (
        to_frame(c, parts).sort_values(["snapshot_date", "customer_id"], kind="stable").reset_index(drop=True)
    )


def main() -> None:
    from sample_cli import write_sample  # data/, beside this file (run as `python data/<this file>`)

    write_sample(generate, DEFAULT_SEED, DEFAULT_OUT, __doc__)


if __name__ == "__main__":
    main()
