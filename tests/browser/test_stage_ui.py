"""The shared stage through the real pages: live panels, documents, follow/browse, permissions,
phone and laptop layouts (docs/protocol.md, "Stage, panels and documents")."""

from __future__ import annotations

import zlib

import pytest

from collab_helpers import SCREENSHOTS
from conftest import create_room, join, wait_for_tile  # noqa: I001 - this folder's conftest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

STAGE = '[data-testid="stage"]'
CHART_JS = "() => { const s = window.sitroom.stage; return s && s.panel && s.panel.chart; }"


# ---- helpers -----------------------------------------------------------------------------------


def make_pdf(pages: int = 3) -> bytes:
    """A small PDF whose pages differ (a title and a coloured block per page), written by hand."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(pages)]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{n} 0 R" for n in page_ids).encode()
    objects.append(b"<< /Type /Pages /Kids [" + kids + b"] /Count " + str(pages).encode() + b" >>")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    colours = ["0.11 0.23 0.40", "0.79 0.64 0.15", "0.18 0.49 0.32", "0.78 0.23 0.18"]
    for i in range(pages):
        content = (
            f"{colours[i % len(colours)]} rg 60 420 680 120 re f "
            f"BT /F1 54 Tf 0 g 72 300 Td (Slide {i + 1}) Tj ET"
        ).encode()
        stream = zlib.compress(content)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 800 600] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents " + str(page_ids[i] + 1).encode() + b" 0 R >>"
        )
        objects.append(b"<< /Length " + str(len(stream)).encode() + b" /Filter /FlateDecode >>\nstream\n"
                       + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def stage_attr(page, name: str) -> str | None:
    return page.get_attribute(STAGE, f"data-{name}")


def create_panel_via_ui(page, title: str, kind: str = "timeseries", feed: str = "air_quality",
                        pollutant: str | None = "pm25", interval: str | None = None) -> None:
    page.click('[data-testid="stage-share"]')
    page.click('[data-testid="panel-new"]')
    page.fill('[data-testid="panel-title"]', title)
    page.select_option('[data-testid="panel-kind"]', kind)
    page.select_option('[data-testid="panel-feed"]', feed)
    if pollutant:
        page.select_option('[data-testid="panel-pollutant"]', pollutant)
    if interval:
        page.fill('[data-testid="panel-interval"]', interval)
    page.click('[data-testid="panel-save"]')
    page.wait_for_selector(".panel-dialog", state="detached", timeout=10_000)


def create_panel(page, title: str, kind: str, feed: str, options: dict | None = None) -> str:
    """Create a panel through the host's socket (setup only); returns its id."""
    return page.evaluate(
        """async ([title, kind, feed, options]) => {
            const ack = await window.sitroom.meeting.conn.request("panel_create",
                {title, kind, source: {type: "simulated", feed}, options});
            return ack.panel.id;
        }""",
        [title, kind, feed, options or {}],
    )


def share_panel(page, panel_id: str) -> None:
    """Share a panel through the host's menu."""
    if page.is_hidden('[data-testid="stage-menu"]'):
        page.click('[data-testid="stage-share"]')
    page.click(f'[data-share-panel="{panel_id}"]')
    page.wait_for_function("(id) => window.sitroom.stage.stage.panel_id === id", arg=panel_id, timeout=10_000)


def wait_for_panel_data(page, panel_id: str, timeout_ms: int = 20_000) -> None:
    page.wait_for_selector(f'{STAGE} [data-panel-id="{panel_id}"] .panel-waiting', state="hidden",
                           timeout=timeout_ms)


# ---- tests -------------------------------------------------------------------------------------


def test_host_shares_a_live_chart_participant_sees_it_update_and_cannot_change_the_stage(server, new_page):
    links = create_room(server, "Stage panels")["links"]
    host, guest = new_page(), new_page()
    join(host, links["host"], "Mayor", "Seoul")
    join(guest, links["participant"], "Council Member", "Mapo")

    # Nothing on stage yet: the participant sees the gallery only, the host a "Share to stage" bar.
    assert guest.is_hidden(STAGE)
    assert host.is_visible('[data-testid="stage-share"]')

    # The host creates a simulated air-quality chart through the editor and shares it.
    create_panel_via_ui(host, "Air <b>quality</b> PM2.5")
    panel_id = host.evaluate("window.sitroom.stage.panels[0].id")
    assert host.is_visible(f'[data-share-panel="{panel_id}"]')
    share_panel(host, panel_id)
    assert stage_attr(host, "kind") == "panel"

    # The participant follows: the chart appears, with data, and the data changes over time.
    guest.wait_for_selector(f'{STAGE}[data-kind="panel"] [data-panel-id="{panel_id}"] canvas', timeout=10_000)
    wait_for_panel_data(guest, panel_id)
    title = guest.inner_text(f'[data-panel-id="{panel_id}"] .panel-view-title')
    assert title == "Air <b>quality</b> PM2.5", "titles are text, never markup"
    first = guest.evaluate(CHART_JS)
    assert first["datasets"] and len(first["labels"]) > 1
    assert first["unit"] == "µg/m³"
    assert len(first["datasets"][0]["data"]) == len(first["labels"])
    guest.wait_for_function(
        f"(before) => {{ const c = ({CHART_JS})(); return c && JSON.stringify(c) !== JSON.stringify(before); }}",
        arg=first, timeout=25_000,
    )
    second = guest.evaluate(CHART_JS)
    assert second != first
    assert "Last updated" in guest.inner_text(f'[data-panel-id="{panel_id}"] .panel-updated')

    # A participant has no stage controls, and the server refuses a forged stage change.
    assert guest.is_hidden('[data-testid="stage-share"]')
    version = stage_attr(guest, "version")
    code = guest.evaluate(
        """() => window.sitroom.meeting.conn.request("stage_set", {kind: "empty"})
                 .then(() => "accepted", (err) => err.code)"""
    )
    assert code == "forbidden"
    guest.wait_for_selector(".toast-error >> text=does not allow", timeout=5_000)
    host.wait_for_timeout(500)  # give a (wrong) stage broadcast the time to arrive
    for page in (host, guest):
        assert stage_attr(page, "kind") == "panel"
        assert stage_attr(page, "version") == version
        assert page.evaluate("window.sitroom.stage.stage.panel_id") == panel_id

    # The host renames the panel in the editor; the participant's panel follows in place.
    host.click('[data-testid="stage-share"]')
    host.click(f'[data-edit-panel="{panel_id}"]')
    host.fill('[data-testid="panel-title"]', "PM2.5 by district")
    host.click('[data-testid="panel-save"]')
    guest.wait_for_selector(f'[data-panel-id="{panel_id}"] .panel-view-title >> text="PM2.5 by district"',
                            timeout=10_000)


def test_host_uploads_a_pdf_turns_the_page_and_everyone_follows_with_the_pointer(server, new_page, tmp_path):
    links = create_room(server, "Stage documents")["links"]
    host, guest = new_page(), new_page()
    join(host, links["host"], "Mayor")
    join(guest, links["participant"], "Guest")

    # A file that is not a PDF or an image is refused, whatever its name says.
    fake = tmp_path / "budget.pdf"
    fake.write_text("this is plain text, not a PDF")
    host.set_input_files('[data-testid="stage-upload-input"]', str(fake))
    host.wait_for_selector('[data-testid="stage-upload"][data-phase="failed"]', timeout=10_000)
    assert "not a PDF or image" in host.inner_text('[data-testid="stage-upload"]')

    # A real 3-page PDF: upload, progress, ready, then shown on stage.
    pdf = tmp_path / "slides.pdf"
    pdf.write_bytes(make_pdf(3))
    host.set_input_files('[data-testid="stage-upload-input"]', str(pdf))
    host.wait_for_selector('[data-testid="upload-show"]', timeout=30_000)
    host.click('[data-testid="upload-show"]')
    host.wait_for_selector(f'{STAGE}[data-kind="document"] [data-testid="doc-page"][data-page="0"]', timeout=10_000)
    guest.wait_for_selector(f'{STAGE}[data-kind="document"] [data-testid="doc-page"][data-page="0"]', timeout=10_000)

    # The host turns to page 2 with the keyboard; the participant's page follows, loaded.
    host.keyboard.press("ArrowRight")
    for page in (host, guest):
        img = page.wait_for_selector('[data-testid="doc-page"][data-page="1"]', timeout=10_000)
        assert img.evaluate("(el) => el.complete && el.naturalWidth > 0")
    assert stage_attr(guest, "kind") == "document"
    assert guest.inner_text(".doc-page-label") == "Page 2 of 3"
    assert guest.is_hidden(".doc-thumbs"), "thumbnails are the presenter's"
    assert host.locator(".doc-thumb").count() == 3

    # The pointer: the host turns pointer mode on and moves over the page; the guest sees the dot.
    host.click('[data-testid="stage-pointer"]')
    box = host.locator('[data-testid="doc-page"]').bounding_box()
    host.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.5)
    host.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5, steps=4)
    guest.wait_for_selector(".doc-pointer", state="visible", timeout=5_000)
    left = guest.evaluate("parseFloat(document.querySelector('.doc-pointer').style.left)")
    assert 20 <= left <= 35

    # A late joiner lands on the same page.
    late = new_page()
    join(late, links["participant"], "Late Arrival")
    img = late.wait_for_selector(f'{STAGE}[data-kind="document"] [data-testid="doc-page"][data-page="1"]',
                                 timeout=10_000)
    assert img.evaluate("(el) => el.complete && el.naturalWidth > 0")


def test_participant_browses_privately_until_the_host_locks_following(server, new_page):
    links = create_room(server, "Stage browse")["links"]
    host, guest = new_page(), new_page()
    join(host, links["host"], "Mayor")
    join(guest, links["participant"], "Guest")
    chart_id = create_panel(host, "PM10 by district", "timeseries", "air_quality", {"pollutant": "pm10"})
    table_id = create_panel(host, "Open incidents", "table", "incidents", {"max_rows": 8})
    share_panel(host, chart_id)
    guest.wait_for_selector(f'{STAGE} [data-panel-id="{chart_id}"]', timeout=10_000)

    # Browse: the participant looks at the incidents table privately; the host's stage is unchanged.
    guest.select_option('[data-testid="stage-browse"]', f"panel:{table_id}")
    guest.wait_for_selector(f'{STAGE}[data-following="false"] [data-panel-id="{table_id}"]', timeout=5_000)
    wait_for_panel_data(guest, table_id)
    assert guest.locator(f'[data-panel-id="{table_id}"] tbody tr').count() >= 1
    chips = guest.locator(f'[data-panel-id="{table_id}"] tbody .panel-chip')
    assert chips.count() >= 1 and chips.first.get_attribute("class").startswith("panel-chip panel-tone-")
    assert guest.is_visible('[data-testid="stage-back"]')
    assert host.evaluate("window.sitroom.stage.stage.panel_id") == chart_id

    # Back to the presenter.
    guest.click('[data-testid="stage-back"]')
    guest.wait_for_selector(f'{STAGE}[data-following="true"] [data-panel-id="{chart_id}"]', timeout=5_000)

    # Browse again; the host locks following: the participant snaps back and cannot browse.
    guest.select_option('[data-testid="stage-browse"]', f"panel:{table_id}")
    guest.wait_for_selector(f'{STAGE}[data-following="false"]', timeout=5_000)
    host.click('[data-testid="stage-share"]')
    host.check('[data-testid="stage-lock"]')
    guest.wait_for_selector(f'{STAGE}[data-following="true"] [data-panel-id="{chart_id}"]', timeout=5_000)
    assert guest.is_hidden('[data-testid="stage-browse"]')
    assert guest.is_hidden('[data-testid="stage-back"]')
    assert guest.evaluate("window.sitroom.stage.stage.locked_follow") is True

    # A reconnecting participant lands on the same stage, still locked.
    guest.evaluate("window.sitroom.meeting.conn.socket.io.engine.close()")
    guest.wait_for_function("window.sitroom.state.status === 'reconnecting'", timeout=5_000)
    guest.wait_for_function("window.sitroom.state.status === 'joined'", timeout=15_000)
    guest.wait_for_selector(f'{STAGE}[data-kind="panel"] [data-panel-id="{chart_id}"] canvas', timeout=10_000)
    wait_for_panel_data(guest, chart_id)
    assert guest.is_hidden('[data-testid="stage-browse"]')

    # A panel whose source fails shows a warning chip instead of data.
    broken_id = host.evaluate(
        """async () => (await window.sitroom.meeting.conn.request("panel_create", {title: "Broken feed",
            kind: "kpi", source: {type: "http", url: "http://127.0.0.1:9/none.json", format: "json",
            interval_s: 1}})).panel.id"""
    )
    share_panel(host, broken_id)
    guest.wait_for_selector(f'[data-panel-id="{broken_id}"] [data-testid="panel-error"]', state="visible",
                            timeout=20_000)
    assert "Source problem" in guest.inner_text(f'[data-panel-id="{broken_id}"] [data-testid="panel-error"]')

    # The host deletes the shared panel (Delete, then confirm): the stage empties for everyone.
    host.click('[data-testid="stage-share"]')
    host.click(f'.stage-menu-row:has([data-share-panel="{broken_id}"]) >> text=Delete')
    host.click(f'.stage-menu-row:has([data-share-panel="{broken_id}"]) >> text=Sure?')
    guest.wait_for_selector(f'{STAGE}[data-kind="empty"]', state="attached", timeout=10_000)
    assert guest.is_hidden(STAGE), "an empty stage gives the gallery the whole screen"
    assert host.locator(f'[data-share-panel="{broken_id}"]').count() == 0


def test_stage_fits_a_phone_and_a_laptop(server, new_page):
    links = create_room(server, "City Situation Room")["links"]
    host = new_page(viewport={"width": 1280, "height": 720})
    join(host, links["host"], "Mayor Kim", "Seoul City Hall")
    chart_id = create_panel(host, "Air quality · PM2.5 by district", "timeseries", "air_quality", {"pollutant": "pm25"})
    share_panel(host, chart_id)
    host.keyboard.press("Escape")
    phone = new_page(viewport={"width": 390, "height": 844})
    phone_id = join(phone, links["participant"], "Field Officer", "Mapo")
    wait_for_tile(host, phone_id)
    for page in (host, phone):
        wait_for_panel_data(page, chart_id)

    # Phone: the stage is on top, full width, the chart inside the viewport; Leave stays reachable.
    stage = phone.locator(STAGE).bounding_box()
    canvas = phone.locator(f'[data-panel-id="{chart_id}"] canvas').bounding_box()
    leave = phone.locator("#leave-button").bounding_box()
    gallery = phone.locator(".stage-layout > .stage").bounding_box()
    assert stage["x"] >= 0 and stage["x"] + stage["width"] <= 390 + 0.5
    assert stage["width"] >= 370, "full width on a phone"
    assert canvas["height"] >= 200 and canvas["x"] >= 0 and canvas["x"] + canvas["width"] <= 390 + 0.5
    assert canvas["y"] + canvas["height"] <= stage["y"] + stage["height"] + 0.5
    assert gallery["y"] >= stage["y"] + stage["height"] - 0.5, "gallery below the stage"
    assert leave["y"] + leave["height"] <= 844 and leave["x"] + leave["width"] <= 390
    # Laptop: the stage is large, the gallery a column beside it.
    lap_stage = host.locator(STAGE).bounding_box()
    lap_gallery = host.locator(".stage-layout > .stage").bounding_box()
    assert lap_stage["width"] > 2 * lap_gallery["width"]

    # Eight districts: the laptop shows every line; the phone the four highest at first, and its
    # legend lists the other four, switched off, to turn on with the keyboard.
    legend = f'[data-panel-id="{chart_id}"] [data-testid="panel-legend"]'
    lap_chart = host.evaluate(CHART_JS)
    assert len(lap_chart["datasets"]) == 8 and lap_chart["visible"] == [d["label"] for d in lap_chart["datasets"]]
    assert host.locator(f'{legend} button[aria-pressed="true"]').count() == 8
    assert host.is_hidden(f'{legend} [data-testid="panel-legend-note"]')
    phone_chart = phone.evaluate(CHART_JS)
    assert len(phone_chart["datasets"]) == 8 and len(phone_chart["visible"]) == 4
    assert phone.locator(f'{legend} button[aria-pressed="true"]').count() == 4
    assert phone.inner_text(f'{legend} [data-testid="panel-legend-note"]') == "4 of 8 shown"
    off = phone.locator(f'{legend} button[aria-pressed="false"]').first
    name = off.get_attribute("data-series")
    off.focus()
    phone.keyboard.press("Space")
    phone.wait_for_function(f"(n) => ({CHART_JS})().visible.includes(n)", arg=name, timeout=5_000)
    assert phone.get_attribute(f'{legend} [data-series="{name}"]', "aria-pressed") == "true"
    assert phone.evaluate("document.activeElement.dataset.series") == name
    phone.keyboard.press("Enter")
    phone.wait_for_function(f"(n) => !({CHART_JS})().visible.includes(n)", arg=name, timeout=5_000)
    assert len(phone.evaluate(CHART_JS)["visible"]) == 4
    assert lap_gallery["x"] >= lap_stage["x"] + lap_stage["width"] - 0.5

    # Screenshots for the docs, without passing toasts or a focus ring.
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for page in (host, phone):
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.wait_for_function("!document.querySelector('.toast')", timeout=10_000)
    phone.screenshot(path=str(SCREENSHOTS / "stage-phone.png"))
    host.screenshot(path=str(SCREENSHOTS / "stage.png"))


def test_two_presenters_at_once_the_second_is_told_and_lands_on_the_current_stage(server, new_page):
    links = create_room(server, "Stage conflict")["links"]
    host, deputy = new_page(), new_page()
    join(host, links["host"], "Mayor")
    staff_link = host.evaluate(
        """async () => (await window.sitroom.meeting.conn.request("invite_create",
            {role: "staff", label: "Deputy"})).link"""
    )
    join(deputy, staff_link, "Deputy Mayor")
    chart_id = create_panel(host, "PM2.5", "timeseries", "air_quality", {"pollutant": "pm25"})
    table_id = create_panel(host, "Open incidents", "table", "incidents", {"max_rows": 8})
    share_panel(host, chart_id)
    deputy.wait_for_selector(f'{STAGE} [data-panel-id="{chart_id}"]', timeout=10_000)
    version = int(stage_attr(host, "version"))
    assert int(stage_attr(deputy, "version")) == version

    # Quick page-turn-like changes by one presenter never conflict with each other.
    applied = host.evaluate(
        """([a, b]) => { const view = window.sitroom.meeting.stageView;
                         return Promise.all([view.setStage({kind: "panel", panel_id: a}),
                                             view.setStage({kind: "panel", panel_id: b})]); }""",
        [table_id, chart_id],
    )
    assert applied == [True, True]
    host.wait_for_function("(v) => window.sitroom.stage.stage.version === v", arg=version + 2, timeout=10_000)
    assert host.evaluate("window.sitroom.stage.conflicts") == 0
    version += 2
    deputy.wait_for_function("(v) => window.sitroom.stage.stage.version === v", arg=version, timeout=10_000)

    # The host's client misses the deputy's change for a moment (as if both acted at once)...
    host.evaluate(
        """() => { const view = window.sitroom.meeting.stageView; view.missed = [];
                   view.applyStage = (state) => view.missed.push(state); }"""
    )
    deputy.click('[data-testid="stage-share"]')
    deputy.click(f'[data-share-panel="{table_id}"]')
    deputy.wait_for_function("(v) => window.sitroom.stage.stage.version === v", arg=version + 1, timeout=10_000)
    host.wait_for_function("(v) => window.sitroom.meeting.stageView.missed.some((s) => s.version === v)",
                           arg=version + 1, timeout=10_000)
    host.evaluate("() => { delete window.sitroom.meeting.stageView.applyStage; }")
    assert host.evaluate("window.sitroom.stage.stage.panel_id") == chart_id, "still the old stage"

    # ...and then clears the stage based on the old version: refused, told who, shown the current stage.
    host.click('[data-testid="stage-share"]')
    host.click('[data-testid="stage-clear"]')
    host.wait_for_selector(".toast-error >> text=Deputy Mayor changed the stage meanwhile", timeout=10_000)
    host.wait_for_selector(f'{STAGE}[data-kind="panel"] [data-panel-id="{table_id}"]', timeout=10_000)
    assert int(stage_attr(host, "version")) == version + 1
    assert host.evaluate("window.sitroom.stage.conflicts") == 1
    # Nothing changed for the deputy; the host, now current, can change the stage again.
    assert stage_attr(deputy, "kind") == "panel" and int(stage_attr(deputy, "version")) == version + 1
    if host.is_hidden('[data-testid="stage-menu"]'):
        host.click('[data-testid="stage-share"]')
    host.click('[data-testid="stage-clear"]')
    deputy.wait_for_selector(f'{STAGE}[data-kind="empty"]', state="attached", timeout=10_000)
    assert int(stage_attr(deputy, "version")) == version + 2
