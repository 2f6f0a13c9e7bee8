"""bench/restart.py: its clients wait between reconnection attempts as socket.io-client does, and a
short run against the real server restarts it both ways and finds the meeting kept."""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.timeout(180)

_spec = importlib.util.spec_from_file_location("bench_restart", REPO / "bench" / "restart.py")
restart = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(restart)


class Draws(random.Random):
    """A Random whose random() gives the values it was made with, in turn."""

    def __init__(self, *values: float):
        super().__init__(0)
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


def test_backoff_is_socket_io_clients():
    # Backoff.duration (socket.io-client contrib/backo2.js): ms = min * 2^attempt; the draw's
    # tenths digit even: less floor(rand * 0.5 * ms), odd: more; at most max; truncated.
    assert restart.backoff_ms(500, 5000, 0, Draws(0.0)) == 500
    assert restart.backoff_ms(500, 5000, 0, Draws(0.15)) == 500 + 37  # floor(1.5) = 1: odd, more
    assert restart.backoff_ms(500, 5000, 1, Draws(0.25)) == 1000 - 125  # floor(2.5) = 2: even, less
    assert restart.backoff_ms(500, 5000, 4, Draws(0.0)) == 5000  # 8000, at most the max
    assert restart.backoff_ms(250, 1000, 2, Draws(0.99)) == 1000  # 1000 + 495, at most the max
    rng = random.Random(7)
    for attempt in range(6):
        for _ in range(200):
            base = 500 * 2 ** attempt
            assert min(5000, base // 2) <= restart.backoff_ms(500, 5000, attempt, rng) <= min(5000, base * 3 // 2)


def test_a_short_run_restarts_both_ways_and_finds_the_meeting_kept(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "restart.py"), "--clients", "3", "--rounds", "1"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=150,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("round 1 SIGTERM:") and "told 3/3" in line for line in lines), result.stdout
    assert any(line.startswith("round 1 SIGKILL:") and "told 0/3" in line for line in lines), result.stdout
    summary = dict(item.split("=", 1) for item in lines[-1].split()[1:])
    assert lines[-1].startswith("restart: ") and summary["clients"] == "3", lines[-1]
    assert summary["kill_kept"] == "yes" and summary["term_kept"] == "yes", lines[-1]
    assert float(summary["kill_all_ms"]) > 0 and float(summary["term_all_ms"]) > 0, lines[-1]
