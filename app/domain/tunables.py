"""Details of rules that public sources leave UNVERIFIED: set from settings at start-up, never guessed twice."""

from __future__ import annotations

# RPPS numbers end with a Luhn key (INFERRED from the ANS test numbers; a setting in case it does not hold).
rpps_luhn = True

# AGGIR alimentation when one sub-variable is A and the other C: "C" or "B" (disputed, see app.domain.aggir).
aggir_alimentation_mixed = "C"

# The projet personnalisé is reviewed at least once a year (TDDUI: "au minimum une fois par an").
plan_review_interval_months = 12
# A review falling due within this many days is listed as "due soon".
plan_review_due_soon_days = 30


def configure(
    *,
    rpps_luhn_check: bool,
    finess_corsica_2a: str,
    finess_corsica_2b: str,
    aggir_alimentation_ac: str = "C",
    plan_review_months: int = 12,
    plan_review_soon_days: int = 30,
) -> None:
    """Apply the settings (called once by the application factory and the CLI)."""
    global rpps_luhn, aggir_alimentation_mixed, plan_review_interval_months, plan_review_due_soon_days
    rpps_luhn = rpps_luhn_check
    aggir_alimentation_mixed = aggir_alimentation_ac
    plan_review_interval_months = plan_review_months
    plan_review_due_soon_days = plan_review_soon_days
    from app.domain import finess

    finess.configure_corsica(finess_corsica_2a, finess_corsica_2b)
