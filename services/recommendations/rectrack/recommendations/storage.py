"""Evidence blob storage: streamed, size-capped, type-sniffed, stored under generated keys."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from rectrack.recommendations.evidence import (
    EvidenceTooLarge,
    EvidenceTypeRefused,
    sniff_file,
)

READ_CHUNK_BYTES = 64 * 1024
_KEY = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """What storage knows about a saved blob; the metadata row copies it."""

    key: str
    size: int
    sha256: str
    media_type: str


class BlobNotFound(LookupError):
    """No blob is stored under this key."""


class EvidenceStorage(Protocol):
    """Where evidence files live; keys are generated here, never taken from the uploader."""

    async def save(self, chunks: AsyncIterator[bytes], *, filename: str, max_bytes: int) -> StoredBlob:
        """Stream chunks into a new blob, refusing oversize or disallowed content."""
        ...

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """The blob's content as chunks; BlobNotFound if there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob; a missing key is not an error."""
        ...


def new_key() -> str:
    """A fresh, unguessable storage key."""
    return uuid.uuid4().hex


class LocalFileStorage:
    """EvidenceStorage over a directory, sharded as ab/cd/<key>."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        """The file a key maps to; BlobNotFound for anything that is not a key we could have made."""
        # Keys reach us from URLs and database rows: only our own shape may touch the filesystem.
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise BlobNotFound(key)
        return self.root / key[:2] / key[2:4] / key

    async def save(self, chunks: AsyncIterator[bytes], *, filename: str, max_bytes: int) -> StoredBlob:
        """Stream chunks into a new blob, refusing oversize or disallowed content."""
        # The temp file sits in the root so the final rename stays on one filesystem (atomic).
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".upload-", suffix=".part")
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as fh:
                try:
                    async for chunk in chunks:
                        size += len(chunk)
                        if size > max_bytes:
                            raise EvidenceTooLarge(max_bytes)
                        digest.update(chunk)
                        await asyncio.to_thread(fh.write, chunk)
                finally:
                    # Stop the producer now rather than whenever it is garbage-collected.
                    aclose = getattr(chunks, "aclose", None)
                    if aclose is not None:
                        await aclose()
                await asyncio.to_thread(_flush, fh)
            media_type = await asyncio.to_thread(sniff_file, tmp, filename)
            if media_type is None:
                raise EvidenceTypeRefused("the file's content is not an allowed type of evidence")
            key = new_key()
            await asyncio.to_thread(_move_into_place, tmp, self.path_for(key))
        except BaseException:
            # Synchronous on purpose: it must run even when the task is being cancelled.
            _discard(tmp)
            raise
        return StoredBlob(key=key, size=size, sha256=digest.hexdigest(), media_type=media_type)

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """The blob's content as chunks; BlobNotFound if there is none."""
        path = self.path_for(key)
        try:
            # Opened before returning so a missing blob is reported before any response starts.
            fh = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        return _read_chunks(fh)

    async def delete(self, key: str) -> None:
        """Remove the blob; a missing key is not an error."""
        with contextlib.suppress(BlobNotFound):
            await asyncio.to_thread(self.path_for(key).unlink, missing_ok=True)


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)


def _flush(fh: BinaryIO) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def _move_into_place(tmp: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, dest)


async def _read_chunks(fh: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(fh.read, READ_CHUNK_BYTES):
            yield chunk
    finally:
        fh.close()
