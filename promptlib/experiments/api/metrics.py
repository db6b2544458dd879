"""Application metrics: list them, and register one with its direction and unit (or change it)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from promptlib.api.base import ProjectListAPIView, error_responses
from promptlib.api.permissions import PROJECT_PARAMETER, WRITE_VERSIONS
from promptlib.api.serializers import FiniteFloatField
from promptlib.core.models import Project
from promptlib.experiments.app_metrics import application_metric_register
from promptlib.experiments.models import METRIC_NAME_MAX, ApplicationMetric

TAG = "experiments"


class ApplicationMetricSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=METRIC_NAME_MAX, help_text="The name your application sends in outcomes.")
    label = serializers.CharField(max_length=120, help_text="What people read on the experiment page.")
    direction = serializers.ChoiceField(choices=ApplicationMetric.Direction.choices)
    kind = serializers.ChoiceField(choices=ApplicationMetric.Kind.choices, default=ApplicationMetric.Kind.RATE)
    unit = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    minimum_effect = FiniteFloatField(
        required=False, allow_null=True, default=None, help_text="Smallest change worth detecting, in the unit."
    )


def _metric(m: ApplicationMetric) -> dict:
    return {
        "name": m.name,
        "label": m.label,
        "direction": m.direction,
        "kind": m.kind,
        "unit": m.unit,
        "minimum_effect": m.minimum_effect,
    }


class ApplicationMetricListView(ProjectListAPIView):
    grants = {"POST": WRITE_VERSIONS}

    @extend_schema(
        tags=[TAG],
        summary="Application metrics and whether higher or lower is better",
        parameters=[PROJECT_PARAMETER],
        responses={200: ApplicationMetricSerializer(many=True), **error_responses(400)},
    )
    def get(self, request):
        return self.page(ApplicationMetric.objects.filter(project_id=self.project_id).order_by("name"), _metric)

    @extend_schema(
        tags=[TAG],
        summary="Register an application metric (or change one registered before)",
        description="Until a metric is registered with a direction it is shown on experiment pages but never names "
        "a winner: a rising complaint rate must not read as an improvement.",
        parameters=[PROJECT_PARAMETER],
        request=ApplicationMetricSerializer,
        responses={201: ApplicationMetricSerializer, **error_responses(400, 403, 415)},
    )
    def post(self, request):
        body = ApplicationMetricSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        project = Project.objects.get(pk=self.project_id)
        metric = application_metric_register(project=project, **body.validated_data)
        return Response(_metric(metric), status=status.HTTP_201_CREATED)
