"""What the API reads, through the access layer: `scoped()` for staff and the partner's own rows
for partner users."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from rest_framework.exceptions import NotFound

from accounts.access import Capability, capabilities, partner_ids_of, scoped
from chains.models import Chain, Period
from commissions.models import CommissionLine, ValidatorPnl
from partners.models import PartnerClient


def chains_for(user: Any) -> QuerySet[Chain]:
    """Staff: the chains their scope allows. Partners: the chains they have clients or lines on
    (a chain's units and periods are public facts; its operations data are not)."""
    if Capability.VIEW_OWN_PARTNER in capabilities(user):
        partners = partner_ids_of(user)
        used = Exists(PartnerClient.objects.filter(chain=OuterRef("pk"), partner__in=partners)) | Exists(
            CommissionLine.objects.filter(chain=OuterRef("pk"), partner__in=partners)
        )
        return Chain.objects.filter(used).order_by("pk")
    return scoped(Chain.objects.all(), user).order_by("pk")


def chain_for(user: Any, chain_id: str) -> Chain:
    chain = chains_for(user).filter(pk=chain_id).first()
    if chain is None:
        raise NotFound(f"No chain {chain_id!r}.")
    return chain


def periods_of(user: Any, chain: Chain) -> QuerySet[Period]:
    """The chain's final periods, oldest first (the chain was already checked against the user)."""
    return Period.objects.filter(chain=chain, is_finalized=True).order_by("period_end", "pk")


def validator_pnl(user: Any, chain: Chain, validator_key: str) -> QuerySet[ValidatorPnl]:
    rows = scoped(ValidatorPnl.objects.all(), user).filter(chain=chain, validator_key=validator_key)
    return rows.select_related("period", "chain").order_by("period__period_end", "pk")
