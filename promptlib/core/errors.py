"""The one shape of a refused request: what is wrong, on which field, with a stable code and an HTTP status.

Every service refuses with a DomainError (or a subclass naming its area). The API turns it into
{"errors": [{"field", "code", "message"}]} in one handler (promptlib.api.errors); the admin puts it
on the form field it names with one helper (promptlib.admin.base.form_error_add). A refusal that
reports several problems at once carries them in `errors`.
"""

from __future__ import annotations


class DomainError(Exception):
    default_field = ""
    code = "invalid"
    status = 400  # 409 for a conflict with the current state (e.g. a name taken by a concurrent save)

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        status: int | None = None,
        errors: list[DomainError] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.field = self.default_field if field is None else field
        if code:
            self.code = code
        if status:
            self.status = status
        self.errors = errors or []

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}

    def entries(self) -> list[dict[str, str]]:
        """Each problem as {"field", "code", "message"}: the nested ones if any, else this one."""
        return [e.as_dict() for e in self.errors] if self.errors else [self.as_dict()]
