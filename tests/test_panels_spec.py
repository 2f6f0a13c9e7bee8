"""Panel definitions: validation, JSON round trip, PanelData shape checks."""

from __future__ import annotations

import json

import pytest

from rooms.panels.spec import PanelError, PanelSpec, validate_panel_data

SIM = {"type": "simulated", "feed": "air_quality"}
HTTP = {"type": "http", "url": "https://data.example.org/aq.json", "format": "json", "interval_s": 30, "path": "data.items"}


def test_valid_specs_round_trip() -> None:
    for source in (SIM, HTTP):
        spec = PanelSpec.new("room1", "  Air   quality ", "timeseries", source, {"unit": "µg/m³"})
        assert spec.title == "Air quality"
        again = PanelSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
        assert again == spec


def test_http_defaults_filled_in() -> None:
    spec = PanelSpec("p", "r", "Traffic", "table", {"type": "http", "url": "http://10.0.0.5/traffic.csv", "format": "csv"})
    assert spec.source["interval_s"] == 30.0
    assert spec.interval_s == 30.0
    assert PanelSpec("p", "r", "Sim", "kpi", SIM).interval_s == 5.0


@pytest.mark.parametrize(
    "change",
    [
        {"title": ""},
        {"title": "x" * 81},
        {"title": "bad\x00title"},
        {"kind": "pie"},
        {"id": ""},
        {"room_id": None},
        {"source": {"type": "ftp"}},
        {"source": {"type": "simulated", "feed": "weather"}},
        {"source": {**SIM, "extra": 1}},
        {"source": {**SIM, "city": "atlantis"}},
        {"source": {**SIM, "city": "Lisbon"}},  # ids, not names
        {"source": {**SIM, "city": None}},
        {"source": {**SIM, "city": ["lisbon"]}},
        {"source": {**HTTP, "city": "lisbon"}},  # only simulated sources have a city
        {"source": {**HTTP, "url": "ftp://example.org/x"}},
        {"source": {**HTTP, "url": "file:///etc/passwd"}},
        {"source": {**HTTP, "url": "javascript:alert(1)"}},
        {"source": {**HTTP, "url": "http://user:pw@example.org/"}},
        {"source": {**HTTP, "url": "http:///nohost"}},
        {"source": {**HTTP, "url": "http://example.org/a b"}},
        {"source": {**HTTP, "url": "http://example.org:99999/"}},
        {"source": {**HTTP, "interval_s": 0.5}},
        {"source": {**HTTP, "interval_s": 3601}},
        {"source": {**HTTP, "interval_s": True}},
        {"source": {**HTTP, "interval_s": float("nan")}},
        {"source": {**HTTP, "format": "xml"}},
        {"source": {**HTTP, "path": "a..b"}},
        {"source": {**HTTP, "format": "csv"}},  # a path on a csv source
        {"options": {"big": "x" * 9000}},
        {"options": {"x": float("nan")}},
        {"options": ["not", "a", "dict"]},
    ],
)
def test_invalid_specs_refused(change: dict) -> None:
    d = {"id": "p1", "room_id": "r1", "title": "Panel", "kind": "table", "source": HTTP, "options": {}}
    d.update(change)
    with pytest.raises(PanelError) as e:
        PanelSpec.from_dict(d)
    assert e.value.code == "bad_request"
    assert isinstance(e.value, ValueError)


def test_from_dict_refuses_unknown_and_missing_fields() -> None:
    with pytest.raises(PanelError):
        PanelSpec.from_dict({"id": "p", "room_id": "r", "title": "t", "kind": "kpi", "source": SIM, "x": 1})
    with pytest.raises(PanelError):
        PanelSpec.from_dict({"id": "p", "room_id": "r", "title": "t", "kind": "kpi"})
    with pytest.raises(PanelError):
        PanelSpec.from_dict("nope")


def test_interval_bounds_inclusive() -> None:
    for interval in (1, 3600):
        PanelSpec("p", "r", "t", "table", {**HTTP, "interval_s": interval})


def test_options_are_copied() -> None:
    options = {"series": ["a"]}
    spec = PanelSpec("p", "r", "t", "table", SIM, options)
    options["series"].append("b")
    assert spec.options == {"series": ["a"]}


def test_validate_panel_data() -> None:
    assert validate_panel_data("table", {"columns": ["a"], "rows": [[1], [{"x": 1}]]})["rows"][1] == ['{"x": 1}']
    ts = validate_panel_data("timeseries", {"t": ["a", "b"], "series": {"s": [1, None]}, "unit": "km/h"})
    assert ts == {"t": ["a", "b"], "series": {"s": [1, None]}, "unit": "km/h"}
    kpi = validate_panel_data("kpi", {"tiles": [{"label": "x", "value": 3, "trend": "sideways"}]})
    assert kpi["tiles"][0]["trend"] == "flat"
    for kind, bad in [
        ("table", {"columns": ["a"], "rows": [[1, 2]]}),
        ("table", {"columns": [], "rows": []}),
        ("timeseries", {"t": ["a"], "series": {"s": [1, 2]}}),
        ("timeseries", {"t": ["a"], "series": {"s": ["x"]}}),
        ("kpi", {"tiles": [{"label": "no value"}]}),
        ("kpi", []),
    ]:
        with pytest.raises(PanelError) as e:
            validate_panel_data(kind, bad)
        assert e.value.code == "bad_data"


def test_generated_ids_fit_the_panels_table() -> None:
    assert len(PanelSpec.new("r", "t", "kpi", SIM).id) <= 32
    with pytest.raises(PanelError):
        PanelSpec("x" * 33, "r", "t", "kpi", SIM)


def test_simulated_source_city() -> None:
    lisbon = PanelSpec("p", "r", "PM2.5, Lisbon", "timeseries", {**SIM, "city": "lisbon"})
    assert lisbon.source == {"type": "simulated", "feed": "air_quality", "city": "lisbon"}
    assert PanelSpec.from_dict(json.loads(json.dumps(lisbon.to_dict()))) == lisbon
    for city in ("seoul", "lagos", "bogota", "los_angeles"):
        assert PanelSpec("p", "r", "t", "kpi", {**SIM, "city": city}).source["city"] == city


def test_a_source_stored_without_city_is_seouls() -> None:
    stored = {"id": "p", "room_id": "r", "title": "Old panel", "kind": "kpi", "options": {},
              "source": {"type": "simulated", "feed": "traffic", "interval_s": 5}}
    spec = PanelSpec.from_dict(stored)
    assert spec.source == {"type": "simulated", "feed": "traffic", "city": "seoul", "interval_s": 5.0}
    assert "city" not in stored["source"], "the caller's dict is left alone"


def test_an_unknown_city_is_refused_with_a_clear_message() -> None:
    with pytest.raises(PanelError) as e:
        PanelSpec("p", "r", "t", "kpi", {**SIM, "city": "atlantis"})
    assert e.value.code == "bad_request"
    assert e.value.message.startswith("source.city 'atlantis' is not a built-in city; choose one of seoul, lisbon, ")
    assert all(city in e.value.message for city in ("lagos", "bogota", "los_angeles"))
