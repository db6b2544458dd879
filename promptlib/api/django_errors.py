"""Under /api/, the answers Django itself gives (not DRF) in the API's JSON error shape.

Django answers a server error, a suspicious request and an oversized body with an HTML page; a
script reading {"errors": [...]} then fails on the page instead of on the error. The middleware
refuses, before any view reads the request, a body over DATA_UPLOAD_MAX_MEMORY_SIZE (413; a file
uploaded to a knowledge base may be up to PROMPTLIB_KNOWLEDGE_MAX_UPLOAD_BYTES) and a NUL
character in the path or query (400: PostgreSQL refuses NUL in text). The handlers (config/urls.py)
answer JSON under /api/ and Django's own page elsewhere; Django still logs the error as usual.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views import defaults

from promptlib.api.errors import error

API_PREFIX = "/api/"
# Where files come as multipart bodies, larger than other requests (the form's own fields add a little).
FILE_UPLOAD_PATH = re.compile(r"^/api/v1/knowledge-bases/[^/]+/documents/?$")
FILE_UPLOAD_SLACK = 64 * 1024


def _is_api(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


def _answer(status: int, field: str, code: str, message: str) -> JsonResponse:
    return JsonResponse({"errors": [error(field, code, message)]}, status=status)


def body_limit() -> int | None:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def too_large() -> JsonResponse:
    return _answer(413, "", "too_large", f"The request body is larger than {body_limit()} bytes.")


def _file_upload(request) -> bool:
    return bool(FILE_UPLOAD_PATH.match(request.path_info)) and request.META.get("CONTENT_TYPE", "").startswith(
        "multipart/form-data"
    )


def _refusal(request) -> JsonResponse | None:
    limit = body_limit()
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0  # Django and the parser refuse a malformed length themselves
    if _file_upload(request):
        cap = settings.PROMPTLIB_KNOWLEDGE_MAX_UPLOAD_BYTES
        if length > cap + FILE_UPLOAD_SLACK:
            mb = f"{length / 1024 / 1024:.0f} MB"
            return _answer(
                413, "file", "too_large", f"The file is {mb}; the largest accepted is {cap // 1024 // 1024} MB."
            )
    elif limit is not None and length > limit:
        return too_large()
    if "\x00" in request.path_info:
        return _answer(400, "path", "invalid", "The URL contains a NUL character.")
    query = request.META.get("QUERY_STRING", "")
    if "%00" in query or "\x00" in query:  # parse the query (to name the parameter) only then
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return _answer(400, name.replace("\x00", ""), "invalid", "The query contains a NUL character.")
    return None


class ApiRequestGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _is_api(request):
            refused = _refusal(request)
            if refused is not None:
                return refused
        return self.get_response(request)


def bad_request(request, exception=None):
    """handler400: suspicious requests (and a body Django found too large while reading it)."""
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return too_large()
    return _answer(400, "", "bad_request", "The request could not be understood.")


def server_error(request):
    """handler500: an unexpected error, with no detail (DEBUG off; the log has the traceback)."""
    if not _is_api(request):
        return defaults.server_error(request)
    return _answer(500, "", "server_error", "Something went wrong on the server; it has been logged.")
