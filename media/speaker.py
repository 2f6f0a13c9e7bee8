"""SpeakerDetector: the dominant speaker of a router, from RFC 6464 audio levels (no decoding).

Pure logic, clock passed in. Speech is bursty (syllables, pauses; Chromium's fake microphone is a
20 ms beep every 500 ms), so a mean level over an interval says little: a voice and a steady hum
can have the same mean. What separates them is *activity*, as in Jitsi's dominant-speaker
identification: how many packets are loud enough to be a voice. Each audio Producer counts, per
interval, the packets carrying a level, the *voiced* ones (at or above ``VOICE_DBOV`` and
``VOICE_ABOVE_FLOOR_DB`` above that microphone's noise floor, right after a packet that was too:
a voice lasts more than one 20 ms packet, a key click does not) and the loudest level (see
``Producer.take_audio_activity``). The Router calls ``update`` on a timer
(every ~250 ms) with one ``AudioActivity`` per peer (None when no level arrived).

Per peer the voiced fraction and the peak level are smoothed across updates. A peer starts
*talking* once its smoothed activity has been at least ``start_activity`` for ``min_active``
seconds, and stops only when it falls below ``stop_activity`` (hysteresis: the gaps between
words, or between beeps, do not end a turn). The first talking peer becomes the speaker at once; a
challenger replaces a speaker who is still talking only after being more active by
``margin`` for ``switch_after`` seconds; a speaker who stopped talking is replaced by the most
active talking peer. When nobody talks, the last speaker stays.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

SILENCE_DBOV = -127.0
# A packet at or above this level counts as voiced (-40 dBov: linear 0.01). Well above the
# noise floor a browser leaves after noise suppression, well below normal speech (-30..-10).
VOICE_DBOV = -40
VOICE_LEVEL = -VOICE_DBOV  # the same as an RFC 6464 level byte (0 loudest .. 127 silence)


# The noise floor: a packet counts as voiced only if it is also this much louder than the quietest
# level the microphone keeps coming back to (a fan, traffic, a hum louder than VOICE_DBOV).
VOICE_ABOVE_FLOOR_DB = 10
FLOOR_RISE_DB = 3  # per interval (~250 ms): how fast the floor follows a noise that got louder


class NoiseFloor:
    """One microphone's noise floor, in RFC 6464 level units (0 loudest .. 127 silence), from the
    quietest packet of each interval: a quieter interval lowers it at once, a louder one raises
    it by at most ``FLOOR_RISE_DB`` (speech has quiet packets between syllables and words, so a
    talker does not drag the floor up; a steady noise does, within a few seconds). The first
    interval sets it (the Producer counts nothing as voiced before). A level that never varies,
    a test tone, is a noise by this rule, as in Jitsi's dominant-speaker identification.
    ``update`` returns the voice threshold as a level byte: voiced packets are at or below it."""

    def __init__(self) -> None:
        self.floor: Optional[int] = None

    def update(self, quietest: int) -> int:
        floor = self.floor
        if floor is None or quietest >= floor:
            floor = quietest
        else:
            floor = max(quietest, floor - FLOOR_RISE_DB)
        self.floor = floor
        return min(VOICE_LEVEL, floor - VOICE_ABOVE_FLOOR_DB)


class AudioActivity(NamedTuple):
    """One interval of one microphone: its loudest level (dBov) and its voiced packets' share."""

    peak: float
    voiced: float  # 0..1: voiced packets (see above) among those carrying a level


def dbov_to_linear(dbov: float) -> float:
    """0..1, as a browser's ``getSynchronizationSources()`` ``audioLevel`` (10^(dBov/20))."""
    if dbov <= SILENCE_DBOV:
        return 0.0
    return 10.0 ** (dbov / 20.0)


class SpeakerDetector:
    def __init__(self, *, start_activity: float = 0.1, stop_activity: float = 0.04,
                 min_active: float = 0.3, switch_after: float = 0.6, margin: float = 0.15,
                 activity_smoothing: float = 0.4, level_smoothing: float = 0.5) -> None:
        self.start_activity = start_activity
        self.stop_activity = stop_activity
        self.min_active = min_active
        self.switch_after = switch_after
        self.margin = margin
        self.activity_smoothing = activity_smoothing
        self.level_smoothing = level_smoothing
        self.levels: dict[str, float] = {}  # smoothed peak dBov per peer (for events)
        self.activity: dict[str, float] = {}  # smoothed voiced fraction per peer
        self._rising_since: dict[str, float] = {}  # above start_activity since, not yet talking
        self.talking: set[str] = set()
        self.speaker: Optional[str] = None
        self._challenger: Optional[str] = None
        self._challenger_since = 0.0

    @property
    def speaker_level(self) -> float:
        return self.levels.get(self.speaker, SILENCE_DBOV) if self.speaker is not None else SILENCE_DBOV

    def update(self, now: float, activities: dict[str, Optional[AudioActivity]]) -> Optional[str]:
        """Feed one interval (peers absent from ``activities`` are forgotten); returns the new
        speaker's id when the speaker changed, else None."""
        for peer_id in [p for p in self.levels if p not in activities]:
            self.remove(peer_id)
        for peer_id, interval in activities.items():
            self._observe(peer_id, now, interval)

        if not self.talking:
            self._challenger = None
            return None
        most = max(self.talking, key=lambda p: (self.activity[p], self.levels[p]))
        current = self.speaker
        if current is None or current not in self.talking:
            return self._switch(most)
        if most == current or self.activity[most] < self.activity[current] + self.margin:
            self._challenger = None
            return None
        if self._challenger != most:
            self._challenger = most
            self._challenger_since = now
            return None
        if now - self._challenger_since >= self.switch_after:
            return self._switch(most)
        return None

    def _observe(self, peer_id: str, now: float, interval: Optional[AudioActivity]) -> None:
        if interval is None:
            peak, voiced = SILENCE_DBOV, 0.0
        else:
            peak = max(SILENCE_DBOV, min(0.0, interval.peak))
            voiced = max(0.0, min(1.0, interval.voiced))
        level = self.levels.get(peer_id)
        self.levels[peer_id] = peak if level is None else level + self.level_smoothing * (peak - level)
        activity = self.activity.get(peer_id, 0.0)
        activity += self.activity_smoothing * (voiced - activity)
        self.activity[peer_id] = activity
        if peer_id in self.talking:
            if activity < self.stop_activity:
                self.talking.discard(peer_id)
        elif activity >= self.start_activity:
            since = self._rising_since.setdefault(peer_id, now)
            if now - since >= self.min_active:
                self.talking.add(peer_id)
                del self._rising_since[peer_id]
        else:
            self._rising_since.pop(peer_id, None)

    def _switch(self, peer_id: str) -> str:
        self.speaker = peer_id
        self._challenger = None
        return peer_id

    def remove(self, peer_id: str) -> bool:
        """Forget a peer; True if it was the speaker (there is then no speaker)."""
        self.levels.pop(peer_id, None)
        self.activity.pop(peer_id, None)
        self._rising_since.pop(peer_id, None)
        self.talking.discard(peer_id)
        if self._challenger == peer_id:
            self._challenger = None
        if self.speaker == peer_id:
            self.speaker = None
            return True
        return False
