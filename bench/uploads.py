"""Parallel document uploads: the server's memory while six 48 MB files arrive (issue "survive").

The real server (``sitroom serve --test-mode``, a subprocess on 127.0.0.1, with its media workers)
gets ``--uploads`` uploads of ``--mb`` MB each, all sent at the same moment by one host over raw
HTTP connections, each body streamed from a file on disk in 1 MiB writes (the benchmark holds no
upload in memory either). The files are real one-page PDFs padded after their end to the size
(incompressible padding: random bytes). The server's bounds on uploads received at once are raised
to the number of uploads (``SITROOM_MAX_UPLOADS``, ``SITROOM_MAX_UPLOADS_PER_ROOM``; a server
that does not know them ignores them), so that every upload is received at once, as in the issue;
with ``--keep-bounds`` the server's own bounds hold and a refused upload (429/503 ``busy``) is sent
again after its Retry-After.

The server process's RSS (``VmRSS`` of /proc/PID/status) and that of the server with all its
descendants (media workers, render workers) are sampled every ``--sample-ms`` from before the
uploads until every document is rendered (``ready`` or ``failed``) and ``--settle`` seconds more.
Baseline: the RSS after the host joined, before the first upload.

Prints a table, the ratio peak / baseline, and last one line:

    uploads: baseline_mb=<> peak_mb=<> settled_mb=<> tree_peak_mb=<> ratio=<peak/baseline> accepted=<n>/<n> busy=<refusals> upload_s=<> ready_s=<>

Usage: .venv/bin/python bench/uploads.py [--uploads 6] [--mb 48] [--settle 10] [--keep-bounds]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pypdfium2  # noqa: E402

from tests.conftest import start_server, stop_server  # noqa: E402
from tests.room_harness import token_of  # noqa: E402
from tests.sio_helpers import connected  # noqa: E402

TIMEOUT = 120.0
BOUNDARY = "sitroombenchboundary"
MB = 1024 * 1024


def make_upload(path: Path, size: int) -> None:
    """A one-page PDF padded with random bytes after its end to ``size`` bytes, written to ``path``."""
    pdf = pypdfium2.PdfDocument.new()
    pdf.new_page(960, 540)
    out = io.BytesIO()
    pdf.save(out)
    pdf.close()
    with open(path, "wb") as f:
        f.write(out.getvalue() + b"%")
        left = size - out.tell() - 2
        while left > 0:
            chunk = os.urandom(min(MB, left)).replace(b"\n", b" ").replace(b"\r", b" ")
            f.write(chunk)
            left -= len(chunk)
        f.write(b"\n")


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except FileNotFoundError:
            continue
        for tid in tasks:
            try:
                children = Path(f"/proc/{p}/task/{tid}/children").read_text().split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            for child in map(int, children):
                found.append(child)
                todo.append(child)
    return found


class Sampler:
    """RSS of the server process and of its whole tree, sampled on a timer."""

    def __init__(self, pid: int, interval_s: float):
        self.pid, self.interval_s = pid, interval_s
        self.samples: list[tuple[float, int, int]] = []  # (time, server kB, tree kB)

    def sample(self) -> tuple[int, int]:
        own = rss_kb(self.pid)
        tree = own + sum(rss_kb(child) for child in descendants(self.pid))
        self.samples.append((time.monotonic(), own, tree))
        return own, tree

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval_s)

    def peak(self, since: float = 0.0) -> tuple[int, int]:
        chosen = [s for s in self.samples if s[0] >= since]
        return max(s[1] for s in chosen), max(s[2] for s in chosen)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], dict]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), TIMEOUT)
    return int(lines[0].split()[1]), headers, json.loads(body or b"{}")


async def send_upload(base_url: str, room_id: str, key: str, path: Path, name: str) -> tuple[int, dict, dict]:
    """POST ``path`` as a multipart upload, streamed from disk. Returns status, headers and body."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    length = len(head) + path.stat().st_size + len(tail)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), TIMEOUT)
    try:
        writer.write((f"POST /api/rooms/{room_id}/documents HTTP/1.1\r\nHost: {host}:{port}\r\n"
                      f"Authorization: Bearer {key}\r\nConnection: close\r\n"
                      f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                      f"Content-Length: {length}\r\n\r\n").encode() + head)
        response = asyncio.ensure_future(read_response(reader))
        with open(path, "rb") as f:
            while not response.done() and (chunk := f.read(MB)):
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), TIMEOUT)
        if not response.done():
            writer.write(tail)
            await asyncio.wait_for(writer.drain(), TIMEOUT)
        return await response  # an early answer (busy, too large) comes before the whole body
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        return 0, {}, {"error": {"code": "connection", "message": str(exc)}}
    finally:
        writer.close()


async def run(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="sitroom-bench-uploads-"))
    files = []
    for i in range(args.uploads):
        files.append(tmp / f"upload-{i}.pdf")
        make_upload(files[-1], args.mb * 1000 * 1000)
    if not args.keep_bounds:
        os.environ["SITROOM_MAX_UPLOADS"] = str(args.uploads)
        os.environ["SITROOM_MAX_UPLOADS_PER_ROOM"] = str(args.uploads)
    server = start_server(tmp / "server")
    sampler = Sampler(server.pid, args.sample_ms / 1000)
    host = None
    try:
        room = server.create_room("Uploads")
        host = await connected(server.base_url)
        ack = await host.join(token_of(room["links"]["host"]), "Clerk")
        room_id, key = room["room"]["id"], ack["session_key"]
        await asyncio.sleep(2)  # let the join's allocations settle
        baseline, tree_baseline = sampler.sample()
        sampling = asyncio.ensure_future(sampler.run())
        busy = 0

        async def one(i: int) -> tuple[int, dict]:
            nonlocal busy
            while True:
                status, headers, body = await send_upload(server.base_url, room_id, key, files[i], f"dossier-{i}.pdf")
                if status in (429, 503) and body.get("error", {}).get("code") == "busy":
                    busy += 1
                    await asyncio.sleep(float(headers.get("retry-after", "1")))
                    continue
                return status, body

        started = time.monotonic()
        results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(args.uploads))), TIMEOUT)
        uploaded = time.monotonic()
        ids = {body["document"]["id"] for status, body in results if status == 202}
        for status, body in results:
            if status != 202:
                print(f"upload refused: {status} {body}", flush=True)
        statuses: dict[str, str] = {}

        async def all_rendered() -> None:
            while not ids <= {i for i, s in statuses.items() if s in ("ready", "failed")}:
                data = await host.next_event("documents", timeout=TIMEOUT)
                statuses.update({d["id"]: d["status"] for d in data["documents"]})
        await asyncio.wait_for(all_rendered(), TIMEOUT)
        ready = time.monotonic()
        await asyncio.sleep(args.settle)
        sampling.cancel()
        settled, tree_settled = sampler.sample()
        peak, tree_peak = sampler.peak(started)
    finally:
        if host is not None:
            await host.close()
        stop_server(server)
        shutil.rmtree(tmp, ignore_errors=True)

    ok = sum(1 for s in statuses.values() if s == "ready")
    mb = lambda kb: kb / 1024  # noqa: E731
    print()
    print(f"{args.uploads} parallel uploads of {args.mb} MB (one-page PDFs padded with random bytes), one room; "
          f"bounds {'as configured' if args.keep_bounds else f'raised to {args.uploads}'}; "
          f"RSS sampled every {args.sample_ms} ms")
    print(f"{'RSS, MB':>34} {'server':>8} {'+ children':>11}")
    print(f"{'baseline (joined, before uploads)':>34} {mb(baseline):>8.0f} {mb(tree_baseline):>11.0f}")
    print(f"{'peak (uploads and rendering)':>34} {mb(peak):>8.0f} {mb(tree_peak):>11.0f}")
    print(f"{f'{args.settle:g} s after the last render':>34} {mb(settled):>8.0f} {mb(tree_settled):>11.0f}")
    print(f"accepted {len(ids)}/{args.uploads} (busy refusals retried: {busy}), ready {ok}/{len(ids)}; "
          f"all uploads answered in {uploaded - started:.1f} s, all rendered in {ready - started:.1f} s")
    ratio = peak / baseline if baseline else float("nan")
    print(f"ratio peak / baseline (server): {ratio:.2f}; kept after settling: {mb(settled - baseline):+.0f} MB")
    print(f"uploads: baseline_mb={mb(baseline):.0f} peak_mb={mb(peak):.0f} settled_mb={mb(settled):.0f} "
          f"tree_peak_mb={mb(tree_peak):.0f} ratio={ratio:.2f} accepted={len(ids)}/{args.uploads} busy={busy} "
          f"upload_s={uploaded - started:.1f} ready_s={ready - started:.1f}")
    return 0 if ok == args.uploads else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uploads", type=int, default=6)
    parser.add_argument("--mb", type=int, default=48, help="size of each upload, in MB (10^6 bytes)")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after the last render")
    parser.add_argument("--sample-ms", type=int, default=50)
    parser.add_argument("--keep-bounds", action="store_true",
                        help="keep the server's bounds on uploads at once (busy answers are retried)")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
