from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api import auth, views

app_name = "api"

urlpatterns = [
    path("auth/token", auth.TokenView.as_view(), name="token"),
    path("auth/token/refresh", auth.RefreshView.as_view(), name="token_refresh"),
    path("chains", views.ChainListView.as_view(), name="chains"),
    path("chains/<str:chain_id>/periods", views.PeriodListView.as_view(), name="periods"),
    path(
        "chains/<str:chain_id>/validators/<str:validator_key>/pnl",
        views.ValidatorPnlView.as_view(),
        name="validator_pnl",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^.*$", views.NotFoundView.as_view(), name="not_found"),
]
