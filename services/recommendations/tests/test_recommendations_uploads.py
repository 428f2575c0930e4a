"""Evidence uploads: streamed with a size limit, typed by content, stored under generated keys."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

from recommendations_testkit import FORCE_A, INSPECTOR, PDF, VIEWER, Service

BOUNDARY = "rectrack-test-boundary"
CHUNK = 64 * 1024


def stored_files(service: Service) -> list[Path]:
    root = service.settings.evidence_dir
    assert root is not None
    return [p for p in root.rglob("*") if p.is_file()]


async def started(service: Service) -> str:
    report = await service.report()
    (rec,) = await service.recommend(report["id"], ["force-a"])
    assert (await service.act(rec["id"], FORCE_A, "start")).status_code == 200
    return str(rec["id"])


async def test_oversize_upload_is_refused_while_streaming(service: Service) -> None:
    rec_id = await started(service)
    pulled = 0
    total = 64 * 1024 * 1024  # far beyond the 256 KiB limit the fixture sets

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"narrative\"\r\n\r\nBig file\r\n"
               f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.pdf\"\r\n"
               "Content-Type: application/pdf\r\n\r\n").encode() + PDF
        while pulled < total:
            pulled += CHUNK
            yield b"0" * CHUNK
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    response = await service.post(f"/recommendations/{rec_id}/progress", FORCE_A, content=body(),
                                  headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert response.status_code == 413, response.text
    assert response.json()["type"] == "urn:rectrack:problem:evidence-too-large"
    # The service stopped reading soon after the limit: the 64 MiB were never pulled, let alone held.
    assert pulled < 2 * 1024 * 1024
    assert stored_files(service) == []
    assert (await service.get(f"/recommendations/{rec_id}/progress", FORCE_A)).json()["items"] == []


async def test_disguised_executable_is_refused(service: Service) -> None:
    rec_id = await started(service)
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 500 + b"This program cannot be run in DOS mode"
    response = await service.post(f"/recommendations/{rec_id}/progress", FORCE_A, data={"narrative": "see file"},
                                  files=[("files", ("ok.pdf", PDF, "application/pdf")),
                                         ("files", ("minutes.pdf", exe, "application/pdf"))])
    assert response.status_code == 415, response.text
    assert response.json()["filename"] == "minutes.pdf"
    assert stored_files(service) == []  # the good file went too: all or nothing
    assert (await service.get(f"/recommendations/{rec_id}/progress", FORCE_A)).json()["items"] == []


async def test_path_like_filename_is_harmless(service: Service) -> None:
    rec_id = await started(service)
    response = await service.post(f"/recommendations/{rec_id}/progress", FORCE_A, data={"narrative": "notes"},
                                  files={"files": ("../../x", b"plain text evidence\n", "text/plain")})
    assert response.status_code == 201, response.text
    (evidence,) = response.json()["evidence"]
    assert evidence["filename"] == "x" and evidence["media_type"] == "text/plain"
    (path,) = stored_files(service)
    assert re.fullmatch(r"[0-9a-f]{32}", path.name) and path.is_relative_to(service.settings.evidence_dir)
    assert not (service.settings.evidence_dir.parent.parent / "x").exists()
    download = await service.get(evidence["download_url"].removeprefix("/api/v1"), INSPECTOR)
    assert download.content == b"plain text evidence\n"
    assert download.headers["content-disposition"] == "attachment; filename=\"x\"; filename*=UTF-8''x"
    assert download.headers["content-type"].startswith("text/plain")


async def test_progress_rules(service: Service) -> None:
    report = await service.report()
    (rec,) = await service.recommend(report["id"], ["force-a"])
    path = f"/recommendations/{rec['id']}/progress"
    not_started = await service.post(path, FORCE_A, json={"narrative": "n"})
    assert not_started.status_code == 409 and not_started.json()["state"] == "issued"
    assert (await service.post(path, VIEWER, json={"narrative": "n"})).status_code == 403
    assert (await service.post(path, INSPECTOR, json={"narrative": "staff note", "rag": "red"})).status_code == 201
    await service.act(rec["id"], FORCE_A, "start")
    assert (await service.post(path, FORCE_A, json={"narrative": ""})).status_code == 422
    assert (await service.post(path, FORCE_A, json={"narrative": "x" * 20_001})).status_code == 422
    assert (await service.post(path, FORCE_A, json={"narrative": "n", "rag": "blue"})).status_code == 422
    assert (await service.post(path, FORCE_A, content=b"narrative=n",
                               headers={"Content-Type": "text/plain"})).status_code == 415
    assert (await service.post(path, FORCE_A, data={"rag": "green"},
                               files={"files": ("a.pdf", PDF, "application/pdf")})).status_code == 422
    assert stored_files(service) == []
    await service.act(rec["id"], INSPECTOR, "withdraw", reason="overtaken")
    assert (await service.post(path, FORCE_A, json={"narrative": "late"})).status_code == 409
