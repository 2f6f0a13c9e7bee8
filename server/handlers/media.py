"""Media signaling: publishing, the subscribe offer/answer, mute state and paused videos. What the
SFU says back (subscribe offers, speaker events, a stopped screen share) reaches the room through
its ``LiveRoom`` (``server.live_room``), which also holds the rule of a host's mute."""

from __future__ import annotations

from typing import Any

from rooms.authorize import Action

from .. import validate
from ..context import EventContext
from ..validate import BadRequest

MAX_SDP = 100_000
SOURCES = frozenset({"microphone", "camera", "screen"})
SOURCE_ACTION = {
    "microphone": Action.PUBLISH_AUDIO,
    "camera": Action.PUBLISH_VIDEO,
    "screen": Action.SHARE_SCREEN,
}
# subscribe_prefs: the video sources a subscriber may pause (audio is never paused by it), and how
# many (publisher, source) pairs one request may name.
PAUSABLE_SOURCES = ("camera", "screen")
MAX_PAUSED = 512
MAX_TILE = 16384  # device pixels, either side


# ---- requests (all joined) -----------------------------------------------------------------------

async def on_publish(ctx: EventContext, data: dict) -> dict:
    session = ctx.session
    sdp = validate.string(data, "sdp", max_len=MAX_SDP, min_len=1)
    sources = validate.choice_map(data, "sources", choices=SOURCES, max_items=16)
    for source in set(sources.values()):
        ctx.require(SOURCE_ACTION[source])
    async with session.lock:
        answer = await session.peer.publish(sdp, sources=sources)
        # A participant the host muted stays silent to the others until allowed to unmute.
        await ctx.room.hold_mutes(session)
    return {"sdp": answer}


async def on_subscribe_answer(ctx: EventContext, data: dict) -> dict:
    sdp = validate.string(data, "sdp", max_len=MAX_SDP, min_len=1)
    revision = validate.integer(data, "revision", minimum=0)
    await ctx.session.peer.subscribe_answer(sdp, revision)
    return {}


async def on_media_state(ctx: EventContext, data: dict) -> dict:
    audio_muted = validate.boolean(data, "audio_muted")
    video_muted = validate.boolean(data, "video_muted")
    meeting = ctx.meeting()
    participant = meeting.update_media_state(ctx.participant.id, audio_muted, video_muted)
    # Unmuting after a host's mute was allowed: forward that source again.
    await ctx.room.release_mutes(ctx.session, audio_muted, video_muted)
    await ctx.emit("participant_updated", participant.to_dict(), room=ctx.room_id, skip_sid=ctx.sid)
    return {"self": participant.to_dict()}


async def on_subscribe_prefs(ctx: EventContext, data: dict) -> dict:
    """Which videos this subscriber does not want (mediasoup's consumer.pause(), LiveKit's
    UpdateTrackSettings{disabled}): the complete set each time, so that a lost or reordered
    request is repaired by the next one and a reconnected client simply sends it again."""
    session = ctx.session
    wanted = _paused_sources(data.get("paused"))
    sizes = _tile_sizes(data.get("sizes", []))
    meeting = ctx.meeting()
    # Someone who left (or not yet joined) is ignored, not refused: the client's view may lag
    # the server's by a request, and one stale id must not void the rest.
    known = {(pid, source) for pid, source in wanted
             if pid != session.participant.id and pid in meeting}
    peer = session.peer
    for pid, source in session.video_paused - known:
        await peer.set_consumer_paused(pid, source, False)  # resumes at a keyframe, asked for at once
    for pid, source in known - session.video_paused:
        await peer.set_consumer_paused(pid, source, True)
    session.video_paused = known
    # the size of the tile showing each video: which simulcast layer it gets (media/allocation.py)
    await peer.set_video_sizes(sizes)
    return {"ignored": sorted({pid for pid, _ in wanted - known})}


def _tile_sizes(value: Any) -> list[dict]:
    """The ``sizes`` list of ``subscribe_prefs``: ``[{"participant_id", "source", "width",
    "height"}, ...]``, device pixels."""
    return [{"participant_id": participant_id, "source": source,
             "width": validate.integer(item, "width", minimum=0, maximum=MAX_TILE),
             "height": validate.integer(item, "height", minimum=0, maximum=MAX_TILE)}
            for item, participant_id, source in _video_entries(value, "sizes", ', "width", "height"')]


def _paused_sources(value: Any) -> set[tuple[str, str]]:
    """The ``paused`` list of ``subscribe_prefs``: ``[{"participant_id", "source"}, ...]``."""
    return {(participant_id, source) for _, participant_id, source in _video_entries(value, "paused")}


def _video_entries(value: Any, name: str, more: str = "") -> list[tuple[dict, str, str]]:
    """A ``subscribe_prefs`` list of videos (``name``), each ``{"participant_id", "source"`` and
    ``more`` fields ``}``: (entry, participant id, source) each; audio is never named."""
    if not isinstance(value, list) or len(value) > MAX_PAUSED:
        raise BadRequest(f"'{name}' must be a list of at most {MAX_PAUSED} entries")
    entries = []
    for item in value:
        if not isinstance(item, dict):
            raise BadRequest(f"each entry of '{name}' must be {{\"participant_id\", \"source\"{more}}}")
        participant_id = validate.string(item, "participant_id", max_len=64, min_len=1)
        source = item.get("source")
        if source not in PAUSABLE_SOURCES:
            raise BadRequest("'source' must be 'camera' or 'screen' (audio is never paused)")
        entries.append((item, participant_id, source))
    return entries
