"""Generate `football_matches.csv`, a synthetic EVENT table: the matches of a fictional country's football league.

One row per match, two seasons (2021-22 and 2022-23), written as a match-data export writes them: column names
with spaces and punctuation ("Home Team", "Temp (°C)"), a key column ("Match ID", e.g. "D1-2021-0001"), and the
kickoff as ISO 8601 in the country's local time with its offset ("2021-08-21T15:00:00+01:00"). Many rows share
one timestamp: 60 matches are played each weekend in six slots (Friday 19:45, Saturday 12:30 / 15:00 / 17:30,
Sunday 14:00 / 16:30), about 8 in each slot and about 17 (7 to 27) at the traditional Saturday 15:00.

The league: six divisions of 20 clubs (Premier, Championship, League One, League Two, National League, Regional
League), each a double round robin of 38 rounds, one round a weekend, from the first weekend of August to late
May, with a three-weekend winter break over the new year and two free international-break weekends. Three clubs
go up and three down between neighbouring divisions; the bottom three of the Regional League leave the league
and three newly elected clubs replace them. 123 invented clubs, twelve towns with two clubs (local derbies).
Clocks follow British daylight saving: `+01:00` from the last Sunday of March to the last Sunday of October,
`+00:00` otherwise, and about 10 % of the winter rows are written with `Z` instead of `+00:00`.

The model, in the order it is drawn:

* Clubs: a size (popularity) and a true strength (by division, a little by size); the strengths change a little
  each summer. Each club's home ground lies in one of six regions (warmer south, wetter west, colder north).
* Schedule: the circle method per division and season (team order shuffled), the second half mirrored. Each
  match gets a kickoff slot (the Saturday 15:00 slot is the commonest) and TV coverage (televised matches are in
  the other slots, mostly in the top divisions; never at Saturday 15:00, as in the UK's blackout).
* Weather at the home ground: temperature (°C) = a seasonal cosine (about 19 C in late July, 5 C in late
  January) + a slow weekly anomaly + a day anomaly + a regional offset + the kickoff hour + noise; rain
  (none / light / heavy) from a latent wetness (season, weekly and daily systems, region, noise). The
  within-weekend spread (regions, hours, noise) is large next to the week-to-week one, so that an ordinary week
  of 60 matches spreads over the reference's range, as the grid load generator's days do.
* Before each match: both clubs' Elo ratings (a rating feed: national scale, K = 20 with a goal-difference
  multiplier, 60 points of home advantage); the bookmaker's decimal odds, from a blend of the ratings' and the
  true strengths' difference, with a margin of 5 % (Premier) to 10 % (Regional League); the league table and
  form.
* Goals: Poisson, from the true strengths and home advantage. The ratings and the table follow the results.
* attendance (the target): the home club's base crowd (its division and size) x the opponent's draw x the slot
  x TV (a televised match draws about 6 % fewer) x rain x cold x table position and form x derbies (same town
  1.3, same region 1.06) x noise, capped by the ground's capacity; always > 0. Home and away goals are written
  too; the spec ignores them (they are known only after the match).

Built-in episodes, which the platform's demo shows (weekly partitions, Monday to Sunday, from 2021-09-13;
reference window 2021-08-16 .. 2021-09-12, its four weekends and 240 matches):

a) 2021-09-13, 2021-09-20, 2021-09-27 (and on through 2021-22): quiet weeks in the reference's season regime,
   left as the model makes them. The ratings and odds keep their distribution; autumn cools the weather, so
   temp_c drifts from late September on (seasonal drift, as real data would show) and rain now and then. At
   most two of the six drift columns drift: no dataset drift (of the 31 ordinary weeks of 2021-22, only
   2022-05-02 reaches three: temp_c, rain and, by chance, odds_home at p = 0.046).
b) 2022-08-01 and 2022-08-08, the start of the 2022-23 season: promoted and relegated clubs, three newly elected
   clubs, and the rating feed re-based its scale over the summer (every club +150 points; the odds, from
   rating DIFFERENCES, keep their distribution). The season opens in a heat wave and drought (2022-08-05 ..
   08-14): home_elo, away_elo, temp_c and rain drift, data drift. From here on the 2022-23 weeks drift on the
   ratings.
c) 2021-10-04, concept drift: the league's central ticketing system, which the Premier and the Championship
   sell through, fails on 2021-10-08 .. 10-10: only season-ticket holders get in, at most 40 % of a ground's
   capacity, in 20 of the week's 60 matches. The features do not change (the weekend is a late warm, dry
   spell, "an Indian summer", with the reference's seasonal weather); only the model's error jumps.
d) 2022-02-14, a winter storm (2022-02-18 .. 02-20): about 6 C colder than mid-February and heavy rain nearly
   everywhere. Waterlogged and frozen pitches postpone most matches outside the top two divisions (grounds
   without drainage and undersoil heating); they are replayed on the international-break weekend of
   2022-03-25. The week's matches are few and mostly top-division ones, so the ratings drift as well as the
   weather: temp_c, rain, home_elo and away_elo drift, data drift. (The replays make 2022-03-21 a week of
   lower-division matches only: the ratings drift the other way.)

Everything comes from one `numpy.random.default_rng(seed)`, so a given seed always writes the same file.
Usage: python data/generate_football.py [--seed 20210806] [--out data/football_matches.csv]
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_SEED = 20210806
DEFAULT_OUT = Path(__file__).resolve().parent / "football_matches.csv"

# --- the league ---
DIVISIONS = ("Premier", "Championship", "League One", "League Two", "National League", "Regional League")
TEAMS_PER_DIVISION = 20  # a double round robin of 38 rounds
UP_DOWN = 3  # clubs promoted / relegated between neighbouring divisions (and leaving the bottom one)
# Season: its first Friday, and the Fridays of the weekends without league matches (the winter break over the
# new year, two international breaks) among the 43 weekends from there to late May.
WEEKENDS_PER_SEASON = 43
SEASONS = {
    2021: ("2021-08-06", ("2021-11-12", "2021-12-24", "2021-12-31", "2022-01-07", "2022-03-25")),
    2022: ("2022-08-05", ("2022-09-23", "2022-12-23", "2022-12-30", "2023-01-06", "2023-03-24")),
}
# Kickoff slots: (days after the Friday, local time).
SLOTS = ((0, "19:45"), (1, "12:30"), (1, "15:00"), (1, "17:30"), (2, "14:00"), (2, "16:30"))
SLOT_WEIGHTS = {  # by division: the Premier is spread over TV slots, the others play mostly on Saturday at 15:00
    0: np.array([0.12, 0.16, 0.22, 0.16, 0.17, 0.17]),
    1: np.array([0.13, 0.14, 0.31, 0.14, 0.14, 0.14]),
}
# Chance that a match outside Saturday 15:00 is televised, by division.
TV_SHARE = np.array([0.85, 0.45, 0.20, 0.08, 0.04, 0.02])
BLACKOUT_SLOT = 2  # Saturday 15:00: never televised
Z_SHARE = 0.10  # winter (+00:00) kickoffs written with "Z"

# Clubs: the first twelve towns have two clubs each (local derbies); the newcomers join in summer 2022.
TWO_CLUB_TOWNS = (
    ("Port Ellery", "Athletic", "United"), ("Harrowmere", "City", "Rovers"), ("Caldmoor", "Town", "Wanderers"),
    ("Brenlow", "Albion", "Rangers"), ("Kelderwick", "United", "Corinthians"), ("Saxonmere", "City", "Athletic"),
    ("Greyhaven", "Rovers", "Town"), ("Ravensholme", "United", "Villa"), ("Wyvernham", "Athletic", "Borough"),
    ("Ossendale", "Town", "Rangers"), ("Maddersfield", "City", "United"), ("Tidewell", "Albion", "Harriers"),
)  # fmt: skip
ONE_CLUB_TOWNS = (
    "Tarrowby Town", "Wexcombe United", "St Aldwyn Athletic", "Upper Thrale FC", "Brackenholt Rovers",
    "Dunmarrow City", "Eastwick Ferrers FC", "Gillowmere Town", "Hetherby United", "Inchmoor Athletic",
    "Lythamby Rovers", "Merrowdown Town", "Norbridge Cross FC", "Oakhaven United", "Pellingworth Town",
    "Sallowfield Rovers", "Thornwick Marsh FC", "Ulverdale Athletic", "Vellacott Town", "Westerholt United",
    "Yarncliffe Rovers", "Ambledown Athletic", "Barnholt Town", "Crosswell Green FC", "Dallowby United",
    "Emberleigh Town", "Farrowmouth Athletic", "Glenhallow Rovers", "Hollingmoor United", "Ivelstone Town",
    "Jennerby Athletic", "Kestlemoor Rovers", "Lanthorne United", "Morwennick Town", "Newbrenton Athletic",
    "Orlingford United", "Penhallow Rovers", "Redmarrow Town", "Ullersby United", "Vantley Athletic",
    "Yelderby Town", "Ashenholt Rovers", "Blackwater Halt FC", "Coldmarsh Town", "Dunmerrick Athletic",
    "Elmsridge United", "Fennersby Town", "High Tarrant FC", "Kirk Osgood Athletic", "Long Sutterby Town",
    "Marshgate United", "North Ellery Rovers", "Old Wrenford Athletic", "Priory Vale FC", "Rookhaven United",
    "Stannerby Town", "Trevellick Athletic", "Upwater Rovers", "Wendlemoor Town", "Brackwater United",
    "Castle Morrow FC", "Dimmock Marsh Town", "Easthallow Athletic", "Foxholme United", "Gorsebridge Town",
    "Hawksmere Rovers", "Ironmere Athletic", "Kennet Cross FC", "Lowestcombe Town", "Millharrow United",
    "Nethercombe Athletic", "Oldfield Spa FC", "Pendlebrook Rovers", "Quenbury Town", "Rushcombe United",
    "Saltcote Athletic", "Tamberley Town", "Underleigh Rovers", "Vexford United", "Whitlow Bay FC",
    "Yarrowby Athletic", "Zealham Town", "Ashgrove Heath FC", "Belhallow Rovers", "Carnmoor United",
    "Drayholt Town", "Eskerby Athletic", "Fallowden Rovers", "Grimsett Town", "Hallowick United",
    "Kingsmarrow Athletic", "Lindenmere Town", "Marrowby Rovers", "Netherstowe United", "Ottercombe Town",
    "Pilgrim's Ford Athletic",
)  # fmt: skip
NEWCOMERS = ("Stowmarrow Town", "Fernleigh Vale FC", "Wrenmouth United")  # elected to the league in 2022
CLUB_SUFFIXES = {"Athletic", "United", "City", "Rovers", "Town", "Wanderers", "Albion", "Rangers", "Corinthians",
                 "Villa", "Borough", "Harriers", "FC"}  # fmt: skip

# Regions of the home grounds: (temperature offset C, wetness offset).
REGIONS = ((-1.8, 0.25), (-1.1, 0.0), (0.0, -0.05), (0.3, 0.35), (1.3, -0.3), (0.8, 0.2))

# --- strength, ratings, odds ---
TIER_STRENGTH = 1720.0 - 105.0 * np.arange(len(DIVISIONS))  # mean true strength (Elo scale) per division
SIZE_STRENGTH = 35.0  # strength points per standard deviation of club size
STRENGTH_SPREAD = 50.0  # the rest of a club's strength, within its division
SUMMER_CHURN = 30.0  # strength change over a summer (transfers)
RATING_NOISE = 30.0  # the ratings' initial error around the true strengths
HOME_ADVANTAGE = 60.0  # Elo points, in the ratings and the results alike
ELO_K = 20.0
ELO_REBASE_2022 = 150.0  # the rating feed's new scale from 2022-23: every club's rating + 150
GOAL_SCALE = 330.0  # strength points that multiply the expected goals by e
BASE_GOALS = 1.35
# The bookmaker's view of a match: 70 % the ratings, 30 % the true strengths (it knows more), and some noise.
BOOKMAKER_RATING_WEIGHT, BOOKMAKER_NOISE = 0.7, 12.0
MARGIN = np.array([0.05, 0.06, 0.07, 0.08, 0.09, 0.10])  # overround per division

# --- crowds ---
TIER_CROWD = np.array([22000.0, 13000.0, 8000.0, 5000.0, 2500.0, 1400.0])  # base crowd of a club of size 0
SIZE_CROWD = 0.4  # log-crowd per standard deviation of club size
CAPACITY_RATIO = np.array([1.12, 1.3, 1.5, 1.7, 2.0, 2.4])  # ground capacity / base crowd, by first division
SLOT_CROWD = np.array([0.93, 0.95, 1.0, 0.97, 0.97, 0.95])
TV_CROWD = 0.94
RAIN = ("none", "light", "heavy")
RAIN_CROWD = np.array([1.0, 0.95, 0.86])
RAIN_THRESHOLDS = (0.55, 1.55)  # latent wetness: none below the first, heavy above the second
TOWN_DERBY, REGION_DERBY = 1.30, 1.06
CROWD_NOISE = 0.08  # log-normal

# --- weather ---
SLOT_TEMPERATURE = np.array([-2.2, -0.4, 0.6, -0.3, 0.4, -0.1])  # the kickoff hour's offset, C
WARMEST_DAY = 205  # day of year with the highest mean temperature
# Weather anomalies (standard deviations): the weekend's (AR(1) from weekend to weekend, with this persistence),
# the day's, the region's on that day, the kickoff's own. The kickoff's is the largest, so that one weekend's
# 60 matches spread over the range of the reference's four weekends.
TEMP_PERSISTENCE, TEMP_SD = 0.5, {"weekend": 0.8, "day": 0.6, "region": 0.6, "kickoff": 2.0}
WET_PERSISTENCE, WET_SD = 0.3, {"weekend": 0.18, "day": 0.15, "region": 0.2, "kickoff": 1.0}

# --- the episodes (see the module docstring) ---
REFERENCE_MIDDLE = "2021-08-30"  # the Indian summer weekend gets this day's seasonal weather
TICKETING_OUTAGE = ("2021-10-08", "2021-10-10", 0.40)  # (first day, last day, share of the capacity let in)
TICKETING_TIERS = (0, 1)  # the Premier and the Championship sell through it
STORM = ("2022-02-18", "2022-02-20")
STORM_COLD_C, STORM_WETNESS = -6.0, 1.9
STORM_POSTPONED = np.array([0.0, 0.1, 0.7, 0.8, 0.9, 0.95])  # chance a match is postponed, by division
REPLAY_WEEKEND = "2022-03-25"  # the international break, when the postponed matches are played
HEAT_WAVE = ("2022-08-05", "2022-08-14")
HEAT_EXCESS_C, HEAT_WETNESS = 5.0, -1.3

COLUMNS = {  # identifier -> the export's column name
    "match_id": "Match ID", "kickoff": "Kickoff", "division": "Division", "home_team": "Home Team",
    "away_team": "Away Team", "home_elo": "Home Elo", "away_elo": "Away Elo", "odds_home": "Odds Home",
    "odds_draw": "Odds Draw", "odds_away": "Odds Away", "temp_c": "Temp (°C)", "rain": "Rain", "tv": "TV",
    "attendance": "Attendance", "home_goals": "Home Goals", "away_goals": "Away Goals",
}  # fmt: skip


@dataclass
class Club:
    name: str
    town: str
    region: int
    size: float  # standard normal: popularity
    strength: float  # true strength, Elo scale
    rating: float  # the rating feed's Elo
    capacity: int
    # This season's record.
    points: int = 0
    goal_diff: int = 0
    goals_for: int = 0
    played: int = 0
    recent: list[int] = field(default_factory=list)  # points of the last matches

    def reset_record(self) -> None:
        self.points = self.goal_diff = self.goals_for = self.played = 0
        self.recent = []


@dataclass
class Match:
    match_id: str
    tier: int
    home: Club
    away: Club
    friday: dt.date  # the weekend it is played on


def town_of(name: str) -> str:
    """The town of a club: its name without the club suffix."""
    words = name.split()
    return " ".join(words[:-1]) if words[-1] in CLUB_SUFFIXES else name


def make_club(
    rng: np.random.Generator, name: str, region: int, tier: int, size: float, rating: float | None = None
) -> Club:
    """A club whose ground and strength fit its division; its rating is the strength +- the ratings' error."""
    strength = TIER_STRENGTH[tier] + SIZE_STRENGTH * size + rng.normal(0, STRENGTH_SPREAD)
    capacity = (
        TIER_CROWD[tier] * np.exp(SIZE_CROWD * size) * CAPACITY_RATIO[tier] * np.exp(rng.normal(0, 0.08))
    )
    if rating is None:
        rating = strength + rng.normal(0, RATING_NOISE)
    return Club(name, town_of(name), region, size, strength, rating, int(round(capacity, -1)))


def founding_clubs(rng: np.random.Generator) -> list[list[Club]]:
    """The 120 clubs of 2021-22, by division (a random draw of the names; bigger clubs in higher divisions)."""
    names, towns = [], []
    for town, first, second in TWO_CLUB_TOWNS:
        names += [f"{town} {first}", f"{town} {second}"]
        towns += [town, town]
    names += list(ONE_CLUB_TOWNS)
    towns += [town_of(n) for n in ONE_CLUB_TOWNS]
    n_clubs = len(DIVISIONS) * TEAMS_PER_DIVISION
    assert len(names) == n_clubs, len(names)
    region_of_town = {t: int(rng.integers(len(REGIONS))) for t in dict.fromkeys(towns)}
    sizes = np.sort(rng.standard_normal(n_clubs))[::-1]  # the biggest clubs first
    # Divisions follow size loosely: rank by size plus noise.
    order = np.argsort(-(sizes + rng.normal(0, 0.6, n_clubs)), kind="stable")
    shuffled = rng.permutation(n_clubs)  # which name gets which size
    divisions: list[list[Club]] = [[] for _ in DIVISIONS]
    for rank, idx in enumerate(order):
        tier = rank // TEAMS_PER_DIVISION
        name = names[shuffled[idx]]
        divisions[tier].append(make_club(rng, name, region_of_town[town_of(name)], tier, sizes[idx]))
    return divisions


def fridays(season: int) -> list[dt.date]:
    """The Fridays of every weekend of the season, with or without league matches."""
    return list(pd.date_range(SEASONS[season][0], periods=WEEKENDS_PER_SEASON, freq="7D").date)


def weekends(season: int) -> list[dt.date]:
    """The Fridays of the season's 38 league weekends."""
    playing = [f for f in fridays(season) if str(f) not in SEASONS[season][1]]
    assert len(playing) == 2 * (TEAMS_PER_DIVISION - 1), len(playing)
    return playing


def round_robin(rng: np.random.Generator, clubs: list[Club]) -> list[list[tuple[Club, Club]]]:
    """Double round robin by the circle method: 19 rounds, then the same rounds with home and away swapped."""
    teams = [clubs[i] for i in rng.permutation(len(clubs))]
    n = len(teams)
    first_half = []
    for r in range(n - 1):
        pairs = []
        for i in range(n // 2):
            a, b = teams[i], teams[n - 1 - i]
            pairs.append((a, b) if (r + i) % 2 == 0 else (b, a))  # alternate home and away
        first_half.append(pairs)
        teams = [teams[0], teams[-1], *teams[1:-1]]  # rotate all but the first
    return first_half + [[(b, a) for a, b in pairs] for pairs in first_half]


def season_fixtures(rng: np.random.Generator, season: int, divisions: list[list[Club]]) -> list[Match]:
    """Every match of a season, numbered per division in round order (D1-2021-0001 ...)."""
    matches = []
    for tier, clubs in enumerate(divisions):
        number = 0
        for friday, pairs in zip(weekends(season), round_robin(rng, clubs), strict=True):
            for home, away in pairs:
                number += 1
                matches.append(Match(f"D{tier + 1}-{season}-{number:04d}", tier, home, away, friday))
    return matches


def last_sunday(year: int, month: int) -> dt.date:
    day = dt.date(year, month + 1, 1) - dt.timedelta(days=1)
    return day - dt.timedelta(days=(day.weekday() - 6) % 7)


def summer_time(day: dt.date) -> bool:
    """British daylight saving, by date (kickoffs are in the afternoon, after the 01:00 UTC switch)."""
    return last_sunday(day.year, 3) <= day < last_sunday(day.year, 10)


def in_days(day: dt.date, span: tuple[str, ...]) -> bool:
    return dt.date.fromisoformat(span[0]) <= day <= dt.date.fromisoformat(span[1])


def seasonal_temperature(day: dt.date) -> float:
    """Mean match-day temperature (C): about 19 C in late July, 5 C in late January."""
    return 12.0 + 7.0 * np.cos(2 * np.pi * (day.timetuple().tm_yday - WARMEST_DAY) / 365.25)


def seasonal_wetness(day: dt.date) -> float:
    """Latent wetness of the season: driest in late July, wettest in late January."""
    return 0.2 - 0.2 * np.cos(2 * np.pi * (day.timetuple().tm_yday - WARMEST_DAY) / 365.25)


class Weather:
    """Weekend weather systems: a slow weekly anomaly (AR(1) from weekend to weekend), one per day and one per
    region and day, for temperature and wetness."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.temp_week = 0.0
        self.wet_week = 0.0
        self.days: dict[dt.date, tuple[float, float, np.ndarray, np.ndarray]] = {}

    def new_weekend(self, friday: dt.date) -> None:
        rng, n_regions = self.rng, len(REGIONS)
        phi_t, phi_w = TEMP_PERSISTENCE, WET_PERSISTENCE
        self.temp_week = phi_t * self.temp_week + rng.normal(0, TEMP_SD["weekend"] * np.sqrt(1 - phi_t**2))
        self.wet_week = phi_w * self.wet_week + rng.normal(0, WET_SD["weekend"] * np.sqrt(1 - phi_w**2))
        for offset in range(3):  # Friday, Saturday, Sunday
            self.days[friday + dt.timedelta(days=offset)] = (
                rng.normal(0, TEMP_SD["day"]),
                rng.normal(0, WET_SD["day"]),
                rng.normal(0, TEMP_SD["region"], n_regions),
                rng.normal(0, WET_SD["region"], n_regions),
            )

    def at(self, day: dt.date, slot: int, region: int) -> tuple[float, int]:
        """Temperature (C) and rain (index into RAIN) at one kickoff."""
        # The Indian summer: the concept-drift weekend has the reference's seasonal weather.
        season_day = dt.date.fromisoformat(REFERENCE_MIDDLE) if in_days(day, TICKETING_OUTAGE) else day
        temp_day, wet_day, temp_region, wet_region = self.days[day]
        temp_offset, wet_offset = REGIONS[region]
        temp = (
            seasonal_temperature(season_day) + self.temp_week + temp_day + temp_region[region] + temp_offset
        )
        temp += SLOT_TEMPERATURE[slot] + self.rng.normal(0, TEMP_SD["kickoff"])
        wet = seasonal_wetness(season_day) + self.wet_week + wet_day + wet_region[region] + wet_offset
        wet += self.rng.normal(0, WET_SD["kickoff"])
        if in_days(day, STORM):
            temp, wet = temp + STORM_COLD_C, wet + STORM_WETNESS
        if in_days(day, HEAT_WAVE):
            temp, wet = temp + HEAT_EXCESS_C, wet + HEAT_WETNESS
        return temp, int(np.searchsorted(RAIN_THRESHOLDS, wet))


def table_positions(clubs: list[Club]) -> dict[str, float]:
    """Each club's place in its division's table, 0 = top, 1 = bottom (points, goal difference, goals, name)."""
    ranked = sorted(clubs, key=lambda c: (-c.points, -c.goal_diff, -c.goals_for, c.name))
    return {c.name: i / (len(ranked) - 1) for i, c in enumerate(ranked)}


def match_probabilities(diff: float) -> tuple[float, float, float]:
    """Home, draw, away probabilities from a rating difference (home advantage included)."""
    expected = 1 / (1 + 10 ** (-diff / 400))  # Elo's expected score
    draw = 0.28 - 0.6 * (expected - 0.5) ** 2  # draws are likeliest between equals (28 %)
    home, away = max(expected - draw / 2, 0.02), max(1 - expected - draw / 2, 0.02)
    total = home + draw + away
    return home / total, draw / total, away / total


def odds(rng: np.random.Generator, m: Match) -> tuple[float, float, float]:
    """The bookmaker's decimal odds: its blended view of the teams, a little noise, its margin."""
    w = BOOKMAKER_RATING_WEIGHT
    diff = (
        w * (m.home.rating - m.away.rating)
        + (1 - w) * (m.home.strength - m.away.strength)
        + HOME_ADVANTAGE
        + rng.normal(0, BOOKMAKER_NOISE)
    )
    probs = np.array(match_probabilities(diff))
    return tuple(np.round(1 / (probs * (1 + MARGIN[m.tier])), 2))


def crowd(
    rng: np.random.Generator,
    m: Match,
    slot: int,
    tv: int,
    rain: int,
    temp: float,
    position: float,
    outage: bool,
) -> int:
    """Attendance: base crowd x opponent x slot x TV x rain x cold x table and form x derby x noise, capped."""
    home, away = m.home, m.away
    weight = min(1.0, home.played / 8)  # the table and form count once a few rounds are played
    form = np.mean(home.recent[-5:]) if home.recent else 1.4
    mean = (
        TIER_CROWD[m.tier]
        * np.exp(SIZE_CROWD * home.size)  # the home club's division and size
        * np.exp(0.08 * away.size)  # big visitors bring more fans
        * SLOT_CROWD[slot]
        * (TV_CROWD if tv else 1.0)
        * RAIN_CROWD[rain]
        * (1 - 0.012 * max(0.0, 6.0 - temp))  # 1.2 % fewer per degree below 6 C
        * (
            1 + weight * (0.16 * (0.5 - position) + 0.05 * (form - 1.4))
        )  # +-8 % top to bottom; points per game
        * (TOWN_DERBY if home.town == away.town else REGION_DERBY if home.region == away.region else 1.0)
    )
    attendance = min(mean * np.exp(rng.normal(0, CROWD_NOISE)), home.capacity * rng.uniform(0.96, 1.0))
    if outage:  # the ticketing outage: season-ticket holders only
        attendance = min(attendance, TICKETING_OUTAGE[2] * home.capacity * rng.uniform(0.95, 1.0))
    return max(int(round(attendance)), 1)


def play(rng: np.random.Generator, m: Match) -> tuple[int, int]:
    """The score, from the true strengths; then the ratings and the table follow it."""
    home, away = m.home, m.away
    diff = home.strength - away.strength + HOME_ADVANTAGE
    goals_home = int(rng.poisson(BASE_GOALS * np.exp(diff / GOAL_SCALE)))
    goals_away = int(rng.poisson(BASE_GOALS * np.exp(-diff / GOAL_SCALE)))
    expected = 1 / (1 + 10 ** (-(home.rating - away.rating + HOME_ADVANTAGE) / 400))
    score = 1.0 if goals_home > goals_away else 0.5 if goals_home == goals_away else 0.0
    margin = abs(goals_home - goals_away)
    multiplier = 1.0 if margin <= 1 else 1.5 if margin == 2 else (11 + margin) / 8
    change = ELO_K * multiplier * (score - expected)
    home.rating += change
    away.rating -= change
    for club, scored, conceded in ((home, goals_home, goals_away), (away, goals_away, goals_home)):
        points = 3 if scored > conceded else 1 if scored == conceded else 0
        club.points += points
        club.goal_diff += scored - conceded
        club.goals_for += scored
        club.played += 1
        club.recent.append(points)
    return goals_home, goals_away


def kickoff_text(rng: np.random.Generator, day: dt.date, slot: int) -> str:
    """ISO 8601 in local time with its offset; some winter rows written with Z."""
    local = f"{day.isoformat()}T{SLOTS[slot][1]}:00"
    if summer_time(day):
        return local + "+01:00"
    return local + ("Z" if rng.random() < Z_SHARE else "+00:00")


def play_weekend(
    rng: np.random.Generator,
    weather: Weather,
    friday: dt.date,
    matches: list[Match],
    divisions: list[list[Club]],
    postpone: bool,
) -> tuple[list[dict], list[Match]]:
    """Rows of one weekend's matches (pre-match features, then results); the matches postponed by the storm."""
    weather.new_weekend(friday)
    positions = {}
    for clubs in divisions:
        positions.update(table_positions(clubs))
    rows, played, postponed = [], [], []
    for m in matches:
        weights = SLOT_WEIGHTS[min(m.tier, 1)]
        slot = int(rng.choice(len(SLOTS), p=weights / weights.sum()))
        day = friday + dt.timedelta(days=SLOTS[slot][0])
        if postpone and in_days(day, STORM) and rng.random() < STORM_POSTPONED[m.tier]:
            postponed.append(m)
            continue
        played.append(m)
        tv = int(slot != BLACKOUT_SLOT and rng.random() < TV_SHARE[m.tier])
        temp, rain = weather.at(day, slot, m.home.region)
        odds_home, odds_draw, odds_away = odds(rng, m)
        outage = in_days(day, TICKETING_OUTAGE) and m.tier in TICKETING_TIERS
        rows.append({
            "match_id": m.match_id, "kickoff": kickoff_text(rng, day, slot), "division": DIVISIONS[m.tier],
            "home_team": m.home.name, "away_team": m.away.name,
            "home_elo": round(m.home.rating, 1), "away_elo": round(m.away.rating, 1),
            "odds_home": odds_home, "odds_draw": odds_draw, "odds_away": odds_away,
            "temp_c": round(temp, 1), "rain": RAIN[rain], "tv": tv,
            "attendance": crowd(rng, m, slot, tv, rain, temp, positions[m.home.name], outage),
            "_sort": (day, SLOTS[slot][1], m.tier, m.match_id),
        })  # fmt: skip
    for row, m in zip(rows, played, strict=True):
        row["home_goals"], row["away_goals"] = play(rng, m)
    return rows, postponed


def new_season(
    rng: np.random.Generator, divisions: list[list[Club]], newcomer_names: tuple[str, ...], rebase: float
) -> list[list[Club]]:
    """Promotion and relegation by the final tables, newly elected clubs at the bottom, summer changes."""
    final = []
    for clubs in divisions:
        positions = table_positions(clubs)
        final.append(sorted(clubs, key=lambda c: positions[c.name]))
    bottom = len(divisions) - 1
    nxt: list[list[Club]] = [[] for _ in divisions]
    for tier, table in enumerate(final):
        nxt[tier] += table[(UP_DOWN if tier > 0 else 0) : -UP_DOWN]  # the bottom division's last three leave
        if tier > 0:
            nxt[tier - 1] += table[:UP_DOWN]
        if tier < bottom:
            nxt[tier + 1] += table[-UP_DOWN:]
    # Newly elected clubs: smaller than average, rated a little below the bottom division's average.
    mean_rating = float(np.mean([c.rating for c in divisions[bottom]]))
    for name in newcomer_names:
        size = rng.normal(-0.5, 0.6)
        region = int(rng.integers(len(REGIONS)))
        nxt[bottom].append(make_club(rng, name, region, bottom, size, rating=mean_rating - 20))
    for clubs in nxt:  # the summer: transfers, and the rating feed's new scale
        for club in clubs:
            club.strength += rng.normal(0, SUMMER_CHURN)
            club.rating += rebase
            club.reset_record()
    assert all(len(clubs) == TEAMS_PER_DIVISION for clubs in nxt)
    return nxt


def generate(seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The full synthetic table: export column names, rows in kickoff order."""
    rng = np.random.default_rng(seed)
    weather = Weather(rng)
    divisions = founding_clubs(rng)
    rows: list[dict] = []
    for season in SEASONS:
        if season != min(SEASONS):
            divisions = new_season(rng, divisions, NEWCOMERS, ELO_REBASE_2022)
        fixtures = season_fixtures(rng, season, divisions)
        by_weekend: dict[dt.date, list[Match]] = {}
        for m in fixtures:
            by_weekend.setdefault(m.friday, []).append(m)
        replays: list[Match] = []
        for friday in fridays(season):  # break weekends too: the weather goes on
            if str(friday) == REPLAY_WEEKEND:
                week_rows, _ = play_weekend(rng, weather, friday, replays, divisions, postpone=False)
            else:
                week_rows, postponed = play_weekend(
                    rng, weather, friday, by_weekend.get(friday, []), divisions, postpone=True
                )
                replays += postponed
            rows += week_rows
    df = pd.DataFrame(rows).sort_values("_sort", kind="stable")
    return df[list(COLUMNS)].rename(columns=COLUMNS).reset_index(drop=True)


def main() -> None:
    from sample_cli import write_sample  # data/, beside this file (run as `python data/<this file>`)

    write_sample(generate, DEFAULT_SEED, DEFAULT_OUT, __doc__)


if __name__ == "__main__":
    main()
