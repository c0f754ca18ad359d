"""National services and formats: one package per service."""
