"""The Socket.IO requests other than join and leave, one plain function each, registered in
``HANDLERS`` (event name -> ``Handler``).

A handler is ``async def on_<event>(ctx: EventContext, data: dict) -> dict | None``: ``data`` is the
payload (already checked to be a JSON object of bounded size by ``validate.payload``), the returned
dict goes into the ack ``{"ok": true, ...}``, and any refusal is raised (``RequestError``,
``BadRequest``, a ``rooms`` ``DomainError``...). ``server.signaling.Signaling.trigger_event`` does the
rest: the per-connection rate limit, the ``joined`` check, and turning a refusal into the ack
``{"ok": false, "error": ...}`` plus an ``error`` event.

- ``chat``: chat messages, raised hands, reactions;
- ``moderation``: what hosts and staff do to the meeting, invites, the record;
- ``stage``: the shared stage, panels, documents;
- ``media``: publish, subscribe answers, media state, paused videos;
- ``recording``: starting and stopping the meeting's recording.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from ..context import EventContext
from . import chat, media, moderation, recording, stage

HandlerFn = Callable[[EventContext, dict], Awaitable[dict | None]]


@dataclass(frozen=True)
class Handler:
    """One request and what the dispatch checks before calling it."""

    fn: HandlerFn
    # Refused with ``not_joined`` (not a participant with a media peer) before the payload is read.
    # The moderation requests read their payload first (a malformed one is ``bad_request`` from
    # anyone) and check this themselves.
    joined: bool = True


HANDLERS: dict[str, Handler] = {
    # chat.py (the chat and reaction rate limit, 1/s burst 5, is taken by the handler, after its checks)
    "chat_send": Handler(chat.on_chat_send),
    "hand": Handler(chat.on_hand),
    "react": Handler(chat.on_react),
    # moderation.py
    "mute": Handler(moderation.on_mute, joined=False),
    "mute_all": Handler(moderation.on_mute_all, joined=False),
    "allow_unmute": Handler(moderation.on_allow_unmute, joined=False),
    "request_unmute": Handler(moderation.on_request_unmute),
    "set_allow_self_unmute": Handler(moderation.on_set_allow_self_unmute, joined=False),
    "remove": Handler(moderation.on_remove, joined=False),
    "set_role": Handler(moderation.on_set_role, joined=False),
    "lock": Handler(moderation.on_lock, joined=False),
    "lobby_enable": Handler(moderation.on_lobby_enable, joined=False),
    "lobby_admit": Handler(moderation.on_lobby_admit, joined=False),
    "lobby_deny": Handler(moderation.on_lobby_deny, joined=False),
    "end_meeting": Handler(moderation.on_end_meeting, joined=False),
    "invite_create": Handler(moderation.on_invite_create),
    "invite_revoke": Handler(moderation.on_invite_revoke),
    "timeline": Handler(moderation.on_timeline),
    # stage.py
    "stage_set": Handler(stage.on_stage_set),
    "stage_pointer": Handler(stage.on_stage_pointer),
    "stage_follow_lock": Handler(stage.on_stage_follow_lock),
    "panel_create": Handler(stage.on_panel_create),
    "panel_update": Handler(stage.on_panel_update),
    "panel_delete": Handler(stage.on_panel_delete),
    "document_delete": Handler(stage.on_document_delete),
    # media.py
    "publish": Handler(media.on_publish),
    "subscribe_answer": Handler(media.on_subscribe_answer),
    "media_state": Handler(media.on_media_state),
    "subscribe_prefs": Handler(media.on_subscribe_prefs),
    # recording.py
    "recording_start": Handler(recording.on_recording_start),
    "recording_stop": Handler(recording.on_recording_stop),
}
