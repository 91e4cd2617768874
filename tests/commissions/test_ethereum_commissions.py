"""Ethereum through the commission engine: the shipped recordings to P&L, lines and statements
(manage.py demo_ethereum, idempotent), amounts far above 100 ETH exact through every layer, the same
agreement on both chains, and penalties: a negative P&L and a zero line for a negative base."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from canonical.models import CanonicalStakeReward, CanonicalValidatorMev
from chains.models import Chain, Period, ValidatorIdentity
from chains.services import registry_sync
from commissions.engine.attribution import PartnerFigures, ValidatorFigures
from commissions.engine.lines import NEGATIVE_BASE, RuleTerms, compute_line
from commissions.models import (
    CommissionLine,
    ComputationRun,
    ComputationStatus,
    RevenueComponent,
    Statement,
    StatementStatus,
    ValidatorPnl,
)
from commissions.services.agreements import RuleSpec
from commissions.services.recompute import recompute_period
from demo.services import ETHEREUM_AGREEMENT
from ingestion.models import DataType, IngestionRun, StagingPayload
from partners.models import PartnerClient
from tests import factories as f
from tests.commission_world import OPERATOR, START, World, active_agreement, client, make_world
from tests.ethereum_demo import BY_NAME, CHAIN, PERIODS

ETH = 10**18
SOL = 10**9
SEPT_22 = datetime(2025, 9, 22, 12, tzinfo=UTC)
ALPHA, BETA, GAMMA = (BY_NAME[f"Aurora ETH {name}"] for name in ("Alpha", "Beta", "Gamma"))


def signed_in(user: Any) -> Client:
    session = Client()
    session.force_login(user)
    return session


def text(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return str(response.content.decode())


# ---- the shipped recordings: manage.py demo_ethereum ----------------------------------------------


@pytest.fixture
def demo(db: None, settings: Any) -> str:
    settings.DEBUG = True
    registry_sync(chains_file=settings.AURORA_CHAINS_FILE, providers_file=settings.AURORA_PROVIDERS_FILE)
    out = StringIO()
    call_command("demo_ethereum", stdout=out)
    return out.getvalue()


def test_demo_ethereum_gives_pnl_lines_and_a_statement_and_rerunning_changes_nothing(demo: str) -> None:
    chain = Chain.objects.get(pk=CHAIN)
    assert chain.is_active and chain.period_length_epochs == 4
    pnl = {
        (p.period.period_identifier, p.validator_key): p
        for p in ValidatorPnl.objects.select_related("period")
    }
    assert len(pnl) == 8
    for (window, key), row in pnl.items():
        mev = CanonicalValidatorMev.objects.get(
            period__period_identifier=window, validator_key=key, superseded_at__isnull=True
        )
        aggregate = CanonicalStakeReward.objects.get(
            period__period_identifier=window,
            validator_key=key,
            staker_address__isnull=True,
            superseded_at__isnull=True,
        )
        assert row.mev_tips_native == mev.total_mev_native
        assert row.commission_native == aggregate.commission_native  # the 10 % operator fee
        assert row.total_revenue_native == row.exec_fees_native + row.mev_tips_native + row.commission_native
    assert pnl[("395000", ALPHA)].exec_fees_native == 787_031_300_000_000

    lines = {
        (line.period.period_identifier, line.rule_order): line
        for line in CommissionLine.objects.filter(chain_id=CHAIN).select_related("period", "agreement")
    }
    assert len(lines) == 4 and {line.agreement.agreement_name for line in lines.values()} == {
        ETHEREUM_AGREEMENT
    }
    # 5 % of all MEV: Beta's Flashbots/Ultrasound block in 395000, Alpha's bloXroute one in 395004
    assert lines[("395000", 1)].final_amount_native == 48_213_907_461_253_381 * 5 // 100
    assert lines[("395004", 1)].final_amount_native == 31_337_123_456_789_012 * 5 // 100
    # 20 % of the operator fee on the stake Helios introduced: the two largest withdrawal addresses,
    # Gamma's (64 ETH) and Beta's
    addresses = set(PartnerClient.objects.filter(chain_id=CHAIN).values_list("address", flat=True))
    introduced = set(
        CanonicalStakeReward.objects.filter(withdraw_authority__in=addresses).values_list(
            "validator_key", flat=True
        )
    )
    assert introduced == {GAMMA, BETA}
    for window in PERIODS:
        fees = sum(
            CanonicalStakeReward.objects.get(
                period__period_identifier=str(window), validator_key=key, staker_address__isnull=True
            ).commission_native
            for key in introduced
        )
        line = lines[(str(window), 2)]
        assert line.base_amount_native == fees
        assert line.final_amount_native == int(fees * 2 / 10)
    (statement,) = Statement.objects.filter(chain_id=CHAIN)
    assert (statement.partner.partner_name, statement.month, statement.status) == (
        "Helios Capital",
        "2025-09",
        StatementStatus.DRAFT,
    )
    assert statement.line_count == 4
    assert statement.total_commission_native == sum(line.final_amount_native for line in lines.values())
    total = f"{statement.total_commission_native.normalize():f}"
    assert f"statement Helios Capital 2025-09 DRAFT: 4 lines, {total} wei" in demo

    before = (
        sorted((line.pk, line.final_amount_native, line.updated_at) for line in lines.values()),
        sorted(ValidatorPnl.objects.values_list("pk", "total_revenue_native", "updated_at")),
        Statement.objects.get().updated_at,
    )
    runs = ComputationRun.objects.count()
    call_command("demo_ethereum", stdout=StringIO())
    after = (
        sorted(CommissionLine.objects.values_list("pk", "final_amount_native", "updated_at")),
        sorted(ValidatorPnl.objects.values_list("pk", "total_revenue_native", "updated_at")),
        Statement.objects.get().updated_at,
    )
    assert after == before
    again = ComputationRun.objects.order_by("-started_at")[:2]
    assert ComputationRun.objects.count() == runs + 2
    assert all(run.status == ComputationStatus.SUCCESS and run.inputs_unchanged for run in again)
    assert CanonicalStakeReward.objects.filter(chain_id=CHAIN).count() == 16


# ---- 2,000 validators and 10,000 ETH of clients, to the wei ---------------------------------------

VALIDATORS = 2_000
PARTNER_ADDRESS = "0x" + "ab" * 20


def _bulk_world(chain: Chain, period: Period) -> None:
    """2,000 validators of 32 ETH (one of 16) with MEV and operator fees; the partner's withdrawal
    address stakes the first 313 of them: 312 x 32 + 16 = 10,000 ETH."""
    provider = f.ProviderFactory(provider_name="bulk-source")
    run = IngestionRun.objects.create(chain=chain, period=period, status="SUCCESS")
    keys = [f"0x{k:096x}" for k in range(VALIDATORS)]
    payloads = StagingPayload.objects.bulk_create(
        f.StagingPayloadFactory.build(
            run=run, chain=chain, period=period, validator_key=key, provider=provider, data_type=data_type
        )
        for key in keys
        for data_type in (DataType.MEV, DataType.REWARDS)
    )
    common = {"chain": chain, "period": period, "source_provider": provider}
    mev_rows, stake_rows = [], []
    for k, key in enumerate(keys):
        mev_payload, rewards_payload = payloads[2 * k], payloads[2 * k + 1]
        stake = Decimal(16 * ETH if k == 312 else 32 * ETH)
        mev = Decimal(ETH + k)
        mev_rows.append(
            CanonicalValidatorMev(
                **common,
                validator_key=key,
                source_payload=mev_payload,
                total_mev_native=mev,
                gross_mev_native=mev,
            )
        )
        values = {
            "active_stake_native": stake,
            "rewards_native": Decimal(5 * ETH + 70 * k),
            "commission_native": Decimal(ETH // 2 + 7 * k),
            "commission_rate_bps": 1_000,
        }
        stake_rows.append(
            CanonicalStakeReward(**common, validator_key=key, source_payload=rewards_payload, **values)
        )
        if k <= 312:
            stake_rows.append(
                CanonicalStakeReward(
                    **common,
                    validator_key=key,
                    source_payload=rewards_payload,
                    staker_address=PARTNER_ADDRESS,
                    withdraw_authority=PARTNER_ADDRESS,
                    **values,
                )
            )
    CanonicalValidatorMev.objects.bulk_create(mev_rows)
    CanonicalStakeReward.objects.bulk_create(stake_rows)
    ValidatorIdentity.objects.bulk_create(ValidatorIdentity(chain=chain, validator_key=key) for key in keys)


def test_amounts_far_above_100_eth_are_exact_in_lines_statements_api_and_portal(db: None) -> None:
    chain = f.ChainFactory(ethereum=True)
    period = Period.objects.create(
        chain=chain,
        period_identifier="395100",
        period_start=SEPT_22 - timedelta(days=1),
        period_end=SEPT_22,
        is_finalized=True,
        finalized_at=SEPT_22,
    )
    _bulk_world(chain, period)
    partner = f.PartnerFactory(partner_name="Big Staker", portal_shows_open_amounts=True)
    client(partner, chain, PARTNER_ADDRESS)
    active_agreement(
        partner,
        RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=chain.pk),
        RuleSpec(2, "COMMISSION", "STAKE_WEIGHT", 2_000, chain_id=chain.pk),
    )

    run = recompute_period(period=period)

    assert run.status == ComputationStatus.SUCCESS, run.error_message
    assert ValidatorPnl.objects.filter(period=period).count() == VALIDATORS
    mev_base = sum(ETH + k for k in range(VALIDATORS))  # 2,000 ETH and 1,999,000 wei
    fee_base = sum(ETH // 2 + 7 * k for k in range(313))  # 156.5 ETH and 341,796 wei
    assert mev_base == 2_000_000_000_000_001_999_000 and fee_base == 156_500_000_000_000_341_796
    mev_line = CommissionLine.objects.get(period=period, rule_order=1)
    fee_line = CommissionLine.objects.get(period=period, rule_order=2)
    assert mev_line.base_amount_native == mev_base
    assert mev_line.final_amount_native == Decimal("100000000000000099950")  # 100 ETH + 99,950 wei
    assert fee_line.base_amount_native == fee_base
    assert fee_line.final_amount_native == Decimal("31300000000000068359")  # floor(20 % of the base)
    assert fee_line.breakdown["base"] == str(fee_base) and mev_line.breakdown["base"] == str(mev_base)
    total = Decimal("131300000000000168309")
    statement = Statement.objects.get(partner=partner)
    assert statement.total_commission_native == total and statement.line_count == 2
    # the partner introduced exactly 10,000 ETH
    shares = [v for v in fee_line.breakdown["validators"] if v.get("introduced_stake")]
    assert sum(Fraction(v["introduced_stake"]) for v in shares) == 10_000 * ETH

    finance = f.UserFactory(username="finance-big", role=Role.FINANCE, is_staff=True)
    response = signed_in(finance).get(f"/v1/chains/{chain.pk}/partners/{partner.pk}/commissions")
    assert response.status_code == 200
    by_rule = {line["rule_order"]: line for line in response.json()["data"]}
    assert by_rule[1]["base_amount_native"] == "2000000000000001999000"
    assert by_rule[1]["final_amount_native"] == "100000000000000099950"
    assert by_rule[2]["final_amount_native"] == "31300000000000068359"
    assert by_rule[1]["unit"]["native_decimals"] == 18 and by_rule[1]["unit"]["symbol"] == "ETH"

    portal_user = f.PartnerUserFactory(username="bigstaker", partner=partner)
    page = text(signed_in(portal_user).get(reverse("portal:statement", args=[statement.pk])))
    assert "131.300000000000168309 ETH" in page
    assert "100.00000000000009995 ETH" in page and "31.300000000000068359 ETH" in page


# ---- the same agreement on both chains ------------------------------------------------------------


def test_one_agreement_gives_analogous_lines_on_solana_and_ethereum(db: None) -> None:
    solana = make_world(operator=False)
    ethereum = World(chain=f.ChainFactory(ethereum=True), provider=solana.provider)
    partner = f.PartnerFactory(partner_name="Both Chains")
    figures = {}
    for world, unit, staker in ((solana, SOL, "SolStake" + "1" * 36), (ethereum, ETH, "0x" + "cd" * 20)):
        period = world.period(850 if unit == SOL else 395000, SEPT_22)
        world.figures(
            period,
            "Validator-" + world.chain.pk,
            mev=Decimal(2 * unit),
            commission=Decimal(unit // 10),
            stake=Decimal(100 * unit),
            accounts=((staker, staker, Decimal(25 * unit), Decimal(unit // 4), Decimal(unit // 40)),),
        )
        client(partner, world.chain, staker)
        figures[unit] = period
    # rules without a chain apply on every chain
    active_agreement(
        partner,
        RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500),
        RuleSpec(2, "COMMISSION", "STAKE_WEIGHT", 2_000),
        since=START,
    )

    lines = {}
    for unit, period in figures.items():
        assert recompute_period(period=period).status == ComputationStatus.SUCCESS
        lines[unit] = {line.rule_order: line for line in CommissionLine.objects.filter(period=period)}
    for rule in (1, 2):
        sol, eth = lines[SOL][rule], lines[ETH][rule]
        assert eth.final_amount_native == sol.final_amount_native * 10**9  # the same in each unit
        assert eth.commission_rate_bps == sol.commission_rate_bps
        assert set(eth.breakdown) == set(sol.breakdown)
        assert [set(v) for v in eth.breakdown["validators"]] == [set(v) for v in sol.breakdown["validators"]]
    assert lines[SOL][1].final_amount_native == SOL // 10  # 5 % of 2 SOL
    assert lines[SOL][2].final_amount_native == SOL // 200  # 20 % of a quarter of 0.1 SOL
    assert {s.chain_id for s in Statement.objects.filter(partner=partner)} == {"solana-mainnet", CHAIN}


# ---- penalties --------------------------------------------------------------------------------------


def test_penalties_beyond_rewards_give_a_negative_pnl_and_zero_lines_with_the_reason(db: None) -> None:
    world = make_world()  # OPERATOR is the operator's own withdraw authority
    period = world.period(850, SEPT_22)
    world.figures(period, "V1", stake=Decimal(64 * ETH))
    payload = world.payload(period, "V1", DataType.REWARDS)
    common = {"chain": world.chain, "period": period, "validator_key": "V1", "source_payload": payload}
    f.CanonicalStakeRewardFactory(
        **common,
        staker_address="OwnStake" + "1" * 36,
        withdraw_authority=OPERATOR,
        active_stake_native=Decimal(32 * ETH),
        rewards_native=Decimal(1_000),
        penalties_native=Decimal(5_000),
        commission_native=Decimal(0),
    )
    f.CanonicalStakeRewardFactory(
        **common,
        staker_address="Client" + "1" * 38,
        withdraw_authority="ClientAuthority" + "1" * 29,
        active_stake_native=Decimal(32 * ETH),
        rewards_native=Decimal(300),
        penalties_native=Decimal(900),
        commission_native=Decimal(0),
    )
    partner = f.PartnerFactory()
    client(partner, world.chain, "ClientAuthority" + "1" * 29)
    active_agreement(
        partner,
        RuleSpec(
            1, "VOTE_REWARDS", "FIXED_SHARE", 1_000, chain_id=world.chain.pk, floor_amount_native=Decimal(7)
        ),
        RuleSpec(2, "VOTE_REWARDS", "CLIENT_REVENUE", 1_000, chain_id=world.chain.pk),
        RuleSpec(3, "VOTE_REWARDS", "STAKE_WEIGHT", 1_000, chain_id=world.chain.pk),
    )

    run = recompute_period(period=period)

    assert run.status == ComputationStatus.SUCCESS, run.error_message
    pnl = ValidatorPnl.objects.get(period=period)
    assert (pnl.vote_rewards_native, pnl.penalties_native, pnl.total_revenue_native) == (1_000, 5_000, -4_000)
    lines = {line.rule_order: line for line in CommissionLine.objects.filter(period=period)}
    for order, attributed in ((1, "-4000"), (2, "-600"), (3, "-2000")):
        line = lines[order]
        assert line.final_amount_native == 0 and line.base_amount_native == 0  # no floor either
        assert line.breakdown["reason"] == NEGATIVE_BASE
        assert line.breakdown["attributed_base"] == attributed
        assert line.breakdown["amount"] == "0"
    assert lines[2].breakdown["validators"][0]["clients_penalties"] == "900"
    assert lines[1].breakdown["validators"][0]["penalties"] == "5000"
    assert Statement.objects.get(partner=partner).total_commission_native == 0
    again = recompute_period(period=period)
    assert again.inputs_unchanged and ValidatorPnl.objects.get(period=period).total_revenue_native == -4_000


def test_a_negative_base_pays_nothing_whatever_the_floor_and_a_positive_one_still_does() -> None:
    figures = [
        ValidatorFigures(
            "A", {RevenueComponent.VOTE_REWARDS: Decimal(-10)}, Decimal(1), penalties=Decimal(30)
        ),
        ValidatorFigures("B", {RevenueComponent.VOTE_REWARDS: Decimal(4)}, Decimal(1)),
    ]
    terms = RuleTerms(1, "c", None, RevenueComponent.VOTE_REWARDS, "FIXED_SHARE", 5_000, floor=Decimal(3))
    result = compute_line(terms, figures, PartnerFigures())
    assert (result.base, result.amount) == (0, 0)
    assert result.breakdown["reason"] == NEGATIVE_BASE and result.breakdown["attributed_base"] == "-6"
    only_b = RuleTerms(1, "c", "B", RevenueComponent.VOTE_REWARDS, "FIXED_SHARE", 5_000, floor=Decimal(3))
    positive = compute_line(only_b, figures, PartnerFigures())
    assert (positive.base, positive.amount) == (4, 3)  # 2, raised to the floor
    assert "reason" not in positive.breakdown
