"""National services and formats, one package each."""
