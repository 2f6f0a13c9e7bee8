"""Two Chromium pages in a meeting recorded by the host (recording_start / recording_stop over the
page's own connection): what Chromium sends (VP8 with picture ids, simulcast layers, Opus with
in-band FEC, its sender reports) is written without transcoding, every file decodes with PyAV and
the tracks of a publisher line up."""

from __future__ import annotations

import json
import time

import av
import pytest

from conftest import create_room, join, serving, wait_for_tile  # noqa: I001 - this folder's conftest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

REQUEST_JS = "async (event) => await window.sitroom.meeting.conn.request(event, {})"
SECONDS = 9.0  # longer than Chromium's first audio sender report (every ~5 s) takes


def test_chromium_publishers_are_recorded(new_page, tmp_path):
    with serving(tmp_path) as base_url:
        room = create_room(base_url, "Recorded in Chromium")
        host, guest = new_page(), new_page()
        host_id = join(host, room["links"]["host"], "Host")
        guest_id = join(guest, room["links"]["participant"], "Guest")
        wait_for_tile(host, guest_id)
        wait_for_tile(guest, host_id)
        time.sleep(2.0)  # both publishing
        ack = host.evaluate(REQUEST_JS, "recording_start")
        assert ack["ok"], ack
        recording_id = ack["recording"]["id"]
        time.sleep(SECONDS)
        ack = host.evaluate(REQUEST_JS, "recording_stop")
        assert ack["ok"] and ack["changed"] and ack["recording"]["complete"], ack

        directory = tmp_path / "data" / "recordings" / room["room"]["id"] / recording_id
        manifest = json.loads((directory / "manifest.json").read_text())
        tracks = {(t["participant_id"], t["kind"]): t for t in manifest["tracks"]}
        assert set(tracks) == {(p, k) for p in (host_id, guest_id) for k in ("audio", "video")}, manifest
        for (participant, kind), track in tracks.items():
            assert track["error"] is None and track["clock"] == "sender_report", track
            with av.open(str(directory / track["file"])) as container:
                times = [float(f.pts * f.time_base) for f in container.decode(container.streams[0])]
            assert len(times) > (SECONDS * 5 if kind == "video" else SECONDS * 25), (track, len(times))
            assert abs(times[-1] - SECONDS) < 1.0, (track, times[-1])
        for participant in (host_id, guest_id):  # a publisher's audio and video start together
            starts = [tracks[(participant, kind)]["start_offset"] for kind in ("audio", "video")]
            assert abs(starts[0] - starts[1]) < 0.2, starts
