"""What every API view shares: project scoping, grants and the documented error responses."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.views import APIView

from promptlib.api.authentication import ApiKeyUser
from promptlib.api.permissions import WRITE_VERSIONS, ProjectAccess, request_principal
from promptlib.api.serializers import ErrorResponseSerializer

_ERROR_TEXT = {
    400: "Invalid input: each entry names the field and the problem.",
    401: "No API key, a malformed one, or an unknown or revoked one.",
    403: "The key lacks the write scope (or the user's role is too low).",
    404: "No such object in this key's project (objects of other projects answer the same).",
    405: "Method not allowed.",
    406: "The Accept header asks for a format this API does not produce.",
    409: "A conflict with the current state (e.g. the name is taken).",
    413: "The body or file is larger than accepted.",
    415: "The body is not application/json.",
    429: "Rate limit exceeded; the Retry-After header says when to try again.",
}


# Grants of the scripting endpoints (providers, datasets, scorers, batches): writes need the write scope.
WRITE_GRANTS = {"POST": WRITE_VERSIONS, "PATCH": WRITE_VERSIONS}


def validated(serializer_class, data) -> dict:
    """The request body checked by the serializer: its validated data, or a 400 naming each problem."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """Documented error responses: always 401, 404, 406 and 429, plus the codes given."""
    wanted = sorted({401, 404, 405, 406, 429, *codes})
    return {code: OpenApiResponse(ErrorResponseSerializer, description=_ERROR_TEXT[code]) for code in wanted}


class ProjectScopedMixin:
    permission_classes = [ProjectAccess]
    # Grant needed per HTTP method (read when absent): see promptlib.api.permissions.
    grants: dict[str, str] = {}

    @property
    def project_id(self) -> int:
        return request_principal(self.request).project_id

    def actor(self):
        """The person behind the request, for history; None for API keys."""
        user = self.request.user
        if isinstance(user, ApiKeyUser) or not user.is_authenticated:
            return None
        return user


class ProjectAPIView(ProjectScopedMixin, APIView):
    pass


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


# A paginated list: subclasses give the queryset and turn rows into dicts. (A comment, not a
# docstring: drf-spectacular would show a docstring as the description of every list operation.)
class ProjectListAPIView(ProjectScopedMixin, GenericAPIView):
    pagination_class = Pagination

    def get_queryset(self):
        # Asked for by the browsable API's filter form, after page() has run.
        return getattr(self, "_listed", None)

    def page(self, queryset, to_dict):
        self._listed = queryset
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response([to_dict(row) for row in page])
