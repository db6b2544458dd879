"""The embedding task: a thin interface sent by name after an upload commits."""

from promptlib.knowledge.models import Chunk, KnowledgeBase
from promptlib.knowledge.services import EMBED_TASK, document_upload, knowledge_base_update
from promptlib.providers.models import ProviderConfig


def test_the_task_is_registered_by_the_name_services_send(shop_kb):
    from celery import current_app

    import promptlib.tasks  # noqa: F401 (registers the tasks)

    assert EMBED_TASK in current_app.tasks


def test_the_task_embeds_what_an_upload_added(shop_kb, standin, django_capture_on_commit_callbacks, monkeypatch):
    import promptlib.tasks

    provider = ProviderConfig.objects.create(project=shop_kb.project, name="local", kind="openai",
                                             base_url=standin.openai_base_url)  # fmt: skip
    sent = []
    monkeypatch.setattr(
        "celery.app.base.Celery.signature",
        lambda app, name, *a, **k: type("S", (), {"apply_async": lambda self, args, **kw: sent.append((name, args))})(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        knowledge_base_update(knowledge_base=shop_kb, embedding_provider=provider, embedding_model="embed-small")
    assert sent == [(EMBED_TASK, (shop_kb.pk,))]
    assert promptlib.tasks.knowledge_embed_task.apply(args=(shop_kb.pk,)).get() == 5
    with django_capture_on_commit_callbacks(execute=True):
        document_upload(knowledge_base=shop_kb, source="new.md", data=b"# New\n\nA fresh passage.")
    assert sent[-1] == (EMBED_TASK, (shop_kb.pk,))
    assert promptlib.tasks.knowledge_embed_task.apply(args=(shop_kb.pk,)).get() == 1
    assert not Chunk.objects.filter(embedding__isnull=True).exists()
    assert KnowledgeBase.objects.get(pk=shop_kb.pk).embed_status == "done"
