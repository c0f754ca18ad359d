"""Submission-set signature: XAdES-BES over a Manifest of the documents' digests, SHA-1 or SHA-256."""

from __future__ import annotations

import pytest
from lxml import etree

from app.interop.xds import dsg
from app.interop.xds.signing import Signer
from app.sandbox.pki import Pki

DOCS = {
    "1.2.250.1.999.1.42": b"<ClinicalDocument xmlns='urn:hl7-org:v3'><!-- c --><title>PPA</title></ClinicalDocument>",
    "1.2.250.1.999.1.43": b"<ClinicalDocument xmlns='urn:hl7-org:v3'><title>DLU</title></ClinicalDocument>",
}


@pytest.mark.parametrize("digest", ["sha1", "sha256"])
def test_signature_verifies_and_lists_every_document(signer: Signer, dmp_pki: Pki, digest: dsg.Digest) -> None:
    signature = dsg.sign("1.2.250.1.999.3.1", DOCS, signer, digest=digest)
    root = etree.fromstring(signature)
    assert root.find(f".//{{{dsg.DS}}}Manifest").get("Id") == "IHEManifest"
    methods = {m.get("Algorithm") for m in root.iter(f"{{{dsg.DS}}}DigestMethod")}
    assert dsg.DIGEST_URI[digest] in methods
    assert root.find(".//{http://uri.etsi.org/01903/v1.3.2#}SigningTime") is not None
    verified = dsg.verify(signature, DOCS, ca_file=dmp_pki.ca_cert)
    assert verified.submission_uid == "1.2.250.1.999.3.1"
    assert set(verified.document_uids) == set(DOCS)


def test_a_changed_document_is_detected(signer: Signer, dmp_pki: Pki) -> None:
    signature = dsg.sign("1.2.3", DOCS, signer)
    changed = dict(DOCS) | {"1.2.250.1.999.1.43": DOCS["1.2.250.1.999.1.43"].replace(b"DLU", b"XXX")}
    with pytest.raises(dsg.SignatureError, match=r"digest of 1\.2\.250\.1\.999\.1\.43"):
        dsg.verify(signature, changed, ca_file=dmp_pki.ca_cert)


def test_an_unsigned_extra_document_is_detected(signer: Signer, dmp_pki: Pki) -> None:
    signature = dsg.sign("1.2.3", DOCS, signer)
    with pytest.raises(dsg.SignatureError, match="not covered"):
        dsg.verify(signature, DOCS | {"9.9": b"<a/>"}, ca_file=dmp_pki.ca_cert)


def test_a_tampered_manifest_is_detected(signer: Signer, dmp_pki: Pki) -> None:
    signature = dsg.sign("1.2.3", DOCS, signer).replace(b"1.2.250.1.999.1.42", b"1.2.250.1.999.1.44")
    with pytest.raises(dsg.SignatureError, match="signature"):
        dsg.verify(signature, DOCS, ca_file=dmp_pki.ca_cert)


def test_comments_count_in_the_digest() -> None:
    with_comment = DOCS["1.2.250.1.999.1.42"]
    without = with_comment.replace(b"<!-- c -->", b"")
    assert dsg.document_digest(with_comment, "sha1") != dsg.document_digest(without, "sha1")
