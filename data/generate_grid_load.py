"""Generate `grid_load_hourly.csv`, a synthetic hourly electricity demand table of a city grid.

One row per hour from 2011-01-01 00:00 to 2012-12-31 23:00 (17,544 rows; clock hours without daylight
saving, timestamps written as `YYYY-MM-DD HH:MM:SS`). The city is a mid-latitude (48 N) inland one: cold,
grey winters with some snow, warm summers. The columns, in the order they are drawn:

* timestamp, hour (0-23), day_type: workday / saturday / sunday / holiday (fixed-date public holidays:
  New Year's Day, Labour Day, Assumption Day, All Saints' Day, Christmas Day and St Stephen's Day).
* weather: clear / cloudy / rain / snow / fog, an hourly Markov chain. Each hour keeps the previous hour's
  state with probability WEATHER_PERSISTENCE and otherwise redraws it from a target mix that depends on the
  season (cloudier, with snow and fog, in winter; clearer in summer; snow only from November to March) and on
  the time of day (clear nights, fog around dawn, clouds and showers in the afternoon). A state lasts 3.4
  hours on average, and an ordinary day still sees several of them.
* temperature_c: a seasonal cosine (about -2 C in late January, 21 C in late July) + a slow AR(1) anomaly
  (weather systems that last days) + a daily cycle peaking at 15:00, flattened by clouds + a small offset per
  weather state + noise.
* humidity (% RH, 10-100): damper in winter, lowest in the afternoon, higher in rain, snow and fog, lower
  under clear skies. wind_speed (m/s, >= 0): gamma distributed around a mean that is highest in early March
  and in the afternoon and depends a little on the weather. solar_irradiance (W/m2): the clear-sky value from
  the sun's elevation at 48 N (0 at night, about 300 at a January noon, 870 at a July noon), dimmed by the
  weather state.
* load_mw (the target): base load x an hourly profile of the day type (night trough, morning ramp, evening
  peak; Saturdays, Sundays and holidays lower) + electric heating (16 MW per degree below 15 C) + air
  conditioning (32 MW per degree above 22 C), with about 2 % autocorrelated multiplicative noise; always > 0.
* meter_id: the id of the feeder meter the load is read from, constant except for a meter replacement on
  2012-04-01. Not a feature (the spec ignores it): the new id would otherwise look like drift.

Why the weather looks like this: the platform tests ONE DAY (24 rows) against the reference window
(2011-01-01 .. 2011-01-28, 672 rows), K-S on the numerical columns and chi-square on `weather`. A day passes
only if its 24 values spread over the month's range, so within-day variation (the daily cycles, hourly noise)
is kept large next to day-to-day variation (the slow temperature anomaly is about 0.7 C). Hourly weather
persists, so its chi-square still flags about 4 ordinary winter days in 10; on most of them it is the only
drifted column of five, below the 0.5 drift share. Late February already drifts a little in temperature
(spring is coming): seasonal drift, as real data would show.

Built-in episodes, which the platform's demo shows (daily partitions from 2011-01-31):

a) 2011-02-01 .. 2011-02-06, quiet days: left as the model makes them, in the reference's winter regime.
   At most one of the five drift columns drifts on a day: no dataset drift.
b) 2011-02-08, a sensor fault in a storm: a winter gale (wind 3.5x its usual mean) with rain all day floods
   the humidity sensor, which reads a constant 0.0 all day. Humidity, wind speed and weather drift: data
   drift. (A stuck sensor alone would be one column of five, below the 0.5 drift share.)
c) 2011-07-18 .. 2011-07-22, a heat wave: a blocking high, clear skies all day, +9 C on top of July (ramping
   up over 07-17 and down over 07-23), drier and calmer air. All five columns are far from January's: data
   drift; the load jumps by about a quarter with air conditioning.
d) 2011-03-15, concept drift: a large industrial customer is offline all day, so load_mw is 45 % lower at the
   same weather. An ordinary mid-March day would drift by itself (warmer, more and stronger sunshine), so the
   day sits in a late cold, grey spell (full on 2011-03-13 .. 03-17, ramping over 03-12 and 03-18):
   temperatures and the weather mix back to January's, and a high overcast that dims the March sun to about
   January levels. The features stay in the reference's distribution; only the model's error jumps.

Everything comes from one `numpy.random.default_rng(seed)`, so a given seed always writes the same file.
Usage: python data/generate_grid_load.py [--seed 20110201] [--out data/grid_load_hourly.csv]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_SEED = 20110201
DEFAULT_OUT = Path(__file__).resolve().parent / "grid_load_hourly.csv"
START, END = "2011-01-01 00:00", "2012-12-31 23:00"
COLDEST_DAY = 20  # day of year with the lowest mean temperature; the seasonal cycles are phased to it
LATITUDE = 48.0  # degrees north, for the sun's elevation
# Fixed-date public holidays (month, day).
HOLIDAYS = ((1, 1), (5, 1), (8, 15), (11, 1), (12, 25), (12, 26))

# --- the episodes (see the module docstring) ---
SENSOR_FAULT_DAY = "2011-02-08"  # storm; the humidity sensor reads 0.0 all day
HEAT_WAVE = ("2011-07-18", "2011-07-22")  # full strength; ramps over the day before and the day after
HEAT_WAVE_EXCESS_C = 9.0
CUSTOMER_OFFLINE_DAY = "2011-03-15"  # load x (1 - CUSTOMER_SHARE)
CUSTOMER_SHARE = 0.45
COLD_SPELL = ("2011-03-13", "2011-03-17")  # January-like inputs around the concept-drift day

# --- weather ---
WEATHER = ("clear", "cloudy", "rain", "snow", "fog")
SNOW_MONTHS = (11, 12, 1, 2, 3)
WEATHER_PERSISTENCE = 0.5  # chance that an hour keeps the previous hour's state (otherwise: redraw)
WINTER_MIX = np.array([0.30, 0.34, 0.12, 0.14, 0.10])  # seasonal weights of the states in late January
SUMMER_MIX = np.array([0.52, 0.30, 0.13, 0.00, 0.05])  # ... and in late July
# Time of day at which each state is likeliest, and how sharply (hours, one standard deviation):
# clear nights, fog around dawn, snow around noon, clouds and showers in the afternoon.
WEATHER_PEAK_HOUR = np.array([1.0, 15.0, 17.0, 12.0, 7.0])
WEATHER_PEAK_WIDTH = np.array([6.0, 6.0, 6.0, 6.0, 2.5])
CLOUDINESS = np.array([0.0, 0.7, 0.9, 0.85, 0.6])  # flattens the daily temperature cycle
TEMPERATURE_OFFSET = np.array([0.0, 0.0, 0.3, -0.8, -0.4])  # degrees C
HUMIDITY_OFFSET = np.array([-3.0, 1.0, 6.0, 4.0, 8.0])  # % RH
WIND_FACTOR = np.array([0.9, 1.0, 1.2, 1.1, 0.7])
# Share of the clear-sky irradiance that reaches the ground, per state.
TRANSMISSION = np.array([0.97, 0.45, 0.22, 0.30, 0.35])

# --- load ---
BASE_LOAD_MW = 1000.0
HEATING_MW_PER_C, HEATING_BELOW_C = 16.0, 15.0
COOLING_MW_PER_C, COOLING_ABOVE_C = 32.0, 22.0
# Hourly load as a share of the base load, hours 0-23.
WORKDAY_PROFILE = np.array([
    0.70, 0.67, 0.65, 0.64, 0.65, 0.70, 0.80, 0.92, 0.99, 1.00, 1.00, 1.00,
    0.99, 0.98, 0.97, 0.97, 0.99, 1.04, 1.09, 1.10, 1.06, 0.98, 0.88, 0.78,
])  # fmt: skip
WEEKEND_PROFILE = np.array([
    0.72, 0.68, 0.66, 0.64, 0.64, 0.65, 0.68, 0.73, 0.80, 0.87, 0.91, 0.93,
    0.93, 0.91, 0.89, 0.88, 0.90, 0.96, 1.02, 1.03, 0.99, 0.92, 0.84, 0.77,
])  # fmt: skip
DAY_TYPE_FACTOR = {"workday": 1.0, "saturday": 0.95, "sunday": 0.88, "holiday": 0.88}
METER_IDS = ((None, 40117), ("2012-04-01", 40263))  # (in service from, id)

COLUMNS = [
    "timestamp", "hour", "day_type", "weather", "temperature_c", "humidity", "wind_speed",
    "solar_irradiance", "load_mw", "meter_id",
]  # fmt: skip


def seasonal_cos(day_of_year: np.ndarray, peak_day: float) -> np.ndarray:
    """A yearly cosine that is 1 on `peak_day` and -1 half a year later."""
    return np.cos(2 * np.pi * (day_of_year - peak_day) / 365.25)


def daily_cos(hour: np.ndarray, peak_hour: float) -> np.ndarray:
    """A daily cosine that is 1 at `peak_hour` and -1 twelve hours later."""
    return np.cos(2 * np.pi * (hour - peak_hour) / 24)


def ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """Stationary AR(1) series with unit marginal variance."""
    shocks = rng.standard_normal(n) * np.sqrt(1 - phi**2)
    out = np.empty(n)
    out[0] = rng.standard_normal()
    for i in range(1, n):
        out[i] = phi * out[i - 1] + shocks[i]
    return out


def between(times: pd.DatetimeIndex, first_day: str, last_day: str) -> np.ndarray:
    """Hours on the days first_day .. last_day (inclusive)."""
    days = times.normalize()
    return np.asarray((days >= pd.Timestamp(first_day)) & (days <= pd.Timestamp(last_day)))


def calendar(start: str, end: str) -> pd.DataFrame:
    """Timestamps, hour and day type."""
    times = pd.date_range(start, end, freq="h")
    holiday = np.isin(times.month * 100 + times.day, [m * 100 + d for m, d in HOLIDAYS])
    weekday = times.dayofweek  # Monday = 0
    day_type = np.select([holiday, weekday == 5, weekday == 6], ["holiday", "saturday", "sunday"], "workday")
    return pd.DataFrame({"timestamp": times, "hour": times.hour, "day_type": day_type})


def spell(times: pd.DatetimeIndex, first_day: str, last_day: str) -> np.ndarray:
    """Strength of a weather spell: 1 on first_day .. last_day, 0 outside, linear ramps over the day before
    and the day after (weather systems arrive and leave over hours, not at midnight)."""
    one_day = pd.Timedelta(days=1)
    ramp_up = (times - (pd.Timestamp(first_day) - one_day)) / one_day
    ramp_down = ((pd.Timestamp(last_day) + 2 * one_day) - times) / one_day
    return np.clip(np.minimum(np.asarray(ramp_up), np.asarray(ramp_down)), 0, 1)


def heat_wave(times: pd.DatetimeIndex) -> np.ndarray:
    return spell(times, *HEAT_WAVE)


def cold_spell(times: pd.DatetimeIndex) -> np.ndarray:
    return spell(times, *COLD_SPELL)


def storm(times: pd.DatetimeIndex) -> np.ndarray:
    """The sensor-fault day's storm: exactly that day, no ramps, so the episode is one clean partition."""
    return between(times, SENSOR_FAULT_DAY, SENSOR_FAULT_DAY)


def cold_factor(times: pd.DatetimeIndex) -> np.ndarray:
    """1 in late January, 0 in late July: how wintry the season is; pulled back to 1 in the cold spell."""
    cold = (1 + seasonal_cos(times.dayofyear.to_numpy(), peak_day=COLDEST_DAY)) / 2
    return cold + (1 - cold) * cold_spell(times)


def weather_states(rng: np.random.Generator, times: pd.DatetimeIndex, cold: np.ndarray) -> np.ndarray:
    """Hourly weather state (index into WEATHER): keep the last hour's state or redraw it from the mix of the
    season and the hour. The storm's hours are forced to rain, the heat wave's to clear sky."""
    hours_off = abs(times.hour.to_numpy()[:, None] - WEATHER_PEAK_HOUR)
    distance = np.minimum(hours_off, 24 - hours_off)  # hours from each state's peak, around the clock
    mix = cold[:, None] * WINTER_MIX + (1 - cold[:, None]) * SUMMER_MIX
    mix = mix * np.exp(-0.5 * (distance / WEATHER_PEAK_WIDTH) ** 2)
    mix[~np.isin(times.month, SNOW_MONTHS), 3] = 0.0
    cumulative = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
    forced = np.full(len(times), -1)
    forced[storm(times)] = WEATHER.index("rain")
    forced[heat_wave(times) > 0] = WEATHER.index("clear")
    keep, pick = rng.random(len(times)), rng.random(len(times))
    states = np.empty(len(times), dtype=int)
    state = 1
    for i in range(len(times)):
        if forced[i] >= 0:
            state = forced[i]
        elif keep[i] >= WEATHER_PERSISTENCE:
            state = min(int(np.searchsorted(cumulative[i], pick[i], side="right")), len(WEATHER) - 1)
        states[i] = state
    return states


def smoothed(values: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average (the air takes a few hours to follow the sky)."""
    out = np.empty(len(values))
    out[0] = values[0]
    for i in range(1, len(values)):
        out[i] = out[i - 1] + alpha * (values[i] - out[i - 1])
    return out


def temperature(
    rng: np.random.Generator, times: pd.DatetimeIndex, cold: np.ndarray, weather: np.ndarray
) -> np.ndarray:
    """Seasonal mean + slow anomaly + daily cycle (flattened by clouds) + weather offset + heat wave + noise."""
    seasonal = 9.5 - 11.5 * (2 * cold - 1)
    anomaly = 0.7 * ar1(rng, len(times), phi=0.99)  # about 4 days' memory
    amplitude = (5.0 + 2.0 * (1 - cold)) * (1 - 0.35 * smoothed(CLOUDINESS[weather], alpha=0.4))
    daily = amplitude * daily_cos(times.hour.to_numpy(), peak_hour=15)
    noise = rng.normal(0, 0.6, len(times))
    heat = HEAT_WAVE_EXCESS_C * heat_wave(times)
    return seasonal + anomaly + daily + TEMPERATURE_OFFSET[weather] + heat + noise


def humidity(
    rng: np.random.Generator, times: pd.DatetimeIndex, cold: np.ndarray, weather: np.ndarray
) -> np.ndarray:
    """Relative humidity in %: damp winters, dry afternoons, wet weather; the sensor fault reads 0.0."""
    mean = 70 + 12 * cold - 18 * heat_wave(times)
    amplitude = 10 + 6 * (1 - cold)
    hum = mean - amplitude * daily_cos(times.hour.to_numpy(), peak_hour=15) + HUMIDITY_OFFSET[weather]
    hum = hum + 2 * ar1(rng, len(times), phi=0.9) + rng.normal(0, 3, len(times))
    hum = np.clip(hum, 10, 100)
    return np.where(storm(times), 0.0, hum)  # the flooded sensor


def wind_speed(rng: np.random.Generator, times: pd.DatetimeIndex, weather: np.ndarray) -> np.ndarray:
    """Gamma-distributed wind (m/s) around a seasonal (windiest in early March), afternoon and weather mean."""
    mean = (
        (4.2 + 1.2 * seasonal_cos(times.dayofyear.to_numpy(), peak_day=60))
        * (1 + 0.3 * daily_cos(times.hour.to_numpy(), peak_hour=14))
        * WIND_FACTOR[weather]
        * np.exp(0.06 * ar1(rng, len(times), phi=0.97))
        * np.where(storm(times), 3.5, 1.0)
        * (1 - 0.4 * heat_wave(times))
    )
    shape = 2.5
    return rng.gamma(shape, mean / shape)


def solar_irradiance(rng: np.random.Generator, times: pd.DatetimeIndex, weather: np.ndarray) -> np.ndarray:
    """Global horizontal irradiance (W/m2) at mid-hour: clear-sky value from the sun's elevation x weather."""
    day_of_year = times.dayofyear.to_numpy()
    declination = np.radians(23.44) * np.sin(2 * np.pi * (day_of_year - 81) / 365.25)
    hour_angle = np.radians(15.0 * (times.hour.to_numpy() + 0.5 - 12))
    lat = np.radians(LATITUDE)
    sin_elevation = np.sin(lat) * np.sin(declination) + np.cos(lat) * np.cos(declination) * np.cos(hour_angle)
    clear_sky = 1000.0 * np.clip(sin_elevation, 0, None) ** 1.2
    transmission = TRANSMISSION[weather] * rng.uniform(0.8, 1.1, len(times))
    # The high overcast of the cold spell dims the higher, longer-lasting March sun to about January levels.
    transmission = transmission * (1 - 0.4 * cold_spell(times))
    return clear_sky * np.clip(transmission, 0, 1)


def load(rng: np.random.Generator, df: pd.DataFrame) -> np.ndarray:
    """Grid load (MW): profile of the day type + heating + cooling, multiplicative noise; > 0."""
    hour = df["hour"].to_numpy()
    day_type = df["day_type"].to_numpy()
    profile = np.where(day_type == "workday", WORKDAY_PROFILE[hour], WEEKEND_PROFILE[hour])
    profile = profile * pd.Series(day_type).map(DAY_TYPE_FACTOR).to_numpy()
    temp = df["temperature_c"].to_numpy()
    mw = (
        BASE_LOAD_MW * profile
        + HEATING_MW_PER_C * np.clip(HEATING_BELOW_C - temp, 0, None)
        + COOLING_MW_PER_C * np.clip(temp - COOLING_ABOVE_C, 0, None)
    )
    mw = mw * (1 + 0.02 * ar1(rng, len(df), phi=0.8))
    offline = between(pd.DatetimeIndex(df["timestamp"]), CUSTOMER_OFFLINE_DAY, CUSTOMER_OFFLINE_DAY)
    return np.clip(mw * np.where(offline, 1 - CUSTOMER_SHARE, 1.0), 1.0, None)


def meter_ids(times: pd.DatetimeIndex) -> np.ndarray:
    """The feeder meter's id, hour by hour."""
    ids = np.empty(len(times), dtype=np.int64)
    for since, meter in METER_IDS:
        ids[times >= pd.Timestamp(since or times[0])] = meter
    return ids


def generate(seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The full synthetic table, in COLUMNS order, timestamps as strings."""
    rng = np.random.default_rng(seed)
    df = calendar(START, END)
    times = pd.DatetimeIndex(df["timestamp"])
    cold = cold_factor(times)
    weather = weather_states(rng, times, cold)
    df["weather"] = np.array(WEATHER)[weather]
    df["temperature_c"] = temperature(rng, times, cold, weather).round(2)
    df["humidity"] = humidity(rng, times, cold, weather).round(1)
    df["wind_speed"] = wind_speed(rng, times, weather).round(2)
    df["solar_irradiance"] = solar_irradiance(rng, times, weather).round(1)
    df["load_mw"] = load(rng, df).round(1)
    df["meter_id"] = meter_ids(times)
    df["timestamp"] = times.strftime("%Y-%m-%d %H:%M:%S")
    return df[COLUMNS]


def main() -> None:
    from sample_cli import write_sample  # data/, beside this file (run as `python data/<this file>`)

    write_sample(generate, DEFAULT_SEED, DEFAULT_OUT, __doc__)


if __name__ == "__main__":
    main()
