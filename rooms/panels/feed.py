"""A simulated city: air quality by district, traffic speed by road, incident reports.

Plausible and changing, and deterministic: the city advances on a fixed grid of sample times
(``interval_s`` apart, aligned to the epoch) and draws every random number from one
``random.Random`` in grid order. Two feeds of the same city with the same seed, interval and start
time hold the same values at the same grid time, however their ``step()`` calls were split.

Which city it plays comes from :mod:`rooms.panels.cities` (Seoul unless told): its districts and
roads, and its time zone, so daily patterns follow local time there, daylight saving included: NO2
and particles rise with the morning and evening rush, ozone peaks in the afternoon, roads slow down
at rush hour and near traffic collisions, and incidents open, get a crew dispatched and resolve.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Callable, Mapping

from ..meeting import iso_utc
from .cities import CITIES, DEFAULT_CITY, City, get_city
from .spec import FEEDS, PanelData, PanelError

__all__ = ["CityFeed", "DISTRICTS", "ROADS", "POLLUTANTS", "INCIDENT_TYPES", "DEFAULT_KIND"]

# The default city's districts and roads, as this module has always exported them:
# district: (PM2.5 base µg/m³, NO2 base µg/m³); road: (free-flow km/h, district, rush-hour depth 0..1)
DISTRICTS = CITIES[DEFAULT_CITY].districts
ROADS = CITIES[DEFAULT_CITY].roads

# key: (label, unit, good up to, moderate up to, hard maximum)
POLLUTANTS: dict[str, tuple[str, str, float, float, float]] = {
    "pm25": ("PM2.5", "µg/m³", 15.0, 35.0, 500.0),
    "pm10": ("PM10", "µg/m³", 30.0, 80.0, 600.0),
    "no2": ("NO2", "µg/m³", 60.0, 110.0, 400.0),
    "o3": ("O3", "µg/m³", 60.0, 120.0, 400.0),
}

# type: (relative frequency, mean minutes from dispatch to resolution); a city may change the frequencies
INCIDENT_TYPES: dict[str, tuple[float, float]] = {
    "traffic collision": (5.0, 25.0),
    "water main break": (1.5, 90.0),
    "power outage": (2.0, 45.0),
    "gas leak": (1.0, 40.0),
    "fallen tree": (1.5, 30.0),
    "street flooding": (1.0, 60.0),
    "building fire": (1.0, 50.0),
    "traffic signal failure": (2.0, 35.0),
}
SEVERITIES = ("low", "medium", "high")
INCIDENT_STATUSES = ("open", "dispatched", "resolved")

DEFAULT_KIND = {"air_quality": "timeseries", "traffic": "timeseries", "incidents": "table"}

MEAN_DISPATCH_S = 180.0
NEW_INCIDENTS_PER_HOUR = 6.0
MAX_ACTIVE_INCIDENTS = 15
KEEP_RESOLVED_S = 30 * 60
TREND_LOOKBACK = 6
TREND_THRESHOLD = 0.03


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _iso(t: datetime) -> str:
    return iso_utc(t)  # the protocol's one time format


def _bump(hour: float, center: float, width: float) -> float:
    """A daily bell curve around ``center`` o'clock (wraps at midnight)."""
    d = abs(hour - center) % 24.0
    d = min(d, 24.0 - d)
    return math.exp(-(d * d) / (2.0 * width * width))


def _rush(t_local: datetime, peaks: tuple[float, float] = (8.3, 18.4)) -> float:
    """0 at night, about 1 at the morning and evening rush (``peaks``, local hours); weekends are lighter."""
    h = t_local.hour + t_local.minute / 60.0 + t_local.second / 3600.0
    r = _bump(h, peaks[0], 1.2) + 0.9 * _bump(h, peaks[1], 1.6)
    if t_local.weekday() >= 5:
        r *= 0.4
    return min(r, 1.0)


def _activity(t_local: datetime) -> float:
    """Daytime activity 0.2..1 (emissions, incidents)."""
    h = t_local.hour + t_local.minute / 60.0
    return 0.2 + 0.8 * _bump(h, 14.0, 5.0)


@dataclass
class Incident:
    id: str
    type: str
    district: str
    severity: str
    status: str
    opened_at: datetime
    updated_at: datetime
    mean_resolve_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "district": self.district,
            "severity": self.severity,
            "status": self.status,
            "opened_at": _iso(self.opened_at),
            "updated_at": _iso(self.updated_at),
        }


class CityFeed:
    """The simulated city. ``snapshot(feed_name)`` advances to ``clock()`` and returns PanelData.

    ``city`` is a :class:`~rooms.panels.cities.City` or its id (default Seoul); ``tz`` overrides the
    city's time zone. The random stream comes from ``seed`` and the city: the default city uses the
    plain seed (as every feed did before there were cities), another city ``"<id>/<seed>"``, so two
    cities with the same seed do not move in lockstep.

    :meth:`for_city` gives the feed of another city in the same simulated world (same seed, clock,
    interval and window), made once and shared, so that every panel of a city sees the same values.
    """

    feeds = FEEDS

    def __init__(
        self,
        seed: int = 0,
        clock: Callable[[], datetime] | None = None,
        *,
        city: str | City = DEFAULT_CITY,
        interval_s: float = 5.0,
        window: int = 60,
        tz: tzinfo | None = None,
        max_catchup: int = 500,
    ) -> None:
        if not (0.1 <= interval_s <= 3600) or not (2 <= window <= 10_000):
            raise ValueError("interval_s must be 0.1..3600 and window 2..10000")
        try:
            self.city = get_city(city)
        except KeyError:
            raise ValueError(f"unknown city {city!r}; built in: {', '.join(CITIES)}") from None
        unknown = set(self.city.incident_weights) - set(INCIDENT_TYPES)
        if unknown:
            raise ValueError(f"{self.city.id}: unknown incident types {', '.join(sorted(unknown))}")
        self.districts = self.city.districts
        self.roads = self.city.roads
        self._incident_types = {
            kind: (self.city.incident_weights.get(kind, weight), minutes)
            for kind, (weight, minutes) in INCIDENT_TYPES.items()
        }
        self.seed = seed
        self._rng = random.Random(seed if self.city.id == DEFAULT_CITY else f"{self.city.id}/{seed}")
        self._clock = clock or _utcnow
        self.interval_s = float(interval_s)
        self.window = int(window)
        self.tz = tz if tz is not None else self.city.tz
        self.max_catchup = int(max_catchup)
        self._family: dict[str, CityFeed] = {self.city.id: self}

        self._times: deque[datetime] = deque(maxlen=window)
        self._aq: dict[str, dict[str, deque[float]]] = {
            d: {p: deque(maxlen=window) for p in POLLUTANTS} for d in self.districts
        }
        self._speed: dict[str, deque[float]] = {r: deque(maxlen=window) for r in self.roads}
        self._counts: dict[str, deque[int]] = {s: deque(maxlen=window) for s in ("open", "dispatched")}

        self._regional = 0.0  # shared haze level (log scale), slow random walk
        self._dust = 0.0  # coarse dust episode, adds to PM10
        self._spikes = {d: 0.0 for d in self.districts}
        self._district_noise = {d: 0.0 for d in self.districts}
        self._road_noise = {r: 0.0 for r in self.roads}
        self._incidents: dict[str, Incident] = {}
        self._next_incident = 1001
        self._resolved_log: deque[datetime] = deque()

        start = self._to_utc(self._clock())
        grid = math.floor(start.timestamp() / self.interval_s) * self.interval_s
        last_grid = datetime.fromtimestamp(grid, timezone.utc)
        first = last_grid - timedelta(seconds=self.interval_s * (self.window - 1))
        self._last: datetime | None = None
        self._sample(first, initial=True)
        self.step(last_grid)

    def for_city(self, city: str | City | None) -> "CityFeed":
        """The feed of ``city`` (an id; None means the default city) in this feed's world: this
        feed for its own city, else a sibling with the same seed, clock, interval, window and
        catch-up limit, made on first use and then shared by every feed of the family.

        Raises :class:`~rooms.panels.spec.PanelError` for an unknown city."""
        city_id = city.id if isinstance(city, City) else (DEFAULT_CITY if city is None else city)
        feed = self._family.get(city_id)
        if feed is None:
            if city_id not in CITIES:
                raise PanelError(f"unknown city {city_id!r}")
            feed = CityFeed(self.seed, self._clock, city=city_id, interval_s=self.interval_s,
                            window=self.window, max_catchup=self.max_catchup)
            feed._family = self._family
            self._family[city_id] = feed
        return feed

    def local_time(self, t: datetime) -> datetime:
        """``t`` (naive means UTC) on the city's clock."""
        return self._to_utc(t).astimezone(self.tz)

    # ---------------------------------------------------------------------------------------
    # Simulation

    @staticmethod
    def _to_utc(t: datetime) -> datetime:
        if not isinstance(t, datetime):
            raise TypeError("clock() must return a datetime")
        return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)

    @property
    def now(self) -> datetime:
        """Time of the latest sample (UTC)."""
        assert self._last is not None
        return self._last

    def step(self, now: datetime) -> int:
        """Advance the city to ``now`` (naive means UTC); returns how many samples were taken.

        After a long gap only the last ``max_catchup`` samples are simulated.
        """
        now = self._to_utc(now)
        assert self._last is not None
        k = math.floor((now - self._last).total_seconds() / self.interval_s + 1e-9)
        if k <= 0:
            return 0
        if k > self.max_catchup:
            self._last += timedelta(seconds=self.interval_s * (k - self.max_catchup))
            k = self.max_catchup
        for _ in range(k):
            self._sample(self._last + timedelta(seconds=self.interval_s))
        return k

    def _sample(self, t: datetime, initial: bool = False) -> None:
        rng = self._rng
        dt = self.interval_s
        local = self.local_time(t)
        rush = _rush(local, self.city.rush_hours)
        activity = _activity(local)
        hour = local.hour + local.minute / 60.0

        # --- incidents first: collisions slow the roads in this very sample
        if initial:
            for _ in range(3):
                self._open_incident(t - timedelta(seconds=rng.uniform(60, 1200)), rng)
            for inc in self._incidents.values():
                if rng.random() < 0.5:
                    inc.status, inc.updated_at = "dispatched", t
        self._step_incidents(t, rng, activity)

        # --- air quality
        self._regional = max(-0.7, min(0.9, 0.998 * self._regional + rng.gauss(0.0, 0.012 * math.sqrt(dt / 10))))
        if self._dust <= 0.5 and rng.random() < dt / (self.city.dust_every_h * 3600):
            self._dust = rng.uniform(40.0, 120.0)  # a dust episode begins (yellow dust, Harmattan...)
        else:
            self._dust *= math.exp(-dt / 5400)
        haze = math.exp(self._regional)
        sun = _bump(hour, 15.0, 3.0)
        ozone = self.city.ozone
        for d, (pm_base, no2_base) in self.districts.items():
            if rng.random() < dt / (3 * 3600):  # a local burst: fire, construction, bus depot
                self._spikes[d] += rng.uniform(20.0, 60.0)
            else:
                self._spikes[d] *= math.exp(-dt / 300)
            n = self._district_noise[d] = 0.9 * self._district_noise[d] + rng.gauss(0.0, 0.05)
            no2 = no2_base * (0.35 + 0.95 * rush + 0.2 * activity) * (1 + n) + rng.gauss(0.0, 2.5)
            pm25 = pm_base * (0.6 + 0.4 * rush + 0.2 * activity) * haze * (1 + n) + self._spikes[d] + rng.gauss(0.0, 1.5)
            pm10 = pm25 * rng.uniform(1.5, 1.9) + self._dust + rng.gauss(0.0, 3.0)
            o3 = (15.0 + 95.0 * ozone * sun * (0.8 + 0.4 * haze / 2)) * (1 - 0.25 * rush) + rng.gauss(0.0, 4.0)
            for key, value in (("pm25", pm25), ("pm10", pm10), ("no2", no2), ("o3", o3)):
                self._aq[d][key].append(round(min(max(value, 1.0), POLLUTANTS[key][4]), 1))

        # --- traffic
        blocked: dict[str, int] = {}
        for inc in self._incidents.values():
            if inc.status != "resolved" and inc.type in ("traffic collision", "traffic signal failure", "street flooding"):
                blocked[inc.district] = blocked.get(inc.district, 0) + 1
        for road, (free, district, depth) in self.roads.items():
            n = self._road_noise[road] = 0.85 * self._road_noise[road] + rng.gauss(0.0, 0.04)
            speed = free * (1 - depth * rush) * (1 + n) * (0.6 ** blocked.get(district, 0))
            self._speed[road].append(round(min(max(speed, 3.0), free * 1.15), 1))

        active = [i.status for i in self._incidents.values()]
        self._counts["open"].append(active.count("open"))
        self._counts["dispatched"].append(active.count("dispatched"))
        self._times.append(t)
        self._last = t

    def _open_incident(self, t: datetime, rng: random.Random) -> None:
        types = list(self._incident_types)
        kind = rng.choices(types, weights=[self._incident_types[k][0] for k in types])[0]
        district = rng.choice(list(self.districts))
        severity = rng.choices(SEVERITIES, weights=(5, 3, 1))[0]
        inc_id = f"INC-{self._next_incident}"
        self._next_incident += 1
        mean = self._incident_types[kind][1] * 60.0 * (0.7 + 0.3 * SEVERITIES.index(severity))
        self._incidents[inc_id] = Incident(inc_id, kind, district, severity, "open", t, t, mean)

    def _step_incidents(self, t: datetime, rng: random.Random, activity: float) -> None:
        dt = self.interval_s
        for inc in list(self._incidents.values()):
            if inc.status == "open":
                if rng.random() < 1 - math.exp(-dt / MEAN_DISPATCH_S):
                    inc.status, inc.updated_at = "dispatched", t
            elif inc.status == "dispatched":
                if rng.random() < 1 - math.exp(-dt / inc.mean_resolve_s):
                    inc.status, inc.updated_at = "resolved", t
                    self._resolved_log.append(t)
            elif (t - inc.updated_at).total_seconds() > KEEP_RESOLVED_S:
                del self._incidents[inc.id]
        n_active = sum(1 for i in self._incidents.values() if i.status != "resolved")
        rate = NEW_INCIDENTS_PER_HOUR * activity / 0.6 / 3600.0
        if n_active < MAX_ACTIVE_INCIDENTS and rng.random() < 1 - math.exp(-dt * rate):
            self._open_incident(t, rng)
        while self._resolved_log and (t - self._resolved_log[0]).total_seconds() > 3600:
            self._resolved_log.popleft()

    # ---------------------------------------------------------------------------------------
    # Reading

    def incidents(self) -> list[dict[str, Any]]:
        """Current incident records (active and recently resolved), newest first."""
        return [i.to_dict() for i in sorted(self._incidents.values(), key=lambda i: (i.opened_at, i.id), reverse=True)]

    def snapshot(self, feed_name: str, kind: str | None = None, options: dict[str, Any] | None = None) -> PanelData:
        """Advance to ``clock()`` and return ``feed_name`` as PanelData of ``kind``.

        ``kind`` defaults to :data:`DEFAULT_KIND`. Options: air_quality timeseries
        ``{"pollutant": "pm25"|"pm10"|"no2"|"o3", "districts": [...]}``; traffic
        ``{"roads": [...]}``; incidents table ``{"max_rows": 20}``.
        """
        if feed_name not in FEEDS:
            raise PanelError(f"unknown feed {feed_name!r}")
        kind = kind or DEFAULT_KIND[feed_name]
        options = options or {}
        self.step(self._clock())
        fn = getattr(self, f"_{feed_name}_{kind}", None)
        if fn is None:
            raise PanelError(f"unknown kind {kind!r}")
        return fn(options)

    def _t(self) -> list[str]:
        return [_iso(t) for t in self._times]

    @staticmethod
    def _trend(values: deque[float] | list[float]) -> str:
        if len(values) <= 1:
            return "flat"
        now, then = values[-1], values[-1 - min(TREND_LOOKBACK, len(values) - 1)]
        if then == 0:
            return "up" if now > 0 else "flat"
        change = (now - then) / abs(then)
        return "up" if change > TREND_THRESHOLD else "down" if change < -TREND_THRESHOLD else "flat"

    @staticmethod
    def _status(value: float, good: float, moderate: float, higher_is_better: bool = False) -> str:
        if higher_is_better:
            return "good" if value >= good else "moderate" if value >= moderate else "bad"
        return "good" if value <= good else "moderate" if value <= moderate else "bad"

    @staticmethod
    def _pick(options: dict[str, Any], key: str, allowed: Mapping[str, Any]) -> list[str]:
        wanted = options.get(key)
        if not wanted:
            return list(allowed)
        if not isinstance(wanted, list) or any(w not in allowed for w in wanted):
            raise PanelError(f"options.{key} must be a list of: {', '.join(allowed)}")
        return list(wanted)

    # air quality
    def _air_quality_timeseries(self, options: dict[str, Any]) -> PanelData:
        pollutant = options.get("pollutant", "pm25")
        if pollutant not in POLLUTANTS:
            raise PanelError(f"options.pollutant must be one of {', '.join(POLLUTANTS)}")
        districts = self._pick(options, "districts", self.districts)
        return {
            "t": self._t(),
            "series": {d: list(self._aq[d][pollutant]) for d in districts},
            "unit": POLLUTANTS[pollutant][1],
            "label": POLLUTANTS[pollutant][0],
        }

    def _city_average(self, pollutant: str) -> list[float]:
        n = len(self._times)
        return [
            round(sum(self._aq[d][pollutant][i] for d in self.districts) / len(self.districts), 1) for i in range(n)
        ]

    def _air_quality_kpi(self, options: dict[str, Any]) -> PanelData:
        tiles = []
        for key, (label, unit, good, moderate, _) in POLLUTANTS.items():
            avg = self._city_average(key)
            tiles.append(
                {
                    "label": f"{label} (city average)",
                    "value": avg[-1],
                    "unit": unit,
                    "trend": self._trend(avg),
                    "status": self._status(avg[-1], good, moderate),
                }
            )
        return {"tiles": tiles}

    def _air_quality_table(self, options: dict[str, Any]) -> PanelData:
        columns = ["District"] + [f"{POLLUTANTS[p][0]} ({POLLUTANTS[p][1]})" for p in POLLUTANTS] + ["Status"]
        rows = []
        for d in self._pick(options, "districts", self.districts):
            values = [self._aq[d][p][-1] for p in POLLUTANTS]
            statuses = [self._status(v, POLLUTANTS[p][2], POLLUTANTS[p][3]) for p, v in zip(POLLUTANTS, values)]
            worst = max(statuses, key=("good", "moderate", "bad").index)
            rows.append([d, *values, worst])
        return {"columns": columns, "rows": rows}

    # traffic
    def _traffic_timeseries(self, options: dict[str, Any]) -> PanelData:
        roads = self._pick(options, "roads", self.roads)
        return {"t": self._t(), "series": {r: list(self._speed[r]) for r in roads}, "unit": "km/h"}

    def _road_status(self, road: str) -> str:
        return self._status(self._speed[road][-1] / self.roads[road][0], 0.7, 0.4, higher_is_better=True)

    def _traffic_kpi(self, options: dict[str, Any]) -> PanelData:
        roads = self._pick(options, "roads", self.roads)
        n = len(self._times)
        avg = [round(sum(self._speed[r][i] for r in roads) / len(roads), 1) for i in range(n)]
        free_avg = sum(self.roads[r][0] for r in roads) / len(roads)
        congested = [r for r in roads if self._road_status(r) == "bad"]
        slowest = min(roads, key=lambda r: self._speed[r][-1] / self.roads[r][0])
        return {
            "tiles": [
                {
                    "label": "Average speed",
                    "value": avg[-1],
                    "unit": "km/h",
                    "trend": self._trend(avg),
                    "status": self._status(avg[-1] / free_avg, 0.7, 0.4, higher_is_better=True),
                },
                {
                    "label": "Congested roads",
                    "value": len(congested),
                    "unit": f"of {len(roads)}",
                    "trend": "flat",
                    "status": "good" if not congested else "moderate" if len(congested) <= 2 else "bad",
                },
                {
                    "label": f"Slowest: {slowest}",
                    "value": self._speed[slowest][-1],
                    "unit": "km/h",
                    "trend": self._trend(self._speed[slowest]),
                    "status": self._road_status(slowest),
                },
            ]
        }

    def _traffic_table(self, options: dict[str, Any]) -> PanelData:
        rows = [
            [r, self.roads[r][1], self._speed[r][-1], self.roads[r][0], self._road_status(r)]
            for r in self._pick(options, "roads", self.roads)
        ]
        return {"columns": ["Road", "District", "Speed (km/h)", "Free flow (km/h)", "Status"], "rows": rows}

    # incidents
    def _incidents_timeseries(self, options: dict[str, Any]) -> PanelData:
        return {
            "t": self._t(),
            "series": {"open": list(self._counts["open"]), "dispatched": list(self._counts["dispatched"])},
            "unit": "incidents",
        }

    def _incidents_kpi(self, options: dict[str, Any]) -> PanelData:
        open_, dispatched = self._counts["open"], self._counts["dispatched"]
        return {
            "tiles": [
                {
                    "label": "Open (no crew yet)",
                    "value": open_[-1],
                    "unit": "",
                    "trend": self._trend(open_),
                    "status": self._status(open_[-1], 1, 4),
                },
                {
                    "label": "Crews dispatched",
                    "value": dispatched[-1],
                    "unit": "",
                    "trend": self._trend(dispatched),
                    "status": self._status(dispatched[-1], 3, 8),
                },
                {
                    "label": "Resolved (last hour)",
                    "value": len(self._resolved_log),
                    "unit": "",
                    "trend": "flat",
                    "status": "good",
                },
            ]
        }

    def _incidents_table(self, options: dict[str, Any]) -> PanelData:
        max_rows = options.get("max_rows", 20)
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or not (1 <= max_rows <= 200):
            raise PanelError("options.max_rows must be an integer 1..200")
        records = self.incidents()
        # open, then dispatched, then resolved; newest first within each group
        grouped: list[dict[str, Any]] = []
        for status in INCIDENT_STATUSES:
            group = [r for r in records if r["status"] == status]
            key = "updated_at" if status == "resolved" else "opened_at"
            grouped += sorted(group, key=lambda r: (r[key], r["id"]), reverse=True)
        rows = [
            [r["id"], r["type"], r["district"], r["severity"], r["status"], r["opened_at"], r["updated_at"]]
            for r in grouped[:max_rows]
        ]
        return {"columns": ["ID", "Type", "District", "Severity", "Status", "Opened", "Updated"], "rows": rows}
