from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # The experiment dashboard, before the admin's catch-all URLs.
    path("admin/promptlib/experiment/<int:pk>/dashboard/", include("promptlib.admin.experiment_dashboard")),
    path("admin/", admin.site.urls),
]

try:  # the REST API is optional while its package is being built
    from promptlib.api import urls as api_urls
except ImportError:  # pragma: no cover
    api_urls = None
if api_urls is not None:
    urlpatterns.append(path("api/", include(api_urls)))
