"""Unit: settings from the environment and from ``sitroom serve`` flags, their validation, and that
the media settings reach the SFU."""

from __future__ import annotations

import pytest

from server.app import HUB, create_app, origin_check
from server.cli import _parser, build_config
from server.config import ConfigError, from_env


def serve_config(*flags: str):
    return build_config(_parser().parse_args(["serve", *flags]))


def test_video_codecs_from_env_and_flag_reach_the_sfu(tmp_path):
    cfg = from_env({"SITROOM_VIDEO_CODECS": "h264, vp8", "SITROOM_DATA_DIR": str(tmp_path)})
    cfg.validate()
    assert cfg.video_codecs == ["H264", "VP8"]
    media = create_app(cfg)[HUB].media.config
    assert media.video_codecs == ["H264", "VP8"] and media.publisher_codec_order is False

    default = serve_config("--data-dir", str(tmp_path))
    default.validate()
    media = create_app(default)[HUB].media.config
    assert default.video_codecs is None and media.publisher_codec_order is True
    assert [c.upper() for c in media.video_codecs] == ["VP8", "H264"]

    assert serve_config("--video-codecs", "H264").video_codecs == ["H264"]


@pytest.mark.parametrize("value", ["AV1", "VP8,VP9", ","])
def test_unknown_or_empty_video_codecs_are_refused(value):
    cfg = serve_config("--video-codecs", value)
    with pytest.raises(ConfigError, match="video codecs"):
        cfg.validate()


def test_panel_url_allow_flag_and_env():
    assert serve_config("--panel-url-allow", "data.city.gov, 127.0.0.0/8").panel_url_allow == [
        "data.city.gov", "127.0.0.0/8"]
    assert serve_config("--panel-url-allow", "").panel_url_allow == []  # HTTP panels off
    assert from_env({"SITROOM_PANEL_URL_ALLOW": "public"}).panel_url_allow == ["public"]
    assert serve_config().panel_url_allow is None
    bad = serve_config("--panel-url-allow", "http://[::1")
    with pytest.raises(ConfigError):
        bad.validate()


def test_rx_batch_interval_from_env_and_flag():
    assert from_env({}).rx_batch_ms == 1.0  # the default: batching on
    assert from_env({"SITROOM_RX_BATCH_MS": "0"}).rx_batch_ms == 0.0
    assert serve_config("--rx-batch-ms", "2.5").rx_batch_ms == 2.5
    with pytest.raises(ConfigError, match="not a number"):
        from_env({"SITROOM_RX_BATCH_MS": "fast"})
    for bad in ("-1", "50"):
        cfg = serve_config("--rx-batch-ms", bad)
        with pytest.raises(ConfigError, match="0 to 20 ms"):
            cfg.validate()


def test_media_workers_from_env_and_flag():
    assert from_env({"SITROOM_MEDIA_WORKERS": "3"}).media_workers == 3
    assert serve_config("--media-workers", "0").media_worker_count == 0
    assert serve_config("--media-workers", "2").media_worker_count == 2
    default = from_env({})
    assert default.media_workers is None and default.media_worker_count >= 1  # one per core
    with pytest.raises(ConfigError):
        from_env({"SITROOM_MEDIA_WORKERS": "many"})
    bad = serve_config("--media-workers", "-1")
    with pytest.raises(ConfigError):
        bad.validate()


def test_media_span_settings_reach_the_workers_config(tmp_path):
    cfg = serve_config("--media-span-peers", "8", "--media-span-cpu", "60", "--data-dir", str(tmp_path))
    cfg.validate()
    media = create_app(cfg)[HUB].media.config
    assert (media.span_peers, media.span_cpu, media.span_cpu_publishers) == (8, 60.0, 75.0)
    assert from_env({"SITROOM_MEDIA_SPAN_PEERS": "4"}).media_span_peers == 4
    for flags in (("--media-span-peers", "0"), ("--media-span-cpu", "0")):
        with pytest.raises(ConfigError):
            serve_config(*flags).validate()


def test_opus_dtx_on_by_default_and_off_by_flag_or_env(tmp_path):
    assert serve_config().opus_dtx is True
    off = serve_config("--no-opus-dtx", "--data-dir", str(tmp_path))
    assert off.opus_dtx is False and create_app(off)[HUB].media.config.opus_dtx is False
    assert from_env({"SITROOM_OPUS_DTX": "off"}).opus_dtx is False


def test_simulcast_on_by_default_and_off_by_flag_or_env(tmp_path):
    assert serve_config().simulcast is True
    off = serve_config("--no-simulcast", "--data-dir", str(tmp_path))
    assert off.simulcast is False and create_app(off)[HUB].media.config.simulcast is False
    assert from_env({"SITROOM_SIMULCAST": "off"}).simulcast is False
    assert from_env({"SITROOM_SIMULCAST": "on"}).simulcast is True


def test_join_deadline_by_flag_or_env():
    assert serve_config().join_deadline_s == 10.0
    assert serve_config("--join-deadline", "30").join_deadline_s == 30.0
    assert from_env({"SITROOM_JOIN_DEADLINE": "2.5"}).join_deadline_s == 2.5
    with pytest.raises(ConfigError):
        serve_config("--join-deadline", "0").validate()
    with pytest.raises(ConfigError):
        from_env({"SITROOM_JOIN_DEADLINE": "soon"})


def test_upload_bounds_by_flag_or_env():
    assert (serve_config().max_uploads, serve_config().max_uploads_per_room) == (4, 2)
    cfg = serve_config("--max-uploads", "8", "--max-uploads-per-room", "3")
    assert (cfg.max_uploads, cfg.max_uploads_per_room) == (8, 3)
    cfg = from_env({"SITROOM_MAX_UPLOADS": "6", "SITROOM_MAX_UPLOADS_PER_ROOM": "1"})
    assert (cfg.max_uploads, cfg.max_uploads_per_room) == (6, 1)
    with pytest.raises(ConfigError):
        from_env({"SITROOM_MAX_UPLOADS": "lots"})
    for flags in (("--max-uploads", "0"), ("--max-uploads-per-room", "0")):
        with pytest.raises(ConfigError):
            serve_config(*flags).validate()


def test_max_connections_per_address_by_flag_or_env():
    assert serve_config().max_connections_per_address == 64
    assert serve_config("--max-connections-per-address", "500").max_connections_per_address == 500
    assert serve_config("--max-connections-per-address", "0").max_connections_per_address == 0  # no cap
    assert from_env({"SITROOM_MAX_CONNECTIONS_PER_ADDRESS": "8"}).max_connections_per_address == 8
    with pytest.raises(ConfigError):
        serve_config("--max-connections-per-address", "-1").validate()
    with pytest.raises(ConfigError):
        from_env({"SITROOM_MAX_CONNECTIONS_PER_ADDRESS": "many"})


def test_trusted_proxies_by_flag_or_env():
    assert serve_config().trusted_proxies == []
    cfg = serve_config("--trusted-proxy", "127.0.0.1", "--trusted-proxy", "::1/128")
    assert [str(n) for n in cfg.trusted_proxy_networks] == ["127.0.0.1/32", "::1/128"]
    assert from_env({"SITROOM_TRUSTED_PROXIES": "::1, 127.0.0.1/32"}).trusted_proxies == ["::1", "127.0.0.1/32"]
    with pytest.raises(ConfigError):
        serve_config("--trusted-proxy", "proxy.city.example").validate()


def test_node_url_by_flag_or_env_is_where_other_nodes_send_a_rooms_clients(tmp_path):
    """Several nodes behind one public URL (docs/deploy.md): invites keep the public URL, the room
    lease (and so room_elsewhere and the page's 307) names the node's own URL, and pages of that
    origin may connect."""
    cfg = serve_config("--data-dir", str(tmp_path), "--public-url", "https://meet.city.gov",
                       "--node-url", "https://a.meet.city.gov/")
    cfg.validate()
    assert cfg.base_url == "https://meet.city.gov" and cfg.cluster_url == "https://a.meet.city.gov"
    assert create_app(cfg)[HUB].cluster.url == "https://a.meet.city.gov"
    # behind TLS at the proxy the node sees http and its own Host: the node URL's origin is allowed
    assert origin_check(cfg)("https://a.meet.city.gov", {"HTTP_HOST": "a.meet.city.gov"})
    assert not origin_check(cfg)("https://elsewhere.example", {"HTTP_HOST": "a.meet.city.gov"})
    assert from_env({"SITROOM_NODE_URL": "https://b.meet.city.gov"}).cluster_url == "https://b.meet.city.gov"
    default = serve_config("--data-dir", str(tmp_path), "--public-url", "https://meet.city.gov")
    assert default.cluster_url == "https://meet.city.gov"  # without it: the public URL, as before
    for bad in ("a.meet.city.gov", "https://a.meet.city.gov/room", "ftp://a.meet.city.gov"):
        with pytest.raises(ConfigError):
            serve_config("--node-url", bad).validate()
