"""Experiments: list, read, create, and change (fields while a draft; status to start, pause, finish).

State changes are a PATCH of the resource's status, like batches: {"status": "running"} starts or
resumes, "paused" pauses, "finished" ends it. They need the publisher role (or a write key), as in
the admin; a state the experiment cannot leave for the one asked answers 409 Conflict.
"""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from promptlib.api.base import ProjectAPIView, ProjectListAPIView, error_responses
from promptlib.api.errors import ApiError, error
from promptlib.api.permissions import PROJECT_PARAMETER, WRITE_LABELS, WRITE_VERSIONS, request_principal
from promptlib.api.serializers import ErrorResponseSerializer
from promptlib.experiments.api.serializers import (
    ExperimentChangeSerializer,
    ExperimentCreateSerializer,
    ExperimentDetailSerializer,
    ExperimentFilterSerializer,
    ExperimentSummarySerializer,
)
from promptlib.experiments.models import Experiment
from promptlib.experiments.selectors import (
    experiment_counts,
    experiment_find,
    experiment_variants_same,
    experiments_list,
)
from promptlib.experiments.services import (
    VariantSpec,
    experiment_create,
    experiment_status_set,
    experiment_update,
    experiment_variants_set,
)
from promptlib.prompts.models import Template
from promptlib.prompts.selectors import template_find, version_find

TAG = "experiments"


def _variant(variant) -> dict:
    return {
        "key": variant.key,
        "version": variant.version.number,
        "weight": variant.weight,
        "is_control": variant.is_control,
    }


def experiment_summary(experiment: Experiment) -> dict:
    return {
        "id": experiment.pk,
        "name": experiment.name,
        "description": experiment.description,
        "template": experiment.template.slug,
        "status": experiment.status,
        "primary_metric": experiment.primary_metric,
        "guardrail_metrics": list(experiment.guardrail_metrics or []),
        "minimum_effect": experiment.minimum_effect,
        "created_at": experiment.created_at,
        "started_at": experiment.started_at,
        "finished_at": experiment.finished_at,
        "variants": [_variant(v) for v in experiment.variants.all()],
    }


def experiment_detail(experiment: Experiment) -> dict:
    """The summary with per-variant outcome counts: what GET, POST and PATCH answer."""
    counts = experiment_counts(experiment=experiment)
    data = experiment_summary(experiment)
    data["variants"] = [
        {**_variant(v), **counts.get(v.pk, {"subjects": 0, "metrics": {}})} for v in experiment.variants.all()
    ]
    return data


_CONFLICT = {
    409: OpenApiResponse(
        ErrorResponseSerializer,
        description="The experiment's status forbids it: variants, weights and metrics are frozen once started; "
        "a finished experiment cannot restart; a template runs one experiment at a time.",
    )
}


def _variant_specs(template: Template, variants: list[dict]) -> list[VariantSpec]:
    """Version numbers → this template's versions; an unknown number names its variant."""
    specs = []
    for index, variant in enumerate(variants):
        version = version_find(template=template, number=variant["version"])
        if version is None:
            message = f"Template '{template.slug}' has no version {variant['version']}."
            raise ApiError([error(f"variants[{index}].version", "not_found", message)])
        specs.append(
            VariantSpec(key=variant["key"], version=version, weight=variant["weight"], is_control=variant["is_control"])
        )
    return specs


class ExperimentListView(ProjectListAPIView):
    """Experiments of the project, newest first; filter by status or template."""

    serializer_class = ExperimentSummarySerializer
    grants = {"POST": WRITE_VERSIONS}

    @extend_schema(
        tags=[TAG],
        summary="List experiments",
        parameters=[ExperimentFilterSerializer, PROJECT_PARAMETER],
        responses={200: ExperimentSummarySerializer(many=True), **error_responses(400)},
    )
    def get(self, request):
        filters = ExperimentFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        experiments = experiments_list(project_id=self.project_id, **filters.validated_data)
        return self.page(experiments, experiment_summary)

    @extend_schema(
        tags=[TAG],
        summary="Create a draft experiment (write scope)",
        description="Variants name versions of the template by number; exactly one is the control. The "
        "experiment starts as a draft: PATCH its status to running to start it.",
        parameters=[PROJECT_PARAMETER],
        request=ExperimentCreateSerializer,
        responses={201: ExperimentDetailSerializer, **error_responses(400, 403, 415)},
    )
    def post(self, request):
        body = ExperimentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        slug = data.pop("template")
        template = template_find(project_id=self.project_id, slug=slug)
        if template is None:
            raise ApiError([error("template", "not_found", f"No template '{slug}' in this project.")])
        variants = _variant_specs(template, data.pop("variants"))
        created = experiment_create(template=template, variants=variants, created_by=self.actor(), **data)
        experiment = experiment_find(project_id=self.project_id, pk=created.pk)
        location = request.build_absolute_uri(f"{request.path.rstrip('/')}/{created.pk}")
        return Response(experiment_detail(experiment), status=status.HTTP_201_CREATED, headers={"Location": location})


class ExperimentDetailView(ProjectAPIView):
    grants = {"PATCH": WRITE_VERSIONS}

    def _experiment(self, pk: int) -> Experiment:
        experiment = experiment_find(project_id=self.project_id, pk=pk)
        if experiment is None:
            raise NotFound("No such experiment.")
        return experiment

    @extend_schema(
        tags=[TAG],
        summary="An experiment with per-variant outcome counts",
        parameters=[PROJECT_PARAMETER],
        responses={200: ExperimentDetailSerializer, **error_responses(400)},
    )
    def get(self, request, pk: int):
        return Response(experiment_detail(self._experiment(pk)))

    @extend_schema(
        tags=[TAG],
        summary="Change an experiment, or start / pause / finish it (write scope)",
        description="Send only the fields to change. Name and description change any time; variants, "
        "primary_metric, guardrail_metrics and minimum_effect only while it is a draft (409 after). "
        'status: "running" starts or resumes, "paused" pauses, "finished" ends it; this needs the '
        "publisher role in the browsable API. Field changes apply before the status change, all or nothing.",
        parameters=[PROJECT_PARAMETER],
        request=ExperimentChangeSerializer,
        responses={200: ExperimentDetailSerializer, **error_responses(400, 403, 415), **_CONFLICT},
    )
    def patch(self, request, pk: int):
        experiment = self._experiment(pk)
        body = ExperimentChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        target = data.pop("status", None)
        if target is not None and WRITE_LABELS not in request_principal(request).grants:
            raise PermissionDenied("Starting, pausing or finishing an experiment needs the publisher role.")
        with transaction.atomic():
            self._change(experiment, data)
            if target is not None and target != experiment.status:
                experiment_status_set(experiment=experiment, status=target)
        return Response(experiment_detail(self._experiment(pk)))

    def _change(self, experiment: Experiment, data: dict) -> None:
        if "variants" in data:
            specs = _variant_specs(experiment.template, data.pop("variants"))
            if not experiment_variants_same(experiment=experiment, variants=specs):
                experiment_variants_set(experiment=experiment, variants=specs)
        if data:
            experiment_update(
                experiment=experiment,
                name=data.get("name", experiment.name),
                description=data.get("description", experiment.description),
                primary_metric=data.get("primary_metric"),
                guardrail_metrics=data.get("guardrail_metrics"),
                minimum_effect=data.get("minimum_effect"),
            )
