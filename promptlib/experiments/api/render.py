"""The hot path: render a template for an application. Warm, it touches neither database nor disk."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from promptlib.api.authentication import request_prefetched
from promptlib.api.base import ProjectAPIView, error_responses
from promptlib.api.permissions import PROJECT_PARAMETER
from promptlib.core.caching import template_key
from promptlib.experiments.api.serializers import (
    RenderRequestSerializer,
    RenderResponseSerializer,
    render_request_clean,
)
from promptlib.experiments.render import prompt_render, template_snapshot


def retrieval_data(retrieval) -> dict | None:
    if retrieval is None:
        return None
    return {
        "knowledge_base": retrieval.knowledge_base,
        "snapshot_id": retrieval.snapshot_id,
        "query": retrieval.query,
        "passages": retrieval.citations(),
    }


class RenderView(ProjectAPIView):
    def cache_prefetch(self, *, project_id: int) -> tuple[str, ...]:
        # Fetched with the API key check, in the same round trip (promptlib.api.authentication).
        return (template_key(project_id=project_id, slug=self.kwargs["slug"]),)

    @extend_schema(
        tags=["render"],
        summary="Render a template",
        description=(
            "Renders the version named by `version`, else by `label` (default production). When an "
            "experiment runs on the template and a `subject` is given (and no `version`), the subject's "
            "variant is rendered instead and a `render_id` is returned: send it back with outcomes. "
            "Assignment is sticky: the same subject always gets the same variant while the experiment runs."
        ),
        parameters=[PROJECT_PARAMETER],
        request=RenderRequestSerializer,
        responses={200: RenderResponseSerializer, **error_responses(400, 415)},
    )
    def post(self, request, slug: str):
        project_id = self.project_id
        validated = render_request_clean(request.data)
        snapshot = template_snapshot(project_id=project_id, slug=slug, prefetched=request_prefetched(request))
        if snapshot is None:
            raise NotFound("No such template.")
        result = prompt_render(project_id=project_id, snapshot=snapshot, **validated)
        return Response(
            {
                "template": result.template,
                "version": result.version,
                "label": result.label,
                "messages": result.prompt.messages,
                "text": result.prompt.text,
                "model": result.content.model_settings(),
                "experiment": result.experiment,
                "render_id": result.render_id,
                "retrieval": retrieval_data(result.retrieval),
            }
        )
