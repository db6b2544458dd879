"""Django loads an app's models from `<app>.models`; each wing defines its own, and this module only
gathers them. Code imports a model from its wing (promptlib.batches.models), never from here."""

from promptlib.batches.models import (  # noqa: F401
    Batch,
    BatchCaseSummary,
    BatchItem,
    BatchLatencyCount,
    BatchRollup,
    BatchSchedule,
    BatchVariantSummary,
    Dataset,
    DatasetCase,
    Review,
    ScorerConfig,
)
from promptlib.core.models import ApiKey, Membership, Project, Role  # noqa: F401
from promptlib.experiments.models import (  # noqa: F401
    ApplicationMetric,
    Experiment,
    ExposedSubject,
    ExposureCount,
    OutcomeDaySum,
    OutcomeEvent,
    OutcomeSubjectSum,
    Variant,
)
from promptlib.knowledge.models import (  # noqa: F401
    Chunk,
    Document,
    KnowledgeBase,
    Snapshot,
    SnapshotChunk,
    SnapshotLabel,
)
from promptlib.prompts.models import Label, LabelEvent, Template, Version  # noqa: F401
from promptlib.providers.models import ModelPrice, ProviderConfig  # noqa: F401
