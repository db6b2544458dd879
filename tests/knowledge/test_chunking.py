import pytest

from promptlib.knowledge.chunking import chunk_hash, chunks_preview, sections_split
from promptlib.knowledge.errors import KnowledgeError


def test_headings_start_sections_titled_by_their_path():
    text = "Intro line.\n\n# Refunds\n\nThirty days.\n\n## Late returns\n\nStore credit.\n\n# Shipping\n\nFree over 40."
    assert sections_split(text) == [
        ("", "Intro line."),
        ("Refunds", "Thirty days."),
        ("Refunds › Late returns", "Store credit."),
        ("Shipping", "Free over 40."),
    ]


def test_a_hash_inside_a_code_fence_is_not_a_heading():
    text = "# Setup\n\n```\n# not a heading\n```\n"
    assert [title for title, _ in sections_split(text)] == ["Setup"]


def test_short_paragraphs_of_a_section_share_one_chunk():
    chunks = chunks_preview(text="# Care\n\nGrind fresh.\n\nUse 60 g per litre.", chunk_size=200, chunk_overlap=20)
    assert [(c.ordinal, c.title, c.text) for c in chunks] == [(0, "Care", "Grind fresh.\n\nUse 60 g per litre.")]


def test_a_chunk_never_spans_two_sections():
    chunks = chunks_preview(text="# A\n\nalpha\n\n# B\n\nbeta", chunk_size=500, chunk_overlap=0)
    assert [(c.title, c.text) for c in chunks] == [("A", "alpha"), ("B", "beta")]


def test_paragraphs_are_packed_up_to_the_size_and_the_next_chunk_repeats_the_tail():
    paragraphs = [f"Paragraph {i} " + "word " * 20 for i in range(6)]  # ~115 chars each
    chunks = chunks_preview(text="\n\n".join(p.strip() for p in paragraphs), chunk_size=260, chunk_overlap=30)
    assert len(chunks) >= 3
    assert all(len(c.text) <= 260 for c in chunks)
    for before, after in zip(chunks, chunks[1:], strict=False):
        carried, marker, _rest = after.text.partition(" …\n\n")
        assert marker and 0 < len(carried) <= 30
        assert before.text.endswith(carried)
    body = " ".join(c.text for c in chunks)
    for i in range(6):
        assert f"Paragraph {i}" in body


def test_a_long_paragraph_is_cut_at_sentences_with_overlap():
    sentences = " ".join(f"Sentence number {i} says something about coffee." for i in range(40))
    chunks = chunks_preview(text=sentences, chunk_size=200, chunk_overlap=50)
    assert all(len(c.text) <= 200 for c in chunks)
    assert all(c.text.endswith(".") for c in chunks[:-1])
    # Each window starts with words the previous one ended with.
    for before, after in zip(chunks, chunks[1:], strict=False):
        first_words = " ".join(after.text.split()[:3])
        assert first_words in before.text
    assert "Sentence number 39" in chunks[-1].text


def test_no_overlap_means_no_repeated_text():
    sentences = " ".join(f"S{i} is short." for i in range(100))
    chunks = chunks_preview(text=sentences, chunk_size=120, chunk_overlap=0)
    assert " ".join(c.text for c in chunks).split() == sentences.split()


def test_a_word_longer_than_the_chunk_is_cut_hard():
    chunks = chunks_preview(text="x" * 250, chunk_size=100, chunk_overlap=0)
    assert [len(c.text) for c in chunks] == [100, 100, 50]


def test_the_content_hash_covers_title_and_text():
    a, b = chunks_preview(text="# A\n\nsame\n\n# B\n\nsame", chunk_size=100, chunk_overlap=0)
    assert a.content_hash != b.content_hash
    assert a.content_hash == chunk_hash("A", "same")


@pytest.mark.parametrize(
    ("size", "overlap", "field"),
    [(50, 0, "chunk_size"), (9000, 0, "chunk_size"), (800, 500, "chunk_overlap"), (800, -1, "chunk_overlap")],
)
def test_bad_settings_name_their_field(size, overlap, field):
    with pytest.raises(KnowledgeError) as caught:
        chunks_preview(text="x", chunk_size=size, chunk_overlap=overlap)
    assert caught.value.field == field
