"""CI-SIS CDA R2: validation (ANS XSD + schematrons), header and volet builders, XDS metadata."""

from __future__ import annotations

import threading
from pathlib import Path

from app.interop.cda.validation import CdaValidator

_validators: dict[Path, CdaValidator] = {}
_guard = threading.Lock()


def shared_validator(cache_dir: Path) -> CdaValidator:
    """The process-wide validator for ``cache_dir`` (compiled stylesheets are kept in memory)."""
    key = cache_dir.resolve()
    with _guard:
        if key not in _validators:
            _validators[key] = CdaValidator(key)
        return _validators[key]
