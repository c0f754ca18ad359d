"""VIHF 3.0: the SAML 2.0 assertion of the DMP web services, signed with the structure SIGN certificate
(reference services.md §2.3)."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.signer import XMLSigner

from app.interop.xds.signing import CachedChainXMLVerifier, Signer, signing_certificate

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
AUTHN_PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"


@dataclass(frozen=True)
class Role:
    code: str
    code_system: str
    display: str


@dataclass(frozen=True)
class VihfContext:
    """Who sends, for which patient: the attributes of the VIHF."""

    user_id: str  # Subject/NameID: RPPS idNat or local id of the staff member (indirect mode)
    user_display: str  # subject-id "Nom Prénom [structure]"
    structure_id: str  # Identifiant_Structure
    sector: str  # Secteur_Activite "SAxx^1.2.250.1.71.4.2.4"
    roles: tuple[Role, ...]
    patient_id: str  # resource-id "<INS>^^^&<OID>&ISO^NH"
    lps_name: str
    lps_version: str
    lps_id: str
    homologation: str
    mode: str = "INDIRECTE"
    authn_class: str = AUTHN_PASSWORD


class VihfError(ValueError):
    """A VIHF the DMP refuses (bad signature, missing attribute)."""


def _attribute(parent: etree._Element, name: str, value: str | etree._Element) -> None:
    attribute = etree.SubElement(parent, f"{{{SAML}}}Attribute", Name=name)
    holder = etree.SubElement(attribute, f"{{{SAML}}}AttributeValue")
    if isinstance(value, str):
        holder.text = value
    else:
        holder.append(value)


def _ce(tag: str, code: str, system: str, display: str, **extra: str) -> etree._Element:
    # xsi:type="CE" is unprefixed in the DMP examples: it resolves through the default namespace.
    element = etree.Element(f"{{{HL7}}}{tag}", nsmap={None: HL7, "xsi": XSI})
    element.set(f"{{{XSI}}}type", "CE")
    element.set("code", code)
    element.set("codeSystem", system)
    element.set("displayName", display)
    for key, value in extra.items():
        element.set(key, value)
    return element


def build(context: VihfContext, signer: Signer, *, now: datetime | None = None) -> etree._Element:
    """The signed assertion (enveloped XML-DSig, exc-c14n, SHA-256, KeyInfo X509)."""
    instant = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assertion_id = f"_{uuid.uuid4()}"
    root = etree.Element(
        f"{{{SAML}}}Assertion", {"ID": assertion_id, "IssueInstant": instant, "Version": "2.0"}, nsmap={"saml2": SAML}
    )
    issuer = etree.SubElement(
        root, f"{{{SAML}}}Issuer", Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
    )
    issuer.text = signer.subject
    etree.SubElement(root, f"{{{DS}}}Signature", Id="placeholder", nsmap={"ds": DS})
    subject = etree.SubElement(root, f"{{{SAML}}}Subject")
    etree.SubElement(subject, f"{{{SAML}}}NameID").text = context.user_id
    authn = etree.SubElement(root, f"{{{SAML}}}AuthnStatement", AuthnInstant=instant)
    etree.SubElement(
        etree.SubElement(authn, f"{{{SAML}}}AuthnContext"), f"{{{SAML}}}AuthnContextClassRef"
    ).text = context.authn_class
    statement = etree.SubElement(root, f"{{{SAML}}}AttributeStatement")
    _attribute(statement, "VIHF_Version", "3.0")
    _attribute(statement, "Authentification_mode", context.mode)
    _attribute(statement, "Identifiant_Structure", context.structure_id)
    _attribute(statement, "Secteur_Activite", context.sector)
    _attribute(statement, "urn:oasis:names:tc:xspa:1.0:subject:subject-id", context.user_display)
    role_name = "urn:oasis:names:tc:xacml:2.0:subject:role"
    role_attribute = etree.SubElement(statement, f"{{{SAML}}}Attribute", Name=role_name)
    for role in context.roles:
        etree.SubElement(role_attribute, f"{{{SAML}}}AttributeValue").append(
            _ce("Role", role.code, role.code_system, role.display)
        )
    _attribute(
        statement,
        "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse",
        _ce("PurposeOfUse", "normal", "1.2.250.1.213.1.1.4.248", "Accès normal", codeSystemName="mode acces VIHF 2.0"),
    )
    _attribute(statement, "urn:oasis:names:tc:xacml:2.0:resource:resource-id", context.patient_id)
    _attribute(statement, "Ressource_URN", "urn:dmp")
    _attribute(statement, "LPS_Nom", context.lps_name)
    _attribute(statement, "LPS_Version", context.lps_version)
    _attribute(statement, "LPS_ID", context.lps_id)
    _attribute(statement, "LPS_ID_HOMOLOGATION_DMP", context.homologation)
    signed: etree._Element = XMLSigner(
        signature_algorithm=signer.signature_method("sha256"),
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    ).sign(root, key=signer.key, cert=[signer.certificate], reference_uri=f"#{assertion_id}", id_attribute="ID")
    return signed


# The VIHF carries no validity of its own (no saml2:Conditions in the reference, services.md §2.3) and how long
# the DMP accepts one after its IssueInstant is not published: a sender reuses one for a minute at most.
REUSE = timedelta(minutes=1)


class Assertions:
    """The signed VIHF of each patient, reused for the patient's next requests while it is recent (``reuse``
    after its IssueInstant), then signed anew: a worker delivering a patient's documents one after another
    signs one assertion rather than one per request. The assertion names the patient (resource-id): it is
    never given for another one. Callers must not modify it (soap.envelope copies it)."""

    LIMIT = 4096

    def __init__(
        self,
        context: VihfContext,
        signer: Signer,
        *,
        reuse: timedelta = REUSE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.context = context
        self.signer = signer
        self.reuse = reuse
        self.clock = clock
        self._signed: dict[str, tuple[etree._Element, datetime]] = {}

    def for_patient(self, patient_id: str) -> etree._Element:
        now = self.clock()
        found = self._signed.get(patient_id)
        if found is not None and found[1] <= now < found[1] + self.reuse:
            return found[0]
        if len(self._signed) >= self.LIMIT:
            self._signed = {p: (a, at) for p, (a, at) in self._signed.items() if at + self.reuse > now}
            if len(self._signed) >= self.LIMIT:
                self._signed.clear()
        # The IssueInstant is written to the second: the reuse is counted from that, not from ``now``.
        issued = now.replace(microsecond=0)
        assertion = build(replace(self.context, patient_id=patient_id), self.signer, now=issued)
        self._signed[patient_id] = (assertion, issued)
        return assertion


REQUIRED = (
    "VIHF_Version",
    "Authentification_mode",
    "Identifiant_Structure",
    "Secteur_Activite",
    "urn:oasis:names:tc:xspa:1.0:subject:subject-id",
    "urn:oasis:names:tc:xacml:2.0:subject:role",
    "urn:oasis:names:tc:xacml:2.0:resource:resource-id",
    "LPS_Nom",
    "LPS_ID_HOMOLOGATION_DMP",
)


@dataclass(frozen=True)
class VerifiedVihf:
    attributes: dict[str, str]
    signer_subject: str
    signer_not_after: datetime


def verify(assertion: etree._Element, *, ca_file: Path) -> VerifiedVihf:
    """Check schema, signature (chained to the CAs of ``ca_file``) and attributes; raise VihfError otherwise."""
    # The generate-VIHF XSDs are XMLSpy samples with enumerated values: the structure is checked here.
    if assertion.tag != f"{{{SAML}}}Assertion" or assertion.get("Version") != "2.0" or not assertion.get("ID"):
        raise VihfError("VIHF must be a SAML 2.0 Assertion with an ID")
    if assertion.find(f"{{{SAML}}}Issuer") is None or assertion.find(f"{{{SAML}}}Subject/{{{SAML}}}NameID") is None:
        raise VihfError("VIHF needs an Issuer and a Subject/NameID")
    try:
        result = CachedChainXMLVerifier().verify(assertion, ca_pem_file=str(ca_file), id_attribute="ID")
    except (InvalidSignature, InvalidInput) as exc:
        raise VihfError(f"VIHF signature: {exc}") from exc
    assert not isinstance(result, list)
    signed = result.signed_xml
    assert signed is not None
    attributes = {
        a.get("Name", ""): (a.findtext(f"{{{SAML}}}AttributeValue") or "").strip()
        for a in signed.iter(f"{{{SAML}}}Attribute")
    }
    roles = signed.findall(f".//{{{SAML}}}Attribute[@Name='urn:oasis:names:tc:xacml:2.0:subject:role']/*/{{{HL7}}}Role")
    if not roles or any(not r.get("code") or not r.get("codeSystem") for r in roles):
        raise VihfError("VIHF subject:role needs at least one hl7:Role with code and codeSystem")
    missing = [name for name in REQUIRED if name not in attributes]
    if missing:
        raise VihfError(f"VIHF attributes missing: {', '.join(missing)}")
    if attributes["VIHF_Version"] != "3.0":
        raise VihfError("VIHF_Version must be 3.0")
    certificate = signing_certificate(result.signature_xml)
    try:
        key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value if certificate else None
    except x509.ExtensionNotFound:
        key_usage = None
    if certificate is None or key_usage is None or not key_usage.content_commitment:
        raise VihfError("Not a valid signature certificate")  # DMPInvalidCertificate (reference §2.2)
    return VerifiedVihf(attributes, certificate.subject.rfc4514_string(), certificate.not_valid_after_utc)


class AcceptedAssertions:
    """The VIHFs a server has accepted, by their exact bytes: a client may send the same signed assertion for a
    while (ours does, one minute per patient), and the same bytes need not be verified on every request. An
    entry lasts ``ttl`` and never past its signing certificate's expiry; a refused assertion is never
    remembered (verified, and refused, each time)."""

    def __init__(self, ttl: timedelta = timedelta(minutes=5), size: int = 4096) -> None:
        self.ttl, self.size = ttl, size
        self._accepted: OrderedDict[tuple[bytes, str], tuple[datetime, VerifiedVihf]] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, assertion: etree._Element, *, ca_file: Path, now: datetime | None = None) -> VerifiedVihf:
        now = now or datetime.now(UTC)
        key = (hashlib.sha256(etree.tostring(assertion)).digest(), str(ca_file))
        with self._lock:
            known = self._accepted.get(key)
            if known is not None and now < known[0]:
                self._accepted.move_to_end(key)
                return known[1]
        verified = verify(assertion, ca_file=ca_file)
        with self._lock:
            self._accepted[key] = (min(now + self.ttl, verified.signer_not_after), verified)
            while len(self._accepted) > self.size:
                self._accepted.popitem(last=False)
        return verified
