"""Evidence sniffing against real small files, disguised executables and hostile names."""

from __future__ import annotations

import io
import os
import random
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from rectrack.recommendations.evidence import (
    ALLOWED_MEDIA_TYPES,
    CSV,
    DOC,
    DOCX,
    ODS,
    ODT,
    PDF,
    PPT,
    PPTX,
    TEXT,
    XLS,
    XLSX,
    safe_display_name,
    sniff_file,
    sniff_media_type,
)

MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n"
    b"2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n"
    b"xref\n0 3\n0000000000 65535 f \ntrailer <</Size 3 /Root 1 0 R>>\nstartxref\n0\n%%EOF\n"
)


def png_1x1() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def ooxml(part: str, extra: dict[str, bytes] | None = None, pad: int = 0) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        z.writestr("_rels/.rels", "<Relationships/>")
        z.writestr(part, "<document>Action plan agreed with the PCC</document>")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
        if pad:
            # Incompressible padding pushes the central directory past any 8 KiB head.
            z.writestr("word/media/image1.bin", random.Random(1).randbytes(pad), zipfile.ZIP_STORED)
    return buf.getvalue()


def odf(mimetype: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), mimetype, zipfile.ZIP_STORED)
        z.writestr("content.xml", "<office:document-content/>", zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", "<manifest/>", zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def ole2(*streams: str, misalign: bool = False) -> bytes:
    def entry(name: str) -> bytes:
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        return (encoded.ljust(64, b"\x00") + struct.pack("<H", len(encoded))).ljust(128, b"\x00")

    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1".ljust(512, b"\x00")
    directory = b"".join(entry(n) for n in ("Root Entry", *streams))
    if misalign:
        directory = b"\x01" * 7 + directory
    return header + directory.ljust(1024, b"\x00") + b"\x00" * 2048


def plain_zip(members: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in (members or {"readme.txt": b"hello"}).items():
            z.writestr(name, data)
    return buf.getvalue()


ACCEPTED: list[tuple[str, bytes, str]] = [
    ("report.pdf", MINIMAL_PDF, PDF),
    ("photo.png", png_1x1(), "image/png"),
    ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + b"\x00" * 64 + b"\xff\xd9", "image/jpeg"),
    ("anim.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif"),
    ("pic.webp", b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 24, "image/webp"),
    ("scan.tif", b"II*\x00\x08\x00\x00\x00" + b"\x00" * 32, "image/tiff"),
    ("scan.tiff", b"MM\x00*\x00\x00\x00\x08" + b"\x00" * 32, "image/tiff"),
    ("plan.docx", ooxml("word/document.xml"), DOCX),
    ("data.xlsx", ooxml("xl/workbook.xml"), XLSX),
    ("slides.pptx", ooxml("ppt/presentation.xml"), PPTX),
    ("plan.odt", odf(ODT), ODT),
    ("data.ods", odf(ODS), ODS),
    ("old.doc", ole2("WordDocument", "1Table"), DOC),
    ("old.xls", ole2("Workbook"), XLS),
    ("old.ppt", ole2("PowerPoint Document", "Current User"), PPT),
    ("figures.csv", b"force,recommendations,complete\nwest-midlands-police,12,7\n", CSV),
    ("FIGURES.CSV", b"\xef\xbb\xbfa,b\n1,2\n", CSV),
    ("notes.txt", "Progress: the café policy is in place.\r\n".encode(), TEXT),
    ("notes", b"no extension, still text\n", TEXT),
    ("legacy.txt", "Caf\u00e9 r\u00e9sum\u00e9 \u2013 cp1252 text\n".encode("cp1252"), TEXT),
    ("figures.txt", b"a,b\n1,2\n", TEXT),
    ("mention.txt", b"Use <b>bold</b> sparingly; 3 < 4 and 5 > 2.\n", TEXT),
]

REFUSED: list[tuple[str, bytes]] = [
    ("report.pdf", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 56 + b"PE\x00\x00" + MINIMAL_PDF),
    ("x.png", b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 120),
    ("macho.pdf", b"\xcf\xfa\xed\xfe" + b"\x00" * 64),
    ("notes.txt", b"#!/bin/sh\nrm -rf ~\n"),
    ("notes.txt", b"\xef\xbb\xbf#!/usr/bin/env python3\nprint('hi')\n"),
    ("page.txt", b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"),
    ("page.csv", b"  <html><body>hello</body></html>"),
    ("chart.txt", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>'),
    ("chart.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    ("notes.txt", b"Summary first, then\n<script src=//evil.example/x.js></script>\n"),
    ("nul.txt", b"looks like text\x00but has a NUL\n"),
    ("random.txt", random.Random(7).randbytes(4096).replace(b"\x00", b"\x01")),
    ("controls.txt", bytes(range(1, 32)) * 20),
    ("empty.txt", b""),
    ("archive.docx", ooxml("word/document.xml", {"word/vbaProject.bin": b"\xd0\xcf\x11\xe0"})),
    ("plain.docx", plain_zip()),
    ("nocontenttypes.docx", plain_zip({"word/document.xml": b"<document/>"})),
    ("template.odt", odf("application/vnd.oasis.opendocument.graphics")),
    ("installer.doc", ole2("\x05SummaryInformation", "!_StringData")),
    ("macro.doc", ole2("WordDocument", "Macros")),
    ("shifted.doc", ole2("WordDocument", misalign=True)),
]


def write(tmp_path: Path, data: bytes) -> Path:
    # A neutral on-disk name, like storage's temp file: only `filename` may decide csv vs txt.
    path = tmp_path / "upload.part"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("filename", "data", "expected"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_allowed_files_are_recognised(tmp_path: Path, filename: str, data: bytes, expected: str) -> None:
    assert expected in ALLOWED_MEDIA_TYPES
    assert sniff_media_type(data, filename) == expected
    assert sniff_file(write(tmp_path, data), filename) == expected


@pytest.mark.parametrize(("filename", "data"), REFUSED, ids=[r[0] for r in REFUSED])
def test_disguised_or_disallowed_files_are_refused(tmp_path: Path, filename: str, data: bytes) -> None:
    assert sniff_media_type(data, filename) is None
    assert sniff_file(write(tmp_path, data), filename) is None


def test_sniff_file_defaults_to_the_path_name(tmp_path: Path) -> None:
    path = tmp_path / "figures.csv"
    path.write_bytes(b"a,b\n1,2\n")
    assert sniff_file(path) == CSV
    assert sniff_file(os.fspath(path)) == CSV


def test_head_of_a_large_docx_is_recognised_from_its_local_headers(tmp_path: Path) -> None:
    data = ooxml("word/document.xml", pad=64 * 1024)
    head = data[: 8 * 1024]
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(head))
    assert sniff_media_type(head, "plan.docx") == DOCX
    assert sniff_file(write(tmp_path, data), "plan.docx") == DOCX


def test_head_of_an_odt_is_recognised_by_its_mimetype_member() -> None:
    # The first member is the stored `mimetype`, so ~80 bytes identify an ODF document.
    assert sniff_media_type(odf(ODT)[:100], "plan.odt") == ODT


def test_head_cut_mid_character_is_still_text() -> None:
    data = ("é" * 5000).encode()
    assert sniff_media_type(data[:8191], "notes.txt") == TEXT


def test_text_with_binary_beyond_the_head_is_refused_from_disk(tmp_path: Path) -> None:
    data = b"plain words\n" * 1000 + b"\x7fELF\x00\x00" + b"\x00" * 100
    assert sniff_media_type(data[:8192], "notes.txt") == TEXT
    assert sniff_file(write(tmp_path, data), "notes.txt") is None


def test_ole_directory_far_into_a_large_file_is_found(tmp_path: Path) -> None:
    data = ole2() + b"\x00" * (3 * 1024 * 1024) + ole2("WordDocument")[512:]
    assert sniff_file(write(tmp_path, data), "old.doc") == DOC


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("../../x", "x"),
        ("..\\..\\x", "x"),
        ("C:\\a\\b.pdf", "b.pdf"),
        ("C:b.pdf", "b.pdf"),
        ("/etc/passwd", "passwd"),
        ("report\x00.pdf", "report.pdf"),
        ("line\nbreak\r.txt", "linebreak.txt"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),
        ("  spaced name.pdf  ", "spaced name.pdf"),
        ("Cafe\u0301.pdf", "Caf\u00e9.pdf"),
        ("", "upload"),
        ("..", "upload"),
        ("dir/", "upload"),
        ("\x00\x01", "upload"),
        ("plan.docx", "plan.docx"),
    ],
)
def test_safe_display_name(given: str, shown: str) -> None:
    assert safe_display_name(given) == shown


def test_safe_display_name_is_limited_and_keeps_the_extension() -> None:
    long = "a" * 1000 + ".pdf"
    shown = safe_display_name(long)
    assert len(shown) == 255
    assert shown.endswith(".pdf")
    assert len(safe_display_name("b" * 300)) == 255
