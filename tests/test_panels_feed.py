"""The simulated city feed: deterministic, plausible, changing, in the documented shapes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

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
