"""Invite tokens: genuine ones verify; anything forged, altered, expired or malformed is refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from rooms import tokens
from rooms.errors import DomainError, TokenError

SECRET = b"s3cret-for-tests"
CLAIMS = {"room": "k3x9pq2m", "role": "participant", "inv": "i_0123456789abcdef", "exp": None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_round_trip():
    token = tokens.sign(CLAIMS, SECRET)
    assert token.startswith("v1.") and token.count(".") == 2
    assert tokens.verify(token, SECRET) == CLAIMS


def test_round_trip_with_expiry_in_the_future():
    claims = {**CLAIMS, "exp": 2_000_000_000}
    token = tokens.sign(claims, SECRET)
    assert tokens.verify(token, SECRET, now=1_999_999_999) == claims
    assert tokens.verify(token, SECRET, now=datetime(2030, 1, 1, tzinfo=UTC))["exp"] == 2_000_000_000


def test_error_is_a_domain_error_with_the_protocol_code():
    with pytest.raises(DomainError) as info:
        tokens.verify("nonsense", SECRET)
    assert isinstance(info.value, TokenError)
    assert info.value.code == "invalid_token" and info.value.message


def test_role_changed_to_host_is_rejected():
    token = tokens.sign(CLAIMS, SECRET)
    version, payload, mac = token.split(".")
    forged_claims = {**json.loads(base64.urlsafe_b64decode(payload + "==")), "role": "host"}
    forged = f"{version}.{b64(json.dumps(forged_claims).encode())}.{mac}"
    with pytest.raises(TokenError) as info:
        tokens.verify(forged, SECRET)
    assert info.value.code == "invalid_token"


def test_every_single_character_change_is_rejected():
    token = tokens.sign(CLAIMS, SECRET)
    for i in range(len(token)):
        replacement = "A" if token[i] != "A" else "B"
        altered = token[:i] + replacement + token[i + 1:]
        with pytest.raises(TokenError):
            tokens.verify(altered, SECRET)


def test_wrong_secret_is_rejected():
    token = tokens.sign(CLAIMS, b"another secret")
    with pytest.raises(TokenError):
        tokens.verify(token, SECRET)


def test_expired_is_rejected():
    token = tokens.sign({**CLAIMS, "exp": 1_000}, SECRET)
    with pytest.raises(TokenError) as info:
        tokens.verify(token, SECRET, now=1_000)
    assert "expired" in info.value.message
    with pytest.raises(TokenError):
        tokens.verify(token, SECRET)  # the real clock is long past 1970


@pytest.mark.parametrize("bad", [
    "",
    "v1",
    "v1..",
    "v1.abc",
    "v1.a.b.c",
    "random garbage",
    "x" * 5000,
    "v2.eyJ9.AAAA",
    "v1.!!!!.????",
    "v1.eyJyb29tIjoieCJ9.not*base64",
    "v1.eyJyb29tIjoieCJ9.",
    "v1.eyJyb29tIjoieCJ9.AAAA====",
])
def test_malformed_strings_are_rejected(bad):
    with pytest.raises(TokenError):
        tokens.verify(bad, SECRET)


@pytest.mark.parametrize("bad", [None, 42, b"v1.a.b", ["v1"]])
def test_non_strings_are_rejected(bad):
    with pytest.raises(TokenError):
        tokens.verify(bad, SECRET)


def test_wrong_version_with_a_valid_mac_is_rejected():
    # Re-sign the same payload under a "v2" prefix with the right secret: still refused.
    import hashlib
    import hmac

    _, payload, _ = tokens.sign(CLAIMS, SECRET).split(".")
    signing_input = f"v2.{payload}"
    mac = b64(hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest())
    with pytest.raises(TokenError):
        tokens.verify(f"{signing_input}.{mac}", SECRET)


@pytest.mark.parametrize("claims", [
    ["not", "an", "object"],
    {"role": "host", "inv": "i", "exp": None},                 # no room
    {"room": "r", "role": "", "inv": "i", "exp": None},        # empty role
    {"room": "r", "role": "host", "inv": 7, "exp": None},      # inv not a string
    {"room": "r", "role": "host", "inv": "i", "exp": "soon"},  # exp not a number
    {"room": "r", "role": "host", "inv": "i", "exp": True},
])
def test_signed_but_malformed_claims_are_rejected(claims):
    # Even with a genuine MAC, claims of the wrong shape are refused.
    import hashlib
    import hmac

    signing_input = f"v1.{b64(json.dumps(claims).encode())}"
    mac = b64(hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest())
    with pytest.raises(TokenError):
        tokens.verify(f"{signing_input}.{mac}", SECRET)


def test_sign_refuses_an_empty_secret():
    with pytest.raises(ValueError):
        tokens.sign(CLAIMS, b"")
