"""Reading uploads: each kind's text, and clear refusals for bad input."""

import pytest

from promptlib.knowledge.errors import KnowledgeError
from promptlib.knowledge.parsing import document_parse, source_clean, upload_read
from tests.knowledge.support import HugeUpload, pdf_with_text, zip_bomb


def _refusal(**kwargs) -> KnowledgeError:
    with pytest.raises(KnowledgeError) as caught:
        document_parse(**kwargs)
    return caught.value


def test_markdown_keeps_its_text_and_takes_its_first_heading_as_title():
    parsed = document_parse(source="faq/refunds.md", data=b"Intro\n\n# Refund policy\n\n30 days.")
    assert (parsed.kind, parsed.title, parsed.text) == ("md", "Refund policy", "Intro\n\n# Refund policy\n\n30 days.")


def test_plain_text_is_titled_by_its_file_name():
    parsed = document_parse(source="brand_voice-guide.txt", data=b"Warm, never pushy.")
    assert (parsed.kind, parsed.title) == ("txt", "brand voice guide")


def test_html_loses_its_tags_scripts_and_styles_but_keeps_headings():
    html = b"""<html><head><title>Shipping | Bean Co</title><style>h1{color:red}</style></head>
    <body><script>alert('x')</script><h1>Shipping</h1><p>Free over <b>40&nbsp;EUR</b>.</p>
    <h2>Abroad</h2><ul><li>EU: 9 EUR</li><li>UK: 12 EUR</li></ul></body></html>"""
    parsed = document_parse(source="shipping.html", data=html)
    assert parsed.title == "Shipping | Bean Co"
    assert "alert" not in parsed.text and "color" not in parsed.text and "<" not in parsed.text
    assert "# Shipping" in parsed.text and "## Abroad" in parsed.text
    assert "Free over 40\xa0EUR." in parsed.text
    assert "- EU: 9 EUR" in parsed.text


def test_csv_makes_one_section_per_row_with_column_names():
    data = b"name;price\nMorning Blend;12.50 EUR\nDecaf;13.00 EUR\n"
    parsed = document_parse(source="catalogue.csv", data=data)
    assert (
        parsed.text
        == "## Morning Blend\n\nname: Morning Blend\nprice: 12.50 EUR\n\n## Decaf\n\nname: Decaf\nprice: 13.00 EUR"
    )


def test_pdf_text_is_read_page_by_page():
    parsed = document_parse(source="guide.pdf", data=pdf_with_text("Brand voice", "Never use slang.", title="Voice"))
    assert parsed.kind == "pdf"
    assert parsed.title == "Voice"
    assert "Brand voice" in parsed.text and "Never use slang." in parsed.text


def test_an_unreadable_pdf_is_refused_clearly():
    error = _refusal(source="guide.pdf", data=b"%PDF-1.4\n\x00garbage that is not a pdf at all")
    assert (error.field, error.code) == ("file", "unreadable_pdf")
    assert "could not be read" in error.message


def test_a_pdf_without_text_is_refused():
    error = _refusal(source="scan.pdf", data=pdf_with_text(""))
    assert error.code == "no_text"


def test_a_pdf_with_more_text_than_allowed_stops_reading(settings):
    settings.PROMPTLIB_KNOWLEDGE_MAX_TEXT_CHARS = 100
    error = _refusal(source="big.pdf", data=pdf_with_text("x" * 80, "y" * 80))
    assert (error.field, error.code) == ("file", "too_large")


def test_a_zip_bomb_is_refused_without_inflating_it():
    bomb = zip_bomb()
    assert len(bomb) < 200_000
    for name in ("policies.zip", "policies.txt", "policies.md"):
        error = _refusal(source=name, data=bomb)
        assert (error.field, error.code) == ("file", "zip_refused")


def test_an_oversize_upload_is_refused_before_it_is_read():
    with pytest.raises(KnowledgeError) as caught:
        upload_read(HugeUpload(200 * 1024 * 1024))
    assert (caught.value.field, caught.value.code, caught.value.status) == ("file", "too_large", 413)
    assert "200 MB" in caught.value.message and "20 MB" in caught.value.message


def test_an_upload_larger_than_it_said_stops_at_the_cap(settings):
    settings.PROMPTLIB_KNOWLEDGE_MAX_UPLOAD_BYTES = 10
    import io

    stream = io.BytesIO(b"x" * 1000)
    with pytest.raises(KnowledgeError) as caught:
        upload_read(stream)
    assert caught.value.code == "too_large"
    assert stream.tell() == 11  # read the cap plus one byte, no more


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("Café crème — 3 €".encode(), "Café crème — 3 €"),
        ("\ufeffCafé crème".encode(), "Café crème"),
        ("Café crème".encode("utf-16"), "Café crème"),
        ("Café crème".encode("utf-16-be").join([b"\xfe\xff", b""]), "Café crème"),
    ],
)
def test_utf8_and_utf16_with_a_bom_are_read(data, expected):
    parsed = document_parse(source="menu.txt", data=data)
    assert parsed.text == expected and parsed.warnings == []


def test_windows_1252_is_read_with_a_warning():
    parsed = document_parse(source="menu.txt", data="Café “crème” – 3 €".encode("cp1252"))
    assert parsed.text == "Café “crème” – 3 €"
    assert parsed.warnings and "Windows-1252" in parsed.warnings[0]


def test_utf16_without_a_bom_is_refused_with_advice():
    error = _refusal(source="menu.txt", data="Café".encode("utf-16-le"))
    assert (error.field, error.code) == ("file", "bad_encoding")
    assert "UTF-8" in error.message


def test_bytes_no_encoding_can_read_are_refused():
    error = _refusal(source="menu.txt", data=b"\x81\x8d\x8f\x90\x9d")
    assert error.code == "bad_encoding"


@pytest.mark.parametrize("name", ["report.docx", "notes", "image.png"])
def test_unsupported_kinds_are_refused(name):
    assert _refusal(source=name, data=b"hello").code == "unsupported_type"


def test_an_empty_file_is_refused():
    assert _refusal(source="empty.md", data=b"  \n\n ").code == "empty"


@pytest.mark.parametrize("bad", ["", "../etc/passwd", "a/../../b.md", "x/<script>.md", "/", "a" * 301])
def test_bad_source_names_are_refused(bad):
    with pytest.raises(KnowledgeError) as caught:
        source_clean(bad)
    assert caught.value.field == "source"


def test_source_names_are_normalised():
    assert source_clean(" faq\\refunds.md ") == "faq/refunds.md"
    assert source_clean("./faq//Refund policy (EU).md") == "faq/Refund policy (EU).md"
