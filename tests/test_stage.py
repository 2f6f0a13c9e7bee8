"""The stage: transitions, versions, timeline entries, validation."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from rooms.stage import Stage, StageError, StageState, TimelineEntry

T0 = datetime(2025, 3, 4, 9, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> datetime:
        self.t += timedelta(seconds=1)
        return self.t


@pytest.fixture
def stage() -> Stage:
    return Stage("room1", clock=Clock())


def test_starts_empty(stage: Stage) -> None:
    s = stage.state
    assert s.kind == "empty" and s.version == 0 and s.changed_by is None and not s.locked_follow
    assert stage.to_dict()["kind"] == "empty"


def test_set_panel(stage: Stage) -> None:
    state, entry = stage.set_panel("panel-aq", by="host")
    assert state.kind == "panel" and state.panel_id == "panel-aq"
    assert state.version == 1 and state.changed_by == "host" and state.changed_at == T0 + timedelta(seconds=1)
    assert isinstance(entry, TimelineEntry)
    assert (entry.who, entry.what, entry.details, entry.room_id, entry.version) == (
        "host", "stage_panel", {"panel_id": "panel-aq"}, "room1", 1
    )
    assert entry.when == state.changed_at and not entry.ephemeral


def test_document_pages_and_pointer(stage: Stage) -> None:
    s, e = stage.set_document_page("doc1", 0, by="host", page_count=10)
    assert (s.kind, s.document_id, s.page, e.what) == ("document", "doc1", 0, "stage_document")
    before = stage.state
    s, e = stage.move_pointer(0.25, 0.75, by="staff1")
    assert s.pointer == (0.25, 0.75) and e.what == "stage_pointer" and e.ephemeral
    assert s.document_id == "doc1" and s.page == 0
    # Pointer moves are ephemeral: no new version, and the last real change keeps its author.
    assert (s.version, s.changed_by, s.changed_at) == (before.version, "host", before.changed_at)
    s, e = stage.set_document_page("doc1", 1, by="staff1", page_count=10)
    assert e.what == "stage_page" and e.details == {"document_id": "doc1", "page": 1, "from_page": 0}
    assert s.pointer is None, "turning the page hides the pointer"
    assert s.changed_by == "staff1"
    s, e = stage.move_pointer(0.5, 0.5, by="host")
    s, e = stage.move_pointer(None, by="host")
    assert s.pointer is None and e.details == {"pointer": None}
    s, e = stage.set_document_page("doc2", 3, by="host")
    assert e.what == "stage_document"
    assert s.version == 3


def test_show_participant_and_clear(stage: Stage) -> None:
    stage.set_document_page("doc1", 2, by="host")
    s, e = stage.show_participant("p7", "screen", by="host")
    assert (s.kind, s.participant_id, s.source) == ("participant", "p7", "screen")
    assert s.document_id is None and s.page is None and s.panel_id is None
    assert e.details == {"participant_id": "p7", "source": "screen"}
    s, _ = stage.show_participant("p8", by="host")
    assert s.source == "camera"
    s, e = stage.clear(by="host")
    assert s.kind == "empty" and s.participant_id is None and s.source is None
    assert e.what == "stage_clear" and e.details == {"previous": "participant"}


def test_lock_follow_survives_content_changes(stage: Stage) -> None:
    s, e = stage.lock_follow(True, by="host")
    assert s.locked_follow and e.what == "stage_lock" and e.details == {"locked": True}
    s, _ = stage.set_panel("p", by="host")
    s, _ = stage.clear(by="host")
    assert s.locked_follow
    s, _ = stage.lock_follow(False, by="host")
    assert not s.locked_follow


def test_versions_increase_by_one(stage: Stage) -> None:
    versions = [
        stage.set_panel("a", by="h")[0].version,
        stage.set_document_page("d", 0, by="h")[0].version,
        stage.move_pointer(0, 1, by="h")[0].version,
        stage.show_participant("p", by="h")[0].version,
        stage.lock_follow(True, by="h")[0].version,
        stage.clear(by="h")[0].version,
    ]
    assert versions == [1, 2, 2, 3, 4, 5], "a pointer move does not bump the version"
    assert stage.version == 5


def test_expected_version_conflict(stage: Stage) -> None:
    stage.set_panel("a", by="h", expected_version=0)
    with pytest.raises(StageError) as e:
        stage.set_panel("b", by="h2", expected_version=0)
    assert e.value.code == "conflict"
    assert stage.state.panel_id == "a"


def test_pointer_moves_between_changes_cause_no_conflict(stage: Stage) -> None:
    s, _ = stage.set_document_page("d", 0, by="h1")
    seen = s.version  # what a second presenter's client knows
    for i in range(5):
        stage.move_pointer(0.1 * i, 0.5, by="h1")
    s, _ = stage.set_document_page("d", 1, by="h2", expected_version=seen)
    assert (s.page, s.version, s.changed_by) == (1, seen + 1, "h2")
    # ...but a real change in between does conflict.
    stage.set_document_page("d", 2, by="h1")
    with pytest.raises(StageError) as e:
        stage.clear(by="h2", expected_version=seen + 1)
    assert e.value.code == "conflict" and stage.state.page == 2


def test_participant_gone_clears_only_their_stage(stage: Stage) -> None:
    assert stage.participant_gone("p7", by="p7") is None, "an empty stage stays as it is"
    stage.show_participant("p7", "screen", by="host")
    assert stage.participant_gone("p8", by="p8") is None
    assert stage.participant_gone("p7", "camera", by="p7") is None, "stopping the camera keeps the screen"
    version = stage.version
    s, e = stage.participant_gone("p7", "screen", by="p7")
    assert s.kind == "empty" and s.participant_id is None and s.version == version + 1
    assert e.what == "stage_clear" and not e.ephemeral
    assert e.details == {"previous": "participant", "participant_id": "p7", "source": "screen",
                         "reason": "screen_stopped"}
    stage.show_participant("p9", by="host")
    s, e = stage.participant_gone("p9", by="p9")
    assert s.kind == "empty" and e.details["reason"] == "left"
    stage.set_panel("a", by="host")
    assert stage.participant_gone("p9", by="p9") is None


def test_a_share_that_stops_gives_the_stage_back_to_what_it_showed(stage: Stage) -> None:
    stage.set_document_page("budget", 4, by="host")
    stage.show_participant("p7", "screen", by="staff")
    stage.lock_follow(True, by="host")  # changes nothing about what goes back
    stage.show_participant("p8", "screen", by="staff")  # one share replaces another
    s, e = stage.participant_gone("p8", "screen", by="p8")
    assert (s.kind, s.document_id, s.page, s.participant_id) == ("document", "budget", 4, None)
    assert s.locked_follow is True
    assert e.what == "stage_document" and e.details["restored"] is True
    assert e.details["reason"] == "screen_stopped" and e.details["participant_id"] == "p8"

    stage.set_panel("pm25", by="host")
    stage.show_participant("p7", "camera", by="host")
    s, e = stage.participant_gone("p7", by="p7")  # left the meeting
    assert (s.kind, s.panel_id) == ("panel", "pm25") and e.details["reason"] == "left"

    # Another stage change after the share: nothing to go back to.
    stage.show_participant("p7", "screen", by="host")
    stage.clear(by="host")
    stage.show_participant("p7", "screen", by="host")
    s, _ = stage.participant_gone("p7", "screen", by="p7")
    assert s.kind == "empty"

    # What was shown before was deleted meanwhile: the stage empties.
    stage.set_panel("traffic", by="host")
    stage.show_participant("p7", "screen", by="host")
    stage.forget("panel", "traffic")
    s, e = stage.participant_gone("p7", "screen", by="p7")
    assert s.kind == "empty" and e.what == "stage_clear"


@pytest.mark.parametrize("text", ["2025-03-04T09:00:03Z", "2025-03-04T09:00:03+00:00", "2025-03-04T10:00:03+01:00",
                                  "2025-03-04T09:00:03", "2025-03-04T09:00:03.250z"])
def test_times_are_read_in_any_utc_form_and_written_with_z(text: str) -> None:
    s = StageState.from_dict({"kind": "empty", "changed_at": text})
    assert s.changed_at.utcoffset() == timedelta(0)
    assert s.changed_at.replace(microsecond=0) == datetime(2025, 3, 4, 9, 0, 3, tzinfo=timezone.utc)
    assert s.to_dict()["changed_at"] == "2025-03-04T09:00:03Z"


def test_returned_state_is_a_copy(stage: Stage) -> None:
    s, _ = stage.set_panel("a", by="h")
    s.panel_id = "tampered"
    assert stage.state.panel_id == "a"


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.set_panel("", by="h"),
        lambda s: s.set_panel("x" * 65, by="h"),
        lambda s: s.set_panel(None, by="h"),
        lambda s: s.set_panel("a", by=""),
        lambda s: s.set_document_page("d", -1, by="h"),
        lambda s: s.set_document_page("d", 1.5, by="h"),
        lambda s: s.set_document_page("d", True, by="h"),
        lambda s: s.set_document_page("d", 10, by="h", page_count=10),
        lambda s: s.set_document_page("d", 0, by="h", page_count=0),
        lambda s: s.show_participant("p", "microphone", by="h"),
        lambda s: s.show_participant("", by="h"),
        lambda s: s.lock_follow("yes", by="h"),
        lambda s: s.move_pointer(0.5, 0.5, by="h"),  # nothing shown
    ],
)
def test_validation(stage: Stage, call) -> None:
    with pytest.raises(StageError) as e:
        call(stage)
    assert e.value.code == "bad_request"
    assert isinstance(e.value, ValueError)
    assert stage.version == 0, "a refused change changes nothing"


@pytest.mark.parametrize("xy", [(1.5, 0.5), (-0.1, 0.2), (float("nan"), 0.5), (0.5, float("inf")), (True, 0.5), ("0.5", 0.5), (0.5, None)])
def test_pointer_validation(stage: Stage, xy) -> None:
    stage.set_document_page("d", 0, by="h")
    with pytest.raises(StageError):
        stage.move_pointer(*xy, by="h")
    assert stage.version == 1


def test_state_json_round_trip(stage: Stage) -> None:
    stage.set_document_page("doc1", 4, by="host")
    stage.move_pointer(0.1, 0.9, by="host")
    stage.lock_follow(True, by="host")
    d = json.loads(json.dumps(stage.to_dict()))
    assert d["pointer"] == [0.1, 0.9] and d["changed_at"] == "2025-03-04T09:00:03Z"
    restored = Stage.from_dict(d, "room1")
    assert restored.state == stage.state
    s, _ = restored.set_document_page("doc1", 5, by="host")
    assert s.version == 3


def test_timeline_entry_round_trip(stage: Stage) -> None:
    _, e = stage.set_document_page("doc1", 4, by="host")
    d = json.loads(json.dumps(e.to_dict()))
    assert d["when"] == "2025-03-04T09:00:01Z"
    again = TimelineEntry.from_dict(d)
    assert again == e


@pytest.mark.parametrize(
    "d",
    [
        {"kind": "stadium"},
        {"kind": "panel"},  # no panel_id
        {"kind": "empty", "panel_id": "p"},
        {"kind": "document", "document_id": "d"},  # no page
        {"kind": "participant", "participant_id": "p", "source": "tv"},
        {"kind": "empty", "pointer": [0.5, 0.5]},
        {"kind": "panel", "panel_id": "p", "pointer": [2, 0]},
        {"kind": "empty", "version": -1},
        {"kind": "empty", "bogus": 1},
        {"kind": "empty", "changed_at": "yesterday"},
    ],
)
def test_from_dict_validation(d: dict) -> None:
    with pytest.raises(StageError):
        StageState.from_dict(d)


# ---- what outlives the server process (issue 15) -------------------------------------------------

def test_a_stage_snapshot_restores_state_version_lock_and_what_a_video_took_over():
    stage = Stage("r1")
    stage.set_document_page("d_1", 4, by="p_host", page_count=10)
    stage.lock_follow(True, by="p_host")
    stage.show_participant("p_guest", "screen", by="p_guest")
    kept = json.loads(json.dumps(stage.snapshot()))  # as the database keeps it
    back = Stage.restore(kept, "r1")
    assert back.to_dict() == stage.to_dict() and back.version == 3 and back.state.locked_follow
    # the share ends after the restart: back to the page it took over
    state, _ = back.participant_gone("p_guest", "screen", by="p_guest")
    assert (state.kind, state.document_id, state.page) == ("document", "d_1", 4)


def test_a_stage_snapshot_that_does_not_read_is_refused():
    for bad in (None, [], {"state": {"kind": "hologram"}}, {"state": {"kind": "panel"}}):
        with pytest.raises(StageError):
            Stage.restore(bad)
