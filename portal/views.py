"""The partner portal's pages: thin views over `portal.selectors`. A partner reaches only its own
rows; another partner's id answers 404, exactly like an id that does not exist."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.views import LoginView, redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.access import Capability, has_capability
from accounts.audit import audit_record
from accounts.models import AuditAction
from commissions.models import CommissionLine, Statement
from commissions.selectors import RELEASED, amounts_visible
from commissions.services.frozen_documents import partner_fingerprints
from commissions.services.statement_downloads import FORMATS, statement_download
from partners.models import Partner, PartnerClient
from partners.selectors import partner_of
from portal import selectors
from portal.charts import monthly_bars
from portal.forms import LineFilterForm
from serving.answers import AnswerCache, conditional
from serving.versions import one_snapshot

PortalView = Callable[..., HttpResponse]
LINES_PER_PAGE = 50


def home_for(user: Any) -> str:
    """Where a signed-in user belongs: partners in the portal, staff in the back office."""
    if has_capability(user, Capability.VIEW_OWN_PARTNER):
        return reverse("portal:dashboard")
    if getattr(user, "is_staff", False):
        return reverse("admin:index")
    return reverse("portal:login")


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return HttpResponseRedirect(reverse("portal:login"))
    return HttpResponseRedirect(home_for(request.user))


def partner_page(view: PortalView) -> PortalView:
    """Signed-in partner users only: others sign in, staff go to the back office."""

    @wraps(view)
    def page(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("portal:login"))
        if not has_capability(user, Capability.VIEW_OWN_PARTNER):
            if user.is_staff:
                return HttpResponseRedirect(reverse("admin:index"))
            raise PermissionDenied
        partner = partner_of(user)
        if partner is None:
            raise PermissionDenied("this account is not linked to a partner")
        return view(request, partner, *args, **kwargs)

    return page


def kept_page(view: PortalView) -> PortalView:
    """A signed-in user's page replayed from serving.answers while its data hold, with an ETag
    (304 when the browser has it). A replay needs neither the partner checks nor the data: the
    key holds the user and the data version, which every change of access moves (as for the API,
    api.replay). A page is made, checks included, in one snapshot with the version it is kept
    under. The page embeds the CSRF token of the browser's secret, so the key holds that secret's
    digest; a page with a message to show, or before the browser has a CSRF cookie, is made
    afresh and not kept."""

    @wraps(view)
    def page(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        secret = request.COOKIES.get(settings.CSRF_COOKIE_NAME, "")
        usable = (
            request.method == "GET"
            and user.is_authenticated
            and bool(secret)
            and request.META.get("CSRF_COOKIE") == secret
            and not len(messages.get_messages(request))
        )
        browser = hashlib.sha256(secret.encode()).hexdigest()[:32]
        replayed = AnswerCache(request, user, variant=browser, usable=usable).lookup()
        if replayed is not None:
            return replayed
        with one_snapshot():
            answers = AnswerCache(request, user, variant=browser, usable=usable)
            response = view(request, *args, **kwargs)
        return response if response.cookies else answers.keep(response)

    return page


class PortalLoginView(LoginView):
    template_name = "portal/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return home_for(self.request.user)


@kept_page
@partner_page
def dashboard(request: HttpRequest, partner: Partner) -> HttpResponse:
    board = selectors.dashboard(request.user, partner)
    charts = [(chain, monthly_bars(board.series(chain.pk), chain)) for chain in board.chains.values()]
    accruing = [(row, selectors.periods_in(row.statement)) for row in board.accruing]
    return render(
        request,
        "portal/dashboard.html",
        {"partner": partner, "board": board, "charts": charts, "accruing": accruing, "nav": "dashboard"},
    )


@kept_page
@partner_page
def commissions(request: HttpRequest, partner: Partner) -> HttpResponse:
    form = LineFilterForm(request.GET or None, chains=selectors.chains_of(request.user, partner))
    selection = form.selection()
    lines = (
        selectors.filtered_lines(request.user, partner, selection)
        if selection is not None
        else CommissionLine.objects.none()
    )
    page = Paginator(lines, LINES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "portal/commissions.html",
        {
            "partner": partner,
            "form": form,
            "page": page,
            "totals": selectors.line_totals(lines),
            "query": query.urlencode(),
            "nav": "commissions",
        },
    )


@kept_page
@partner_page
def line(request: HttpRequest, partner: Partner, pk: str) -> HttpResponse:
    commission_line = selectors.get_own(
        CommissionLine.objects.select_related("chain", "period", "agreement", "statement"),
        request.user,
        partner,
        pk,
    )
    visible = commission_line.statement is None or amounts_visible(partner, commission_line.statement.status)
    if not visible:
        raise Http404  # its amounts are still in preparation
    return render(
        request,
        "portal/line.html",
        {
            "partner": partner,
            "line": commission_line,
            "shares": selectors.line_drilldown(request.user, partner, commission_line),
            "nav": "commissions",
        },
    )


@kept_page
@partner_page
def clients(request: HttpRequest, partner: Partner) -> HttpResponse:
    return render(
        request,
        "portal/clients.html",
        {
            "partner": partner,
            "clients": selectors.clients(request.user, partner),
            "recent": selectors.RECENT_PERIODS,
            "nav": "clients",
        },
    )


@kept_page
@partner_page
def client(request: HttpRequest, partner: Partner, pk: str) -> HttpResponse:
    claimed = selectors.get_own(PartnerClient.objects.select_related("chain"), request.user, partner, pk)
    return render(
        request,
        "portal/client.html",
        {
            "partner": partner,
            "summary": selectors.client_detail(request.user, partner, claimed),
            "nav": "clients",
        },
    )


@kept_page
@partner_page
def statements(request: HttpRequest, partner: Partner) -> HttpResponse:
    rows = [
        (statement, amounts_visible(partner, statement.status))
        for statement in selectors.statements(request.user, partner)
    ]
    return render(request, "portal/statements.html", {"partner": partner, "rows": rows, "nav": "statements"})


@kept_page
@partner_page
def statement(request: HttpRequest, partner: Partner, pk: str) -> HttpResponse:
    own = selectors.get_own(Statement.objects.select_related("chain"), request.user, partner, pk)
    visible = amounts_visible(partner, own.status)
    lines, adjustments = selectors.statement_lines(own) if visible else ([], [])
    return render(
        request,
        "portal/statement.html",
        {
            "partner": partner,
            "statement": own,
            "visible": visible,
            "released": own.status in RELEASED,
            "documents": partner_fingerprints(own),
            "lines": lines,
            "adjustments": adjustments,
            "lines_total": sum((x.final_amount_native for x in lines), selectors.ZERO),
            "adjustments_total": sum((x.final_amount_native for x in adjustments), selectors.ZERO),
            "nav": "statements",
        },
    )


@require_GET
@partner_page
def statement_document(request: HttpRequest, partner: Partner, pk: str, export_format: str) -> HttpResponse:
    own = selectors.get_own(Statement.objects.select_related("chain", "partner"), request.user, partner, pk)
    if export_format not in FORMATS or own.status not in RELEASED:
        raise Http404  # a statement is downloadable once released
    document = statement_download(statement=own, actor=request.user, export_format=export_format)  # type: ignore[arg-type]
    response = HttpResponse(document.content, content_type=document.content_type)
    response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    if document.sha256:
        response["ETag"] = f'"{document.sha256}"'
        response["X-Content-SHA256"] = document.sha256
        return conditional(request, response, response["ETag"])  # the frozen bytes: 304 if held
    return response


@kept_page
@partner_page
def agreements(request: HttpRequest, partner: Partner) -> HttpResponse:
    return render(
        request,
        "portal/agreements.html",
        {"partner": partner, "agreements": selectors.agreements(request.user, partner), "nav": "agreements"},
    )


@kept_page
@partner_page
def agreement(request: HttpRequest, partner: Partner, pk: str) -> HttpResponse:
    own = selectors.get_own(selectors.agreements(request.user, partner), request.user, partner, pk)
    return render(
        request,
        "portal/agreement.html",
        {"partner": partner, "view": selectors.agreement_view(request.user, own), "nav": "agreements"},
    )


@partner_page
def password_change(request: HttpRequest, partner: Partner) -> HttpResponse:
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)
        audit_record(actor=user, action=AuditAction.CHANGE_PASSWORD, resource=user)
        messages.success(request, "Your password was changed.")
        return HttpResponseRedirect(reverse("portal:dashboard"))
    return render(request, "portal/password_change.html", {"partner": partner, "form": form, "nav": ""})
