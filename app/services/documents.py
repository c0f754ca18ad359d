"""Use cases of CDA documents: generate (validated before it is stored or sent), replace, receive, read."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import html
import uuid
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import orjson
from lxml import etree
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain import codes
from app.domain.access import Principal
from app.domain.dmp import eligibility
from app.domain.documents import DocumentKind, DocumentRequest, VersionChain
from app.domain.errors import Conflict, DomainError, FieldIssue, NotFound, RuleViolation
from app.domain.identity import IdentityStatus, UsagerRecord, may_share_ins
from app.domain.professionals import ProfessionalInput
from app.domain.stays import StayInput
from app.domain.structures import EssmsInput
from app.interop.cda.document import GeneratedDocument, build_document, embedded_pdf, parse_cda, template_ids
from app.interop.cda.header import Essms, Professional, oid_of
from app.interop.cda.pdfa import Block, pdfa_issues
from app.interop.cda.validation import CdaValidator, ValidationReport
from app.interop.cda.volets.aggir import AggirSource, check_aggir
from app.interop.cda.volets.ppa import PlanSource, check_sendable
from app.interop.cda.xds import MetadataError, document_entry
from app.services.evaluations import EvaluationService, read_evaluation
from app.services.plans import PlanService, read_plan
from app.services.professionals import ProfessionalService
from app.services.structures import EssmsService
from app.services.usagers import UsagerService
from app.store.dmp import DmpRepository
from app.store.documents import DocumentRepository, DocumentRow
from app.store.repository import Keyset, UniqueViolation

NS = {"c": "urn:hl7-org:v3"}
_SUMMARY_FIELDS = frozenset(f.name for f in fields(DocumentRow)) - {"replaced_by_id"}
TEMPLATE_FLUDR = "1.2.250.1.213.1.1.1.24"


class DocumentInvalid(DomainError):
    """The document fails the ANS validators: it is neither stored nor sent."""

    code = "cda-invalid"
    title = "The CDA document fails the ANS validators"
    status = 422

    def __init__(self, report: ValidationReport) -> None:
        issues = [FieldIssue(f.location, f"{f.source}:{f.assertion}"[:200], f.message) for f in report.errors[:50]]
        super().__init__(f"{len(report.errors)} validation error(s)", issues=issues)
        self.report = report


class PdfNotPdfA(DomainError):
    code = "pdf-not-pdfa"
    title = "The uploaded PDF is not PDF/A"
    status = 422


@dataclass(frozen=True)
class PreparedDocument:
    """A document built and validated, not stored yet (see :meth:`DocumentService.prepare`)."""

    document_id: uuid.UUID
    usager_id: uuid.UUID
    essms_id: uuid.UUID
    kind: DocumentKind
    uploaded: bool
    generated: GeneratedDocument
    report: ValidationReport
    parent: DocumentRow | None


@dataclass(frozen=True)
class StoredDocument:
    row: DocumentRow
    generated: GeneratedDocument | None = None


def public(row: DocumentRow) -> dict[str, Any]:
    """The JSON shown for a document (metadata; the XML and renderings have their own URLs)."""
    return {
        "id": str(row.id),
        "usager_id": str(row.usager_id),
        "essms_id": str(row.essms_id),
        "kind": row.kind,
        "origin": row.origin,
        "type_code": row.type_code,
        "title": row.title,
        "set_id": row.set_id,
        "version_number": row.version_number,
        "replaces_id": str(row.replaces_id) if row.replaces_id else None,
        "replaced_by_id": str(row.replaced_by_id) if row.replaced_by_id else None,
        "current": row.replaced_by_id is None,
        "created_at": row.created_at.isoformat(),
        "created_by": row.created_by,
        "xds": orjson.loads(row.xds),
        "validation": orjson.loads(row.validation),
    }


def render_html(title: str, blocks: list[Block]) -> str:
    parts = [f"<!DOCTYPE html><html lang='fr'><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"]
    parts.append(f"<body><h1>{html.escape(title)}</h1>")
    for block in blocks:
        parts.append(f"<h2>{html.escape(block.heading)}</h2><ul>")
        parts.extend(f"<li>{html.escape(line)}</li>" for line in block.lines or ["-"])
        parts.append("</ul>")
    parts.append("</body></html>")
    return "".join(parts)


def read_sections(root: etree._Element) -> list[Block]:
    """The narrative of a received structured document, section by section (title and text lines)."""
    blocks = []
    for section in root.iterfind("c:component/c:structuredBody/c:component/c:section", NS):
        text = section.find("c:text", NS)
        lines = []
        if text is not None:
            rows = text.xpath(
                ".//c:item | .//c:paragraph | .//c:tr | .//c:content[not(ancestor::c:item)]", namespaces=NS
            )
            lines = [" ".join(" ".join(r.itertext()).split()) for r in rows] or [
                " ".join(" ".join(text.itertext()).split())
            ]
        blocks.append(Block(section.findtext("c:title", default="", namespaces=NS), [line for line in lines if line]))
    return blocks


class DocumentService:
    def __init__(
        self,
        connection: AsyncConnection,
        principal: Principal,
        validator: CdaValidator,
        software: str,
        dmp_feed_types: list[str] | None = None,
    ) -> None:
        self.dmp_feed_types = (
            frozenset(dmp_feed_types)
            if dmp_feed_types is not None
            else frozenset(t.code for t in codes.essms_document_types().values() if t.in_dmp)
        )
        self.connection = connection
        self.principal = principal
        self.validator = validator
        self.software = software
        self.repo = DocumentRepository(connection)

    async def validate(self, xml: bytes) -> ValidationReport:
        """Every document is validated before it may be stored or leave the system."""
        report = await asyncio.to_thread(self.validator.validate, xml)
        if not report.valid:
            raise DocumentInvalid(report)
        return report

    async def _context(
        self, usager_id: uuid.UUID, essms_id: uuid.UUID | None, professional_id: uuid.UUID | None
    ) -> tuple[UsagerRecord, Essms, Professional, StayInput | None]:
        _, usager = await UsagerService(self.connection, self.principal).get_record(usager_id)
        essms_id, essms_record = await self._custodian(usager_id, essms_id)
        if professional_id is None:
            staff = await self.repo.professionals_of(essms_id)
            if not staff:
                raise RuleViolation(
                    "professional-required", "No professional works in the ESSMS; give one", field="professional_id"
                )
            professional_id = staff[0]
        try:
            _, professional = await ProfessionalService(self.connection, self.principal).get_record(professional_id)
        except NotFound as error:
            raise RuleViolation(
                "professional-exists", f"No professional {professional_id}", field="professional_id"
            ) from error
        stay_body = await self.repo.current_stay(usager_id, essms_id)
        stay = (
            StayInput.model_validate({k: v for k, v in orjson.loads(stay_body).items() if k in StayInput.model_fields})
            if stay_body
            else None
        )
        assert isinstance(essms_record, EssmsInput) and isinstance(professional, ProfessionalInput)
        assert isinstance(usager, UsagerRecord)
        return usager, Essms(essms_id, essms_record), Professional(professional_id, professional), stay

    async def _custodian(self, usager_id: uuid.UUID, essms_id: uuid.UUID | None) -> tuple[uuid.UUID, Any]:
        """The ESSMS keeping a document: the one given, or the usager's first, among the caller's ESSMS (a
        document is seen by the staff of its custodian only: one kept elsewhere would be lost to its author)."""
        if essms_id is None:
            known = await self.repo.usager_essms(usager_id, self.principal.scope)
            if not known:
                raise RuleViolation(
                    "essms-required", "The usager is known to none of your ESSMS; give essms_id", field="essms_id"
                )
            essms_id = known[0]
        try:
            _, essms_record = await EssmsService(self.connection, self.principal).get_record(essms_id)
        except NotFound as error:
            raise RuleViolation("essms-exists", f"No ESSMS {essms_id}", field="essms_id") from error
        return essms_id, essms_record

    async def generate(self, usager_id: uuid.UUID, request: DocumentRequest) -> StoredDocument:
        """Build, validate, derive the XDS metadata and store one document; nothing is stored if it fails."""
        return await self.store(await self.prepare(usager_id, request))

    async def prepare(self, usager_id: uuid.UUID, request: DocumentRequest) -> PreparedDocument:
        """Build and validate one document, writing nothing: a caller may do this outside the write transaction
        (on SQLite a write transaction holds the database's only write lock) and :meth:`store` it in one."""
        source, source_essms = await self._source(usager_id, request)
        usager, essms, professional, stay = await self._context(
            usager_id, request.essms_id or source_essms, request.professional_id
        )
        uploaded = self._uploaded_pdf(request)
        document_id = uuid.uuid4()
        chain = VersionChain.first(oid_of(document_id))
        parent: DocumentRow | None = None
        if request.replaces is not None:
            parent = await self.repo.get(request.replaces, self.principal.scope)
            if parent is None or parent.usager_id != usager_id:
                raise RuleViolation(
                    "replaces-exists", f"No document {request.replaces} of this usager", field="replaces"
                )
            if parent.replaced_by_id is not None:
                raise Conflict("replace-current", "Only the current version can be replaced", field="replaces")
            chain = VersionChain(parent.set_id, parent.version_number, None).replaced_by(oid_of(parent.id))
        generated = build_document(
            request.kind,
            document_id=document_id,
            usager_id=usager_id,
            usager=usager,
            essms=essms,
            professional=professional,
            created=datetime.now(UTC).replace(microsecond=0),
            chain=chain,
            type_code=request.type_code,
            title=request.title,
            author_is_software=request.author_is_software,
            software_name=self.software,
            stay=stay,
            data=request.data or {},
            pdf=uploaded,
            source=source,
        )
        report = await self.validate(generated.xml)
        return PreparedDocument(
            document_id, usager_id, essms.id, request.kind, uploaded is not None, generated, report, parent
        )

    async def store(self, prepared: PreparedDocument) -> StoredDocument:
        """Store a prepared document and queue it for the DMP, in the caller's transaction. A replacement is
        checked again here: the replaced version must still be the current one."""
        generated = prepared.generated
        row = await self._store(
            prepared.document_id,
            prepared.usager_id,
            prepared.essms_id,
            prepared.kind.value,
            "uploaded" if prepared.uploaded else "generated",
            generated.xml,
            generated.pdf,
            render_html(generated.header.title, generated.blocks),
            prepared.report,
            prepared.parent,
        )
        return StoredDocument(row, generated)

    async def usager_of(self, request: DocumentRequest) -> uuid.UUID:
        """The usager of the plan or evaluation a PPA or AGGIR report is made from."""
        source = await self._record_source(request)
        if source is None:
            raise RuleViolation("usager-required", "Give the usager of the document", field="usager_id")
        return source[0]

    async def _record_source(self, request: DocumentRequest) -> tuple[uuid.UUID, Any, uuid.UUID | None] | None:
        """(usager, source of the volet, ESSMS) of a PPA (plan_id) or AGGIR report (evaluation_id)."""
        if request.kind is DocumentKind.PPA:
            if request.plan_id is None:
                raise RuleViolation("plan-id-required", "A PPA is rendered from a plan: give plan_id", field="plan_id")
            try:
                plan = await read_plan(PlanService(self.connection, self.principal), request.plan_id)
            except NotFound as error:
                raise RuleViolation("plan-exists", f"No plan {request.plan_id}", field="plan_id") from error
            check_sendable(plan.plan)
            source = PlanSource(plan.plan, plan.review_due, plan.professionals)
            return plan.usager_id, source, plan.plan.essms_id
        if request.kind is DocumentKind.AGGIR:
            if request.evaluation_id is None:
                raise RuleViolation(
                    "evaluation-id-required",
                    "An AGGIR report is made from an evaluation: give evaluation_id",
                    field="evaluation_id",
                )
            try:
                view = await read_evaluation(EvaluationService(self.connection, self.principal), request.evaluation_id)
            except NotFound as error:
                raise RuleViolation(
                    "evaluation-exists", f"No evaluation {request.evaluation_id}", field="evaluation_id"
                ) from error
            check_aggir(view.evaluation)
            return view.evaluation.usager_id, AggirSource(view.evaluation, view.evaluateur, view.responsable), None
        for name in ("plan_id", "evaluation_id"):
            if getattr(request, name) is not None:
                raise RuleViolation(
                    f"{name.replace('_', '-')}-kind", f"{name} is read only by PPA and AGGIR documents", field=name
                )
        return None

    async def _source(self, usager_id: uuid.UUID, request: DocumentRequest) -> tuple[Any, uuid.UUID | None]:
        found = await self._record_source(request)
        if found is None:
            return None, None
        owner, source, essms_id = found
        if owner != usager_id:
            field = "plan_id" if request.kind is DocumentKind.PPA else "evaluation_id"
            raise RuleViolation(f"{field.replace('_', '-')}-of-usager", f"The {field} is another usager's", field=field)
        return source, essms_id

    def _uploaded_pdf(self, request: DocumentRequest) -> bytes | None:
        if request.pdf_base64 is None:
            return None
        if request.kind is not DocumentKind.N1_PDF:
            raise RuleViolation("pdf-only-n1", "Only N1 documents embed an uploaded PDF", field="pdf_base64")
        try:
            pdf = base64.b64decode(request.pdf_base64, validate=True)
        except (binascii.Error, ValueError) as error:
            raise RuleViolation("pdf-base64", "pdf_base64 is not base64", field="pdf_base64") from error
        issues = pdfa_issues(pdf)
        if issues:
            raise PdfNotPdfA(
                "The PDF is not PDF/A: " + "; ".join(issues),
                issues=[FieldIssue("pdf_base64", "pdf-a", issue) for issue in issues],
            )
        return pdf

    async def _store(
        self,
        document_id: uuid.UUID,
        usager_id: uuid.UUID,
        essms_id: uuid.UUID,
        kind: str,
        origin: str,
        xml: bytes,
        pdf: bytes | None,
        rendering: str | None,
        report: ValidationReport,
        parent: DocumentRow | None,
    ) -> DocumentRow:
        root = parse_cda(xml)
        try:
            entry = document_entry(xml, root)
        except MetadataError as error:
            raise RuleViolation("xds-metadata", str(error), field=error.metadata) from error
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            "id": document_id,
            "usager_id": usager_id,
            "essms_id": essms_id,
            "kind": kind,
            "origin": origin,
            "type_code": entry.type_code.code,
            "title": entry.title[:300],
            "set_id": entry.set_id,
            "version_number": entry.version,
            "replaces_id": parent.id if parent else None,
            "created_at": now,
            "created_by": self.principal.actor,
            "xml": xml.decode("utf-8"),
            # A PDF the XML embeds is stored once, in the XML (N1: ~45 KB fewer per document).
            "pdf": None if pdf is not None and embedded_pdf(root) == pdf else pdf,
            "html": rendering,
            "xds": orjson.dumps(entry.as_dict()).decode(),
            "validation": orjson.dumps(
                {
                    "valid": report.valid,
                    "checked": report.checked,
                    "warnings": len(report.findings),
                    "sha256": hashlib.sha256(xml).hexdigest(),
                    "rules": report.rules or await asyncio.to_thread(self.validator.rules, xml),
                }
            ).decode(),
        }
        try:
            await self.repo.insert(**values)
        except UniqueViolation as error:
            raise Conflict(
                "document-unique", f"A document with setId {entry.set_id} version {entry.version} is already stored"
            ) from error
        if parent is not None and not await self.repo.mark_replaced(parent.id, document_id):
            raise Conflict("replace-current", "The document was replaced meanwhile", field="replaces")
        if parent is not None:
            await DmpRepository(self.connection).supersede_unsent(parent.id, now)
        await self._queue_for_dmp(document_id, usager_id, essms_id, entry.unique_id, entry.type_code.code, now)
        # The row as stored, without reading it back.
        return DocumentRow(replaced_by_id=None, **{k: v for k, v in values.items() if k in _SUMMARY_FIELDS})

    async def _queue_for_dmp(
        self,
        document_id: uuid.UUID,
        usager_id: uuid.UUID,
        essms_id: uuid.UUID,
        unique_id: str,
        type_code: str,
        now: datetime,
    ) -> None:
        """The DMP send request, in the transaction of the document (outbox), with the policy's verdict."""
        dmp = DmpRepository(self.connection)
        identity_status, opposed = await dmp.sharing_facts(usager_id)
        identity = IdentityStatus(identity_status or IdentityStatus.PROV.value)
        status, reason = eligibility(
            identity_status=identity,
            opposed=opposed,
            type_code=type_code,
            feed_types=self.dmp_feed_types,
        )
        await dmp.enqueue(
            document_id=document_id,
            unique_id=unique_id,
            usager_id=usager_id,
            essms_id=essms_id,
            type_code=type_code,
            qualified=may_share_ins(identity),
            status=status.value,
            reason=reason,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )

    async def receive(self, usager_id: uuid.UUID, xml: bytes, essms_id: uuid.UUID | None) -> StoredDocument:
        """Attach a FLUDR received from the emergency department, once it passes the validators."""
        await UsagerService(self.connection, self.principal).get_record(usager_id)
        essms_id, _ = await self._custodian(usager_id, essms_id)
        try:
            root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError as error:
            raise RuleViolation("xml-well-formed", f"Not XML: {error}", field="body") from error
        if TEMPLATE_FLUDR not in template_ids(root):
            raise RuleViolation("fludr-template", "Only FLUDR documents (1.2.250.1.213.1.1.1.24) are received here")
        report = await self.validate(xml)
        blocks = read_sections(root)
        title = root.findtext("c:title", namespaces=NS) or "FLUDR"
        row = await self._store(
            uuid.uuid4(),
            usager_id,
            essms_id,
            DocumentKind.FLUDR.value,
            "received",
            xml,
            None,
            render_html(title, blocks),
            report,
            None,
        )
        return StoredDocument(row)

    async def for_sending(self, document_id: uuid.UUID) -> bytes:
        """The CDA XML as it may leave the system (DMP, MSSanté): validated again, never sent when it fails."""
        xml, _, _ = await self.content(document_id)
        row = await self.repo.get(document_id, self.principal.scope)
        if row is None:
            raise NotFound(f"No document {document_id}")
        return await self.checked_for_sending(row, xml)

    async def checked_for_sending(self, row: DocumentRow, xml: str) -> bytes:
        """``for_sending`` of a document already read (its summary row and its XML)."""
        data = xml.encode("utf-8")
        if not self._validated_as_is(row, data):
            await self.validate(data)
        return data

    def _validated_as_is(self, row: DocumentRow, data: bytes) -> bool:
        """These very bytes passed the validators under the rules in force now (no need to load them again).
        The rules' fingerprint is computed in the event loop: a parse and cached digests, shorter than a
        thread hop."""
        stored = orjson.loads(row.validation)
        if not stored.get("valid") or stored.get("sha256") != hashlib.sha256(data).hexdigest():
            return False
        return bool(stored.get("rules") == self.validator.rules(data))

    async def get(self, document_id: uuid.UUID) -> DocumentRow:
        row = await self.repo.get(document_id, self.principal.scope)
        if row is None:
            raise NotFound(f"No document {document_id}")
        return row

    async def content(self, document_id: uuid.UUID) -> tuple[str, bytes | None, str | None]:
        content = await self.repo.content(document_id, self.principal.scope)
        if content is None:
            raise NotFound(f"No document {document_id}")
        xml, pdf, html = content
        return xml, pdf if pdf is not None else embedded_pdf(xml), html

    async def list_for_usager(
        self, usager_id: uuid.UUID, *, set_id: str | None, after: Keyset | None, limit: int
    ) -> tuple[list[DocumentRow], Keyset | None]:
        await UsagerService(self.connection, self.principal).get_record(usager_id)
        rows = await self.repo.for_usager(usager_id, self.principal.scope, set_id=set_id, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        cursor = Keyset(rows[-1].created_at.isoformat(), rows[-1].id) if more and rows else None
        return rows, cursor
