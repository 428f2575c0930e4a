"""The end-to-end tests' client side: the demo principals, a platform started for a test, a public-API client,
a hand-built PDF and the timeout a poll fails with.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from rectrack.common.launcher import LocalPlatform

BIN = Path(sys.executable).parent

# Three police forces: each has a liaison, a chief officer and a local policing body among its demo contacts.
BODY_A = "west-midlands-police"
BODY_B = "west-yorkshire-police"
BODY_C = "kent-police"
INSPECTOR = "e2e-inspector"

# Extra environment every test platform runs with (a module's PLATFORM_ENV is added on top).
BASE_ENV = {"RECTRACK_PROFILE": "test", "RECTRACK_LOG_JSON": "false", "RECTRACK_LOG_LEVEL": "WARNING"}


@contextmanager
def running_platform(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[LocalPlatform]:
    """Start every process; stop all of them (and NATS) however the block ends."""
    with LocalPlatform(data_dir, extra_env={**BASE_ENV, **(extra_env or {})}) as platform:
        yield platform


class Api:
    """A synchronous client of the public API (/api/v1) with one principal's bearer token."""

    def __init__(self, base_url: str, token: str) -> None:
        self.client = httpx.Client(base_url=f"{base_url}/api/v1", timeout=30.0,
                                   headers={"Authorization": f"Bearer {token}"})

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET a public path (relative to /api/v1, or absolute starting with /api/v1)."""
        return self._send("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        """POST JSON (or files/data via kwargs)."""
        return self._send("POST", path, json=json, **kwargs)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        # A well-behaved client: over the gateway's rate limit (429), wait as Retry-After says and try again.
        for _ in range(30):
            response = self.client.request(method, self._path(path), **kwargs)
            if response.status_code != 429:
                return response
            time.sleep(float(response.headers.get("Retry-After", "1")))
        return response

    def transition(self, rec_id: str, action: str, *, version: int | None = None, **fields: Any) -> httpx.Response:
        """Take a lifecycle action, with If-Match when a version is given."""
        headers = {"If-Match": f'"{version}"'} if version is not None else {}
        return self.post(f"/recommendations/{rec_id}/transitions", {"action": action, **fields}, headers=headers)

    def all_items(self, path: str, params: dict[str, Any] | None = None, page: int = 500) -> list[dict[str, Any]]:
        """Every item of a paged list, once each by id (rows added meanwhile shift a newest-first list)."""
        items: dict[Any, dict[str, Any]] = {}
        offset = 0
        while True:
            response = self.get(path, params={**(params or {}), "limit": page, "offset": offset})
            assert response.status_code == 200, (path, response.status_code, response.text)
            doc = response.json()
            for item in doc["items"]:
                items[item.get("id", len(items))] = item
            offset += len(doc["items"])
            if not doc["items"] or offset >= int(doc.get("total", offset)):
                return list(items.values())

    @staticmethod
    def _path(path: str) -> str:
        return path[len("/api/v1"):] if path.startswith("/api/v1/") else path

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def minimal_pdf(text: str = "rectrack evidence") -> bytes:
    """A small, valid one-page PDF (correct xref offsets), built by hand."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


class WaitTimeout(AssertionError):
    """A condition polled for never came true."""
