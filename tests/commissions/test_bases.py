"""Set-based attribution (commissions.services.bases) against the engine's Python strategies: on
generated worlds written to PostgreSQL, both paths give the same lines, to the last of the 18
places a base keeps and key for key in the breakdowns."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commissions.selectors import agreements_in_force, client_figures, operator_validators, period_pnl
from commissions.services.agreements import RuleSpec
from commissions.services.recompute import compute_period, compute_period_in_database, lines_fingerprint
from ingestion.models import DataType
from partners.models import ClientKind
from tests import factories as f
from tests.commission_world import OPERATOR, START, active_agreement, client, make_world

pytestmark = pytest.mark.django_db

KEYS = ["ValidatorA" + "1" * 34, "ValidatorB" + "1" * 34, "validatorc" + "1" * 34]  # mixed case: C order
COMPONENTS = ["EXEC_FEES", "MEV_TIPS", "VOTE_REWARDS", "COMMISSION"]
METHODS = ["FIXED_SHARE", "STAKE_WEIGHT", "CLIENT_REVENUE"]

# Amounts with up to 18 places, as NUMERIC(48, 18) keeps them, and whole ones.
fine_amounts = st.integers(min_value=0, max_value=10**30).map(lambda n: Decimal(n).scaleb(-18))
whole_amounts = st.integers(min_value=0, max_value=10**22).map(Decimal)
amounts = st.one_of(whole_amounts, fine_amounts, st.just(Decimal(0)))


@st.composite
def accounts(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "authority": draw(st.sampled_from(["Authority1", "Authority2", "Authority3", OPERATOR])),
        "stake": draw(st.one_of(whole_amounts, st.just(Decimal(0)))),
        "rewards": draw(amounts),
        "commission": draw(amounts),
        "penalties": draw(st.one_of(st.just(Decimal(0)), whole_amounts)),
    }


tiers = st.one_of(
    st.none(),
    st.builds(
        lambda basis, mode, start: {
            "basis": basis,
            "mode": mode,
            "tiers": [{"from": "0", "rate_bps": 500}, {"from": str(start), "rate_bps": 1_500}],
        },
        st.sampled_from(["base_amount", "introduced_stake"]),
        st.sampled_from(["marginal", "whole"]),
        st.integers(min_value=1, max_value=10**21),
    ),
)


@st.composite
def rules(draw: st.DrawFn, validators: list[str]) -> list[RuleSpec]:
    specs = []
    for order in range(1, draw(st.integers(min_value=1, max_value=4)) + 1):
        floor = draw(st.none() | whole_amounts)
        cap = draw(st.none() | whole_amounts)
        if floor is not None and cap is not None and floor > cap:
            floor, cap = cap, floor
        specs.append(
            RuleSpec(
                rule_order=order,
                revenue_component=draw(st.sampled_from(COMPONENTS)),
                attribution_method=draw(st.sampled_from(METHODS)),
                commission_rate_bps=draw(st.integers(min_value=0, max_value=10_000)),
                validator_key=draw(st.none() | st.sampled_from(validators)),
                floor_amount_native=floor,
                cap_amount_native=cap,
                tier_config=draw(tiers),
            )
        )
    return specs


AUTHORITIES = ["Authority1", "Authority2", "Authority3"]
STAKE_ACCOUNTS = 12


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    """Up to 3 validators with up to 4 stake accounts each, and 1 or 2 partners; each withdraw
    authority and stake account is claimed by one partner at most (claims never overlap)."""
    validators = [
        {
            "key": key,
            "fees": draw(amounts),
            "mev": draw(amounts),
            "commission": draw(amounts),
            "stake": draw(st.one_of(whole_amounts, st.just(Decimal(0)))),
            "accounts": draw(st.lists(accounts(), max_size=4)),
        }
        for key in KEYS[: draw(st.integers(min_value=1, max_value=len(KEYS)))]
    ]
    count = draw(st.integers(min_value=1, max_value=2))
    owners = st.none() | st.integers(min_value=0, max_value=count - 1)
    authority_owner = {address: draw(owners) for address in AUTHORITIES}
    account_owner = {number: draw(owners) for number in range(STAKE_ACCOUNTS)}
    partners = [
        {
            "authorities": [a for a, owner in authority_owner.items() if owner == index],
            "stake_accounts": [n for n, owner in account_owner.items() if owner == index],
            "rules": draw(rules([v["key"] for v in validators])),
        }
        for index in range(count)
    ]
    return {"validators": validators, "partners": partners}


def build(world: dict[str, Any]) -> Any:
    setting = make_world()
    period = setting.period(900, START + timedelta(days=3))
    number = 0
    for figures in world["validators"]:
        key = figures["key"]
        setting.figures(
            period,
            key,
            fees=figures["fees"],
            mev=figures["mev"],
            commission=figures["commission"],
            stake=figures["stake"],
        )
        payload = setting.payload(period, key, DataType.REWARDS)
        for account in figures["accounts"]:
            f.CanonicalStakeRewardFactory(
                chain=setting.chain,
                period=period,
                validator_key=key,
                source_payload=payload,
                source_provider=setting.provider,
                staker_address=f"Stake{number:040d}",
                withdraw_authority=account["authority"],
                active_stake_native=account["stake"],
                rewards_native=account["rewards"],
                commission_native=account["commission"],
                penalties_native=account["penalties"],
            )
            number += 1
    for index, spec in enumerate(world["partners"]):
        partner = f.PartnerFactory(partner_name=f"Partner {index}")
        for authority in spec["authorities"]:
            client(partner, setting.chain, authority)
        for account in spec["stake_accounts"]:
            client(partner, setting.chain, f"Stake{account:040d}", kind=ClientKind.STAKE_ACCOUNT)
        rules = [RuleSpec(**{**vars(rule), "chain_id": setting.chain.pk}) for rule in spec["rules"]]
        active_agreement(partner, *rules)
    return period


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds())
def test_the_database_computes_the_same_lines_as_the_python_strategies(world: dict[str, Any]) -> None:
    with transaction.atomic():
        period = build(world)
        pnl = period_pnl(period, operator_validators(period.chain))
        agreements = agreements_in_force(period)
        clients = client_figures(period, [a.partner_id for a in agreements])

        in_python = compute_period(pnl, agreements, clients)
        in_database = compute_period_in_database(period, pnl, agreements, snapshot=False)

        assert [(line.key, line.result) for line in in_database] == [
            (line.key, line.result) for line in in_python
        ]
        assert lines_fingerprint(period, in_database) == lines_fingerprint(period, in_python)
        transaction.set_rollback(True)


def test_half_even_rounding_in_the_database_matches_python() -> None:
    cases = ["2.5", "3.5", "-2.5", "-3.5", "0.0000000000000000025", "0.0000000000000000035", "1.23456"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT aurora_round_half_even(v, 18), aurora_amount_text(v), aurora_round_half_even(v, 0) "
            "FROM unnest(%s::numeric[]) AS v",
            [[Decimal(c) for c in cases]],
        )
        rows = cursor.fetchall()
    from commissions.engine.attribution import text

    for case, (rounded, spelled, whole) in zip(cases, rows, strict=True):
        value = Decimal(case)
        assert rounded == value.quantize(Decimal("1e-18"), rounding="ROUND_HALF_EVEN")
        assert whole == value.quantize(Decimal(1), rounding="ROUND_HALF_EVEN")
        assert spelled == text(value)
