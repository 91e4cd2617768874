"""`manage.py demo_ethereum`: the shipped Ethereum recordings end to end, for the demo.

Switches ethereum-mainnet on with the recording's window length (the recorded windows are shorter
than a day), registers the recorded validators, replays the recorded windows, normalizes them,
ensures Helios Capital's Ethereum clients and agreement, and recomputes: P&L per window, lines and
draft statements. Safe to re-run: nothing changes the second time. `manage.py sync_registry`
puts the chain back as config/chains.yaml has it.
"""

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from chains.models import Chain
from commissions.models import CommissionLine, Statement, ValidatorPnl
from demo.services import ETHEREUM_CHAIN, DemoDataError, demo_ethereum_agreement_ensure
from ingestion.services import IngestionError, register_validators


class Command(BaseCommand):
    help = "Ethereum demo from the shipped recordings: activate, register, replay, normalize, recompute."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("the Ethereum demo is for development: run with DEBUG=true.")
        recordings = Path(settings.AURORA_RECORDINGS_DIR) / ETHEREUM_CHAIN
        try:
            recording = json.loads((recordings / "recording.json").read_text(encoding="utf-8"))
            validators = json.loads((recordings / "validators.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CommandError(f"{recordings}: {error}") from error
        windows = sorted(int(period) for period in recording["periods"])
        length = int(recording["chain"]["period_length_epochs"])
        chain = Chain.objects.filter(pk=ETHEREUM_CHAIN).first()
        if chain is None:
            raise CommandError(f"unknown chain {ETHEREUM_CHAIN}; run `manage.py sync_registry` first")
        if not chain.is_active or chain.period_length_epochs != length:
            chain.is_active, chain.period_length_epochs = True, length
            chain.save(update_fields=["is_active", "period_length_epochs", "updated_at"])
        try:
            register_validators(chain_id=ETHEREUM_CHAIN, validators=validators)
        except IngestionError as error:
            raise CommandError(str(error)) from error
        first, last = str(windows[0]), str(windows[-1])
        span = ["--chain", ETHEREUM_CHAIN, "--from-period", first, "--to-period", last]
        call_command("ingest", *span, "--provider", "replay", stdout=self.stdout, stderr=self.stderr)
        call_command("normalize", *span, stdout=self.stdout, stderr=self.stderr)
        try:
            agreement = demo_ethereum_agreement_ensure()
        except DemoDataError as error:
            raise CommandError(str(error)) from error
        call_command("recompute", *span, stdout=self.stdout, stderr=self.stderr)
        self.stdout.write(f"agreement: {agreement.partner.partner_name}: {agreement.agreement_name}")
        self._summary(chain)

    def _summary(self, chain: Chain) -> None:
        unit = chain.native_unit
        for pnl in (
            ValidatorPnl.objects.filter(chain=chain)
            .select_related("period")
            .order_by("period__period_start", "validator_key")
        ):
            self.stdout.write(
                f"P&L {pnl.period.period_identifier} {pnl.validator_key[:12]}… "
                f"total {pnl.total_revenue_native.normalize():f} {unit} "
                f"(penalties {pnl.penalties_native.normalize():f})"
            )
        for line in (
            CommissionLine.objects.filter(chain=chain)
            .select_related("period", "partner")
            .order_by("period__period_start", "partner__partner_name", "rule_order")
        ):
            self.stdout.write(
                f"line {line.period.period_identifier} {line.partner.partner_name} #{line.rule_order} "
                f"{line.revenue_component} {line.attribution_method}: "
                f"base {line.base_amount_native.normalize():f}, "
                f"amount {line.final_amount_native.normalize():f} {unit}"
            )
        for statement in (
            Statement.objects.filter(chain=chain)
            .select_related("partner")
            .order_by("partner__partner_name", "month")
        ):
            self.stdout.write(
                f"statement {statement.partner.partner_name} {statement.month} {statement.status}: "
                f"{statement.line_count} lines, {statement.total_commission_native.normalize():f} {unit}"
            )
