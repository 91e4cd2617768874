from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api import agreement_views, auth, operation_views, partner_views, views

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
    path("agreements", agreement_views.AgreementListView.as_view(), name="agreements"),
    path("agreements/<uuid:agreement_id>", agreement_views.AgreementDetailView.as_view(), name="agreement"),
    path(
        "agreements/<uuid:agreement_id>/versions",
        agreement_views.AgreementVersionListView.as_view(),
        name="agreement_versions",
    ),
    path(
        "agreements/<uuid:agreement_id>/status",
        agreement_views.AgreementStatusView.as_view(),
        name="agreement_status",
    ),
    path("overrides", agreement_views.OverrideListView.as_view(), name="overrides"),
    path("overrides/<uuid:line_id>", agreement_views.OverrideView.as_view(), name="override"),
    path("recompute", operation_views.RecomputeView.as_view(), name="recompute"),
    path("jobs/<uuid:job_id>", operation_views.JobView.as_view(), name="job"),
    path("ingestion/health", operation_views.IngestionHealthView.as_view(), name="ingestion_health"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script from its own URL: no inline script (CSP).
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html"),
        name="docs",
    ),
    re_path(r"^[\s\S]*$", views.NotFoundView.as_view(), name="not_found"),
]
