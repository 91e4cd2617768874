from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from portal.views import home


def liveness(request: HttpRequest) -> JsonResponse:
    """The process is up and answering; readiness checks come with the operations layer."""
    return JsonResponse({"status": "ok"})


admin.site.site_header = "Aurora back office"
admin.site.site_title = "Aurora"
admin.site.index_title = "Validator P&L and partner commissions"

urlpatterns = [
    path("", home, name="root"),
    path("portal/", include("portal.urls")),
    path("v1/", include("api.urls")),
    path("admin/", admin.site.urls),
    path("health", liveness, name="health"),
]
