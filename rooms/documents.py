"""Document intake and rendering: PDF slides and images shown on the stage, page by page.

Two steps:

1. :func:`inspect_upload` (or :func:`inspect_upload_async`) decides what an upload is from its
   *content* (magic bytes), never from its file name, and refuses anything that is not a PDF, PNG or
   JPEG, or that is too large, has too many pages, pages that are too big, or is broken.
2. :func:`render_document` turns the document into one image (PNG) and one thumbnail per page.

Every call into PDFium happens in a separate worker process (``python -m rooms.documents``), never
in the server process: a hostile PDF may hang PDFium or crash it, and the worker runs under memory
and CPU limits and is killed when the time limit is reached. The worker talks JSON lines on stdout.

An upload is given as bytes or, as the server does, as the path of the file it streamed to disk:
the worker reads the file itself, so the server process never holds a whole upload.

Images (PNG, JPEG) are never served as uploaded. Their header is checked first (dimensions against
``max_image_side_px`` and ``max_image_pixels``: a 292 kB PNG may claim 20000x20000 pixels), then the
worker decodes them for real with FFmpeg's decoders (PyAV), strictly (``err_detect=explode``: a
truncated or garbage image is a ``broken_file``), checks that the decoded picture has the header's
size and at most ``max_image_bytes`` bytes, and re-encodes a page of at most ``image_page_side_px``
on its long side and a thumbnail (PNG stays PNG, JPEG stays JPEG). Pillow is not a dependency; PDF
pages are encoded to PNG here with :mod:`zlib`.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import hashlib
import inspect as _inspect
import json
import math
import re
import os
import signal
import struct
import sys
import tempfile
import unicodedata
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Union

import av

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PAGES",
    "DEFAULT_MAX_PAGE_SIDE_PT",
    "DEFAULT_MAX_IMAGE_SIDE_PX",
    "DEFAULT_MAX_IMAGE_PIXELS",
    "DEFAULT_MAX_IMAGE_BYTES",
    "DEFAULT_IMAGE_PAGE_SIDE_PX",
    "DocumentError",
    "DocumentInfo",
    "PageInfo",
    "RenderedDocument",
    "decode_image",
    "detect_kind",
    "encode_image",
    "fit_within",
    "image_dimensions",
    "inspect_upload",
    "inspect_upload_async",
    "render_document",
]

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_PAGES = 300
DEFAULT_MAX_PAGE_SIDE_PT = 5000.0
DEFAULT_MAX_IMAGE_SIDE_PX = 8192
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000
# What the decoded picture may take in memory (all planes): 40 Mpx of 8-bit RGBA fits.
DEFAULT_MAX_IMAGE_BYTES = 160_000_000
# An image's page is re-encoded at most this many pixels on its long side.
DEFAULT_IMAGE_PAGE_SIDE_PX = 2048
# How much of an image file the server process reads to find its size (a JPEG's frame header
# follows its EXIF, ICC and other APP segments, each at most 64 KiB).
HEAD_BYTES = 1024 * 1024
DEFAULT_INSPECT_TIME_LIMIT_S = 20.0
DEFAULT_MEMORY_LIMIT_BYTES = 2 * 1024 * 1024 * 1024
MAX_RENDER_SIDE_PX = 8000
MAX_PAGE_ASPECT = 100.0

ERROR_CODES = (
    "too_large",
    "unsupported_type",
    "too_many_pages",
    "page_too_large",
    "broken_file",
    "render_timeout",
)

MIME = {"pdf": "application/pdf", "png": "image/png", "jpeg": "image/jpeg"}
EXTENSION = {"pdf": ".pdf", "png": ".png", "jpeg": ".jpg"}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# An upload: its bytes, or the path of the file that holds them.
Source = Union[bytes, bytearray, memoryview, str, os.PathLike]


class DocumentError(ValueError):
    """An upload is refused or cannot be rendered. ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class DocumentInfo:
    kind: str  # "pdf" | "png" | "jpeg"
    mime: str
    size_bytes: int
    page_count: int
    # Page sizes: PDF points for a PDF, pixels for an image.
    page_sizes: list[tuple[float, float]]
    filename: str  # display name, sanitised; never used to decide the type
    sha256: str
    title: str = ""  # the PDF's own Title, if it has a usable one, else a title made from the name

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["page_sizes"] = [list(s) for s in self.page_sizes]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DocumentInfo":
        return cls(
            kind=d["kind"],
            mime=d["mime"],
            size_bytes=int(d["size_bytes"]),
            page_count=int(d["page_count"]),
            page_sizes=[(float(w), float(h)) for w, h in d.get("page_sizes", [])],
            filename=d.get("filename", ""),
            sha256=d.get("sha256", ""),
            title=d.get("title", ""),
        )


@dataclass
class PageInfo:
    index: int  # 0-based
    width: int  # pixels of the page image
    height: int
    image_path: str
    thumb_path: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PageInfo":
        return cls(
            index=int(d["index"]),
            width=int(d["width"]),
            height=int(d["height"]),
            image_path=str(d["image_path"]),
            thumb_path=str(d["thumb_path"]),
        )


@dataclass
class RenderedDocument:
    kind: str
    pages: list[PageInfo] = field(default_factory=list)

    @property
    def page_count(self) -> int:
        return len(self.pages)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "pages": [p.to_dict() for p in self.pages]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RenderedDocument":
        return cls(kind=d["kind"], pages=[PageInfo.from_dict(p) for p in d.get("pages", [])])


# --------------------------------------------------------------------------------------------
# Content detection and image headers (pure Python, safe in the server process)


def detect_kind(data: bytes) -> str | None:
    """``"pdf"``, ``"png"``, ``"jpeg"`` from the magic bytes, or None."""
    head = bytes(data[:1024])
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    # PDF readers accept a %PDF- header within the first 1024 bytes (some files carry junk first).
    if b"%PDF-" in head:
        return "pdf"
    return None


def image_dimensions(data: bytes, kind: str) -> tuple[int, int]:
    """Pixel width and height of a PNG or JPEG, read from its header. Raises ``broken_file``."""
    if kind == "png":
        return _png_dimensions(data)
    if kind == "jpeg":
        return _jpeg_dimensions(data)
    raise DocumentError("unsupported_type", f"not an image: {kind}")


def _png_dimensions(data: bytes) -> tuple[int, int]:
    # signature (8) + IHDR length (4) + "IHDR" (4) + width (4) + height (4)
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise DocumentError("broken_file", "PNG header is missing or truncated")
    length, = struct.unpack(">I", data[8:12])
    width, height = struct.unpack(">II", data[16:24])
    if length != 13 or width == 0 or height == 0:
        raise DocumentError("broken_file", "PNG header is invalid")
    crc, = struct.unpack(">I", data[29:33])
    if zlib.crc32(data[12:29]) & 0xFFFFFFFF != crc:
        raise DocumentError("broken_file", "PNG header checksum does not match")
    return width, height


# SOF markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_dimensions(data: bytes) -> tuple[int, int]:
    n = len(data)
    i = 2  # after SOI
    while i < n:
        if data[i] != 0xFF:
            raise DocumentError("broken_file", "JPEG marker expected")
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            break
        marker = data[i]
        i += 1
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            continue
        if marker in (0xD9, 0xDA):  # EOI, or SOS before any SOF
            break
        if i + 2 > n:
            break
        seg_len, = struct.unpack(">H", data[i : i + 2])
        if seg_len < 2:
            raise DocumentError("broken_file", "JPEG segment length is invalid")
        if marker in _JPEG_SOF:
            if i + 7 > n:
                break
            height, width = struct.unpack(">HH", data[i + 3 : i + 7])
            if width == 0 or height == 0:
                raise DocumentError("broken_file", "JPEG frame size is invalid")
            return width, height
        i += seg_len
    raise DocumentError("broken_file", "JPEG frame header not found (truncated file?)")


def _safe_filename(filename: str) -> str:
    name = unicodedata.normalize("NFC", str(filename or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:200] or "document"


# --------------------------------------------------------------------------------------------
# Intake


def _check_image(data: bytes, kind: str, max_side_px: int, max_pixels: int) -> tuple[int, int]:
    w, h = image_dimensions(data, kind)
    if w > max_side_px or h > max_side_px or w * h > max_pixels:
        raise DocumentError(
            "page_too_large", f"image is {w}x{h} pixels (limit {max_side_px} a side, {max_pixels} in all)"
        )
    return w, h


def _precheck(head: bytes, size: int, max_bytes: int) -> str:
    """The kind of an upload of ``size`` bytes that starts with ``head``."""
    if size > max_bytes:
        raise DocumentError("too_large", f"file is {size} bytes; the limit is {max_bytes}")
    if size == 0:
        raise DocumentError("unsupported_type", "file is empty")
    kind = detect_kind(head)
    if kind is None:
        raise DocumentError("unsupported_type", "only PDF, PNG and JPEG files can be shown")
    return kind


TITLE_MAX = 120
# Titles that authoring tools write for you, which say nothing about the document.
_GENERIC_TITLE = re.compile(r"^(untitled|document|presentation|slide ?\d*|title|microsoft (word|powerpoint) - .*|"
                            r".*\.(docx?|pptx?|xlsx?|odt|odp|pdf|indd))$", re.IGNORECASE)


def title_from_filename(filename: str) -> str:
    """A readable title from an upload's name: ``2026_Q3_flood-plan_FINAL.pdf`` -> ``2026 Q3
    flood-plan FINAL``. Underscores and runs of dots or spaces become one space; the extension goes."""
    stem = _safe_filename(filename)
    if "." in stem.strip(".")[1:]:
        stem = stem.rsplit(".", 1)[0]
    title = re.sub(r"[\s_.]+", " ", stem).strip(" -")
    return title[:TITLE_MAX].strip() or "Document"


def clean_pdf_title(value: object) -> str:
    """The PDF's Title metadata if it names the document ("" for none, a generic one, or junk)."""
    if not isinstance(value, str):
        return ""
    title = " ".join("".join(c for c in value if c.isprintable()).split())[:TITLE_MAX].strip()
    if len(title) < 3 or _GENERIC_TITLE.match(title):
        return ""
    return title


def _is_bytes(source: Source) -> bool:
    return isinstance(source, (bytes, bytearray, memoryview))


def _head_and_size(source: Source) -> tuple[bytes, int]:
    """The first :data:`HEAD_BYTES` of an upload and its size, without reading a file whole."""
    if _is_bytes(source):
        data = memoryview(source).cast("B")
        return bytes(data[:HEAD_BYTES]), len(data)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError("an upload is bytes or a path")
    with open(source, "rb") as f:
        return f.read(HEAD_BYTES), os.fstat(f.fileno()).st_size


def _file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _info(size: int, sha256: str, filename: str, kind: str, sizes: list[tuple[float, float]],
          title: str = "") -> DocumentInfo:
    return DocumentInfo(
        kind=kind,
        mime=MIME[kind],
        size_bytes=size,
        page_count=len(sizes),
        page_sizes=sizes,
        filename=_safe_filename(filename),
        sha256=sha256,
        title=clean_pdf_title(title) or title_from_filename(filename),
    )


def _inspect_args(source: str, max_pages: int, max_page_side_pt: float, memory_limit: int,
                  time_limit_s: float) -> list[str]:
    return [
        "inspect",
        source,
        "--max-pages", str(int(max_pages)),
        "--max-side", repr(float(max_page_side_pt)),
        "--memory-limit", str(int(memory_limit)),
        "--cpu-limit", str(int(math.ceil(time_limit_s)) + 1),
    ]


def _parse_inspect_output(stdout: bytes, returncode: int) -> tuple[list[tuple[float, float]], str]:
    """The page sizes and the Title metadata a worker found."""
    for line in stdout.decode("utf-8", "replace").splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("event") == "error":
            raise DocumentError(msg.get("code", "broken_file"), msg.get("message", "cannot read the file"))
        if msg.get("event") == "inspected":
            return [(float(w), float(h)) for w, h in msg["pages"]], str(msg.get("title") or "")
    raise DocumentError("broken_file", f"the PDF could not be read (worker exit status {returncode})")


def inspect_upload(data: Source, filename: str, **limits: Any) -> DocumentInfo:
    """Identify and check an upload, blocking (scripts and tests). Raises :class:`DocumentError`.

    Runs :func:`inspect_upload_async` (same keyword limits) in a private event loop, so it must not
    be called from a coroutine: there, await :func:`inspect_upload_async` itself.
    """
    return asyncio.run(inspect_upload_async(data, filename, **limits))


async def inspect_upload_async(
    source: Source,
    filename: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_page_side_pt: float = DEFAULT_MAX_PAGE_SIDE_PT,
    max_image_side_px: int = DEFAULT_MAX_IMAGE_SIDE_PX,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    time_limit_s: float = DEFAULT_INSPECT_TIME_LIMIT_S,
    memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES,
) -> DocumentInfo:
    """Identify and check an upload without blocking the event loop. Raises :class:`DocumentError`.

    ``source`` is the upload's bytes or the path of the file holding them (only its first
    :data:`HEAD_BYTES` are read here; the PDF worker reads the file itself). The type comes from the
    content, never the name. Images are checked from their header here (they are decoded for real
    when rendered); a PDF is opened by a worker process with memory and time limits (up to
    ``time_limit_s``).
    """
    in_memory = _is_bytes(source)
    head, size = await asyncio.to_thread(_head_and_size, source)
    kind = _precheck(head, size, max_bytes)
    if in_memory:
        data = bytes(source)
        digest = hashlib.sha256(data).hexdigest()
    else:
        data = None
        digest = await asyncio.to_thread(_file_sha256, source)
    if kind != "pdf":
        return _info(size, digest, filename, kind, [_check_image(head, kind, max_image_side_px, max_image_pixels)])
    args = _inspect_args("-" if in_memory else os.fspath(source), max_pages, max_page_side_pt,
                         memory_limit_bytes, time_limit_s)
    proc = await asyncio.create_subprocess_exec(
        *_worker_cmd(args),
        stdin=asyncio.subprocess.PIPE if in_memory else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=_worker_env(),
        start_new_session=True,
    )
    try:
        stdout, _ = await asyncio.wait_for(proc.communicate(data), timeout=time_limit_s)
    except asyncio.TimeoutError:
        raise DocumentError("render_timeout", f"reading the PDF took longer than {time_limit_s:g} s") from None
    finally:
        await _reap(proc)
    sizes, title = _parse_inspect_output(stdout, proc.returncode or 0)
    return _info(size, digest, filename, kind, sizes, title)


# --------------------------------------------------------------------------------------------
# Rendering

ProgressCallback = Callable[[int, int], "Awaitable[None] | None"]


async def render_document(
    source: Source,
    kind: str,
    out_dir: str | os.PathLike[str],
    *,
    width: int = 1600,
    dpi: float | None = None,
    thumb_width: int = 240,
    max_height: int | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_page_side_pt: float = DEFAULT_MAX_PAGE_SIDE_PT,
    max_image_side_px: int = DEFAULT_MAX_IMAGE_SIDE_PX,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
    image_page_side_px: int = DEFAULT_IMAGE_PAGE_SIDE_PX,
    time_limit_s: float = 60.0,
    memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES,
    on_progress: ProgressCallback | None = None,
) -> RenderedDocument:
    """Render every page to ``out_dir/page-0001.png`` and ``out_dir/thumb-0001.png`` (…).

    ``source`` is the upload's bytes or the path of the file holding them (read by the worker; the
    caller keeps and removes it). ``kind`` is :attr:`DocumentInfo.kind`; it is checked against the
    content again. PDF pages are ``width`` pixels wide (or ``dpi`` if given), at most ``max_height``
    (default ``3 * width``) pixels tall. An image is decoded and checked (see the module's
    docstring) and re-encoded to ``page-0001.png|.jpg``, at most ``image_page_side_px`` on its long
    side, and a thumbnail at most ``thumb_width`` wide (never enlarged). ``on_progress(done,
    total)`` (plain or async) is called once per finished page. All of it runs in a worker process
    that is killed after ``time_limit_s`` (``render_timeout``). Files of a failed render are
    removed. Raises :class:`DocumentError`.
    """
    head, size = await asyncio.to_thread(_head_and_size, source)
    detected = _precheck(head, size, max(size, 1))
    if detected != kind:
        raise DocumentError("unsupported_type", f"content is {detected}, not {kind}")
    if not (16 <= int(width) <= 8000) or not (16 <= int(thumb_width) <= 2000):
        raise ValueError("width must be 16..8000 and thumb_width 16..2000")
    if dpi is not None and not (10 <= dpi <= 600):
        raise ValueError("dpi must be 10..600")
    max_height = int(max_height or 3 * int(width))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not 16 <= int(image_page_side_px) <= 8192:
        raise ValueError("image_page_side_px must be 16..8192")
    if kind != "pdf":
        _check_image(head, kind, max_image_side_px, max_image_pixels)

    src_path: str | None = None
    if _is_bytes(source):
        src = tempfile.NamedTemporaryFile(dir=out, prefix=".upload-", suffix=EXTENSION[kind], delete=False)
        src_path = src.name
    written: list[Path] = []
    ok = False
    try:
        if src_path is not None:
            with src:
                src.write(source)
        args = [
            "render", src_path or os.fspath(source),
            "--kind", kind,
            "--out", str(out),
            "--width", str(int(width)),
            "--thumb-width", str(int(thumb_width)),
            "--max-height", str(max_height),
            "--max-pages", str(int(max_pages)),
            "--max-side", repr(float(max_page_side_pt)),
            "--memory-limit", str(int(memory_limit_bytes)),
            "--cpu-limit", str(int(math.ceil(time_limit_s)) + 1),
            "--max-image-side", str(int(max_image_side_px)),
            "--max-image-pixels", str(int(max_image_pixels)),
            "--max-image-bytes", str(int(max_image_bytes)),
            "--image-page-side", str(int(image_page_side_px)),
        ]
        if dpi is not None:
            args += ["--dpi", repr(float(dpi))]
        pages = await _run_render_worker(args, time_limit_s, on_progress, written)
        ok = True
        return RenderedDocument(kind=kind, pages=pages)
    finally:
        if src_path is not None:
            try:
                os.unlink(src_path)
            except OSError:
                pass
        if not ok:
            # Pages already rendered, and a half-written one if the worker was killed mid-write.
            for p in [*written, *out.glob(".page-*.tmp"), *out.glob(".thumb-*.tmp"), *out.glob("page-*"),
                      *out.glob("thumb-*")]:
                try:
                    p.unlink()
                except OSError:
                    pass


async def _run_render_worker(
    args: list[str], time_limit_s: float, on_progress: ProgressCallback | None, written: list[Path]
) -> list[PageInfo]:
    proc = await asyncio.create_subprocess_exec(
        *_worker_cmd(args),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=_worker_env(),
        start_new_session=True,
        limit=1 << 20,
    )
    pages: list[PageInfo] = []
    total = 0
    error: DocumentError | None = None
    done_seen = False

    async def consume() -> None:
        nonlocal total, error, done_seen
        assert proc.stdout is not None
        while True:
            line = await proc.stdout.readline()
            if not line:
                return
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            ev = msg.get("event")
            if ev == "meta":
                total = int(msg["pages"])
            elif ev == "page":
                page = PageInfo(
                    index=int(msg["index"]),
                    width=int(msg["width"]),
                    height=int(msg["height"]),
                    image_path=str(msg["image"]),
                    thumb_path=str(msg["thumb"]),
                )
                written.extend({Path(page.image_path), Path(page.thumb_path)})
                pages.append(page)
                if on_progress is not None:
                    r = on_progress(len(pages), total)
                    if _inspect.isawaitable(r):
                        await r
            elif ev == "error":
                error = DocumentError(msg.get("code", "broken_file"), msg.get("message", "render failed"))
            elif ev == "done":
                done_seen = True

    try:
        await asyncio.wait_for(consume(), timeout=time_limit_s)
        rc = await asyncio.wait_for(proc.wait(), timeout=max(1.0, time_limit_s))
    except asyncio.TimeoutError:
        raise DocumentError("render_timeout", f"rendering took longer than {time_limit_s:g} s") from None
    finally:
        await _reap(proc)
    if error is not None:
        raise error
    if rc != 0 or not done_seen or len(pages) != total:
        if rc is not None and rc < 0 and -rc in (signal.SIGXCPU, signal.SIGKILL):
            raise DocumentError("render_timeout", "the renderer ran out of CPU time")
        raise DocumentError("broken_file", f"the renderer failed on this file (exit status {rc})")
    return pages


async def _reap(proc: asyncio.subprocess.Process) -> None:
    """Kill the worker's process group if it is still running and wait for it."""
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        try:
            await asyncio.wait_for(proc.wait(), timeout=10)
        except asyncio.TimeoutError:  # pragma: no cover - the kernel did not reap it
            pass


def _worker_cmd(args: list[str]) -> list[str]:
    return [sys.executable, "-u", "-m", "rooms.documents", *args]


def _worker_env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parent.parent)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "SYSTEMROOT")}
    env["PYTHONPATH"] = root + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


# --------------------------------------------------------------------------------------------
# The worker process (everything below runs only in `python -m rooms.documents`)


def _emit(**msg: Any) -> None:
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def _limit_resources(memory_limit: int, cpu_limit: int) -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return

    def lower(res: int, soft: int, hard: int) -> None:
        _, cur_hard = resource.getrlimit(res)
        if cur_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, cur_hard), min(hard, cur_hard)
        try:
            resource.setrlimit(res, (soft, hard))
        except (ValueError, OSError):
            pass

    if memory_limit > 0:
        lower(resource.RLIMIT_AS, memory_limit, memory_limit)
    if cpu_limit > 0:
        # SIGXCPU at the soft limit, SIGKILL at the hard one.
        lower(resource.RLIMIT_CPU, cpu_limit, cpu_limit + 2)


def encode_png(rgb: bytes | memoryview, width: int, height: int, stride: int, channels: int = 3) -> bytes:
    """Encode packed 8-bit RGB (``channels=3``) or RGBA (4) rows as PNG."""
    color_type = {3: 2, 4: 6, 1: 0}[channels]
    row_bytes = width * channels
    mv = memoryview(rgb).cast("B")
    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter: none
        raw += mv[y * stride : y * stride + row_bytes]

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw), 6)) + chunk(b"IEND", b"")


def _write_atomic(path: Path, body: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(body)
    os.replace(tmp, path)


def _bitmap_png(page: Any, scale: float) -> tuple[bytes, int, int]:
    # Without maybe_alpha/prefer_bgrx PDFium renders 3-byte BGR; rev_byteorder makes it RGB.
    bitmap = page.render(scale=scale, rev_byteorder=True, may_draw_forms=False)
    try:
        if bitmap.mode not in ("RGB", "RGBA"):
            raise RuntimeError(f"unexpected bitmap mode {bitmap.mode}")
        png = encode_png(memoryview(bitmap.buffer), bitmap.width, bitmap.height, bitmap.stride, bitmap.n_channels)
        return png, bitmap.width, bitmap.height
    finally:
        bitmap.close()


def _open_pdf(source: str | bytes) -> Any:
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(source)
    except pdfium.PdfiumError as e:
        msg = str(e)
        if "password" in msg.lower():
            raise DocumentError("broken_file", "the PDF is password-protected") from None
        raise DocumentError("broken_file", f"the PDF could not be opened: {msg}") from None


def _pdf_sizes(pdf: Any, max_pages: int, max_side: float) -> list[tuple[float, float]]:
    n = len(pdf)
    if n <= 0:
        raise DocumentError("broken_file", "the PDF has no pages")
    if n > max_pages:
        raise DocumentError("too_many_pages", f"the PDF has {n} pages; the limit is {max_pages}")
    sizes = []
    for i in range(n):
        page = pdf[i]
        try:
            w, h = page.get_size()
            if page.get_rotation() in (90, 270):
                w, h = h, w
        finally:
            page.close()
        if not (w > 0 and h > 0 and math.isfinite(w) and math.isfinite(h)):
            raise DocumentError("broken_file", f"page {i + 1} has no size")
        if w > max_side or h > max_side:
            raise DocumentError(
                "page_too_large", f"page {i + 1} is {w:.0f}x{h:.0f} pt; the limit is {max_side:.0f} pt a side"
            )
        if max(w, h) / min(w, h) > MAX_PAGE_ASPECT:
            raise DocumentError("page_too_large", f"page {i + 1} is {w:.0f}x{h:.0f} pt: too long and thin to show")
        sizes.append((round(w, 2), round(h, 2)))
    return sizes


def _scale_for(w: float, h: float, width: int, max_height: int, dpi: float | None) -> float:
    """PDF points to pixels: ``width`` pixels wide (or ``dpi``), never taller than ``max_height``."""
    scale = (dpi / 72.0) if dpi else (width / w)
    return min(scale, MAX_RENDER_SIDE_PX / w, max_height / h)


def _worker_inspect(ns: argparse.Namespace) -> None:
    pdf = _open_pdf(sys.stdin.buffer.read() if ns.input == "-" else ns.input)
    try:
        sizes = _pdf_sizes(pdf, ns.max_pages, ns.max_side)
        try:
            title = pdf.get_metadata_value("Title")
        except Exception:  # noqa: BLE001 - a broken info dictionary is no reason to refuse the file
            title = ""
        _emit(event="inspected", pages=sizes, title=title[:1000])
    finally:
        pdf.close()


def _worker_render(ns: argparse.Namespace) -> None:
    out = Path(ns.out)
    if ns.kind == "pdf":
        pdf = _open_pdf(ns.input)
        try:
            sizes = _pdf_sizes(pdf, ns.max_pages, ns.max_side)
            _emit(event="meta", pages=len(sizes))
            for i, (w, h) in enumerate(sizes):
                page = pdf[i]
                try:
                    png, pw, ph = _bitmap_png(page, _scale_for(w, h, ns.width, ns.max_height, ns.dpi))
                    thumb, _, _ = _bitmap_png(page, _scale_for(w, h, ns.thumb_width, 3 * ns.thumb_width, None))
                finally:
                    page.close()
                image_path = out / f"page-{i + 1:04d}.png"
                thumb_path = out / f"thumb-{i + 1:04d}.png"
                _write_atomic(image_path, png)
                _write_atomic(thumb_path, thumb)
                _emit(event="page", index=i, width=pw, height=ph, image=str(image_path), thumb=str(thumb_path))
        finally:
            pdf.close()
        _emit(event="done")
        return

    # PNG / JPEG: one page, decoded here and re-encoded (never the uploaded bytes).
    frame = decode_image(Path(ns.input).read_bytes(), ns.kind, max_side_px=ns.max_image_side,
                         max_pixels=ns.max_image_pixels, max_bytes=ns.max_image_bytes)
    _emit(event="meta", pages=1)
    ext = EXTENSION[ns.kind]
    pw, ph = fit_within(frame.width, frame.height, ns.image_page_side, ns.image_page_side)
    tw, th = fit_within(frame.width, frame.height, ns.thumb_width, 3 * ns.thumb_width)
    image_path = out / f"page-0001{ext}"
    thumb_path = out / f"thumb-0001{ext}"
    _write_atomic(image_path, encode_image(frame, ns.kind, pw, ph))
    _write_atomic(thumb_path, encode_image(frame, ns.kind, tw, th))
    _emit(event="page", index=0, width=pw, height=ph, image=str(image_path), thumb=str(thumb_path))
    _emit(event="done")


_DECODER = {"png": "png", "jpeg": "mjpeg"}
_IMAGE_NAME = {"png": "PNG", "jpeg": "JPEG"}


def decode_image(data: bytes, kind: str, *, max_side_px: int = DEFAULT_MAX_IMAGE_SIDE_PX,
                 max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
                 max_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> av.VideoFrame:
    """Decode a whole PNG or JPEG (run it in a worker process: it allocates the picture).

    The header's size is checked against the limits before anything is decoded; the decoder is
    strict (a truncated file or garbage after a valid header is an error, never a grey picture); the
    decoded picture must have the header's size and at most ``max_bytes`` bytes. Raises
    :class:`DocumentError` (``page_too_large``, ``broken_file``).
    """
    w, h = _check_image(data, kind, max_side_px, max_pixels)
    name = _IMAGE_NAME[kind]
    ctx = av.CodecContext.create(_DECODER[kind], "r")
    ctx.options = {"err_detect": "explode"}
    try:
        frames = ctx.decode(av.Packet(data)) + ctx.decode(None)
    except av.FFmpegError as e:
        raise DocumentError("broken_file", f"the {name} could not be decoded ({e.strerror or e})") from None
    if not frames:
        raise DocumentError("broken_file", f"the {name} holds no picture")
    frame = frames[0]
    if (frame.width, frame.height) != (w, h):
        raise DocumentError("broken_file", f"the {name} says {w}x{h} pixels but decodes to "
                                           f"{frame.width}x{frame.height}")
    decoded = sum(plane.buffer_size for plane in frame.planes)
    if decoded > max_bytes:
        raise DocumentError("page_too_large", f"the {name} decodes to {decoded} bytes (limit {max_bytes})")
    return frame


def fit_within(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The largest size of the picture's aspect within the box, never larger than the picture."""
    scale = min(1.0, max_width / width, max_height / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def encode_image(frame: av.VideoFrame, kind: str, width: int, height: int) -> bytes:
    """``frame`` scaled to ``width`` x ``height`` and encoded: PNG (with alpha if it has any) for a
    PNG, JPEG for a JPEG."""
    if kind == "png":
        alpha = frame.format.name.startswith("pal") or len(frame.format.components) in (2, 4)
        pix_fmt, codec, options = ("rgba" if alpha else "rgb24"), "png", {}
    else:
        # JPEG at quality scale 3 (ffmpeg's -q:v 3: visually lossless for slides and photos).
        pix_fmt, codec, options = "yuvj420p", "mjpeg", {"flags": "+qscale", "global_quality": str(3 * 118)}
    scaled = frame.reformat(width=width, height=height, format=pix_fmt, interpolation="AREA")
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
    ctx.time_base = fractions.Fraction(1, 1)
    ctx.options = options
    scaled.pts = 0
    return b"".join(bytes(packet) for packet in [*ctx.encode(scaled), *ctx.encode(None)])


def _worker_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rooms.documents", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("inspect", "render"):
        p = sub.add_parser(name)
        p.add_argument("input", help="file path, or - for stdin (inspect only)")
        p.add_argument("--max-pages", type=int, default=DEFAULT_MAX_PAGES)
        p.add_argument("--max-side", type=float, default=DEFAULT_MAX_PAGE_SIDE_PT)
        p.add_argument("--memory-limit", type=int, default=DEFAULT_MEMORY_LIMIT_BYTES)
        p.add_argument("--cpu-limit", type=int, default=120)
        if name == "render":
            p.add_argument("--kind", choices=sorted(MIME), required=True)
            p.add_argument("--out", required=True)
            p.add_argument("--width", type=int, default=1600)
            p.add_argument("--dpi", type=float, default=None)
            p.add_argument("--thumb-width", type=int, default=240)
            p.add_argument("--max-height", type=int, default=4800)
            p.add_argument("--max-image-side", type=int, default=DEFAULT_MAX_IMAGE_SIDE_PX)
            p.add_argument("--max-image-pixels", type=int, default=DEFAULT_MAX_IMAGE_PIXELS)
            p.add_argument("--max-image-bytes", type=int, default=DEFAULT_MAX_IMAGE_BYTES)
            p.add_argument("--image-page-side", type=int, default=DEFAULT_IMAGE_PAGE_SIDE_PX)
    ns = parser.parse_args(argv)
    _limit_resources(ns.memory_limit, ns.cpu_limit)
    try:
        (_worker_inspect if ns.command == "inspect" else _worker_render)(ns)
    except DocumentError as e:
        _emit(event="error", code=e.code, message=e.message)
        return 1
    except MemoryError:
        _emit(event="error", code="broken_file", message="the file needs too much memory to render")
        return 1
    except Exception as e:  # noqa: BLE001 - report, never a traceback to the server
        _emit(event="error", code="broken_file", message=f"the file could not be rendered: {type(e).__name__}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main())
