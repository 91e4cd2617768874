from django.contrib import admin
from django.urls import include, path

from api import API_PREFIX
from aurora import probes
from portal.views import home

# Under /v1/ these answer in the API's JSON envelope; elsewhere they are Django's pages.
handler400 = "api.errors.bad_request"
handler403 = "api.errors.permission_denied"
handler404 = "api.errors.page_not_found"
handler500 = "api.errors.server_error"

admin.site.site_header = "Aurora back office"
admin.site.site_title = "Aurora"
admin.site.index_title = "Validator P&L and partner commissions"

urlpatterns = [
    path("", home, name="root"),
    path("portal/", include("portal.urls")),
    path(API_PREFIX.lstrip("/"), include("api.urls")),
    path("admin/", admin.site.urls),
    # Probes and metrics: answered by aurora.probes.ProbeMiddleware before the rest of the stack.
    path("health", probes.liveness, name="health"),
    path("health/ready", probes.readiness, name="health_ready"),
    path("health/ingestion", probes.ingestion, name="health_ingestion"),
    path("metrics", probes.metrics_view, name="metrics"),
]
