"""Assemble a CDA document: header from the domain, body and rendering from the volet."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from lxml import etree

from app.domain.documents import DocumentKind, VersionChain
from app.domain.identity import UsagerRecord
from app.domain.stays import StayInput
from app.interop.cda.header import DocumentHeader, Essms, Professional, clinical_document
from app.interop.cda.pdfa import Block
from app.interop.cda.volets import VoletInput, volet_for

NON_XML_TEXT = "{urn:hl7-org:v3}component/{urn:hl7-org:v3}nonXMLBody/{urn:hl7-org:v3}text"


_TEMPLATE_IDS = etree.XPath("c:templateId/@root", namespaces={"c": "urn:hl7-org:v3"})  # compiled once


def template_ids(root: etree._Element) -> list[str]:
    """The templateId roots of a CDA document (its profiles and volet)."""
    return [str(found) for found in _TEMPLATE_IDS(root)]


def parse_cda(xml: bytes | str) -> etree._Element:
    """A stored or generated CDA, parsed once for the readers below (large embedded PDFs allowed, no entities,
    no network)."""
    parser = etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True)
    return etree.fromstring(xml.encode("utf-8") if isinstance(xml, str) else xml, parser)


def embedded_pdf(xml: bytes | str | etree._Element) -> bytes | None:
    """The PDF a document carries in its nonXMLBody (N1, IHE XDS-SD), or None."""
    root = xml if isinstance(xml, etree._Element) else parse_cda(xml)
    text = root.find(NON_XML_TEXT)
    if text is None or text.get("mediaType") != "application/pdf" or text.get("representation") != "B64":
        return None
    try:
        return base64.b64decode("".join(text.itertext()), validate=False)
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True)
class GeneratedDocument:
    header: DocumentHeader
    xml: bytes
    pdf: bytes
    blocks: list[Block]


def build_document(
    kind: DocumentKind,
    *,
    document_id: UUID,
    usager_id: UUID,
    usager: UsagerRecord,
    essms: Essms,
    professional: Professional,
    created: datetime,
    chain: VersionChain,
    type_code: str | None = None,
    title: str | None = None,
    author_is_software: bool = False,
    software_name: str = "DUI backend",
    stay: StayInput | None = None,
    data: dict[str, Any] | None = None,
    pdf: bytes | None = None,
    source: Any = None,
) -> GeneratedDocument:
    """Build (not validate) one document of ``kind``; the caller validates before it leaves the system."""
    volet = volet_for(kind)
    concept = volet.type_code(type_code)
    draft = DocumentHeader(
        document_id=document_id,
        usager_id=usager_id,
        usager=usager,
        essms=essms,
        professional=professional,
        type_code=concept,
        title=title or concept.display,
        created=created,
        chain=chain,
        template_ids=volet.template_ids,
        author_is_software=author_is_software,
        software_name=software_name,
        stay=stay,
        service_event_code=volet.service_event_code(),
        encounter_code=volet.encounter_code(),
    )
    data = data or {}
    header = DocumentHeader(
        **{
            **draft.__dict__,
            "informants": volet.informants(draft, data),
            "participants": volet.participants(draft, data),
        }
    )
    built = volet.build(VoletInput(header=header, data=data, pdf=pdf, source=source))
    document = clinical_document(header)
    document.append(built.body)
    xml = etree.tostring(document, xml_declaration=True, encoding="UTF-8")
    return GeneratedDocument(header=header, xml=xml, pdf=built.pdf, blocks=built.blocks)
