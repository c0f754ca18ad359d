"""The rules of the DUI, pure: no web framework, no SQL, no network."""
