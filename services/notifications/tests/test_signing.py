"""Webhook signatures: a fixed test vector, and tampered or stale requests rejected."""

import hashlib
import hmac

import pytest

from rectrack.notifications import signing

SECRET = "whsec_rectrack_test"
TIMESTAMP = 1_700_000_000
BODY = b'{"kind":"recommendation_issued","reference":"PEEL-2023-WMP-R3"}'
# Hard-coded so the scheme cannot change without this test (and every receiver) noticing.
EXPECTED_HEX = "9dc607339fbd58925b7b7e27e0b29d52a19bb925815a859ffe7f221512016e83"


def test_sign_matches_the_documented_scheme() -> None:
    by_hand = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signing.sign(SECRET, TIMESTAMP, BODY) == by_hand == EXPECTED_HEX


def test_signature_header_carries_timestamp_and_v1_signature() -> None:
    headers = signing.signature_header(SECRET, BODY, now=TIMESTAMP)
    assert headers == {
        "X-Rectrack-Timestamp": "1700000000",
        "X-Rectrack-Signature": f"v1={EXPECTED_HEX}",
    }


def test_verify_accepts_a_fresh_signature_with_any_header_case() -> None:
    headers = signing.signature_header(SECRET, BODY, now=TIMESTAMP)
    assert signing.verify(SECRET, headers, BODY, now=TIMESTAMP + 5)
    lowered = {key.lower(): value for key, value in headers.items()}
    assert signing.verify(SECRET, lowered, BODY, now=TIMESTAMP + 5)


@pytest.mark.parametrize("offset", [-300, 300])
def test_verify_accepts_the_edge_of_the_tolerance(offset: int) -> None:
    headers = signing.signature_header(SECRET, BODY, now=TIMESTAMP)
    assert signing.verify(SECRET, headers, BODY, now=TIMESTAMP + offset)


def test_verify_rejects_a_tampered_body() -> None:
    headers = signing.signature_header(SECRET, BODY, now=TIMESTAMP)
    tampered = BODY.replace(b"R3", b"R4")
    assert not signing.verify(SECRET, headers, tampered, now=TIMESTAMP)


def test_verify_rejects_a_tampered_timestamp() -> None:
    headers = signing.signature_header(SECRET, BODY, now=TIMESTAMP)
    headers["X-Rectrack-Timestamp"] = str(TIMESTAMP + 1)
    assert not signing.verify(SECRET, headers, BODY, now=TIMESTAMP)


def test_verify_rejects_the_wrong_secret() -> None:
    headers = signing.signature_header(SECRET, BODY, now=TIMESTAMP)
    assert not signing.verify("another-secret", headers, BODY, now=TIMESTAMP)


@pytest.mark.parametrize("offset", [-301, 301, 86_400])
def test_verify_rejects_stale_or_future_timestamps(offset: int) -> None:
    headers = signing.signature_header(SECRET, BODY, now=TIMESTAMP)
    assert not signing.verify(SECRET, headers, BODY, now=TIMESTAMP + offset)


def test_tolerance_is_configurable() -> None:
    headers = signing.signature_header(SECRET, BODY, now=TIMESTAMP)
    assert signing.verify(SECRET, headers, BODY, now=TIMESTAMP + 900, tolerance_seconds=900)
    assert not signing.verify(SECRET, headers, BODY, now=TIMESTAMP + 61, tolerance_seconds=60)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Rectrack-Timestamp": str(TIMESTAMP)},
        {"X-Rectrack-Signature": f"v1={EXPECTED_HEX}"},
        {"X-Rectrack-Timestamp": "soon", "X-Rectrack-Signature": f"v1={EXPECTED_HEX}"},
        {"X-Rectrack-Timestamp": "+1700000000", "X-Rectrack-Signature": f"v1={EXPECTED_HEX}"},
        {"X-Rectrack-Timestamp": str(TIMESTAMP), "X-Rectrack-Signature": f"v0={EXPECTED_HEX}"},
        {"X-Rectrack-Timestamp": str(TIMESTAMP), "X-Rectrack-Signature": EXPECTED_HEX},
        {"X-Rectrack-Timestamp": str(TIMESTAMP), "X-Rectrack-Signature": "v1="},
        {"X-Rectrack-Timestamp": str(TIMESTAMP), "X-Rectrack-Signature": "v1=é" * 10},
    ],
)
def test_verify_rejects_missing_or_malformed_headers(headers: dict[str, str]) -> None:
    assert not signing.verify(SECRET, headers, BODY, now=TIMESTAMP)
