"""Identity use cases (RNIV): INSi search and verification, proofs, received INS, traces, duplicates, merge.

INSi calls never run inside a database transaction: the record is read, INSi is called, every call is
journaled in its own transaction, then the result is applied in a second one (optimistic locking).
Each use case is one named function so that a permission can be attached to it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson

from app.config import Settings
from app.domain import ins as ins_rules
from app.domain.access import Principal
from app.domain.errors import Conflict, DomainError, FieldIssue, NotFound, PreconditionFailed, RuleViolation
from app.domain.identity import (
    IdentityAttribute,
    Ins,
    ProofConfidence,
    TypedIns,
    UsagerRecord,
)
from app.interop.insi.client import InsiClient, InsiConfig, Outcome, emetteur_from_certificate
from app.interop.insi.messages import Software
from app.services.entourage import ContactService, ProtectionMeasureService
from app.services.resources import ResourceService, utcnow
from app.services.stays import StayService
from app.services.usagers import UsagerService
from app.store.db import Database
from app.store.identity import IdentityJournal, ProofRow
from app.store.ids import new_id
from app.store.repository import StoredRow


def insi_config(settings: Settings) -> InsiConfig:
    """The client configuration from the settings (the same client targets the sandbox or the CNAM)."""
    emetteur = settings.insi_emetteur
    if not emetteur and settings.insi_client_cert is not None and settings.insi_client_cert.is_file():
        emetteur = emetteur_from_certificate(settings.insi_client_cert)
    instance = settings.insi_instance or str(uuid.uuid5(uuid.NAMESPACE_URL, f"dui:{settings.data_dir.resolve()}"))
    return InsiConfig(
        endpoint=settings.insi_endpoint,
        client_cert=settings.insi_client_cert,
        client_key=settings.insi_client_key,
        ca_bundle=settings.insi_ca_bundle,
        software=Software(
            settings.insi_idam, settings.insi_software_name, settings.insi_software_version, instance, emetteur
        ),
        connect_timeout=settings.insi_connect_timeout,
        read_timeout=settings.insi_read_timeout,
        attempts=settings.insi_attempts,
        backoff_initial=settings.insi_backoff_initial,
    )


class InsiUnavailable(DomainError):
    code = "insi-unavailable"
    title = "INSi did not answer"
    status = 502


class InsiFault(DomainError):
    code = "insi-fault"
    title = "INSi answered with a fault"
    status = 502


class InsiMalformed(DomainError):
    code = "insi-malformed"
    title = "INSi's answer could not be read"
    status = 502


class InsiRefused(DomainError):
    """RNIV rules 11-12: the answer may not be used; nothing was changed."""

    code = "insi-refused"
    title = "INSi answer refused (RNIV rules 11-12)"
    status = 422


@dataclass
class InsiReport:
    """What a search or a verification did: the calls, the final outcome, the differences found."""

    outcome: str
    calls: list[Outcome]
    row: StoredRow | None = None
    differences: list[ins_rules.Difference] = field(default_factory=list)
    homonyms: list[uuid.UUID] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "usager": orjson.loads(self.row.body) if self.row else None,
            "differences": [{"field": d.field, "stored": d.stored, "insi": d.insi} for d in self.differences],
            "potential_homonyms": [str(h) for h in self.homonyms],
            "calls": [_call_summary(c) for c in self.calls],
        }


def _call_summary(call: Outcome) -> dict[str, Any]:
    return {
        "message_id": call.message_id,
        "outcome": call.kind,
        "code_cr": call.code_cr,
        "fault": call.fault.detail_code or call.fault.subcode if call.fault else None,
        "prenom": call.traits.prenom,
        "lieu_naissance": call.traits.lieu_naissance,
        "attempts": call.attempts,
    }


def _identity_json(identity: ins_rules.InsiIdentity | None) -> str | None:
    if identity is None:
        return None

    def number(n: ins_rules.InsNumber) -> dict[str, Any]:
        return {"matricule": n.matricule, "oid": n.oid, "date_debut": n.date_debut, "date_fin": n.date_fin}

    return orjson.dumps(
        {
            "ins": number(identity.ins),
            "history": [number(h) for h in identity.history],
            "nom_naissance": identity.nom_naissance,
            "prenoms": list(identity.prenoms),
            "sexe": identity.sexe,
            "date_naissance": identity.date_naissance,
            "lieu_naissance": identity.lieu_naissance,
        }
    ).decode()


class JournalBuffer:
    """Journal rows of a batch, written together (one transaction per flush instead of one per identity).

    The batch flushes before it moves its checkpoint, so an interruption loses no trace of a checked
    identity that the next run would not check again."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.calls: list[dict[str, Any]] = []
        self.traces: list[dict[str, Any]] = []

    async def flush(self) -> None:
        calls, traces = self.calls, self.traces
        self.calls, self.traces = [], []
        if calls or traces:
            async with self.database.write() as connection:
                await IdentityJournal(connection).insert_many(calls, traces)


class IdentityWorkflow:
    """The RNIV workflow over one database, for one caller."""

    def __init__(
        self,
        database: Database,
        principal: Principal,
        settings: Settings,
        insi: InsiClient | None = None,
        *,
        buffer: JournalBuffer | None = None,
    ) -> None:
        self.database = database
        self.principal = principal
        self.settings = settings
        self.insi = insi
        self.buffer = buffer

    # -- INSi ----------------------------------------------------------------------------------------
    async def search_ins(self, usager_id: uuid.UUID, if_match: int) -> InsiReport:
        """Retrieve the INS with the record's traits (RNIV rules 6, 11-12, 37); the INSi answer fills the traits."""
        row, record = await self._read_for_insi(usager_id, if_match)
        calls = await self._run_plan(record)
        await self._journal(usager_id, "search", calls)
        final = calls[-1]
        if final.kind != "found":
            self._raise_failure(final)
            return InsiReport(final.kind, calls)
        assert final.identity is not None
        self._refuse_if_needed(final.identity)
        async with self.database.write() as connection:
            service = UsagerService(connection, self.principal)
            current_row, current = await service.get_record(usager_id)
            if current_row.version != row.version:
                raise PreconditionFailed(f"usager {usager_id} changed during the INSi call")
            updated = _apply_insi(current, final.identity, final.called_at)
            written = await service.write_workflow(current_row, current, updated, "ins-retrieved")
            homonyms = await IdentityJournal(connection).same_key(usager_id, _key(updated))
        return InsiReport("found", calls, written, homonyms=homonyms)

    async def verify_ins(
        self,
        usager_id: uuid.UUID,
        if_match: int | None = None,
        *,
        current: tuple[StoredRow, UsagerRecord] | None = None,
    ) -> InsiReport:
        """Verification (RNIV rules 48-49, 52-53): a search with the stored traits, compared field by field.

        Identical: a received INS becomes verified here (rule 30); otherwise the INSi journal records the check.
        Different, not found or failed: nothing changes; the report says why. A batch passes the record it
        has just read (``current``)."""
        row, record = await self._read_for_insi(usager_id, if_match, current)
        if record.ins is None:
            raise RuleViolation("ins-required", "Only an identity with an INS can be verified", field="ins")
        calls = await self._run_plan(record)
        await self._journal(usager_id, "verify", calls)
        final = calls[-1]
        if final.kind != "found" or final.identity is None:
            self._raise_failure(final)
            return InsiReport(final.kind, calls)
        self._refuse_if_needed(final.identity)
        comparison = ins_rules.compare(_stored_traits(record), final.identity)
        if not comparison.identical:
            await self._trace(usager_id, "insi-verify-different", {"differences": len(comparison.differences)})
            return InsiReport("changed", calls, differences=comparison.differences)
        if record.insi_verified and record.ins_source == "insi":
            # Nothing to change: the INSi journal holds the check (no new version per batch run).
            return InsiReport("unchanged", calls, row)
        async with self.database.write() as connection:
            service = UsagerService(connection, self.principal)
            latest_row, latest = await service.get_record(usager_id)
            if latest_row.version != row.version:
                raise PreconditionFailed(f"usager {usager_id} changed during the INSi call")
            updated = latest.model_copy(
                update={"insi_verified": True, "ins_source": "insi", "insi_checked_at": final.called_at}
            )
            written = await service.write_workflow(latest_row, latest, updated, "ins-requalified")
        return InsiReport("unchanged", calls, written)

    async def _read_for_insi(
        self,
        usager_id: uuid.UUID,
        if_match: int | None,
        current: tuple[StoredRow, UsagerRecord] | None = None,
    ) -> tuple[StoredRow, UsagerRecord]:
        if self.insi is None:
            raise InsiUnavailable("No INSi client is configured")
        if current is None:
            async with self.database.read() as connection:
                current = await UsagerService(connection, self.principal).get_record(usager_id)
        row, record = current
        if row.archived:
            raise RuleViolation("usager-archived", "The usager is archived")
        if if_match is not None and row.version != if_match:
            raise PreconditionFailed(f"usager {usager_id} is at version {row.version}, not {if_match}")
        issues = []
        if IdentityAttribute.FICT in record.attributes:
            issues.append(FieldIssue("attributes", "insi-fictitious", "A fictitious identity is not sent to INSi"))
        if record.sexe not in ("F", "M"):
            issues.append(FieldIssue("sexe", "insi-sex", "INSi searches need the sex F or M"))
        if issues:
            raise DomainError("This identity cannot be sent to INSi", issues=issues)
        return row, record

    async def _run_plan(self, record: UsagerRecord) -> list[Outcome]:
        assert self.insi is not None
        plan = ins_rules.search_plan(
            record.nom_naissance,
            record.prenoms_naissance or [record.premier_prenom],
            record.sexe,
            record.date_naissance,
            record.lieu_naissance,
        )
        calls: list[Outcome] = []
        for traits in plan:
            outcome = await self.insi.search(traits)
            calls.append(outcome)
            # 01 and 02: try the next combination of traits; anything else ends the search.
            if outcome.kind not in ("not_found", "several"):
                break
        return calls

    def _raise_failure(self, final: Outcome) -> None:
        if final.kind == "unreachable":
            raise InsiUnavailable(f"INSi unreachable: {final.detail}")
        if final.kind == "fault":
            assert final.fault is not None
            code = final.fault.detail_code or final.fault.subcode or final.fault.code
            raise InsiFault(
                f"{code}: {final.fault.reason}",
                issues=[FieldIssue("insi", code, final.fault.reason)],
            )
        if final.kind == "malformed":
            raise InsiMalformed(f"INSi answer unreadable: {final.detail}")

    def _refuse_if_needed(self, identity: ins_rules.InsiIdentity) -> None:
        reasons = ins_rules.refusals(identity)
        if reasons:
            messages = {
                ins_rules.InsiRefusal.DAY_OR_MONTH_00: ("date_naissance", "Day or month of birth is 00 (rule 11)"),
                ins_rules.InsiRefusal.EMPTY_NAME: ("nom_naissance", "Empty birth name (rule 12)"),
                ins_rules.InsiRefusal.EMPTY_FIRST_NAMES: ("prenoms_naissance", "Empty birth first names (rule 12)"),
                ins_rules.InsiRefusal.EMPTY_SEX: ("sexe", "Empty sex (rule 12)"),
                ins_rules.InsiRefusal.BAD_DATE: ("date_naissance", "Birth date unreadable"),
                ins_rules.InsiRefusal.BAD_MATRICULE: ("ins.matricule", "Matricule of the wrong shape"),
                ins_rules.InsiRefusal.UNKNOWN_OID: ("ins.oid", "Unknown OID"),
            }
            raise InsiRefused(
                "The INSi answer may not be used; the identity is unchanged",
                issues=[FieldIssue(messages[r][0], r.value, messages[r][1]) for r in reasons],
            )

    async def _journal(self, usager_id: uuid.UUID | None, purpose: str, calls: list[Outcome]) -> None:
        rows = [
            {
                "id": new_id(),
                "usager_id": usager_id,
                "actor": self.principal.actor,
                "called_at": call.called_at,
                "purpose": purpose,
                "message_id": call.message_id,
                "request_traits": orjson.dumps(
                    {
                        "nom_naissance": call.traits.nom_naissance,
                        "prenom": call.traits.prenom,
                        "sexe": call.traits.sexe,
                        "date_naissance": call.traits.date_naissance,
                        "lieu_naissance": call.traits.lieu_naissance,
                    }
                ).decode(),
                "outcome": _journal_outcome(call),
                "code_cr": call.code_cr,
                "fault_code": (call.fault.detail_code or call.fault.subcode) if call.fault else None,
                "returned_identity": _identity_json(call.identity),
                "detail": _journal_detail(call),
                "duration_ms": call.duration_ms,
            }
            for call in calls
        ]
        traces = []
        if usager_id is not None:
            traces.append(
                {
                    "usager_id": usager_id,
                    "actor": self.principal.actor,
                    "at": utcnow(),
                    "action": f"insi-{purpose}",
                    "detail": orjson.dumps({"outcome": _journal_outcome(calls[-1])}).decode(),
                }
            )
        if self.buffer is not None:
            self.buffer.calls.extend(rows)
            self.buffer.traces.extend(traces)
            return
        async with self.database.write() as connection:
            await IdentityJournal(connection).insert_many(rows, traces)

    async def _trace(self, usager_id: uuid.UUID, action: str, detail: dict[str, Any]) -> None:
        async with self.database.write() as connection:
            await IdentityJournal(connection).trace(usager_id, self.principal.actor, utcnow(), action, detail)

    # -- proofs and received INS -------------------------------------------------------------------
    async def record_proof(
        self, usager_id: uuid.UUID, if_match: int, proof_type: str, reference: str | None, scan_id: uuid.UUID | None
    ) -> tuple[StoredRow, ProofRow]:
        """RNIV rule 19: a proof seen by staff; a high-trust one validates the identity (manual action)."""
        levels = self.settings.identity_proof_levels
        if proof_type not in levels:
            raise RuleViolation(
                "proof-type", f"Unknown proof type; configured: {', '.join(sorted(levels))}", field="proof_type"
            )
        confidence = ProofConfidence(levels[proof_type])
        async with self.database.write() as connection:
            service = UsagerService(connection, self.principal)
            row, current = await service.current_for_write(usager_id, if_match)
            proof = ProofRow(
                id=new_id(),
                usager_id=usager_id,
                proof_type=proof_type,
                confidence=confidence.value,
                reference=reference,
                scan_id=scan_id,
                recorded_by=self.principal.actor,
                recorded_at=utcnow(),
                withdrawn_at=None,
            )
            await IdentityJournal(connection).add_proof(proof)
            updated = current.model_copy(
                update={"high_trust_proof": current.high_trust_proof or confidence is ProofConfidence.HIGH}
            )
            written = await service.write_workflow(row, current, updated, "proof", {"proof_type": proof_type})
        return written, proof

    async def withdraw_proof(self, usager_id: uuid.UUID, proof_id: uuid.UUID, if_match: int) -> StoredRow:
        """A proof recorded by mistake is withdrawn (kept, dated); the status follows the remaining proofs."""
        async with self.database.write() as connection:
            service = UsagerService(connection, self.principal)
            row, current = await service.current_for_write(usager_id, if_match)
            journal = IdentityJournal(connection)
            if not await journal.withdraw_proof(usager_id, proof_id, utcnow()):
                raise NotFound(f"No active proof {proof_id} for usager {usager_id}")
            high = any(p.confidence == "high" for p in await journal.proofs(usager_id) if p.withdrawn_at is None)
            updated = current.model_copy(update={"high_trust_proof": high})
            return await service.write_workflow(row, current, updated, "proof-withdrawn", {"proof": str(proof_id)})

    async def proofs(self, usager_id: uuid.UUID) -> list[ProofRow]:
        async with self.database.read() as connection:
            await UsagerService(connection, self.principal).get(usager_id)
            return await IdentityJournal(connection).proofs(usager_id)

    async def receive_ins(self, usager_id: uuid.UUID, if_match: int, typed: TypedIns) -> StoredRow:
        """An INS received from another identification domain: kept, but the identity must be re-qualified
        here through INSi before the INS is used (RNIV rule 30)."""
        async with self.database.write() as connection:
            service = UsagerService(connection, self.principal)
            row, current = await service.current_for_write(usager_id, if_match)
            if current.insi_verified:
                raise Conflict(
                    "ins-read-only", "The INS was retrieved through INSi and cannot be replaced", field="matricule"
                )
            updated = current.model_copy(
                update={"ins": Ins(matricule=typed.matricule, oid=typed.oid), "ins_source": "received"}
            )
            return await service.write_workflow(row, current, updated, "ins-received", {"oid": typed.oid})

    # -- journals ------------------------------------------------------------------------------------
    async def traces(
        self, usager_id: uuid.UUID | None, since: datetime | None, until: datetime | None, after: int | None, limit: int
    ) -> list[dict[str, Any]]:
        async with self.database.read() as connection:
            if usager_id is not None:
                await UsagerService(connection, self.principal).get(usager_id)
            return await IdentityJournal(connection).traces(usager_id, since, until, after, limit, self.principal)

    async def insi_calls(
        self,
        usager_id: uuid.UUID | None,
        since: datetime | None,
        until: datetime | None,
        after: uuid.UUID | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        async with self.database.read() as connection:
            if usager_id is not None:
                await UsagerService(connection, self.principal).get(usager_id)
            return await IdentityJournal(connection).insi_calls(usager_id, since, until, after, limit, self.principal)

    # -- identitovigilance ---------------------------------------------------------------------------
    async def duplicates(self, limit: int) -> list[dict[str, Any]]:
        """Groups of active usagers sharing normalised traits; two different INS in a group are homonyms."""
        async with self.database.read() as connection:
            groups = await IdentityJournal(connection).duplicate_groups(limit, self.principal)
        result = []
        for key, members in groups:
            matricules = {m["ins_matricule"] for m in members if m["ins_matricule"]}
            result.append(
                {
                    "key": key,
                    "kind": "homonyms" if len(matricules) > 1 else "potential-duplicate",
                    "usagers": members,
                }
            )
        return result

    async def merge(self, merged_id: uuid.UUID, if_match: int, kept_id: uuid.UUID, kept_version: int) -> StoredRow:
        """Merge a duplicate into the record kept: stays, contacts, measures and proofs move over; the
        duplicate is archived with ``merged_into`` and both histories stay readable."""
        if merged_id == kept_id:
            raise RuleViolation("merge-distinct", "A record cannot be merged into itself", field="into")
        async with self.database.write() as connection:
            usagers = UsagerService(connection, self.principal)
            merged_row, merged = await usagers.current_for_write(merged_id, if_match)
            kept_row, kept = await usagers.current_for_write(kept_id, kept_version)
            if merged.ins and kept.ins and merged.ins.matricule != kept.ins.matricule:
                raise Conflict("merge-ins-conflict", "The two records carry different INS (homonyms)", field="into")
            if merged.ins and not kept.ins:
                raise Conflict("merge-keep-ins", "Keep the record that carries the INS", field="into")
            moved: dict[str, int] = {}
            for name, service_class in (
                ("stays", StayService),
                ("contacts", ContactService),
                ("protection_measures", ProtectionMeasureService),
            ):
                moved[name] = await _repoint(service_class(connection, self.principal), merged_id, kept_id)
            journal = IdentityJournal(connection)
            moved["proofs"] = await journal.move_proofs(merged_id, kept_id)
            for essms_id in await journal.essms_of(merged_id):
                await usagers.repo.link_essms(kept_id, essms_id)
            updated_kept = kept.model_copy(
                update={"high_trust_proof": kept.high_trust_proof or merged.high_trust_proof}
            )
            written = await usagers.write_workflow(
                kept_row, kept, updated_kept, "merge-kept", {"merged": str(merged_id), **moved}
            )
            await usagers.archive_merged(merged_row, merged, kept_id)
        return written


def _journal_outcome(call: Outcome) -> str:
    """The outcome as journaled: a CR 00 that RNIV rules 11-12 refuse is recorded as refused."""
    if call.kind == "found" and call.identity is not None and ins_rules.refusals(call.identity):
        return "refused"
    return call.kind


def _journal_detail(call: Outcome) -> str | None:
    if _journal_outcome(call) == "refused" and call.identity is not None:
        return "refused: " + ", ".join(r.value for r in ins_rules.refusals(call.identity))
    return call.detail


def _key(record: UsagerRecord) -> str:
    return ins_rules.duplicate_key(record.nom_naissance, record.premier_prenom, record.date_naissance, record.sexe)


def _stored_traits(record: UsagerRecord) -> ins_rules.StoredTraits:
    return ins_rules.StoredTraits(
        nom_naissance=record.nom_naissance,
        prenoms=tuple(record.prenoms_naissance or [record.premier_prenom]),
        sexe=record.sexe,
        date_naissance=record.date_naissance,
        lieu_naissance=record.lieu_naissance,
        matricule=record.ins.matricule if record.ins else None,
        oid=record.ins.oid if record.ins else None,
    )


def _apply_insi(current: UsagerRecord, identity: ins_rules.InsiIdentity, at: datetime) -> UsagerRecord:
    """RNIV rule 6: the INS traits come from the INSi answer; the previous matricules are kept."""
    active = Ins(
        matricule=identity.ins.matricule,
        oid=identity.ins.oid,
        date_debut=identity.ins.date_debut,
        date_fin=identity.ins.date_fin,
    )
    previous = [*([current.ins] if current.ins else []), *current.ins_history]
    candidates = [
        *(
            Ins(matricule=h.matricule, oid=h.oid, date_debut=h.date_debut, date_fin=h.date_fin)
            for h in identity.history
        ),
        *previous,
    ]
    history: list[Ins] = []
    seen = {active.matricule}
    for old in candidates:
        if old.matricule not in seen:
            seen.add(old.matricule)
            history.append(old)
    prenoms = list(identity.prenoms)
    document = current.model_dump(mode="json")
    document.update(
        {
            "nom_naissance": identity.nom_naissance,
            "premier_prenom": prenoms[0],
            "prenoms_naissance": prenoms,
            "sexe": identity.sexe,
            "date_naissance": date.fromisoformat(identity.date_naissance).isoformat(),
            "lieu_naissance": identity.lieu_naissance,
            "insi_verified": True,
            "ins_source": "insi",
            "insi_checked_at": at.astimezone(UTC).isoformat(),
            "ins": active.model_dump(mode="json"),
            "ins_history": [h.model_dump(mode="json") for h in history],
        }
    )
    return UsagerRecord.model_validate(document)


async def _repoint(service: ResourceService[Any], merged_id: uuid.UUID, kept_id: uuid.UUID) -> int:
    """Move the records of ``service`` from the merged usager to the kept one, each as a new version."""
    rows = await service.repo.page(
        scope=service.principal.scope, where=[service.repo.c.usager_id == merged_id], after=None, limit=10_000
    )
    for stored, _ in rows:
        current = service.record_from_body(stored.body)
        moved = current.model_copy(update={"usager_id": kept_id})
        await service.check(moved, stored.id)
        now = utcnow()
        body = service.render(moved, stored.id, stored.version + 1, service._created_at(stored), now, None)
        written = await service._unique(
            service.repo.update(
                resource_id=stored.id,
                expected_version=stored.version,
                body=body,
                columns=service.columns(moved),
                actor=service.principal.actor,
                now=now,
            )
        )
        if not written:
            raise PreconditionFailed(f"{service.repo.resource_type} {stored.id} changed during the merge")
    return len(rows)
