"""Generate `paylater_orders.csv` and `paylater_labels.csv`: pay-in-3 orders of a buy-now-pay-later provider, and,
in a file of their own, whether each order's first instalment went unpaid: its label comes six weeks later.

One row per order split into three monthly instalments, from 2024-01-01 to 2025-04-27: 69 Monday weeks, 407-971
orders a week (median 560; ~545 outside the episode and the Christmas season), 40,130 rows. The label `defaulted`
(0/1): the first instalment, due 28 days after the purchase, is still unpaid 14 days later, so a week's labels are
all known six weeks after it ends (the monitor's `label_delay`); 10.1 % of all orders, 9.6 % in the reference
window. The orders are simulated week by week from 2023-07-03 so that the customer base is settled; the columns:

* `order_id` (the key), `customer_id` (not a feature), `purchased_at`.
* A week's orders (Poisson around 520 x 12 % growth a year x the season) come 55 % from customers who bought in
  the last 20 weeks and have never defaulted, 45 % from first-time customers. A customer keeps a soft credit
  check's `bureau_score` (normal around 690, sd 55; it moves a little from order to order), a preferred
  `channel` (app 55 % / web) and a favourite category; `prior_orders` and `prior_late_payments` (instalments paid
  late, but paid) are their history with the provider at the purchase.
* `merchant_category` (fashion, electronics, home, beauty, sports): the favourite 60 % of the time, else the
  week's mix (an AR(1) of log weights week to week); `order_amount` log-normal around the category's median
  (45 beauty .. 320 electronics).
* `defaulted`: Bernoulli of a logistic model, linear in what the checkout sees (the platform's LogisticRegression
  can be right): a lower score, earlier late payments, fewer earlier orders, a larger amount, electronics and the
  web channel default more. It is the same every week (P(y | x) holds) except in episode c.

Rows close in time are alike: returning customers keep their score, channel and favourite category, and the
category mix moves slowly from week to week.

Built-in episodes, weekly partitions (Monday to Sunday) against the reference window 2024-01-08 .. 2024-04-28
(16 weeks, 8,407 orders, 9.6 % default); first monitored week 2024-04-29:

a) Quiet: 2024-04-29 .. 2024-09-08, 2024-10-21 .. 2025-02-02 (Black Friday and Christmas included: volume x1.7
   and x1.35, electronics weighted x1.5 and x1.2) and 2025-02-17 .. 2025-04-21: 44 weeks.
b) 2024-09-09 .. 2024-10-20, COVARIATE SHIFT: a games retailer joins the checkout with a console launch. Its orders
   (6 %, 22 %, 34 %, 30 %, 18 %, 8 % of the week's, on top of the usual ones) are first-time customers with thin
   credit files (score ~645), consoles around 520 on the web: electronics 31-41 % of the orders from 2024-09-16 to
   10-07 (reference 13 %), default 15-18 % (the launch buyers' own ~35 %). The relation holds: the model is right
   about them, only less sure, so the log loss it will get rises, and CBPE sees that from the probabilities alone.
c) 2025-02-03 .. 2025-02-16, CONCEPT DRIFT: account takeover (credential stuffing). Fraudsters order on 7 % of the
   week's volume from taken-over accounts of returning customers, in those customers' usual categories and
   amounts: the features do not move (on 2025-02-03 no column drifts and the multivariate test passes), but 90 %
   of these orders are never paid (the owner disputes them): default 14 % and 16 %, on customers the model calls
   safest.

What the monitor sees (data/paylater.yaml, drift_platform/defs/monitors/paylater/defs.yaml): scripts/
estimation_limits.py runs the platform's core functions (the first model, LogisticRegression C=0.1 trained on
the reference; CBPE fitted on the reference with its probabilities; the bound of `no_model_degradation`, mean
0.277 + 3 x sd 0.022 of its 15 walk-forward weeks = 0.343) and prints per week the log loss estimated from the
orders and the realized one from the labels; drift_platform_tests/test_sample_data.py checks the figures:

* quiet weeks: estimated 0.257-0.288, realized 0.199-0.321: neither fails (the band holds the realized value in
  95.5 % of them);
* the launch: estimated 0.351, 0.382, 0.375, 0.348 on 2024-09-16 .. 10-07, above the bound when each week's
  orders land; realized 0.366, 0.385, 0.381, 0.347 and 0.353 (10-14) when the labels land six weeks later;
* the takeover: estimated 0.283 and 0.284 (a quiet week's), realized 0.377 and 0.458: only the labels see it.

How typical that is (the 20 seeds 20240104-20240123, `estimation_limits.py --seeds 20`): the estimate's false
alarms in the 44 quiet weeks, 0 of 880 (the labels', 9 of 880); the launch flagged by the estimate in all 20
seeds (1-4 weeks), confirmed by the labels in 18 (in two their noise keeps every week below the bound); the lead
of the estimate over the labels 6 weeks in 13 of those 18, 7 in 2, 5 in 3 (the labels' noise crossed a week
before the estimate did); the takeover missed by the estimate in all 20, failed by the labels in all 20. The
shipped seed (20240104) flags the launch from its second week, as 5 of the 20 do, with no false alarm.

Everything comes from one `numpy.random.default_rng(seed)`, so a given seed always writes the same files.
Usage: python data/generate_paylater.py [--seed 20240104] [--out data/paylater_orders.csv]
       [--labels-out data/paylater_labels.csv]
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_SEED = 20240104
HERE = Path(__file__).resolve().parent
DEFAULT_OUT, DEFAULT_LABELS_OUT = HERE / "paylater_orders.csv", HERE / "paylater_labels.csv"
BURN_IN = "2023-07-03"  # orders are simulated from here (the customer base builds up); rows written from START
START, END = "2024-01-01", "2025-04-27"  # Monday 2024-01-01 to Sunday 2025-04-27: 69 weeks
REFERENCE = ("2024-01-08", "2024-04-28")  # the monitor's reference window (data/paylater.yaml)

# --- volume: orders a week, x a growth of 12 % a year, x the season ---
ORDERS_PER_WEEK = 520
GROWTH = 0.12
DAY_WEIGHTS = np.array([1.0, 0.95, 0.95, 1.0, 1.1, 1.25, 1.2])  # Monday .. Sunday
RETURNING_SHARE = 0.55  # orders from customers who bought before (in the last RECENT_WEEKS weeks)
RECENT_WEEKS = 20

# --- the orders ---
CATEGORIES = ("fashion", "electronics", "home", "beauty", "sports")
CATEGORY_MIX = np.array([0.38, 0.14, 0.20, 0.16, 0.12])
AMOUNT_MEDIAN = np.array([85.0, 320.0, 170.0, 45.0, 110.0])  # by category; log-normal
AMOUNT_SPREAD = 0.45
MIX_PERSISTENCE, MIX_WEEKLY_SD = 0.8, 0.08  # week-to-week AR(1) of the categories' log weights
CHANNELS = ("app", "web")
APP_SHARE = 0.55
LOYAL = 0.6  # a returning customer buys in their favourite category with this chance, else by the week's mix
BUREAU_MEAN, BUREAU_SD = 690.0, 55.0  # the soft credit check's score (300-850) of a new customer
BUREAU_MONTHLY_SD = 6.0  # a returning customer's score moves a little from order to order

# --- the first instalment unpaid (a default): log-odds, linear in what the checkout sees ---
BASE_LOGIT = -2.75
BUREAU_LOGIT = -0.016  # per point above 690
LATE_LOGIT = 0.5  # per instalment paid late before
ORDERS_LOGIT = -0.12  # per earlier order (capped at 12)
AMOUNT_LOGIT = 0.002  # per currency unit above 150
CATEGORY_LOGIT = np.array([0.1, 0.45, 0.0, -0.2, 0.0])
WEB_LOGIT = 0.2
LATE_PAYMENT_LOGIT = 1.6  # a paid order's instalments were late: the default log-odds + this

# --- the season: (first month-day, last month-day, volume factor, electronics weight factor) ---
SEASON = (
    ("11-20", "12-02", 1.7, 1.5),  # Black Friday
    ("12-03", "12-22", 1.35, 1.2),  # Christmas shopping
    ("12-23", "01-05", 0.8, 1.0),  # the holidays
    ("07-15", "08-25", 0.9, 1.0),  # summer
)

# --- episode 1, covariate shift: a games retailer joins the checkout with a console launch ---
LAUNCH = "2024-09-09"
LAUNCH_SHARE = (0.06, 0.22, 0.34, 0.30, 0.18, 0.08)  # its orders' share of the week's, week by week from LAUNCH
LAUNCH_AMOUNT = 520.0  # a console bundle
LAUNCH_BUREAU = (645.0, 40.0)  # first-time buyers with thin credit files
LAUNCH_WEB = 0.8

# --- episode 2, concept drift: account takeover (credential stuffing) ---
TAKEOVER = ("2025-02-03", "2025-02-16")
TAKEOVER_SHARE = 0.07  # of the week's orders: placed on taken-over accounts of returning customers
TAKEOVER_DEFAULT = 0.9  # the owner disputes the order: the first instalment is never paid

COLUMNS = [
    "order_id", "customer_id", "purchased_at", "merchant_category", "channel", "order_amount", "bureau_score",
    "prior_orders", "prior_late_payments",
]  # fmt: skip
TARGET = "defaulted"


class Customers:
    """Every customer so far, one list per attribute (index = customer number)."""

    def __init__(self) -> None:
        self.bureau: list[float] = []
        self.orders: list[int] = []
        self.late: list[int] = []
        self.app: list[bool] = []
        self.favourite: list[int] = []
        self.last_week: list[int] = []
        self.active: list[bool] = []

    def add(self, bureau: np.ndarray, app: np.ndarray, favourite: np.ndarray, week: int) -> np.ndarray:
        first = len(self.bureau)
        self.bureau += bureau.tolist()
        self.orders += [0] * len(bureau)
        self.late += [0] * len(bureau)
        self.app += app.tolist()
        self.favourite += favourite.tolist()
        self.last_week += [week] * len(bureau)
        self.active += [True] * len(bureau)
        return np.arange(first, first + len(bureau))

    def recent(self, week: int) -> np.ndarray:
        last, active = np.array(self.last_week), np.array(self.active, dtype=bool)
        return np.flatnonzero(active & (last >= week - RECENT_WEEKS)) if len(last) else np.array([], dtype=int)


def season(day: dt.date) -> tuple[float, float]:
    """The volume factor and the electronics weight factor of a week starting on `day`."""
    md = day.strftime("%m-%d")
    for first, last, volume, electronics in SEASON:
        inside = first <= md <= last if first <= last else (md >= first or md <= last)
        if inside:
            return volume, electronics
    return 1.0, 1.0


def launch_share(day: dt.date) -> float:
    weeks = (day - dt.date.fromisoformat(LAUNCH)).days // 7
    return LAUNCH_SHARE[weeks] if 0 <= weeks < len(LAUNCH_SHARE) else 0.0


def in_takeover(day: dt.date) -> bool:
    return dt.date.fromisoformat(TAKEOVER[0]) <= day <= dt.date.fromisoformat(TAKEOVER[1])


def default_logit(rows: dict[str, np.ndarray]) -> np.ndarray:
    """The true log-odds that an order's first instalment goes unpaid: the same every week (P(y | x) holds)."""
    return (BASE_LOGIT + BUREAU_LOGIT * (rows["bureau"] - BUREAU_MEAN) + LATE_LOGIT * rows["late"]
            + ORDERS_LOGIT * np.minimum(rows["orders"], 12) + AMOUNT_LOGIT * (rows["amount"] - 150.0)
            + CATEGORY_LOGIT[rows["category"]] + WEB_LOGIT * (1 - rows["app"]))  # fmt: skip


def new_customers(rng, c: Customers, n: int, week: int, bureau: tuple[float, float], web: float | None):
    """`n` first-time customers: a score, a preferred channel, a favourite category."""
    score = np.clip(rng.normal(bureau[0], bureau[1], n), 300, 850)
    app = rng.random(n) < (APP_SHARE if web is None else 1 - web)
    return c.add(score, app, rng.choice(len(CATEGORIES), n, p=CATEGORY_MIX), week)


def order_rows(rng, c: Customers, who: np.ndarray, mix: np.ndarray) -> dict[str, np.ndarray]:
    """The orders of the customers `who` (one each): their own history, this order's category and amount."""
    n = len(who)
    favourite = np.array(c.favourite, dtype=int)[who]
    category = np.where(rng.random(n) < LOYAL, favourite, rng.choice(len(CATEGORIES), n, p=mix))
    app = np.array(c.app, dtype=bool)[who]
    app = np.where(rng.random(n) < 0.9, app, ~app)
    return {
        "customer": who, "category": category, "app": app.astype(int),
        "amount": np.exp(np.log(AMOUNT_MEDIAN[category]) + rng.normal(0, AMOUNT_SPREAD, n)),
        "bureau": np.array(c.bureau)[who], "orders": np.array(c.orders, dtype=int)[who],
        "late": np.array(c.late, dtype=int)[who],
    }  # fmt: skip


def week_of_orders(rng, c: Customers, week: int, monday: dt.date, state: dict) -> dict[str, np.ndarray]:
    """One week's orders: returning and new customers, the games retailer's launch buyers, the takeover's
    orders; then each order's outcome, and the customers' histories move on."""
    phi = MIX_PERSISTENCE
    state["mix_dev"] = phi * state["mix_dev"] + rng.normal(0, MIX_WEEKLY_SD * np.sqrt(1 - phi**2), len(CATEGORIES))
    volume, electronics = season(monday)
    weights = CATEGORY_MIX * np.exp(state["mix_dev"]) * np.where(np.arange(len(CATEGORIES)) == 1, electronics, 1.0)
    mix = weights / weights.sum()
    years = (monday - dt.date.fromisoformat(START)).days / 365.25
    n = int(rng.poisson(ORDERS_PER_WEEK * volume * (1 + GROWTH) ** years))
    pool = c.recent(week)
    n_back = min(int(rng.binomial(n, RETURNING_SHARE)), len(pool))
    back = rng.choice(pool, n_back, replace=False) if n_back else np.array([], dtype=int)
    for i in back:  # a returning customer's score moves a little between orders
        c.bureau[i] = float(np.clip(c.bureau[i] + rng.normal(0, BUREAU_MONTHLY_SD), 300, 850))
    fresh = new_customers(rng, c, n - n_back, week, (BUREAU_MEAN, BUREAU_SD), None)
    rows = order_rows(rng, c, np.concatenate([back, fresh]).astype(int), mix)
    share = launch_share(monday)
    n_launch = int(rng.poisson(n * share / (1 - share))) if share else 0
    if n_launch:
        buyers = new_customers(rng, c, n_launch, week, LAUNCH_BUREAU, LAUNCH_WEB)
        launch = order_rows(rng, c, buyers, mix)
        launch["category"][:] = CATEGORIES.index("electronics")
        launch["amount"] = np.exp(np.log(LAUNCH_AMOUNT) + rng.normal(0, 0.12, n_launch))
        rows = {k: np.concatenate([rows[k], launch[k]]) for k in rows}
    p = 1 / (1 + np.exp(-default_logit(rows)))
    rows["taken_over"] = np.zeros(len(p), dtype=bool)
    if in_takeover(monday) and n_back:  # the fraudsters' orders look like the hijacked customers' own
        hijacked = rng.choice(back, int(rng.poisson(n * TAKEOVER_SHARE)), replace=True)
        fraud = order_rows(rng, c, hijacked, mix)
        rows = {k: np.concatenate([rows[k], fraud[k]]) for k in fraud} | {
            "taken_over": np.r_[rows["taken_over"], np.ones(len(hijacked), dtype=bool)]}
        p = np.r_[p, np.full(len(hijacked), TAKEOVER_DEFAULT)]
    rows["defaulted"] = (rng.random(len(p)) < p).astype(int)
    settle(rng, c, rows, week)
    day = rng.choice(7, len(p), p=DAY_WEIGHTS / DAY_WEIGHTS.sum())
    seconds = (np.clip(rng.normal(15.0, 4.5, len(p)), 0, 23.99) * 3600).astype(np.int64)
    rows["purchased_at"] = np.datetime64(monday) + day.astype("timedelta64[D]") + seconds.astype("timedelta64[s]")
    return rows


def settle(rng, c: Customers, rows: dict[str, np.ndarray], week: int) -> None:
    """After the week: a customer who defaulted buys no more; the others' orders (and late instalments) count."""
    late = rng.random(len(rows["customer"])) < 1 / (1 + np.exp(-(default_logit(rows) + LATE_PAYMENT_LOGIT)))
    for who, bad, fraud, was_late in zip(rows["customer"], rows["defaulted"], rows["taken_over"], late, strict=True):
        c.last_week[who] = week
        if fraud:
            continue  # the owner's account is restored; the fraud is not their history
        if bad:
            c.active[who] = False
            continue
        c.orders[who] += 1
        c.late[who] += int(was_late)


def generate(seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Every order from START to END with its label, rows by purchase time (order ids in that order)."""
    rng = np.random.default_rng(seed)
    c, state = Customers(), {"mix_dev": np.zeros(len(CATEGORIES))}
    weeks = []
    monday, last, start = (dt.date.fromisoformat(d) for d in (BURN_IN, END, START))
    week = 0
    while monday <= last:
        rows = week_of_orders(rng, c, week, monday, state)
        if monday >= start:
            weeks.append(rows)
        monday += dt.timedelta(days=7)
        week += 1
    rows = {k: np.concatenate([w[k] for w in weeks]) for k in weeks[0]}
    order = np.argsort(rows["purchased_at"], kind="stable")
    rows = {k: v[order] for k, v in rows.items()}
    return pd.DataFrame({
        "order_id": [f"O{i + 1:07d}" for i in range(len(order))],
        "customer_id": [f"K{i + 1:06d}" for i in rows["customer"]],
        "purchased_at": pd.to_datetime(rows["purchased_at"]).strftime("%Y-%m-%d %H:%M:%S"),
        "merchant_category": np.array(CATEGORIES)[rows["category"]],
        "channel": np.where(rows["app"] == 1, "app", "web"),
        "order_amount": rows["amount"].round(2),
        "bureau_score": rows["bureau"].round().astype(int),
        "prior_orders": rows["orders"],
        "prior_late_payments": rows["late"],
        TARGET: rows["defaulted"],
    })  # fmt: skip


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The orders file (no label: the checkout does not know it) and the labels file (key, time, label)."""
    return frame[COLUMNS], frame[["order_id", "purchased_at", TARGET]]


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="orders CSV (default: %(default)s)")
    parser.add_argument("--labels-out", type=Path, default=DEFAULT_LABELS_OUT, help="labels CSV (default: %(default)s)")
    args = parser.parse_args()
    orders, labels = split(generate(args.seed))
    for frame, out in ((orders, args.out), (labels, args.labels_out)):
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False, lineterminator="\n")
        print(f"wrote {len(frame)} rows to {out} (seed {args.seed})")


if __name__ == "__main__":
    main()
