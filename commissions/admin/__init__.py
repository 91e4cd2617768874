"""The commissions admin, the finance back office: a module per model family; importing them
registers their ModelAdmins.

Pages are thin: forms validate input, services (commissions.services.*) do the work and audit it,
and an error from a service is shown on the page with nothing written. Who may do what comes from
`accounts.access`; objects come through `scoped()` (a row out of scope answers 404).

- agreements: agreements (AgreementViewsMixin in agreement_views: terms, preview, compare, status),
  their rules, versions and status events
- lines: commission lines and their overrides
- statements: statements, their workflow steps and export
- forms: the forms of those pages
- pnl: validator P&L and its report page (installed on the registered ValidatorPnl admin)
- runs: computation runs and client stake snapshots
"""

from commissions.admin import agreements, lines, pnl, runs, statements

__all__ = ["agreements", "lines", "pnl", "runs", "statements"]
