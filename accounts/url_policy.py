"""Every URL Aurora serves, and who may use it: admin model pages follow MODEL_POLICY; every
other URL is listed here by name. A URL with no entry fails the authorization matrix test."""

from __future__ import annotations

import re
from dataclasses import dataclass

from accounts.access import MODEL_POLICY, Capability


@dataclass(frozen=True)
class UrlPolicy:
    """`public`: anyone; `staff`: any active staff user; `capability`: users holding it;
    `model` + `action`: the admin's model permission (view, add, change, delete)."""

    public: bool = False
    staff: bool = False
    capability: Capability | None = None
    model: str | None = None
    action: str | None = None
    app: str | None = None  # an admin app index: staff who may view any of its models
    partner: bool = False  # a partner portal page: partner users, their own rows; others redirected
    post_only: bool = False  # has no GET: 405 for every caller, before any role check
    api: tuple[Capability, ...] | None = None  # a /v1/ endpoint: users holding any of these (GET)


def api(*capabilities: Capability) -> UrlPolicy:
    """A REST endpoint read with any of `capabilities` (none listed: any signed-in user); writes
    ask their own capability in the view. Anonymous callers get 401, others without it 403."""
    return UrlPolicy(api=capabilities)


PUBLIC = UrlPolicy(public=True)
STAFF = UrlPolicy(staff=True)
PORTAL = UrlPolicy(partner=True)

NAMED: dict[str, UrlPolicy] = {
    "root": PUBLIC,  # redirects to where the user belongs (portal, back office, or the sign-in page)
    # The partner portal: a partner's own rows; another partner's id answers 404 like a missing one.
    "portal:login": PUBLIC,
    "portal:logout": UrlPolicy(public=True, post_only=True),
    "portal:password_change": PORTAL,
    "portal:dashboard": PORTAL,
    "portal:commissions": PORTAL,
    "portal:line": UrlPolicy(partner=True, model="commissions.commissionline"),
    "portal:clients": PORTAL,
    "portal:client": UrlPolicy(partner=True, model="partners.partnerclient"),
    "portal:statements": PORTAL,
    "portal:statement": UrlPolicy(partner=True, model="commissions.statement"),
    "portal:statement_document": UrlPolicy(partner=True, model="commissions.statement"),
    "portal:agreements": PORTAL,
    "portal:agreement": UrlPolicy(partner=True, model="commissions.agreement"),
    "health": PUBLIC,
    # Probes (aurora.probes): no sign-in. /metrics answers this machine or the METRICS_TOKEN bearer.
    "health_ready": PUBLIC,
    "health_ingestion": PUBLIC,
    "metrics": PUBLIC,
    # The REST API (/v1/): the access layer again, in the view's permission and in every queryset.
    "api:token": UrlPolicy(public=True, post_only=True),
    "api:token_refresh": UrlPolicy(public=True, post_only=True),
    "api:schema": PUBLIC,
    "api:docs": PUBLIC,
    "api:not_found": PUBLIC,
    "api:chains": api(Capability.VIEW_OPERATIONS, Capability.VIEW_COMMISSIONS, Capability.VIEW_OWN_PARTNER),
    "api:periods": api(Capability.VIEW_OPERATIONS, Capability.VIEW_COMMISSIONS, Capability.VIEW_OWN_PARTNER),
    "api:validator_pnl": api(Capability.VIEW_OPERATIONS),
    "api:partners": api(Capability.VIEW_COMMISSIONS, Capability.VIEW_OWN_PARTNER),
    "api:partner_clients": api(Capability.VIEW_COMMISSIONS, Capability.VIEW_OWN_PARTNER),
    "api:partner_commissions": api(Capability.VIEW_COMMISSIONS, Capability.VIEW_OWN_PARTNER),
    "api:partner_statement": api(Capability.VIEW_COMMISSIONS, Capability.VIEW_OWN_PARTNER),
    "api:partner_statement_export": api(Capability.EXPORT_STATEMENTS, Capability.VIEW_OWN_PARTNER),
    "api:agreements": api(Capability.VIEW_COMMISSIONS),
    "api:agreement": api(Capability.VIEW_COMMISSIONS),
    "api:agreement_versions": api(Capability.VIEW_COMMISSIONS),
    "api:agreement_status": UrlPolicy(post_only=True),  # POST only (edit_agreements): GET is 405
    "api:overrides": api(Capability.VIEW_COMMISSIONS),
    "api:override": UrlPolicy(post_only=True),  # DELETE only (override_lines): GET is 405
    "api:recompute": UrlPolicy(post_only=True),  # POST only: GET is 405
    "api:job": api(Capability.VIEW_OPERATIONS, Capability.RECOMPUTE),
    "api:ingestion_health": api(Capability.VIEW_OPERATIONS),
    "admin:login": PUBLIC,
    "admin:logout": STAFF,
    "admin:index": STAFF,
    "admin:password_change": STAFF,
    "admin:password_change_done": STAFF,
    "admin:jsi18n": STAFF,
    "admin:autocomplete": STAFF,
    "admin:view_on_site": STAFF,
    # Django's UserAdmin names its password page after auth.User whatever the user model.
    "admin:auth_user_password_change": UrlPolicy(model="accounts.user", action="change"),
    # Back-office operations: queue jobs, sync the registry from its files.
    "admin:operations_job_ingest": UrlPolicy(capability=Capability.RUN_OPERATIONS),
    "admin:operations_job_normalize": UrlPolicy(capability=Capability.RUN_OPERATIONS),
    "admin:operations_job_recompute": UrlPolicy(capability=Capability.RECOMPUTE),
    "admin:chains_chain_sync": UrlPolicy(capability=Capability.RUN_OPERATIONS),
    # Finance: agreement terms and status, line overrides, the statement workflow and export.
    "admin:commissions_agreement_terms": UrlPolicy(
        capability=Capability.EDIT_AGREEMENTS, model="commissions.agreement"
    ),
    "admin:commissions_agreement_preview": UrlPolicy(
        capability=Capability.VIEW_COMMISSIONS, model="commissions.agreement"
    ),
    "admin:commissions_agreement_compare": UrlPolicy(model="commissions.agreement", action="view"),
    "admin:commissions_agreement_status": UrlPolicy(
        capability=Capability.EDIT_AGREEMENTS, model="commissions.agreement"
    ),
    "admin:commissions_commissionline_override": UrlPolicy(
        capability=Capability.OVERRIDE_LINES, model="commissions.commissionline"
    ),
    "admin:commissions_commissionline_override_step": UrlPolicy(
        capability=Capability.OVERRIDE_LINES, model="commissions.commissionline"
    ),
    "admin:commissions_statement_step": UrlPolicy(
        capability=Capability.RUN_STATEMENTS, model="commissions.statement"
    ),
    "admin:commissions_statement_export": UrlPolicy(
        capability=Capability.EXPORT_STATEMENTS, model="commissions.statement"
    ),
    # Custom admin pages.
    "admin:commissions_validatorpnl_report": UrlPolicy(capability=Capability.VIEW_OPERATIONS),
}

_ADMIN_MODEL = re.compile(
    r"^admin:(?P<app>[a-z_]+?)_(?P<model>[a-z]+)_(?P<action>changelist|add|change|delete|history|simple_history|password_change)$"
)
ACTIONS = {
    "changelist": "view",
    "add": "add",
    "change": "view",
    "delete": "delete",
    "history": "view",
    "simple_history": "view",  # one past version of an object (django-simple-history), read only
    "password_change": "change",
}


def policy_for(name: str, route: str) -> UrlPolicy | None:
    """The policy of the URL named `name` (route: its pattern, for unnamed admin redirects)."""
    if name in NAMED:
        return NAMED[name]
    if name == "admin:app_list":
        return UrlPolicy(app="*")
    match = _ADMIN_MODEL.match(name)
    if match:
        label = f"{match['app']}.{match['model']}"
        if label in MODEL_POLICY:
            return UrlPolicy(model=label, action=ACTIONS[match["action"]])
        return None
    if name == "admin:None" and route == "admin/(?P<url>.*)$":
        return STAFF  # the admin's catch-all: a slash redirect, or 404
    unnamed = re.match(r"^admin/(?P<app>[a-z_]+)/(?P<model>[a-z]+)/<path:object_id>/$", route)
    if name == "admin:None" and unnamed:  # the admin's redirect from an object's URL to its change page
        label = f"{unnamed['app']}.{unnamed['model']}"
        return UrlPolicy(model=label, action="view") if label in MODEL_POLICY else None
    return None
