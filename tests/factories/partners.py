from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from partners.models import ClientKind, Partner, PartnerClient

from .chains import ChainFactory


class PartnerFactory(DjangoModelFactory[Partner]):
    class Meta:
        model = Partner

    partner_name = factory.Sequence(lambda n: f"Partner {n}")
    legal_entity_name = factory.LazyAttribute(lambda o: f"{o.partner_name} Ltd")
    contact_email = factory.Sequence(lambda n: f"partner{n}@example.com")
    contact_name = "Alex Example"


class PartnerClientFactory(DjangoModelFactory[PartnerClient]):
    class Meta:
        model = PartnerClient

    partner = factory.SubFactory(PartnerFactory)
    chain = factory.SubFactory(ChainFactory)
    address = factory.Sequence(lambda n: f"Stake{n:040d}")
    kind = ClientKind.STAKE_ACCOUNT
    effective_from = factory.LazyFunction(lambda: timezone.now().replace(microsecond=0) - timedelta(days=365))
    effective_until = None
