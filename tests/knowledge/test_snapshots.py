"""Snapshots: immutable sets of chunks; `latest` moves on publish, numbers and other labels stay."""

import pytest

from promptlib.knowledge.errors import KnowledgeError
from promptlib.knowledge.models import Document, ImmutableSnapshotError, Snapshot, SnapshotChunk
from promptlib.knowledge.selectors import snapshot_diff, snapshot_resolve
from promptlib.knowledge.services import (
    document_remove,
    document_upload,
    knowledge_base_create,
    knowledge_publish,
    snapshot_label_set,
)
from tests.knowledge.conftest import POLICIES


def test_publishing_holds_the_current_chunks_and_moves_latest(shop_kb, alice):
    first = knowledge_publish(knowledge_base=shop_kb, user=alice, note="launch")
    assert (first.number, first.chunk_count, first.created_by, first.note) == (1, 5, alice, "launch")
    assert snapshot_resolve(project_id=shop_kb.project_id, knowledge_base="coffee-shop") == first.pk
    document_upload(knowledge_base=shop_kb, source="loyalty.md", data=b"# Loyalty\n\nTenth espresso free.")
    second = knowledge_publish(knowledge_base=shop_kb)
    assert second.number == 2 and second.chunk_count == 6
    assert snapshot_resolve(project_id=shop_kb.project_id, knowledge_base="coffee-shop") == second.pk
    assert snapshot_resolve(project_id=shop_kb.project_id, knowledge_base="coffee-shop", snapshot=1) == first.pk


def test_a_pinned_snapshot_keeps_its_chunks_after_documents_change(shop_kb):
    first = knowledge_publish(knowledge_base=shop_kb)
    held = set(first.chunks.values_list("id", flat=True))
    document_upload(knowledge_base=shop_kb, source="policies.md", data=POLICIES.replace(b"30 days", b"14 days"))
    document_remove(document=Document.objects.get(source="catalogue.csv"))
    knowledge_publish(knowledge_base=shop_kb)
    pinned = snapshot_resolve(project_id=shop_kb.project_id, knowledge_base="coffee-shop", snapshot=1)
    assert set(Snapshot.objects.get(pk=pinned).chunks.values_list("id", flat=True)) == held
    assert "30 days" in Snapshot.objects.get(pk=pinned).chunks.get(title="Refunds").text


def test_publishing_nothing_new_returns_the_latest(shop_kb):
    first = knowledge_publish(knowledge_base=shop_kb)
    assert knowledge_publish(knowledge_base=shop_kb) == first
    assert Snapshot.objects.count() == 1


def test_an_empty_knowledge_base_cannot_be_published(acme):
    kb = knowledge_base_create(project=acme, name="empty")
    with pytest.raises(KnowledgeError) as caught:
        knowledge_publish(knowledge_base=kb)
    assert (caught.value.field, caught.value.status) == ("documents", 409)


def test_a_snapshot_cannot_be_changed_or_deleted(shop_kb):
    snapshot = knowledge_publish(knowledge_base=shop_kb)
    snapshot.note = "rewritten"
    with pytest.raises(ImmutableSnapshotError):
        snapshot.save()
    with pytest.raises(ImmutableSnapshotError):
        Snapshot.objects.filter(pk=snapshot.pk).update(note="rewritten")
    with pytest.raises(ImmutableSnapshotError):
        snapshot.delete()
    with pytest.raises(ImmutableSnapshotError):
        Snapshot.objects.all().delete()
    with pytest.raises(ImmutableSnapshotError):
        SnapshotChunk.objects.filter(snapshot=snapshot).delete()
    with pytest.raises(ImmutableSnapshotError):
        SnapshotChunk.objects.filter(snapshot=snapshot).update(chunk_id=0)
    assert Snapshot.objects.get(pk=snapshot.pk).note == ""
    assert SnapshotChunk.objects.filter(snapshot=snapshot).count() == 5


def test_a_label_pins_a_number_until_moved(shop_kb):
    first = knowledge_publish(knowledge_base=shop_kb)
    snapshot_label_set(knowledge_base=shop_kb, name="production", number=1)
    document_upload(knowledge_base=shop_kb, source="loyalty.md", data=b"# Loyalty\n\nTenth espresso free.")
    second = knowledge_publish(knowledge_base=shop_kb)
    pid = shop_kb.project_id
    assert snapshot_resolve(project_id=pid, knowledge_base="coffee-shop", label="production") == first.pk
    snapshot_label_set(knowledge_base=shop_kb, name="production", number=2)
    assert snapshot_resolve(project_id=pid, knowledge_base="coffee-shop", label="production") == second.pk


def test_latest_cannot_be_set_by_hand(shop_kb):
    knowledge_publish(knowledge_base=shop_kb)
    with pytest.raises(KnowledgeError) as caught:
        snapshot_label_set(knowledge_base=shop_kb, name="latest", number=1)
    assert caught.value.field == "label"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"knowledge_base": "nope"}, "knowledge_base"),
        ({"knowledge_base": "coffee-shop", "snapshot": 9}, "snapshot"),
        ({"knowledge_base": "coffee-shop", "label": "production"}, "label"),
    ],
)
def test_resolving_the_unknown_names_the_field(shop_kb, options, field):
    knowledge_publish(knowledge_base=shop_kb)
    with pytest.raises(KnowledgeError) as caught:
        snapshot_resolve(project_id=shop_kb.project_id, **options)
    assert caught.value.field == field


def test_an_unpublished_base_has_no_latest(shop_kb):
    with pytest.raises(KnowledgeError) as caught:
        snapshot_resolve(project_id=shop_kb.project_id, knowledge_base="coffee-shop")
    assert caught.value.field == "label" and "publish" in caught.value.message


def test_another_projects_base_is_unknown(shop_kb, globex):
    knowledge_publish(knowledge_base=shop_kb)
    with pytest.raises(KnowledgeError) as caught:
        snapshot_resolve(project_id=globex.pk, knowledge_base="coffee-shop")
    assert caught.value.field == "knowledge_base"


def test_the_diff_shows_added_removed_and_changed_passages(shop_kb):
    first = knowledge_publish(knowledge_base=shop_kb)
    document_upload(
        knowledge_base=shop_kb, source="policies.md", data=POLICIES.replace(b"30 days", b"14 days"), tags=["policy"]
    )
    document_upload(knowledge_base=shop_kb, source="loyalty.md", data=b"# Loyalty\n\nTenth espresso free.")
    document_remove(document=Document.objects.get(source="catalogue.csv"))
    second = knowledge_publish(knowledge_base=shop_kb)
    diff = snapshot_diff(old=first, new=second)
    assert [(b.source, b.title) for b in diff.added] == [("loyalty.md", "Loyalty")]
    assert sorted(b.title for b in diff.removed) == ["Decaf Colombia", "Ethiopia Yirgacheffe", "Morning Blend"]
    assert [(old.title, "30 days" in old.text, "14 days" in new.text) for old, new in diff.changed] == [
        ("Refunds", True, True)
    ]
    assert diff.unchanged == 1  # Shipping
