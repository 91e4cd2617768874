from typing import Any

from django.contrib import admin

from accounts.admin_scope import ScopedAdminMixin
from aurora.common.admin import ReadOnlyAdminMixin, pretty_json
from ingestion.models import IngestionRun, StagingPayload


@admin.register(IngestionRun)
class IngestionRunAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[IngestionRun]):
    list_display = [
        "started_at",
        "chain",
        "period",
        "status",
        "items_succeeded",
        "items_skipped",
        "items_failed",
        "records_staged",
        "duration",
    ]
    list_filter = ["status", "chain"]
    list_select_related = ["chain", "period"]
    search_fields = ["=id", "period__period_identifier", "error_message"]
    raw_id_fields = ["period"]
    date_hierarchy = "started_at"
    exclude = ["failures", "metadata"]
    readonly_fields = ["failure_list", "run_metadata"]

    @admin.display(description="duration")
    def duration(self, obj: IngestionRun) -> str:
        if obj.completed_at is None:
            return "-"
        return f"{(obj.completed_at - obj.started_at).total_seconds():.1f} s"

    @admin.display(description="failed items")
    def failure_list(self, obj: IngestionRun) -> Any:
        return pretty_json(obj.failures)

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
