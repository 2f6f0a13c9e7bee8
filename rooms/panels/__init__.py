"""Live dashboard panels: definitions, the simulated city feed, data sources and the poller."""

from .cities import CITIES, City, city_list, get_city
from .feed import CityFeed
from .sources import DataSource, PanelRunner, PanelStatus, SimulatedSource, SourceError, make_source
from .spec import PanelData, PanelError, PanelSpec, validate_panel_data

__all__ = [
    "CITIES",
    "City",
    "CityFeed",
    "DataSource",
    "PanelData",
    "PanelError",
    "PanelRunner",
    "PanelSpec",
    "PanelStatus",
    "SimulatedSource",
    "SourceError",
    "city_list",
    "get_city",
    "make_source",
    "validate_panel_data",
]
