"""Chat, raised hands, reactions and the SFU's speaker events (a mixin of ``Signaling``)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from rooms.authorize import Action
from rooms.moderation import Moderation

from . import validate
from .errors import RequestError
from .validate import BadRequest

if TYPE_CHECKING:
    from .signaling import Session

log = logging.getLogger("sitroom.chat")

REACTIONS = frozenset({"👍", "👏", "❤️", "😂", "😮", "🎉", "🙏", "👎"})


class ChatEvents:
    async def on_chat_send(self, session: Session, data: dict) -> dict:
        self._require_joined(session)
        text = validate.string(data, "text", max_len=2000, min_len=1)
        self._require(session, Action.CHAT)
        if not session.chat_bucket.take():
            raise RequestError("rate_limited", "you are sending messages too fast")
        message = await self.hub.chat.post(session.room_id, session.participant, text)
        await self.emit("chat_message", message, room=session.room_id)
        return {"message": message}

    async def on_hand(self, session: Session, data: dict) -> dict:
        self._require_joined(session)
        raised = validate.boolean(data, "raised")
        target = validate.string(data, "participant_id", max_len=64, required=False) or None
        meeting = self._meeting(session)
        moderation = Moderation(meeting)
        if raised:
            result = moderation.raise_hand(session.participant)
        else:
            result = moderation.lower_hand(session.participant, target)
        await self.apply(meeting, result)
        return {"queue": meeting.hands()}

    async def on_react(self, session: Session, data: dict) -> dict:
        self._require_joined(session)
        emoji = validate.string(data, "emoji", max_len=8, min_len=1)
        if emoji not in REACTIONS:
            raise BadRequest(f"'emoji' must be one of {' '.join(sorted(REACTIONS))}")
        self._require(session, Action.REACT)
        if not session.chat_bucket.take():
            raise RequestError("rate_limited", "you are reacting too fast")
        event = {"participant_id": session.participant.id, "name": session.participant.name, "emoji": emoji}
        await self.emit("reaction", event, room=session.room_id)
        return {}

    def _media_event_sender(self, room_id: str):
        """The SFU's router events, as Socket.IO events to the room."""
        async def on_event(kind: str, data: Any) -> None:
            try:
                if kind == "active_speaker":
                    await self.emit("active_speaker", {"participant_id": data.get("peer_id"),
                                                       "level": data.get("level")}, room=room_id)
                elif kind == "audio_levels":
                    await self.emit("audio_levels", {"levels": data}, room=room_id)
                elif kind == "producer_removed" and data.get("source") == "screen":  # stage_events.py
                    await self.participant_left_stage(room_id, data.get("peer_id"), source="screen")
            except Exception:  # noqa: BLE001 - a speaker event is never worth a crash
                log.exception("media event %s for %s failed", kind, room_id)

        def dispatch(kind: str, data: Any) -> None:
            asyncio.ensure_future(on_event(kind, data))

        return dispatch
