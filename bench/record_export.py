"""The meeting record of a big meeting: how long the ZIP takes and what it costs the server's memory.

The real server (``sitroom serve --test-mode --media-workers 0``, a subprocess on 127.0.0.1) gets a
room whose database rows are written straight into its SQLite file: ``--people`` joins (a third of
them on a second device, a tenth still open), ``--chat`` chat messages and ``--events`` timeline
events, names and texts in Korean and Portuguese; and a recordings folder with one
``--recording-mb`` MB file of random bytes (incompressible, as real media) and a manifest. Then the
organiser downloads ``GET /api/rooms/{id}/record`` ``--runs`` times, streaming it to a file (the
benchmark holds no ZIP in memory either), while the server's RSS (``VmRSS``) is sampled every
``--sample-ms``; and ``record.json`` once.

Prints, last, one line:

    record_export: zip_mb=<> seconds=<best> seconds_json=<> rss_baseline_mb=<> rss_peak_mb=<> people=<> chat=<> events=<>

Usage: .venv/bin/python bench/record_export.py [--people 300] [--chat 5000] [--events 2000] [--recording-mb 256]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import ORGANISER_KEY, start_server, stop_server  # noqa: E402

NAMES = ["김민지", "이서준", "João Conceição", "Ana Ribeiro", "Maria Silva", "박지훈", "Inês Gonçalves", "Hal"]
ORGS = ["서울특별시청", "Câmara Municipal de Lisboa", "Prefeitura de São Paulo", ""]
MB = 1024 * 1024


def _t(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def fill(db_path: Path, room_id: str, people: int, chat: int, events: int) -> None:
    start = datetime.now(UTC) - timedelta(hours=2)
    rng = random.Random(7)
    rows = []
    for i in range(people):
        joined = start + timedelta(seconds=rng.randrange(0, 3600))
        left = None if i % 10 == 0 else joined + timedelta(seconds=rng.randrange(60, 3600))
        name, org = f"{rng.choice(NAMES)} {i}", rng.choice(ORGS)
        rows.append((f"p_bench{i:08d}", room_id, name, org, "participant", _t(joined), left and _t(left)))
        if i % 3 == 0:  # a second device
            rows.append((f"p_bench{i:08d}b", room_id, name, org, "participant",
                         _t(joined + timedelta(seconds=30)), left and _t(left + timedelta(seconds=5))))
    with closing(sqlite3.connect(db_path, timeout=30)) as conn, conn:
        conn.executemany("INSERT INTO participants (id, room_id, name, organisation, role, joined_at, left_at, removed) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, 0)", rows)
        conn.executemany(
            "INSERT INTO chat_messages (room_id, participant_id, author_name, author_role, text, created_at) "
            "VALUES (?, ?, ?, 'participant', ?, ?)",
            [(room_id, rows[i % len(rows)][0], rows[i % len(rows)][2],
              f"메시지 {i}: Olá, a situação na ponte está normal <b>{i}</b> " * rng.randrange(1, 4),
              _t(start + timedelta(seconds=i % 7200))) for i in range(chat)])
        conn.executemany(
            "INSERT INTO timeline_events (room_id, kind, actor_id, actor_name, target_id, target_name, details, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(room_id, rng.choice(["mute", "stage_panel", "lower_hand", "lock", "unlock"]), rows[0][0], rows[0][2],
              rows[i % len(rows)][0], rows[i % len(rows)][2], json.dumps({"kind": "audio", "n": i}),
              _t(start + timedelta(seconds=i % 7200))) for i in range(events)])


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every_s: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.every_s, self.peak, self.stopped = pid, every_s, 0, threading.Event()

    def rss(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def run(self) -> None:
        while not self.stopped.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.every_s)


def download(url: str, to: Path) -> float:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {ORGANISER_KEY}"})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=600) as response, open(to, "wb") as out:
        while chunk := response.read(MB):
            out.write(chunk)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--chat", type=int, default=5000)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--recording-mb", type=int, default=256)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--sample-ms", type=float, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sitroom-record-bench-") as tmp_name:
        tmp = Path(tmp_name)
        srv = start_server(tmp, "--media-workers", "0")
        try:
            room = srv.create_room("Bench 회의 — Reunião")
            room_id = room["room"]["id"]
            fill(tmp / "data" / "sitroom.db", room_id, args.people, args.chat, args.events)
            folder = tmp / "data" / "recordings" / room_id
            folder.mkdir(parents=True)
            with open(folder / "room-composite.webm", "wb") as f:
                for _ in range(args.recording_mb):
                    f.write(os.urandom(MB))
            (folder / "manifest.json").write_text(json.dumps({"files": ["room-composite.webm"]}))
            sampler = RssSampler(srv.pid, args.sample_ms / 1000)
            baseline = sampler.rss()
            sampler.start()
            zip_path = tmp / "record.zip"
            seconds = min(download(f"{srv.base_url}/api/rooms/{room_id}/record", zip_path) for _ in range(args.runs))
            seconds_json = download(f"{srv.base_url}/api/rooms/{room_id}/record.json", tmp / "record.json")
            sampler.stopped.set()
            sampler.join()
            with zipfile.ZipFile(zip_path) as archive:
                record = json.loads(archive.read("record.json"))
                assert len(record["chat"]) == args.chat and len(record["timeline"]) == args.events
                assert archive.testzip() is None
            print(f"record_export: zip_mb={zip_path.stat().st_size / MB:.1f} seconds={seconds:.2f} "
                  f"seconds_json={seconds_json:.2f} rss_baseline_mb={baseline / MB:.1f} "
                  f"rss_peak_mb={sampler.peak / MB:.1f} people={len(record['people'])} "
                  f"joins={len(record['attendance'])} chat={args.chat} events={args.events}")
        finally:
            stop_server(srv)


if __name__ == "__main__":
    main()
