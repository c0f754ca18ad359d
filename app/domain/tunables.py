"""Details of rules that public sources leave UNVERIFIED: set from settings at start-up, never guessed twice."""

from __future__ import annotations

# RPPS numbers end with a Luhn key (INFERRED from the ANS test numbers; a setting in case it does not hold).
rpps_luhn = True


def configure(*, rpps_luhn_check: bool, finess_corsica_2a: str, finess_corsica_2b: str) -> None:
    """Apply the settings (called once by the application factory and the CLI)."""
    global rpps_luhn
    rpps_luhn = rpps_luhn_check
    from app.domain import finess

    finess.configure_corsica(finess_corsica_2a, finess_corsica_2b)
