"""The one shape of a refused request in the services: what is wrong, on which field, with a stable code.

The admin shows `message` next to `field`; the API answers {"field", "code", "message"}.
"""

from __future__ import annotations


class DomainError(Exception):
    default_field = ""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = self.default_field if field is None else field
        self.code = code
