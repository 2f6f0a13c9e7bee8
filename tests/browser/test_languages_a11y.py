"""Languages and accessibility through the real pages.

- Korean: the start page, pre-join and the meeting (its menus, side panel, stage and dialogs
  opened) rendered with Korean chosen carry no English left in what a person reads or a screen
  reader says; user content (names, titles, chat, panel data) is marked translate="no" and skipped.
- axe-core (client_web/node_modules/axe-core, the npm package) finds no serious or critical
  violation on the start page, pre-join and the meeting, on a laptop and a phone.
- Keyboard only: every control of the bar is reached with Tab, with a visible focus ring; the
  shortcuts (Alt+A, Alt+V, M, "?") work.
"""

from __future__ import annotations

import json
import re

import pytest

from collab_helpers import SCREENSHOTS
from conftest import ORGANISER_KEY, REPO, create_room, join, show_panel, wait_for_tile  # noqa: I001

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

AXE = REPO / "client_web" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}

# Latin-script words a Korean page may show: the product's name, units and chemical names of the
# panels' data, keyboard keys, file formats and other acronyms Korean writes in Latin letters.
ALLOWED = {"Sitroom", "Alt", "PM", "NO", "O3", "AQI", "km", "h", "g", "m", "µg", "M", "V", "A", "Y", "H", "S",
           "PDF", "PNG", "JPEG", "CSV", "JSON", "HTTP", "HTTPS", "URL", "ID", "UTC", "GMT", "KPI"}

TEXTS_JS = """() => {
  const out = [];
  const skip = (el) => el.closest('[translate="no"], script, style, noscript, .audio-sink');
  const shown = (el) => {
    const s = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    return s.display !== "none" && s.visibility !== "hidden" && r.width > 0 && r.height > 0;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    const text = walker.currentNode.textContent.trim();
    if (text && el && !skip(el) && shown(el)) out.push(text);
  }
  for (const el of document.querySelectorAll("[aria-label], [title], [placeholder], [alt]")) {
    if (skip(el)) continue;
    for (const a of ["aria-label", "title", "placeholder", "alt"]) {
      const v = el.getAttribute(a);
      if (v && v.trim()) out.push(v.trim());
    }
  }
  for (const el of document.querySelectorAll("option")) if (!skip(el) && !el.closest("[data-testid=language]")) out.push(el.textContent.trim());
  out.push(document.title);
  return out;
}"""


def english_left(page, user_content=()) -> list[str]:
    """Texts of the page that still hold an English word (two or more Latin letters, not allowed).
    `user_content`: what people typed (names, messages), which a translated template may hold."""
    left = []
    for text in page.evaluate(TEXTS_JS):
        for typed in user_content:
            text = text.replace(typed, "")
        # Words, not codes: "K7M-4PD-Q2R" or "PM2.5" hold digits and are not words.
        words = [w for w in re.findall(r"(?<![A-Za-z0-9])[A-Za-z]+(?![A-Za-z0-9])", text)
                 if w not in ALLOWED and len(w) > 1]
        if words:
            left.append(text)
    return sorted(set(left))


def axe_violations(page) -> list[str]:
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed at {AXE} (npm ci in client_web)", pytrace=False)
    # (evaluated through the DevTools protocol, whether or not the page's Content-Security-Policy is bypassed)
    page.evaluate(AXE.read_text())
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ["violations"]});
        return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`);
    }""")
    return result


def korean(new_page, **options):
    page = new_page(locale="ko-KR", **options)
    page.add_init_script("localStorage.setItem('sitroom.language', 'ko')")
    return page


def test_korean_leaves_no_english_on_the_start_page_prejoin_and_meeting(server, new_page):
    links = create_room(server, "서울-리스본 협의")["links"]
    guest = new_page()
    host = korean(new_page)
    host.goto(f"{server}/#organiser={ORGANISER_KEY}")
    host.wait_for_selector("#meeting-title")
    assert host.evaluate("document.documentElement.lang") == "ko"
    assert english_left(host) == []
    host.fill("#meeting-title", "홍수 대응")
    host.click("#create-room")
    host.wait_for_selector('[data-testid="room-code"]')
    assert english_left(host) == []

    host.goto(links["host"])
    host.wait_for_selector("#prejoin-name")
    host.wait_for_function("!document.querySelector('.preview-status').textContent")
    assert english_left(host) == []
    phone = korean(new_page, viewport=PHONE, is_mobile=True, has_touch=True)
    phone.goto(links["participant"])
    phone.wait_for_selector("#join-button:enabled")
    phone.fill("#prejoin-name", "박 위원")
    phone.wait_for_function("!document.querySelector('.preview-status').textContent")
    assert english_left(phone) == []
    phone.screenshot(path=str(SCREENSHOTS / "prejoin-ko.png"))
    host.fill("#prejoin-name", "김 시장")
    host.click("#join-button")
    host.wait_for_selector('.tile[data-self="true"]')
    guest_id = join(guest, links["participant"], "Ana Silva")
    wait_for_tile(host, guest_id)
    show_panel(host)
    host.wait_for_selector("[data-testid=stage][data-showing=panel] canvas")
    guest.click('[data-testid="raise-hand"]')
    guest.click('[data-testid="chat"]')
    guest.fill(".chat-input", "Hello from Lisbon")
    guest.click(".chat-send")
    host.wait_for_selector('[data-testid="chat-toast"]')
    # What people typed, and the panel's data (the simulated feed's district names are data).
    series = host.evaluate("window.sitroom.stage.panel.chart.datasets.map((d) => d.label)")
    assert len(series) >= 4, series
    typed = ("Ana Silva", "Hello from Lisbon", "PM2.5", *series)
    assert english_left(host, typed) == [], "meeting"

    for opener in ('[data-testid="chat"]', '[data-testid="people"]', '[data-testid="host-tools"]'):
        host.click(opener)
        host.wait_for_timeout(200)
        assert english_left(host, typed) == [], opener
    host.click('[data-testid="panel-close"]')
    host.click('[data-testid="stage-share"]')
    host.wait_for_selector('[data-testid="stage-menu"]:visible')
    assert english_left(host, typed) == [], "share to stage menu"
    host.keyboard.press("Escape")
    host.click('[data-testid="device-settings"]')
    assert english_left(host, typed) == [], "settings"
    host.keyboard.press("Escape")
    host.click("#leave-button")
    host.wait_for_selector('[data-testid="leave-dialog"]')
    assert english_left(host, typed) == [], "leave dialog"
    host.click('[data-testid="leave-cancel"]')


def test_changing_the_language_in_the_meeting_comes_back_in_as_the_same_person(server, new_page):
    links = create_room(server, "Language switch")["links"]
    page = new_page()
    pid = join(page, links["participant"], "Ana Silva")
    page.click('[data-testid="device-settings"]')
    page.select_option("#meeting-language", "fr")
    page.wait_for_function("window.sitroom.state && window.sitroom.state.status === 'joined'", timeout=20_000)
    assert page.evaluate("document.documentElement.lang") == "fr"
    assert page.evaluate("window.sitroom.selfId()") == pid
    french = json.loads((REPO / "client_web" / "src" / "locales" / "fr.json").read_text())
    assert page.get_attribute("button.toggle-mic", "aria-label") == french["controls"]["muteLabel"]


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["laptop", "phone"])
def test_axe_finds_no_serious_violation(server, new_page, viewport):
    links = create_room(server, "Accessibility")["links"]
    page = new_page(viewport=viewport)
    page.goto(server + "/")
    page.wait_for_selector("#meeting-title")
    assert axe_violations(page) == [], "start page"
    page.goto(links["host"])
    page.wait_for_selector("#join-button:enabled")
    assert axe_violations(page) == [], "pre-join"
    page.fill("#prejoin-name", "Mayor Kim")
    page.click("#join-button")
    page.wait_for_selector('.tile[data-self="true"]')
    assert axe_violations(page) == [], "meeting"
    show_panel(page, "Traffic", "kpi", "traffic")
    page.wait_for_selector("[data-testid=stage][data-showing=panel] [data-kpi-value]")
    assert axe_violations(page) == [], "meeting with a panel on stage"
    for opener in ('[data-testid="people"]', '[data-testid="host-tools"]'):
        if page.locator(opener).is_visible():
            page.click(opener)
        else:  # on a phone: from the More sheet
            page.click('[data-testid="more"]')
            page.click('[data-testid="sheet-people"]' if "people" in opener else '[data-testid="sheet-host"]')
        page.wait_for_selector(".side-panel:visible")
        assert axe_violations(page) == [], opener
        page.click('[data-testid="panel-close"]')


def test_the_meeting_works_from_the_keyboard(server, new_page):
    links = create_room(server, "Keyboard")["links"]
    page = new_page()
    join(page, links["host"], "Mayor Kim")
    page.evaluate("document.activeElement && document.activeElement.blur()")
    reached, rings = set(), []
    for _ in range(60):
        page.keyboard.press("Tab")
        info = page.evaluate("""() => {
            const el = document.activeElement;
            if (!el || el === document.body) return null;
            const s = getComputedStyle(el);
            return {id: el.dataset.testid || el.id || el.className, ring: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0
                    || s.boxShadow !== "none"};
        }""")
        if info:
            reached.add(info["id"])
            rings.append(info["ring"])
    for control in ("toggle-mic", "toggle-camera", "device-settings", "share-screen", "raise-hand", "react", "chat",
                    "people", "host-tools", "leave"):
        assert control in reached, (control, reached)
    assert all(rings), "every focused control shows where the focus is"

    page.keyboard.press("Alt+KeyA")
    assert page.get_attribute("button.toggle-mic", "data-state") == "off"
    page.keyboard.press("m")
    assert page.get_attribute("button.toggle-mic", "data-state") == "on"
    page.keyboard.press("Alt+KeyV")
    assert page.get_attribute("button.toggle-camera", "data-state") == "off"
    page.keyboard.press("?")
    page.wait_for_selector('[data-testid="shortcuts-dialog"]')
    page.keyboard.press("Escape")
    page.wait_for_selector('[data-testid="shortcuts-dialog"]', state="detached")
