from promptlib.core.errors import DomainError


class KnowledgeError(DomainError):
    """A refused knowledge-base request: an unknown base or snapshot, a bad upload, bad search options."""

    default_field = "knowledge_base"
