import pytest
from django.core.cache import cache

from promptlib.content import VersionContent
from promptlib.models import Membership, Project, Role
from promptlib.services.templates import template_create, version_create


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


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
