"""Sitroom next to Janus VideoRoom: CPU per forwarded packet for the same all-to-all load.

Both SFUs get the same participants from the same load generator (bench/_load.py: aiortc peer
connections, the pre-encoded 640x480@30 VP8 clip and 20 ms Opus packets of bench/_media.py,
replayed as SRTP by the same packet sender; subscribers count packets and complete frames). Only
the signaling differs: Sitroom's Socket.IO protocol, or the Janus HTTP API through the VideoRoom
adapter in bench/_janus.py. For each meeting size P, one run through Janus and one through
Sitroom (a fresh Janus / server process each), a warmup until every subscriber has every stream,
then a fixed window. CPU: the SFU's own process (all threads) from /proc/<pid>; packets forwarded:
RTP packets counted at the subscribers (the same count for both SFUs).

Network: Janus gathers no ICE candidates on loopback interfaces, so the whole benchmark runs in a
network namespace it creates (``ip netns add sitroom-janus-<pid>``): ``lo`` and a veth pair whose
one end carries 127.0.0.1/32 (what Janus gathers on), no other address, no route anywhere, IPv6
off. This process enters it (setns) before starting anything, so Janus, the Sitroom server and
the load generator all run inside; every socket they open is checked with ``ss`` (every few
seconds, all runs) to be on 127.0.0.1, and the namespace is deleted at the end, on error and on
Ctrl-C too. Janus gets its own minimal configuration (a temporary folder): the VideoRoom plugin and
the HTTP transport on 127.0.0.1 only, logging warnings and errors only (as the Sitroom server does),
and 2 shared event loops (``--janus-event-loops``; 0 gives Janus's default, a thread per handle).

Prints a table (P, CPU %, forwarded packets/s, us per forwarded packet, frames delivered), the
ratio, and last one line:

    janus: sitroom_fwd_us=<> janus_fwd_us=<> ratio=<>

(us per forwarded packet: the SFU's CPU over the window / RTP packets the subscribers received, at
the largest P both completed; ratio = sitroom / janus.)

Usage (as root): .venv/bin/python bench/janus.py [--quick] [--sizes 4,6,8] [--window 15] [--janus-event-loops 2]
"""

from __future__ import annotations

import argparse
import ctypes
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

import _janus  # noqa: E402
import _media  # noqa: E402
import sfu  # noqa: E402  (run_meeting, the /proc CPU readings, the analysis)

CLONE_NEWNET = 0x40000000
JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
JANUS_PLUGINS = ["audiobridge", "duktape", "echotest", "lua", "nosip", "recordplay", "sip", "streaming",
                 "textroom", "videocall", "voicemail"]  # all but videoroom: disabled
JANUS_TRANSPORTS = ["mqtt", "nanomsg", "pfunix", "rabbitmq", "websockets"]  # all but http
JANUS_EVENTS = ["gelfevh", "mqttevh", "nanomsgevh", "rabbitmqevh", "sampleevh", "wsevh"]
VETH = ("sjv0", "sjv1")  # sjv0 carries 127.0.0.1/32


def run(*cmd: str, timeout: float = 10.0, check: bool = True) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {result.stderr.strip()}")
    return result.stdout


# ---- the network namespace -----------------------------------------------------------------------

class Namespace:
    """A network namespace of our own: lo, a veth pair with 127.0.0.1/32 on one end, nothing else.
    ``enter`` moves this process (its main thread, hence every child started after) into it."""

    def __init__(self) -> None:
        self.name = f"sitroom-janus-{os.getpid()}"
        self.created = False
        self.entered = False
        self._home = None
        self._libc = ctypes.CDLL(None, use_errno=True)

    def create(self) -> None:
        run("ip", "netns", "add", self.name)
        self.created = True
        n = ("ip", "-n", self.name)
        run("ip", "netns", "exec", self.name, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1")
        run(*n, "link", "set", "lo", "up")
        run(*n, "link", "add", VETH[0], "type", "veth", "peer", "name", VETH[1])
        run(*n, "addr", "add", "127.0.0.1/32", "dev", VETH[0])
        run(*n, "link", "set", VETH[0], "up")
        run(*n, "link", "set", VETH[1], "up")

    def _setns(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            if self._libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns({path})")
        finally:
            os.close(fd)

    def enter(self) -> None:
        self._home = os.open("/proc/self/ns/net", os.O_RDONLY)
        self._setns(f"/run/netns/{self.name}")
        self.entered = True

    def describe(self) -> str:
        addrs = run("ip", "-o", "-4", "addr", "show").strip().splitlines()
        addrs6 = run("ip", "-o", "-6", "addr", "show").strip().splitlines()
        routes = run("ip", "route", "show").strip()
        links = [line.split(":")[1].strip() for line in run("ip", "-o", "link", "show").strip().splitlines()]
        return (f"namespace {self.name}: links {', '.join(links)}; IPv4 "
                + "; ".join(" ".join(a.split()[1:4]) for a in addrs)
                + f"; IPv6 addresses: {len(addrs6)}; main routing table: {routes or 'empty (no route anywhere)'}")

    def remove(self) -> None:
        if self.created:
            for pid in run("ip", "netns", "pids", self.name, check=False).split():
                if int(pid) != os.getpid():  # anything of ours still in it (a worker, Janus)
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass
        if self.entered and self._home is not None:
            if self._libc.setns(self._home, CLONE_NEWNET) == 0:
                self.entered = False
            os.close(self._home)
            self._home = None
        if self.created:
            run("ip", "netns", "del", self.name, check=False)
            self.created = False


class SocketWatch(threading.Thread):
    """``ss -uanp`` and ``ss -tanp`` every few seconds, in the namespace: every socket seen."""

    def __init__(self, every: float = 3.0) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.seen: set = set()  # (proto, local, peer, process)
        self.samples = 0
        self._stop = threading.Event()

    def sample(self) -> None:
        for proto, flag in (("udp", "-uanp"), ("tcp", "-tanp")):
            try:
                out = run("ss", flag, timeout=5)
            except Exception:
                continue
            for line in out.splitlines()[1:]:
                bits = line.split()
                if len(bits) < 5:
                    continue
                proc = bits[5].split('"')[1] if len(bits) > 5 and '"' in bits[5] else "?"
                self.seen.add((proto, bits[3], bits[4], proc))
        self.samples += 1

    def run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def stop(self) -> None:
        self._stop.set()

    def report(self) -> tuple[bool, str]:
        def host(address: str) -> str:
            return address.rsplit(":", 1)[0].strip("[]")

        def unconnected(address: str) -> bool:  # ss shows an unconnected or listening peer as * or the wildcard
            name = host(address)
            try:
                return name == "*" or ipaddress.ip_address(name).is_unspecified
            except ValueError:
                return False

        bad = sorted(s for s in self.seen
                     if host(s[1]) != "127.0.0.1" or not (host(s[2]) == "127.0.0.1" or unconnected(s[2])))
        procs = sorted({s[3] for s in self.seen})
        local = sorted({host(s[1]) for s in self.seen})
        peers = sorted({host(s[2]) for s in self.seen})
        text = (f"loopback check ({self.samples} samples of ss -uanp / ss -tanp in the namespace): "
                f"{len(self.seen)} distinct sockets of {', '.join(procs)} (?: no owner left, e.g. TIME-WAIT); "
                f"local addresses {local}; peer addresses {peers} (the wildcard / *: unconnected or listening): "
                + ("all on 127.0.0.1" if not bad else f"NOT loopback only: {bad[:10]}"))
        return not bad, text


# ---- the two targets -----------------------------------------------------------------------------

class JanusTarget:
    """Janus (Debian's package) with a minimal configuration of ours; a fresh process per run."""

    name = "janus"

    def __init__(self, tmp: Path, event_loops: int = 0) -> None:
        self.tmp = tmp
        self.event_loops = event_loops
        self.proc = None
        self.count = 0
        self.base_url = ""
        self.rooms = 0

    def _write_config(self, conf: Path, port: int) -> None:
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "janus.jcfg").write_text(f"""general: {{
	configs_folder = "{conf}"
	plugins_folder = "{JANUS_LIB / 'plugins'}"
	transports_folder = "{JANUS_LIB / 'transports'}"
	events_folder = "{JANUS_LIB / 'events'}"
	loggers_folder = "{JANUS_LIB / 'loggers'}"
	debug_level = 3
	session_timeout = 60
	{f"event_loops = {self.event_loops}" if self.event_loops else "# event_loops: Janus's default, a thread (loop) per handle"}
	server_name = "sitroom-bench"
}}
certificates: {{
}}
media: {{
	ipv6 = false
	rtp_port_range = "20000-40000"
}}
nat: {{
	nice_debug = false
	ignore_mdns = true
	ice_enforce_list = "{VETH[0]}"
}}
plugins: {{
	disable = "{','.join(f'libjanus_{p}.so' for p in JANUS_PLUGINS)}"
}}
transports: {{
	disable = "{','.join(f'libjanus_{t}.so' for t in JANUS_TRANSPORTS)}"
}}
loggers: {{
	disable = "libjanus_jsonlog.so"
}}
events: {{
	broadcast = false
	disable = "{','.join(f'libjanus_{e}.so' for e in JANUS_EVENTS)}"
}}
""")
        (conf / "janus.transport.http.jcfg").write_text(f"""general: {{
	json = "plain"
	base_path = "/janus"
	http = true
	port = {port}
	ip = "127.0.0.1"
	https = false
}}
admin: {{
	admin_http = false
	admin_https = false
}}
""")
        (conf / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")

    def start(self) -> None:
        self.count += 1
        port = sfu.free_port()
        conf = self.tmp / f"janus{self.count}"
        self._write_config(conf, port)
        log = open(conf / "janus.log", "w")
        self.log_path = conf / "janus.log"
        self.proc = subprocess.Popen(["janus", "-F", str(conf), "-C", str(conf / "janus.jcfg"), "-o"],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=conf)
        self.base_url = f"http://127.0.0.1:{port}/janus"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"janus exited with {self.proc.returncode}:\n{self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.base_url + "/info", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("janus did not answer within 20 s")

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid]

    def new_meeting(self, size: int) -> dict:
        self.rooms += 1
        room = 1000 + self.rooms
        _janus.create_room(self.base_url, room, size)
        return {"backend": "janus", "base_url": self.base_url, "room": room, "token": ""}

    def counters(self):
        return None  # packets forwarded: counted at the subscribers

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
            self.proc = None

    def log_summary(self) -> str:
        """Janus's log of the last run (debug_level 3: warnings and errors only): how much it
        wrote, and its most frequent lines (a log line per packet would be CPU spent on logging)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        problems = [line for line in lines if "[WARN]" in line or "[ERR]" in line or "Error" in line]
        counts: dict[str, int] = {}
        for line in problems:
            key = re.sub(r"^(\[[^]]*\]\s*)+", "", line).strip()[:70]  # without the handle's id
            counts[key] = counts.get(key, 0) + 1
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:2]
        return f"{len(lines)} log lines, {len(problems)} warnings/errors" + (
            " (" + "; ".join(f"{n}x {k}" for k, n in top) + ")" if top else "")


class SitroomTarget(sfu.SfuTarget):
    """The real server (``serve --test-mode`` on 127.0.0.1, as bench/sfu.py runs it); packets
    forwarded counted at the subscribers, like Janus's (the server's own counter is kept too)."""

    name = "sitroom"

    def __init__(self, tmp: Path, media_workers: int = 1) -> None:
        super().__init__(tmp, media_workers)
        self.marks: list[tuple[float, int]] = []

    def counters(self):
        # run_meeting asks at the window's start and end: keep the server's own count, for comparison
        self.marks.append((time.monotonic(), self.server.metrics()["sfu"]["rtp_packets_out"]))
        return None


def measure(target, size: int, clip, opus, args) -> dict | None:
    target.start()
    try:
        time.sleep(0.5)
        if isinstance(target, SitroomTarget):
            target.marks = []
        run = sfu.try_meeting(target, size, clip, opus, args.window, args.warmup, args.workers)
        if run is not None and isinstance(target, SitroomTarget) and len(target.marks) == 2:
            (t0, n0), (t1, n1) = target.marks
            run["server_out_pps"] = (n1 - n0) / (t1 - t0)
        return run
    finally:
        target.stop()


# ---- main ----------------------------------------------------------------------------------------

def fmt(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:.{digits}f}"


def us_per_out(run: dict) -> float:
    return run["cpu"] / 100 / run["out_pps"] * 1e6 if run and run["out_pps"] else float("nan")


class Deadline(BaseException):  # not caught by the per-run `except Exception`
    pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: P=3, 4 s window (~1 min)")
    parser.add_argument("--sizes", default="4,6,8", help="meeting sizes P (all-to-all)")
    parser.add_argument("--window", type=float, default=15.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=30.0, help="max seconds to wait for every stream")
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes")
    parser.add_argument("--quiet-wait", type=float, default=None,
                        help="before each run, wait up to this many seconds for other processes to go idle "
                             "(default 20, 0 with --quick)")
    parser.add_argument("--media-workers", type=int, default=1,
                        help="Sitroom's media worker processes (default 1: one room is on one worker anyway; "
                             "its CPU is the server process's and its workers' together)")
    parser.add_argument("--janus-event-loops", type=int, default=2,
                        help="Janus's event_loops setting: that many shared loops (threads) for all handles "
                             "(default 2, one per core: Janus's advice for many handles); 0: Janus's own default, a "
                             "loop (thread) per handle, which costs it about twice the CPU here")
    parser.add_argument("--max-seconds", type=int, default=None,
                        help="give up (and clean up) after this long (default 600, 180 with --quick)")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.window, args.warmup = "3", 4.0, 20.0
    sfu.QUIET["limit"] = args.quiet_wait if args.quiet_wait is not None else (0.0 if args.quick else 20.0)
    max_seconds = args.max_seconds or (180 if args.quick else 600)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if os.geteuid() != 0:
        print("bench/janus.py needs root (it creates a network namespace)", file=sys.stderr)
        return 2
    if shutil.which("janus") is None:
        print("janus is not installed (apt-get install -y janus)", file=sys.stderr)
        return 2

    def on_signal(signum, _frame):
        raise KeyboardInterrupt if signum == signal.SIGINT else SystemExit(128 + signum)

    def on_alarm(_signum, _frame):
        raise Deadline(f"gave up after {max_seconds} s (--max-seconds)")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(max_seconds)
    started = time.monotonic()

    ns = Namespace()
    watch = None
    results: dict[tuple[str, int], dict] = {}
    loopback_ok, loopback_text = False, "loopback check: not run"
    try:
        ns.create()
        ns.enter()
        print(ns.describe(), flush=True)

        t = time.monotonic()
        clip = _media.encode_vp8_clip()
        opus = _media.encode_opus_clip()
        video_pps = sum(len(_media.vp8_chunks(f)) for f, _ in clip) / (len(clip) / _media.FPS)
        print(f"load: VP8 640x480@30 ({video_pps:.0f} packets/s) + Opus 50 packets/s per publisher, all-to-all, "
              f"P = {', '.join(map(str, sizes))}, {args.window:.0f} s windows; encoded in {time.monotonic() - t:.1f} s",
              flush=True)
        version = run("janus", "--version", check=False).splitlines()
        loops = f"event_loops = {args.janus_event_loops}" if args.janus_event_loops else "a loop (thread) per handle"
        print(f"janus: {version[0] if version else '?'} (Debian package), VideoRoom + HTTP transport only, {loops}",
              flush=True)

        watch = SocketWatch()
        watch.start()
        with tempfile.TemporaryDirectory(prefix="sitroom-janus-") as tmp:
            tmp = Path(tmp)
            janus_target, sitroom_target = JanusTarget(tmp, args.janus_event_loops), SitroomTarget(tmp, args.media_workers)
            for i, size in enumerate(sizes):
                order = [janus_target, sitroom_target] if i % 2 == 0 else [sitroom_target, janus_target]
                for target in order:
                    r = measure(target, size, clip, opus, args)
                    if r is None:
                        print(f"  {target.name} P={size}: failed ({time.monotonic() - started:.0f} s)", flush=True)
                        continue
                    results[(target.name, size)] = r
                    print(f"  {target.name} P={size}: cpu {r['cpu']:.1f}%  out {r['out_pps']:.0f}/s  "
                          f"{fmt(us_per_out(r))} us/out  frames {r['min_frames'] * 100:.1f}%  gen cpu {r['gen_cpu']:.0f}%  "
                          f"other {r['other_cpu']:.0f}%  ({time.monotonic() - started:.0f} s)"
                          + (f"; janus: {target.log_summary()}" if target is janus_target else ""), flush=True)
        watch.stop()
        watch.sample()  # and once more at the end
        loopback_ok, loopback_text = watch.report()
    except Deadline as exc:
        print(f"error: {exc}", flush=True)
    finally:
        signal.alarm(0)
        if watch is not None:
            watch.stop()
            if not watch.samples:
                loopback_text = "loopback check: no sample taken"
            elif loopback_text.endswith("not run"):
                loopback_ok, loopback_text = watch.report()
        ns.remove()
        left = run("ip", "netns", "list", check=False)
        print(f"namespace {ns.name} removed: {ns.name not in left}", flush=True)

    # ---- table
    print()
    print(f"Sitroom and Janus VideoRoom, all-to-all, {args.window:.0f} s per run (CPU: the SFU's processes (Sitroom: the server and its media workers), all threads, "
          f"% of one core; out: RTP packets/s received by the subscribers)")
    header = (f"{'P':>3} {'SFU':>8} {'CPU %':>6} {'out pkt/s':>10} {'us/out':>7} {'frames':>7} {'gen CPU':>8} {'other':>6}")
    print(header)
    print("-" * len(header))
    for size in sizes:
        for name in ("sitroom", "janus"):
            r = results.get((name, size))
            if r is None:
                print(f"{size:>3} {name:>8} {'failed':>6}")
                continue
            print(f"{size:>3} {name:>8} {r['cpu']:>6.1f} {r['out_pps']:>10.0f} {fmt(us_per_out(r), 2):>7} "
                  f"{r['min_frames'] * 100:>6.1f}% {r['gen_cpu']:>7.0f}% {r['other_cpu']:>5.0f}%")
    print("(us/out: the SFU's total CPU over the window / packets forwarded; frames: the lowest share of a "
          "publisher's video frames any subscriber got complete; gen CPU: the load-generator processes; other: the "
          "rest of the machine, 2 cores = 200%)")
    checks = [f"P={s} {results[('sitroom', s)]['server_out_pps']:.0f}/s vs {results[('sitroom', s)]['out_pps']:.0f}/s"
              for s in sizes if "server_out_pps" in results.get(("sitroom", s), {})]
    if checks:
        print("(cross-check: Sitroom's own counter of RTP packets sent vs the packets its subscribers received: "
              + ", ".join(checks) + ")")

    print()
    both = [s for s in sizes if ("sitroom", s) in results and ("janus", s) in results]
    for s in both:
        a, b = us_per_out(results[("sitroom", s)]), us_per_out(results[("janus", s)])
        print(f"P={s}: sitroom {fmt(a, 2)} us / janus {fmt(b, 2)} us per forwarded packet = {fmt(a / b, 2)}")
    if len(both) >= 2:
        lo, hi = both[0], both[-1]
        inc = {}
        for name in ("sitroom", "janus"):
            r0, r1 = results[(name, lo)], results[(name, hi)]
            inc[name] = (r1["cpu"] - r0["cpu"]) / 100 / (r1["out_pps"] - r0["out_pps"]) * 1e6
        print(f"incremental, P={lo} -> P={hi} (extra CPU / extra forwarded packets, their inbound packets included): "
              f"sitroom {fmt(inc['sitroom'], 2)} us, janus {fmt(inc['janus'], 2)} us, ratio "
              f"{fmt(inc['sitroom'] / inc['janus'], 2) if inc['janus'] > 0 else '-'}")
    print(loopback_text)
    sitroom_us = janus_us = float("nan")
    if both:
        sitroom_us, janus_us = us_per_out(results[("sitroom", both[-1])]), us_per_out(results[("janus", both[-1])])
        print(f"ratio at P={both[-1]} (the largest both completed): {fmt(sitroom_us / janus_us, 2)}")
    ratio = sitroom_us / janus_us if janus_us == janus_us and janus_us > 0 else float("nan")
    print(f"({time.monotonic() - started:.0f} s)")
    print(f"janus: sitroom_fwd_us={fmt(sitroom_us, 2)} janus_fwd_us={fmt(janus_us, 2)} ratio={fmt(ratio, 2)}")
    return 0 if both and loopback_ok else 1


if __name__ == "__main__":
    sys.exit(main())
