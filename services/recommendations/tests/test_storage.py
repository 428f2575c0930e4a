"""LocalFileStorage: streamed saves with a size cap, type refusal, generated keys, no leftovers."""

from __future__ import annotations

import hashlib
import re
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rectrack.recommendations.evidence import EvidenceTooLarge, EvidenceTypeRefused
from rectrack.recommendations.storage import (
    BlobNotFound,
    EvidenceStorage,
    LocalFileStorage,
    StoredBlob,
)

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
CHUNK = 64 * 1024
MiB = 1024 * 1024


class Producer:
    """An async chunk source that counts what was pulled from it."""

    def __init__(self, first: bytes, total: int, chunk: int = CHUNK) -> None:
        self.first, self.total, self.chunk = first, total, chunk
        self.pulled = 0
        self.closed = False

    async def stream(self) -> AsyncIterator[bytes]:
        try:
            sent = 0
            while sent < self.total:
                size = min(self.chunk, self.total - sent)
                data = (self.first + b"x" * size)[:size] if sent == 0 else b"x" * size
                self.pulled += 1
                sent += size
                yield data
        finally:
            self.closed = True


async def chunks_of(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def read_all(storage: EvidenceStorage, key: str) -> bytes:
    return b"".join([chunk async for chunk in await storage.open(key)])


@pytest.mark.asyncio
async def test_save_open_delete_round_trip(tmp_path: Path) -> None:
    storage: EvidenceStorage = LocalFileStorage(tmp_path / "evidence")
    blob = await storage.save(chunks_of(PDF, 7), filename="report.pdf", max_bytes=10_000)
    assert isinstance(blob, StoredBlob)
    assert re.fullmatch(r"[0-9a-f]{32}", blob.key)
    assert blob.size == len(PDF)
    assert blob.sha256 == hashlib.sha256(PDF).hexdigest()
    assert blob.media_type == "application/pdf"
    stored = tmp_path / "evidence" / blob.key[:2] / blob.key[2:4] / blob.key
    assert files_under(tmp_path / "evidence") == [stored]
    assert await read_all(storage, blob.key) == PDF

    await storage.delete(blob.key)
    assert files_under(tmp_path / "evidence") == []
    with pytest.raises(BlobNotFound):
        await storage.open(blob.key)
    await storage.delete(blob.key)  # deleting twice is harmless


@pytest.mark.asyncio
async def test_each_save_gets_its_own_key(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path)
    first = await storage.save(chunks_of(PDF), filename="a.pdf", max_bytes=10_000)
    second = await storage.save(chunks_of(PDF), filename="a.pdf", max_bytes=10_000)
    assert first.key != second.key
    assert first.sha256 == second.sha256


@pytest.mark.asyncio
async def test_filename_decides_csv_but_never_the_path(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "evidence"
    storage = LocalFileStorage(root)
    blob = await storage.save(chunks_of(b"a,b\n1,2\n"), filename="../../x.csv", max_bytes=100)
    assert blob.media_type == "text/csv"
    assert files_under(tmp_path) == [root / blob.key[:2] / blob.key[2:4] / blob.key]
    txt = await storage.save(chunks_of(b"a,b\n1,2\n"), filename="x.txt", max_bytes=100)
    assert txt.media_type == "text/plain"


@pytest.mark.asyncio
async def test_exactly_the_limit_is_accepted(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path)
    blob = await storage.save(chunks_of(PDF), filename="r.pdf", max_bytes=len(PDF))
    assert blob.size == len(PDF)


@pytest.mark.asyncio
async def test_oversize_stops_streaming_early_and_leaves_nothing(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path)
    producer = Producer(PDF, total=30 * MiB)
    with pytest.raises(EvidenceTooLarge) as refused:
        await storage.save(producer.stream(), filename="big.pdf", max_bytes=1 * MiB)
    assert refused.value.max_bytes == MiB
    # 1 MiB is 16 chunks; the 17th crosses the limit. The other ~460 chunks were never made.
    assert producer.pulled == MiB // CHUNK + 1
    assert producer.pulled < 30 * MiB // CHUNK
    assert producer.closed
    assert files_under(tmp_path) == []


@pytest.mark.asyncio
async def test_a_large_save_streams_in_bounded_memory(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path)
    producer = Producer(PDF, total=20 * MiB)
    tracemalloc.start()
    try:
        blob = await storage.save(producer.stream(), filename="big.pdf", max_bytes=25 * MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob.size == 20 * MiB
    assert peak < 4 * MiB, f"peak {peak} bytes: the upload was buffered, not streamed"


@pytest.mark.asyncio
async def test_disallowed_type_is_refused_and_deleted(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path)
    exe = b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + b"\x00" * 1000
    with pytest.raises(EvidenceTypeRefused):
        await storage.save(chunks_of(exe), filename="report.pdf", max_bytes=10_000)
    with pytest.raises(EvidenceTypeRefused):
        await storage.save(chunks_of(b""), filename="empty.txt", max_bytes=10_000)
    assert files_under(tmp_path) == []


@pytest.mark.asyncio
async def test_a_failing_upload_leaves_nothing(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path)

    async def broken() -> AsyncIterator[bytes]:
        yield PDF
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await storage.save(broken(), filename="r.pdf", max_bytes=10_000)
    assert files_under(tmp_path) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("key", ["../../etc/passwd", "ab/cd/x", "", "A" * 32, "0" * 31, "0" * 32 + "/.."])
async def test_keys_that_we_could_not_have_made_are_not_found(tmp_path: Path, key: str) -> None:
    storage = LocalFileStorage(tmp_path / "evidence")
    (tmp_path / "secret").write_bytes(b"secret")
    with pytest.raises(BlobNotFound):
        await storage.open(key)
    await storage.delete(key)
    assert (tmp_path / "secret").exists()


@pytest.mark.asyncio
async def test_open_streams_in_chunks(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path)
    blob = await storage.save(Producer(PDF, total=200_000).stream(), filename="r.pdf", max_bytes=MiB)
    chunks = [c async for c in await storage.open(blob.key)]
    assert len(chunks) > 1
    assert max(len(c) for c in chunks) <= 64 * 1024
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == blob.sha256
