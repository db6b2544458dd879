"""Outcome events: one, or up to 1,000 at once; retries are recognised by event_id."""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from promptlib.api.base import ProjectAPIView, error_responses
from promptlib.api.errors import ApiError, error, flatten
from promptlib.api.permissions import PROJECT_PARAMETER
from promptlib.experiments.api.serializers import (
    MAX_EVENTS,
    OutcomeBatchSerializer,
    OutcomeEventSerializer,
    OutcomeResultSerializer,
)
from promptlib.experiments.outcomes import outcomes_record


def _batch(data) -> list | None:
    """The list of events of a batch body, None for a single event; 400 for a malformed batch."""
    if not (isinstance(data, dict) and "events" in data):
        return None
    events = data["events"]
    if not isinstance(events, list):
        raise ApiError([error("events", "not_a_list", "events must be a list of outcome events.")])
    if not 1 <= len(events) <= MAX_EVENTS:
        raise ApiError([error("events", "size", f"Send between 1 and {MAX_EVENTS} events at once.")])
    return events


class OutcomeView(ProjectAPIView):
    @extend_schema(
        tags=["outcomes"],
        summary="Report outcomes",
        description=(
            'One event, or {"events": [...]} with up to 1,000. Each names a render_id (from a render), or '
            "experiment + variant + subject. event_id is unique per project: an event already stored is "
            "counted as a duplicate, never twice. In a batch, invalid events are reported with their index "
            "and the valid ones are stored; a single invalid event answers 400."
        ),
        parameters=[PROJECT_PARAMETER],
        request=PolymorphicProxySerializer(
            component_name="OutcomeRequest",
            serializers=[OutcomeEventSerializer, OutcomeBatchSerializer],
            resource_type_field_name=None,
        ),
        responses={200: OutcomeResultSerializer, **error_responses(400, 415)},
    )
    def post(self, request):
        project_id = self.project_id
        events = _batch(request.data)
        single = events is None
        valid, errors = [], []
        # One serializer for all events: building one per event (DRF deep-copies its fields) was
        # most of the cost of a 1,000-event request.
        validator = OutcomeEventSerializer()
        for index, item in enumerate([request.data] if single else events):
            try:
                valid.append((index, validator.run_validation(item)))
            except serializers.ValidationError as exc:
                errors += [{"index": index, **entry} for entry in flatten(exc.detail)]
        report = outcomes_record(project_id=project_id, events=valid)
        errors = sorted(errors + report.errors, key=lambda entry: entry["index"])
        if single and errors:
            raise ApiError([{k: v for k, v in entry.items() if k != "index"} for entry in errors])
        return Response({"stored": report.stored, "duplicates": report.duplicates, "errors": errors})
