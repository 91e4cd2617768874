"""The commission engine's pure parts: attribution, tiers, floor and cap, rounding (no database)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commissions.engine.attribution import ClientAccount, PartnerFigures, ValidatorFigures
from commissions.engine.lines import RuleTerms, compute_line
from commissions.engine.tiers import InvalidTerms, TierConfig

SOL = Decimal(10**9)
A, B = "ValidatorA" + "1" * 34, "ValidatorB" + "1" * 34


def validator(
    key: str,
    *,
    fees: Decimal = Decimal(0),
    mev: Decimal = Decimal(0),
    rewards: Decimal = Decimal(0),
    commission: Decimal = Decimal(0),
    stake: Decimal = Decimal(0),
) -> ValidatorFigures:
    return ValidatorFigures(
        validator_key=key,
        components={"EXEC_FEES": fees, "MEV_TIPS": mev, "VOTE_REWARDS": rewards, "COMMISSION": commission},
        active_stake=stake,
    )


def account(
    address: str, stake: Decimal, rewards: Decimal = Decimal(0), commission: Decimal = Decimal(0)
) -> ClientAccount:
    return ClientAccount(
        address, "Withdraw" + address[-4:], "Client" + address[-4:], stake, rewards, commission
    )


def terms(component: str, method: str, rate_bps: int, **kwargs: object) -> RuleTerms:
    return RuleTerms(
        rule_order=1,
        chain_id="solana-mainnet",
        validator_key=kwargs.pop("validator_key", None),  # type: ignore[arg-type]
        component=component,
        method=method,
        rate_bps=rate_bps,
        **kwargs,
    )  # type: ignore[arg-type]


# ---- the seed's worked example ------------------------------------------------------------------


def test_seed_example_fixed_share_five_percent_of_mev() -> None:
    abc = validator(
        A,
        fees=Decimal("1.5") * SOL,
        mev=Decimal("0.8") * SOL,
        rewards=2 * SOL,
        commission=Decimal("0.1") * SOL,
    )

    line = compute_line(terms("MEV_TIPS", "FIXED_SHARE", 500), [abc], PartnerFigures())

    assert line.base == Decimal("0.8") * SOL
    assert line.amount == Decimal("0.04") * SOL  # 0.04 SOL
    assert line.rate_bps == 500


def test_seed_example_client_revenue_ten_percent_of_the_client_s_rewards() -> None:
    xyz = account(
        "StakeXYZ", 1_000_000 * SOL, rewards=Decimal("0.5") * SOL, commission=Decimal("0.025") * SOL
    )
    partner = PartnerFigures({A: [xyz]})

    line = compute_line(
        terms("VOTE_REWARDS", "CLIENT_REVENUE", 1_000), [validator(A, stake=2_000_000 * SOL)], partner
    )

    assert line.amount == Decimal("0.05") * SOL
    assert line.breakdown["validators"][0]["stake_accounts"] == 1
    assert line.breakdown["validators"][0]["base"] == "500000000"


# ---- methods ------------------------------------------------------------------------------------


def test_stake_weight_pays_the_introduced_share_of_each_validator() -> None:
    validators = [
        validator(A, fees=1_000 * SOL, stake=100 * SOL),
        validator(B, fees=500 * SOL, stake=50 * SOL),
    ]
    partner = PartnerFigures({A: [account("S1", 10 * SOL)], B: [account("S2", 25 * SOL)]})

    line = compute_line(terms("EXEC_FEES", "STAKE_WEIGHT", 10_000), validators, partner)

    # A: 1000 x 10/100 = 100; B: 500 x 25/50 = 250
    assert line.base == 350 * SOL and line.amount == 350 * SOL
    shares = {v["validator"]: v["stake_share"] for v in line.breakdown["validators"]}
    assert shares == {A: "0.1", B: "0.5"}


def test_client_revenue_on_commission_sums_the_clients_commission() -> None:
    partner = PartnerFigures(
        {
            A: [
                account("S1", 10 * SOL, commission=Decimal(3_000)),
                account("S2", 5 * SOL, commission=Decimal(1_500)),
            ]
        }
    )
    line = compute_line(
        terms("COMMISSION", "CLIENT_REVENUE", 5_000),
        [validator(A, commission=10**6, stake=100 * SOL)],
        partner,
    )
    assert line.base == 4_500 and line.amount == 2_250


def test_client_revenue_on_mev_is_the_client_stake_share() -> None:
    partner = PartnerFigures({A: [account("S1", 25 * SOL)]})
    line = compute_line(
        terms("MEV_TIPS", "CLIENT_REVENUE", 10_000),
        [validator(A, mev=Decimal(1_000), stake=100 * SOL)],
        partner,
    )
    assert line.base == 250


def test_a_validator_filter_matches_only_that_validator() -> None:
    validators = [validator(A, mev=Decimal(100)), validator(B, mev=Decimal(900))]
    line = compute_line(
        terms("MEV_TIPS", "FIXED_SHARE", 10_000, validator_key=B), validators, PartnerFigures()
    )
    assert line.base == 900 and [v["validator"] for v in line.breakdown["validators"]] == [B]


def test_a_validator_with_no_stake_contributes_nothing_to_stake_weight() -> None:
    line = compute_line(
        terms("EXEC_FEES", "STAKE_WEIGHT", 10_000), [validator(A, fees=Decimal(100))], PartnerFigures()
    )
    assert line.base == 0 and line.amount == 0


# ---- tiers, floor, cap, rounding ----------------------------------------------------------------

TIERS = [
    {"from": "0", "rate_bps": 1_000},
    {"from": "1000", "rate_bps": 2_000},
    {"from": "5000", "rate_bps": 3_000},
]


@pytest.mark.parametrize(
    ("mode", "base", "expected"),
    [
        ("whole", 500, 50),  # 10 % of all of it
        ("whole", 2_000, 400),  # 20 % of all of it
        ("whole", 10_000, 3_000),
        ("marginal", 500, 50),
        ("marginal", 2_000, 100 + 200),  # 10 % of 1000, 20 % of the next 1000
        ("marginal", 10_000, 100 + 800 + 1_500),  # 10 % of 1000, 20 % of 4000, 30 % of 5000
    ],
)
def test_tiers_on_the_base_amount(mode: str, base: int, expected: int) -> None:
    tiers = TierConfig.parse({"basis": "base_amount", "mode": mode, "tiers": TIERS})
    line = compute_line(
        terms("MEV_TIPS", "FIXED_SHARE", 0, tiers=tiers), [validator(A, mev=Decimal(base))], PartnerFigures()
    )
    assert line.amount == expected


def test_marginal_tiers_on_introduced_stake_blend_the_rate() -> None:
    tiers = TierConfig.parse({"basis": "introduced_stake", "mode": "marginal", "tiers": TIERS})
    partner = PartnerFigures({A: [account("S1", Decimal(2_000))]})  # 1000 at 10 %, 1000 at 20 %: 15 %
    line = compute_line(
        terms("MEV_TIPS", "FIXED_SHARE", 0, tiers=tiers), [validator(A, mev=Decimal(10_000))], partner
    )
    assert line.rate == Fraction(15, 100) and line.amount == 1_500 and line.rate_bps == 1_500
    assert line.breakdown["tiers"]["measured"] == "2000"


def test_whole_tiers_on_introduced_stake_below_the_first_tier_pay_nothing() -> None:
    tiers = TierConfig.parse(
        {"basis": "introduced_stake", "mode": "whole", "tiers": [{"from": "100", "rate_bps": 5_000}]}
    )
    partner = PartnerFigures({A: [account("S1", Decimal(99))]})
    line = compute_line(
        terms("MEV_TIPS", "FIXED_SHARE", 0, tiers=tiers), [validator(A, mev=Decimal(10_000))], partner
    )
    assert line.amount == 0


def test_floor_then_cap_then_round_down() -> None:
    low = compute_line(
        terms("MEV_TIPS", "FIXED_SHARE", 100, floor=Decimal(50)),
        [validator(A, mev=Decimal(1_000))],
        PartnerFigures(),
    )
    high = compute_line(
        terms("MEV_TIPS", "FIXED_SHARE", 5_000, cap=Decimal("300.9")),
        [validator(A, mev=Decimal(1_000))],
        PartnerFigures(),
    )
    fraction = compute_line(
        terms("MEV_TIPS", "FIXED_SHARE", 333), [validator(A, mev=Decimal(1_000))], PartnerFigures()
    )
    assert (low.amount, low.breakdown["floor_applied"]) == (50, "50")
    assert (high.amount, high.breakdown["cap_applied"]) == (300, "300.9")  # the cap, rounded down
    assert fraction.amount == 33 and fraction.breakdown["computed"] == "33.3"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {
                "basis": "base_amount",
                "mode": "marginal",
                "tiers": [{"from": "10", "rate_bps": 1}, {"from": "5", "rate_bps": 2}],
            },
            "must ascend",
        ),
        ({"basis": "stake", "mode": "whole", "tiers": [{"from": "0", "rate_bps": 1}]}, "basis"),
        ({"basis": "base_amount", "mode": "steps", "tiers": [{"from": "0", "rate_bps": 1}]}, "mode"),
        ({"basis": "base_amount", "mode": "whole", "tiers": []}, "non-empty"),
        ({"basis": "base_amount", "mode": "whole", "tiers": [{"from": "0", "rate_bps": 10_001}]}, "rate_bps"),
        ({"basis": "base_amount", "mode": "whole", "tiers": [{"from": "-1", "rate_bps": 1}]}, ">= 0"),
        ({"basis": "base_amount", "mode": "whole", "tiers": [{"from": 0.5, "rate_bps": 1}]}, "as a string"),
        ("10%", "expected an object"),
    ],
)
def test_invalid_tiers_are_refused_with_the_reason(config: object, message: str) -> None:
    with pytest.raises(InvalidTerms, match=message):
        TierConfig.parse(config)


# ---- invariants ---------------------------------------------------------------------------------

amounts = st.integers(min_value=0, max_value=10**24).map(Decimal)
stakes = st.integers(min_value=0, max_value=10**20).map(Decimal)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[ValidatorFigures], PartnerFigures]:
    keys = draw(
        st.lists(st.sampled_from([A, B, "ValidatorC" + "1" * 34]), min_size=1, max_size=3, unique=True)
    )
    validators, accounts = [], {}
    for key in keys:
        total = draw(st.integers(min_value=1, max_value=10**20))
        mine = draw(st.lists(st.integers(min_value=0, max_value=total), max_size=4))
        mine = mine if sum(mine) <= total else [total // max(len(mine), 1)] * len(mine)
        validators.append(
            validator(
                key,
                fees=draw(amounts),
                mev=draw(amounts),
                rewards=draw(amounts),
                commission=draw(amounts),
                stake=Decimal(total),
            )
        )
        accounts[key] = [
            account(f"{key[:10]}{i:034d}", Decimal(s), draw(amounts), draw(amounts))
            for i, s in enumerate(mine)
        ]
    return validators, PartnerFigures(accounts)


rules = st.builds(
    lambda component, method, rate, floor, cap: terms(component, method, rate, floor=floor, cap=cap),
    st.sampled_from(["EXEC_FEES", "MEV_TIPS", "VOTE_REWARDS", "COMMISSION"]),
    st.sampled_from(["FIXED_SHARE", "STAKE_WEIGHT", "CLIENT_REVENUE"]),
    st.integers(min_value=0, max_value=10_000),
    st.none() | amounts,
    st.none() | amounts,
).filter(lambda r: r.floor is None or r.cap is None or r.floor <= r.cap)  # validation refuses the rest


@settings(max_examples=300, deadline=None)
@given(world=worlds(), rule=rules)
def test_invariants_of_every_line(
    world: tuple[list[ValidatorFigures], PartnerFigures], rule: RuleTerms
) -> None:
    validators, partner = world
    line = compute_line(rule, validators, partner)
    computed = Fraction(line.base) * line.rate

    assert line.amount == line.amount.to_integral_value() and line.amount >= 0  # whole units
    if rule.cap is not None:
        assert line.amount <= rule.cap  # a cap is never exceeded
    if rule.floor is None:
        assert line.amount <= line.base  # rates are at most 100 %: no line exceeds its base
    bounded = computed
    if rule.floor is not None:
        bounded = max(bounded, Fraction(rule.floor))
    if rule.cap is not None:
        bounded = min(bounded, Fraction(rule.cap))
    assert line.amount <= bounded < line.amount + 1  # rounded down, never up: no overpayment


@settings(max_examples=100, deadline=None)
@given(world=worlds(), rule=rules, data=st.data())
def test_results_do_not_depend_on_the_order_of_the_inputs(
    world: tuple[list[ValidatorFigures], PartnerFigures], rule: RuleTerms, data: st.DataObject
) -> None:
    validators, partner = world
    shuffled_validators = data.draw(st.permutations(validators))
    shuffled = PartnerFigures(
        {
            key: data.draw(st.permutations(list(accounts)))
            for key, accounts in reversed(list(partner.accounts.items()))
        }
    )

    first = compute_line(rule, validators, partner)
    second = compute_line(rule, shuffled_validators, shuffled)

    assert (first.base, first.amount, first.breakdown) == (second.base, second.amount, second.breakdown)
