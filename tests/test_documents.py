"""Document intake (type from content, limits) and rendering in a worker process."""

from __future__ import annotations

import asyncio
import fractions
import hashlib
import io
import struct
import zlib
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from rooms.documents import (
    PNG_SIGNATURE,
    DocumentError,
    DocumentInfo,
    RenderedDocument,
    decode_image,
    detect_kind,
    encode_png,
    image_dimensions,
    inspect_upload,
    inspect_upload_async,
    render_document,
)

SIZES = [(612.0, 792.0), (960.0, 540.0), (400.0, 400.0)]  # letter portrait, 16:9 slide, square


def make_pdf(sizes=SIZES) -> bytes:
    pdf = pdfium.PdfDocument.new()
    for w, h in sizes:
        pdf.new_page(w, h)
    buf = io.BytesIO()
    pdf.save(buf)
    pdf.close()
    return buf.getvalue()


def make_png(w: int = 40, h: int = 30) -> bytes:
    return encode_png(bytes([200, 30, 30]) * (w * h), w, h, w * 3)


def make_jpeg(w: int = 64, h: int = 32) -> bytes:
    av = pytest.importorskip("av")
    ctx = av.CodecContext.create("mjpeg", "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuvj420p"
    ctx.time_base = fractions.Fraction(1, 25)
    packets = ctx.encode(av.VideoFrame(w, h, "yuvj420p")) + ctx.encode(None)
    return b"".join(bytes(p) for p in packets)


def png_size(path: str | Path) -> tuple[int, int]:
    """Check a PNG fully (signature, chunk CRCs, zlib stream, row count) and return its size."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        crc, = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert ihdr is not None
    w, h, depth, color = ihdr[:4]
    channels = {2: 3, 6: 4, 0: 1}[color]
    assert len(zlib.decompress(idat)) == h * (1 + w * channels * depth // 8)
    return w, h


# --------------------------------------------------------------------------------------------
# Detection and inspection


def test_detect_kind_by_content() -> None:
    assert detect_kind(make_pdf()) == "pdf"
    assert detect_kind(make_png()) == "png"
    assert detect_kind(b"\xff\xd8\xff\xe0rest") == "jpeg"
    assert detect_kind(b"GIF89a...") is None
    assert detect_kind(b"hello %PDF") is None  # no dash: not a PDF header


def test_pdf_named_png_is_a_pdf() -> None:
    info = inspect_upload(make_pdf(), "holiday.png")
    assert isinstance(info, DocumentInfo)
    assert info.kind == "pdf" and info.mime == "application/pdf"
    assert info.page_count == 3
    assert info.page_sizes == SIZES
    assert info.filename == "holiday.png"
    assert len(info.sha256) == 64
    assert DocumentInfo.from_dict(info.to_dict()) == info


def test_text_named_pdf_is_refused() -> None:
    with pytest.raises(DocumentError) as e:
        inspect_upload(b"Quarterly report\nnothing to see here\n", "report.pdf")
    assert e.value.code == "unsupported_type"


@pytest.mark.parametrize("data", [b"", b"GIF89a\x01\x00\x01\x00", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"PK\x03\x04docx"])
def test_other_types_refused(data: bytes) -> None:
    with pytest.raises(DocumentError) as e:
        inspect_upload(data, "slides.pdf")
    assert e.value.code == "unsupported_type"


def test_oversize_refused_before_parsing() -> None:
    with pytest.raises(DocumentError) as e:
        inspect_upload(make_pdf(), "a.pdf", max_bytes=100)
    assert e.value.code == "too_large"
    with pytest.raises(DocumentError) as e:
        inspect_upload(b"%PDF-" + b"\0" * (50 * 1024 * 1024), "big.pdf")
    assert e.value.code == "too_large"


@pytest.mark.parametrize(
    "data",
    [
        make_pdf()[:150],  # truncated
        b"%PDF-1.7\n" + bytes(range(256)) * 20,  # a header and garbage
        b"%PDF-",
    ],
)
def test_broken_pdf(data: bytes) -> None:
    with pytest.raises(DocumentError) as e:
        inspect_upload(data, "broken.pdf")
    assert e.value.code == "broken_file"


def test_too_many_pages() -> None:
    with pytest.raises(DocumentError) as e:
        inspect_upload(make_pdf(), "a.pdf", max_pages=2)
    assert e.value.code == "too_many_pages"


def test_page_too_large() -> None:
    with pytest.raises(DocumentError) as e:
        inspect_upload(make_pdf([(612, 792), (6000, 400)]), "poster.pdf")
    assert e.value.code == "page_too_large"
    with pytest.raises(DocumentError) as e:
        inspect_upload(make_pdf([(3000, 10)]), "ribbon.pdf")
    assert e.value.code == "page_too_large"


def test_images_inspected_from_their_header() -> None:
    png = make_png(40, 30)
    info = inspect_upload(png, "chart.pdf")
    assert (info.kind, info.page_count, info.page_sizes) == ("png", 1, [(40, 30)])
    jpeg = make_jpeg(64, 32)
    info = inspect_upload(jpeg, "photo.png")
    assert (info.kind, info.mime, info.page_sizes) == ("jpeg", "image/jpeg", [(64, 32)])
    assert image_dimensions(jpeg, "jpeg") == (64, 32)


def test_broken_and_huge_images() -> None:
    with pytest.raises(DocumentError) as e:
        inspect_upload(make_png()[:20], "a.png")
    assert e.value.code == "broken_file"
    with pytest.raises(DocumentError) as e:
        inspect_upload(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "a.jpg")
    assert e.value.code == "broken_file"
    # A valid header claiming 30000 x 30000 pixels.
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    with pytest.raises(DocumentError) as e:
        inspect_upload(png, "bomb.png")
    assert e.value.code == "page_too_large"


async def test_inspect_async() -> None:
    info = await inspect_upload_async(make_pdf(), "slides.pdf")
    assert info.page_count == 3
    with pytest.raises(DocumentError) as e:
        await inspect_upload_async(make_pdf()[:100], "slides.pdf")
    assert e.value.code == "broken_file"


# --------------------------------------------------------------------------------------------
# Rendering


async def test_render_pdf(tmp_path: Path) -> None:
    progress: list[tuple[int, int]] = []
    doc = await render_document(
        make_pdf(), "pdf", tmp_path, width=800, thumb_width=200, on_progress=lambda d, t: progress.append((d, t))
    )
    assert isinstance(doc, RenderedDocument)
    assert doc.page_count == 3
    assert progress == [(1, 3), (2, 3), (3, 3)]
    for page, (w_pt, h_pt) in zip(doc.pages, SIZES):
        assert Path(page.image_path).parent == tmp_path
        w, h = png_size(page.image_path)
        assert (w, h) == (page.width, page.height)
        assert w == 800
        assert abs(h - 800 * h_pt / w_pt) <= 1
        tw, th = png_size(page.thumb_path)
        assert tw == 200 and abs(th - 200 * h_pt / w_pt) <= 1
    assert [p.index for p in doc.pages] == [0, 1, 2]
    assert RenderedDocument.from_dict(doc.to_dict()) == doc
    assert not list(tmp_path.glob(".*")), "no temporary files left behind"


async def test_render_async_progress_callback(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []

    async def on_progress(done: int, total: int) -> None:
        seen.append((done, total))

    await render_document(make_pdf(SIZES[:2]), "pdf", tmp_path, width=320, on_progress=on_progress)
    assert seen == [(1, 2), (2, 2)]


async def test_tall_page_is_capped(tmp_path: Path) -> None:
    doc = await render_document(make_pdf([(100, 2000)]), "pdf", tmp_path, width=400)
    page = doc.pages[0]
    assert page.height == 1200  # 3 x width
    assert page.width == 60


async def test_render_refuses_too_many_pages(tmp_path: Path) -> None:
    calls: list[int] = []
    with pytest.raises(DocumentError) as e:
        await render_document(make_pdf(), "pdf", tmp_path, max_pages=2, on_progress=lambda d, t: calls.append(d))
    assert e.value.code == "too_many_pages"
    assert calls == []
    assert list(tmp_path.iterdir()) == []


async def test_render_broken_pdf(tmp_path: Path) -> None:
    with pytest.raises(DocumentError) as e:
        await render_document(b"%PDF-1.4\n" + b"\x00garbage" * 100, "pdf", tmp_path)
    assert e.value.code == "broken_file"
    assert list(tmp_path.iterdir()) == []


async def test_render_timeout_kills_the_worker(tmp_path: Path) -> None:
    # No worker starts, imports PDFium and renders three pages within a millisecond.
    with pytest.raises(DocumentError) as e:
        await render_document(make_pdf(), "pdf", tmp_path, time_limit_s=0.001)
    assert e.value.code == "render_timeout"
    assert list(tmp_path.iterdir()) == []


async def test_render_checks_kind_against_content(tmp_path: Path) -> None:
    with pytest.raises(DocumentError) as e:
        await render_document(make_pdf(), "png", tmp_path)
    assert e.value.code == "unsupported_type"


def jpeg_size(path: str | Path) -> tuple[int, int]:
    """Decode a JPEG fully and return its size."""
    data = Path(path).read_bytes()
    assert data[:3] == b"\xff\xd8\xff"
    frame = decode_image(data, "jpeg")
    return frame.width, frame.height


def png_header(width: int, height: int, color_type: int = 2) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return PNG_SIGNATURE + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def solid_png(width: int, height: int) -> bytes:
    """A valid greyscale PNG of one colour, compressed row by row (a 20000x20000 one is ~400 kB
    and decodes to 400 MB)."""
    z = zlib.compressobj(9)
    row = b"\x00" + b"\x80" * width
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    return png_header(width, height, color_type=0) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


async def test_render_png_is_reencoded(tmp_path: Path) -> None:
    png = make_png(40, 30)
    progress: list[tuple[int, int]] = []
    doc = await render_document(png, "png", tmp_path, on_progress=lambda d, t: progress.append((d, t)))
    assert progress == [(1, 1)]
    (page,) = doc.pages
    assert (page.index, page.width, page.height) == (0, 40, 30)
    assert Path(page.image_path).read_bytes() != png, "the upload itself is never served"
    assert png_size(page.image_path) == (40, 30)
    assert png_size(page.thumb_path) == (40, 30), "a small image is not enlarged"
    assert not list(tmp_path.glob(".*"))


async def test_large_png_page_and_thumbnail_are_bounded(tmp_path: Path) -> None:
    doc = await render_document(make_png(3000, 1000), "png", tmp_path / "a", thumb_width=240)
    (page,) = doc.pages
    assert (page.width, page.height) == (2048, 683)
    assert png_size(page.image_path) == (2048, 683)
    assert png_size(page.thumb_path) == (240, 80)
    doc = await render_document(make_png(500, 4000), "png", tmp_path / "b", image_page_side_px=1024)
    (page,) = doc.pages
    assert png_size(page.image_path) == (page.width, page.height) == (128, 1024)


async def test_render_jpeg_is_reencoded_with_thumbnail(tmp_path: Path) -> None:
    jpeg = make_jpeg(640, 320)
    doc = await render_document(jpeg, "jpeg", tmp_path, thumb_width=160)
    (page,) = doc.pages
    assert (page.width, page.height) == (640, 320)
    assert Path(page.image_path).suffix == ".jpg" and Path(page.image_path).read_bytes() != jpeg
    assert jpeg_size(page.image_path) == (640, 320)
    assert jpeg_size(page.thumb_path) == (160, 80)


async def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    bomb = solid_png(20000, 20000)
    assert len(bomb) < 1_000_000
    with pytest.raises(DocumentError) as e:
        await inspect_upload_async(bomb, "map.png")
    assert e.value.code == "page_too_large"
    with pytest.raises(DocumentError) as e:
        await render_document(bomb, "png", tmp_path)
    assert e.value.code == "page_too_large"
    assert list(tmp_path.iterdir()) == []


async def test_decoded_size_is_checked(tmp_path: Path) -> None:
    png = solid_png(4000, 3000)  # 12 MB decoded
    assert (await inspect_upload_async(png, "map.png")).page_sizes == [(4000, 3000)]
    with pytest.raises(DocumentError) as e:
        await render_document(png, "png", tmp_path, max_image_bytes=10_000_000)
    assert e.value.code == "page_too_large" and "decodes to 12" in e.value.message  # 12 MB and row padding
    assert list(tmp_path.iterdir()) == []
    doc = await render_document(png, "png", tmp_path)
    assert png_size(doc.pages[0].image_path) == (2048, 1536)


@pytest.mark.parametrize("make", [
    lambda: png_header(4000, 3000) + bytes(range(100)),  # a plausible header over garbage
    lambda: png_header(4000, 3000) + png_chunk(b"IDAT", bytes(range(100))) + png_chunk(b"IEND", b""),
    lambda: make_png(400, 300)[:300],  # truncated
    lambda: make_jpeg(640, 320)[:2000],  # truncated mid-scan
    lambda: make_jpeg(640, 320)[:300],
])
async def test_garbage_images_fail_to_render(tmp_path: Path, make) -> None:
    data = make()
    with pytest.raises(DocumentError) as e:
        await render_document(data, detect_kind(data), tmp_path)
    assert e.value.code == "broken_file", e.value.message
    assert list(tmp_path.iterdir()) == []


async def test_huge_header_over_garbage_is_refused_at_once() -> None:
    with pytest.raises(DocumentError) as e:
        await inspect_upload_async(png_header(10000, 10000) + bytes(range(100)), "x.png")
    assert e.value.code == "page_too_large"


async def test_inspect_and_render_from_a_path(tmp_path: Path) -> None:
    source = tmp_path / "upload.bin"
    source.write_bytes(make_pdf())
    info = await inspect_upload_async(source, "slides.pdf")
    assert (info.kind, info.page_count, info.size_bytes) == ("pdf", 3, source.stat().st_size)
    assert info.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    doc = await render_document(source, "pdf", tmp_path / "out", width=200)
    assert doc.page_count == 3
    source.write_bytes(make_jpeg(64, 32))
    assert (await inspect_upload_async(str(source), "p.jpg")).page_sizes == [(64, 32)]
    doc = await render_document(source, "jpeg", tmp_path / "img")
    assert jpeg_size(doc.pages[0].image_path) == (64, 32)
    assert source.exists(), "the caller's file is the caller's to remove"


async def test_parallel_renders(tmp_path: Path) -> None:
    docs = await asyncio.gather(
        *(render_document(make_pdf(), "pdf", tmp_path / str(i), width=200, thumb_width=50) for i in range(3))
    )
    assert [d.page_count for d in docs] == [3, 3, 3]


async def test_worker_that_dies_is_a_broken_file_not_a_crash(tmp_path: Path) -> None:
    # 16 MiB of address space is not enough to load PDFium: the worker fails or dies.
    with pytest.raises(DocumentError) as e:
        await render_document(make_pdf(), "pdf", tmp_path, memory_limit_bytes=16 * 1024 * 1024)
    assert e.value.code == "broken_file"
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# Titles


def pdf_with_title(title: str) -> bytes:
    """A one-page PDF whose Info dictionary has ``Title`` (written out by hand, xref included)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        b"<< /Title (" + title.encode("latin-1") + b") >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.mark.parametrize("filename, title", [
    ("2026_Q3_flood-plan_FINAL.pdf", "2026 Q3 flood-plan FINAL"),
    ("Seoul - Lisbon agreement.v2.pdf", "Seoul - Lisbon agreement v2"),
    ("C:\\Users\\ana\\Budget 2027.pdf", "Budget 2027"),
    ("  __  .pdf", "Document"),
    ("README", "README"),
])
def test_title_from_filename(filename: str, title: str) -> None:
    from rooms.documents import title_from_filename

    assert title_from_filename(filename) == title


async def test_a_pdf_titled_inside_gets_that_title_and_a_generic_one_does_not() -> None:
    info = await inspect_upload_async(pdf_with_title("Han River Flood Response Plan 2027"), "hrfrp_v7_final.pdf")
    assert info.page_count == 1
    assert info.title == "Han River Flood Response Plan 2027"
    info = await inspect_upload_async(pdf_with_title("Microsoft Word - hrfrp_v7.docx"), "hrfrp_v7_final.pdf")
    assert info.title == "hrfrp v7 final"
    info = await inspect_upload_async(make_pdf(), "city_budget.pdf")
    assert info.title == "city budget"
    assert (await inspect_upload_async(make_png(), "map_of_districts.png")).title == "map of districts"
