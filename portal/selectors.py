"""What a partner may read, and nothing else: every query starts from `scoped()` for the partner's
user (row-level security in the database says the same underneath).

Amounts of a statement not yet released can still change; they are shown only where the partner's
`portal_shows_open_amounts` says so, and then marked provisional.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db.models import Count, QuerySet, Sum
from django.http import Http404

from accounts.access import scoped
from chains.models import Chain, Period
from commissions.models import (
    Agreement,
    AgreementStatus,
    AgreementStatusEvent,
    AgreementVersion,
    ClientStakeSnapshot,
    CommissionLine,
    Statement,
)
from commissions.selectors import RELEASED, amounts_visible, visible_lines
from partners.models import Partner, PartnerClient
from portal.terms import describe_terms

ZERO = Decimal(0)
SHOWN_AGREEMENTS = (AgreementStatus.ACTIVE, AgreementStatus.SUSPENDED, AgreementStatus.TERMINATED)


def _own(queryset: QuerySet[Any], user: Any, partner: Partner) -> QuerySet[Any]:
    return scoped(queryset, user).filter(partner=partner)


def get_own(queryset: QuerySet[Any], user: Any, partner: Partner, pk: Any) -> Any:
    """One of the partner's rows, or 404 (also for another partner's id, which leaks nothing)."""
    try:
        UUID(str(pk))
    except ValueError:
        raise Http404 from None
    obj = _own(queryset, user, partner).filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


# ---- statements ---------------------------------------------------------------------------------


def statements(user: Any, partner: Partner) -> QuerySet[Statement]:
    return _own(Statement.objects.all(), user, partner).select_related("chain").order_by("-month", "chain_id")


def statement_lines(statement: Statement) -> tuple[list[CommissionLine], list[CommissionLine]]:
    """The statement's own lines and its adjustment lines (corrections of earlier months)."""
    lines = list(
        CommissionLine.objects.filter(statement=statement)
        .select_related("period", "agreement", "adjusts_statement")
        .order_by("period__period_end", "agreement__agreement_name", "rule_order")
    )
    return (
        [line for line in lines if line.adjusts_statement_id is None],
        [line for line in lines if line.adjusts_statement_id is not None],
    )


@dataclass
class MonthRow:
    month: str
    chain: Chain
    statement: Statement
    visible: bool

    @property
    def provisional(self) -> bool:
        return self.statement.status not in RELEASED


@dataclass
class Dashboard:
    partner: Partner
    months: list[MonthRow] = field(default_factory=list)
    released_totals: dict[str, Decimal] = field(default_factory=dict)  # chain id -> total
    accruing: list[MonthRow] = field(default_factory=list)  # the open statement of each chain
    chains: dict[str, Chain] = field(default_factory=dict)

    def series(self, chain_id: str) -> list[MonthRow]:
        """The chain's months, oldest first, whose amounts may be shown (for the chart)."""
        return sorted(
            (row for row in self.months if row.chain.pk == chain_id and row.visible), key=lambda r: r.month
        )


def dashboard(user: Any, partner: Partner) -> Dashboard:
    board = Dashboard(partner=partner)
    accruing: dict[str, MonthRow] = {}
    for statement in statements(user, partner):
        row = MonthRow(
            month=statement.month,
            chain=statement.chain,
            statement=statement,
            visible=amounts_visible(partner, statement.status),
        )
        board.months.append(row)
        board.chains[statement.chain_id] = statement.chain
        if statement.status in RELEASED:
            board.released_totals[statement.chain_id] = (
                board.released_totals.get(statement.chain_id, ZERO) + statement.total_commission_native
            )
        elif statement.chain_id not in accruing:
            accruing[statement.chain_id] = row  # newest first: the current month
    board.accruing = list(accruing.values())
    return board


def periods_in(statement: Statement) -> int:
    return (
        CommissionLine.objects.filter(statement=statement, adjusts_statement__isnull=True)
        .values("period")
        .distinct()
        .count()
    )


# ---- commission lines ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LineFilter:
    chain: Chain | None = None
    first: Period | None = None
    last: Period | None = None
    component: str = ""


def filtered_lines(user: Any, partner: Partner, selection: LineFilter) -> QuerySet[CommissionLine]:
    lines = visible_lines(user, partner).select_related("chain", "period", "agreement", "statement")
    if selection.chain is not None:
        lines = lines.filter(chain=selection.chain)
    if selection.first is not None:
        lines = lines.filter(period__period_end__gte=selection.first.period_end)
    if selection.last is not None:
        lines = lines.filter(period__period_end__lte=selection.last.period_end)
    if selection.component:
        lines = lines.filter(revenue_component=selection.component)
    return lines.order_by("-period__period_end", "agreement__agreement_name", "rule_order", "pk")


def line_totals(lines: QuerySet[CommissionLine]) -> list[dict[str, Any]]:
    """Per chain: how many lines and their total (amounts of different chains never add up)."""
    rows = list(
        lines.order_by().values("chain").annotate(lines=Count("pk"), total=Sum("final_amount_native"))
    )
    chains = Chain.objects.in_bulk([row["chain"] for row in rows])
    return [{**row, "chain": chains[row["chain"]]} for row in sorted(rows, key=lambda row: row["chain"])]


@dataclass(frozen=True)
class StakeAccountRow:
    stake_account: str
    withdraw_authority: str
    client: str
    stake: Decimal
    rewards: Decimal
    commission: Decimal


@dataclass
class ValidatorShare:
    validator: str
    base: Decimal | None
    accounts: list[StakeAccountRow]

    @property
    def stake(self) -> Decimal:
        return sum((a.stake for a in self.accounts), ZERO)


def _accounts(rows: Iterable[list[Any]]) -> list[StakeAccountRow]:
    return [
        StakeAccountRow(
            stake_account=row[0],
            withdraw_authority=row[1],
            client=row[2],
            stake=Decimal(row[3]),
            rewards=Decimal(row[4]),
            commission=Decimal(row[5]),
        )
        for row in rows
    ]


def line_drilldown(user: Any, partner: Partner, line: CommissionLine) -> list[ValidatorShare]:
    """The line's validators (from its breakdown) with the partner's own stake accounts behind
    each, as the engine used them for that period. Never another partner's accounts: the
    snapshot is the partner's own."""
    snapshot = _own(ClientStakeSnapshot.objects.all(), user, partner).filter(period=line.period).first()
    accounts = snapshot.accounts if snapshot is not None else {}
    breakdown = line.breakdown or {}
    shares = []
    for entry in breakdown.get("validators", []):
        validator = entry.get("validator", "")
        base = entry.get("base")
        shares.append(
            ValidatorShare(
                validator=validator,
                base=None if base is None else Decimal(base),
                accounts=_accounts(accounts.get(validator, [])),
            )
        )
    return shares


# ---- clients ------------------------------------------------------------------------------------


@dataclass
class ClientPeriod:
    period: Period
    stake: Decimal = ZERO
    rewards: Decimal = ZERO
    commission: Decimal = ZERO
    stake_accounts: int = 0


@dataclass
class ClientSummary:
    client: PartnerClient
    periods: list[ClientPeriod] = field(default_factory=list)  # newest first

    @property
    def latest(self) -> ClientPeriod | None:
        return self.periods[0] if self.periods else None

    @property
    def rewards(self) -> Decimal:
        return sum((p.rewards for p in self.periods), ZERO)

    @property
    def commission(self) -> Decimal:
        return sum((p.commission for p in self.periods), ZERO)


RECENT_PERIODS = 10


def clients(user: Any, partner: Partner, periods: int = RECENT_PERIODS) -> list[ClientSummary]:
    """The partner's introduced addresses, each with its stake and what it earned in the partner's
    last `periods` periods of each chain (from the stake snapshots the engine kept)."""
    rows = list(
        _own(PartnerClient.objects.all(), user, partner)
        .select_related("chain")
        .order_by("chain_id", "effective_from", "address")
    )
    summaries = {(row.chain_id, row.address): ClientSummary(client=row) for row in rows}
    for snapshot in _recent_snapshots(user, partner, periods):
        for (chain_id, address), figures in _per_client(snapshot).items():
            summary = summaries.get((chain_id, address))
            if summary is not None:
                summary.periods.append(figures)
    return list(summaries.values())


def client_detail(user: Any, partner: Partner, client: PartnerClient, periods: int = 50) -> ClientSummary:
    summary = ClientSummary(client=client)
    for snapshot in _recent_snapshots(user, partner, periods, chain_id=client.chain_id):
        figures = _per_client(snapshot).get((client.chain_id, client.address))
        if figures is not None:
            summary.periods.append(figures)
    return summary


def _recent_snapshots(
    user: Any, partner: Partner, periods: int, chain_id: str | None = None
) -> list[ClientStakeSnapshot]:
    snapshots = _own(ClientStakeSnapshot.objects.all(), user, partner).select_related("period")
    if chain_id is not None:
        snapshots = snapshots.filter(chain_id=chain_id)
    chains = (
        [chain_id] if chain_id else list(snapshots.order_by().values_list("chain_id", flat=True).distinct())
    )
    recent: list[ClientStakeSnapshot] = []
    for chain in chains:
        recent += list(snapshots.filter(chain_id=chain).order_by("-period__period_end")[:periods])
    return sorted(recent, key=lambda s: s.period.period_end, reverse=True)


def _per_client(snapshot: ClientStakeSnapshot) -> dict[tuple[str, str], ClientPeriod]:
    """The snapshot's stake accounts summed per client address (the address the partner claimed)."""
    totals: dict[tuple[str, str], ClientPeriod] = defaultdict(lambda: ClientPeriod(period=snapshot.period))
    for rows in (snapshot.accounts or {}).values():
        for account in _accounts(rows):
            figures = totals[(snapshot.chain_id, account.client)]
            figures.stake += account.stake
            figures.rewards += account.rewards
            figures.commission += account.commission
            figures.stake_accounts += 1
    return dict(totals)


# ---- agreements ---------------------------------------------------------------------------------


def agreements(user: Any, partner: Partner) -> QuerySet[Agreement]:
    """The agreements in use or once in use; drafts are still being negotiated and stay internal."""
    return (
        _own(Agreement.objects.all(), user, partner)
        .filter(status__in=SHOWN_AGREEMENTS)
        .order_by("-effective_from", "agreement_name")
    )


@dataclass
class AgreementView:
    agreement: Agreement
    versions: list[tuple[AgreementVersion, list[dict[str, Any]]]]  # newest first, with their terms in words
    events: list[AgreementStatusEvent]

    @property
    def current_terms(self) -> list[dict[str, Any]]:
        return next(
            (
                terms
                for version, terms in self.versions
                if version.version_number == self.agreement.current_version
            ),
            [],
        )


def agreement_view(user: Any, agreement: Agreement) -> AgreementView:
    versions = list(
        scoped(AgreementVersion.objects.all(), user).filter(agreement=agreement).order_by("-version_number")
    )
    terms = describe_terms([version.terms_snapshot for version in versions])
    events = list(
        scoped(AgreementStatusEvent.objects.all(), user)
        .filter(agreement=agreement)
        .exclude(to_status=AgreementStatus.DRAFT)
        .order_by("effective_at")
    )
    return AgreementView(agreement=agreement, versions=list(zip(versions, terms, strict=True)), events=events)


def chains_of(user: Any, partner: Partner) -> list[Chain]:
    """The chains the partner has lines on (the commission filter's choices)."""
    ids = visible_lines(user, partner).order_by().values_list("chain_id", flat=True).distinct()
    return list(Chain.objects.filter(pk__in=ids).order_by("pk"))


def period_on(chain: Chain, identifier: str) -> Period | None:
    return Period.objects.filter(chain=chain, period_identifier=identifier).first()
