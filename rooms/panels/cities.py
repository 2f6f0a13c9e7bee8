"""The built-in cities the simulated feed (:mod:`rooms.panels.feed`) can play.

Each :class:`City` has a stable ``id`` (what a panel's source stores: ``"city": "lisbon"``), a
display name, an IANA time zone (daily patterns follow local time there, DST included), real
districts with plausible PM2.5/NO2 baselines, real roads with their free-flow speed and the district
they run through, and a few local habits: when the rush hours peak, how often a dust episode blows
in, how strong the afternoon ozone is, and which incidents are more or less common than usual.

The numbers are plausible, not measured: annual means in the right order of magnitude (Lagos and
Bogotá dirtier than Lisbon, freeways in Los Angeles faster than Lisbon's avenues), so a panel looks
like its city. Nothing here is random; the feed draws the noise.

This module imports nothing from the rest of the package, so ``spec`` and ``feed`` can both use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, Mapping
from zoneinfo import ZoneInfo

__all__ = ["CITIES", "DEFAULT_CITY", "City", "city_list", "get_city"]

DEFAULT_CITY = "seoul"
"""The city of a simulated source that names none (every panel stored before cities existed)."""


@dataclass(frozen=True, eq=False)
class City:
    id: str
    name: str
    time_zone: str
    # district: (PM2.5 base µg/m³, NO2 base µg/m³)
    districts: Mapping[str, tuple[float, float]]
    # road: (free-flow km/h, district, rush-hour depth 0..1: how much of the free flow the rush takes)
    roads: Mapping[str, tuple[float, str, float]]
    # incident type: relative frequency, replacing the feed's usual one (types not named keep theirs)
    incident_weights: Mapping[str, float] = field(default_factory=dict)
    # local hours (0..24) of the morning and evening traffic peaks
    rush_hours: tuple[float, float] = (8.3, 18.4)
    # mean hours between the starts of two dust episodes (yellow dust, Harmattan, Saharan dust...)
    dust_every_h: float = 6.0
    # scale of the afternoon ozone peak (sunshine and photochemistry)
    ozone: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "districts", MappingProxyType(dict(self.districts)))
        object.__setattr__(self, "roads", MappingProxyType(dict(self.roads)))
        object.__setattr__(self, "incident_weights", MappingProxyType(dict(self.incident_weights)))
        if not self.districts or not self.roads:
            raise ValueError(f"{self.id}: a city needs districts and roads")
        for road, (_, district, depth) in self.roads.items():
            if district not in self.districts:
                raise ValueError(f"{self.id}: road {road!r} is in an unknown district {district!r}")
            if not 0.0 <= depth < 1.0:
                raise ValueError(f"{self.id}: road {road!r} needs a rush-hour depth 0..1")
        if any(w < 0 for w in self.incident_weights.values()):
            raise ValueError(f"{self.id}: incident weights must not be negative")

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def to_dict(self) -> dict[str, Any]:
        """What clients need to offer the city: ``{"id", "name", "time_zone"}``."""
        return {"id": self.id, "name": self.name, "time_zone": self.time_zone}

    def __repr__(self) -> str:
        return f"City({self.id!r})"


_CITIES = (
    City(
        id="seoul",
        name="Seoul",
        time_zone="Asia/Seoul",
        districts={
            "Jongno": (22.0, 48.0),
            "Jung": (24.0, 52.0),
            "Yongsan": (21.0, 44.0),
            "Mapo": (19.0, 40.0),
            "Seongdong": (23.0, 46.0),
            "Yeongdeungpo": (26.0, 55.0),
            "Gangnam": (25.0, 58.0),
            "Songpa": (20.0, 42.0),
        },
        roads={
            "Olympic-daero": (80.0, "Yeongdeungpo", 0.55),
            "Gangbyeon-bukro": (70.0, "Seongdong", 0.6),
            "Naebu Expressway": (70.0, "Jongno", 0.55),
            "Teheran-ro": (40.0, "Gangnam", 0.5),
            "Gangnam-daero": (40.0, "Gangnam", 0.55),
            "Sejong-daero": (35.0, "Jung", 0.45),
            "Mapo-daero": (40.0, "Mapo", 0.45),
            "Songpa-daero": (45.0, "Songpa", 0.5),
        },
    ),
    City(
        id="lisbon",
        name="Lisbon",
        time_zone="Europe/Lisbon",
        districts={
            "Santa Maria Maior": (11.0, 40.0),
            "Santo António": (12.0, 46.0),
            "Avenidas Novas": (12.0, 44.0),
            "Arroios": (11.0, 38.0),
            "Alvalade": (10.0, 32.0),
            "Benfica": (9.0, 28.0),
            "Belém": (8.0, 24.0),
            "Parque das Nações": (9.0, 27.0),
        },
        roads={
            "Avenida da Liberdade": (40.0, "Santo António", 0.5),
            "Avenida da República": (40.0, "Avenidas Novas", 0.5),
            "Avenida Almirante Reis": (35.0, "Arroios", 0.45),
            "Segunda Circular": (70.0, "Alvalade", 0.6),
            "Eixo Norte-Sul": (80.0, "Avenidas Novas", 0.55),
            "Radial de Benfica": (50.0, "Benfica", 0.5),
            "Avenida da Índia": (50.0, "Belém", 0.45),
            "Avenida Infante Dom Henrique": (60.0, "Parque das Nações", 0.5),
        },
        incident_weights={"fallen tree": 1.0, "street flooding": 0.8, "gas leak": 0.6},
        rush_hours=(8.7, 18.6),
        dust_every_h=14.0,  # Saharan dust now and then
        ozone=1.1,
    ),
    City(
        id="lagos",
        name="Lagos",
        time_zone="Africa/Lagos",
        districts={
            "Apapa": (62.0, 58.0),
            "Lagos Island": (56.0, 52.0),
            "Ikeja": (52.0, 48.0),
            "Surulere": (50.0, 44.0),
            "Yaba": (48.0, 42.0),
            "Victoria Island": (42.0, 40.0),
            "Ikoyi": (36.0, 32.0),
            "Lekki": (40.0, 36.0),
        },
        roads={
            "Third Mainland Bridge": (80.0, "Lagos Island", 0.7),
            "Apapa-Oworonshoki Expressway": (60.0, "Apapa", 0.75),
            "Ikorodu Road": (60.0, "Yaba", 0.65),
            "Western Avenue": (60.0, "Surulere", 0.6),
            "Obafemi Awolowo Way": (50.0, "Ikeja", 0.55),
            "Ahmadu Bello Way": (45.0, "Victoria Island", 0.55),
            "Awolowo Road": (40.0, "Ikoyi", 0.5),
            "Lekki-Epe Expressway": (70.0, "Lekki", 0.65),
        },
        incident_weights={"power outage": 4.5, "street flooding": 3.0, "traffic collision": 6.0, "fallen tree": 0.8},
        rush_hours=(7.2, 18.2),
        dust_every_h=4.0,  # Harmattan dust from the Sahara
        ozone=0.9,
    ),
    City(
        id="bogota",
        name="Bogotá",
        time_zone="America/Bogota",
        districts={
            "Kennedy": (32.0, 50.0),
            "Puente Aranda": (30.0, 52.0),
            "Engativá": (24.0, 40.0),
            "Suba": (20.0, 36.0),
            "Usaquén": (17.0, 34.0),
            "Chapinero": (19.0, 42.0),
            "Teusaquillo": (21.0, 44.0),
            "Santa Fe": (22.0, 46.0),
        },
        roads={
            "Avenida Caracas": (35.0, "Teusaquillo", 0.5),
            "Autopista Norte": (70.0, "Usaquén", 0.6),
            "Avenida Boyacá": (60.0, "Engativá", 0.6),
            "Avenida de las Américas": (50.0, "Kennedy", 0.6),
            "Avenida NQS": (55.0, "Puente Aranda", 0.6),
            "Carrera Séptima": (35.0, "Chapinero", 0.55),
            "Avenida Suba": (45.0, "Suba", 0.55),
            "Avenida Jiménez": (30.0, "Santa Fe", 0.45),
        },
        incident_weights={"street flooding": 2.0, "traffic collision": 6.0, "fallen tree": 1.0},
        rush_hours=(6.9, 17.9),
        dust_every_h=10.0,
        ozone=0.8,
    ),
    City(
        id="los_angeles",
        name="Los Angeles",
        time_zone="America/Los_Angeles",
        districts={
            "Downtown": (13.0, 46.0),
            "Hollywood": (12.0, 40.0),
            "Koreatown": (13.0, 44.0),
            "Boyle Heights": (15.0, 48.0),
            "Wilmington": (16.0, 50.0),
            "Van Nuys": (12.0, 38.0),
            "Westwood": (10.0, 34.0),
            "Venice": (9.0, 28.0),
        },
        roads={
            "I-110 Harbor Freeway": (105.0, "Downtown", 0.7),
            "US-101 Hollywood Freeway": (105.0, "Hollywood", 0.7),
            "I-405 San Diego Freeway": (105.0, "Westwood", 0.75),
            "I-5 Golden State Freeway": (105.0, "Boyle Heights", 0.65),
            "Wilshire Boulevard": (50.0, "Koreatown", 0.5),
            "Van Nuys Boulevard": (55.0, "Van Nuys", 0.5),
            "Lincoln Boulevard": (50.0, "Venice", 0.5),
            "Pacific Coast Highway": (65.0, "Wilmington", 0.5),
        },
        incident_weights={"traffic collision": 7.0, "power outage": 1.5, "building fire": 1.5, "street flooding": 0.3},
        rush_hours=(8.0, 17.5),
        dust_every_h=18.0,  # Santa Ana winds
        ozone=1.35,
    ),
)

CITIES: Mapping[str, City] = MappingProxyType({c.id: c for c in _CITIES})
"""The registry, by id, in the order clients list them."""


def get_city(city: str | City | None = None) -> City:
    """The city with this id (a City is returned as it is; None means :data:`DEFAULT_CITY`).

    Raises KeyError for an unknown id."""
    if isinstance(city, City):
        return city
    return CITIES[DEFAULT_CITY if city is None else city]


def city_list() -> list[dict[str, Any]]:
    """The built-in cities for clients: ``[{"id", "name", "time_zone"}, ...]``."""
    return [c.to_dict() for c in CITIES.values()]
