from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Browsers ask for /favicon.ico on pages that name no icon (the API docs); admin pages link it.
    path("favicon.ico", RedirectView.as_view(url=static("promptlib/favicon.svg"), permanent=True)),
    # The experiment dashboard, before the admin's catch-all URLs.
    path("admin/promptlib/experiment/<int:pk>/dashboard/", include("promptlib.analysis.admin.dashboard")),
    path("admin/", admin.site.urls),
]

urlpatterns.append(path("api/", include("promptlib.api.urls")))

# Under /api/ these answer in the API's JSON error shape; elsewhere Django's own pages.
handler400 = "promptlib.api.django_errors.bad_request"
handler500 = "promptlib.api.django_errors.server_error"
