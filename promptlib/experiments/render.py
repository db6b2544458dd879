"""The render read path: one cached snapshot per template, so that a warm render needs no query.

The snapshot holds what a render can ask for: the content of every labelled version, of the latest
version and of the running experiment's variants, plus the experiment's salt and weights. Writes
drop it (promptlib.core.caching.template_cache_invalidate) after they commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from promptlib.core.caching import TEMPLATE_TTL_SECONDS, template_key
from promptlib.experiments.assignment import RenderRef, render_id_make, variant_pick
from promptlib.experiments.exposures import exposure_record
from promptlib.experiments.models import Experiment
from promptlib.prompts.content import VersionContent
from promptlib.prompts.models import Label, Template, Version
from promptlib.prompts.rendering import PromptError, RenderedPrompt
from promptlib.prompts.retrieval import Retrieval, prompt_build

DEFAULT_LABEL = "production"
# A label name that, unless a real label has it, means the newest version.
LATEST = "latest"
MAX_VERSION_NUMBER = 2**31 - 1


class RenderLookupError(PromptError):
    """The label or version asked for does not exist on this template."""

    code = "not_found"


def _content_fields(version: Version) -> dict[str, Any]:
    return VersionContent.from_obj(version).to_dict()


def template_snapshot_build(*, template: Template) -> dict[str, Any]:
    labels = dict(Label.objects.filter(template=template).values_list("name", "version__number"))
    latest = template.versions.order_by("-number").values_list("number", flat=True).first()
    experiment = (
        Experiment.objects.filter(template=template, status=Experiment.Status.RUNNING)
        .prefetch_related("variants__version")
        .first()
    )
    numbers = set(labels.values()) | ({latest} if latest else set())
    running = None
    if experiment is not None:
        variants = list(experiment.variants.all())
        running = {
            "id": experiment.pk,
            "name": experiment.name,
            "salt": experiment.salt,
            "variants": {v.key: {"version": v.version.number, "weight": v.weight} for v in variants},
        }
        numbers |= {v.version.number for v in variants}
    versions = {v.number: _content_fields(v) for v in Version.objects.filter(template=template, number__in=numbers)}
    return {"slug": template.slug, "labels": labels, "latest": latest, "versions": versions, "experiment": running}


def template_snapshot(*, project_id: int, slug: str, prefetched: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The cached snapshot of a template, built on a miss; None when the template does not exist.

    `prefetched`: what a cache round trip already read for the template's key (absent: a miss).

    A miss that read the database just before a write committed can store the older state after
    the write's invalidation; the TTL bounds how long such a rare stale entry can live.
    """
    key = template_key(project_id=project_id, slug=slug)
    snapshot = prefetched.get(key) if prefetched is not None else cache.get(key)
    if snapshot is None:
        template = Template.objects.filter(project_id=project_id, slug=slug).first()
        if template is None:
            return None
        snapshot = template_snapshot_build(template=template)
        cache.set(key, snapshot, TEMPLATE_TTL_SECONDS)
    return snapshot


@dataclass(frozen=True)
class RenderResult:
    template: str
    version: int
    label: str | None
    content: VersionContent
    prompt: RenderedPrompt
    experiment: dict[str, Any] | None
    render_id: str | None
    retrieval: Retrieval | None = None


def _version_content(*, project_id: int, snapshot: dict[str, Any], number: int) -> dict[str, Any]:
    if number in snapshot["versions"]:
        return snapshot["versions"][number]
    found = None
    if 0 < number <= MAX_VERSION_NUMBER:  # beyond that the database would refuse the number itself
        found = Version.objects.filter(
            template__project_id=project_id, template__slug=snapshot["slug"], number=number
        ).first()
    if found is None:
        raise RenderLookupError(f"Template '{snapshot['slug']}' has no version {number}.", field="version")
    return _content_fields(found)


def prompt_render(
    *,
    project_id: int,
    snapshot: dict[str, Any],
    variables: dict[str, Any] | None = None,
    label: str | None = None,
    version: int | None = None,
    subject: str | None = None,
) -> RenderResult:
    """Render the version a caller asked for.

    An explicit version is rendered as is. Otherwise a running experiment decides for callers that
    name a subject (it overrides the label), and the label (production by default; "latest" for
    the newest version) for the rest. Each experiment render is counted as an exposure (one
    pipelined Redis round trip; see promptlib.experiments.exposures) after the template rendered.
    """
    experiment = snapshot["experiment"]
    chosen: dict[str, Any] | None = None
    render_id = None
    if version is None and experiment is not None and subject:
        weights = [(key, v["weight"]) for key, v in experiment["variants"].items()]
        key = variant_pick(salt=experiment["salt"], subject=subject, weights=weights)
        version = experiment["variants"][key]["version"]
        label = None
        chosen = {"id": experiment["id"], "name": experiment["name"], "variant": {"key": key, "version": version}}
        render_id = render_id_make(
            ref=RenderRef(project_id=project_id, experiment_id=experiment["id"], variant=key, subject=subject)
        )
    elif version is None:
        label = label or DEFAULT_LABEL
        version = snapshot["labels"].get(label)
        if version is None and label == LATEST:
            version = snapshot["latest"]
        if version is None:
            raise RenderLookupError(f"Template '{snapshot['slug']}' has no label '{label}'.", field="label")
    content = VersionContent.from_dict(_version_content(project_id=project_id, snapshot=snapshot, number=version))
    built = prompt_build(project_id=project_id, content=content, variables=variables)
    if chosen is not None:
        exposure_record(experiment_id=experiment["id"], variant=chosen["variant"]["key"], subject=subject)
    return RenderResult(
        template=snapshot["slug"],
        version=version,
        label=label,
        content=content,
        prompt=built.prompt,
        experiment=chosen,
        render_id=render_id,
        retrieval=built.retrieval,
    )
