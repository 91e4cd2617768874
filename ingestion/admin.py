from typing import Any

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts.admin_scope import ScopedAdminMixin
from aurora.common.admin import ReadOnlyAdminMixin, pretty_json
from ingestion.models import IngestionRun, IngestionStatus, StagingPayload

FAILURE_COLUMNS = ("validator", "provider", "data_type", "kind", "endpoint", "reason")
# Classes of static/aurora/admin.css (a style attribute would be refused by the CSP).
STATUS_CLASSES: dict[str, str] = {
    IngestionStatus.SUCCESS: "aurora-status-ok",
    IngestionStatus.PARTIAL: "aurora-status-warn",
    IngestionStatus.FAILED: "aurora-status-bad",
}


RUN_FIELDS: tuple[str, ...] = (
    "chain",
    "period",
    "status_badge",
    "started_at",
    "completed_at",
    "duration",
    "items_total",
    "items_succeeded",
    "items_skipped",
    "items_failed",
    "records_fetched",
    "records_staged",
    "error_message",
    "failure_list",
    "run_metadata",
)


@admin.register(IngestionRun)
class IngestionRunAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[IngestionRun]):
    list_display = [
        "started_at",
        "chain",
        "period",
        "status_badge",
        "items_total",
        "items_succeeded",
        "items_skipped",
        "items_failed",
        "records_staged",
        "duration",
    ]
    list_filter = ["status", "chain"]
    list_select_related = ["chain", "period"]
    search_fields = ["=id", "period__period_identifier", "error_message"]
    date_hierarchy = "started_at"
    fields = RUN_FIELDS
    readonly_fields = RUN_FIELDS

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: IngestionRun) -> SafeString:
        status_class = STATUS_CLASSES.get(obj.status)
        if status_class is None:
            return format_html("{}", obj.get_status_display())
        return format_html('<strong class="{}">{}</strong>', status_class, obj.get_status_display())

    @admin.display(description="duration")
    def duration(self, obj: IngestionRun) -> str:
        if obj.completed_at is None:
            return "-"
        return f"{(obj.completed_at - obj.started_at).total_seconds():.1f} s"

    @admin.display(description="failed items")
    def failure_list(self, obj: IngestionRun) -> SafeString:
        failures = [entry for entry in obj.failures or [] if isinstance(entry, dict)]
        if not failures:
            return format_html("{}", "-")
        header = format_html_join("", "<th>{}</th>", ((name.replace("_", " "),) for name in FAILURE_COLUMNS))
        rows = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (
                    format_html_join(
                        "", "<td>{}</td>", ((entry.get(name) or "-",) for name in FAILURE_COLUMNS)
                    ),
                )
                for entry in failures
            ),
        )
        more = ""
        if obj.items_failed > len(failures):
            more = f"{obj.items_failed - len(failures)} more failed items are not listed."
        return format_html(
            '<table class="ingestion-failures"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>'
            '<p class="help">{}</p>',
            header,
            rows,
            more,
        )

    @admin.display(description="metadata")
    def run_metadata(self, obj: IngestionRun) -> Any:
        return pretty_json(obj.metadata)


PAYLOAD_FIELDS: tuple[str, ...] = (
    "run",
    "chain",
    "period",
    "validator_key",
    "provider",
    "provider_version",
    "data_type",
    "request_key",
    "request_sent",
    "fetch_timestamp",
    "response_hash",
    "payload",
)


@admin.register(StagingPayload)
class StagingPayloadAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[StagingPayload]):
    list_display = [
        "fetch_timestamp",
        "chain",
        "period",
        "validator_key",
        "provider",
        "data_type",
        "request_key",
    ]
    list_filter = ["data_type", "chain", "provider"]
    list_select_related = ["chain", "period", "provider"]
    search_fields = ["validator_key", "=response_hash", "request_key"]
    raw_id_fields = ["run", "period"]
    date_hierarchy = "fetch_timestamp"
    show_full_result_count = False
    fields = PAYLOAD_FIELDS
    readonly_fields = PAYLOAD_FIELDS

    @admin.display(description="request")
    def request_sent(self, obj: StagingPayload) -> Any:
        return pretty_json(obj.request)

    @admin.display(description="raw payload")
    def payload(self, obj: StagingPayload) -> Any:
        return pretty_json(obj.raw_payload)
