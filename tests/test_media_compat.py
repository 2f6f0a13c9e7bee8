"""The aiortc/aioice internals media/ relies on are all there."""

from media import compat


def test_compat_check_passes():
    compat.check()


def test_compat_names_each_internal():
    names = [name for name, _ok in compat.requirements()]
    assert "aioice.ice.get_host_addresses" in names
    assert any("_handle_rtp_data" in name for name in names)
    assert len(names) == len(set(names))
