"""Admin sign-in lockout (django-axes): the backend that checks it, and the page a locked client sees."""

from __future__ import annotations

import math

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import admin
from django.template.response import TemplateResponse


class LoginLockoutBackend(AxesStandaloneBackend):
    """Axes' check, skipped when a sign-in has no request (Django's test client `login`, scripts).

    Without a request there is no client address to lock; every sign-in form (the admin's, the
    browsable API's) passes its request, so those are always checked.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def lockout_response(request, original_response=None, credentials=None) -> TemplateResponse:
    """429 with a plain page saying how long to wait, and the wait in Retry-After."""
    wait = get_cool_off(request).total_seconds()
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in locked",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "minutes": max(1, math.ceil(wait / 60)),
    }
    response = TemplateResponse(request, "admin/promptlib/login_locked.html", context, status=429)
    response["Retry-After"] = str(max(1, math.ceil(wait)))
    return response.render()
