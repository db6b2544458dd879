"""Experiments, read-only here: they are created and run in the admin."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from promptlib.api import selectors
from promptlib.api.permissions import PROJECT_PARAMETER
from promptlib.api.serializers import ExperimentDetailSerializer, ExperimentSummarySerializer
from promptlib.api.views.base import ProjectAPIView, ProjectListAPIView, error_responses
from promptlib.models import Experiment

TAG = "experiments"


class ExperimentFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Experiment.Status.choices, required=False)
    template = serializers.SlugField(max_length=120, required=False, help_text="Template slug.")


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


class ExperimentListView(ProjectListAPIView):
    """Experiments of the project, newest first; filter by status or template."""

    serializer_class = ExperimentSummarySerializer

    @extend_schema(
        tags=[TAG],
        summary="List experiments",
        parameters=[ExperimentFilterSerializer, PROJECT_PARAMETER],
        responses={200: ExperimentSummarySerializer(many=True), **error_responses(400)},
    )
    def get(self, request):
        filters = ExperimentFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        experiments = selectors.experiments_list(project_id=self.project_id, **filters.validated_data)
        return self.page(experiments, experiment_summary)


class ExperimentDetailView(ProjectAPIView):
    @extend_schema(
        tags=[TAG],
        summary="An experiment with per-variant outcome counts",
        parameters=[PROJECT_PARAMETER],
        responses={200: ExperimentDetailSerializer, **error_responses(400)},
    )
    def get(self, request, pk: int):
        experiment = selectors.experiment_find(project_id=self.project_id, pk=pk)
        if experiment is None:
            raise NotFound("No such experiment.")
        counts = selectors.experiment_counts(experiment=experiment)
        data = experiment_summary(experiment)
        data["variants"] = [
            {**_variant(v), **counts.get(v.pk, {"subjects": 0, "metrics": {}})} for v in experiment.variants.all()
        ]
        return Response(data)
