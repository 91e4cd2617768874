"""Jobs in the back office: the list and detail of queued work, and the pages that queue it.

"Ingest a range", "Normalize a range" and "Recompute a range" are forms over
`operations.services.job_enqueue`; each answers 403 to a user without the job's capability and
shows the service's refusal on the form, with nothing written.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts.access import has_capability, scoped
from accounts.admin_scope import ScopedAdminMixin
from aurora.common.admin import ReadOnlyAdminMixin, pretty_json
from chains.models import Chain
from operations.models import Job, JobStatus, JobType
from operations.services import REQUIRED_CAPABILITY, JobError, job_enqueue

RUN_MODELS = {
    JobType.INGEST_RANGE: "ingestion_ingestionrun",
    JobType.NORMALIZE_RANGE: "canonical_normalizationrun",
    JobType.RECOMPUTE_RANGE: "commissions_computationrun",
}
PAGES: dict[str, JobType] = {
    "ingest": JobType.INGEST_RANGE,
    "normalize": JobType.NORMALIZE_RANGE,
    "recompute": JobType.RECOMPUTE_RANGE,
}


class RangeForm(forms.Form):
    chain = forms.ModelChoiceField(queryset=Chain.objects.none(), empty_label=None)
    from_period = forms.IntegerField(
        min_value=0, label="From period", help_text="Solana: an epoch, e.g. 850."
    )
    to_period = forms.IntegerField(min_value=0, label="To period", help_text="Inclusive.")

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["chain"].queryset = scoped(Chain.objects.filter(is_active=True), user).order_by("id")  # type: ignore[attr-defined]

    def parameters(self) -> dict[str, Any]:
        return {
            "chain_id": self.cleaned_data["chain"].pk,
            "from_period": self.cleaned_data["from_period"],
            "to_period": self.cleaned_data["to_period"],
        }


class IngestForm(RangeForm):
    replay = forms.BooleanField(
        required=False,
        label="Replay recorded responses",
        help_text="Serve the recorded provider responses instead of calling the providers.",
    )

    def parameters(self) -> dict[str, Any]:
        return {**super().parameters(), "replay": self.cleaned_data["replay"]}


FORMS: dict[JobType, type[RangeForm]] = {
    JobType.INGEST_RANGE: IngestForm,
    JobType.NORMALIZE_RANGE: RangeForm,
    JobType.RECOMPUTE_RANGE: RangeForm,
}

DETAIL_FIELDS = (
    "job_type",
    "status",
    "progress_bar",
    "progress_message",
    "parameters_display",
    "requested_by",
    "correlation_id",
    "created_at",
    "started_at",
    "finished_at",
    "heartbeat_at",
    "recoveries",
    "resends",
    "duration_display",
    "error_display",
    "runs_table",
    "result_display",
)


@admin.register(Job)
class JobAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[Job]):
    list_display = [
        "created_at",
        "job_type",
        "parameters_summary",
        "status",
        "progress_bar",
        "requested_by",
        "duration_display",
    ]
    list_filter = ["status", "job_type"]
    list_select_related = ["requested_by"]
    search_fields = ["=id", "=correlation_id", "requested_by__username", "error"]
    date_hierarchy = "created_at"
    fields = DETAIL_FIELDS
    readonly_fields = DETAIL_FIELDS

    # ---- display ---------------------------------------------------------------------------------

    @admin.display(description="parameters")
    def parameters_summary(self, obj: Job) -> str:
        text = obj.describe_range()
        return f"{text} (replay)" if (obj.parameters or {}).get("replay") else text

    @admin.display(description="parameters")
    def parameters_display(self, obj: Job) -> SafeString:
        return pretty_json(obj.parameters)

    @admin.display(description="progress")
    def progress_bar(self, obj: Job) -> SafeString:
        return format_html(
            '<progress class="job-progress" value="{}" max="100" title="{}">{}%</progress> {}%',
            obj.progress,
            obj.progress_message,
            obj.progress,
            obj.progress,
        )

    @admin.display(description="duration")
    def duration_display(self, obj: Job) -> str:
        if obj.duration is not None:
            return f"{obj.duration.total_seconds():.1f} s"
        return "running" if obj.status == JobStatus.RUNNING else "-"

    @admin.display(description="error")
    def error_display(self, obj: Job) -> SafeString:
        if not obj.error:
            return format_html("{}", "-")
        return format_html('<pre class="aurora-pre">{}</pre>', obj.error)

    @admin.display(description="runs")
    def runs_table(self, obj: Job) -> SafeString:
        runs = (obj.result or {}).get("runs") or []
        if not runs:
            return format_html("{}", "-")
        model = RUN_MODELS[JobType(obj.job_type)]
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td><a href="{}">{}</a></td><td>{}</td><td>{}</td></tr>',
            (
                (
                    run.get("period") or "-",
                    reverse(f"admin:{model}_change", args=[run["run_id"]]),
                    run["run_id"],
                    run.get("status", ""),
                    run.get("error") or "",
                )
                for run in runs
            ),
        )
        return format_html(
            "<table><thead><tr><th>period</th><th>run</th><th>status</th><th>error</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="result")
    def result_display(self, obj: Job) -> SafeString:
        return pretty_json((obj.result or {}).get("counts", {}))

    # ---- pages -----------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        pages = [
            path(f"{slug}/", self.admin_site.admin_view(self._page(job_type)), name=f"operations_job_{slug}")
            for slug, job_type in PAGES.items()
        ]
        return [*pages, *super().get_urls()]

    def _page(self, job_type: JobType) -> Any:
        def view(request: HttpRequest) -> HttpResponse:
            return self.enqueue_view(request, job_type)

        return view

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        buttons = [
            (reverse(f"admin:operations_job_{slug}"), job_type.label)
            for slug, job_type in PAGES.items()
            if has_capability(request.user, REQUIRED_CAPABILITY[job_type])
        ]
        return super().changelist_view(request, {**(extra_context or {}), "job_buttons": buttons})

    def enqueue_view(self, request: HttpRequest, job_type: JobType) -> HttpResponse:
        if not has_capability(request.user, REQUIRED_CAPABILITY[job_type]):
            raise PermissionDenied
        form_class = FORMS[job_type]
        form = form_class(request.POST if request.method == "POST" else None, user=request.user)
        if request.method == "POST" and form.is_valid():
            try:
                job = job_enqueue(job_type=job_type, parameters=form.parameters(), actor=request.user)  # type: ignore[arg-type]
            except JobError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, f"Queued: {job_type.label.lower()} {job.describe_range()}.")
                return HttpResponseRedirect(reverse("admin:operations_job_change", args=[job.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": job_type.label,
            "form": form,
            "job_type": job_type,
        }
        return TemplateResponse(request, "admin/operations/job/enqueue.html", context)
