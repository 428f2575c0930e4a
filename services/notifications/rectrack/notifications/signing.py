"""Webhook signatures: HMAC-SHA256 over the timestamp and the raw body.

The scheme, for anyone verifying a rectrack webhook:

1. Every signed request carries two headers::

       X-Rectrack-Timestamp: 1700000000          (Unix time in seconds, decimal)
       X-Rectrack-Signature: v1=<64 hex digits>

2. The signed bytes are the ASCII decimal timestamp, a full stop, then the raw request
   body exactly as received (do not re-serialise the JSON)::

       signed = f"{timestamp}.".encode() + body

3. The signature is the lower-case hex HMAC-SHA256 of ``signed`` keyed with the webhook
   secret (UTF-8 encoded)::

       expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()

4. Accept the request only if ``hmac.compare_digest(expected, <hex after "v1=">)`` and the
   timestamp is within 300 seconds of your clock (either side), which limits replays.
   ``X-Rectrack-Delivery`` is stable across retries of one delivery: drop one you have seen.

A request with no signature headers was sent to an endpoint configured without a secret.
"""

import hashlib
import hmac
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Rectrack-Timestamp"
SIGNATURE_HEADER = "X-Rectrack-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` keyed with ``secret``."""
    signed = f"{int(timestamp)}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, *, now: int) -> dict[str, str]:
    """Return the timestamp and signature headers for ``body`` signed at time ``now``."""
    timestamp = int(now)
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SCHEME}={sign(secret, timestamp, body)}",
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: int,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Return True if ``headers`` carry a valid, fresh rectrack signature of ``body``."""
    # Plain dicts are case-sensitive; HTTP header names are not.
    lowered = {key.lower(): value for key, value in headers.items()}
    raw_timestamp = lowered.get(TIMESTAMP_HEADER.lower())
    raw_signature = lowered.get(SIGNATURE_HEADER.lower())
    if raw_timestamp is None or raw_signature is None:
        return False
    raw_timestamp = raw_timestamp.strip()
    # int() alone would also take "+1", "1_0" and non-ASCII digits; the scheme says decimal ASCII.
    if not (raw_timestamp.isascii() and raw_timestamp.isdigit()):
        return False
    timestamp = int(raw_timestamp)
    if abs(int(now) - timestamp) > tolerance_seconds:
        return False
    scheme, _, received = raw_signature.strip().partition("=")
    if scheme != SCHEME or not received:
        return False
    expected = sign(secret, timestamp, body)
    # compare_digest wants both sides ASCII; a non-ASCII header is simply a mismatch.
    if not received.isascii():
        return False
    return hmac.compare_digest(expected, received.lower())
