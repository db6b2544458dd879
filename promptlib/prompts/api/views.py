"""Templates, versions and labels."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from promptlib.api.base import ProjectAPIView, ProjectListAPIView, error_responses
from promptlib.api.errors import ApiError, error
from promptlib.api.permissions import PROJECT_PARAMETER, WRITE_LABELS, WRITE_VERSIONS
from promptlib.prompts import selectors
from promptlib.prompts.api.serializers import (
    LabelMoveSerializer,
    LabelSerializer,
    TemplateDetailSerializer,
    TemplateFilterSerializer,
    TemplateSummarySerializer,
    VersionCreatedSerializer,
    VersionCreateSerializer,
    VersionSerializer,
    VersionSummarySerializer,
)
from promptlib.prompts.content import SECTIONS, VersionContent
from promptlib.prompts.models import Label, Template, Version
from promptlib.prompts.services import label_move, label_remove, version_create

TAG = "templates"


def _username(user) -> str | None:
    return user.get_username() if user is not None else None


def version_summary(version: Version) -> dict:
    return {
        "number": version.number,
        "content_hash": version.content_hash,
        "change_note": version.change_note,
        "author": _username(version.author),
        "created_at": version.created_at,
    }


def version_full(version: Version) -> dict:
    content = VersionContent.from_obj(version)
    return {
        **version_summary(version),
        **{name: getattr(content, name) for name in SECTIONS},
        "examples": content.examples,
        "variables": content.variables,
        "model_settings": content.model_settings(),
        "retrieval": content.retrieval,
    }


def template_summary(template: Template) -> dict:
    return {
        "slug": template.slug,
        "title": template.title,
        "description": template.description,
        "tags": [str(tag) for tag in template.tags] if isinstance(template.tags, list) else [],
        "labels": {label.name: label.version.number for label in template.labels.all()},
        "latest_version": getattr(template, "latest_number", None),
        "updated_at": template.updated_at,
    }


def label_data(label: Label) -> dict:
    return {
        "name": label.name,
        "version": label.version.number,
        "updated_at": label.updated_at,
        "updated_by": _username(label.updated_by),
    }


class TemplateMixin:
    def template(self, slug: str) -> Template:
        template = selectors.template_find(project_id=self.project_id, slug=slug)
        if template is None:
            raise NotFound("No such template.")
        return template


class TemplateListView(ProjectListAPIView):
    """Templates of the project with their labels; filter by tag or label. Paginated."""

    serializer_class = TemplateSummarySerializer

    @extend_schema(
        tags=[TAG],
        summary="List templates",
        parameters=[TemplateFilterSerializer, PROJECT_PARAMETER],
        responses={200: TemplateSummarySerializer(many=True), **error_responses(400)},
    )
    def get(self, request):
        filters = TemplateFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        templates = selectors.templates_list(project_id=self.project_id, **filters.validated_data)
        return self.page(templates, template_summary)


class TemplateDetailView(TemplateMixin, ProjectAPIView):
    @extend_schema(
        tags=[TAG],
        summary="A template with its labels and latest version",
        parameters=[PROJECT_PARAMETER],
        responses={200: TemplateDetailSerializer, **error_responses(400)},
    )
    def get(self, request, slug: str):
        template = self.template(slug)
        latest = selectors.version_latest(template=template)
        template.latest_number = latest.number if latest else None
        data = {
            **template_summary(template),
            "created_at": template.created_at,
            "latest": version_full(latest) if latest else None,
        }
        return Response(data)


class VersionListView(TemplateMixin, ProjectListAPIView):
    """A template's versions."""

    serializer_class = VersionCreateSerializer
    grants = {"POST": WRITE_VERSIONS}

    @extend_schema(
        tags=[TAG],
        summary="List a template's versions, newest first",
        parameters=[PROJECT_PARAMETER],
        responses={200: VersionSummarySerializer(many=True), **error_responses(400)},
    )
    def get(self, request, slug: str):
        return self.page(selectors.versions_list(template=self.template(slug)), version_summary)

    @extend_schema(
        tags=[TAG],
        summary="Create a version (write scope)",
        description="Validated like the admin: Jinja2 syntax, declared variables, output schema. Content equal "
        "to the latest version creates nothing and answers 200 with created=false.",
        parameters=[PROJECT_PARAMETER],
        request=VersionCreateSerializer,
        responses={
            201: VersionCreatedSerializer,
            200: OpenApiResponse(VersionCreatedSerializer, description="Unchanged: the latest version."),
            **error_responses(400, 403, 415),
        },
    )
    def post(self, request, slug: str):
        template = self.template(slug)
        body = VersionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        change_note = fields.pop("change_note")
        if fields.get("retrieval") is not None:
            fields["retrieval"] = dict(fields["retrieval"])
        content = VersionContent(**fields)
        version, created = version_create(
            template=template, content=content, author=self.actor(), change_note=change_note
        )
        return Response(
            {**version_full(version), "created": created}, status=status.HTTP_201_CREATED if created else 200
        )


class VersionDetailView(TemplateMixin, ProjectAPIView):
    @extend_schema(
        tags=[TAG],
        summary="One version's full content",
        parameters=[PROJECT_PARAMETER],
        responses={200: VersionSerializer, **error_responses(400)},
    )
    def get(self, request, slug: str, number: int):
        version = selectors.version_find(template=self.template(slug), number=number)
        if version is None:
            raise NotFound("No such version.")
        return Response(version_full(version))


class LabelListView(TemplateMixin, ProjectAPIView):
    @extend_schema(
        tags=[TAG],
        summary="A template's labels",
        parameters=[PROJECT_PARAMETER],
        responses={200: LabelSerializer(many=True), **error_responses(400)},
    )
    def get(self, request, slug: str):
        return Response([label_data(label) for label in self.template(slug).labels.all()])


LABEL_NAME = OpenApiParameter("name", str, OpenApiParameter.PATH, description="Label name, e.g. production.")


class LabelDetailView(TemplateMixin, ProjectAPIView):
    grants = {"PUT": WRITE_LABELS, "DELETE": WRITE_LABELS}

    def _name(self, name: str) -> str:
        if len(name) > 60:
            raise ApiError([error("name", "max_length", "A label name has at most 60 characters.")])
        return name

    @extend_schema(
        tags=[TAG],
        summary="Point a label at a version (write scope)",
        description="Publishes or rolls back; recorded in the label history with via=api.",
        parameters=[LABEL_NAME, PROJECT_PARAMETER],
        request=LabelMoveSerializer,
        responses={200: LabelSerializer, **error_responses(400, 403, 415)},
    )
    def put(self, request, slug: str, name: str):
        template = self.template(slug)
        name = self._name(name)
        body = LabelMoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = selectors.version_find(template=template, number=body.validated_data["version"])
        if version is None:
            raise ApiError([error("version", "not_found", f"Template '{slug}' has no such version.")])
        label = label_move(
            template=template,
            name=name,
            version=version,
            actor=self.actor(),
            via="api",
            note=body.validated_data["note"],
        )
        label.version = version
        return Response(label_data(label))

    @extend_schema(
        tags=[TAG],
        summary="Remove a label (write scope)",
        parameters=[LABEL_NAME, PROJECT_PARAMETER],
        request=None,
        responses={204: None, **error_responses(400, 403)},
    )
    def delete(self, request, slug: str, name: str):
        template = self.template(slug)
        name = self._name(name)
        if selectors.template_label(template=template, name=name) is None:
            raise NotFound(f"Template '{slug}' has no label '{name}'.")
        label_remove(template=template, name=name, actor=self.actor(), via="api")
        return Response(status=status.HTTP_204_NO_CONTENT)
