"""Knowledge bases: documents chunked for retrieval, immutable snapshots, and search over them.

models.py (KnowledgeBase, Document, Chunk, Snapshot, SnapshotLabel), parsing.py (files → text),
chunking.py (text → chunks, previewable), services.py (upload, remove, publish, labels),
embeddings.py (through the project's provider), selectors.py (resolve a snapshot, search it),
search_sql.py (full text per database), store.py (templates_store/knowledge/ round trip).
"""
