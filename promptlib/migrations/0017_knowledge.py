"""Knowledge bases, documents, chunks and snapshots; and the full-text index of chunks, per database:

- PostgreSQL: `promptlib_chunk.search_vector`, a stored generated tsvector (title weighted A, text B,
  English stemming) with a GIN index. Generated, so nothing can leave it stale.
- SQLite: `promptlib_chunk_fts`, an FTS5 table over promptlib_chunk (external content, rowid = chunk
  id, porter stemming), kept in step by triggers so that cascades (a knowledge base deleted) keep it
  right too; `promptlib_chunk_fts_vocab` (fts5vocab) counts the chunks holding each word. A later
  migration that makes SQLite rebuild promptlib_chunk drops these triggers and must run SQLITE_FORWARD again (tests/knowledge/test_search.py checks they are present).

Neither is in Django's model state: promptlib.knowledge.search_sql reads them with SQL.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


POSTGRES_FORWARD = [
    """ALTER TABLE promptlib_chunk ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('english'::regconfig, coalesce(text, '')), 'B')
    ) STORED""",
    "CREATE INDEX promptlib_chunk_search_gin ON promptlib_chunk USING gin (search_vector)",
    # ANALYZE keeps the 10,000 most common lexemes (not 1,000): the search plans its words from them.
    "ALTER TABLE promptlib_chunk ALTER COLUMN search_vector SET STATISTICS 1000",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS promptlib_chunk_search_gin",
    "ALTER TABLE promptlib_chunk DROP COLUMN IF EXISTS search_vector",
]
SQLITE_FORWARD = [
    """CREATE VIRTUAL TABLE IF NOT EXISTS promptlib_chunk_fts USING fts5(
        title, text, content='promptlib_chunk', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER IF NOT EXISTS promptlib_chunk_fts_insert AFTER INSERT ON promptlib_chunk BEGIN
        INSERT INTO promptlib_chunk_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
    END""",
    """CREATE TRIGGER IF NOT EXISTS promptlib_chunk_fts_delete AFTER DELETE ON promptlib_chunk BEGIN
        INSERT INTO promptlib_chunk_fts(promptlib_chunk_fts, rowid, title, text)
        VALUES ('delete', old.id, old.title, old.text);
    END""",
    """CREATE TRIGGER IF NOT EXISTS promptlib_chunk_fts_update AFTER UPDATE OF title, text ON promptlib_chunk BEGIN
        INSERT INTO promptlib_chunk_fts(promptlib_chunk_fts, rowid, title, text)
        VALUES ('delete', old.id, old.title, old.text);
        INSERT INTO promptlib_chunk_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
    END""",
    "INSERT INTO promptlib_chunk_fts(promptlib_chunk_fts) VALUES ('rebuild')",
    # How many chunks hold each word, read from the index itself (the search picks rare words first).
    "CREATE VIRTUAL TABLE IF NOT EXISTS promptlib_chunk_fts_vocab USING fts5vocab('promptlib_chunk_fts', 'row')",
]
SQLITE_BACKWARD = [
    "DROP TABLE IF EXISTS promptlib_chunk_fts_vocab",
    "DROP TRIGGER IF EXISTS promptlib_chunk_fts_insert",
    "DROP TRIGGER IF EXISTS promptlib_chunk_fts_delete",
    "DROP TRIGGER IF EXISTS promptlib_chunk_fts_update",
    "DROP TABLE IF EXISTS promptlib_chunk_fts",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):

    dependencies = [
        ('promptlib', '0016_review_untouched_edits'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='KnowledgeBase',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.SlugField(help_text='A short name templates use, e.g. shop-policies.', max_length=80)),
                ('description', models.TextField(blank=True)),
                ('chunk_size', models.PositiveIntegerField(default=800, help_text='The longest passage retrieved at once, in characters (100–8000).')),
                ('chunk_overlap', models.PositiveIntegerField(default=100, help_text='Characters repeated between consecutive passages of a long paragraph.')),
                ('embedding_model', models.CharField(blank=True, help_text='The embedding model, e.g. text-embedding-3-small or nomic-embed-text.', max_length=200)),
                ('embed_status', models.CharField(default='idle', editable=False, max_length=20)),
                ('embed_done', models.PositiveIntegerField(default=0, editable=False)),
                ('embed_total', models.PositiveIntegerField(default=0, editable=False)),
                ('embed_error', models.TextField(blank=True, editable=False)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('embedding_provider', models.ForeignKey(blank=True, help_text='Optional: the provider that turns passages into vectors for meaning-based search.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='promptlib.providerconfig')),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='knowledge_bases', to='promptlib.project')),
            ],
            options={
                'ordering': ['project__name', 'name'],
            },
        ),
        migrations.CreateModel(
            name='Document',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('source', models.CharField(help_text="The file's path in the knowledge base, e.g. faq/refunds.md", max_length=300)),
                ('version', models.PositiveIntegerField(default=1)),
                ('is_current', models.BooleanField(default=True)),
                ('kind', models.CharField(choices=[('txt', 'Plain text'), ('md', 'Markdown'), ('html', 'Web page (HTML)'), ('csv', 'Spreadsheet (CSV)'), ('pdf', 'PDF')], max_length=10)),
                ('title', models.CharField(blank=True, max_length=300)),
                ('tags', models.JSONField(blank=True, default=list)),
                ('content_hash', models.CharField(max_length=64)),
                ('original', models.BinaryField()),
                ('text', models.TextField()),
                ('warnings', models.JSONField(blank=True, default=list)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('knowledge_base', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='documents', to='promptlib.knowledgebase')),
            ],
            options={
                'ordering': ['knowledge_base', 'source', '-version'],
            },
        ),
        migrations.CreateModel(
            name='Chunk',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('ordinal', models.PositiveIntegerField()),
                ('title', models.CharField(blank=True, max_length=300)),
                ('text', models.TextField()),
                ('content_hash', models.CharField(db_index=True, max_length=64)),
                ('tags', models.JSONField(blank=True, default=list)),
                ('tags_text', models.CharField(blank=True, max_length=1000)),
                ('embedding', models.JSONField(blank=True, editable=False, null=True)),
                ('embedding_model', models.CharField(blank=True, editable=False, max_length=200)),
                ('document', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='chunks', to='promptlib.document')),
                ('knowledge_base', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='chunks', to='promptlib.knowledgebase')),
            ],
            options={
                'ordering': ['document', 'ordinal'],
            },
        ),
        migrations.CreateModel(
            name='Snapshot',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.PositiveIntegerField()),
                ('note', models.TextField(blank=True)),
                ('chunk_count', models.PositiveIntegerField(default=0)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('knowledge_base', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='snapshots', to='promptlib.knowledgebase')),
            ],
            options={
                'ordering': ['knowledge_base', '-number'],
            },
        ),
        migrations.CreateModel(
            name='SnapshotChunk',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('chunk', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='promptlib.chunk')),
                ('snapshot', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='promptlib.snapshot')),
            ],
        ),
        migrations.AddField(
            model_name='snapshot',
            name='chunks',
            field=models.ManyToManyField(related_name='snapshots', through='promptlib.SnapshotChunk', to='promptlib.chunk'),
        ),
        migrations.CreateModel(
            name='SnapshotLabel',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.SlugField(max_length=60)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('knowledge_base', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='labels', to='promptlib.knowledgebase')),
                ('snapshot', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='labels', to='promptlib.snapshot')),
            ],
            options={
                'ordering': ['knowledge_base', 'name'],
            },
        ),
        migrations.AddConstraint(
            model_name='knowledgebase',
            constraint=models.UniqueConstraint(fields=('project', 'name'), name='uniq_knowledge_base_name'),
        ),
        migrations.AddConstraint(
            model_name='document',
            constraint=models.UniqueConstraint(fields=('knowledge_base', 'source', 'version'), name='uniq_document_version'),
        ),
        migrations.AddConstraint(
            model_name='document',
            constraint=models.UniqueConstraint(condition=models.Q(('is_current', True)), fields=('knowledge_base', 'source'), name='uniq_current_document'),
        ),
        migrations.AddConstraint(
            model_name='chunk',
            constraint=models.UniqueConstraint(fields=('document', 'ordinal'), name='uniq_chunk_ordinal'),
        ),
        migrations.AddIndex(
            model_name='snapshotchunk',
            index=models.Index(fields=['chunk', 'snapshot'], name='snapshotchunk_chunk_idx'),
        ),
        migrations.AddConstraint(
            model_name='snapshotchunk',
            constraint=models.UniqueConstraint(fields=('snapshot', 'chunk'), name='uniq_snapshot_chunk'),
        ),
        migrations.AddConstraint(
            model_name='snapshot',
            constraint=models.UniqueConstraint(fields=('knowledge_base', 'number'), name='uniq_snapshot_number'),
        ),
        migrations.AddConstraint(
            model_name='snapshotlabel',
            constraint=models.UniqueConstraint(fields=('knowledge_base', 'name'), name='uniq_snapshot_label'),
        ),
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
