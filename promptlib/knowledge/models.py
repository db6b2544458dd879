"""Knowledge bases, their documents (versioned by content hash), chunks, and immutable snapshots.

A Document row is one version of one source file: uploading changed bytes under the same source
makes version n+1 (the earlier stays, its chunks kept by the snapshots that hold them); unchanged
bytes change nothing. A Snapshot is the set of chunks of the current documents when it was
published; it never changes. Labels name snapshots (`latest` moves on every publish).

Full text: on PostgreSQL `promptlib_chunk.search_vector` is a stored generated tsvector column with a
GIN index; on SQLite `promptlib_chunk_fts` is an FTS5 table kept in step by triggers. Both are made in
migration 0017 (outside the model state) and read by promptlib.knowledge.search_sql.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class KnowledgeBase(models.Model):
    project_path = "project"  # ORM path to the owning Project, used for scoping

    project = models.ForeignKey("promptlib.Project", on_delete=models.CASCADE, related_name="knowledge_bases")
    name = models.SlugField(max_length=80, help_text="A short name templates use, e.g. shop-policies.")
    description = models.TextField(blank=True)
    chunk_size = models.PositiveIntegerField(
        default=800, help_text="The longest passage retrieved at once, in characters (100–8000)."
    )
    chunk_overlap = models.PositiveIntegerField(
        default=100, help_text="Characters repeated between consecutive passages of a long paragraph."
    )
    embedding_provider = models.ForeignKey(
        "promptlib.ProviderConfig",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Optional: the provider that turns passages into vectors for meaning-based search.",
    )
    embedding_model = models.CharField(
        max_length=200, blank=True, help_text="The embedding model, e.g. text-embedding-3-small or nomic-embed-text."
    )
    # Progress of the embedding task (promptlib.tasks.knowledge_embed).
    embed_status = models.CharField(max_length=20, default="idle", editable=False)
    embed_done = models.PositiveIntegerField(default=0, editable=False)
    embed_total = models.PositiveIntegerField(default=0, editable=False)
    embed_error = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project__name", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="uniq_knowledge_base_name")]

    def __str__(self) -> str:
        return self.name


class Document(models.Model):
    """One version of one source file of a knowledge base."""

    project_path = "knowledge_base__project"

    class Kind(models.TextChoices):
        TEXT = "txt", "Plain text"
        MARKDOWN = "md", "Markdown"
        HTML = "html", "Web page (HTML)"
        CSV = "csv", "Spreadsheet (CSV)"
        PDF = "pdf", "PDF"

    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="documents")
    source = models.CharField(max_length=300, help_text="The file's path in the knowledge base, e.g. faq/refunds.md")
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    title = models.CharField(max_length=300, blank=True)
    tags = models.JSONField(default=list, blank=True)
    content_hash = models.CharField(max_length=64)  # sha256 of the uploaded bytes
    original = models.BinaryField(editable=False)  # the uploaded bytes, for export
    text = models.TextField()  # what the chunks are cut from
    warnings = models.JSONField(default=list, blank=True)  # e.g. "read as Windows-1252"
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["knowledge_base", "source", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["knowledge_base", "source", "version"], name="uniq_document_version"),
            models.UniqueConstraint(
                fields=["knowledge_base", "source"], condition=Q(is_current=True), name="uniq_current_document"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} v{self.version}"


class Chunk(models.Model):
    """A passage of a document version. Its text never changes; its embedding is filled in later."""

    project_path = "knowledge_base__project"

    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="chunks")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    title = models.CharField(max_length=300, blank=True)  # the heading it sits under
    text = models.TextField()
    content_hash = models.CharField(max_length=64, db_index=True)  # sha256 of title + text
    tags = models.JSONField(default=list, blank=True)
    tags_text = models.CharField(max_length=1000, blank=True)  # " tag1 tag2 ": filtered in SQL
    embedding = models.JSONField(null=True, blank=True, editable=False)  # a list of floats, unit length
    embedding_model = models.CharField(max_length=200, blank=True, editable=False)

    class Meta:
        ordering = ["document", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["document", "ordinal"], name="uniq_chunk_ordinal")]

    def __str__(self) -> str:
        return f"{self.document.source} #{self.ordinal}"


class ImmutableSnapshotError(Exception):
    """A published snapshot never changes: publish a new one instead."""


class SnapshotQuerySet(models.QuerySet):
    # Snapshots are history that batches and versions pin: the bulk write paths are closed. They go
    # away only with their knowledge base (a cascade, which does not pass through QuerySet.delete).
    def update(self, **kwargs):
        raise ImmutableSnapshotError("Snapshots are immutable; publish a new snapshot instead.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise ImmutableSnapshotError("Snapshots are immutable; publish a new snapshot instead.")

    def update_or_create(self, *args, **kwargs):
        raise ImmutableSnapshotError("Snapshots are immutable; publish a new snapshot instead.")

    def delete(self):
        raise ImmutableSnapshotError("Snapshots are history and cannot be deleted; delete the knowledge base instead.")


class Snapshot(models.Model):
    """The chunks of a knowledge base's current documents at one publish, numbered 1, 2, 3…"""

    project_path = "knowledge_base__project"

    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="snapshots")
    number = models.PositiveIntegerField()
    note = models.TextField(blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    chunks = models.ManyToManyField(Chunk, through="SnapshotChunk", related_name="snapshots")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SnapshotQuerySet.as_manager()

    class Meta:
        ordering = ["knowledge_base", "-number"]
        constraints = [models.UniqueConstraint(fields=["knowledge_base", "number"], name="uniq_snapshot_number")]

    def __str__(self) -> str:
        return f"{self.knowledge_base.name} #{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ImmutableSnapshotError("Snapshots are immutable; publish a new snapshot instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableSnapshotError("Snapshots are history and cannot be deleted; delete the knowledge base instead.")


class SnapshotChunkQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ImmutableSnapshotError("A snapshot's chunks never change.")

    def delete(self):
        raise ImmutableSnapshotError("A snapshot's chunks never change.")


class SnapshotChunk(models.Model):
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="+")
    # Chunks are deleted only with their knowledge base (documents are marked not current, never deleted).
    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="+")

    objects = SnapshotChunkQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["snapshot", "chunk"], name="uniq_snapshot_chunk")]
        indexes = [models.Index(fields=["chunk", "snapshot"], name="snapshotchunk_chunk_idx")]


class SnapshotLabel(models.Model):
    """A name for one snapshot of a knowledge base; `latest` moves on every publish."""

    project_path = "knowledge_base__project"

    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="labels")
    name = models.SlugField(max_length=60)
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="labels")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["knowledge_base", "name"]
        constraints = [models.UniqueConstraint(fields=["knowledge_base", "name"], name="uniq_snapshot_label")]

    def __str__(self) -> str:
        return f"{self.name} → #{self.snapshot.number}"
