"""DUI backend: the dossier usager informatisé of French social and medico-social establishments."""
