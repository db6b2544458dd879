"""The knowledge endpoints: a script creates a base, uploads, publishes and searches; other projects'
keys see nothing; bad input is a 4xx naming the field, never a 500."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from promptlib.core.apikeys import api_key_create
from promptlib.knowledge.models import Document
from tests.knowledge.conftest import CATALOGUE, POLICIES
from tests.knowledge.support import pdf_with_text, zip_bomb

pytestmark = pytest.mark.django_db
API = "/api/v1/knowledge-bases"


@pytest.fixture
def writer(api_client, acme):
    return api_client(api_key_create(project=acme, scopes="read,write", name="script")[1])


@pytest.fixture
def reader(api_client, acme):
    return api_client(api_key_create(project=acme, scopes="read", name="app")[1])


@pytest.fixture
def outsider(api_client, globex):
    return api_client(api_key_create(project=globex, scopes="read,write", name="theirs")[1])


def _fields(response) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def test_a_script_builds_publishes_and_searches_a_knowledge_base(writer, reader):
    r = writer.post(API, {"name": "coffee-shop", "description": "Policies"}, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["latest_snapshot"] is None
    r = writer.post(
        f"{API}/coffee-shop/documents",
        {"file": SimpleUploadedFile("policies.md", POLICIES), "tags": "policy, eu"},
        format="multipart",
    )
    assert r.status_code == 201, r.json()
    assert (r.json()["source"], r.json()["version"], r.json()["chunks"], r.json()["tags"]) == (
        "policies.md", 1, 2, ["policy", "eu"]
    )  # fmt: skip
    r = writer.post(f"{API}/coffee-shop/documents", {"source": "catalogue.csv", "text": CATALOGUE.decode()}, "json")
    assert r.status_code == 201 and r.json()["chunks"] == 3
    r = writer.post(f"{API}/coffee-shop/documents", {"source": "catalogue.csv", "text": CATALOGUE.decode()}, "json")
    assert r.status_code == 200 and r.json()["created"] is False
    r = writer.post(f"{API}/coffee-shop/snapshots", {"note": "first"}, format="json")
    assert r.status_code == 201 and r.json()["number"] == 1 and r.json()["labels"] == ["latest"]
    r = writer.post(f"{API}/coffee-shop/snapshots", {}, format="json")
    assert r.status_code == 200 and r.json()["number"] == 1  # nothing changed: the same snapshot
    r = reader.post(f"{API}/coffee-shop/search", {"query": "Can I return an opened bag?", "top_k": 2}, "json")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["snapshot"] == 1
    assert body["results"][0]["title"] == "Refunds" and body["results"][0]["source"] == "policies.md"
    assert set(body["results"][0]) == {"id", "title", "source", "text", "score", "document_id", "tags"}
    r = reader.get(f"{API}/coffee-shop")
    assert r.json()["documents"] == 2 and r.json()["labels"] == {"latest": 1}
    assert [d["source"] for d in reader.get(f"{API}/coffee-shop/documents").json()["results"]] == [
        "catalogue.csv", "policies.md"
    ]  # fmt: skip
    assert [s["number"] for s in reader.get(f"{API}/coffee-shop/snapshots").json()["results"]] == [1]


def test_a_pdf_is_uploaded_as_a_file(writer):
    writer.post(API, {"name": "docs"}, format="json")
    upload = SimpleUploadedFile("voice.pdf", pdf_with_text("Always warm, never pushy."), "application/pdf")
    r = writer.post(f"{API}/docs/documents", {"file": upload, "title": "Voice"}, format="multipart")
    assert r.status_code == 201, r.json()
    assert (r.json()["kind"], r.json()["title"]) == ("pdf", "Voice")


def test_another_projects_key_gets_404_everywhere(writer, outsider):
    writer.post(API, {"name": "coffee-shop"}, format="json")
    writer.post(f"{API}/coffee-shop/documents", {"source": "a.md", "text": "# A\n\nsecret"}, format="json")
    writer.post(f"{API}/coffee-shop/snapshots", {}, format="json")
    assert outsider.get(API).json()["results"] == []
    for method, path, body in [
        ("get", "", None),
        ("patch", "", {"description": "mine"}),
        ("get", "/documents", None),
        ("post", "/documents", {"source": "b.md", "text": "x"}),
        ("get", "/snapshots", None),
        ("post", "/snapshots", {}),
        ("post", "/search", {"query": "secret"}),
    ]:
        r = getattr(outsider, method)(f"{API}/coffee-shop{path}", body, format="json")
        assert r.status_code == 404, (method, path, r.status_code)
    assert not Document.objects.filter(source="b.md").exists()


def test_a_read_key_cannot_write(reader):
    r = reader.post(API, {"name": "coffee-shop"}, format="json")
    assert r.status_code == 403


def test_bad_input_names_the_field(writer):
    r = writer.post(API, {"name": "Coffee Shop"}, format="json")
    assert r.status_code == 400 and _fields(r) == ["name"]
    r = writer.post(API, {"name": "kb", "chunk_size": 10}, format="json")
    assert r.status_code == 400 and _fields(r) == ["chunk_size"]
    r = writer.post(API, {"name": "kb", "embedding_provider": "nope", "embedding_model": "x"}, format="json")
    assert r.status_code == 400 and _fields(r) == ["embedding_provider"]
    assert writer.post(API, {"name": "kb"}, format="json").status_code == 201
    r = writer.post(API, {"name": "kb"}, format="json")
    assert r.status_code == 409 and _fields(r) == ["name"]
    r = writer.post(f"{API}/kb/snapshots", {}, format="json")
    assert r.status_code == 409 and _fields(r) == ["documents"]
    r = writer.post(f"{API}/kb/search", {"query": "x"}, format="json")
    assert r.status_code == 400 and _fields(r) == ["label"]
    r = writer.post(f"{API}/kb/documents", {"source": "../x.md", "text": "x"}, format="json")
    assert r.status_code == 400 and _fields(r) == ["source"]
    r = writer.post(f"{API}/kb/documents", {"text": "x"}, format="json")
    assert r.status_code == 400 and _fields(r) == ["source"]
    r = writer.post(f"{API}/kb/documents", {"source": "x.md"}, format="multipart")
    assert r.status_code == 400 and _fields(r) == ["file"]


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("broken.pdf", b"%PDF-1.7 not really", "unreadable_pdf"),
        ("bomb.zip", zip_bomb(5 * 1024 * 1024), "zip_refused"),
        ("odd.txt", "Café".encode("utf-16-le"), "bad_encoding"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_written(writer, name, data, code):
    writer.post(API, {"name": "kb"}, format="json")
    r = writer.post(f"{API}/kb/documents", {"file": SimpleUploadedFile(name, data)}, format="multipart")
    assert r.status_code == 400, r.json()
    assert r.json()["errors"][0]["field"] == "file" and r.json()["errors"][0]["code"] == code
    assert not Document.objects.exists()


def test_a_200_mb_upload_is_refused_from_its_length_alone(writer, client):
    writer.post(API, {"name": "kb"}, format="json")
    # The declared length is enough: the body (a few bytes here) is never read.
    r = writer.generic(
        "POST", f"{API}/kb/documents", b"--x\r\n", content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(200 * 1024 * 1024),
    )  # fmt: skip
    assert r.status_code == 413
    assert r.json()["errors"][0]["field"] == "file" and "200 MB" in r.json()["errors"][0]["message"]


def test_a_file_over_the_cap_but_under_the_body_limit_is_refused(writer, settings):
    settings.PROMPTLIB_KNOWLEDGE_MAX_UPLOAD_BYTES = 1000
    writer.post(API, {"name": "kb"}, format="json")
    r = writer.post(f"{API}/kb/documents", {"file": SimpleUploadedFile("a.md", b"x" * 5000)}, format="multipart")
    assert r.status_code == 413 and r.json()["errors"][0]["code"] == "too_large"
    assert not Document.objects.exists()


def test_search_options_are_checked(writer):
    writer.post(API, {"name": "kb"}, format="json")
    writer.post(f"{API}/kb/documents", {"source": "a.md", "text": "# A\n\nrefunds"}, format="json")
    writer.post(f"{API}/kb/snapshots", {}, format="json")
    for body, field in [
        ({"query": "x", "mode": "fuzzy"}, "mode"),
        ({"query": "x", "top_k": 0}, "top_k"),
        ({"query": "x", "snapshot": 7}, "snapshot"),
        ({"query": "x", "mode": "semantic"}, "mode"),
        ({}, "query"),
    ]:
        r = writer.post(f"{API}/kb/search", body, format="json")
        assert r.status_code == 400 and _fields(r) == [field], (body, r.json())


def test_a_document_is_read_and_removed_by_its_path(writer, outsider):
    writer.post(API, {"name": "kb"}, format="json")
    writer.post(f"{API}/kb/documents", {"source": "faq/refunds.md", "text": "# R\n\n30 days"}, format="json")
    writer.post(f"{API}/kb/snapshots", {}, format="json")
    assert writer.get(f"{API}/kb/documents/faq/refunds.md").json()["version"] == 1
    assert outsider.delete(f"{API}/kb/documents/faq/refunds.md").status_code == 404
    assert writer.delete(f"{API}/kb/documents/faq/refunds.md").status_code == 204
    assert writer.get(f"{API}/kb/documents/faq/refunds.md").status_code == 404
    r = writer.post(f"{API}/kb/snapshots", {}, format="json")
    assert r.status_code == 409  # nothing left to publish
    r = writer.post(f"{API}/kb/search", {"query": "days", "snapshot": 1}, format="json")
    assert r.json()["results"][0]["source"] == "faq/refunds.md"  # the pinned snapshot keeps it


def test_a_label_pins_a_snapshot_for_applications(writer, reader):
    writer.post(API, {"name": "kb"}, format="json")
    writer.post(f"{API}/kb/documents", {"source": "a.md", "text": "# A\n\nold refund rule"}, format="json")
    writer.post(f"{API}/kb/snapshots", {}, format="json")
    r = writer.put(f"{API}/kb/labels/production", {"snapshot": 1}, format="json")
    assert r.status_code == 200 and r.json()["labels"] == ["latest", "production"]
    writer.post(f"{API}/kb/documents", {"source": "a.md", "text": "# A\n\nnew refund rule"}, format="json")
    writer.post(f"{API}/kb/snapshots", {}, format="json")
    r = reader.post(f"{API}/kb/search", {"query": "refund rule", "label": "production"}, format="json")
    assert r.json()["snapshot"] == 1 and "old" in r.json()["results"][0]["text"]
    assert reader.put(f"{API}/kb/labels/production", {"snapshot": 2}, format="json").status_code == 403
    r = writer.put(f"{API}/kb/labels/latest", {"snapshot": 1}, format="json")
    assert r.status_code == 400 and _fields(r) == ["label"]
    r = writer.put(f"{API}/kb/labels/production", {"snapshot": 9}, format="json")
    assert r.status_code == 400 and _fields(r) == ["snapshot"]
