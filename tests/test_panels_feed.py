"""The simulated city feed: deterministic, plausible, changing, in the documented shapes; each
built-in city with its own districts, roads and local time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from rooms.panels.cities import CITIES, City, city_list
from rooms.panels.feed import DISTRICTS, POLLUTANTS, ROADS, CityFeed
from rooms.panels.spec import PanelError, validate_panel_data

START = datetime(2025, 3, 4, 0, 0, tzinfo=timezone.utc)  # 09:00 in Seoul, a Tuesday


class FakeClock:
    def __init__(self, t: datetime = START) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t += timedelta(**kw)


ALL = [(f, k) for f in ("air_quality", "traffic", "incidents") for k in ("timeseries", "kpi", "table")]


def test_same_seed_same_city() -> None:
    c1, c2 = FakeClock(), FakeClock()
    a, b = CityFeed(7, clock=c1), CityFeed(7, clock=c2)
    for _ in range(20):
        c1.advance(minutes=7)
        c2.advance(minutes=7)
        for feed, kind in ALL:
            assert a.snapshot(feed, kind) == b.snapshot(feed, kind)


def test_different_seed_different_city() -> None:
    a, b = CityFeed(1, clock=FakeClock()), CityFeed(2, clock=FakeClock())
    assert a.snapshot("air_quality") != b.snapshot("air_quality")


def test_result_does_not_depend_on_how_steps_are_split() -> None:
    c1, c2 = FakeClock(), FakeClock()
    a, b = CityFeed(3, clock=c1), CityFeed(3, clock=c2)
    for _ in range(90):  # many small steps, some not on the grid
        c1.advance(seconds=13)
        a.step(c1.t)
    c2.advance(seconds=13 * 90)  # one big step
    for feed, kind in ALL:
        assert a.snapshot(feed, kind) == b.snapshot(feed, kind)


def test_values_change_over_time() -> None:
    clock = FakeClock()
    feed = CityFeed(5, clock=clock)
    first = feed.snapshot("traffic", "table")
    clock.advance(minutes=5)
    assert feed.snapshot("traffic", "table") != first


def test_air_quality_plausible_over_two_days() -> None:
    clock = FakeClock()
    feed = CityFeed(11, clock=clock, interval_s=60)
    seen = {p: [] for p in POLLUTANTS}
    for _ in range(48):
        clock.advance(hours=1)
        for p in POLLUTANTS:
            ts = feed.snapshot("air_quality", "timeseries", {"pollutant": p})
            assert set(ts["series"]) == set(DISTRICTS)
            for values in ts["series"].values():
                seen[p].extend(values)
    limits = {"pm25": (1, 500), "pm10": (1, 600), "no2": (1, 400), "o3": (1, 400)}
    for p, values in seen.items():
        lo, hi = limits[p]
        assert all(lo <= v <= hi for v in values), p
        assert len(set(values)) > 50, f"{p} barely changes"
    # Typical (median) levels look like a real city, not like noise around zero or a disaster.
    median = {p: sorted(v)[len(v) // 2] for p, v in seen.items()}
    assert 8 <= median["pm25"] <= 60
    assert 15 <= median["pm10"] <= 120
    assert 15 <= median["no2"] <= 120
    assert 10 <= median["o3"] <= 150


def test_rush_hour_slows_traffic() -> None:
    # 03:00 and 08:30 in Seoul (UTC+9) on a Tuesday.
    night = datetime(2025, 3, 3, 18, 0, tzinfo=timezone.utc)
    rush = datetime(2025, 3, 3, 23, 30, tzinfo=timezone.utc)

    def mean_ratio(t: datetime) -> float:
        feed = CityFeed(21, clock=lambda: t)
        rows = feed.snapshot("traffic", "table")["rows"]
        return sum(speed / free for _, _, speed, free, _ in rows) / len(rows)

    assert mean_ratio(rush) < 0.8 * mean_ratio(night)


def test_traffic_speeds_plausible() -> None:
    clock = FakeClock()
    feed = CityFeed(4, clock=clock, interval_s=60)
    for _ in range(24):
        clock.advance(hours=1)
        ts = feed.snapshot("traffic", "timeseries")
        assert ts["unit"] == "km/h"
        for road, values in ts["series"].items():
            assert all(3 <= v <= ROADS[road][0] * 1.15 for v in values)


def test_incidents_open_progress_and_resolve() -> None:
    clock = FakeClock()
    feed = CityFeed(9, clock=clock)
    history: dict[str, list[str]] = {}
    for _ in range(12 * 24):  # a day, every 5 minutes
        clock.advance(minutes=5)
        feed.step(clock.t)
        for inc in feed.incidents():
            statuses = history.setdefault(inc["id"], [])
            if not statuses or statuses[-1] != inc["status"]:
                statuses.append(inc["status"])
            assert inc["district"] in DISTRICTS
            assert inc["opened_at"] <= inc["updated_at"]
    assert len(history) >= 20, "new incidents keep appearing"
    full_lifecycles = [s for s in history.values() if s[0] == "open" and s[-1] == "resolved"]
    assert full_lifecycles, history
    for statuses in history.values():
        # never goes backwards
        order = [("open", "dispatched", "resolved").index(s) for s in statuses]
        assert order == sorted(order)
    # Resolved incidents are dropped after a while: the list stays bounded.
    assert len(feed.incidents()) < 40


def test_incident_records_have_the_documented_fields() -> None:
    feed = CityFeed(1, clock=FakeClock())
    incidents = feed.incidents()
    assert incidents, "the city starts with a few incidents"
    for inc in incidents:
        assert set(inc) == {"id", "type", "district", "severity", "status", "opened_at", "updated_at"}
        assert inc["status"] in ("open", "dispatched", "resolved")


@pytest.mark.parametrize("feed_name,kind", ALL)
def test_every_feed_in_every_kind_has_the_documented_shape(feed_name: str, kind: str) -> None:
    clock = FakeClock()
    feed = CityFeed(2, clock=clock, window=60)
    clock.advance(minutes=30)
    data = feed.snapshot(feed_name, kind)
    assert validate_panel_data(kind, data)  # raises on a wrong shape
    if kind == "timeseries":
        assert len(data["t"]) == 60  # rolling window
        assert all(t.endswith("Z") and datetime.fromisoformat(t.replace("Z", "+00:00")) for t in data["t"])
        assert data["t"] == sorted(data["t"])
        assert isinstance(data["unit"], str) and data["unit"]
        assert all(len(v) == 60 for v in data["series"].values())
    elif kind == "kpi":
        assert data["tiles"]
        for tile in data["tiles"]:
            assert set(tile) >= {"label", "value", "unit", "trend", "status"}
            assert tile["trend"] in ("up", "down", "flat")
            assert tile["status"] in ("good", "moderate", "bad")
    else:
        assert data["columns"]
        assert all(len(row) == len(data["columns"]) for row in data["rows"])


def test_air_quality_timeseries_unit_and_options() -> None:
    feed = CityFeed(0, clock=FakeClock())
    data = feed.snapshot("air_quality", "timeseries", {"pollutant": "no2", "districts": ["Mapo", "Gangnam"]})
    assert data["unit"] == "µg/m³"
    assert list(data["series"]) == ["Mapo", "Gangnam"]
    with pytest.raises(PanelError):
        feed.snapshot("air_quality", "timeseries", {"pollutant": "co2"})
    with pytest.raises(PanelError):
        feed.snapshot("air_quality", "timeseries", {"districts": ["Atlantis"]})


def test_default_kinds_and_unknowns() -> None:
    feed = CityFeed(0, clock=FakeClock())
    assert "series" in feed.snapshot("air_quality")
    assert "rows" in feed.snapshot("incidents")
    with pytest.raises(PanelError):
        feed.snapshot("weather")
    with pytest.raises(PanelError):
        feed.snapshot("traffic", "pie")


def test_window_keeps_rolling_and_long_gaps_are_bounded() -> None:
    clock = FakeClock()
    feed = CityFeed(0, clock=clock, interval_s=10, window=30, max_catchup=100)
    clock.advance(days=30)
    assert feed.step(clock.t) == 100
    data = feed.snapshot("traffic", "timeseries")
    assert len(data["t"]) == 30
    assert data["t"][-1] == clock.t.isoformat().replace("+00:00", "Z")


# ---- cities ------------------------------------------------------------------------------------

CITY_IDS = list(CITIES)


def utc_of(city: str, *local: int) -> datetime:
    """A local wall-clock time in ``city`` as UTC."""
    return datetime(*local, tzinfo=ZoneInfo(CITIES[city].time_zone)).astimezone(timezone.utc)


def test_the_registry() -> None:
    assert CITY_IDS[:1] == ["seoul"]
    assert {"seoul", "lisbon", "lagos", "bogota", "los_angeles"} <= set(CITIES)
    assert city_list() == [{"id": c.id, "name": c.name, "time_zone": c.time_zone} for c in CITIES.values()]
    assert {c["id"]: c["time_zone"] for c in city_list()}.items() >= {
        "seoul": "Asia/Seoul", "lisbon": "Europe/Lisbon", "lagos": "Africa/Lagos",
        "bogota": "America/Bogota", "los_angeles": "America/Los_Angeles"}.items()
    for city in CITIES.values():
        assert 6 <= len(city.districts) <= 8 and 6 <= len(city.roads) <= 8, city.id
        assert all(road[1] in city.districts for road in city.roads.values())
        assert city.tz.key == city.time_zone
    # The default city is the one the module has always exported.
    assert CITIES["seoul"].districts == DISTRICTS and CITIES["seoul"].roads == ROADS
    # Dirtier cities are dirtier (mean PM2.5 baseline).
    pm = {c.id: sum(v[0] for v in c.districts.values()) / len(c.districts) for c in CITIES.values()}
    assert pm["lagos"] > pm["bogota"] > pm["lisbon"] and pm["seoul"] > pm["lisbon"]
    assert pm["los_angeles"] > pm["lisbon"]


def test_a_city_is_checked_when_defined() -> None:
    with pytest.raises(ValueError, match="unknown district"):
        City("x", "X", "UTC", {"A": (10.0, 20.0)}, {"Main St": (50.0, "B", 0.5)})
    with pytest.raises(ValueError):
        CityFeed(0, city="atlantis")
    odd = City("x", "X", "UTC", {"A": (10.0, 20.0)}, {"Main St": (50.0, "A", 0.5)}, incident_weights={"alien landing": 1})
    with pytest.raises(ValueError, match="alien landing"):
        CityFeed(0, city=odd)


@pytest.mark.parametrize("city", CITY_IDS)
def test_each_city_shows_its_own_districts_and_roads(city: str) -> None:
    clock = FakeClock()
    feed = CityFeed(3, clock=clock, city=city)
    districts, roads = set(CITIES[city].districts), set(CITIES[city].roads)
    for _ in range(12 * 6):  # six hours: incidents come and go
        clock.advance(minutes=5)
        feed.step(clock.t)
    assert set(feed.snapshot("air_quality", "timeseries")["series"]) == districts
    assert {row[0] for row in feed.snapshot("air_quality", "table")["rows"]} == districts
    assert set(feed.snapshot("traffic", "timeseries")["series"]) == roads
    table = feed.snapshot("traffic", "table")["rows"]
    assert {row[0] for row in table} == roads
    assert all(row[1] == CITIES[city].roads[row[0]][1] and row[3] == CITIES[city].roads[row[0]][0] for row in table)
    incidents = feed.snapshot("incidents", "table")["rows"]
    assert incidents and all(row[2] in districts for row in incidents)
    for feed_name, kind in ALL:
        validate_panel_data(kind, feed.snapshot(feed_name, kind))
    # Options name the city's own districts; another city's are refused.
    mine = sorted(districts)[:2]
    assert list(feed.snapshot("air_quality", "timeseries", {"districts": mine})["series"]) == mine
    foreign = next(d for c in CITIES.values() if c.id != city for d in c.districts if d not in districts)
    with pytest.raises(PanelError):
        feed.snapshot("air_quality", "timeseries", {"districts": [foreign]})


def test_two_cities_differ() -> None:
    seoul, lisbon = CityFeed(0, clock=FakeClock()), CityFeed(0, clock=FakeClock(), city="lisbon")
    assert not set(seoul.snapshot("air_quality")["series"]) & set(lisbon.snapshot("air_quality")["series"])
    assert not set(seoul.snapshot("traffic")["series"]) & set(lisbon.snapshot("traffic")["series"])
    # Same seed, different city: their noise does not move in lockstep.
    s = list(seoul.snapshot("air_quality", "timeseries", {"pollutant": "o3"})["series"].values())[0]
    l_ = list(lisbon.snapshot("air_quality", "timeseries", {"pollutant": "o3"})["series"].values())[0]
    assert [b - a for a, b in zip(s, s[1:])] != [b - a for a, b in zip(l_, l_[1:])]


@pytest.mark.parametrize("city", CITY_IDS)
def test_determinism_holds_per_city(city: str) -> None:
    c1, c2, c3 = FakeClock(), FakeClock(), FakeClock()
    a, b = CityFeed(7, clock=c1, city=city), CityFeed(7, clock=c2, city=city)
    other_seed = CityFeed(8, clock=c3, city=city)
    for _ in range(40):  # many small steps against one big one
        c1.advance(seconds=13)
        a.step(c1.t)
    c2.advance(seconds=13 * 40)
    c3.advance(seconds=13 * 40)
    for feed_name, kind in ALL:
        assert a.snapshot(feed_name, kind) == b.snapshot(feed_name, kind)
    assert a.snapshot("air_quality") != other_seed.snapshot("air_quality")


@pytest.mark.parametrize("city", CITY_IDS)
def test_rush_hour_follows_the_city_clock(city: str) -> None:
    # A Tuesday: 03:00 local is quiet; the city's own morning peak is slow and its air full of NO2.
    peak = CITIES[city].rush_hours[0]
    night = utc_of(city, 2025, 3, 4, 3, 0)
    rush = utc_of(city, 2025, 3, 4, int(peak), round(peak % 1 * 60))

    def at(t: datetime) -> tuple[float, float]:
        feed = CityFeed(21, clock=lambda: t, city=city)
        assert feed.local_time(t).hour in (3, int(peak))
        rows = feed.snapshot("traffic", "table")["rows"]
        speed = sum(speed / free for _, _, speed, free, _ in rows) / len(rows)
        no2 = next(t["value"] for t in feed.snapshot("air_quality", "kpi")["tiles"] if t["label"].startswith("NO2"))
        return speed, no2

    (night_speed, night_no2), (rush_speed, rush_no2) = at(night), at(rush)
    assert rush_speed < 0.8 * night_speed
    assert rush_no2 > 1.5 * night_no2


@pytest.mark.parametrize("city,winter_hour,summer_hour", [("lisbon", 7, 8), ("los_angeles", 23, 0), ("lagos", 8, 8)])
def test_local_time_follows_daylight_saving(city: str, winter_hour: int, summer_hour: int) -> None:
    # 07:00 UTC in January and in July: Lisbon moves to summer time (UTC+1), Los Angeles too
    # (UTC-8 -> UTC-7), Lagos has none (UTC+1 all year).
    winter, summer = datetime(2025, 1, 14, 7, 0, tzinfo=timezone.utc), datetime(2025, 7, 15, 7, 0, tzinfo=timezone.utc)
    feed = CityFeed(0, clock=lambda: winter, city=city)
    assert feed.local_time(winter).hour == winter_hour
    assert feed.local_time(summer).hour == summer_hour
    # The morning rush comes at 08:30 local in both seasons, an hour apart in UTC where the clocks change.
    if city == "lisbon":
        def speed_ratio(t: datetime) -> float:
            rows = CityFeed(5, clock=lambda: t, city=city).snapshot("traffic", "table")["rows"]
            return sum(speed / free for _, _, speed, free, _ in rows) / len(rows)

        for local_day in ((2025, 1, 14), (2025, 7, 15)):
            assert speed_ratio(utc_of(city, *local_day, 8, 40)) < 0.8 * speed_ratio(utc_of(city, *local_day, 3, 0))


def test_air_differs_by_city_over_a_day() -> None:
    def median_pm25(city: str) -> float:
        clock = FakeClock()
        feed = CityFeed(11, clock=clock, interval_s=60, city=city)
        values: list[float] = []
        for _ in range(24):
            clock.advance(hours=1)
            for series in feed.snapshot("air_quality", "timeseries")["series"].values():
                values.extend(series)
        assert all(1 <= v <= 500 for v in values)
        return sorted(values)[len(values) // 2]

    median = {city: median_pm25(city) for city in ("lisbon", "lagos", "bogota")}
    assert 4 <= median["lisbon"] <= 25
    assert median["lagos"] > 2 * median["lisbon"]
    assert median["bogota"] > median["lisbon"]


def test_for_city_gives_one_shared_feed_per_city() -> None:
    clock = FakeClock()
    seoul = CityFeed(4, clock=clock, interval_s=10, window=20)
    lisbon = seoul.for_city("lisbon")
    assert lisbon.city.id == "lisbon" and lisbon is seoul.for_city("lisbon") is lisbon.for_city("lisbon")
    assert seoul.for_city(None) is seoul is lisbon.for_city("seoul")
    assert (lisbon.interval_s, lisbon.window, lisbon.seed) == (10.0, 20, 4)
    assert lisbon.for_city("lagos") is seoul.for_city("lagos")
    # The sibling is the same city as a feed made on its own.
    alone = CityFeed(4, clock=clock, interval_s=10, window=20, city="lisbon")
    clock.advance(minutes=3)
    assert lisbon.snapshot("traffic") == alone.snapshot("traffic")
    with pytest.raises(PanelError):
        seoul.for_city("atlantis")
