"""SpeakerDetector: the dominant speaker of a router, from RFC 6464 audio levels (no decoding).

Pure logic, clock passed in. The Router calls ``update`` on a timer (every ~250 ms) with each
peer's mean audio level over the interval, in dBov (-127 silence .. 0 loudest; None when no
level arrived). Per peer the level is smoothed across updates. A peer *qualifies* once its
smoothed level has been above ``threshold_dbov`` for ``min_active`` seconds. The first qualifying
peer becomes the speaker at once; a challenger replaces a speaker who is still talking only after
being the loudest, by ``margin_db``, for ``switch_after`` seconds; a speaker who went quiet is
replaced by the loudest qualifying peer. When nobody qualifies, the last speaker stays.
"""

from __future__ import annotations

from typing import Optional

SILENCE_DBOV = -127.0


def dbov_to_linear(dbov: float) -> float:
    """0..1, as a browser's ``getSynchronizationSources()`` ``audioLevel`` (10^(dBov/20))."""
    if dbov <= SILENCE_DBOV:
        return 0.0
    return 10.0 ** (dbov / 20.0)


class SpeakerDetector:
    def __init__(self, *, threshold_dbov: float = -50.0, min_active: float = 0.3,
                 switch_after: float = 0.6, margin_db: float = 3.0, smoothing: float = 0.5) -> None:
        self.threshold_dbov = threshold_dbov
        self.min_active = min_active
        self.switch_after = switch_after
        self.margin_db = margin_db
        self.smoothing = smoothing
        self.levels: dict[str, float] = {}  # smoothed dBov per peer
        self._active_since: dict[str, float] = {}
        self.speaker: Optional[str] = None
        self._challenger: Optional[str] = None
        self._challenger_since = 0.0

    @property
    def speaker_level(self) -> float:
        return self.levels.get(self.speaker, SILENCE_DBOV) if self.speaker is not None else SILENCE_DBOV

    def update(self, now: float, levels: dict[str, Optional[float]]) -> Optional[str]:
        """Feed one interval's levels (peers absent from ``levels`` are forgotten); returns the
        new speaker's id when the speaker changed, else None."""
        for peer_id in [p for p in self.levels if p not in levels]:
            self.remove(peer_id)
        alpha = self.smoothing
        for peer_id, level in levels.items():
            x = SILENCE_DBOV if level is None else max(SILENCE_DBOV, min(0.0, level))
            previous = self.levels.get(peer_id)
            smoothed = x if previous is None else previous + alpha * (x - previous)
            self.levels[peer_id] = smoothed
            if smoothed >= self.threshold_dbov:
                self._active_since.setdefault(peer_id, now)
            else:
                self._active_since.pop(peer_id, None)

        qualified = [p for p, since in self._active_since.items() if now - since >= self.min_active]
        if not qualified:
            self._challenger = None
            return None
        loudest = max(qualified, key=lambda p: self.levels[p])
        current = self.speaker
        if current is None or current not in self._active_since:
            if loudest != current:
                return self._switch(loudest)
            return None
        if loudest == current or self.levels[loudest] < self.levels[current] + self.margin_db:
            self._challenger = None
            return None
        if self._challenger != loudest:
            self._challenger = loudest
            self._challenger_since = now
            return None
        if now - self._challenger_since >= self.switch_after:
            return self._switch(loudest)
        return None

    def _switch(self, peer_id: str) -> str:
        self.speaker = peer_id
        self._challenger = None
        return peer_id

    def remove(self, peer_id: str) -> bool:
        """Forget a peer; True if it was the speaker (there is then no speaker)."""
        self.levels.pop(peer_id, None)
        self._active_since.pop(peer_id, None)
        if self._challenger == peer_id:
            self._challenger = None
        if self.speaker == peer_id:
            self.speaker = None
            return True
        return False
