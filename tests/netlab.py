"""A bad network on loopback, for tests and benchmarks: a private network namespace whose only
interface is ``lo``, with delay, jitter, loss and a rate limit applied to its packets.

    with impaired_loopback(delay_ms=75, jitter_ms=15, loss=0.02, seed=7) as lab:
        ...  # every socket made by this thread, and every process it starts, is in the lab
        lab.stats()                     # {"seen": ..., "dropped": ..., "delayed": ..., ...}
        lab.set(loss=0.05)              # change the impairment mid-test
        with lab.enter(): ...           # put another thread in too (e.g. one driving Playwright)

How it works (root only; the kernel here has no netem, so a userspace program does netem's job):
- the calling thread ``unshare(CLONE_NEWNET)``s itself into a new namespace (the thread only: the
  rest of the process stays where it was), brings ``lo`` up there (127.0.0.1 and ::1, nothing else:
  no other address of the machine can be reached from inside), and goes back with ``setns`` to the
  namespace it came from when the block ends. Processes and threads started from the thread
  meanwhile (a server, Playwright's driver and its Chromium) inherit the namespace; sockets the
  thread makes are in it. Threads that existed before (an executor's) stay outside unless they
  ``lab.enter()``.
- iptables/ip6tables rules in OUTPUT queue every UDP packet (and TCP ones with ``impair_tcp=True``;
  by default signalling and page loads stay clean) to NFQUEUE 0, with ``--queue-bypass`` (no
  listener: packets pass);
- ``python -m tests.netlab_queue`` (tests/netlab_queue.py), started in the namespace, holds each
  packet and gives its verdict when the model says (drop now, or accept at its release time); its
  module doc describes the model: loss, one shared bottleneck of ``rate_kbit``, delay with jitter
  that keeps packets in order.

Every packet between two sockets on lo crosses OUTPUT once, so it is impaired once: a browser's
packet to the SFU once, the SFU's copy to the other browser once more. That is per **leg**. A direct
browser-to-browser call crosses one leg for the same path, so to compare it with a call through a
server give it ``two_legs(impairment)``: twice the delay, jitter of two independent legs, loss
1 - (1 - p)^2 and the same rate (two links of one rate in a row carry that rate; the issue's
control, a direct call at 1 Mbit/s, ran at ~340 kbit/s each way, so its bottleneck was not halved).

On exit, even on an exception or Ctrl-C: the impairer is told to stop (end of its stdin; it also
stops if this process dies), every process still in the namespace is terminated (then killed),
the thread goes home and the namespace, its rules and its queue vanish with their last user.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import fcntl
import json
import os
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tests.netlab_queue import Impairment

__all__ = ["Impairment", "Lab", "LabError", "impaired_loopback", "lab_unavailable", "two_legs"]

REPO = Path(__file__).resolve().parent.parent
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
QUEUE = 0
CONTROL_TIMEOUT_S = 10.0
_libc = ctypes.CDLL(None, use_errno=True)


class LabError(RuntimeError):
    pass


def two_legs(leg: Impairment) -> Impairment:
    """The impairment of one leg that equals two legs of ``leg`` in a row (see the module doc)."""
    return dataclasses.replace(
        leg, delay_ms=2 * leg.delay_ms, jitter_ms=leg.jitter_ms * 2 ** 0.5,
        loss=1 - (1 - leg.loss) ** 2,
    )


def _tool(name: str) -> str | None:
    return shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None)


def _errno_error(what: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{what}: {os.strerror(code)}")


def _this_thread_namespace() -> int:
    return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        raise _errno_error("setns")


_probe: dict[str, str | None] = {}


def lab_unavailable() -> str | None:
    """Why a lab cannot be made on this machine, or None."""
    if "reason" not in _probe:
        _probe["reason"] = _find_unavailable()
    return _probe["reason"]


def _find_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the network lab needs root (a network namespace and iptables rules)"
    for tool in ("iptables", "ip6tables"):
        if _tool(tool) is None:
            return f"{tool} is not installed (apt-get install iptables)"
    result: list[str | None] = []

    def probe() -> None:  # a throwaway thread: its namespace dies with it
        result.append(None if _libc.unshare(CLONE_NEWNET) == 0 else str(_errno_error("unshare(CLONE_NEWNET)")))

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join(10)
    return result[0] if result else "unshare(CLONE_NEWNET) did not return"


def _bring_lo_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack_from("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def pids_in_namespace(inode: int) -> list[int]:
    """Processes (other than this one) whose main thread is in the network namespace ``inode``."""
    me, pids = os.getpid(), []
    target = f"net:[{inode}]"
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/net") == target:
                pids.append(int(entry))
        except OSError:  # gone, or a zombie
            pass
    return pids


def _end_processes(inode: int, grace_s: float = 3.0) -> list[int]:
    """SIGTERM every process in the namespace, SIGKILL what is left after ``grace_s``; returns the
    pids still there afterwards (none, unless a process is stuck in the kernel)."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, grace_s)):
        pids = pids_in_namespace(inode)
        if not pids:
            return []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and pids_in_namespace(inode):
            time.sleep(0.05)
    return pids_in_namespace(inode)


class _LineReader:
    """JSON lines from a pipe, each read with a timeout."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def read(self, timeout_s: float) -> dict:
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise LabError(f"the impairer did not answer within {timeout_s:.0f} s")
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise LabError("the impairer exited")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)


class Lab:
    """A live lab (see the module doc); made by ``impaired_loopback``."""

    def __init__(self, namespace_fd: int, impairer: subprocess.Popen, impairment: Impairment, impair_tcp: bool) -> None:
        self._fd = namespace_fd
        self.namespace_inode = os.fstat(namespace_fd).st_ino
        self.impairer = impairer
        self.impairment = impairment
        self.impair_tcp = impair_tcp
        self._reader = _LineReader(impairer.stdout.fileno())
        self._lock = threading.Lock()

    def _ask(self, request: dict) -> dict:
        with self._lock:
            if self.impairer.poll() is not None:
                raise LabError(f"the impairer exited with {self.impairer.returncode}")
            self.impairer.stdin.write((json.dumps(request) + "\n").encode())
            self.impairer.stdin.flush()
            return self._reader.read(CONTROL_TIMEOUT_S)

    def stats(self) -> dict:
        """Counters since the lab started: seen (seen_udp, seen_tcp), passed, delayed (held for a
        while before passing), dropped (= dropped_loss + dropped_queue: over the rate's queue),
        held (now), bytes_seen, kernel_queue_dropped/kernel_user_dropped (the kernel's own drops:
        should stay 0), verdict_errors, and the params in force."""
        return self._ask({"cmd": "stats"})

    def set(self, **changes) -> Impairment:
        """Change the impairment from now on (packets already held keep their release time)."""
        impairment = dataclasses.replace(self.impairment, **changes)  # validates
        answer = self._ask({"cmd": "set", "params": changes})
        if not answer.get("ok"):
            raise LabError(f"the impairer refused {changes}: {answer}")
        self.impairment = impairment
        return impairment

    @contextlib.contextmanager
    def enter(self) -> Iterator[Lab]:
        """Put the calling thread in the lab for the block (for threads other than the lab's own)."""
        home = _this_thread_namespace()
        try:
            _setns(self._fd)
            try:
                yield self
            finally:
                _setns(home)
        finally:
            os.close(home)

    @property
    def namespace_path(self) -> str:
        """A path that opens the lab's namespace while the lab lives (for nsenter --net=...)."""
        return f"/proc/{os.getpid()}/fd/{self._fd}"

    def wrapper(self, program: str | Path, directory: Path) -> Path:
        """An executable script that runs ``program`` (with the script's arguments) inside the lab:
        for a launcher that lives outside it, e.g. an earlier Playwright driver starting Chromium."""
        nsenter = _tool("nsenter")
        if nsenter is None:
            raise LabError("nsenter is not installed (util-linux)")
        script = Path(directory) / f"in-lab-{self.namespace_inode}-{Path(program).name}"
        script.write_text(f"#!/bin/sh\nexec {shlex.quote(nsenter)} --net={self.namespace_path} "
                          f'{shlex.quote(str(program))} "$@"\n')
        script.chmod(0o755)
        return script

    def processes(self) -> list[int]:
        """Processes in the lab now (the impairer among them)."""
        return pids_in_namespace(self.namespace_inode)


@contextlib.contextmanager
def impaired_loopback(delay_ms: float = 0.0, jitter_ms: float = 0.0, loss: float = 0.0,
                      rate_kbit: float | None = None, queue_ms: float = 200.0, seed: int = 1,
                      impair_tcp: bool = False, impairment: Impairment | None = None) -> Iterator[Lab]:
    """Run the block in a private network namespace whose loopback is impaired (module doc).
    ``impairment`` replaces the other model arguments when given. Raises LabError if the lab
    cannot be made (``lab_unavailable()`` says why beforehand)."""
    impairment = impairment or Impairment(delay_ms=delay_ms, jitter_ms=jitter_ms, loss=loss, rate_kbit=rate_kbit,
                                          queue_ms=queue_ms, seed=seed)
    reason = lab_unavailable()
    if reason:
        raise LabError(reason)
    home = _this_thread_namespace()
    namespace_fd = impairer = inode = None
    failed = False
    try:
        if _libc.unshare(CLONE_NEWNET) != 0:
            raise _errno_error("unshare(CLONE_NEWNET)")
        namespace_fd = _this_thread_namespace()
        inode = os.fstat(namespace_fd).st_ino
        _bring_lo_up()
        impairer = subprocess.Popen(
            [sys.executable, "-m", "tests.netlab_queue", "--queue", str(QUEUE), "--params", impairment.to_json()],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        ready = _LineReader(impairer.stdout.fileno()).read(CONTROL_TIMEOUT_S)
        if not ready.get("ready"):
            raise LabError(f"the impairer could not bind NFQUEUE {QUEUE}: {ready.get('error')}")
        for tool in ("iptables", "ip6tables"):
            for protocol in ("udp", "tcp") if impair_tcp else ("udp",):
                command = [_tool(tool), "-w", "10", "-A", "OUTPUT", "-o", "lo", "-p", protocol,
                           "-j", "NFQUEUE", "--queue-num", str(QUEUE), "--queue-bypass"]
                done = subprocess.run(command, capture_output=True, text=True, timeout=30)
                if done.returncode != 0:
                    raise LabError(f"{' '.join(command)} failed: {done.stderr.strip()}")
        yield Lab(namespace_fd, impairer, impairment, impair_tcp)
    except BaseException:
        failed = True
        raise
    finally:
        if impairer is not None:
            with contextlib.suppress(OSError):
                impairer.stdin.close()
            try:
                impairer.wait(timeout=3)
            except subprocess.TimeoutExpired:
                impairer.kill()
                impairer.wait(timeout=5)
            impairer.stdout.close()
        stuck = _end_processes(inode) if inode is not None else []
        try:
            _setns(home)
        finally:
            os.close(home)
            if namespace_fd is not None:
                os.close(namespace_fd)
        if stuck and not failed:
            raise LabError(f"processes {stuck} did not end with the lab")
