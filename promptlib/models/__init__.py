"""Models, one module per area. Import them here so Django and callers find them in one place."""

from .experiments import Experiment, Variant
from .projects import Membership, Project, Role
from .templates import Label, LabelEvent, Template, Version, VersionQuerySet

__all__ = [
    "Experiment",
    "Variant",
    "Label",
    "LabelEvent",
    "Membership",
    "Project",
    "Role",
    "Template",
    "Version",
    "VersionQuerySet",
]
