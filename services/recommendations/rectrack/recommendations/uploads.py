"""Streaming multipart parsing: each file part goes straight into evidence storage as it arrives.

python-multipart's push parser fills a small queue of events per network chunk; file parts are handed
to `storage.save` as an async iterator over that queue, so at most one chunk of a file is in memory and
the size limit is enforced while the bytes stream in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from rectrack.common.errors import Problem
from rectrack.recommendations.evidence import EvidenceTooLarge, EvidenceTypeRefused, safe_display_name
from rectrack.recommendations.storage import EvidenceStorage, StoredBlob


@dataclass(frozen=True)
class UploadedFile:
    """One evidence file saved from the request: its display name and the stored blob."""

    filename: str
    blob: StoredBlob


@dataclass
class ParsedUpload:
    """The text fields and the stored files of one multipart request."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)


class _Collector:
    """python-multipart callbacks that turn the push parser into a queue of events."""

    def __init__(self) -> None:
        self.events: deque[tuple[str, Any]] = deque()
        self._field = bytearray()
        self._value = bytearray()
        self._headers: dict[bytes, bytes] = {}

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
            "on_part_end": lambda: self.events.append(("end", None)),
            "on_end": lambda: self.events.append(("done", None)),
        }

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        self.events.append(("headers", dict(self._headers)))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self.events.append(("data", bytes(data[start:end])))


def multipart_boundary(content_type: str) -> bytes:
    """The boundary of a multipart/form-data content type; 400 when there is none."""
    media_type, params = parse_options_header(content_type)
    if media_type != b"multipart/form-data" or not params.get(b"boundary"):
        raise Problem(400, "bad-multipart", "Malformed multipart body", "expected multipart/form-data with a boundary")
    return params[b"boundary"]


async def _events(stream: AsyncIterator[bytes], parser: MultipartParser,
                  collector: _Collector) -> AsyncGenerator[tuple[str, Any], None]:
    async for chunk in stream:
        if not chunk:
            continue
        try:
            parser.write(chunk)
        except MultipartParseError:
            raise Problem(400, "bad-multipart", "Malformed multipart body", "the multipart body is malformed") from None
        while collector.events:
            yield collector.events.popleft()
    parser.finalize()
    while collector.events:
        yield collector.events.popleft()


async def _part_chunks(events: AsyncIterator[tuple[str, Any]]) -> AsyncIterator[bytes]:
    """The data of the current part, ending at its end event."""
    while True:
        try:
            kind, value = await anext(events)
        except StopAsyncIteration:
            raise Problem(400, "bad-multipart", "Malformed multipart body", "the body ended inside a part") from None
        if kind == "data":
            yield value
        elif kind == "end":
            return


async def parse_streaming(stream: AsyncIterator[bytes], content_type: str, *, storage: EvidenceStorage,
                          max_file_bytes: int, max_files: int, max_field_bytes: int) -> ParsedUpload:
    """Parse a multipart body, saving files as they stream; on any failure nothing stays stored."""
    collector = _Collector()
    parser = MultipartParser(multipart_boundary(content_type), collector.callbacks())  # type: ignore[arg-type]
    events = _events(stream, parser, collector)
    parsed = ParsedUpload()
    finished = False
    try:
        async for kind, value in events:
            if kind == "done":
                finished = True
            elif kind == "headers":
                await _read_part(events, value, parsed, storage=storage, max_file_bytes=max_file_bytes,
                                 max_files=max_files, max_field_bytes=max_field_bytes)
        if not finished:
            raise Problem(400, "bad-multipart", "Malformed multipart body", "the multipart body is incomplete")
    except BaseException:
        await discard(storage, parsed.files)
        raise
    finally:
        await events.aclose()
    return parsed


async def _read_part(events: AsyncIterator[tuple[str, Any]], headers: dict[bytes, bytes], parsed: ParsedUpload, *,
                     storage: EvidenceStorage, max_file_bytes: int, max_files: int, max_field_bytes: int) -> None:
    _, params = parse_options_header(headers.get(b"content-disposition", b""))
    name = params.get(b"name", b"").decode("utf-8", "replace")
    raw_filename = params.get(b"filename")
    if raw_filename is None:
        value = bytearray()
        async for chunk in _part_chunks(events):
            value += chunk
            if len(value) > max_field_bytes:
                raise Problem(413, "field-too-large", "Field too large", f"the field {name!r} is too long")
        try:
            parsed.fields[name] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise Problem(400, "bad-multipart", "Malformed multipart body", f"{name!r} is not UTF-8") from None
        return
    filename = raw_filename.decode("utf-8", "replace")
    if not filename:  # a browser's empty file input
        async for _ in _part_chunks(events):
            pass
        return
    if len(parsed.files) >= max_files:
        raise Problem(413, "too-many-files", "Too many files", f"at most {max_files} evidence files per update")
    display = safe_display_name(filename)
    try:
        blob = await storage.save(_part_chunks(events), filename=display, max_bytes=max_file_bytes)
    except EvidenceTooLarge:
        raise Problem(413, "evidence-too-large", "Evidence file too large",
                      f"{display!r} is larger than the limit of {max_file_bytes} bytes",
                      max_bytes=max_file_bytes, filename=display) from None
    except EvidenceTypeRefused:
        raise Problem(415, "evidence-type-refused", "Evidence type not allowed",
                      f"{display!r} is not an allowed type of evidence (PDF, images, office documents, CSV, text)",
                      filename=display) from None
    parsed.files.append(UploadedFile(filename=display, blob=blob))


async def discard(storage: EvidenceStorage, files: list[UploadedFile]) -> None:
    """Delete stored blobs whose metadata will never be written."""
    for uploaded in files:
        await storage.delete(uploaded.blob.key)
