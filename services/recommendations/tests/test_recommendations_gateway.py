"""Through the gateway: the in-process gateway in front of the recommendations service running in uvicorn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from recommendations_testkit import DEFAULT_BODIES, MIGRATIONS, PDF, body_event

from rectrack.common.auth import issue_user_token
from rectrack.common.db import Database
from rectrack.common.settings import PlatformSettings, platform_settings
from rectrack.common.testing import ThreadedServer, free_port, migrated_database
from rectrack.gateway.config import GatewaySettings
from rectrack.gateway.main import create_app as create_gateway
from rectrack.recommendations.bodies import apply_body_event
from rectrack.recommendations.config import RecommendationsSettings
from rectrack.recommendations.main import create_app as create_service

GATEWAY_LIMIT = 1024 * 1024


@pytest.fixture
def service_server(nats_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedServer]:
    monkeypatch.setenv("RECTRACK_NATS_URL", nats_server.url)
    monkeypatch.setenv("RECTRACK_DATA_DIR", str(tmp_path))
    platform_settings.cache_clear()

    async def prepare() -> str:
        url = await migrated_database("sqlite", MIGRATIONS, tmp_path)
        db = Database(url)
        try:
            for row in DEFAULT_BODIES:
                async with db.transaction() as session:
                    await apply_body_event(session, body_event(*row))
        finally:
            await db.dispose()
        return url

    url = asyncio.run(prepare())
    settings = RecommendationsSettings(database_url=url, evidence_dir=tmp_path / "evidence",
                                       evidence_max_bytes=256 * 1024)
    server = ThreadedServer(create_service(settings)).start()
    yield server
    server.stop()


@pytest.fixture
async def gateway(service_server: ThreadedServer) -> AsyncIterator[httpx.AsyncClient]:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = GatewaySettings(recommendations_url=service_server.url, bodies_url=dead, notifications_url=dead,
                               max_request_bytes=GATEWAY_LIMIT)
    app = create_gateway(settings, platform_settings())
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield client


def bearer(role: str, subject: str, body_id: str | None = None) -> dict[str, str]:
    platform: PlatformSettings = platform_settings()
    token = issue_user_token(platform, role=role, subject=subject, name=subject, body_id=body_id)
    return {"Authorization": f"Bearer {token}"}


STAFF = bearer("inspector", "ida")
FORCE_A = bearer("body", "force-a-user", "force-a")
FORCE_B = bearer("body", "force-b-user", "force-b")


async def test_main_walk_through_the_gateway(gateway: httpx.AsyncClient) -> None:
    api = "/api/v1"
    assert (await gateway.get(f"{api}/recommendations")).status_code == 401
    report = await gateway.post(f"{api}/reports", headers=STAFF, json={
        "title": "PEEL 2025", "kind": "peel", "level": "local", "published_on": "2025-03-01"})
    assert report.status_code == 201, report.text
    created = await gateway.post(f"{api}/recommendations", headers=STAFF, json={
        "report_id": report.json()["id"], "kind": "recommendation", "reference": "PEEL-R1", "title": "Custody",
        "text": "Improve custody", "themes": ["custody"], "priority": "high", "due_date": "2030-01-31",
        "owner": "ida", "recipient_body_ids": ["force-a", "force-b", "force-c"], "issue": True})
    assert created.status_code == 201, created.text
    a, b, _ = created.json()["items"]
    rec = f"{api}/recommendations/{a['id']}"

    assert (await gateway.post(f"{rec}/transitions", headers=FORCE_A, json={"action": "start"})).status_code == 200
    upload = await gateway.post(f"{rec}/progress", headers=FORCE_A, data={"narrative": "Audit done", "rag": "green"},
                                files={"files": ("../audit.pdf", PDF, "application/pdf")})
    assert upload.status_code == 201, upload.text
    (evidence,) = upload.json()["evidence"]
    assert evidence["filename"] == "audit.pdf" and evidence["download_url"].startswith(f"{rec}/evidence/")
    assert (await gateway.post(f"{rec}/transitions", headers=FORCE_A, json={"action": "submit"})).status_code == 200
    returned = await gateway.post(f"{rec}/transitions", headers=STAFF, json={"action": "return", "reason": "More"})
    assert returned.json()["state"] == "in_progress"
    stale = await gateway.post(f"{rec}/transitions", headers={**STAFF, "If-Match": '"1"'},
                               json={"action": "withdraw", "reason": "x"})
    assert stale.status_code == 412 and stale.headers["content-type"].startswith("application/problem+json")
    assert (await gateway.post(f"{rec}/progress", headers=FORCE_A, json={"narrative": "More done"})).status_code == 201
    assert (await gateway.post(f"{rec}/transitions", headers=FORCE_A, json={"action": "submit"})).status_code == 200
    approved = await gateway.post(f"{rec}/transitions", headers=STAFF, json={"action": "approve", "assessment": "ok"})
    assert approved.json()["state"] == "complete" and approved.headers["etag"] == f'"{approved.json()["version"]}"'
    impossible = await gateway.post(f"{rec}/transitions", headers=FORCE_A, json={"action": "submit"})
    assert impossible.status_code == 409 and impossible.json()["allowed_actions"] == []
    assert impossible.json()["instance"] == f"{rec}/transitions"

    history = (await gateway.get(f"{rec}/history", headers=STAFF)).json()["items"]
    assert [h["action"] for h in history] == ["create", "issue", "start", "progress", "submit", "return", "progress",
                                              "submit", "approve"]
    download = await gateway.get(evidence["download_url"], headers=FORCE_A)
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["x-content-type-options"] == "nosniff"
    assert 'filename="audit.pdf"' in download.headers["content-disposition"]

    # Force B sees neither A's recommendation nor its file, nor them in its lists, summary or export.
    for path in (rec, f"{rec}/history", f"{rec}/progress", evidence["download_url"]):
        assert (await gateway.get(path, headers=FORCE_B)).status_code == 404, path
    listed = (await gateway.get(f"{api}/recommendations", headers=FORCE_B)).json()
    assert [i["id"] for i in listed["items"]] == [b["id"]]
    assert (await gateway.get(f"{api}/recommendations/summary", headers=FORCE_B)).json()["total"] == 1
    export = await gateway.get(f"{api}/recommendations/export.csv", headers=FORCE_B)
    assert export.status_code == 200 and a["id"] not in export.text and b["id"] in export.text


async def test_uploads_stream_through_the_gateway_under_limits(gateway: httpx.AsyncClient) -> None:
    api = "/api/v1"
    report = (await gateway.post(f"{api}/reports", headers=STAFF, json={"title": "T", "kind": "thematic",
                                                                         "level": "national"})).json()
    (rec,) = (await gateway.post(f"{api}/recommendations", headers=STAFF, json={
        "report_id": report["id"], "reference": "T1", "title": "t", "text": "x", "recipient_body_ids": ["force-a"],
        "issue": True})).json()["items"]
    path = f"{api}/recommendations/{rec['id']}/progress"
    await gateway.post(f"{api}/recommendations/{rec['id']}/transitions", headers=FORCE_A, json={"action": "start"})
    pulled = 0
    boundary = "gw-boundary"

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"narrative\"\r\n\r\nbig\r\n--{boundary}\r\n"
               f"Content-Disposition: form-data; name=\"files\"; filename=\"big.pdf\"\r\n\r\n").encode() + PDF
        while pulled < 64 * 1024 * 1024:
            pulled += 64 * 1024
            yield b"0" * (64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    too_big = await gateway.post(path, headers={**FORCE_A, "Content-Type": f"multipart/form-data; boundary={boundary}"},
                                 content=body())
    assert too_big.status_code == 413, too_big.text
    assert pulled <= 2 * GATEWAY_LIMIT  # streamed and cut off, never buffered whole
    # Files each within the service's limit but together past the gateway's: the gateway cuts the stream.
    parts = [("files", (f"part{n}.pdf", PDF + b"0" * (200 * 1024), "application/pdf")) for n in range(6)]
    over = await gateway.post(path, headers=FORCE_A, data={"narrative": "many"}, files=parts)
    assert over.status_code == 413 and over.json()["type"] == "urn:rectrack:problem:payload-too-large", over.text
    assert (await gateway.get(path, headers=FORCE_A)).json()["items"] == []
    exe = b"\x7fELF\x02\x01\x01" + b"\x00" * 200
    refused = await gateway.post(path, headers=FORCE_A, data={"narrative": "n"},
                                 files={"files": ("notes.txt", exe, "text/plain")})
    assert refused.status_code == 415 and refused.json()["type"] == "urn:rectrack:problem:evidence-type-refused"
    ok = await gateway.post(path, headers=FORCE_A, data={"narrative": "n"},
                            files={"files": ("notes.txt", b"plain notes\n", "text/plain")})
    assert ok.status_code == 201, ok.text
    assert (await gateway.post(path, headers=FORCE_B, json={"narrative": "n"})).status_code == 404
