"""Are the agreements in force applicable? Read-only checks behind `manage.py validate_agreements`.

For every ACTIVE agreement: its current version exists and is the latest; its current rules pass
the same validation as terms entered in the back office (`validate_rules`: orders, components,
methods, rates, floors and caps, tiers, known chains and validators); every rule's chain is active
(a rule without a chain needs at least one active chain) and a validator it names is registered
and active; the version's recorded terms are its rules; versions do not overlap; the agreement has
not ended while still ACTIVE.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections import Counter
from dataclasses import dataclass

from django.db.models import Prefetch
from django.utils import timezone

from chains.models import Chain, ValidatorIdentity
from commissions.engine.tiers import InvalidTerms
from commissions.models import Agreement, AgreementRule, AgreementStatus, AgreementVersion
from commissions.services.agreements import RuleSpec, validate_rules


@dataclass(frozen=True)
class AgreementProblem:
    agreement_id: str
    agreement: str  # "name (partner)"
    version: int
    message: str


@dataclass(frozen=True)
class AgreementCheck:
    checked: int
    problems: list[AgreementProblem]

    @property
    def clean(self) -> bool:
        return not self.problems


def validate_active_agreements() -> AgreementCheck:
    agreements = list(
        Agreement.objects.filter(status=AgreementStatus.ACTIVE)
        .select_related("partner")
        .prefetch_related(
            Prefetch("versions", queryset=AgreementVersion.objects.order_by("version_number")),
            Prefetch("rules", queryset=AgreementRule.objects.order_by("version_number", "rule_order")),
        )
        .order_by("partner__partner_name", "agreement_name")
    )
    active_chains = set(Chain.objects.filter(is_active=True).values_list("pk", flat=True))
    identities = {
        (chain_id, key): is_active
        for chain_id, key, is_active in ValidatorIdentity.objects.values_list(
            "chain_id", "validator_key", "is_active"
        )
    }
    problems: list[AgreementProblem] = []
    for agreement in agreements:
        label = f"{agreement.agreement_name} ({agreement.partner.partner_name})"
        problems.extend(
            AgreementProblem(str(agreement.pk), label, agreement.current_version, message)
            for message in _problems(agreement, active_chains, identities)
        )
    return AgreementCheck(checked=len(agreements), problems=problems)


def _problems(
    agreement: Agreement, active_chains: set[str], identities: dict[tuple[str, str], bool]
) -> list[str]:
    number = agreement.current_version
    versions = list(agreement.versions.all())
    problems = []
    current = next((v for v in versions if v.version_number == number), None)
    if current is None:
        return [f"its current version {number} does not exist"]
    if versions[-1].version_number != number:
        problems.append(f"version {versions[-1].version_number} is newer than the current version {number}")
    if agreement.effective_until is not None and agreement.effective_until <= timezone.now():
        problems.append(f"it ended on {agreement.effective_until:%Y-%m-%d} but is still ACTIVE")
    for earlier, later in itertools.pairwise(versions):
        if earlier.effective_until is None or earlier.effective_until > later.effective_from:
            problems.append(f"versions {earlier.version_number} and {later.version_number} overlap")

    rules = [rule for rule in agreement.rules.all() if rule.version_number == number]
    specs = [RuleSpec.from_rule(rule) for rule in rules]
    try:
        validate_rules(specs)
    except InvalidTerms as error:
        problems.append(str(error))
    in_force = [rule for rule in rules if rule.is_active]
    if rules and not in_force:
        problems.append("every rule of the current version is switched off: it pays nothing")
    for rule in in_force:
        where = f"rule {rule.rule_order}"
        if rule.chain_id is None:
            if not active_chains:
                problems.append(f"{where}: applies to every chain, but no chain is active")
        elif rule.chain_id not in active_chains:
            problems.append(f"{where}: chain {rule.chain_id} is not active")
        if (
            rule.validator_key
            and rule.chain_id
            and identities.get((rule.chain_id, rule.validator_key)) is False
        ):
            problems.append(f"{where}: validator {rule.validator_key} is no longer active on {rule.chain_id}")
    recorded, actual = _recorded_terms(current), [_frozen(spec) for spec in specs]
    if recorded is None:
        problems.append(f"version {number}'s recorded terms cannot be read")
    elif Counter(recorded) != Counter(actual):
        differing = sorted({spec.rule_order for spec in set(recorded) ^ set(actual)}, key=str)
        problems.append(
            f"version {number}'s recorded terms differ from its rules "
            f"(rule {', '.join(str(order) for order in differing)})"
        )
    return problems


def _frozen(spec: RuleSpec) -> RuleSpec:
    """The same terms with the tier settings as canonical JSON text, so they can be compared as sets."""
    if spec.tier_config is None:
        return spec
    return dataclasses.replace(spec, tier_config=json.dumps(spec.tier_config, sort_keys=True))  # type: ignore[arg-type]


def _recorded_terms(version: AgreementVersion) -> list[RuleSpec] | None:
    terms = version.terms_snapshot
    rules = terms.get("rules") if isinstance(terms, dict) else None
    if not isinstance(rules, list):
        return None
    try:
        return [_frozen(RuleSpec.from_json(rule, where=f"rule {i}")) for i, rule in enumerate(rules, start=1)]
    except (InvalidTerms, TypeError, AttributeError):
        return None
