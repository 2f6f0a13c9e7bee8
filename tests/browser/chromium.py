"""Debian's Chromium as the browser tests and benchmarks launch it: fake camera and microphone at
30 fps, loopback WebRTC, no background traffic.

``launch_chromium(playwright.chromium)`` starts it headless; ``executable`` runs another binary in
its place (e.g. a script that starts it inside a network lab, tests/netlab.py).
"""

from __future__ import annotations

import os
import re
import wave
from pathlib import Path

CHROMIUM = Path(os.environ.get("SITROOM_CHROMIUM", "/usr/lib/chromium/chromium"))

# Features disabled for WebRTC on loopback; merged with Playwright's own list into ONE flag
# (a second --disable-features would replace the first).
OUR_DISABLED_FEATURES = ["WebRtcHideLocalIpsWithMdns"]
# Playwright 1.65's own list, used if it cannot be read from the installed driver.
PLAYWRIGHT_DISABLED_FEATURES_1_65 = [
    "AvoidUnnecessaryBeforeUnloadCheckSync", "DestroyProfileOnBrowserClose", "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable", "LensOverlay", "MediaRouter", "PaintHolding",
    "ThirdPartyStoragePartitioning", "AvoidCorsURLLoaderRestartOnRedirect", "TcpPortRandomizationWin",
    "OptimizationHints", "NetworkTimeServiceQuerying", "AimEnabled", "PreconnectToSearch",
    "msForceBrowserSignIn", "msEdgeUpdateLaunchServicesPreferredVersion",
]
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream=fps=30",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def playwright_disabled_features() -> list[str]:
    """The --disable-features list the installed Playwright passes to Chromium."""
    try:
        import playwright

        bundle = Path(playwright.__file__).parent / "driver" / "package" / "lib" / "coreBundle.js"
        text = bundle.read_text(errors="replace")
        block = re.search(r"disabledFeatures = \[(.*?)\]", text, re.S)
        if block:
            body = re.sub(r"//[^\n]*", "", block.group(1))
            names = re.findall(r'"([A-Za-z0-9_]+)"', body)
            if names:
                return names
    except Exception:  # noqa: BLE001 - fall back to the known list
        pass
    return list(PLAYWRIGHT_DISABLED_FEATURES_1_65)


def silence_wav(path) -> str:
    """A WAV file of 10 s of silence (48 kHz mono) at ``path``, for
    ``--use-file-for-fake-audio-capture``: a fake microphone that never makes a sound."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(b"\0\0" * 48000 * 10)
    return str(path)


def launch_chromium(browser_type, executable: str | Path = CHROMIUM, args: list[str] | tuple = (),
                    ignore_default_args: list[str] | tuple = ()):
    """Launch Chromium headless with CHROMIUM_ARGS (``args`` added), our disabled features merged
    into Playwright's one --disable-features flag; ``ignore_default_args``: more of Playwright's
    defaults to leave out (e.g. "--mute-audio")."""
    pw_features = playwright_disabled_features()
    merged = list(dict.fromkeys(pw_features + OUR_DISABLED_FEATURES))
    return browser_type.launch(
        executable_path=str(executable),
        headless=True,
        ignore_default_args=["--disable-features=" + ",".join(pw_features), *ignore_default_args],
        args=[*CHROMIUM_ARGS, *args, "--disable-features=" + ",".join(merged)],
    )
