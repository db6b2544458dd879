"""Uploaded files → text for chunking: txt, md, html (tags stripped, headings kept), csv (a section
per row), pdf (pypdf). Every refusal is a KnowledgeError naming the field `file`:

- more than settings.PROMPTLIB_KNOWLEDGE_MAX_UPLOAD_BYTES (checked from the declared size before
  reading, and again while reading at most one byte past the cap);
- a zip archive (also .docx, .xlsx…: zips), refused outright, so no archive is ever inflated;
- a PDF pypdf cannot read, an encrypted one, one with no text layer, or more text than
  PROMPTLIB_KNOWLEDGE_MAX_TEXT_CHARS (a compressed "bomb" stops there);
- text that is not UTF-8 (with or without BOM), UTF-16 with a BOM, or Windows-1252; the last is read
  with a warning kept on the document.
"""

from __future__ import annotations

import csv
import io
import logging
import posixpath
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from django.conf import settings

from promptlib.knowledge.errors import KnowledgeError

logger = logging.getLogger(__name__)

KINDS = {".txt": "txt", ".text": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}
KINDS |= {".csv": "csv", ".pdf": "pdf"}
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
MAX_SOURCE_CHARS = 300
_SOURCE_PART = re.compile(r"^[\w][\w .()+,&'-]*$", re.UNICODE)


@dataclass
class ParsedDocument:
    kind: str
    title: str
    text: str
    warnings: list[str] = field(default_factory=list)


def max_upload_bytes() -> int:
    return int(getattr(settings, "PROMPTLIB_KNOWLEDGE_MAX_UPLOAD_BYTES", 20 * 1024 * 1024))


def max_text_chars() -> int:
    return int(getattr(settings, "PROMPTLIB_KNOWLEDGE_MAX_TEXT_CHARS", 5_000_000))


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.0f} MB"


def too_large(size: int, *, field: str = "file") -> KnowledgeError:
    return KnowledgeError(
        f"The file is {_mb(size)}; the largest accepted is {_mb(max_upload_bytes())}. Split it into smaller files.",
        field=field,
        code="too_large",
        status=413,
    )


def upload_read(upload, *, field: str = "file") -> bytes:
    """The bytes of a Django UploadedFile (or any file object with .size/.read), refusing an
    oversize one before reading it and never reading more than the cap plus one byte."""
    cap = max_upload_bytes()
    size = getattr(upload, "size", None)
    if size is not None and size > cap:
        raise too_large(size, field=field)
    data = upload.read(cap + 1)
    if len(data) > cap:
        raise too_large(len(data), field=field)
    return data


def source_clean(source: str, *, field: str = "source") -> str:
    """A document's path in its knowledge base: relative, `/`-separated, no `..`, each part a plain name."""
    source = (source or "").strip().replace("\\", "/")
    parts = [p for p in source.split("/") if p not in ("", ".")]
    if not parts:
        raise KnowledgeError("Give the document a file name, e.g. refunds.md.", field=field)
    if len(source) > MAX_SOURCE_CHARS or any(p == ".." or not _SOURCE_PART.match(p) for p in parts):
        raise KnowledgeError(
            "A file name may hold letters, digits, spaces and . - _ ( ) + , & ' (folders separated by /).",
            field=field,
        )
    return "/".join(parts)


def kind_of(source: str, *, field: str = "file") -> str:
    ext = posixpath.splitext(source.lower())[1]
    if ext == ".zip":
        raise KnowledgeError(
            "Zip archives are not accepted: upload the files inside it one by one.", field=field, code="zip_refused"
        )
    kind = KINDS.get(ext)
    if kind is None:
        raise KnowledgeError(
            f"{source}: upload a .txt, .md, .html, .csv or .pdf file.", field=field, code="unsupported_type"
        )
    return kind


def text_decode(data: bytes, *, field: str = "file") -> tuple[str, list[str]]:
    """Text from bytes: UTF-8 (BOM or not), UTF-16 with a BOM, else Windows-1252 with a warning."""
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "cp1252"]
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break  # UTF-16 without its BOM, or a binary file
        warnings = []
        if encoding == "cp1252":
            warnings.append("Read as Windows-1252 (it was not UTF-8): check accents and quotes in the chunks.")
            logger.warning("knowledge upload decoded as cp1252")
        return text, warnings
    raise KnowledgeError(
        "This file is not readable text: save it as UTF-8 (in most editors: Save as… → Encoding: UTF-8).",
        field=field,
        code="bad_encoding",
    )


class _HtmlText(HTMLParser):
    """Visible text of an HTML page: headings become `#` lines, blocks become paragraphs."""

    SKIP = {"script", "style", "noscript", "template", "svg", "head"}
    BLOCKS = {"p", "div", "section", "article", "ul", "ol", "table", "blockquote", "pre", "header", "footer", "main"}
    LINES = {"br", "li", "tr", "dt", "dd"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.title = ""
        self.in_title = False
        self.heading: int | None = None

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag == "title":
            self.in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self.heading = int(tag[1])
            self.parts.append("\n\n" + "#" * self.heading + " ")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")
        elif tag in self.LINES:
            self.parts.append("\n- " if tag == "li" else "\n")
        elif tag in ("td", "th"):
            self.parts.append(" | ")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skipping = max(self.skipping - 1, 0)
        elif tag == "title":
            self.in_title = False
        elif re.fullmatch(r"h[1-6]", tag):
            self.heading = None
            self.parts.append("\n\n")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if self.in_title:
            self.title += data
        elif not self.skipping:
            # Inside a heading the text stays on one line.
            self.parts.append(" ".join(data.split()) if self.heading else re.sub(r"[ \t\r\f\v]+", " ", data))


def html_text(html: str) -> tuple[str, str]:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return " ".join(parser.title.split()), text


def csv_text(text: str, *, field: str = "file") -> str:
    """One section per row: the first column as its heading, then "column: value" lines."""
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise KnowledgeError(f"This CSV file could not be read: {exc}.", field=field, code="bad_csv")
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise KnowledgeError("A CSV file needs a header row and at least one row of data.", field=field, code="bad_csv")
    header = [h.strip() or f"column {i + 1}" for i, h in enumerate(rows[0])]
    sections = []
    for number, row in enumerate(rows[1:], start=2):
        heading = " ".join((row[0] if row else "").split()) or f"Row {number}"
        pairs = zip(header, row, strict=False)
        lines = [f"{name}: {' '.join(value.split())}" for name, value in pairs if value.strip()]
        sections.append(f"## {heading}\n\n" + "\n".join(lines))
    return "\n\n".join(sections)


def pdf_text(data: bytes, *, field: str = "file") -> tuple[str, str]:
    from pypdf import PdfReader  # loaded when a PDF comes

    unreadable = KnowledgeError(
        "This PDF could not be read (it may be damaged or not a PDF). Open it and save it again as PDF, "
        "or upload its text.",
        field=field,
        code="unreadable_pdf",
    )
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise KnowledgeError(
                "This PDF is password-protected: save a copy without the password.", field=field, code="encrypted_pdf"
            )
        cap = max_text_chars()
        pages: list[str] = []
        total = 0
        for page in reader.pages:
            text = page.extract_text() or ""
            total += len(text)
            if total > cap:
                raise KnowledgeError(
                    f"This PDF holds more than {cap:,} characters of text: split it into smaller files.",
                    field=field,
                    code="too_large",
                )
            pages.append(text.strip())
        title = ""
        if reader.metadata is not None and reader.metadata.title:
            title = str(reader.metadata.title)
    except KnowledgeError:
        raise
    except Exception:  # pypdf raises many kinds on a damaged file
        logger.info("unreadable PDF upload", exc_info=True)
        raise unreadable
    text = "\n\n".join(p for p in pages if p)
    if not text.strip():
        raise KnowledgeError(
            "This PDF has no text to read (a scan of images?): upload a PDF with selectable text, or its text.",
            field=field,
            code="no_text",
        )
    return title, text


def _first_heading(text: str) -> str:
    match = re.search(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)
    return match.group(1).strip() if match else ""


def document_parse(*, source: str, data: bytes, field: str = "file") -> ParsedDocument:
    """The text of an uploaded file, by its extension (see the module's notes for what is refused)."""
    if len(data) > max_upload_bytes():
        raise too_large(len(data), field=field)
    if data.startswith(ZIP_MAGIC):
        raise KnowledgeError(
            "Zip archives (and Word or Excel files, which are zips) are not accepted: upload .txt, .md, .html, "
            ".csv or .pdf files.",
            field=field,
            code="zip_refused",
        )
    kind = kind_of(source, field=field)
    stem = posixpath.splitext(posixpath.basename(source))[0]
    warnings: list[str] = []
    if kind == "pdf":
        title, text = pdf_text(data, field=field)
    else:
        raw, warnings = text_decode(data, field=field)
        if kind == "html":
            title, text = html_text(raw)
        elif kind == "csv":
            title, text = "", csv_text(raw, field=field)
        else:
            title, text = (_first_heading(raw) if kind == "md" else ""), raw.replace("\r\n", "\n")
    if len(text) > max_text_chars():
        raise KnowledgeError(
            f"This file holds more than {max_text_chars():,} characters of text: split it.",
            field=field,
            code="too_large",
        )
    text = text.replace("\x00", "")
    if not text.strip():
        raise KnowledgeError("This file has no text in it.", field=field, code="empty")
    title = (title or stem.replace("-", " ").replace("_", " "))[:300]
    return ParsedDocument(kind=kind, title=title, text=text, warnings=warnings)
