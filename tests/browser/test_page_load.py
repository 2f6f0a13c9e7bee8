"""What a browser downloads to open a page: the hashed bundle, brotli-compressed, to be kept a year.

Pages load over lossy intercontinental links. tests/test_static_assets.py checks the headers and the
304s over HTTP; here Chromium itself asks for the page and the bundle, gets the brotli copies, and
the start page works from them.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

BUNDLE = re.compile(r"/static/app-[A-Z2-7]{8}\.(js|css)")


def test_chromium_gets_the_bundle_as_brotli_and_may_keep_it(server, new_page):
    page = new_page()
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    seen: dict[str, dict] = {}  # path -> the response as Chromium's network layer reports it
    cdp.on("Network.responseReceived", lambda e: seen.__setitem__(urlsplit(e["response"]["url"]).path, e["response"]))

    page.goto(server + "/")
    page.wait_for_selector("#create-room")  # the start page runs: the script was decoded
    assert page.evaluate("[...document.styleSheets].reduce((n, s) => n + s.cssRules.length, 0)") > 100  # and the styles
    bundle = [path for path in seen if BUNDLE.fullmatch(path)]
    assert sorted(p.rsplit(".", 1)[1] for p in bundle) == ["css", "js"], sorted(seen)
    for path in [*bundle, "/"]:
        response = seen[path]
        headers = {k.lower(): v for k, v in response["headers"].items()}
        assert response["status"] == 200 and headers["content-encoding"] == "br", (path, headers)
        expected = "no-cache" if path == "/" else "public, max-age=31536000, immutable"
        assert headers["cache-control"] == expected, (path, headers)
