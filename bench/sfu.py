"""SFU benchmark: CPU per inbound and forwarded packet, frames delivered and added latency, for
all-to-all meetings of P participants, against aiortc's MediaRelay on the same load.

The SFU is the real server (``python -m server.cli serve --test-mode``, a subprocess, driven over
Socket.IO as in docs/protocol.md); its CPU is read from /proc/<pid>/stat (its own process only)
and its packet counters from /api/metrics. The load generator runs in separate worker processes
(bench/_load.py): every participant publishes a pre-encoded 640x480@30 VP8 stream (encoded with
PyAV when the benchmark starts, replayed as RTP) plus 20 ms Opus packets, and subscribes to
everyone else, counting packets and complete frames; one subscriber per run really decodes one
stream. Latency: the publisher logs when each frame (audio packet) left, the subscriber when it
arrived, both on CLOCK_MONOTONIC; frames are identified by their VP8 PictureID (Opus packets by
their bytes), learnt once per stream, then followed by RTP timestamp.

Marginal costs come from a least-squares fit of the SFU's CPU (cores) against inbound and
forwarded packets/s over the runs (plus an idle measurement). The baseline is bench/_relay.py
(MediaRelay: decode once, re-encode per subscriber) on the same load for small P.

Prints a table, the fit, the MediaRelay ratio, the targets met or not, and last one line:

    sfu: fwd_us=<> in_us=<> max_p=<> ratio_vs_mediarelay=<> p95_added_ms=<>

Usage: .venv/bin/python bench/sfu.py [--quick] [--sizes 2,4,6] [--window 15] [--relay-sizes 2,3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from array import array
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

import _load  # noqa: E402
import _media  # noqa: E402
from tests.conftest import start_server, stop_server  # noqa: E402

TARGET_FWD_US = 20.0
TARGET_IN_US = 60.0
TARGET_P = 15
TARGET_FRAMES = 0.95
TARGET_RATIO = 100.0
TARGET_P95_MS = 5.0
TARGET_WORKER_FWD_US = 12.0  # with media workers: no dearer than in one process (9-10 us)
TARGET_MAIN_PCT = 10.0  # the main process's share of a core in a P = 15 meeting
REPLY_TIMEOUT = 60.0
SATURATED = 170.0  # % of the 2 cores busy during a run (SFU + generator + anything else)
DISTURBED = 50.0  # % of the 2 cores used by other processes during a run
TRICKLE_DIV = 30  # packet rate divisor of the run that bounds a meeting's fixed costs


def saturated(run: dict) -> bool:
    """The machine was busy (SFU + generator + other processes) or other processes took more than
    a quarter of it: such a run measures the machine, and is left out of the fit and the ratio."""
    return run["cpu"] + run["gen_cpu"] + run["other_cpu"] > SATURATED or run["other_cpu"] > DISTURBED
L_AUDIO = 250  # Opus packets in the clip


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` (all its threads, exited ones included), from
    /proc/<pid>/stat: clock-tick (10 ms) resolution."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_reading(pid: int) -> tuple[float, float]:
    """(nanosecond-resolution CPU of the process's live threads, from /proc/<pid>/task/*/schedstat;
    tick-resolution CPU from /proc/<pid>/stat), both in seconds."""
    precise = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            precise += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return precise / 1e9, cpu_seconds(pid)


def cpu_readings(pids: list[int]) -> dict[int, tuple[float, float]]:
    return {pid: cpu_reading(pid) for pid in pids}


def cpu_deltas(before: dict, after: dict) -> dict[int, float]:
    """CPU seconds of each process between two ``cpu_readings`` (a process gone meanwhile: 0)."""
    return {pid: cpu_delta(before[pid], after[pid]) if pid in after else 0.0 for pid in before}


def cpu_delta(before: tuple[float, float], after: tuple[float, float]) -> float:
    """CPU seconds between two readings: the precise figure, unless a thread exited in between
    (then the live-thread sum lost its time and the tick figure is used)."""
    precise, ticks = after[0] - before[0], after[1] - before[1]
    if abs(precise - ticks) > 0.025 + 0.05 * ticks:
        return ticks
    return precise


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# ---- targets under test --------------------------------------------------------------------------

class SfuTarget:
    """The real server in a subprocess, its SFU in ``media_workers`` worker processes; a fresh room
    per run. Its CPU is the server's and its workers' together (``pids``)."""

    name = "sfu"

    def __init__(self, tmp: Path, media_workers: int = 1, *extra: str) -> None:
        self.tmp = tmp
        self.server = None
        self.count = 0
        self.media_workers = media_workers
        self.extra = extra  # more `sitroom serve` flags

    def start(self) -> None:
        self.count += 1
        self.server = start_server(self.tmp / f"server{self.count}", "--log-level", "warning",
                                   "--media-workers", str(self.media_workers), *self.extra)

    @property
    def pid(self) -> int:
        return self.server.pid

    @property
    def pids(self) -> list[int]:
        """The server process, then its media workers (from /api/metrics)."""
        workers = self.server.metrics().get("workers", [])
        return [self.server.pid] + [w["pid"] for w in workers if w.get("alive") and w.get("pid")]

    def new_meeting(self, size: int) -> dict:
        room = self.server.create_room(f"SFU bench P={size}")
        return {"backend": "sio", "base_url": self.server.base_url,
                "token": room["links"]["participant"].split("?t=")[1]}

    def counters(self) -> tuple[int, int]:
        sfu = self.server.metrics()["sfu"]
        return sfu["rtp_packets_in"], sfu["rtp_packets_out"]

    def idle(self) -> int:
        sfu = self.server.metrics()["sfu"]
        return sfu["peers"]

    def stop(self) -> None:
        if self.server is not None:
            stop_server(self.server)
            self.server = None


class RelayTarget:
    """bench/_relay.py in a subprocess; a fresh process per run."""

    name = "mediarelay"

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.proc = None
        self.base_url = ""

    def start(self) -> None:
        port = free_port()
        log = open(self.tmp / f"relay{port}.log", "w")
        self.proc = subprocess.Popen([sys.executable, str(BENCH / "_relay.py"), str(port)], cwd=REPO,
                                     stdout=log, stderr=subprocess.STDOUT)
        self.base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("relay exited")
            try:
                get_json(self.base_url + "/healthz")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("relay did not start")

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid]

    def new_meeting(self, size: int) -> dict:
        return {"backend": "relay", "base_url": self.base_url, "token": ""}

    def counters(self):
        return None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
            self.proc = None


def measure_idle(target, seconds: float) -> float:
    """CPU (% of one core) of the target (all its processes) with nobody connected."""
    wait_quiet()
    time.sleep(0.5)
    pids = target.pids
    c0, t0 = cpu_readings(pids), time.monotonic()
    time.sleep(seconds)
    return sum(cpu_deltas(c0, cpu_readings(pids)).values()) / (time.monotonic() - t0) * 100


# ---- one run -------------------------------------------------------------------------------------

class Workers:
    def __init__(self, spec: dict, names: list[list[str]]) -> None:
        ctx = mp.get_context("spawn")
        self.conns = []
        self.procs = []
        for i, group in enumerate(names):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_load.worker_main,
                               args=(child, dict(spec, names=group, decode=(i == 0))), daemon=True)
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)

    def _recv(self, conn, expect: str, timeout: float = REPLY_TIMEOUT):
        if not conn.poll(timeout):
            raise TimeoutError(f"worker did not answer {expect!r} in {timeout:.0f} s")
        kind, data = conn.recv()
        if kind == "error":
            raise RuntimeError(f"worker failed:\n{data}")
        if kind != expect:
            raise RuntimeError(f"worker answered {kind!r} to {expect!r}")
        return data

    def ask(self, command: str, expect: str, timeout: float = REPLY_TIMEOUT) -> list:
        for conn in self.conns:
            conn.send(command)
        return [self._recv(conn, expect, timeout) for conn in self.conns]

    def wait_joined(self, timeout: float) -> list:
        return [self._recv(conn, "joined", timeout) for conn in self.conns]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for conn in self.conns:
            try:
                conn.send("stop")
            except Exception:
                pass
        for conn in self.conns:
            try:
                if conn.poll(30):
                    conn.recv()
            except Exception:
                pass
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)


def run_meeting(target, size: int, clip, opus, window: float, warmup: float, worker_count: int,
                subscribe: bool = True, rate_div: int = 1) -> dict:
    """One meeting of ``size`` participants; ``subscribe=False``: everyone publishes, nobody
    receives (the cost of the inbound side alone); ``rate_div``: every stream at 1/rate_div of
    its packet rate (same participants, connections and subscriptions: what the fit needs to
    tell per-packet costs from per-participant ones)."""
    meeting = target.new_meeting(size)
    spec = dict(meeting, publishers=size, clip=clip, opus=opus, subscribe=subscribe, rate_div=rate_div,
                poll=not WAKE_SUBSCRIBERS["on"], nice=GENERATOR_NICE["value"])
    groups = [[] for _ in range(max(1, min(worker_count, size)))]
    for i in range(size):
        groups[i % len(groups)].append(f"P{i + 1}")
    workers = Workers(spec, groups)
    try:
        workers.wait_joined(timeout=30 + 5 * size)
        deadline = time.monotonic() + warmup
        ready = 0
        while time.monotonic() < deadline:
            ready = sum(workers.ask("status", "status"))
            if ready >= size:
                break
            time.sleep(0.25)
        time.sleep(1.0)  # settle
        workers.ask("log on", "ok")
        pids = target.pids
        t0, c0 = time.monotonic(), cpu_readings(pids)
        gen0 = sum(cpu_seconds(pid) for pid in workers.pids)
        busy0 = machine_busy()
        counters0 = target.counters()
        marks0 = workers.ask("mark", "mark")
        time.sleep(window)
        t1, c1 = time.monotonic(), cpu_readings(pids)
        gen1 = sum(cpu_seconds(pid) for pid in workers.pids)
        busy1 = machine_busy()
        counters1 = target.counters()
        marks1 = workers.ask("mark", "mark")
        workers.ask("log off", "ok")
        results = [p for batch in workers.ask("results", "results") for p in batch]
    finally:
        workers.stop()
    elapsed = t1 - t0
    cpu = cpu_deltas(c0, c1)
    run = analyse(target.name, size, ready, elapsed, sum(cpu.values()) / elapsed * 100, (gen1 - gen0) / elapsed * 100,
                  counters0, counters1, marks0, marks1, results, rate_div)
    run["main_cpu"] = cpu[pids[0]] / elapsed * 100  # the server process alone (the rest: its media workers)
    run["subscribe"] = subscribe
    # whatever else ran on the machine meanwhile (other people's tests, say): it competes for the cores
    run["other_cpu"] = max(0.0, (busy1 - busy0) / elapsed * 100 - run["cpu"] - run["gen_cpu"])
    return run


QUIET = {"limit": 0.0}  # --quiet-wait
WAKE_SUBSCRIBERS = {"on": False}  # --wake-subscribers
GENERATOR_NICE = {"value": 19}  # --generator-nice


def wait_quiet(threshold: float = 25.0) -> None:
    """Wait (at most --quiet-wait seconds) until the rest of the machine is nearly idle: other
    people's test runs on these 2 cores distort every figure."""
    deadline = time.monotonic() + QUIET["limit"]
    waited = False
    while time.monotonic() < deadline:
        b0 = machine_busy()
        time.sleep(1.0)
        busy = (machine_busy() - b0) * 100
        if busy < threshold:
            break
        if not waited:
            print(f"  waiting for a quiet machine ({busy:.0f}% busy)...", flush=True)
            waited = True


def try_meeting(*args, **kwargs):
    """run_meeting, or None (with the reason printed) if the run failed: the benchmark goes on."""
    wait_quiet()
    try:
        return run_meeting(*args, **kwargs)
    except Exception as exc:  # a worker or the target failed or timed out
        text = str(exc).strip().splitlines()
        print(f"  run failed: {type(exc).__name__}: {text[-1] if text else ''}", flush=True)
        return None


def run_rooms(target, rooms: list[tuple[int, int]], clip, opus, window: float, warmup: float,
              worker_count: int) -> list[dict]:
    """Meetings at the same time, one per (publishers, viewers) of ``rooms``: the publishers meet
    all-to-all, the viewers (named V1, V2...) only receive, every publisher. Returns one run per
    room (frames, latency and packet rates its own, from the load generator); ``cpu`` is the whole
    server's (the server process and its media workers) and ``proc_cpu`` each process's."""
    groups_of = []
    for publishers, viewers in rooms:
        meeting = target.new_meeting(publishers + viewers)
        names = [f"P{i + 1}" for i in range(publishers)] + [f"V{i + 1}" for i in range(viewers)]
        spec = dict(meeting, publishers=publishers, clip=clip, opus=opus, subscribe=True, rate_div=1,
                    poll=not WAKE_SUBSCRIBERS["on"], nice=GENERATOR_NICE["value"])
        groups = [[] for _ in range(max(1, min(worker_count, len(names))))]
        for i, name in enumerate(names):
            groups[i % len(groups)].append(name)
        groups_of.append((publishers, viewers, Workers(spec, groups)))
    try:
        for publishers, viewers, workers in groups_of:
            workers.wait_joined(timeout=30 + 5 * (publishers + viewers))
        deadline = time.monotonic() + warmup
        ready = [0] * len(groups_of)
        while time.monotonic() < deadline:
            ready = [sum(w.ask("status", "status")) for _, _, w in groups_of]
            if all(r >= p + v for r, (p, v, _) in zip(ready, groups_of)):
                break
            time.sleep(0.25)
        time.sleep(1.0)  # settle
        for _, _, w in groups_of:
            w.ask("log on", "ok")
        pids = target.pids
        gen_pids = [pid for _, _, w in groups_of for pid in w.pids]
        t0, c0 = time.monotonic(), cpu_readings(pids)
        gen0, busy0 = sum(cpu_seconds(pid) for pid in gen_pids), machine_busy()
        marks0 = [w.ask("mark", "mark") for _, _, w in groups_of]
        time.sleep(window)
        t1, c1 = time.monotonic(), cpu_readings(pids)
        gen1, busy1 = sum(cpu_seconds(pid) for pid in gen_pids), machine_busy()
        marks1 = [w.ask("mark", "mark") for _, _, w in groups_of]
        for _, _, w in groups_of:
            w.ask("log off", "ok")
        results = [[p for batch in w.ask("results", "results") for p in batch] for _, _, w in groups_of]
    finally:
        for _, _, w in groups_of:
            w.stop()
    elapsed = t1 - t0
    cpu = cpu_deltas(c0, c1)
    total = sum(cpu.values()) / elapsed * 100
    proc_cpu = {("server" if i == 0 else f"worker {i - 1}"): cpu[pid] / elapsed * 100 for i, pid in enumerate(pids)}
    runs = []
    for (publishers, viewers, _), r, m0, m1, res in zip(groups_of, ready, marks0, marks1, results):
        run = analyse(target.name, publishers + viewers, r, elapsed, total, (gen1 - gen0) / elapsed * 100,
                      None, None, m0, m1, res, 1, expected_pairs=publishers * (publishers - 1) + viewers * publishers)
        run.update(publishers=publishers, viewers=viewers, proc_cpu=proc_cpu, subscribe=True,
                   main_cpu=proc_cpu["server"],
                   other_cpu=max(0.0, (busy1 - busy0) / elapsed * 100 - total - (gen1 - gen0) / elapsed * 100))
        runs.append(run)
    return runs


def try_rooms(*args, **kwargs) -> list[dict] | None:
    """run_rooms, or None (with the reason printed) if the run failed."""
    wait_quiet()
    try:
        return run_rooms(*args, **kwargs)
    except Exception as exc:
        text = str(exc).strip().splitlines()
        print(f"  run failed: {type(exc).__name__}: {text[-1] if text else ''}", flush=True)
        return None


def analyse(name, size, ready, elapsed, cpu, gen_cpu, counters0, counters1, marks0, marks1, results,
            rate_div: int = 1, expected_pairs: int | None = None) -> dict:
    before = {p["id"]: p for m in marks0 for p in m["participants"]}
    after = {p["id"]: p for m in marks1 for p in m["participants"]}
    sent_frames = {pid: after[pid]["k"] - before[pid]["k"] for pid in after}
    sent_audio = {pid: after[pid]["n"] - before[pid]["n"] for pid in after}
    sent_packets = sum(after[pid]["sent"] - before[pid]["sent"] for pid in after)
    received_packets = 0
    video_ratio, audio_ratio, fps = [], [], []
    for sub, snap in after.items():
        prev = before[sub]["streams"]
        for key, (packets, frames) in snap["streams"].items():
            pub, kind = key.split("/")
            if pub == sub or pub not in sent_frames:
                continue
            p0, f0 = prev.get(key, (0, 0))
            received_packets += packets - p0
            got = frames - f0
            if kind == "video":
                fps.append(got / elapsed)
                video_ratio.append(got / max(1, sent_frames[pub]))
            else:
                audio_ratio.append(got / max(1, sent_audio[pub]))
    if expected_pairs is None:  # all-to-all: everyone receives everyone else's video
        expected_pairs = size * (size - 1)
    missing = expected_pairs - len(fps)
    if missing > 0:  # a subscriber never got some publisher's video at all
        fps += [0.0] * missing
        video_ratio += [0.0] * missing
    if counters0 is not None:
        in_pps = (counters1[0] - counters0[0]) / elapsed
        out_pps = (counters1[1] - counters0[1]) / elapsed
    else:
        in_pps = sent_packets / elapsed
        out_pps = received_packets / elapsed

    # latency: publisher send log vs subscriber arrival log, same clock; and, where frames are
    # identified, the exact share of the frames sent between the marks that arrived complete
    video_ms, audio_ms = [], []
    app_ms: list[float] = []  # the same, to when the subscriber's process read them (its own delay included)
    exact: dict[tuple[str, str], int] = {}
    if name == "sfu":
        k_range = {pid: (before[pid]["k"], after[pid]["k"]) for pid in after}
        n_range = {pid: (before[pid]["n"], after[pid]["n"]) for pid in after}
        exact_audio: dict[tuple[str, str], int] = {}
        sends = {r["id"]: (array("q", r["v_send"]), array("q", r["a_send"])) for r in results}
        for r in results:
            for s in r["streams"]:
                if s["id0"] is None or s["pub"] not in sends:
                    continue
                log = array("q", s["log"])
                v_send, a_send = sends[s["pub"]]
                if s["kind"] == "video":
                    k0, k1 = k_range.get(s["pub"], (0, 0))
                    got = 0
                    for i in range(0, len(log), 3):
                        k = s["id0"] + log[i] // (_media.TS_PER_FRAME * rate_div)
                        if k < len(v_send):
                            video_ms.append((log[i + 1] - v_send[k]) / 1e6)
                            app_ms.append((log[i + 2] - v_send[k]) / 1e6)
                        got += k0 <= k < k1
                    exact[(r["id"], s["pub"])] = got
                else:
                    base = None
                    n0, n1 = n_range.get(s["pub"], (0, 0))
                    got = 0
                    for i in range(0, len(log), 3):
                        m = s["id0"] + log[i] // (_media.AUDIO_SAMPLES * rate_div)
                        if base is None:
                            best = None
                            for j in range(0, len(a_send) // L_AUDIO + 2):
                                n = m + j * L_AUDIO
                                if n >= len(a_send):
                                    break
                                delay = abs(log[i + 1] - a_send[n])  # the loop of the clip it was sent in
                                if best is None or delay < best[1]:
                                    best = (j, delay)
                            if best is None:
                                break
                            base = best[0] * L_AUDIO
                        n = m + base
                        if n < len(a_send):
                            audio_ms.append((log[i + 1] - a_send[n]) / 1e6)
                            app_ms.append((log[i + 2] - a_send[n]) / 1e6)
                        got += n0 <= n < n1
                    exact_audio[(r["id"], s["pub"])] = got
    if exact and len(exact) == len(video_ratio) - max(0, missing):
        fps = [got / elapsed for got in exact.values()] + [0.0] * max(0, missing)
        video_ratio = [got / max(1, sent_frames[pub]) for (sub, pub), got in exact.items()] + [0.0] * max(0, missing)
    if name == "sfu" and exact_audio and len(exact_audio) == len(audio_ratio):
        audio_ratio = [got / max(1, sent_audio[pub]) for (sub, pub), got in exact_audio.items()]
    decoder = next((r["decoder"] for r in results if "decoder" in r), None)
    return {
        "target": name, "P": size, "rate_div": rate_div, "ready": ready, "elapsed": elapsed, "cpu": cpu, "gen_cpu": gen_cpu,
        "in_pps": in_pps, "out_pps": out_pps,
        "sent_fps": min((v for v in sent_frames.values() if v), default=0) / elapsed,
        "min_fps": min(fps) if fps else 0.0, "min_frames": min(video_ratio) if video_ratio else 0.0,
        "min_audio": min(audio_ratio) if audio_ratio else 0.0,
        "v_p50": pct(video_ms, 0.5), "v_p95": pct(video_ms, 0.95),
        "a_p50": pct(audio_ms, 0.5), "a_p95": pct(audio_ms, 0.95),
        "all_p50": pct(video_ms + audio_ms, 0.5), "all_p95": pct(video_ms + audio_ms, 0.95),
        "all_p99": pct(video_ms + audio_ms, 0.99), "app_p95": pct(app_ms, 0.95),
        "latency_samples": len(video_ms) + len(audio_ms), "decoder": decoder,
        "keyframes_sent": sum(r["keyframes_sent"] for r in results),
        "send_errors": sum(r["send_errors"] for r in results),
    }


# ---- fit -----------------------------------------------------------------------------------------

def solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (a small square system)."""
    n = len(b)
    m = [row[:] + [v] for row, v in zip(a, b)]
    for c in range(n):
        pivot = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[pivot] = m[pivot], m[c]
        if abs(m[c][c]) < 1e-12:
            raise ZeroDivisionError("singular fit")
        for r in range(n):
            if r != c:
                f = m[r][c] / m[c][c]
                for k in range(c, n + 1):
                    m[r][k] -= f * m[c][k]
    return [m[i][n] / m[i][i] for i in range(n)]


def least_squares(xs: list[list[float]], ys: list[float]) -> tuple[list[float], list[float], list[float]]:
    """Ordinary least squares of ys on the columns of xs: (coefficients, their standard errors
    (nan without spare degrees of freedom), residuals). Columns are scaled to 1 first, since
    they span six orders of magnitude (a participant count next to packets per second)."""
    n, k = len(xs), len(xs[0])
    scale = [max(abs(x[j]) for x in xs) or 1.0 for j in range(k)]
    zs = [[x[j] / scale[j] for j in range(k)] for x in xs]
    ztz = [[sum(z[i] * z[j] for z in zs) for j in range(k)] for i in range(k)]
    zty = [sum(z[i] * y for z, y in zip(zs, ys)) for i in range(k)]
    beta = solve(ztz, zty)
    residuals = [y - sum(b * zj for b, zj in zip(beta, z)) for z, y in zip(zs, ys)]
    errors = [float("nan")] * k
    if n > k:
        sigma2 = sum(r * r for r in residuals) / (n - k)
        for j in range(k):  # diagonal of (Z'Z)^-1, one column at a time
            inv_col = solve(ztz, [1.0 if i == j else 0.0 for i in range(k)])
            errors[j] = (sigma2 * inv_col[j]) ** 0.5 / scale[j]
    return [b / sc for b, sc in zip(beta, scale)], errors, residuals


def marginal_fit(runs: list[dict]) -> dict:
    """Marginal CPU per inbound and per forwarded packet, from runs of the same meeting (size,
    and all-to-all or publish-only) at different packet rates only (a within-group, "fixed
    effects" least squares):

        cpu = F(group) + inbound x in/s + forwarded x out/s

    where F, whatever a meeting costs besides its packets (each peer's connections, timers,
    RTCP; whether it grows like P or P^2 or not at all), is free per group and cancels out.
    Every publisher sends the same rate, so across full-rate sizes alone P and in/s grow
    together and per-participant costs would be counted as per-packet ones. All-to-all groups
    give inbound + (P-1) x forwarded each; publish-only groups give inbound alone. Sizes with
    one run only still get their F, for ``fixed_fit``. Returns the two coefficients (cores per
    packet/s), their standard errors, the residuals, F per all-to-all size and the raw contrast
    of each group (cores per inbound packet/s, its forwards included)."""
    by_size: dict[tuple[int, bool], list[dict]] = {}
    for run in runs:
        by_size.setdefault((run["P"], run.get("subscribe", True)), []).append(run)
    xs, ys, used = [], [], []
    for size, group in sorted(by_size.items()):
        if len({r["rate_div"] for r in group}) < 2:
            continue  # one packet rate only (repeats at the MediaRelay sizes): nothing to contrast
        m_in = statistics.mean(r["in_pps"] for r in group)
        m_out = statistics.mean(r["out_pps"] for r in group)
        m_cpu = statistics.mean(r["cpu"] / 100 for r in group)
        for r in group:
            xs.append([r["in_pps"] - m_in, r["out_pps"] - m_out])
            ys.append(r["cpu"] / 100 - m_cpu)
            used.append(r)
    groups = {(r["P"], r.get("subscribe", True)) for r in used}
    if len(groups) < 2:
        raise ZeroDivisionError("need two rates at two sizes at least")
    beta, errors, residuals = least_squares(xs, ys)
    spare = len(used) - len(groups) - 2  # the per-group means used degrees of freedom too
    if spare > 0:
        errors = [e * ((len(used) - 2) / spare) ** 0.5 for e in errors]
    else:
        errors = [float("nan")] * 2
    a, b = beta
    fixed = {size: statistics.mean(r["cpu"] / 100 - a * r["in_pps"] - b * r["out_pps"] for r in group)
             for (size, subscribe), group in by_size.items() if subscribe}
    contrasts = {}  # per group: CPU per inbound packet (with its forwards) between its rates, raw
    for key, group in sorted(by_size.items()):
        full = [r for r in group if r["rate_div"] == 1]
        low = [r for r in group if r["rate_div"] > 1]
        if full and low:
            d_cpu = statistics.mean(r["cpu"] for r in full) - statistics.mean(r["cpu"] for r in low)
            d_in = statistics.mean(r["in_pps"] for r in full) - statistics.mean(r["in_pps"] for r in low)
            if d_in > 0:
                contrasts[key] = d_cpu / 100 / d_in
    return {"inbound": a, "forwarded": b, "err": errors, "residuals": list(zip(used, residuals)), "fixed": fixed,
            "contrasts": contrasts}


def fixed_fit(fixed: dict[int, float], idle: float) -> dict:
    """F(P) (cores) = c0 + participant x P + subscription x P(P-1), over the sizes and idle."""
    sizes = sorted(fixed)
    xs = [[1.0, 0.0, 0.0]] + [[1.0, float(p), float(p * (p - 1))] for p in sizes]
    ys = [idle] + [fixed[p] for p in sizes]
    beta, errors, residuals = least_squares(xs, ys)
    return {"c0": beta[0], "participant": beta[1], "subscription": beta[2], "err": errors,
            "residuals": list(zip([0] + sizes, residuals))}


# ---- main ----------------------------------------------------------------------------------------

def fmt(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:.{digits}f}"


def pm(value: float, digits: int = 1) -> str:
    """`` (+-x)`` for a standard error, nothing without one."""
    return "" if value != value else f" (+-{value:.{digits}f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="P=2,6,10 (also at half rate), 3 s windows, MediaRelay at P=2 (~70 s)")
    parser.add_argument("--sizes", default="2,4,6,8,10,12,15", help="meeting sizes P")
    parser.add_argument("--relay-sizes", default="2,3", help="meeting sizes for the MediaRelay baseline")
    parser.add_argument("--low-rate-sizes", default="2,4,8,12,15",
                        help="meeting sizes run again with every stream at 1/--low-rate-div of its packet rate "
                             "(for the fit: per-packet costs come from these contrasts; two sizes at least)")
    parser.add_argument("--ratio-repeats", type=int, default=3,
                        help="runs of the SFU at each MediaRelay size, all-to-all and publish-only (default 3, "
                             "1 with --quick)")
    parser.add_argument("--trickle-size", type=int, default=15,
                        help="size of one more all-to-all run at 1/30 of the packet rate: its CPU bounds the "
                             "meeting's fixed costs from above (0: none; none with --quick)")
    parser.add_argument("--publish-only-sizes", default="2,15",
                        help="meeting sizes run with nobody subscribed, at full and at low rate (for the fit: "
                             "the cost of inbound packets alone)")
    parser.add_argument("--low-rate-div", type=int, default=2, help="packet rate divisor of the low-rate runs")
    parser.add_argument("--window", type=float, default=15.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=30.0, help="max seconds to wait for every stream")
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes")
    parser.add_argument("--quiet-wait", type=float, default=None,
                        help="before each run, wait up to this many seconds for other processes to go idle "
                             "(default 120, 0 with --quick)")
    parser.add_argument("--wake-subscribers", action="store_true",
                        help="subscribers sleep on their sockets (asyncio readers) instead of polling them every "
                             "2 ms: then every packet sent to a sleeping subscriber wakes it from within the "
                             "sender's sendto, a loopback cost charged to the SFU (and MediaRelay)")
    parser.add_argument("--generator-nice", type=int, default=19,
                        help="niceness of the load-generator processes (default 19: the remote clients they stand "
                             "for must not take the CPU from the SFU on this machine's 2 cores; 0: compete)")
    parser.add_argument("--media-workers", type=int, default=2,
                        help="the server's media worker processes (sitroom serve --media-workers; default 2, one per "
                             "core here); with 2 or more, the rows below run too")
    parser.add_argument("--rooms-of", type=int, default=12,
                        help="size of each of two simultaneous all-to-all rooms (default 12)")
    parser.add_argument("--span-size", type=int, default=20,
                        help="one all-to-all room of this size spanning two workers (half its peers on each: "
                             "--media-span-peers P/2); 0: none")
    parser.add_argument("--viewers", default="25,50,75,100,150",
                        help="one speaker with V viewers, for each V in turn until one falls below 95%% of frames")
    parser.add_argument("--fresh-server", action="store_true", default=None,
                        help="a new server process per run (default unless --quick)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the server
    if args.quick:
        args.sizes, args.relay_sizes, args.window, args.warmup = "2,6,10", "2", 3.0, 15.0
        args.low_rate_sizes = args.publish_only_sizes = "2,10"
        args.ratio_repeats = 1
        args.trickle_size = 0
        args.rooms_of, args.viewers, args.span_size = 6, "10,20", 8
    if args.fresh_server is None:
        args.fresh_server = not args.quick
    WAKE_SUBSCRIBERS["on"] = args.wake_subscribers
    GENERATOR_NICE["value"] = args.generator_nice
    QUIET["limit"] = args.quiet_wait if args.quiet_wait is not None else (0.0 if args.quick else 120.0)
    relay_sizes = [int(s) for s in args.relay_sizes.split(",") if s]
    sizes = sorted({int(s) for s in args.sizes.split(",") if s} | set(relay_sizes))  # same-P comparisons
    div = args.low_rate_div
    low_sizes = sorted({int(s) for s in args.low_rate_sizes.split(",") if s}) if div > 1 else []
    pub_sizes = sorted({int(s) for s in args.publish_only_sizes.split(",") if s}) if div > 1 else []
    # (P, rate divisor, everyone subscribes): all-to-all at full rate (the table, the targets),
    # again at a lower rate (the fit), publish-only at full and lower rate (the fit: inbound
    # packets alone) and at full rate at the MediaRelay sizes (per-subscription costs)
    jobs = ([(size, 1, True) for size in sizes] + [(size, div, True) for size in low_sizes]
            + [(size, 1, False) for size in sorted(set(pub_sizes) | set(relay_sizes))]
            + [(size, div, False) for size in pub_sizes])
    # the SFU's cost per subscription at the MediaRelay sizes is a small difference of two small
    # figures: measured --ratio-repeats times, alternating
    jobs += [(size, 1, subscribe) for _ in range(args.ratio_repeats - 1) for size in relay_sizes
             for subscribe in (True, False)]
    if args.trickle_size:
        jobs.append((args.trickle_size, TRICKLE_DIV, True))
    started = time.monotonic()

    t = time.monotonic()
    clip = _media.encode_vp8_clip()
    opus = _media.encode_opus_clip()
    video_pps = sum(len(_media.vp8_chunks(f)) for f, _ in clip) / (len(clip) / _media.FPS)
    kbps = sum(len(f) for f, _ in clip) * 8 / (len(clip) / _media.FPS) / 1000
    print(f"load: VP8 640x480@30 {kbps:.0f} kbps ({video_pps:.0f} packets/s, {len(clip)} frames pre-encoded) "
          f"+ Opus {sum(map(len, opus)) / len(opus):.0f} B x 50/s per publisher; encoded in {time.monotonic() - t:.1f} s",
          flush=True)

    runs, relay_runs, low_runs, publish_only_runs = [], [], [], []
    worker_rows: list[tuple[str, list[dict]]] = []
    trickle_run = None
    sfu_publish_only: dict[int, list[dict]] = {}
    failed: list[int] = []
    relay_publish_only: dict[int, dict] = {}
    with tempfile.TemporaryDirectory(prefix="sitroom-bench-") as tmp:
        tmp = Path(tmp)
        sfu = SfuTarget(tmp, args.media_workers)
        sfu.start()
        try:
            sfu_idle = measure_idle(sfu, 1.5 if args.quick else 3.0)
            print(f"sfu idle: {sfu_idle:.2f}% of a core", flush=True)
            for i, (size, div, subscribe) in enumerate(jobs):
                if args.fresh_server and i > 0:
                    sfu.stop()
                    sfu.start()
                    time.sleep(0.5)
                elif i > 0:
                    deadline = time.monotonic() + 15
                    while sfu.idle() and time.monotonic() < deadline:
                        time.sleep(0.2)
                run = try_meeting(sfu, size, clip, opus, args.window, args.warmup, args.workers,
                                  subscribe=subscribe, rate_div=div)
                label = f"P={size}{'' if subscribe else ' publish only'}{'' if div == 1 else f' at 1/{div} rate'}"
                if run is None:
                    if div == 1 and subscribe:
                        failed.append(size)
                    if not args.fresh_server:
                        sfu.stop()
                        sfu.start()
                    continue
                if div == TRICKLE_DIV:
                    trickle_run = run
                elif not subscribe:
                    publish_only_runs.append(run)
                    if div == 1:
                        sfu_publish_only.setdefault(size, []).append(run)
                else:
                    (runs if div == 1 else low_runs).append(run)
                print(f"  sfu {label}: cpu {run['cpu']:.1f}% (server {run['main_cpu']:.1f}%)  in {run['in_pps']:.0f}/s  out {run['out_pps']:.0f}/s  "
                      f"min fps {run['min_fps']:.1f}  p95 {fmt(run['all_p95'], 2)} ms  gen cpu {run['gen_cpu']:.0f}%  "
                      f"other {run['other_cpu']:.0f}%  ({time.monotonic() - started:.0f} s)", flush=True)
        finally:
            sfu.stop()

        relay = RelayTarget(tmp)
        relay_idle = float("nan")
        for i, size in enumerate(relay_sizes):
            for subscribe in (False, True):
                relay.start()
                try:
                    if i == 0 and not subscribe:
                        relay_idle = measure_idle(relay, 1.0 if args.quick else 2.0)
                    run = try_meeting(relay, size, clip, opus, args.window, args.warmup, args.workers,
                                      subscribe=subscribe)
                    if run is None:
                        continue
                    if subscribe:
                        relay_runs.append(run)
                    else:
                        relay_publish_only[size] = run
                    print(f"  mediarelay P={size}{'' if subscribe else ' publish only'}: cpu {run['cpu']:.1f}%  "
                          f"min fps {run['min_fps']:.1f}  ({time.monotonic() - started:.0f} s)", flush=True)
                finally:
                    relay.stop()

        # ---- media workers: two rooms at once, and one speaker with many viewers
        if args.media_workers >= 2:
            target = SfuTarget(tmp, args.media_workers)
            target.start()
            try:
                rooms = try_rooms(target, [(args.rooms_of, 0), (args.rooms_of, 0)], clip, opus, args.window,
                                  args.warmup, args.workers)
                if rooms:
                    worker_rows.append(("two rooms", rooms))
                    for r in rooms:
                        print(f"  sfu two rooms of {args.rooms_of}: cpu {r['cpu']:.1f}%  min fps {r['min_fps']:.1f}  "
                              f"frames {r['min_frames'] * 100:.1f}%  p95 {fmt(r['all_p95'], 2)} ms  "
                              f"({time.monotonic() - started:.0f} s)", flush=True)
            finally:
                target.stop()
            if args.span_size:
                spanning = SfuTarget(tmp, args.media_workers, "--media-span-peers", str(args.span_size // 2))
                spanning.start()
                try:
                    rooms = try_rooms(spanning, [(args.span_size, 0)], clip, opus, args.window, args.warmup,
                                      args.workers)
                finally:
                    spanning.stop()
                if rooms:
                    worker_rows.append((f"P={args.span_size} spanning", rooms))
                    r = rooms[0]
                    print(f"  sfu P={args.span_size} spanning two workers: cpu {r['cpu']:.1f}%  min fps "
                          f"{r['min_fps']:.1f}  frames {r['min_frames'] * 100:.1f}%  p95 {fmt(r['all_p95'], 2)} ms  "
                          f"({time.monotonic() - started:.0f} s)", flush=True)
            for v in [int(x) for x in args.viewers.split(",") if x]:
                target.start()
                try:
                    rooms = try_rooms(target, [(1, v)], clip, opus, args.window, args.warmup, args.workers)
                finally:
                    target.stop()
                if not rooms:
                    break
                worker_rows.append((f"1 + {v} viewers", rooms))
                r = rooms[0]
                print(f"  sfu 1 speaker + {v} viewers: cpu {r['cpu']:.1f}%  min fps {r['min_fps']:.1f}  "
                      f"frames {r['min_frames'] * 100:.1f}%  p95 {fmt(r['all_p95'], 2)} ms  "
                      f"({time.monotonic() - started:.0f} s)", flush=True)
                if r["min_frames"] < TARGET_FRAMES:
                    break

    # ---- table
    print()
    print(f"SFU, all-to-all, {args.window:.0f} s per run (CPU: the server process and its media workers, % of one core)")
    header = (f"{'P':>3} {'run':>7} {'CPU %':>6} {'in pkt/s':>9} {'out pkt/s':>10} {'us/out':>7} {'min fps':>8} "
              f"{'frames':>7} {'audio':>6} {'vid p50':>8} {'vid p95':>8} {'aud p95':>8} {'all p99':>8} {'read p95':>9} "
              f"{'gen CPU':>8} {'other':>6}")
    print(header)
    print("-" * len(header))
    for r in runs + low_runs + publish_only_runs + ([trickle_run] if trickle_run else []):
        per_out = r["cpu"] / 100 / r["out_pps"] * 1e6 if r["out_pps"] else float("nan")
        rate = ("" if r["subscribe"] else "pub ") + ("1" if r["rate_div"] == 1 else f"1/{r['rate_div']}")
        print(f"{r['P']:>3} {rate:>7} {r['cpu']:>6.1f} {r['in_pps']:>9.0f} {r['out_pps']:>10.0f} {fmt(per_out):>7} "
              f"{r['min_fps']:>8.1f} {r['min_frames'] * 100:>6.1f}% {r['min_audio'] * 100:>5.1f}% "
              f"{fmt(r['v_p50'], 2):>8} {fmt(r['v_p95'], 2):>8} {fmt(r['a_p95'], 2):>8} {fmt(r['all_p99'], 2):>8} "
              f"{fmt(r['app_p95'], 2):>9} {r['gen_cpu']:>7.0f}% {r['other_cpu']:>5.0f}%")
    print("(run: 1 = all-to-all at full rate; 1/n: every stream at 1/n of its packet rate; pub: publish-only, nobody "
          "subscribed; the last two for the fit only; us/out: total SFU CPU / forwarded "
          "packets; frames/audio: lowest share of the publisher's frames (packets) any subscriber got complete; "
          "latency in ms, publisher's sendto -> kernel receipt on the subscriber's socket (vid: a frame's last "
          "packet, aud: audio packets, all: both); read p95: to when the subscriber's process read it (its own "
          "event loop's delay included); gen CPU: all load-generator processes; other: the rest of the machine "
          "(2 cores = 200%), which competes with both)")
    busy = [(r["P"], r["rate_div"]) for r in runs + low_runs + publish_only_runs if saturated(r)]
    if busy:
        print(f"warning: the machine was saturated (SFU + generator + other processes > {SATURATED:.0f}% of 200%, or "
              f"other processes > {DISTURBED:.0f}%) during (P, rate divisor) = {busy}: those runs measure the machine, "
              "not the SFU, and are left out of the fit and the MediaRelay ratio")
    if failed:
        print(f"failed runs (counted as not within target): P={failed}")
    not_ready = [r["P"] for r in runs + low_runs if r["ready"] < r["P"]]
    if not_ready:
        print(f"warning: not every subscriber had every stream before measuring at P={not_ready}")
    decoders = [(r["P"], r["decoder"]) for r in runs if r["decoder"]]
    if decoders:
        print("decoded by one subscriber (PyAV): " + ", ".join(
            f"P={p}: {d['decoded']} frames {d['size'][0] if d['size'] else '?'}x{d['size'][1] if d['size'] else '?'}"
            f" {d['errors']} errors" for p, d in decoders))

    # ---- fit (see marginal_fit): per-packet costs from rate contrasts at the same size, then
    # what each size costs besides its packets, fitted to per-participant and per-subscription terms
    clean = [r for r in runs + low_runs + publish_only_runs if r["cpu"] < 95 and not saturated(r)]
    in_us = fwd_us = float("nan")
    fixed = {"c0": float("nan"), "participant": float("nan"), "subscription": float("nan")}
    marginal = None
    print()
    try:
        marginal = marginal_fit(clean)
        in_us, fwd_us = marginal["inbound"] * 1e6, marginal["forwarded"] * 1e6
    except ZeroDivisionError:
        print("fit: not enough runs (two packet rates at two sizes at least)")
    if marginal is not None:
        pairs = sorted({(r["P"], r["subscribe"]) for r, _ in marginal["residuals"]})
        print("marginal CPU per packet, from the rate contrasts of " + ", ".join(
            f"P={p}{'' if sub else ' publish-only'}" for p, sub in pairs) + " (+- one standard error):")
        print(f"  {fmt(in_us)} us{pm(marginal['err'][0] * 1e6)} per inbound packet, "
              f"{fmt(fwd_us)} us{pm(marginal['err'][1] * 1e6)} per forwarded packet")
        print("  residuals (% of a core): " + ", ".join(
            f"P={r['P']}{'' if r['subscribe'] else ' pub'}{'' if r['rate_div'] == 1 else ' 1/' + str(r['rate_div'])}"
            f" {res * 100:+.2f}" for r, res in marginal["residuals"]))
        print("  raw contrasts, CPU per inbound packet with its P-1 forwards (publish-only: none): " + ", ".join(
            f"P={p}{'' if sub else ' pub'} {c * 1e6:.0f} us" for (p, sub), c in marginal["contrasts"].items()))
        try:
            fixed = fixed_fit(marginal["fixed"], sfu_idle / 100)
        except ZeroDivisionError:
            pass
        print("the rest, F(P) = CPU - marginal x packets (fixed costs, and the extra cost of packets that wake an "
              "idle process), % of a core: " + ", ".join(f"P={p} {v * 100:.1f}" for p, v in sorted(marginal["fixed"].items())))
        e = fixed.get("err", [float("nan")] * 3)
        print(f"  F(P) = {fmt(fixed['c0'] * 100, 2)}%{pm(e[0] * 100, 2)} + {fmt(fixed['participant'] * 100, 3)}%"
              f"{pm(e[1] * 100, 3)} x participants + {fmt(fixed['subscription'] * 100, 4)}%{pm(e[2] * 100, 4)} "
              f"x subscriptions (P(P-1))")
        if "residuals" in fixed:
            print("  residuals (% of a core): " + ", ".join(
                f"{'idle' if p == 0 else 'P=' + str(p)} {res * 100:+.2f}" for p, res in fixed["residuals"]))
    if trickle_run is not None:
        t = trickle_run
        print(f"fixed costs, bounded from above: P={t['P']} all-to-all at 1/{TRICKLE_DIV} of the rate ({t['in_pps']:.0f} "
              f"inbound, {t['out_pps']:.0f} forwarded packets/s): {t['cpu']:.2f}% of a core, so at most "
              f"{t['cpu'] / t['P']:.2f}% per participant (connections, timers, RTCP, the few packets); the rest of "
              f"F(P) is the extra cost of packets that arrive at a sleeping process")
    per_peer, per_sub = fixed["participant"] * 100, fixed["subscription"] * 100  # % of a core
    pps_per_publisher = statistics.mean(r["in_pps"] / r["P"] for r in runs) if runs else 0.0
    predicted_p = None
    if fwd_us == fwd_us and per_peer == per_peer and pps_per_publisher:
        for p in range(2, 101):
            cores = (fixed["c0"] + fixed["participant"] * p + fixed["subscription"] * p * (p - 1)
                     + (in_us * p * pps_per_publisher + fwd_us * p * (p - 1) * pps_per_publisher) / 1e6)
            if cores <= 1.0:
                predicted_p = p
        print(f"  at {pps_per_publisher:.0f} packets/s per publisher: per participant {per_peer + in_us * pps_per_publisher / 1e4:.2f}% "
              f"of a core (fixed + its inbound packets), per subscription {per_sub + fwd_us * pps_per_publisher / 1e4:.3f}% "
              f"(fixed + forwarding); one core at P = {predicted_p}")
    good = [r["P"] for r in runs if r["cpu"] <= 100 and r["min_frames"] >= TARGET_FRAMES]
    max_p = max(good) if good else 0

    # ---- MediaRelay ratio
    # Per subscriber = per subscription (one publisher's audio+video to one subscriber), marginal:
    # (CPU of the full meeting - CPU of the same publishers with nobody subscribed) / (P(P-1)),
    # for both at the same P, same generator, same measurement. For MediaRelay that is one
    # re-encode per subscription (plus its share of the subscribe connection); for the SFU,
    # forwarding (plus the same share): a difference of two small figures, so the SFU's runs are
    # repeated and averaged, with a standard error. The summary's ratio is the lowest over the
    # sizes. The SFU's per-stream forwarding cost from the fit (fwd_us x packets/s of one
    # publisher, without per-connection costs) gives a second, "per forwarded stream" ratio.
    print()
    ratio = float("nan")
    if relay_runs:
        sfu_sub_fit = fwd_us * pps_per_publisher / 1e4 if fwd_us == fwd_us else float("nan")  # % of a core
        print(f"MediaRelay baseline (aiortc: decode once, re-encode per subscriber); idle CPU: relay {fmt(relay_idle)}%, "
              f"SFU {fmt(sfu_idle)}%")
        print(f"{'P':>3} {'relay CPU %':>12} {'relay pub-only':>15} {'SFU CPU %':>16} {'SFU pub-only':>16} "
              f"{'relay/sub %':>12} {'SFU/sub %':>14} {'ratio':>12} {'SFU/stream fit':>15} {'ratio':>6} {'relay fps':>10}")

        def mean_se(values: list[float]) -> tuple[float, float]:
            if not values:
                return float("nan"), float("nan")
            if len(values) < 2:
                return values[0], float("nan")
            return statistics.mean(values), statistics.stdev(values) / len(values) ** 0.5

        ratios, bounds = [], []  # bounds: sizes where the relay fell behind (its CPU is then a lower bound)
        for rr in relay_runs:
            p = rr["P"]
            subs = p * (p - 1)
            rp = relay_publish_only.get(p)
            full = [r["cpu"] for r in runs if r["P"] == p and not saturated(r)]
            pub = [r["cpu"] for r in sfu_publish_only.get(p, []) if not saturated(r)]
            (f_mean, f_se), (p_mean, p_se) = mean_se(full), mean_se(pub)
            relay_sub = (rr["cpu"] - rp["cpu"]) / subs if rp else float("nan")
            sfu_sub = (f_mean - p_mean) / subs
            sfu_se = ((f_se ** 2 + p_se ** 2) ** 0.5) / subs if f_se == f_se and p_se == p_se else float("nan")
            r_fit = relay_sub / sfu_sub_fit if sfu_sub_fit == sfu_sub_fit and sfu_sub_fit > 0 else float("nan")
            r_direct = relay_sub / sfu_sub if sfu_sub == sfu_sub and sfu_sub > 0 else float("nan")
            if r_direct == r_direct:
                (ratios if rr["min_frames"] >= TARGET_FRAMES else bounds).append((p, r_direct))
            span = "-"
            if sfu_se == sfu_se and sfu_sub > 0:
                high = relay_sub / (sfu_sub - sfu_se) if sfu_sub > sfu_se else float("inf")
                span = f"{relay_sub / (sfu_sub + sfu_se):.0f}-{high:.0f}"
            print(f"{p:>3} {rr['cpu']:>12.1f} {fmt(rp['cpu'] if rp else float('nan')):>15} "
                  f"{fmt(f_mean, 2):>8} +-{fmt(f_se, 2):>5} {fmt(p_mean, 2):>8} +-{fmt(p_se, 2):>5} "
                  f"{fmt(relay_sub, 2):>12} {fmt(sfu_sub, 3):>7} +-{fmt(sfu_se, 3):>5} {fmt(r_direct, 0):>4}x {span:>7} "
                  f"{fmt(sfu_sub_fit, 3):>15} {fmt(r_fit, 0):>5}x {rr['min_fps']:>10.1f}"
                  + ("  (relay behind: a lower bound)" if rr["min_frames"] < TARGET_FRAMES else ""))
        # the summary: the lowest ratio where the relay kept up (a relay that fell behind spent less
        # CPU than the load needs, so its ratio only bounds the true one from below)
        ratio = min(r for _, r in (ratios or bounds)) if ratios or bounds else float("nan")
        if bounds and ratios:
            print("relay behind at P=" + ", ".join(f"{p} (>= {r:.0f}x)" for p, r in bounds)
                  + ": left out of the summary's ratio")
        print(f"(x/sub: CPU % of a core per subscription (one publisher's audio+video to one subscriber): full meeting "
              f"minus the same publishers with nobody subscribed, / P(P-1); SFU: mean +- standard error of "
              f"{args.ratio_repeats} runs each (less any saturated one); ratio: relay/sub / SFU/sub, and its range for SFU/sub +- one standard "
              f"error (the summary's: the lowest over the sizes); SFU/stream fit: fwd_us x one publisher's packets/s "
              f"(forwarding alone), and relay/sub over it)")

    # ---- media workers
    rooms_ok, max_viewers, worker_p95, span = 0, 0, float("nan"), None
    if worker_rows:
        print()
        print(f"media workers ({args.media_workers} processes), {args.window:.0f} s per run (CPU: % of one core; "
              "server = the main process)")
        header = (f"{'run':>16} {'room':>5} {'pubs':>5} {'viewers':>8} {'CPU %':>6} {'server':>7} {'workers':>14} "
                  f"{'min fps':>8} {'frames':>7} {'audio':>6} {'vid p95':>8} {'all p95':>8} {'gen CPU':>8} {'other':>6}")
        print(header)
        print("-" * len(header))
        for label, rooms in worker_rows:
            for i, r in enumerate(rooms):
                per_worker = "/".join(f"{v:.0f}" for k, v in r["proc_cpu"].items() if k != "server")
                print(f"{label:>16} {i + 1:>5} {r['publishers']:>5} {r['viewers']:>8} {r['cpu']:>6.1f} "
                      f"{r['main_cpu']:>7.1f} {per_worker:>14} {r['min_fps']:>8.1f} {r['min_frames'] * 100:>6.1f}% "
                      f"{r['min_audio'] * 100:>5.1f}% {fmt(r['v_p95'], 2):>8} {fmt(r['all_p95'], 2):>8} "
                      f"{r['gen_cpu']:>7.0f}% {r['other_cpu']:>5.0f}%")
        print("(CPU: the server process and its media workers together, the same figure for each room of a run; "
              "workers: each worker process's; frames/audio: lowest share any subscriber got complete; "
              "p95: added latency, ms)")
        pair = next((rooms for label, rooms in worker_rows if label == "two rooms"), [])
        rooms_ok = sum(r["min_frames"] >= TARGET_FRAMES and r["all_p95"] < TARGET_P95_MS for r in pair)
        worker_p95 = max((r["all_p95"] for r in pair), default=float("nan"))
        max_viewers = max((r["viewers"] for label, rooms in worker_rows if "viewers" in label for r in rooms
                           if r["min_frames"] >= TARGET_FRAMES), default=0)
        span = next((rooms[0] for label, rooms in worker_rows if "spanning" in label), None)

    # ---- targets
    reference = next((r for r in runs if r["P"] == max_p), runs[0] if runs else None)
    p95 = reference["all_p95"] if reference else float("nan")
    print()
    print("targets:")

    def line(label: str, ok: bool, detail: str) -> None:
        print(f"  [{'met' if ok else 'NOT met'}] {label}: {detail}")

    def cost(value: float) -> str:  # a fit at or below zero is noise (too short windows, a busy machine)
        return f"{fmt(value)} us" + ("" if value > 0 else " (not a cost: the fit is noise here)")

    line(f"<= {TARGET_FWD_US:.0f} us per forwarded packet", 0 < fwd_us <= TARGET_FWD_US, cost(fwd_us))
    line(f"<= {TARGET_IN_US:.0f} us per inbound packet", 0 < in_us <= TARGET_IN_US, cost(in_us))
    line(f"{TARGET_P}-participant all-to-all within one core, every subscriber >= {TARGET_FRAMES:.0%} of frames",
         max_p >= TARGET_P,
         f"largest measured P within one core at >= 95% frames: {max_p}" +
         (f" (fit: one core at P = {predicted_p})" if predicted_p else "") +
         ("" if TARGET_P in sizes else f" (P={TARGET_P} not run)"))
    line(f">= {TARGET_RATIO:.0f}x less CPU per subscriber than MediaRelay", ratio >= TARGET_RATIO, f"{fmt(ratio, 0)}x")
    line(f"p95 added latency < {TARGET_P95_MS:.0f} ms", p95 < TARGET_P95_MS,
         f"{fmt(p95, 2)} ms at P={reference['P'] if reference else '-'} (video frames and audio packets)")
    line(f"<= {TARGET_WORKER_FWD_US:.0f} us per forwarded packet with media workers", 0 < fwd_us <= TARGET_WORKER_FWD_US,
         cost(fwd_us) + f" ({args.media_workers} workers, the server process included)")
    p15 = next((r for r in runs if r["P"] == TARGET_P), None)
    line(f"the main process under {TARGET_MAIN_PCT:.0f}% of a core in a P={TARGET_P} meeting",
         p15 is not None and p15["main_cpu"] < TARGET_MAIN_PCT,
         f"{fmt(p15['main_cpu'])}%" if p15 else f"P={TARGET_P} not run")
    if worker_rows:
        line(f"two rooms of {args.rooms_of} at once, each >= {TARGET_FRAMES:.0%} of frames and p95 < {TARGET_P95_MS:.0f} ms",
             rooms_ok == 2, f"{rooms_ok} of 2 rooms; p95 {fmt(worker_p95, 2)} ms (the worse room)")
        if span is not None:
            print(f"  one all-to-all room of {span['publishers']} spanning two workers: lowest share of frames "
                  f"{span['min_frames'] * 100:.1f}%, p95 {fmt(span['all_p95'], 2)} ms")
        print(f"  one speaker: every viewer >= {TARGET_FRAMES:.0%} of frames up to V = {max_viewers} "
              f"(tried {args.viewers})")
    print(f"({time.monotonic() - started:.0f} s)")
    print(f"sfu: fwd_us={fmt(fwd_us)} in_us={fmt(in_us)} max_p={max_p} rooms_of_{args.rooms_of}={rooms_ok} "
          f"max_viewers={max_viewers} p95_added_ms={fmt(p95, 2)} ratio_vs_mediarelay={fmt(ratio, 0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
