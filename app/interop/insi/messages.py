"""INSi SOAP 1.2 messages per the CNAM WSDL DESIR_ICIR_EXP_1.5.0: building requests, reading answers. Pure."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal

from lxml import etree

from app.domain.ins import InsiIdentity, InsiTraits, InsNumber

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
CTXBAM = "urn:siram:bam:ctxbam"
CTXLPS = "urn:siram:lps:ctxlps"
RECSANS = "http://www.cnamts.fr/INSiRecSans"
RESULTAT = "http://www.cnamts.fr/INSiResultat"
SIRAM = "urn:siram"
ACTION_SEARCH = "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"
CONTENT_TYPE = f'application/soap+xml; charset=utf-8; action="{ACTION_SEARCH}"'

DATA = Path(__file__).resolve().parents[2] / "data" / "insi"
XSD = DATA / "wsdl" / "xsd"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class MessageError(ValueError):
    """The message is not a well-formed INSi message; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Software:
    """The LPS context: CNDA authorisation number (IDAM), name, version, install instance; the sender."""

    idam: str
    name: str
    version: str
    instance: str
    emetteur: str


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _sub(parent: etree._Element, ns: str, tag: str, value: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _q(ns, tag))
    if value is not None:
        element.text = value
    return element


def build_search(traits: InsiTraits, software: Software, *, now: datetime, message_id: str | None = None) -> bytes:
    """rechercherInsAvecTraitsIdentite: ContexteBAM, ContexteLPS and WS-Addressing headers, RECSANSVITALE body."""
    message_id = message_id or f"uuid:{uuid.uuid4()}"
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    envelope = etree.Element(_q(SOAP, "Envelope"), nsmap={"soap": SOAP, "ctxbam": CTXBAM, "ctxlps": CTXLPS, "wsa": WSA})
    header = _sub(envelope, SOAP, "Header")
    bam = _sub(header, CTXBAM, "ContexteBAM")
    bam.set("Version", "01_02")
    _sub(bam, CTXBAM, "Id", str(uuid.uuid4()))
    _sub(bam, CTXBAM, "Temps", stamp)
    _sub(bam, CTXBAM, "Emetteur", software.emetteur)
    _sub(bam, CTXBAM, "COUVERTURE")
    lps = _sub(header, CTXLPS, "ContexteLPS")
    lps.set("Nature", "CTXLPS")
    lps.set("Version", "01_00")
    _sub(lps, CTXLPS, "Id", str(uuid.uuid4()))
    _sub(lps, CTXLPS, "Temps", stamp)
    _sub(lps, CTXLPS, "Emetteur", software.emetteur)
    logiciel = _sub(lps, CTXLPS, "LPS")
    _sub(logiciel, CTXLPS, "IDAM", software.idam).set("R", "4")
    _sub(logiciel, CTXLPS, "Version", software.version)
    _sub(logiciel, CTXLPS, "Instance", software.instance)
    _sub(logiciel, CTXLPS, "Nom", f"urn:lps:{software.name}:{software.version}")
    _sub(header, WSA, "Action", ACTION_SEARCH)
    _sub(header, WSA, "MessageID", message_id)
    body = _sub(envelope, SOAP, "Body")
    search = etree.SubElement(body, _q(RECSANS, "RECSANSVITALE"), nsmap={"insi_recsans_ins": RECSANS})
    _sub(search, RECSANS, "NomNaissance", traits.nom_naissance)
    _sub(search, RECSANS, "Prenom", traits.prenom)
    _sub(search, RECSANS, "Sexe", traits.sexe)
    _sub(search, RECSANS, "DateNaissance", traits.date_naissance.isoformat())
    if traits.lieu_naissance:
        _sub(search, RECSANS, "LieuNaissance", traits.lieu_naissance)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


@dataclass(frozen=True)
class Answer:
    """What INSi said: a CR with, for 00, the identity."""

    code_cr: str
    libelle: str
    identity: InsiIdentity | None


@dataclass(frozen=True)
class Fault:
    """A SOAP 1.2 fault: Code/Value, Subcode (siram_NNN), Detail/siram:Erreur (desir_/insi_ code)."""

    code: str
    subcode: str | None
    detail_code: str | None
    severity: str | None
    reason: str

    @property
    def transient(self) -> bool:
        # siram_40: "service temporairement inaccessible, renouvelez votre demande" (technical, retry later).
        return self.code.endswith("Receiver") or self.subcode == "siram_40"


Parsed = Answer | Fault


def _local(value: str | None) -> str | None:
    return value.split(":", 1)[1] if value and ":" in value else value


def _text(parent: etree._Element, ns: str, tag: str) -> str | None:
    found = parent.find(_q(ns, tag))
    return None if found is None else (found.text or "")


def _ins_number(element: etree._Element) -> InsNumber:
    ident = element.find(_q(RESULTAT, "IdIndividu"))
    if ident is None:
        raise MessageError("IdIndividu missing")
    numero = _text(ident, RESULTAT, "NumIdentifiant") or ""
    cle = _text(ident, RESULTAT, "Cle") or ""
    oid = _text(element, RESULTAT, "OID") or ""
    return InsNumber(
        numero.strip(),
        cle.strip(),
        oid.strip(),
        _optional_date(_text(element, RESULTAT, "DateDeb")),
        _optional_date(_text(element, RESULTAT, "DateFin")),
    )


def _optional_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def parse_response(data: bytes) -> Parsed:
    """The RESULTAT of a search, or the Fault; MessageError when it is neither."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as error:
        raise MessageError(f"not XML: {error}") from error
    if root.tag != _q(SOAP, "Envelope"):
        raise MessageError("not a SOAP 1.2 envelope")
    body = root.find(_q(SOAP, "Body"))
    if body is None or len(body) == 0:
        raise MessageError("SOAP Body missing or empty")
    payload = body[0]
    if payload.tag == _q(SOAP, "Fault"):
        return _fault(payload)
    if payload.tag != _q(RESULTAT, "RESULTAT"):
        raise MessageError(f"unexpected body element {payload.tag}")
    # Not validated against INSi_RESULTAT_INS.xsd: the CNDA's own TEST_2.04 answer puts DateDeb before
    # IdIndividu. What the workflow relies on is checked field by field instead.
    cr = payload.find(_q(RESULTAT, "CR"))
    if cr is None:
        raise MessageError("CR missing")
    code = (_text(cr, RESULTAT, "CodeCR") or "").strip()
    libelle = (_text(cr, RESULTAT, "LibelleCR") or "").strip()
    individu = payload.find(_q(RESULTAT, "INDIVIDU"))
    if code != "00":
        return Answer(code, libelle, None)
    if individu is None:
        raise MessageError("CR 00 without INDIVIDU")
    return Answer(code, libelle, _identity(individu))


def _identity(individu: etree._Element) -> InsiIdentity:
    active = individu.find(_q(RESULTAT, "INSACTIF"))
    tiq = individu.find(_q(RESULTAT, "TIQ"))
    if active is None or tiq is None:
        raise MessageError("INSACTIF or TIQ missing")
    prenoms = (_text(tiq, RESULTAT, "ListePrenom") or "").split()
    return InsiIdentity(
        ins=_ins_number(active),
        history=tuple(_ins_number(h) for h in individu.findall(_q(RESULTAT, "INSHISTO"))),
        nom_naissance=(_text(tiq, RESULTAT, "NomNaissance") or "").strip(),
        prenoms=tuple(prenoms),
        sexe=(_text(tiq, RESULTAT, "Sexe") or "").strip(),
        date_naissance=(_text(tiq, RESULTAT, "DateNaissance") or "").strip(),
        lieu_naissance=(_text(tiq, RESULTAT, "LieuNaissance") or "").strip() or None,
    )


def _fault(element: etree._Element) -> Fault:
    code = element.findtext(f"{_q(SOAP, 'Code')}/{_q(SOAP, 'Value')}") or ""
    subcode = element.findtext(f"{_q(SOAP, 'Code')}/{_q(SOAP, 'Subcode')}/{_q(SOAP, 'Value')}")
    reason = element.findtext(f"{_q(SOAP, 'Reason')}/{_q(SOAP, 'Text')}") or ""
    erreur = element.find(f"{_q(SOAP, 'Detail')}/{_q(SIRAM, 'Erreur')}")
    return Fault(
        code=_local(code.strip()) or "",
        subcode=_local(subcode.strip()) if subcode else None,
        detail_code=erreur.get("code") if erreur is not None else None,
        severity=erreur.get("severite") if erreur is not None else None,
        reason=reason.strip() or ((erreur.text or "").strip() if erreur is not None else ""),
    )


# -- server side (the sandbox) ----------------------------------------------------------------------


@lru_cache
def _schema(path: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(path, _PARSER))


def resultat_schema() -> etree.XMLSchema:
    return _schema(str(XSD / "ServiceIdentiteCertifiee" / "INSi_RESULTAT_INS.xsd"))


@dataclass(frozen=True)
class SearchRequest:
    message_id: str
    emetteur: str | None
    idam: str | None
    nom_naissance: str | None
    prenoms: list[str]
    sexe: str | None
    date_naissance: str | None
    lieu_naissance: str | None


def read_search(data: bytes) -> SearchRequest:
    """A rechercherInsAvecTraitsIdentite request, each part validated against its CNAM XSD."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as error:
        raise MessageError(f"not XML: {error}") from error
    if root.tag != _q(SOAP, "Envelope"):
        raise MessageError("not a SOAP 1.2 envelope")
    header, body = root.find(_q(SOAP, "Header")), root.find(_q(SOAP, "Body"))
    if header is None or body is None or len(body) != 1:
        raise MessageError("Header and a Body with one element are required")
    parts: dict[str, tuple[str, str]] = {
        "ContexteBAM": (CTXBAM, str(XSD / "CTX" / "ROOT_ctxbam_CTXBAM_V01_02.xsd")),
        "ContexteLPS": (CTXLPS, str(XSD / "CTX" / "ROOT_ctxlps_CTXLPS_V01_00.xsd")),
    }
    for name, (ns, schema) in parts.items():
        element = header.find(_q(ns, name))
        if element is None:
            raise MessageError(f"{name} header missing")
        _validate(element, schema, name)
    action = header.findtext(_q(WSA, "Action"))
    message_id = header.findtext(_q(WSA, "MessageID"))
    if action != ACTION_SEARCH:
        raise MessageError(f"wsa:Action must be {ACTION_SEARCH}")
    if not message_id:
        raise MessageError("wsa:MessageID missing")
    search = body[0]
    if search.tag != _q(RECSANS, "RECSANSVITALE"):
        raise MessageError("Body must hold RECSANSVITALE")
    _validate(search, str(XSD / "ServiceIdentiteCertifiee" / "INSi_RECSANS_INS.xsd"), "RECSANSVITALE")
    lps = header.find(_q(CTXLPS, "ContexteLPS"))
    assert lps is not None
    return SearchRequest(
        message_id=message_id,
        emetteur=lps.findtext(_q(CTXLPS, "Emetteur")),
        idam=lps.findtext(f"{_q(CTXLPS, 'LPS')}/{_q(CTXLPS, 'IDAM')}"),
        nom_naissance=search.findtext(_q(RECSANS, "NomNaissance")),
        prenoms=[p.text or "" for p in search.findall(_q(RECSANS, "Prenom"))],
        sexe=search.findtext(_q(RECSANS, "Sexe")),
        date_naissance=search.findtext(_q(RECSANS, "DateNaissance")),
        lieu_naissance=search.findtext(_q(RECSANS, "LieuNaissance")),
    )


def _validate(element: etree._Element, schema: str, name: str) -> None:
    document = etree.fromstring(etree.tostring(element), _PARSER)
    try:
        _schema(schema).assertValid(document)
    except etree.DocumentInvalid as error:
        raise MessageError(f"{name} does not match its XSD: {error}") from error


def build_result(code_cr: str, libelle: str, identity: InsiIdentity | None) -> bytes:
    """A RESULTAT answer (as the CNAM sends it) for the sandbox."""
    envelope = etree.Element(_q(SOAP, "Envelope"), nsmap={"soap": SOAP})
    body = _sub(envelope, SOAP, "Body")
    result = etree.SubElement(body, _q(RESULTAT, "RESULTAT"), nsmap={None: RESULTAT})
    cr = _sub(result, RESULTAT, "CR")
    _sub(cr, RESULTAT, "CodeCR", code_cr)
    _sub(cr, RESULTAT, "LibelleCR", libelle)
    if identity is not None:
        individu = _sub(result, RESULTAT, "INDIVIDU")
        _number(_sub(individu, RESULTAT, "INSACTIF"), identity.ins)
        for old in identity.history:
            _number(_sub(individu, RESULTAT, "INSHISTO"), old)
        tiq = _sub(individu, RESULTAT, "TIQ")
        _sub(tiq, RESULTAT, "NomNaissance", identity.nom_naissance)
        if identity.prenoms:
            _sub(tiq, RESULTAT, "Prenom", identity.prenoms[0])
        _sub(tiq, RESULTAT, "ListePrenom", " ".join(identity.prenoms))
        _sub(tiq, RESULTAT, "Sexe", identity.sexe)
        _sub(tiq, RESULTAT, "DateNaissance", identity.date_naissance)
        if identity.lieu_naissance:
            _sub(tiq, RESULTAT, "LieuNaissance", identity.lieu_naissance)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


def _number(parent: etree._Element, number: InsNumber) -> None:
    ident = _sub(parent, RESULTAT, "IdIndividu")
    _sub(ident, RESULTAT, "NumIdentifiant", number.numero)
    _sub(ident, RESULTAT, "Cle", number.cle)
    _sub(parent, RESULTAT, "OID", number.oid)
    if number.date_debut:
        _sub(parent, RESULTAT, "DateDeb", number.date_debut.isoformat())
    if number.date_fin:
        _sub(parent, RESULTAT, "DateFin", number.date_fin.isoformat())


def build_fault(
    code: Literal["Sender", "Receiver"], subcode: str, detail_code: str, reason: str, message_id: str | None = None
) -> bytes:
    envelope = etree.Element(_q(SOAP, "Envelope"), nsmap={"soap": SOAP})
    fault = _sub(_sub(envelope, SOAP, "Body"), SOAP, "Fault")
    code_el = _sub(fault, SOAP, "Code")
    _sub(code_el, SOAP, "Value", f"soap:{code}")
    _sub(_sub(code_el, SOAP, "Subcode"), SOAP, "Value", f"soap:{subcode}")
    text = _sub(_sub(fault, SOAP, "Reason"), SOAP, "Text", reason)
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    erreur = etree.SubElement(_sub(fault, SOAP, "Detail"), _q(SIRAM, "Erreur"), nsmap={"siram": SIRAM})
    erreur.set("code", detail_code)
    erreur.set("severite", "erreur" if code == "Sender" else "fatal")
    if message_id:
        erreur.set("messageID", message_id)
    erreur.text = reason
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))
