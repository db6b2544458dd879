"""templates_store/knowledge/: import, export, import again — the same files, no new snapshot; a bad
file stops the whole import."""

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from promptlib.knowledge.models import Document, KnowledgeBase, Snapshot
from promptlib.knowledge.selectors import knowledge_search, snapshot_resolve
from promptlib.knowledge.store import KnowledgeStoreError, knowledge_store_export, knowledge_store_import
from tests.knowledge.conftest import CATALOGUE, POLICIES
from tests.knowledge.support import pdf_with_text

SETTINGS = """description: What the support team may quote.
chunk_size: 400
chunk_overlap: 40
documents:
  policies/refunds.md:
    title: Refunds and shipping
    tags: [policy]
  catalogue.csv:
    title: Catalogue
    tags: [catalogue]
  voice.pdf:
    title: Brand voice
"""


@pytest.fixture
def store(tmp_path) -> Path:
    kb = tmp_path / "in" / "coffee-shop"
    (kb / "policies").mkdir(parents=True)
    (kb / "knowledge.yaml").write_text(SETTINGS)
    (kb / "policies" / "refunds.md").write_bytes(POLICIES)
    (kb / "catalogue.csv").write_bytes(CATALOGUE)
    (kb / "voice.pdf").write_bytes(pdf_with_text("Warm, never pushy."))
    return tmp_path / "in"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_import_creates_and_publishes_the_knowledge_base(store, acme):
    summary = knowledge_store_import(path=store, project=acme)
    assert (summary.created, summary.documents_added, summary.snapshots) == (1, 3, ["coffee-shop #1"])
    kb = KnowledgeBase.objects.get(project=acme, name="coffee-shop")
    assert (kb.description, kb.chunk_size, kb.chunk_overlap) == ("What the support team may quote.", 400, 40)
    refunds = Document.objects.get(knowledge_base=kb, source="policies/refunds.md")
    assert (refunds.title, refunds.tags) == ("Refunds and shipping", ["policy"])
    snapshot_id = snapshot_resolve(project_id=acme.pk, knowledge_base="coffee-shop")
    found = knowledge_search(project_id=acme.pk, snapshot_id=snapshot_id, query="pushy", top_k=1)
    assert found[0].source == "voice.pdf"


def test_export_import_export_gives_the_same_files(store, acme, globex, tmp_path):
    knowledge_store_import(path=store, project=acme)
    knowledge_store_export(project=acme, directory=tmp_path / "out1")
    exported = _files(tmp_path / "out1")
    assert exported["coffee-shop/policies/refunds.md"] == POLICIES
    assert exported["coffee-shop/voice.pdf"] == (store / "coffee-shop" / "voice.pdf").read_bytes()
    assert set(exported) == {f"coffee-shop/{name}" for name in _files(store / "coffee-shop")}
    knowledge_store_import(path=tmp_path / "out1", project=globex)
    knowledge_store_export(project=globex, directory=tmp_path / "out2")
    assert _files(tmp_path / "out2") == exported


def test_importing_unchanged_files_makes_no_new_snapshot(store, acme):
    knowledge_store_import(path=store, project=acme)
    again = knowledge_store_import(path=store, project=acme)
    assert (again.created, again.documents_added, again.unchanged, again.snapshots) == (0, 0, 1, ["coffee-shop #1"])
    assert Snapshot.objects.count() == 1


def test_a_changed_or_deleted_file_is_a_new_snapshot(store, acme):
    knowledge_store_import(path=store, project=acme)
    (store / "coffee-shop" / "policies" / "refunds.md").write_bytes(POLICIES.replace(b"30 days", b"14 days"))
    (store / "coffee-shop" / "catalogue.csv").unlink()
    settings = (store / "coffee-shop" / "knowledge.yaml").read_text()
    (store / "coffee-shop" / "knowledge.yaml").write_text(
        settings.replace("  catalogue.csv:\n    title: Catalogue\n    tags: [catalogue]\n", "")
    )
    summary = knowledge_store_import(path=store, project=acme)
    assert (summary.documents_added, summary.documents_removed, summary.snapshots) == (1, 1, ["coffee-shop #2"])
    kb = KnowledgeBase.objects.get(name="coffee-shop")
    assert sorted(Document.objects.filter(knowledge_base=kb, is_current=True).values_list("source", flat=True)) == [
        "policies/refunds.md", "voice.pdf"
    ]  # fmt: skip


def test_one_bad_file_imports_nothing_and_lists_every_problem(store, acme):
    (store / "coffee-shop" / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    (store / "coffee-shop" / "notes.docx").write_bytes(b"x")
    (store / "Bad Name").mkdir()
    with pytest.raises(KnowledgeStoreError) as caught:
        knowledge_store_import(path=store, project=acme)
    text = str(caught.value)
    assert "broken.pdf: file: This PDF could not be read" in text
    assert "notes.docx: not a knowledge document" in text
    assert "Bad Name" in text
    assert not KnowledgeBase.objects.exists() and not Document.objects.exists()


def test_an_unknown_provider_imports_nothing(store, acme):
    settings = store / "coffee-shop" / "knowledge.yaml"
    settings.write_text(settings.read_text() + "embedding_provider: nowhere\nembedding_model: m\n")
    with pytest.raises(KnowledgeStoreError) as caught:
        knowledge_store_import(path=store, project=acme)
    assert "embedding_provider" in str(caught.value)
    assert not KnowledgeBase.objects.exists()


def test_the_commands_round_trip(store, acme, tmp_path, capsys):
    call_command("import_knowledge", str(store), project="acme")
    assert "1 knowledge bases created" in capsys.readouterr().out
    call_command("export_knowledge", str(tmp_path / "out"), project="acme")
    assert "written" in capsys.readouterr().out
    assert _files(tmp_path / "out")["coffee-shop/catalogue.csv"] == CATALOGUE
    with pytest.raises(CommandError):
        call_command("import_knowledge", str(store), project="nope")
