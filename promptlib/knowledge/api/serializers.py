"""Input and output shapes of the knowledge endpoints."""

from __future__ import annotations

from rest_framework import serializers

from promptlib.knowledge.chunking import MAX_CHUNK_SIZE, MIN_CHUNK_SIZE
from promptlib.knowledge.selectors import MAX_TOP_K, MODES

_TAGS = serializers.ListField(child=serializers.CharField(max_length=40), required=False, default=list, max_length=20)


class KnowledgeBaseInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    chunk_size = serializers.IntegerField(
        min_value=MIN_CHUNK_SIZE, max_value=MAX_CHUNK_SIZE, required=False, default=800
    )
    chunk_overlap = serializers.IntegerField(min_value=0, max_value=MAX_CHUNK_SIZE // 2, required=False, default=100)
    embedding_provider = serializers.CharField(
        max_length=80, required=False, allow_blank=True, default="", help_text="A provider's name in this project."
    )
    embedding_model = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class KnowledgeBaseChangeSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    chunk_size = serializers.IntegerField(min_value=MIN_CHUNK_SIZE, max_value=MAX_CHUNK_SIZE, required=False)
    chunk_overlap = serializers.IntegerField(min_value=0, max_value=MAX_CHUNK_SIZE // 2, required=False)
    embedding_provider = serializers.CharField(max_length=80, required=False, allow_blank=True)
    embedding_model = serializers.CharField(max_length=200, required=False, allow_blank=True)


class KnowledgeBaseOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    chunk_size = serializers.IntegerField()
    chunk_overlap = serializers.IntegerField()
    embedding_provider = serializers.CharField(allow_null=True)
    embedding_model = serializers.CharField()
    embedding = serializers.DictField(help_text="The embedding run: status, done, total, error.")
    documents = serializers.IntegerField()
    latest_snapshot = serializers.IntegerField(allow_null=True)
    labels = serializers.DictField(child=serializers.IntegerField(), help_text="Label → snapshot number.")


class DocumentTextSerializer(serializers.Serializer):
    """A document as JSON text. (Files: multipart/form-data with `file`, and optional source, title, tags.)"""

    source = serializers.CharField(max_length=300, help_text="Its file name in the knowledge base, e.g. refunds.md.")
    text = serializers.CharField(trim_whitespace=False)
    title = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    tags = _TAGS


class DocumentOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.CharField()
    version = serializers.IntegerField()
    kind = serializers.CharField()
    title = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    content_hash = serializers.CharField()
    chunks = serializers.IntegerField()
    warnings = serializers.ListField(child=serializers.CharField())
    created = serializers.BooleanField(required=False, help_text="On upload: false when nothing changed.")


class PublishSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class LabelSetSerializer(serializers.Serializer):
    snapshot = serializers.IntegerField(min_value=1, help_text="The snapshot number the label should name.")


class SnapshotOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    chunk_count = serializers.IntegerField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()
    labels = serializers.ListField(child=serializers.CharField())


class SearchSerializer(serializers.Serializer):
    query = serializers.CharField(max_length=4000)
    snapshot = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    label = serializers.SlugField(max_length=60, required=False, default="latest")
    top_k = serializers.IntegerField(min_value=1, max_value=MAX_TOP_K, required=False, default=4)
    mode = serializers.ChoiceField(choices=MODES, required=False, default="keyword")
    tags = _TAGS
    min_score = serializers.FloatField(required=False, allow_null=True, default=None)


class RetrievedChunkSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    source = serializers.CharField()
    text = serializers.CharField()
    score = serializers.FloatField()
    document_id = serializers.IntegerField()
    tags = serializers.ListField(child=serializers.CharField())


class SearchOutSerializer(serializers.Serializer):
    snapshot = serializers.IntegerField(help_text="The snapshot number searched.")
    results = RetrievedChunkSerializer(many=True)
