"""Evidence upload helpers: decide a file's media type by its content against an allow-list.

A small signature table, not `filetype`/`puremagic`: the allow-list is short, those libraries
guess by magic bytes only (no OOXML/ODF by member, no macro check, no text-vs-binary rule, no
refusal of scripts or markup), and we would still need `zipfile` and a text rule on top.
`sniff_file` is authoritative (it reads the zip central directory, the whole OLE2 file and
all of a text file); `sniff_media_type` does its best with a head, which may be the whole file.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import struct
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath

HEAD_BYTES = 8 * 1024
_READ_CHUNK = 1024 * 1024

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
DOC, XLS, PPT = (
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
)
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
CSV, TEXT = "text/csv", "text/plain"

ALLOWED_MEDIA_TYPES: frozenset[str] = frozenset(
    {PDF, "image/png", "image/jpeg", "image/gif", "image/webp", "image/tiff"}
    | {DOCX, XLSX, PPTX, DOC, XLS, PPT, ODT, ODS, CSV, TEXT}
)


class EvidenceTooLarge(Exception):
    """An upload ran past the size limit."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"evidence is larger than the limit of {max_bytes} bytes")
        self.max_bytes = max_bytes


class EvidenceTypeRefused(Exception):
    """An upload whose content is not on the allow-list."""


_ZIP, _OLE, _EXECUTABLE = "zip", "ole2", "executable"

# Checked in order against the start of the file; executables first so no prefix can launder them.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"MZ", _EXECUTABLE),
    (b"\x7fELF", _EXECUTABLE),
    (b"\xfe\xed\xfa\xce", _EXECUTABLE),
    (b"\xfe\xed\xfa\xcf", _EXECUTABLE),
    (b"\xce\xfa\xed\xfe", _EXECUTABLE),
    (b"\xcf\xfa\xed\xfe", _EXECUTABLE),
    (b"\xca\xfe\xba\xbe", _EXECUTABLE),  # Mach-O fat binary (and Java class files)
    (b"#!", _EXECUTABLE),
    (b"\xef\xbb\xbf#!", _EXECUTABLE),
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"PK\x03\x04", _ZIP),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", _OLE),
)


def _signature_kind(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for magic, kind in _SIGNATURES:
        if head.startswith(magic):
            return kind
    return None


# --- zip containers: OOXML by its members, OpenDocument by its `mimetype` member ------------

_ODF_TYPES = {ODT.encode(): ODT, ODS.encode(): ODS}


def _zip_type(names: Iterable[str], odf_mimetype: bytes | None) -> str | None:
    names = list(names)
    # Macro-enabled documents run code when opened; they are not on the allow-list.
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        return None
    if odf_mimetype is not None:
        return _ODF_TYPES.get(odf_mimetype.strip())
    if "[Content_Types].xml" in names:
        for prefix, media_type in (("word/", DOCX), ("xl/", XLSX), ("ppt/", PPTX)):
            if any(n.startswith(prefix) for n in names):
                return media_type
    return None


def _zip_type_from_archive(source: str | os.PathLike[str] | io.BytesIO) -> str | None:
    try:
        with zipfile.ZipFile(source) as archive:
            names = archive.namelist()
            odf = None
            if "mimetype" in names and archive.getinfo("mimetype").file_size <= 128:
                odf = archive.read("mimetype")
            return _zip_type(names, odf)
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, ValueError, NotImplementedError):
        return None


def _zip_type_from_local_headers(head: bytes) -> str | None:
    """Best effort for a truncated zip: read member names from the local file headers in view."""
    names: list[str] = []
    odf = None
    for match in re.finditer(rb"PK\x03\x04", head):
        at = match.start()
        if at + 30 > len(head):
            break
        (method,) = struct.unpack_from("<H", head, at + 8)
        (size,) = struct.unpack_from("<I", head, at + 18)
        name_len, extra_len = struct.unpack_from("<HH", head, at + 26)
        name = head[at + 30 : at + 30 + name_len].decode("utf-8", "replace")
        names.append(name)
        if name == "mimetype" and method == 0 and not names[:-1]:
            start = at + 30 + name_len + extra_len
            odf = head[start : start + size]
    return _zip_type(names, odf)


# --- OLE2 compound files (legacy doc/xls/ppt): told apart by their directory entries ----------

# A directory entry is 128 bytes, aligned to 128 in the file, name in UTF-16LE then its byte
# length (terminator included) at offset 64; matching all that avoids hits inside stream data.
_OLE_STREAMS = {
    "WordDocument": DOC,
    "Workbook": XLS,
    "Book": XLS,
    "PowerPoint Document": PPT,
}
_OLE_MACROS = ("Macros", "_VBA_PROJECT_CUR")


def _ole_entry(name: str) -> bytes:
    encoded = name.encode("utf-16-le") + b"\x00\x00"
    return encoded.ljust(64, b"\x00") + struct.pack("<H", len(encoded))


_OLE_PATTERNS = {_ole_entry(n): n for n in (*_OLE_STREAMS, *_OLE_MACROS)}
_OLE_OVERLAP = max(len(p) for p in _OLE_PATTERNS) - 1  # so an entry split across reads is still seen


def _ole_type(chunks: Iterator[bytes]) -> str | None:
    found: set[str] = set()
    offset, carry = 0, b""
    for chunk in chunks:
        data = carry + chunk
        base = offset - len(carry)
        for pattern, name in _OLE_PATTERNS.items():
            at = data.find(pattern)
            while at != -1:
                if (base + at) % 128 == 0:
                    found.add(name)
                    break
                at = data.find(pattern, at + 1)
        offset += len(chunk)
        carry = data[-_OLE_OVERLAP:]
    if found.intersection(_OLE_MACROS):
        return None
    types = {_OLE_STREAMS[n] for n in found if n in _OLE_STREAMS}
    return types.pop() if len(types) == 1 else None


# --- text: UTF-8 or mostly printable, no NULs, no scripts or markup --------------------------

_CONTROL_BYTES = bytes(sorted(set(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D} | {0x7F}))
_HIGH_BYTES = bytes(range(0x80, 0x100))
# Markup that browsers would render (the WHATWG sniffing list), XML and SVG: none is plain text.
_MARKUP_START = re.compile(
    rb"^\s*<(!doctype\s+html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p"
    rb"|!--|\?xml|svg)[\s>/]",
    re.IGNORECASE,
)
_ACTIVE_CONTENT = re.compile(rb"<\s*(script|svg)\b", re.IGNORECASE)


class _TextCheck:
    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.utf8 = True
        self.nul = False
        self.total = self.controls = self.high = 0

    def feed(self, chunk: bytes, *, final: bool = False) -> None:
        self.total += len(chunk)
        self.nul = self.nul or b"\x00" in chunk
        # translate() deletes in C, so counting stays cheap on a 25 MB file.
        self.controls += len(chunk) - len(chunk.translate(None, _CONTROL_BYTES))
        self.high += len(chunk) - len(chunk.translate(None, _HIGH_BYTES))
        if self.utf8:
            try:
                self._decoder.decode(chunk, final)
            except UnicodeDecodeError:
                self.utf8 = False

    def is_text(self) -> bool:
        if self.total == 0 or self.nul or self.controls > self.total // 100:
            return False
        # Legacy 8-bit text (cp1252 CSV from a spreadsheet) has few high bytes; binary has half.
        return self.utf8 or self.high <= self.total * 3 // 10


def _text_type(head: bytes, filename: str, check: _TextCheck) -> str | None:
    body = head.removeprefix(b"\xef\xbb\xbf")
    if not check.is_text() or _MARKUP_START.match(body) or _ACTIVE_CONTENT.search(body):
        return None
    return CSV if filename.lower().rstrip(" .").endswith(".csv") else TEXT


# --- public API ---------------------------------------------------------------------------------


def sniff_media_type(head: bytes, filename: str) -> str | None:
    """The allowed media type of content starting with `head`, or None to refuse it."""
    kind = _signature_kind(head)
    if kind == _EXECUTABLE:
        return None
    if kind == _ZIP:
        return _zip_type_from_archive(io.BytesIO(head)) or _zip_type_from_local_headers(head)
    if kind == _OLE:
        return _ole_type(iter((head,)))
    if kind is not None:
        return kind
    check = _TextCheck()
    # The head may end mid-character, so only a complete decode failure counts.
    check.feed(head, final=False)
    return _text_type(head[:HEAD_BYTES], filename, check)


def _read_chunks(path: str | os.PathLike[str]) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(_READ_CHUNK):
            yield chunk


def sniff_file(path: str | os.PathLike[str], filename: str | None = None) -> str | None:
    """The allowed media type of the file at `path` (named `filename` by the uploader), or None."""
    filename = os.path.basename(os.fspath(path)) if filename is None else filename
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    kind = _signature_kind(head)
    if kind == _EXECUTABLE:
        return None
    if kind == _ZIP:
        return _zip_type_from_archive(path)
    if kind == _OLE:
        return _ole_type(_read_chunks(path))
    if kind is not None:
        return kind
    check = _TextCheck()
    for chunk in _read_chunks(path):
        check.feed(chunk)
    check.feed(b"", final=True)
    return _text_type(head, filename, check)


_MAX_NAME = 255
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def safe_display_name(filename: str) -> str:
    """A harmless display name for an uploaded file: no directories or control characters, <=255."""
    name = unicodedata.normalize("NFC", filename or "")
    # Format characters go too: a right-to-left override can make "evil\u202egpj.exe" look like a jpg.
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _DROP_CATEGORIES)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"^[A-Za-z]:", "", name).strip()
    if name in {"", ".", ".."}:
        return "upload"
    if len(name) > _MAX_NAME:
        suffix = PurePosixPath(name).suffix
        suffix = suffix if 1 < len(suffix) <= 16 else ""
        name = name[: _MAX_NAME - len(suffix)] + suffix
    return name
