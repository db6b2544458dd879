"""Cutting a document's text into passages: by headings, then paragraphs, within a size, with overlap.

Markdown headings (`#` … `######`, which HTML and CSV are turned into when read) start a new
section; a chunk never spans two sections, and its title is the heading path ("Refunds › Late
returns"). Within a section, whole paragraphs are packed into chunks of at most `chunk_size`
characters; a paragraph longer than that is cut at sentence or word ends into windows that repeat
the last `chunk_overlap` characters of the window before, and a chunk that continues its section
begins with the tail (up to `chunk_overlap` characters, whole words) of the chunk before.

    chunks_preview(text=..., chunk_size=800, chunk_overlap=100)   # nothing saved
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from promptlib.knowledge.errors import KnowledgeError

MIN_CHUNK_SIZE = 100
MAX_CHUNK_SIZE = 8000
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_TITLE_SEPARATOR = " › "


@dataclass(frozen=True)
class ChunkDraft:
    ordinal: int
    title: str
    text: str

    @property
    def content_hash(self) -> str:
        return chunk_hash(self.title, self.text)


def chunk_hash(title: str, text: str) -> str:
    return hashlib.sha256(f"{title}\n\n{text}".encode()).hexdigest()


def chunk_settings_check(chunk_size: int, chunk_overlap: int) -> None:
    if not isinstance(chunk_size, int) or not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise KnowledgeError(
            f"Chunk size must be from {MIN_CHUNK_SIZE} to {MAX_CHUNK_SIZE} characters.", field="chunk_size"
        )
    if not isinstance(chunk_overlap, int) or not 0 <= chunk_overlap <= chunk_size // 2:
        raise KnowledgeError(
            f"Overlap must be from 0 to half the chunk size ({chunk_size // 2} characters).", field="chunk_overlap"
        )


def sections_split(text: str) -> list[tuple[str, str]]:
    """(heading path, body) for each section of the text, in order; text before any heading has path ""."""
    sections: list[tuple[str, str]] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []

    def flush() -> None:
        content = "\n".join(body).strip()
        if content:
            sections.append((_TITLE_SEPARATOR.join(title for _, title in path), content))
        body.clear()

    in_fence = False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            path = [(lv, title) for lv, title in path if lv < level] + [(level, match.group(2).strip())]
        else:
            body.append(line)
    flush()
    return sections


def _cut_point(text: str, limit: int) -> int:
    """Where to end a window of at most `limit` characters: after a sentence, else a space, else hard."""
    if len(text) <= limit:
        return len(text)
    window = text[:limit]
    for marks in ((". ", "! ", "? ", ".\n", "\n"), (" ",)):
        best = max(window.rfind(mark) for mark in marks)
        if best >= limit // 2:
            return best + 1
    return limit


def _tail(text: str, overlap: int) -> str:
    """The last `overlap` characters of `text`, starting at a word."""
    if overlap <= 0 or not text:
        return ""
    if len(text) <= overlap:
        return text
    tail = text[-overlap:]
    space = tail.find(" ")
    return tail[space + 1 :] if 0 <= space < len(tail) - 1 else tail


def _windows(paragraph: str, size: int, overlap: int) -> list[str]:
    pieces: list[str] = []
    rest = paragraph
    while rest:
        end = _cut_point(rest, size)
        piece = rest[:end].strip()
        if piece:
            pieces.append(piece)
        if end >= len(rest):
            break
        carry = _tail(rest[:end].rstrip(), overlap)
        nxt = rest[end:].lstrip()
        # The carried words must leave room to move forward.
        rest = (carry + " " + nxt) if carry and len(carry) + 1 < size // 2 else nxt
    return pieces


def section_chunks(body: str, size: int, overlap: int) -> list[str]:
    paragraphs = [p.strip() for p in _PARAGRAPH_BREAK.split(body) if p.strip()]
    chunks: list[str] = []
    current = ""
    for paragraph in paragraphs:
        if len(paragraph) > size:
            if current:
                chunks.append(current)
                current = ""
            chunks.extend(_windows(paragraph, size, overlap))
            continue
        joined = f"{current}\n\n{paragraph}" if current else paragraph
        if len(joined) <= size:
            current = joined
            continue
        chunks.append(current)
        carry = _tail(current, overlap)
        current = f"{carry} …\n\n{paragraph}" if carry and len(carry) + len(paragraph) + 4 <= size else paragraph
    if current:
        chunks.append(current)
    return chunks


def chunks_preview(*, text: str, chunk_size: int = 800, chunk_overlap: int = 100) -> list[ChunkDraft]:
    """The chunks `text` would be cut into with these settings (nothing is saved)."""
    chunk_settings_check(chunk_size, chunk_overlap)
    drafts: list[ChunkDraft] = []
    for title, body in sections_split(text):
        for piece in section_chunks(body, chunk_size, chunk_overlap):
            drafts.append(ChunkDraft(ordinal=len(drafts), title=title[:300], text=piece))
    return drafts
