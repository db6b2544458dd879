"""The API under /api/: version 1 routes, the OpenAPI schema and its offline viewers."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from promptlib.api import ping
from promptlib.api.errors import not_found_view
from promptlib.batches.api.views import urlpatterns_v1 as batch_routes
from promptlib.experiments.api import experiments, metrics, outcomes, render
from promptlib.knowledge.api.views import urlpatterns_v1 as knowledge_routes
from promptlib.prompts.api import views as templates
from promptlib.providers.api.views import urlpatterns_v1 as provider_routes

v1 = [
    path("ping", ping.PingView.as_view(), name="ping"),
    path("templates", templates.TemplateListView.as_view(), name="template-list"),
    path("templates/<slug:slug>", templates.TemplateDetailView.as_view(), name="template-detail"),
    path("templates/<slug:slug>/render", render.RenderView.as_view(), name="template-render"),
    path("templates/<slug:slug>/versions", templates.VersionListView.as_view(), name="version-list"),
    path("templates/<slug:slug>/versions/<int:number>", templates.VersionDetailView.as_view(), name="version-detail"),
    path("templates/<slug:slug>/labels", templates.LabelListView.as_view(), name="label-list"),
    path("templates/<slug:slug>/labels/<slug:name>", templates.LabelDetailView.as_view(), name="label-detail"),
    path("outcomes", outcomes.OutcomeView.as_view(), name="outcomes"),
    path("metrics", metrics.ApplicationMetricListView.as_view(), name="metric-list"),
    path("experiments", experiments.ExperimentListView.as_view(), name="experiment-list"),
    path("experiments/<int:pk>", experiments.ExperimentDetailView.as_view(), name="experiment-detail"),
]

v1 += [
    path(route, view.as_view(), name=name) for route, view, name in (*provider_routes, *batch_routes, *knowledge_routes)
]

urlpatterns = [
    path("v1/", include((v1, "promptlib_api"), namespace="v1")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    # Anything else under /api/ answers a JSON 404 rather than Django's HTML page.
    re_path(r"^[\s\S]*$", not_found_view),
]
