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


PUBLIC = UrlPolicy(public=True)
STAFF = UrlPolicy(staff=True)

NAMED: dict[str, UrlPolicy] = {
    "root": PUBLIC,  # redirects to the admin (or, once signed in, where the user belongs)
    "health": PUBLIC,
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
}

_ADMIN_MODEL = re.compile(
    r"^admin:(?P<app>[a-z_]+?)_(?P<model>[a-z]+)_(?P<action>changelist|add|change|delete|history|password_change)$"
)
ACTIONS = {
    "changelist": "view",
    "add": "add",
    "change": "view",
    "delete": "delete",
    "history": "view",
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
