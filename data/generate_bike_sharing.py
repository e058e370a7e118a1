"""Generate `bike_sharing_day.csv`, a synthetic stand-in for the UCI Bike Sharing daily table (day.csv).

One row per day from 2011-01-01 to 2012-12-31 (731 rows), with exactly the UCI columns and encodings:
season 1-4 (winter .. fall, split at the solstices/equinoxes), yr 0/1, weekday 0-6 with 0 = Sunday,
holiday = observed US federal holidays, workingday = neither weekend nor holiday.

The model, in the order the columns are drawn:

* weathersit: a three-state Markov chain (1 clear, 2 mist, 3 light rain/snow) whose transition matrix
  leans towards bad weather in winter and towards clear skies in summer.
* temp (degrees C / 41): a seasonal cosine (about 0.2 in January, 0.75 in July) plus AR(1) day-to-day
  noise that is larger in winter; bad weather days are a little cooler. atemp ~ 0.9 * temp + 0.05 + noise.
* hum: seasonal (drier in winter, muggier and more variable in summer) with AR(1) persistence,
  plus a bump on misty and rainy days. windspeed: gamma distributed (right-skewed) around a seasonal
  mean that is highest in late winter/spring and lowest in summer, a little windier in bad weather.
* demand: registered users commute on working days, casual users ride on weekends and holidays and
  react more strongly to warmth. Both fall off in bad weather and in very humid or windy conditions;
  2012 is about 1.6 times 2011. Counts are negative-binomial around that mean; cnt = casual + registered.

Everything comes from one `numpy.random.default_rng(seed)`, so a given seed always writes the same file.
Usage: python data/generate_bike_sharing.py [--seed 20110101] [--out data/bike_sharing_day.csv]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_SEED = 20110101
DEFAULT_OUT = Path(__file__).resolve().parent / "bike_sharing_day.csv"
START, END = "2011-01-01", "2012-12-31"
COLDEST_DAY = 20  # day of year with the lowest mean temperature; the seasonal cycles are phased to it
# Observed US federal holidays (a holiday on a Saturday is observed on Friday, on a Sunday on Monday);
# New Year 2011 fell on a Saturday and was observed on 2010-12-31, outside the range.
HOLIDAYS = (
    "2011-01-17", "2011-02-21", "2011-05-30", "2011-07-04", "2011-09-05", "2011-10-10", "2011-11-11",
    "2011-11-24", "2011-12-26", "2012-01-02", "2012-01-16", "2012-02-20", "2012-05-28", "2012-07-04",
    "2012-09-03", "2012-10-08", "2012-11-12", "2012-11-22", "2012-12-25",
)  # fmt: skip
# Base transition matrix between weathersit states 1, 2, 3 (rows: today, columns: tomorrow).
WEATHER_TRANSITIONS = np.array([[0.74, 0.24, 0.02], [0.42, 0.52, 0.06], [0.45, 0.45, 0.10]])
COLUMNS = [
    "instant", "dteday", "season", "yr", "mnth", "holiday", "weekday", "workingday", "weathersit",
    "temp", "atemp", "hum", "windspeed", "casual", "registered", "cnt",
]  # fmt: skip
Pair = tuple[np.ndarray, np.ndarray]


def seasonal_cos(day_of_year: np.ndarray, peak_day: float) -> np.ndarray:
    """A yearly cosine that is 1 on `peak_day` and -1 half a year later."""
    return np.cos(2 * np.pi * (day_of_year - peak_day) / 365.25)


def ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """Stationary AR(1) series with unit marginal variance."""
    shocks = rng.standard_normal(n) * np.sqrt(1 - phi**2)
    out = np.empty(n)
    out[0] = rng.standard_normal()
    for i in range(1, n):
        out[i] = phi * out[i - 1] + shocks[i]
    return out


def calendar(start: str, end: str) -> pd.DataFrame:
    """Calendar columns with the UCI encodings."""
    dates = pd.date_range(start, end, freq="D")
    md = dates.month * 100 + dates.day
    season = np.select([md < 321, md < 621, md < 923, md < 1221], [1, 2, 3, 4], default=1)
    weekday = (dates.dayofweek + 1) % 7  # pandas: Monday = 0; UCI: Sunday = 0
    holiday = dates.isin(pd.to_datetime(HOLIDAYS)).astype(int)
    return pd.DataFrame({
        "instant": np.arange(1, len(dates) + 1),
        "dteday": dates.strftime("%Y-%m-%d"),
        "season": season,
        "yr": dates.year - dates.year[0],
        "mnth": dates.month,
        "holiday": holiday,
        "weekday": weekday,
        "workingday": ((weekday >= 1) & (weekday <= 5) & (holiday == 0)).astype(int),
    })  # fmt: skip


def weather_states(rng: np.random.Generator, day_of_year: np.ndarray) -> np.ndarray:
    """Markov chain over weathersit 1-3; mist and rain are likelier in winter than in summer."""
    states = np.empty(len(day_of_year), dtype=int)
    states[0] = 2
    for i in range(1, len(day_of_year)):
        tilt = 1 + 0.3 * seasonal_cos(day_of_year[i], peak_day=COLDEST_DAY)
        probs = WEATHER_TRANSITIONS[states[i - 1] - 1] * np.array([1.0, tilt, tilt])
        states[i] = rng.choice(3, p=probs / probs.sum()) + 1
    return states


def temperatures(rng: np.random.Generator, day_of_year: np.ndarray, weather: np.ndarray) -> Pair:
    """temp (t / 41 C) and the 'feels like' atemp, both in [0, 1]."""
    cold = seasonal_cos(day_of_year, peak_day=COLDEST_DAY)  # 1 in late January, -1 in late July
    mean = 0.475 - 0.275 * cold
    spread = 0.075 + 0.03 * cold
    temp = mean + spread * ar1(rng, len(day_of_year), phi=0.75) - 0.015 * (weather - 1)
    temp = np.clip(temp, 0.02, 0.98)
    atemp = np.clip(0.9 * temp + 0.05 + rng.normal(0, 0.015, len(temp)), 0, 1)
    return temp, atemp


def humidity_and_wind(rng: np.random.Generator, day_of_year: np.ndarray, weather: np.ndarray) -> Pair:
    """Relative humidity and wind speed, both normalised to [0, 1]."""
    n = len(day_of_year)
    warm = -seasonal_cos(day_of_year, peak_day=COLDEST_DAY)  # -1 in late January, 1 in late July
    hum_mean = 0.56 + 0.08 * warm + np.array([0.0, 0.08, 0.2])[weather - 1]
    hum_spread = 0.09 + 0.03 * warm
    hum = np.clip(hum_mean + hum_spread * ar1(rng, n, phi=0.5), 0, 1)
    wind_mean = 0.19 + 0.035 * seasonal_cos(day_of_year, peak_day=60) + 0.02 * (weather > 1)
    shape = 7.0
    wind = np.clip(rng.gamma(shape, wind_mean / shape), 0, 1)
    return hum, wind


def demand(rng: np.random.Generator, df: pd.DataFrame) -> Pair:
    """Casual and registered rider counts (negative binomial around a multiplicative mean)."""
    comfort = np.exp(-(((df["temp"] - 0.7) / 0.35) ** 2))  # best around 29 C
    conditions = (
        np.array([1.0, 0.88, 0.4])[df["weathersit"] - 1]
        * (1 - 1.5 * np.clip(df["hum"] - 0.8, 0, None))
        * (1 - 1.5 * np.clip(df["windspeed"] - 0.3, 0, None))
    ).to_numpy()
    growth = np.where(df["yr"] == 1, 1.6, 1.0)
    off_day = 1 - df["workingday"].to_numpy()
    registered_mu = 4000 * growth * conditions * (0.55 + 0.45 * comfort) * np.where(off_day, 0.75, 1.0)
    casual_mu = 820 * growth * conditions * (0.12 + 0.88 * comfort**1.5) * np.where(off_day, 2.2, 1.0)
    return negative_binomial(rng, casual_mu, 40.0), negative_binomial(rng, registered_mu, 150.0)


def negative_binomial(rng: np.random.Generator, mean: np.ndarray, dispersion: float) -> np.ndarray:
    """Negative-binomial counts with the given means; variance = mean + mean^2 / dispersion."""
    return rng.negative_binomial(dispersion, dispersion / (dispersion + np.asarray(mean, dtype=float)))


def generate(seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The full synthetic table, with the UCI column order."""
    rng = np.random.default_rng(seed)
    df = calendar(START, END)
    day_of_year = pd.to_datetime(df["dteday"]).dt.dayofyear.to_numpy()
    df["weathersit"] = weather_states(rng, day_of_year)
    df["temp"], df["atemp"] = temperatures(rng, day_of_year, df["weathersit"].to_numpy())
    df["hum"], df["windspeed"] = humidity_and_wind(rng, day_of_year, df["weathersit"].to_numpy())
    for col in ("temp", "atemp", "hum", "windspeed"):
        df[col] = df[col].round(6)
    df["casual"], df["registered"] = demand(rng, df)
    df["cnt"] = df["casual"] + df["registered"]
    return df[COLUMNS]


def main() -> None:
    from sample_cli import write_sample  # data/, beside this file (run as `python data/<this file>`)

    write_sample(generate, DEFAULT_SEED, DEFAULT_OUT, __doc__)


if __name__ == "__main__":
    main()
