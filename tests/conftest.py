import pytest
from django.core.cache import cache

from promptlib.core.models import Membership, Project, Role
from promptlib.prompts.content import VersionContent
from promptlib.prompts.services import template_create, version_create
from tests.standins import StandinServer

# Fixtures of the batch, dataset and end-to-end tests (demo_provider, triage_experiment, tickets).
pytest_plugins = ["tests.batches_support", "tests.browser_support", "tests.retrieval_support"]


@pytest.fixture(autouse=True)
def _clear_cache():
    _cache_clear_own_keys()
    yield
    _cache_clear_own_keys()


def _cache_clear_own_keys():
    """Empty the cache between tests without FLUSHDB: a shared Redis database also holds the Celery
    broker's queues and the provider limiter's leases of any other process using it. Also what the
    knowledge search and retrieval keep in the process (snapshot ids come back after a rollback on SQLite)."""
    from promptlib.knowledge.selectors import knowledge_caches_clear
    from promptlib.prompts.retrieval import retrieval_memo_clear

    knowledge_caches_clear()
    retrieval_memo_clear()
    client_of = getattr(getattr(cache, "_cache", None), "get_client", None)
    if client_of is None:  # local memory
        cache.clear()
        return
    client = client_of(write=True)
    keys = list(client.scan_iter(match=f"{cache.key_prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def acme(db):
    return Project.objects.create(slug="acme", name="Acme")


@pytest.fixture
def globex(db):
    return Project.objects.create(slug="globex", name="Globex")


def _member(django_user_model, username, project, role):
    user = django_user_model.objects.create_user(username=username, password="pw-" + username, is_staff=True)
    Membership.objects.create(user=user, project=project, role=role)
    return user


@pytest.fixture
def alice(django_user_model, acme):
    """A publisher of Acme."""
    return _member(django_user_model, "alice", acme, Role.PUBLISHER)


@pytest.fixture
def bob(django_user_model, acme):
    """An editor of Acme."""
    return _member(django_user_model, "bob", acme, Role.EDITOR)


@pytest.fixture
def victor(django_user_model, acme):
    """A viewer of Acme."""
    return _member(django_user_model, "victor", acme, Role.VIEWER)


@pytest.fixture
def gina(django_user_model, globex):
    """A publisher of Globex, and nothing of Acme."""
    return _member(django_user_model, "gina", globex, Role.PUBLISHER)


@pytest.fixture
def welcome_content():
    return VersionContent(
        role="You are the voice of {{ brand }}.",
        task="Write a welcome email to {{ name }}.",
        context="",
        format="Plain text, at most {{ max_words }} words.",
        constraints="Never promise discounts.",
        examples=[{"input": "Name: Ann", "output": "Hi Ann, welcome to {{ brand }}!"}],
        variables=[
            {"name": "brand", "type": "string", "required": False, "default": "Acme", "description": "Brand name"},
            {"name": "name", "type": "string", "required": True, "default": None, "description": "Customer"},
            {"name": "max_words", "type": "integer", "required": False, "default": 120, "description": ""},
        ],
        provider="openai",
        model="gpt-4o-mini",
        temperature=0.7,
        max_tokens=400,
    )


@pytest.fixture
def welcome(acme, welcome_content):
    """Acme's welcome-email template with one version."""
    template = template_create(project=acme, slug="welcome-email", title="Welcome email", tags=["email"])
    version_create(template=template, content=welcome_content, change_note="first")
    return template


@pytest.fixture
def standin():
    """A local server speaking OpenAI's and Anthropic's wire formats (tests/standins/server.py)."""
    with StandinServer() as server:
        yield server


# --- API keys and experiments (tests/experiments/test_api*.py, tests/experiments/test_services.py) --


def _api_key(project, scopes):
    from promptlib.core.apikeys import api_key_create

    return api_key_create(project=project, scopes=scopes, name=f"{project.slug}-{scopes}")[1]


@pytest.fixture
def acme_read_key(acme):
    """The full string of an Acme API key with the read scope."""
    return _api_key(acme, "read")


@pytest.fixture
def acme_write_key(acme):
    """The full string of an Acme API key with the write scope."""
    return _api_key(acme, "read,write")


@pytest.fixture
def globex_key(globex):
    """The full string of a Globex API key with the write scope."""
    return _api_key(globex, "read,write")


@pytest.fixture
def api_client():
    """api_client(key) → a DRF test client that sends this API key (or none)."""
    from rest_framework.test import APIClient

    def make(key: str | None = None):
        client = APIClient()
        if key:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client

    return make


@pytest.fixture
def welcome_v2(welcome, welcome_content):
    """A second, shorter version of the welcome email."""
    from dataclasses import replace

    return version_create(template=welcome, content=replace(welcome_content, format="At most 50 words."))[0]


@pytest.fixture
def welcome_experiment(welcome, welcome_v2):
    """A running 50/50 experiment on the welcome email: control is v1, "short" is v2."""
    from promptlib.experiments.services import VariantSpec, experiment_create, experiment_start

    experiment = experiment_create(
        template=welcome,
        name="Shorter welcome",
        variants=[
            VariantSpec(key="control", version=welcome.versions.get(number=1), weight=1, is_control=True),
            VariantSpec(key="short", version=welcome_v2, weight=1),
        ],
    )
    return experiment_start(experiment=experiment)


# --- experiment dashboard (tests/analysis/: test_report, test_promotion, test_admin, test_exports) -------


@pytest.fixture
def wording_experiment(welcome, welcome_content):
    """Acme's running welcome-email experiment: control (v1) against b (v2); production → v1."""
    from tests.analysis_support import make_experiment

    return make_experiment(welcome, welcome_content)


@pytest.fixture
def customers(acme):
    """Acme's dataset of 60 cases ({"name": "Customer 1"}, …)."""
    from tests.analysis_support import make_dataset

    return make_dataset(acme, cases=60)
