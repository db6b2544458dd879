"""Datasets (with CSV/JSONL import and export), experiment scorers and batches, for scripts.

Writes need an API key with the write scope (or the editor role in the browsable API).
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from promptlib.api.base import WRITE_GRANTS, ProjectAPIView, ProjectListAPIView, error_responses, validated
from promptlib.api.errors import ApiError, error
from promptlib.api.permissions import PROJECT_PARAMETER
from promptlib.batches.api.serializers import (
    BatchInSerializer,
    BatchItemOutSerializer,
    BatchOutSerializer,
    BatchPatchSerializer,
    BatchProgressSerializer,
    CasesImportSerializer,
    DatasetInSerializer,
    DatasetOutSerializer,
    ScorerInSerializer,
    ScorerOutSerializer,
)
from promptlib.batches.datasets import cases_export, cases_import, dataset_create
from promptlib.batches.models import Batch, BatchItem, Dataset, ScorerConfig
from promptlib.batches.scorer_configs import scorer_config_create
from promptlib.batches.selectors import (
    batch_error_summary,
    batch_find,
    batch_items_list,
    batch_progress,
    batch_variant_metrics,
    batches_list,
    dataset_find,
    datasets_list,
)
from promptlib.batches.services import BatchSettings, batch_cancel, batch_create, batch_rerun_failed, batch_start
from promptlib.core.errors import DomainError
from promptlib.core.models import Project
from promptlib.experiments.models import Experiment
from promptlib.experiments.selectors import experiment_find
from promptlib.prompts.selectors import template_find
from promptlib.providers.selectors import provider_config_find
from promptlib.scorers import ScorerError


def _dataset_dict(d: Dataset) -> dict:
    cases = d.case_total if hasattr(d, "case_total") else d.cases.count()
    template = d.template.slug if d.template_id else None
    return {"id": d.pk, "name": d.name, "description": d.description, "template": template, "version": d.version,
            "cases": cases}  # fmt: skip


def _dataset(project_id: int, ref: str) -> Dataset:
    dataset = dataset_find(project_id=project_id, ref=ref)
    if dataset is None:
        raise NotFound("No such dataset.")
    return dataset


class DatasetListView(ProjectListAPIView):
    grants = WRITE_GRANTS
    serializer_class = DatasetOutSerializer

    @extend_schema(
        tags=["datasets"],
        summary="List datasets",
        parameters=[PROJECT_PARAMETER],
        responses={200: DatasetOutSerializer(many=True), **error_responses()},
    )
    def get(self, request):
        return self.page(datasets_list(project_id=self.project_id), _dataset_dict)

    @extend_schema(
        tags=["datasets"],
        summary="Create a dataset",
        parameters=[PROJECT_PARAMETER],
        request=DatasetInSerializer,
        responses={201: DatasetOutSerializer, **error_responses(400, 403, 415)},
    )
    def post(self, request):
        data = validated(DatasetInSerializer, request.data)
        slug, template = data.pop("template"), None
        if slug:
            template = template_find(project_id=self.project_id, slug=slug)
            if template is None:
                raise DomainError("No such template in this project.", field="template")
        dataset = dataset_create(project=Project.objects.get(pk=self.project_id), template=template, **data)
        return Response(_dataset_dict(dataset), status=201)


class DatasetDetailView(ProjectAPIView):
    @extend_schema(
        tags=["datasets"],
        summary="A dataset",
        parameters=[PROJECT_PARAMETER],
        responses={200: DatasetOutSerializer, **error_responses()},
    )
    def get(self, request, ref: str):
        return Response(_dataset_dict(_dataset(self.project_id, ref)))


class DatasetCasesView(ProjectAPIView):
    grants = WRITE_GRANTS

    @extend_schema(
        tags=["datasets"],
        summary="Export the cases as CSV or JSONL",
        responses={200: bytes, **error_responses(400)},
        parameters=[
            PROJECT_PARAMETER,
            OpenApiParameter("as", str, enum=["csv", "jsonl"], description="File format (default jsonl)."),
        ],
    )
    def get(self, request, ref: str):
        dataset = _dataset(self.project_id, ref)
        fmt = request.query_params.get("as", "jsonl")
        body = cases_export(dataset=dataset, fmt=fmt)
        response = HttpResponse(body, content_type="text/csv" if fmt == "csv" else "application/x-ndjson")
        response["Content-Disposition"] = f'attachment; filename="{dataset.name}.{fmt}"'
        return response

    @extend_schema(
        tags=["datasets"],
        summary="Import cases from CSV or JSONL text (all rows or none)",
        parameters=[PROJECT_PARAMETER],
        request=CasesImportSerializer,
        responses={201: DatasetOutSerializer, **error_responses(400, 403, 415)},
    )
    def post(self, request, ref: str):
        dataset = _dataset(self.project_id, ref)
        data = validated(CasesImportSerializer, request.data)
        cases_import(dataset=dataset, content=data["content"], fmt=data["format"], replace=data["replace"])
        return Response(_dataset_dict(dataset), status=201)


def _experiment(project_id: int, pk: int) -> Experiment:
    experiment = experiment_find(project_id=project_id, pk=pk)
    if experiment is None:
        raise NotFound("No such experiment.")
    return experiment


def _scorer_dict(s: ScorerConfig) -> dict:
    return {
        "id": s.pk,
        "kind": s.kind,
        "name": s.name,
        "config": s.config,
        "order": s.order,
        "counts_for_success": s.counts_for_success,
    }


class ScorerListView(ProjectAPIView):
    grants = WRITE_GRANTS

    @extend_schema(
        tags=["experiments"],
        summary="The experiment's scorers",
        parameters=[PROJECT_PARAMETER],
        responses={200: ScorerOutSerializer(many=True), **error_responses()},
    )
    def get(self, request, pk: int):
        experiment = _experiment(self.project_id, pk)
        return Response([_scorer_dict(s) for s in experiment.scorers.all()])

    @extend_schema(
        tags=["experiments"],
        summary="Add a scorer to the experiment",
        parameters=[PROJECT_PARAMETER],
        request=ScorerInSerializer,
        responses={201: ScorerOutSerializer, **error_responses(400, 403, 415)},
    )
    def post(self, request, pk: int):
        experiment = _experiment(self.project_id, pk)
        data = validated(ScorerInSerializer, request.data)
        try:
            scorer = scorer_config_create(experiment=experiment, **data)
        except ScorerError as exc:
            field = exc.field if exc.field in ("kind", "name") else f"config.{exc.field}"
            raise ApiError([error(field, "invalid", exc.message)]) from exc
        return Response(_scorer_dict(scorer), status=201)


def _batch_dict(batch: Batch) -> dict:
    return {
        **batch_progress(batch=batch),
        "experiment": batch.experiment_id,
        "dataset": batch.dataset_id,
        "repeats": batch.repeats,
        "variants": batch_variant_metrics(batch=batch),
        "errors": batch_error_summary(batch=batch),
    }


def _item_dict(item: BatchItem) -> dict:
    return {
        "id": item.pk,
        "variant": item.variant.key,
        "case": item.case_id,
        "repeat": item.repeat,
        "status": item.status,
        "attempts": item.attempts,
        "error_kind": item.error_kind,
        "error": item.error,
    }


def _batch(project_id: int, pk: int) -> Batch:
    batch = batch_find(project_id=project_id, pk=pk)
    if batch is None:
        raise NotFound("No such batch.")
    return batch


class BatchListView(ProjectListAPIView):
    grants = WRITE_GRANTS
    serializer_class = BatchProgressSerializer

    @extend_schema(
        tags=["batches"],
        summary="List batches, newest first",
        parameters=[PROJECT_PARAMETER],
        responses={200: BatchProgressSerializer(many=True), **error_responses()},
    )
    def get(self, request):
        return self.page(batches_list(project_id=self.project_id), lambda b: batch_progress(batch=b))

    @extend_schema(
        tags=["batches"],
        summary="Create a batch (variants × cases × repeats) and start it",
        parameters=[PROJECT_PARAMETER],
        request=BatchInSerializer,
        responses={201: BatchOutSerializer, **error_responses(400, 403, 415)},
    )
    def post(self, request):
        data = validated(BatchInSerializer, request.data)
        experiment = experiment_find(project_id=self.project_id, pk=data["experiment"])
        if experiment is None:
            raise ApiError([error("experiment", "not_found", "No such experiment in this project.")])
        dataset = dataset_find(project_id=self.project_id, ref=data["dataset"])
        if dataset is None:
            raise ApiError([error("dataset", "not_found", "No such dataset in this project.")])
        provider = None
        if data["provider"]:
            provider = provider_config_find(project_id=self.project_id, name=data["provider"])
            if provider is None:
                raise ApiError([error("provider", "not_found", f"No provider named '{data['provider']}'.")])
        settings = BatchSettings(
            experiment=experiment,
            dataset=dataset,
            provider=provider,
            model=data["model"],
            repeats=data["repeats"],
            tags=data["tags"],
            variant_keys=data["variants"] or (),
            use_cache=data["use_cache"],
        )
        batch = batch_create(
            settings=settings,
            created_by=self.actor(),
        )
        if data["start"]:
            batch = batch_start(batch=batch)
        return Response(_batch_dict(batch), status=201)


class BatchDetailView(ProjectAPIView):
    grants = WRITE_GRANTS

    @extend_schema(
        tags=["batches"],
        summary="A batch: progress and per-variant metrics",
        parameters=[PROJECT_PARAMETER],
        responses={200: BatchOutSerializer, **error_responses()},
    )
    def get(self, request, pk: int):
        return Response(_batch_dict(_batch(self.project_id, pk)))

    @extend_schema(
        tags=["batches"],
        summary="Start (status=running) or cancel (status=cancelled) a batch",
        parameters=[PROJECT_PARAMETER],
        request=BatchPatchSerializer,
        responses={200: BatchOutSerializer, **error_responses(400, 403, 415)},
    )
    def patch(self, request, pk: int):
        batch = _batch(self.project_id, pk)
        status = validated(BatchPatchSerializer, request.data)["status"]
        batch = batch_start(batch=batch) if status == Batch.Status.RUNNING else batch_cancel(batch=batch)
        return Response(_batch_dict(batch))


class BatchProgressView(ProjectAPIView):
    @extend_schema(
        tags=["batches"],
        summary="Live progress: counts, calls/s, ETA",
        parameters=[PROJECT_PARAMETER],
        responses={200: BatchProgressSerializer, **error_responses()},
    )
    def get(self, request, pk: int):
        return Response(batch_progress(batch=_batch(self.project_id, pk)))


class BatchItemListView(ProjectListAPIView):
    serializer_class = BatchItemOutSerializer

    @extend_schema(
        tags=["batches"],
        summary="The batch's calls in order, each with its error (e.g. ?status=failed)",
        parameters=[
            PROJECT_PARAMETER,
            OpenApiParameter("status", str, enum=BatchItem.Status.values, description="Only calls in this state."),
        ],
        responses={200: BatchItemOutSerializer(many=True), **error_responses(400)},
    )
    def get(self, request, pk: int):
        batch = _batch(self.project_id, pk)
        status = request.query_params.get("status", "")
        if status and status not in BatchItem.Status.values:
            allowed = ", ".join(BatchItem.Status.values)
            raise ApiError([error("status", "invalid", f"Unknown status '{status[:40]}'; use one of {allowed}.")])
        return self.page(batch_items_list(batch=batch, status=status), _item_dict)


class BatchRerunView(ProjectAPIView):
    grants = WRITE_GRANTS

    @extend_schema(
        tags=["batches"],
        summary="Re-run the failed calls of a finished batch",
        request=None,
        parameters=[PROJECT_PARAMETER],
        responses={201: BatchOutSerializer, **error_responses(400, 403)},
    )
    def post(self, request, pk: int):
        batch = _batch(self.project_id, pk)
        batch_rerun_failed(batch=batch)
        return Response(_batch_dict(batch), status=201)


urlpatterns_v1 = [
    ("datasets", DatasetListView, "dataset-list"),
    ("datasets/<str:ref>", DatasetDetailView, "dataset-detail"),
    ("datasets/<str:ref>/cases", DatasetCasesView, "dataset-cases"),
    ("experiments/<int:pk>/scorers", ScorerListView, "experiment-scorers"),
    ("batches", BatchListView, "batch-list"),
    ("batches/<int:pk>", BatchDetailView, "batch-detail"),
    ("batches/<int:pk>/progress", BatchProgressView, "batch-progress"),
    ("batches/<int:pk>/items", BatchItemListView, "batch-items"),
    ("batches/<int:pk>/reruns", BatchRerunView, "batch-reruns"),
]
