"""Files for the knowledge tests, made here rather than stored: a PDF with a text layer, a zip bomb."""

import io
import zipfile


def pdf_with_text(*pages: str, title: str = "") -> bytes:
    """A small valid PDF, one page per string, its text drawn with Helvetica (extractable)."""
    objects: list[bytes] = []
    page_ids = []
    font_id = 3
    next_id = 4
    contents = []
    for text in pages:
        lines = []
        for i, line in enumerate(text.split("\n")):
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            lines.append(f"BT /F1 12 Tf 72 {720 - 16 * i} Td ({escaped}) Tj ET")
        stream = "\n".join(lines).encode("latin-1")
        contents.append((next_id, next_id + 1, stream))
        page_ids.append(next_id)
        next_id += 2
    info_id = next_id
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(page_ids)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for page_id, content_id, stream in contents:
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 {font_id} 0 R >> >> "
            f"/Contents {content_id} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
        assert page_id  # ids follow the order objects are appended
    objects.append(f"<< /Title ({title}) >>".encode())
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info_id} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def zip_bomb(inflated_bytes: int = 50 * 1024 * 1024) -> bytes:
    """A zip of a few KB that inflates to `inflated_bytes` of zeros."""
    out = io.BytesIO()
    block = b"\0" * (1024 * 1024)
    with (
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("policies.txt", "w") as member,
    ):
        for _ in range(inflated_bytes // len(block)):
            member.write(block)
    return out.getvalue()


class HugeUpload:
    """An uploaded file that says it is `size` bytes and fails the test if anything reads it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.name = "catalogue.pdf"

    def read(self, *args):
        raise AssertionError("an oversize upload was read")
