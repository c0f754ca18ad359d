"""Batch feeding of the DMP for a structure: which documents a usager should have there, and the report
of a run (pure, no I/O)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from app.domain.documents import DocumentKind
from app.domain.moments import as_utc

EHPAD_CATEGORY = "500"  # FINESS category (TRE_R66) of the EHPAD: only they keep a DLU


def kinds_for(finess_category: str) -> tuple[DocumentKind, ...]:
    """The documents the batch feeds for a usager of an ESSMS of this FINESS category: the plan in force, the
    latest AGGIR report and, in an EHPAD, the DLU."""
    base = (DocumentKind.PPA, DocumentKind.AGGIR)
    return (*base, DocumentKind.DLU) if finess_category == EHPAD_CATEGORY else base


def changed_since(updated_at: datetime, since: datetime | None) -> bool:
    """Whether a record changed at or after ``since``; a moment given without an offset is taken as UTC."""
    if since is None:
        return True
    return as_utc(updated_at) >= as_utc(since)


@dataclass(frozen=True)
class Invalid:
    usager_id: str
    kind: str
    message: str


@dataclass
class FeedReport:
    scope: str = ""
    essms: int = 0
    usagers_seen: int = 0
    generated: Counter[str] = field(default_factory=Counter)
    already: Counter[str] = field(default_factory=Counter)
    queued: int = 0
    not_eligible: Counter[str] = field(default_factory=Counter)
    invalid: list[Invalid] = field(default_factory=list)

    def lines(self, *, invalid_shown: int = 20) -> list[str]:
        def counts(counter: Counter[str]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"

        out = [
            f"{self.scope}: {self.essms} ESSMS, {self.usagers_seen} usagers seen",
            f"generated: {counts(self.generated)}",
            f"already generated for the same source version: {counts(self.already)}",
            f"queued for the DMP: {self.queued}",
            f"not eligible: {counts(self.not_eligible)}",
            f"invalid: {len(self.invalid)}",
        ]
        out += [f"  {i.usager_id} {i.kind}: {i.message}" for i in self.invalid[:invalid_shown]]
        if len(self.invalid) > invalid_shown:
            out.append(f"  … and {len(self.invalid) - invalid_shown} more")
        return out
