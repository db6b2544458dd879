"""The knowledge base admin: a marketer adds a base, uploads, previews, searches, publishes and compares,
with no JSON to type; other projects see nothing; bad files get clear errors on the form."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from promptlib.knowledge.models import Document, KnowledgeBase, Snapshot
from promptlib.knowledge.services import document_upload, knowledge_publish
from tests.knowledge.conftest import POLICIES
from tests.knowledge.support import zip_bomb

pytestmark = pytest.mark.django_db
BASE = "/admin/promptlib/knowledgebase"


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


def test_a_publisher_builds_a_knowledge_base_from_the_admin(as_alice, acme):
    r = as_alice.post(f"{BASE}/add/", {"project": acme.pk, "name": "coffee-shop", "description": "Policies",
                                       "chunk_size": 800, "chunk_overlap": 100, "embedding_model": ""})  # fmt: skip
    assert r.status_code == 302, r.content.decode()[:2000]
    kb = KnowledgeBase.objects.get(name="coffee-shop")
    files = [SimpleUploadedFile("refunds.md", POLICIES), SimpleUploadedFile("voice.txt", b"Warm, never pushy.")]
    r = as_alice.post(f"{BASE}/{kb.pk}/upload/", {"files": files, "folder": "policies", "tags": "policy, eu"})
    assert r.status_code == 302
    assert sorted(Document.objects.values_list("source", flat=True)) == ["policies/refunds.md", "policies/voice.txt"]
    assert Document.objects.get(source="policies/voice.txt").tags == ["policy", "eu"]
    page = as_alice.get(f"{BASE}/{kb.pk}/change/").content.decode()
    assert "policies/refunds.md" in page and "Publish a snapshot" in page and "Not published yet" in page
    r = as_alice.post(f"{BASE}/{kb.pk}/publish/", {"note": "launch"}, follow=True)
    assert "Published snapshot #1" in r.content.decode()
    assert Snapshot.objects.get().note == "launch"


def test_the_search_box_shows_passages_with_scores(as_alice, shop_kb):
    knowledge_publish(knowledge_base=shop_kb)
    r = as_alice.get(f"{BASE}/{shop_kb.pk}/search/", {"query": "refund for an opened bag", "mode": "keyword",
                                                      "top_k": 2})  # fmt: skip
    html = r.content.decode()
    assert r.status_code == 200
    assert "from snapshot #1" in html and "score " in html and "store credit" in html
    assert html.index("Refunds") < html.index("store credit")


def test_a_search_before_publishing_says_so_on_the_form(as_alice, shop_kb):
    html = as_alice.get(f"{BASE}/{shop_kb.pk}/search/", {"query": "refund", "mode": "keyword", "top_k": 4}).content
    assert "publish it first" in html.decode()


def test_the_preview_cuts_pasted_text_without_saving(as_alice, shop_kb):
    before = (Document.objects.count(), shop_kb.chunks.count())
    r = as_alice.post(f"{BASE}/{shop_kb.pk}/preview/", {"text": "# A\n\nalpha\n\n# B\n\nbeta", "chunk_size": 200,
                                                        "chunk_overlap": 0})  # fmt: skip
    html = r.content.decode()
    assert "2 passages" in html and "alpha" in html and "beta" in html
    assert (Document.objects.count(), shop_kb.chunks.count()) == before
    r = as_alice.post(f"{BASE}/{shop_kb.pk}/preview/", {"text": "x", "chunk_size": 200, "chunk_overlap": 150})
    assert "half the chunk size" in r.content.decode()


def test_a_documents_page_lists_its_passages(as_alice, shop_kb):
    doc = Document.objects.get(source="policies.md")
    html = as_alice.get(f"{BASE}/{shop_kb.pk}/documents/{doc.pk}/").content.decode()
    assert "Its passages (2)" in html and "Shipping" in html


def test_removing_a_document_asks_first_then_keeps_it_in_snapshots(as_alice, shop_kb):
    snapshot = knowledge_publish(knowledge_base=shop_kb)
    doc = Document.objects.get(source="policies.md")
    assert "Remove it" in as_alice.get(f"{BASE}/{shop_kb.pk}/documents/{doc.pk}/remove/").content.decode()
    assert Document.objects.get(pk=doc.pk).is_current
    as_alice.post(f"{BASE}/{shop_kb.pk}/documents/{doc.pk}/remove/")
    assert not Document.objects.get(pk=doc.pk).is_current
    assert snapshot.chunks.filter(document=doc).count() == 2


def test_compare_shows_what_changed(as_alice, shop_kb):
    knowledge_publish(knowledge_base=shop_kb)
    document_upload(knowledge_base=shop_kb, source="policies.md", data=POLICIES.replace(b"30 days", b"14 days"),
                    tags=["policy"])  # fmt: skip
    document_upload(knowledge_base=shop_kb, source="loyalty.md", data=b"# Loyalty\n\nTenth espresso free.")
    knowledge_publish(knowledge_base=shop_kb)
    html = as_alice.get(f"{BASE}/{shop_kb.pk}/compare/", {"old": 1, "new": 2}).content.decode()
    assert "1 added, 0 removed, 1 changed, 4 unchanged" in html
    assert "Tenth espresso free." in html and "14 days" in html and "30 days" in html


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("bomb.zip", zip_bomb(5 * 1024 * 1024), "Zip archives (and Word or Excel files"),
        ("broken.pdf", b"%PDF-1.4 nope", "This PDF could not be read"),
        ("menu.txt", "Café".encode("utf-16-le"), "save it as UTF-8"),
    ],
)
def test_a_bad_file_is_named_on_the_form_and_nothing_is_saved(as_alice, shop_kb, name, data, message):
    before = Document.objects.count()
    r = as_alice.post(f"{BASE}/{shop_kb.pk}/upload/", {"files": [SimpleUploadedFile(name, data)]})
    assert r.status_code == 200
    html = r.content.decode()
    assert f"{name}: " in html and message in html and "errorlist" in html
    assert Document.objects.count() == before


def test_a_bad_name_or_setting_is_shown_on_its_field(as_alice, acme):
    r = as_alice.post(f"{BASE}/add/", {"project": acme.pk, "name": "Coffee Shop", "chunk_size": 800,
                                       "chunk_overlap": 700})  # fmt: skip
    html = r.content.decode()
    assert r.status_code == 200 and not KnowledgeBase.objects.exists()
    assert "half the chunk size" in html


def test_another_projects_member_sees_nothing(client, gina, shop_kb):
    knowledge_publish(knowledge_base=shop_kb)
    client.force_login(gina)
    assert "coffee-shop" not in client.get(f"{BASE}/").content.decode()
    doc = Document.objects.get(source="policies.md")
    for method, suffix in [
        ("get", "change/"), ("get", "upload/"), ("post", "upload/"), ("get", "search/?query=refund"),
        ("get", "preview/"), ("get", "compare/"), ("post", "publish/"), ("post", "embed/"),
        ("get", f"documents/{doc.pk}/"), ("post", f"documents/{doc.pk}/remove/"),
    ]:  # fmt: skip
        r = getattr(client, method)(f"{BASE}/{shop_kb.pk}/{suffix}")
        assert r.status_code in (302, 404), (method, suffix, r.status_code)
        if r.status_code == 302:  # the change page of a missing object redirects to the list
            assert r["Location"].endswith("/admin/")
    assert Document.objects.get(pk=doc.pk).is_current and Snapshot.objects.count() == 1


def test_a_viewer_reads_but_cannot_upload_or_publish(client, victor, shop_kb):
    client.force_login(victor)
    assert client.get(f"{BASE}/{shop_kb.pk}/change/").status_code == 200
    assert client.post(f"{BASE}/{shop_kb.pk}/upload/").status_code == 403
    assert client.post(f"{BASE}/{shop_kb.pk}/publish/").status_code == 403
    assert not Snapshot.objects.exists()


def test_an_editor_uploads_but_does_not_publish(client, bob, shop_kb):
    client.force_login(bob)
    assert client.post(f"{BASE}/{shop_kb.pk}/publish/").status_code == 403
    r = client.post(f"{BASE}/{shop_kb.pk}/upload/", {"files": [SimpleUploadedFile("new.md", b"# New\n\nhello")]})
    assert r.status_code == 302 and Document.objects.filter(source="new.md").exists()
