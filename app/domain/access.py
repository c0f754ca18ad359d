"""Who is asking and what they may see: the seam the security layer fills in."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Scope:
    """The ESSMS whose records a caller may see; ``None`` means every ESSMS (administration, batch)."""

    essms_ids: frozenset[UUID] | None = None

    @classmethod
    def everything(cls) -> Scope:
        return cls(None)

    @classmethod
    def of(cls, *essms_ids: UUID) -> Scope:
        return cls(frozenset(essms_ids))

    @property
    def unrestricted(self) -> bool:
        return self.essms_ids is None

    def allows(self, essms_id: UUID | None) -> bool:
        return self.essms_ids is None or (essms_id is not None and essms_id in self.essms_ids)


@dataclass(frozen=True)
class Principal:
    """The caller: a name for the history and the audit trail, and a scope."""

    actor: str
    scope: Scope


ANONYMOUS = Principal(actor="anonymous", scope=Scope.everything())
SYSTEM = Principal(actor="system", scope=Scope.everything())
