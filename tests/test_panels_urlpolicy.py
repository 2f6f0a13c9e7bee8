"""The allow-list of HTTP panel URLs (SSRF): entries, URL checks, resolved-address checks, config.

Pure checks: nothing here opens a socket. Following the suite's loopback-only rule, the only
addresses written here are loopback ones; the metadata-service addresses come from the module's
own table (``METADATA_NETWORKS``), and host names are never resolved.
"""

from __future__ import annotations

import ipaddress

import pytest

from rooms.panels.urlpolicy import METADATA_NETWORKS, UrlPolicy, UrlRefused, address_class
from server.config import Config, ConfigError, from_env

METADATA = [net.network_address for net in METADATA_NETWORKS]


def url_of(address: ipaddress.IPv4Address | ipaddress.IPv6Address, path: str = "/") -> str:
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{host}{path}"


def refused(policy: UrlPolicy, url: str) -> str:
    with pytest.raises(UrlRefused) as e:
        policy.check_url(url)
    assert e.value.code == "bad_request"
    return e.value.message


def test_address_classes() -> None:
    for text in ("127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1"):
        assert address_class(ipaddress.ip_address(text)) == "loopback", text
    for address in METADATA:
        assert address_class(address) == "metadata-service", address
        if address.version == 4:
            assert address_class(ipaddress.ip_address(f"::ffff:{address}")) == "metadata-service"


def test_default_refuses_loopback_names_and_literals_and_the_metadata_service() -> None:
    policy = UrlPolicy()  # the same as parse(["public"])
    assert policy == UrlPolicy.parse(["public"])
    assert policy.check_url("https://data.city.gov/api/air.json").trust is None, "names are judged once resolved"
    for url in ("http://127.0.0.1:8080/", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
                "http://localhost:9000/", "http://api.localhost/", "http://LOCALHOST./"):
        message = refused(policy, url)
        assert "loopback address" in message and "SITROOM_PANEL_URL_ALLOW" in message, url
    for address in METADATA:
        assert "metadata-service address" in refused(policy, url_of(address, "/latest/meta-data/"))
    # After resolution: refused addresses are dropped; none left is a refusal.
    grant = policy.check_url("http://sensors.example/x")
    for address in ("127.0.0.1", str(METADATA[0])):
        with pytest.raises(UrlRefused, match="sensors.example resolves to an? (loopback|metadata-service) address"):
            policy.allowed_addresses(grant, "sensors.example", [address])


def test_host_port_and_prefix_entries() -> None:
    policy = UrlPolicy.parse(["127.0.0.1:8081", "https://data.city.gov/api/", "*.sensors.example",
                              "intranet.example", "[::1]:9000"])
    assert not policy.public
    assert policy.check_url("http://127.0.0.1:8081/x").trust == "literal"
    assert policy.check_url("http://[::1]:9000/x").trust == "literal"
    assert "loopback" in refused(policy, "http://127.0.0.1:8082/x")
    assert policy.check_url("https://data.city.gov/api/air.json").trust == "named"
    assert policy.check_url("https://DATA.city.gov.:443/api/").trust == "named"
    for url in ("https://data.city.gov/apix", "https://data.city.gov/api/../admin",
                "https://data.city.gov/api/%2e%2e/admin", "http://data.city.gov/api/x",
                "https://data.city.gov:8443/api/x", "https://other.example/"):
        assert "not on the allow-list" in refused(policy, url), url
    assert policy.check_url("http://a.sensors.example:8080/").trust == "named"
    assert "not on the allow-list" in refused(policy, "http://sensors.example/")
    # A listed name may resolve to loopback (or private) addresses, never to metadata or link-local ones.
    grant = policy.check_url("http://intranet.example/")
    assert policy.allowed_addresses(grant, "intranet.example", ["127.0.0.1", "::1"]) == ["127.0.0.1", "::1"]
    for address in METADATA:
        with pytest.raises(UrlRefused, match="metadata-service"):
            policy.allowed_addresses(grant, "intranet.example", [str(address)])
    # Another name (a redirect, say) gets no trust from this grant.
    with pytest.raises(UrlRefused, match="elsewhere.example resolves to a loopback address"):
        policy.allowed_addresses(grant, "elsewhere.example", ["127.0.0.1"])


def test_network_entries_and_an_explicitly_listed_metadata_address() -> None:
    policy = UrlPolicy.parse(["127.0.0.2/31", str(METADATA[0])])
    assert policy.check_url("http://127.0.0.3:8080/x").trust is None
    assert "loopback" in refused(policy, "http://127.0.0.1/")
    assert policy.check_url(url_of(METADATA[0], "/latest/")).trust is None, "listed explicitly"
    grant = policy.check_url("http://grafana.example/")
    assert policy.allowed_addresses(grant, "grafana.example", ["127.0.0.1", "127.0.0.2"]) == ["127.0.0.2"]
    with pytest.raises(UrlRefused, match="grafana.example resolves to a loopback address"):
        policy.allowed_addresses(grant, "grafana.example", ["127.0.0.9"])


def test_an_empty_list_allows_nothing() -> None:
    policy = UrlPolicy.parse([])
    assert "not on the allow-list" in refused(policy, "https://data.city.gov/")
    assert "SITROOM_PANEL_URL_ALLOW" in refused(policy, "http://127.0.0.1/")


@pytest.mark.parametrize("entry", ["ftp://files.example/", "https://x.example/api?key=1", "a b", "host:99999",
                                   "-bad-.example", "https://user@x.example/", "http://x.example:port/"])
def test_bad_entries_are_named(entry: str) -> None:
    with pytest.raises(ValueError, match="SITROOM_PANEL_URL_ALLOW"):
        UrlPolicy.parse([entry])


def test_config_default_env_and_validation() -> None:
    assert Config().panel_url_entries == ["public"]
    assert Config(test_mode=True).panel_url_entries == ["public", "127.0.0.0/8", "::1/128"]
    assert Config(demo=True).panel_url_entries[-2:] == ["127.0.0.0/8", "::1/128"]
    cfg = from_env({"SITROOM_PANEL_URL_ALLOW": "https://data.city.gov/api/, 127.0.0.1:8081", "SITROOM_TEST_MODE": "1"})
    assert cfg.panel_url_entries == ["https://data.city.gov/api/", "127.0.0.1:8081"], "set: exactly the list"
    cfg.validate()
    assert from_env({"SITROOM_PANEL_URL_ALLOW": ""}).panel_url_entries == []
    with pytest.raises(ConfigError, match="SITROOM_PANEL_URL_ALLOW"):
        from_env({"SITROOM_PANEL_URL_ALLOW": "ftp://x/"}).validate()
