"""Knowledge bases and documents: creation rules, versions by content hash, and all-or-nothing uploads."""

import pytest

from promptlib.knowledge.errors import KnowledgeError
from promptlib.knowledge.models import Chunk, Document, KnowledgeBase
from promptlib.knowledge.services import (
    document_remove,
    document_text_upload,
    document_upload,
    knowledge_base_create,
    knowledge_base_update,
)
from tests.knowledge.conftest import POLICIES
from tests.knowledge.support import pdf_with_text, zip_bomb


def test_names_are_unique_per_project_only(acme, globex):
    knowledge_base_create(project=acme, name="policies")
    knowledge_base_create(project=globex, name="policies")
    with pytest.raises(KnowledgeError) as caught:
        knowledge_base_create(project=acme, name="policies")
    assert (caught.value.field, caught.value.status) == ("name", 409)


@pytest.mark.parametrize("bad", ["", "Shop Policies", "-x", "a" * 81, "politique/é"])
def test_a_bad_name_is_refused(acme, bad):
    with pytest.raises(KnowledgeError) as caught:
        knowledge_base_create(project=acme, name=bad)
    assert caught.value.field == "name"


def test_another_projects_provider_cannot_embed(acme, globex):
    from promptlib.providers.models import ProviderConfig

    theirs = ProviderConfig.objects.create(project=globex, name="demo", kind="demo")
    with pytest.raises(KnowledgeError) as caught:
        knowledge_base_create(project=acme, name="kb", embedding_provider=theirs, embedding_model="x")
    assert caught.value.field == "embedding_provider"


def test_an_upload_makes_chunks_carrying_the_documents_tags(shop_kb):
    doc = Document.objects.get(knowledge_base=shop_kb, source="policies.md")
    assert (doc.version, doc.is_current, doc.kind, doc.title) == (1, True, "md", "Refunds")
    assert bytes(doc.original) == POLICIES
    assert [(c.ordinal, c.title, c.tags, c.tags_text) for c in doc.chunks.all()] == [
        (0, "Refunds", ["policy"], " policy "),
        (1, "Shipping", ["policy"], " policy "),
    ]


def test_the_same_upload_again_changes_nothing(shop_kb):
    before = set(Chunk.objects.values_list("id", flat=True))
    result = document_upload(knowledge_base=shop_kb, source="policies.md", data=POLICIES, tags=["policy"])
    assert result.created is False and result.document.version == 1
    assert set(Chunk.objects.values_list("id", flat=True)) == before


def test_changed_bytes_make_a_new_version_and_keep_the_old(shop_kb):
    result = document_upload(knowledge_base=shop_kb, source="policies.md", data=POLICIES + b"\n# Gifts\n\nWrapped.")
    assert result.created and result.document.version == 2
    versions = Document.objects.filter(knowledge_base=shop_kb, source="policies.md").order_by("version")
    assert [(d.version, d.is_current) for d in versions] == [(1, False), (2, True)]
    assert versions[0].chunks.count() == 2 and versions[1].chunks.count() == 3


def test_new_tags_alone_make_a_new_version(shop_kb):
    result = document_upload(knowledge_base=shop_kb, source="policies.md", data=POLICIES, tags=["policy", "eu"])
    assert result.created and result.document.version == 2
    assert set(result.document.chunks.values_list("tags_text", flat=True)) == {" policy eu "}


@pytest.mark.parametrize(
    ("source", "data", "code"),
    [
        ("policies.md", "Café".encode("utf-16-le"), "bad_encoding"),
        ("policies.pdf", b"%PDF-1.4 broken", "unreadable_pdf"),
        ("policies.zip", zip_bomb(5 * 1024 * 1024), "zip_refused"),
        ("policies.md", b"", "empty"),
    ],
)
def test_a_refused_upload_leaves_everything_as_it_was(shop_kb, source, data, code):
    before = (list(Document.objects.values_list("id", "is_current")), Chunk.objects.count())
    with pytest.raises(KnowledgeError) as caught:
        document_upload(knowledge_base=shop_kb, source=source, data=data)
    assert caught.value.code == code and caught.value.field == "file"
    assert (list(Document.objects.values_list("id", "is_current")), Chunk.objects.count()) == before


def test_an_oversize_upload_is_refused_whole(shop_kb, settings):
    settings.PROMPTLIB_KNOWLEDGE_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(KnowledgeError) as caught:
        document_upload(knowledge_base=shop_kb, source="big.md", data=b"x" * 1001)
    assert (caught.value.code, caught.value.status) == ("too_large", 413)
    assert not Document.objects.filter(source="big.md").exists()


def test_a_pdf_upload_is_chunked(shop_kb):
    result = document_upload(knowledge_base=shop_kb, source="voice.pdf", data=pdf_with_text("Always say hello."))
    assert result.created and result.chunk_count == 1
    assert "Always say hello." in result.document.chunks.get().text


def test_text_uploads_are_stored_as_utf8(shop_kb):
    result = document_text_upload(knowledge_base=shop_kb, source="voice.md", text="# Voice\n\nWarm — never pushy.")
    assert bytes(result.document.original) == "# Voice\n\nWarm — never pushy.".encode()
    with pytest.raises(KnowledgeError) as caught:
        document_text_upload(knowledge_base=shop_kb, source="voice.md", text=42)
    assert caught.value.field == "text"


def test_bad_tags_are_refused(shop_kb):
    with pytest.raises(KnowledgeError) as caught:
        document_upload(knowledge_base=shop_kb, source="a.md", data=b"x", tags=["two words"])
    assert caught.value.field == "tags"


def test_a_removed_document_keeps_its_versions(shop_kb):
    doc = Document.objects.get(knowledge_base=shop_kb, source="policies.md")
    document_remove(document=doc)
    doc.refresh_from_db()
    assert doc.is_current is False and doc.chunks.count() == 2
    again = document_upload(knowledge_base=shop_kb, source="policies.md", data=POLICIES, tags=["policy"])
    assert again.created and again.document.version == 2


def test_chunk_settings_apply_to_later_uploads(shop_kb):
    knowledge_base_update(knowledge_base=shop_kb, chunk_size=100, chunk_overlap=0)
    result = document_upload(knowledge_base=shop_kb, source="long.md", data=b"# L\n\n" + b"word " * 100)
    assert result.chunk_count >= 5
    with pytest.raises(KnowledgeError) as caught:
        knowledge_base_update(knowledge_base=shop_kb, chunk_overlap=90)
    assert caught.value.field == "chunk_overlap"
    assert KnowledgeBase.objects.get(pk=shop_kb.pk).chunk_overlap == 0
