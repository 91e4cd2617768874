from django.contrib.auth.views import LogoutView
from django.urls import path, re_path

from portal import views

app_name = "portal"

urlpatterns = [
    path("login/", views.PortalLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(next_page="portal:login"), name="logout"),
    path("password/", views.password_change, name="password_change"),
    path("", views.dashboard, name="dashboard"),
    path("commissions/", views.commissions, name="commissions"),
    path("commissions/<str:pk>/", views.line, name="line"),
    path("clients/", views.clients, name="clients"),
    path("clients/<str:pk>/", views.client, name="client"),
    path("statements/", views.statements, name="statements"),
    path("statements/<str:pk>/", views.statement, name="statement"),
    re_path(
        r"^statements/(?P<pk>[^/]+)/download\.(?P<export_format>[a-z]+)$",
        views.statement_document,
        name="statement_document",
    ),
    path("agreements/", views.agreements, name="agreements"),
    path("agreements/<str:pk>/", views.agreement, name="agreement"),
]
