"""Pro Santé Connect: OpenID Connect login of health and social professionals (e-CPS / CPS)."""
