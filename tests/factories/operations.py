import uuid
from datetime import timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from operations.models import Job, JobStatus, JobType

from .accounts import UserFactory


class JobFactory(DjangoModelFactory[Job]):
    """A finished recompute job over a few Solana epochs."""

    class Meta:
        model = Job

    job_type = JobType.RECOMPUTE_RANGE
    parameters = factory.Sequence(
        lambda n: {"chain_id": "solana-mainnet", "from_period": 800 + n, "to_period": 803 + n}
    )
    status = JobStatus.SUCCESS
    progress = 100
    progress_message = "done: 4 periods (4 success)"
    result = factory.LazyFunction(lambda: {"runs": [], "counts": {"SUCCESS": 4}})
    requested_by = factory.SubFactory(UserFactory)
    correlation_id = factory.LazyFunction(uuid.uuid4)
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(seconds=12))
    finished_at = factory.LazyAttribute(lambda o: o.started_at + timedelta(seconds=9))
