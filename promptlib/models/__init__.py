"""Models, one module per area. Import them here so Django and callers find them in one place."""

from .apikeys import ApiKey
from .batches import Batch, BatchItem, BatchSchedule, Review, ScorerConfig
from .datasets import Dataset, DatasetCase
from .experiments import Experiment, Variant
from .outcomes import OutcomeEvent
from .projects import Membership, Project, Role
from .providers import ModelPrice, ProviderConfig
from .rollups import BatchCaseSummary, BatchLatencyCount, BatchRollup, BatchVariantSummary
from .templates import Label, LabelEvent, Template, Version, VersionQuerySet

__all__ = [
    "Batch",
    "BatchCaseSummary",
    "BatchLatencyCount",
    "BatchRollup",
    "BatchVariantSummary",
    "BatchItem",
    "BatchSchedule",
    "Dataset",
    "DatasetCase",
    "Review",
    "ScorerConfig",
    "ApiKey",
    "OutcomeEvent",
    "Experiment",
    "Variant",
    "Label",
    "LabelEvent",
    "Membership",
    "ModelPrice",
    "Project",
    "ProviderConfig",
    "Role",
    "Template",
    "Version",
    "VersionQuerySet",
]
