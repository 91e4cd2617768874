from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api import auth, partner_views, views

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
    path("partners", partner_views.PartnerListView.as_view(), name="partners"),
    path(
        "partners/<uuid:partner_id>/clients",
        partner_views.PartnerClientListView.as_view(),
        name="partner_clients",
    ),
    path(
        "chains/<str:chain_id>/partners/<uuid:partner_id>/commissions",
        partner_views.PartnerCommissionListView.as_view(),
        name="partner_commissions",
    ),
    path(
        "chains/<str:chain_id>/partners/<uuid:partner_id>/statements/<str:month>",
        partner_views.PartnerStatementView.as_view(),
        name="partner_statement",
    ),
    path(
        "chains/<str:chain_id>/partners/<uuid:partner_id>/statements/<str:month>/export",
        partner_views.PartnerStatementExportView.as_view(),
        name="partner_statement_export",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^.*$", views.NotFoundView.as_view(), name="not_found"),
]
