"""The admin's home page and sidebar, arranged for the people who use them.

Django lists one "Prompt library" box with every model in alphabetical order (API keys first,
Templates near the end). Marketers work from templates to experiments to settings, so the
promptlib models are split into three groups in that order, each model with one line saying what
it is for. Other apps (users) follow unchanged. Celery beat's own tables (periodic tasks, clocked,
solar events…) are the scheduler's internals: only superusers see them; people use "Batch schedules".
"""

from __future__ import annotations

from django.contrib import admin

APP_LABEL = "promptlib"
SUPERUSER_ONLY_APPS = ("django_celery_beat",)

# (group name, [(object_name, what it is for)]) in the order a marketer works.
GROUPS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Prompts",
        [
            ("Template", "Your prompts: write, preview, save versions and publish them."),
            ("Version", "Every saved version of every prompt (read-only)."),
            ("Label", "Which version each label (production, staging…) points at."),
            ("KnowledgeBase", "Documents your prompts can quote: policies, product lists, brand guides."),
        ],
    ),
    (
        "A/B tests",
        [
            ("Experiment", "Two or more versions of a prompt competing; see which one wins."),
            ("Batch", "Test runs: every case of a dataset through each version of an experiment."),
            ("BatchItem", "Each single answer of a test run, to read and review."),
            ("BatchSchedule", "Test runs that repeat by themselves, e.g. every night."),
            ("Dataset", "Test cases (sample inputs and expected answers) for test runs."),
            ("ScorerConfig", "Automatic checks of each answer: right category, valid format…"),
        ],
    ),
    (
        "Settings",
        [
            ("ProviderConfig", "Connections to AI model providers (OpenAI, Anthropic…) and their limits."),
            ("ApiKey", "Keys your applications use to fetch prompts."),
            ("Project", "Your projects and who works in them."),
            ("Membership", "Who has which role in which project."),
        ],
    ),
]


def group_app_list(app_list: list[dict]) -> list[dict]:
    """Replace the promptlib app's box by the groups above; keep other apps after them."""
    ours = next((app for app in app_list if app["app_label"] == APP_LABEL), None)
    if ours is None:
        return app_list
    by_name = {model["object_name"]: model for model in ours["models"]}
    groups = []
    for title, members in GROUPS:
        models = []
        for object_name, description in members:
            model = by_name.pop(object_name, None)
            if model is not None:
                models.append({**model, "description": description})
        if models:
            groups.append({**ours, "name": title, "models": models})
    if by_name and groups:  # a model added later and not placed yet: show it rather than hide it
        groups[-1]["models"].extend(by_name.values())
    others = [app for app in app_list if app["app_label"] != APP_LABEL]
    return groups + others


def _get_app_list(request, app_label=None):
    return group_app_list(admin.AdminSite.get_app_list(admin.site, request, app_label))


def _superuser_only(request, *args, **kwargs) -> bool:
    return request.user.is_active and request.user.is_superuser


def hide_internals(site: admin.AdminSite) -> None:
    """Only superusers reach the scheduler's internal tables, whatever model permissions a user holds."""
    for model, model_admin in site._registry.items():
        if model._meta.app_label in SUPERUSER_ONLY_APPS:
            for name in ("has_module_permission", "has_view_permission", "has_add_permission",
                         "has_change_permission", "has_delete_permission"):  # fmt: skip
                setattr(model_admin, name, _superuser_only)


def install() -> None:
    """Arrange the default admin site (the one config/urls.py serves)."""
    admin.site.get_app_list = _get_app_list
    hide_internals(admin.site)
    # "View site" would lead to / which only redirects back here.
    admin.site.site_url = None
