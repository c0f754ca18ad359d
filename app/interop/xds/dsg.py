"""Submission-set signature (IHE DSG, XAdES-BES enveloping) as the DMP expects it (reference services.md §2.5).

The Manifest lists ``urn:oid:<submission set uniqueId>`` and ``urn:oid:<document uniqueId>`` with the digest of
each CDA after C14N-with-comments; the XML-DSig and XAdES parts are produced and checked by signxml. signxml
references the enveloping ``ds:Object`` that holds the Manifest (``#object``) rather than ``#IHEManifest``: the
Manifest is covered by the signature either way. signxml writes ds:SignatureProperties only for detached
signatures, so the purpose of signature (1.2.840.10065.1.12.1.14) is carried by the signature DocumentEntry
eventCode only.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureConstructionMethod
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.xades.xades import XAdESSignatureConfiguration, XAdESSigner

from app.interop.cda.xds import Code, DocumentEntry
from app.interop.xds.signing import CachedChainXAdESVerifier, Signer

DS = "http://www.w3.org/2000/09/xmldsig#"
Digest = Literal["sha1", "sha256"]
DIGEST_URI = {"sha1": "http://www.w3.org/2000/09/xmldsig#sha1", "sha256": "http://www.w3.org/2001/04/xmlenc#sha256"}
PURPOSE = "1.2.840.10065.1.12.1.14"  # ASTM E1762 "Source" signature purpose
MANIFEST_ID = "IHEManifest"


class SignatureError(ValueError):
    """A submission-set signature that does not verify or does not match the documents."""


def document_digest(content: bytes, digest: Digest) -> str:
    """Base64 digest of a CDA after C14N with comments."""
    canonical = etree.tostring(etree.fromstring(content), method="c14n", with_comments=True)
    return base64.b64encode(hashlib.new(digest, canonical).digest()).decode()


def _manifest(submission_uid: str, documents: dict[str, bytes], digest: Digest) -> etree._Element:
    manifest = etree.Element(f"{{{DS}}}Manifest", Id=MANIFEST_ID, nsmap={"ds": DS})
    # The kit puts a digest of the uniqueId on the submission-set reference (it has no content of its own).
    entries = [(submission_uid, base64.b64encode(hashlib.new(digest, submission_uid.encode()).digest()).decode())]
    entries += [(uid, document_digest(content, digest)) for uid, content in documents.items()]
    for uid, value in entries:
        reference = etree.SubElement(manifest, f"{{{DS}}}Reference", URI=f"urn:oid:{uid}")
        etree.SubElement(reference, f"{{{DS}}}DigestMethod", Algorithm=DIGEST_URI[digest])
        etree.SubElement(reference, f"{{{DS}}}DigestValue").text = value
    return manifest


def sign(submission_uid: str, documents: dict[str, bytes], signer: Signer, *, digest: Digest = "sha256") -> bytes:
    """The signature document: ``documents`` maps each document uniqueId (OID form) to its CDA bytes."""
    xades = XAdESSigner(
        method=SignatureConstructionMethod.enveloping,
        # The setting applies to the Manifest digests (SHA-1 in the CNAM kit); SignedInfo always uses SHA-256.
        signature_algorithm=signer.signature_method("sha256"),
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0_WITH_COMMENTS,
    )
    signature: etree._Element = xades.sign(
        _manifest(submission_uid, documents, digest),
        key=signer.key,
        cert=[signer.certificate],
    )
    serialised: bytes = etree.tostring(signature, xml_declaration=True, encoding="UTF-8")
    return serialised


@dataclass(frozen=True)
class VerifiedSignature:
    submission_uid: str
    document_uids: tuple[str, ...]


def verify(signature: bytes, documents: dict[str, bytes], *, ca_file: Path) -> VerifiedSignature:
    """Verify the XAdES signature against ``ca_file`` and each Manifest digest against the submitted documents."""
    try:
        results = CachedChainXAdESVerifier().verify(
            signature,
            ca_pem_file=str(ca_file),
            expect_config=XAdESSignatureConfiguration(
                expect_references=3,
            ),
        )
    except (InvalidSignature, InvalidInput, etree.XMLSyntaxError) as exc:
        raise SignatureError(f"submission-set signature: {exc}") from exc
    manifest = None
    for result in results if isinstance(results, list) else [results]:
        if result.signed_xml is not None:
            manifest = result.signed_xml.find(f".//{{{DS}}}Manifest[@Id='{MANIFEST_ID}']")
            if manifest is not None:
                break
    if manifest is None:
        raise SignatureError("submission-set signature without a signed IHEManifest")
    uids = [r.get("URI", "").removeprefix("urn:oid:") for r in manifest.iter(f"{{{DS}}}Reference")]
    if not uids:
        raise SignatureError("empty IHEManifest")
    for reference, uid in zip(manifest.iter(f"{{{DS}}}Reference"), uids, strict=True):
        if uid == uids[0]:
            continue
        if uid not in documents:
            raise SignatureError(f"the signature lists {uid}, which is not in the submission")
        algorithm = reference.find(f"{{{DS}}}DigestMethod")
        name: Digest = (
            "sha1" if algorithm is not None and algorithm.get("Algorithm") == DIGEST_URI["sha1"] else "sha256"
        )
        if reference.findtext(f"{{{DS}}}DigestValue") != document_digest(documents[uid], name):
            raise SignatureError(f"digest of {uid} does not match the submitted document")
    unsigned = set(documents) - set(uids[1:])
    if unsigned:
        raise SignatureError(f"documents not covered by the signature: {', '.join(sorted(unsigned))}")
    return VerifiedSignature(uids[0], tuple(uids[1:]))


def signature_entry(content: bytes, *, unique_id: str, patient_id: str, creation_time: str) -> DocumentEntry:
    """DocumentEntry of the signature document (reference §2.5: classCode, formatCode, typeCode E1762)."""
    return DocumentEntry(
        unique_id=unique_id,
        title="Signature de la soumission",
        type_code=Code("E1762", "1.3.6.1.4.1.19376.1.2.1.1.1", "Full Document"),
        class_code=Code("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", "Digital Signature"),
        format_code=Code("http://www.w3.org/2000/09/xmldsig#", "URN", "Default Signature Style"),
        confidentiality_code=Code("N", "2.16.840.1.113883.5.25", "Normal"),
        practice_setting_code=Code("MEDICO-SOCIAL", "1.2.250.1.213.1.1.4.9", "Médico-social"),
        healthcare_facility_type_code=Code("SA41", "1.2.250.1.71.4.2.4", "Autre ESMS"),
        language_code="art",
        creation_time=creation_time,
        service_start_time=None,
        patient_id=patient_id,
        mime_type="text/xml",
        hash=hashlib.sha1(content).hexdigest(),  # XDS.b defines the hash as SHA-1
        size=len(content),
        set_id=f"2.25.{uuid.uuid4().int}",
        version=1,
    )


SIGNATURE_EVENT = Code(PURPOSE, "1.2.840.10065.1.12", "Source")
