"""Structuration minimale N1: any JDV_J66 document type, the body an embedded PDF/A (IHE XDS-SD)."""

from __future__ import annotations

import base64

from app.domain import codes
from app.domain.documents import DocumentKind, check_uploadable_type
from app.domain.errors import RuleViolation
from app.interop.cda.header import DocumentHeader, E
from app.interop.cda.pdfa import Block, render_pdfa
from app.interop.cda.volets import Built, Volet, VoletInput, register

TEMPLATE_XDS_SD = "1.3.6.1.4.1.19376.1.2.20"


def identity_block(header: DocumentHeader) -> Block:
    """The usager and the ESSMS as printed on every rendering (the INS only when it may be shared)."""
    from app.domain.identity import may_share_ins

    usager = header.usager
    lines = [
        f"Nom de naissance : {usager.nom_naissance}",
        f"Prénoms : {' '.join(usager.prenoms_naissance or [usager.premier_prenom])}",
        f"Sexe : {usager.sexe} - Né(e) le {usager.date_naissance:%d/%m/%Y}",
    ]
    if usager.nom_utilise:
        lines.append(f"Nom utilisé : {usager.nom_utilise}")
    if usager.ins is not None and may_share_ins(usager.status):
        lines.append(f"INS : {usager.ins.matricule} ({usager.ins.oid})")
    lines.append(f"Établissement : {header.essms.record.nom} (FINESS {header.essms.record.finess_et})")
    author = header.professional.record
    lines.append(f"Responsable : {author.prenom} {author.nom}")
    return Block("Usager", lines)


class N1Volet(Volet):
    kind = DocumentKind.N1_PDF
    template_ids = ((TEMPLATE_XDS_SD, None),)
    media_type = "application/pdf"
    # A volet built on N1 for one type of document (PPA 80788-3, AGGIR report BIL_AUTO) sets it here.
    fixed_type: str | None = None

    def type_code(self, requested: str | None) -> codes.Concept:
        requested = self.fixed_type or requested
        if not requested:
            raise RuleViolation("type-code-required", "An N1 document needs its type (JDV_J66)", field="type_code")
        known = check_uploadable_type(requested)
        return codes.Concept(known.code, known.display, known.system)

    def blocks(self, given: VoletInput) -> list[Block]:
        return [identity_block(given.header), *self.content(given)]

    def content(self, given: VoletInput) -> list[Block]:
        """The document's own blocks; volets built on N1 (PPA, AGGIR report) override this."""
        return []

    def build(self, given: VoletInput) -> Built:
        blocks = self.blocks(given)
        pdf = given.pdf or render_pdfa(given.header.title, blocks, producer=given.header.software_name)
        text = E.text(base64.b64encode(pdf).decode("ascii"), mediaType="application/pdf", representation="B64")
        return Built(body=E.component(E.nonXMLBody(text)), pdf=pdf, blocks=blocks)


register(N1Volet())
