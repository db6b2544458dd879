"""One error shape for every API response: {"errors": [{"field", "code", "message"}]}.

DRF's own handler still decides the status and headers (Retry-After, WWW-Authenticate); this module
only reshapes the body, and turns every DomainError into its status (400, or 409 for a conflict) with
entries that name the field.
"""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.exceptions import APIException, ErrorDetail, ValidationError
from rest_framework.views import exception_handler as drf_exception_handler

from promptlib.core.errors import DomainError


def error(field: str, code: str, message: str) -> dict[str, str]:
    return {"field": field, "code": code, "message": message}


class ApiError(APIException):
    """Raised by views with ready-made error entries."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, errors: list[dict[str, str]], *, status_code: int = status.HTTP_400_BAD_REQUEST):
        super().__init__(detail=errors[0]["message"], code=errors[0]["code"])
        self.errors = errors
        self.status_code = status_code


def flatten(detail: Any, field: str = "") -> list[dict[str, str]]:
    """DRF's nested validation detail as a flat list with dotted field paths."""
    if isinstance(detail, dict):
        out: list[dict[str, str]] = []
        for key, value in detail.items():
            if isinstance(key, int):  # a ListField's errors are keyed by index
                path = f"{field}[{key}]"
            else:
                name = "" if key in ("non_field_errors", "detail") else str(key)
                path = f"{field}.{name}" if field and name else field or name
            out += flatten(value, path)
        return out
    if isinstance(detail, list):
        out = []
        for index, item in enumerate(detail):
            nested = isinstance(item, dict | list)
            out += flatten(item, f"{field}[{index}]" if nested else field)
        return out
    code = detail.code if isinstance(detail, ErrorDetail) else "invalid"
    return [error(field, code or "invalid", str(detail))]


def api_exception_handler(exc: Exception, context: dict) -> Any:
    if isinstance(exc, DomainError):
        exc = ApiError(exc.entries(), status_code=exc.status)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        body = exc.errors
    elif isinstance(exc, ValidationError):
        body = flatten(exc.detail)
    else:
        detail = exc.detail if isinstance(exc, APIException) else response.data.get("detail", "")
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        body = [error("", code, str(detail))]
    response.data = {"errors": body}
    return response


@csrf_exempt  # API clients send no CSRF token: a POST to a wrong URL is a 404, not a CSRF 403
def not_found_view(request, *args, **kwargs):
    """JSON 404 for unknown URLs under /api/."""
    return JsonResponse({"errors": [error("", "not_found", "No such endpoint.")]}, status=404)
