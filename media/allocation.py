"""Which layer of each video a subscriber gets: its tiles' wishes within what its link can take.

Pure logic, no asyncio: the subscribe connection (subscriber.py) describes each video it forwards
as a :class:`Video` twice a second, and applies what :meth:`LayerAllocator.decide` returns.

- **Wishes.** Each video wants the smallest layer at least about as large as the tile that shows
  it (``desired_layer``); a video whose size the client did not say wants the top layer. Bigger
  tiles matter more (``importance``): thumbnails step down before the speaker and the stage.
- **The link.** Browsers tell a sender their receive estimate in REMB. Chromium's never claims
  much more than it has seen (about 1.5 times what it receives), and after we send more it
  follows slowly (~8 % a second): so neither an estimate above what we send nor one below it says
  much by itself. The link is taken as congested when the estimate is below what we send *and*
  it fell (to under 85 % of its recent peak: Chromium drops it on overuse) or it stopped growing
  for 2 s (a link at its limit), or when the receiver reports lose over ~10 %. Then the videos
  must fit the estimate: least important first, each steps down and, if even its lowest layer
  does not fit, it is paused (the client is told). The estimate becomes a ceiling for a while
  (8 s, doubling to 60 s while congestion keeps returning; an estimate that grows above it
  lifts it), then up-switches probe again.
- **Up-switches** are careful: one layer at a time, at most one per video every ``UP_HOLD``
  seconds, and only on layers that are sending (a layer the publisher's own encoder dropped is
  not chosen). Down-switches are immediate. Audio is never touched: it is counted first.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Hashable, Optional

UP_HOLD = 2.0  # seconds between two up-switches of one video
HEADROOM = 0.9  # share of a congested link's estimate that videos may use
CONGESTION_RATIO = 0.9  # an estimate below this share of what is sent may mean congestion...
DROP_RATIO = 0.85  # ...if it fell under this share of its peak of the last HISTORY seconds...
STALL_TIME = 2.0  # ...or grew by less than STALL_GROWTH in this many seconds
STALL_GROWTH = 1.05
HISTORY = 5.0
LOSS_CONGESTION = 26  # a receiver report's fraction lost (of 256) from which the link is congested
LOSS_BACKOFF = 0.85  # then the link is taken to carry this share of what is sent
CEILING_MIN = 8.0  # seconds the estimate of a congested link caps the videos...
CEILING_MAX = 60.0  # ...doubling up to this while congestion returns
CEILING_RESET = 30.0  # congestion that returns later than this after a ceiling ended starts over
DEFAULT_TILE = (1280, 720)  # the size a video without one counts as (importance)
SIZE_MARGIN = 0.85  # a layer this close to the tile's size is large enough
FEATURED_LAYER = 1  # a video shown large keeps up to this layer before thumbnails get their lowest


@dataclass
class Video:
    """One video a subscriber receives, as the allocator sees it."""

    key: Hashable
    importance: float
    desired: int  # the highest layer wanted (0 for a single-layer video)
    costs: list[int]  # bits/s of each layer
    usable: list[bool]  # whether each layer can be switched to now
    current: int  # the layer it has now (-1: paused for bandwidth)
    featured: bool = False  # shown large (the speaker, a pinned video, the stage): see allocate


@dataclass
class LayerAllocator:
    """One subscriber's allocation state: the ceiling learnt from congestion, and when each
    video last moved up."""

    ceiling: Optional[int] = None
    ceiling_until: float = -1e9
    backoff: float = CEILING_MIN / 2
    limit: Optional[int] = None  # the last limit applied (None: the link was not the limit)
    congested: bool = False
    _raised: dict = field(default_factory=dict)  # key -> when it last moved up
    _estimates: deque = field(default_factory=deque)  # (time, estimate) of the last HISTORY seconds

    def link_limit(self, now: float, estimate: Optional[int], sent: int, loss: int) -> Optional[int]:
        """The bits/s the videos and audio must fit now, or None when the link is not the limit
        (up-switches may probe)."""
        history = self._estimates
        while history and now - history[0][0] > HISTORY:
            history.popleft()
        bound = None
        if estimate is not None and sent > 0 and estimate < CONGESTION_RATIO * sent:
            peak = max((e for _, e in history), default=None)
            before = [e for t, e in history if now - t >= STALL_TIME]
            fell = peak is not None and estimate < DROP_RATIO * peak
            stalled = bool(before) and estimate < STALL_GROWTH * before[-1]
            if fell or stalled:
                bound = estimate
        if bound is None and loss >= LOSS_CONGESTION and sent > 0:
            bound = int(sent * LOSS_BACKOFF)
        if estimate is not None:
            history.append((now, estimate))
        self.congested = bound is not None
        if bound is not None:
            if now >= self.ceiling_until or self.ceiling is None:  # a new episode of congestion
                recent = now - self.ceiling_until < CEILING_RESET
                self.backoff = min(CEILING_MAX, self.backoff * 2) if recent else CEILING_MIN
                self.ceiling = bound
            else:
                self.ceiling = min(self.ceiling, bound)
            self.ceiling_until = now + self.backoff
        elif now >= self.ceiling_until:
            self.ceiling = None
        self.limit = self.ceiling
        if self.limit is not None and bound is None and estimate is not None and estimate > self.limit:
            self.limit = estimate  # the link grew meanwhile
        return self.limit

    def decide(self, now: float, videos: list[Video], limit: Optional[int], audio: int = 0) -> dict:
        """The layer for each video (-1: paused for bandwidth), by key."""
        wanted = allocate(videos, limit, audio)
        result = {}
        for video in videos:
            target = wanted[video.key]
            current = video.current
            if target > current:
                if now - self._raised.get(video.key, -1e9) < UP_HOLD:
                    target = current
                else:  # one step: resume at the lowest usable layer, else the next usable one up
                    target = next((i for i in range(current + 1, target + 1) if video.usable[i]), current)
                    if target != current:
                        self._raised[video.key] = now
            result[video.key] = target
        for key in [k for k in self._raised if k not in result]:
            del self._raised[key]
        return result


def allocate(videos: list[Video], limit: Optional[int], audio: int = 0) -> dict:
    """Without a limit, each video gets the best usable layer up to its wish. With one: first
    the featured videos (shown large), most important first, get up to the middle layer (at
    least their lowest) while it fits; then the others (thumbnails), most important first, their
    lowest layer while it fits; what does not fit is paused (-1). So thumbnails step down (to
    paused) before the speaker and the stage fall below the middle layer. Then videos are raised
    towards their wish, most important first."""
    result = {}
    order = sorted(videos, key=lambda v: -v.importance)
    if limit is None:
        for video in order:
            result[video.key] = _best_usable(video, video.desired)
        return result
    budget = limit * HEADROOM - audio
    for video in [v for v in order if v.featured] + [v for v in order if not v.featured]:
        low = _lowest_usable(video)
        target = -1
        if low >= 0 and video.costs[low] <= budget:
            target = low
            if video.featured:  # up to the middle layer
                for index in range(low + 1, min(video.desired, FEATURED_LAYER) + 1):
                    if video.usable[index] and video.costs[index] <= budget:
                        target = index
            budget -= video.costs[target]
        result[video.key] = target
    for video in order:
        target = result[video.key]
        if target < 0:
            continue
        for index in range(target + 1, video.desired + 1):
            if not video.usable[index]:
                continue
            extra = video.costs[index] - video.costs[target]
            if extra > budget:
                break
            budget -= extra
            target = index
        result[video.key] = target
    return result


def _lowest_usable(video: Video) -> int:
    return next((i for i, ok in enumerate(video.usable) if ok), -1)


def _best_usable(video: Video, up_to: int) -> int:
    best = next((i for i in range(min(up_to, len(video.usable) - 1), -1, -1) if video.usable[i]), -1)
    if best < 0:  # nothing is sending yet: wait on the lowest
        return 0 if video.current < 0 else video.current
    return best


def desired_layer(sizes: list[tuple[Optional[int], Optional[int]]], tile: Optional[tuple[int, int]]) -> int:
    """The smallest layer at least about as large as ``tile`` (device pixels), given each
    layer's picture size (None where not seen yet: guessed from the top layer's, halving per
    layer down, or from 1280x720); the top layer without a tile."""
    top = len(sizes) - 1
    if tile is None or top <= 0:
        return max(top, 0)
    width, height = tile
    if width <= 0 or height <= 0:
        return 0
    known = next(((i, s) for i in range(top, -1, -1) if (s := sizes[i])[0] and s[1]), None)
    ref_index, (ref_w, ref_h) = known if known is not None else (top, DEFAULT_TILE)
    for index in range(top + 1):
        w, h = sizes[index]
        if not w or not h:
            scale = 2.0 ** (ref_index - index)
            w, h = ref_w / scale, ref_h / scale
        if w >= SIZE_MARGIN * width and h >= SIZE_MARGIN * height:
            return index
    return top


def importance(tile: Optional[tuple[int, int]], source: str) -> float:
    """How much a video matters when the link is short: its tile's area (a screen share twice)."""
    width, height = tile if tile is not None else DEFAULT_TILE
    return float(max(width, 1) * max(height, 1)) * (2.0 if source == "screen" else 1.0)
