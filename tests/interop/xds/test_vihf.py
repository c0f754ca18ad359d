"""VIHF 3.0 assertion: signed with the SIGN certificate, verified against the CA, tampering detected."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree

from app.interop.xds import vihf
from app.interop.xds.signing import Signer
from app.sandbox.pki import Pki, issue_signing_certificate, make_pki

CONTEXT = vihf.VihfContext(
    user_id="DUI-42",
    user_display="Martin Anne [EHPAD Test]",
    structure_id="1010101010",
    sector="SA17^1.2.250.1.71.4.2.4",
    roles=(vihf.Role("SECRETARIAT_MEDICAL", "1.2.250.1.213.1.1.4.6", "Secrétariat médical"),),
    patient_id="123456789012345^^^&1.2.250.1.213.1.4.10&ISO^NH",
    lps_name="DUI",
    lps_version="0.1",
    lps_id="test-instance",
    homologation="TEST-0001",
)


def test_signed_vihf_verifies(signer: Signer, dmp_pki: Pki) -> None:
    assertion = vihf.build(CONTEXT, signer)
    names = [e.tag.split("}")[1] for e in assertion]
    assert names[:2] == ["Issuer", "Signature"]  # SAML 2.0 order: Signature right after Issuer
    assert assertion.findtext(f"{{{vihf.SAML}}}Issuer") == signer.subject
    parsed = etree.fromstring(etree.tostring(assertion))
    result = vihf.verify(parsed, ca_file=dmp_pki.ca_cert)
    assert result.attributes["VIHF_Version"] == "3.0"
    assert result.attributes["urn:oasis:names:tc:xacml:2.0:resource:resource-id"] == CONTEXT.patient_id
    assert result.attributes["Authentification_mode"] == "INDIRECTE"


def test_tampered_vihf_is_refused(signer: Signer, dmp_pki: Pki) -> None:
    text = etree.tostring(vihf.build(CONTEXT, signer)).replace(b"123456789012345", b"999999999999999")
    with pytest.raises(vihf.VihfError, match="signature"):
        vihf.verify(etree.fromstring(text), ca_file=dmp_pki.ca_cert)


def test_vihf_signed_with_the_authentication_certificate_is_refused(dmp_pki: Pki) -> None:
    auth = Signer.from_files(dmp_pki.client_cert, dmp_pki.client_key)
    assertion = vihf.build(CONTEXT, auth)
    with pytest.raises(vihf.VihfError, match="signature"):
        vihf.verify(assertion, ca_file=dmp_pki.ca_cert)


def test_vihf_from_another_ca_is_refused(signer: Signer, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other")
    with pytest.raises(vihf.VihfError, match="signature"):
        vihf.verify(vihf.build(CONTEXT, signer), ca_file=other.ca_cert)


def test_a_chain_verified_once_is_trusted_only_for_its_ca_file(signer: Signer, dmp_pki: Pki, tmp_path: Path) -> None:
    vihf.verify(vihf.build(CONTEXT, signer), ca_file=dmp_pki.ca_cert)
    vihf.verify(vihf.build(CONTEXT, signer), ca_file=dmp_pki.ca_cert)  # the chain from the cache
    # The signature itself is still checked on every request.
    text = etree.tostring(vihf.build(CONTEXT, signer)).replace(b"123456789012345", b"999999999999999")
    with pytest.raises(vihf.VihfError, match="signature"):
        vihf.verify(etree.fromstring(text), ca_file=dmp_pki.ca_cert)
    # Another CA file does not trust it; a CA file replaced by another CA forgets what it trusted.
    other = make_pki(tmp_path / "other")
    with pytest.raises(vihf.VihfError, match="signature"):
        vihf.verify(vihf.build(CONTEXT, signer), ca_file=other.ca_cert)
    replaced = tmp_path / "ca.pem"
    replaced.write_bytes(dmp_pki.ca_cert.read_bytes())
    vihf.verify(vihf.build(CONTEXT, signer), ca_file=replaced)
    replaced.write_bytes(other.ca_cert.read_bytes() + b"\n")
    with pytest.raises(vihf.VihfError, match="signature"):
        vihf.verify(vihf.build(CONTEXT, signer), ca_file=replaced)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 30, 15, 600_000, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_patient_s_assertion_is_reused_while_recent_then_signed_anew(signer: Signer, dmp_pki: Pki) -> None:
    clock = Clock()
    assertions = vihf.Assertions(CONTEXT, signer, reuse=timedelta(minutes=1), clock=clock)
    first = assertions.for_patient(CONTEXT.patient_id)
    assert first.get("IssueInstant") == "2026-03-02T09:30:15Z"
    clock.now += timedelta(seconds=59)  # 59.6 s after the IssueInstant
    assert assertions.for_patient(CONTEXT.patient_id) is first
    clock.now += timedelta(seconds=1)  # one minute after the IssueInstant (written to the second): renewed
    second = assertions.for_patient(CONTEXT.patient_id)
    assert second is not first and second.get("ID") != first.get("ID")
    assert second.get("IssueInstant") == "2026-03-02T09:31:15Z"
    result = vihf.verify(etree.fromstring(etree.tostring(second)), ca_file=dmp_pki.ca_cert)
    assert result.attributes["urn:oasis:names:tc:xacml:2.0:resource:resource-id"] == CONTEXT.patient_id


def test_an_assertion_is_never_given_for_another_patient_nor_from_the_future(signer: Signer) -> None:
    clock = Clock()
    assertions = vihf.Assertions(CONTEXT, signer, clock=clock)
    mine = assertions.for_patient(CONTEXT.patient_id)
    other_patient = "223456789012345^^^&1.2.250.1.213.1.4.10&ISO^NH"
    other = assertions.for_patient(other_patient)
    resource = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
    assert other is not mine
    assert other.findtext(f".//{{{vihf.SAML}}}Attribute[@Name='{resource}']/{{{vihf.SAML}}}AttributeValue") == (
        other_patient
    )
    clock.now -= timedelta(seconds=5)  # the clock went back: an IssueInstant in the future is not sent
    assert assertions.for_patient(CONTEXT.patient_id) is not mine


def test_the_signature_is_checked_with_the_certificate_of_its_x509data(
    signer: Signer, dmp_pki: Pki, tmp_path: Path
) -> None:
    other_cert, other_key = issue_signing_certificate(dmp_pki, tmp_path, cn="OTHER ORG SIGN", structure_id="2020202020")
    other = Signer.from_files(other_cert, other_key)
    vihf.verify(vihf.build(CONTEXT, other), ca_file=dmp_pki.ca_cert)  # both chains are trusted (and cached)
    assertion = vihf.build(CONTEXT, signer)
    certificate = assertion.find(f".//{{{vihf.DS}}}X509Certificate")
    assert certificate is not None
    certificate.text = base64.b64encode(other.certificate.public_bytes(serialization.Encoding.DER)).decode()
    with pytest.raises(vihf.VihfError, match="signature"):
        vihf.verify(assertion, ca_file=dmp_pki.ca_cert)
    certificate.text = "not a certificate"
    with pytest.raises(vihf.VihfError, match="signature"):
        vihf.verify(assertion, ca_file=dmp_pki.ca_cert)


def test_accepted_assertions_verify_the_same_bytes_once(
    signer: Signer, dmp_pki: Pki, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[bytes] = []
    real = vihf.verify

    def counting(assertion: etree._Element, *, ca_file: Path) -> vihf.VerifiedVihf:
        calls.append(etree.tostring(assertion))
        return real(assertion, ca_file=ca_file)

    monkeypatch.setattr(vihf, "verify", counting)
    accepted = vihf.AcceptedAssertions(ttl=timedelta(minutes=5))
    text = etree.tostring(vihf.build(CONTEXT, signer))
    now = datetime.now(UTC)
    first = accepted.verify(etree.fromstring(text), ca_file=dmp_pki.ca_cert, now=now)
    again = accepted.verify(etree.fromstring(text), ca_file=dmp_pki.ca_cert, now=now + timedelta(minutes=4))
    assert again == first and len(calls) == 1
    # Past the time to live, or with another CA file: verified again.
    accepted.verify(etree.fromstring(text), ca_file=dmp_pki.ca_cert, now=now + timedelta(minutes=6))
    assert len(calls) == 2
    other = make_pki(tmp_path / "other")
    with pytest.raises(vihf.VihfError, match="signature"):
        accepted.verify(etree.fromstring(text), ca_file=other.ca_cert, now=now)
    # A changed byte is another assertion: verified, and refused.
    tampered = text.replace(b"123456789012345", b"999999999999999")
    for _ in range(2):
        with pytest.raises(vihf.VihfError, match="signature"):
            accepted.verify(etree.fromstring(tampered), ca_file=dmp_pki.ca_cert, now=now)
    assert len(calls) == 5


def test_an_accepted_assertion_lasts_no_longer_than_its_certificate(signer: Signer, dmp_pki: Pki) -> None:
    accepted = vihf.AcceptedAssertions(ttl=timedelta(days=10_000))
    text = etree.tostring(vihf.build(CONTEXT, signer))
    verified = accepted.verify(etree.fromstring(text), ca_file=dmp_pki.ca_cert)
    expiry, _ = accepted._accepted[next(iter(accepted._accepted))]
    assert expiry == verified.signer_not_after
