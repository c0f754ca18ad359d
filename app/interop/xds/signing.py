"""The structure's signature key and certificate, and XML-DSig helpers shared by the VIHF and the DSG document."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml.algorithms import SignatureMethod


@dataclass(frozen=True)
class Signer:
    """The "ORG SIGN" certificate of the structure (never the TLS authentication one, reference §2.2)."""

    cert_pem: bytes
    key_pem: bytes

    @classmethod
    def from_files(cls, cert: Path, key: Path) -> Signer:
        return cls(cert.read_bytes(), key.read_bytes())

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def subject(self) -> str:
        """Subject DN in RFC 2253 form (the VIHF Issuer)."""
        return self.certificate.subject.rfc4514_string()

    def signature_method(self, digest: str) -> SignatureMethod:
        key = serialization.load_pem_private_key(self.key_pem, password=None)
        suffix = "SHA1" if digest == "sha1" else "SHA256"
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return SignatureMethod[f"ECDSA_{suffix}"]
        if isinstance(key, rsa.RSAPrivateKey):
            return SignatureMethod[f"RSA_{suffix}"]
        raise ValueError("the signature key must be RSA or EC")


def signing_certificate(signature: etree._Element) -> x509.Certificate | None:
    """The first X509Certificate of a ds:Signature KeyInfo (the signer's, as signxml writes it)."""
    text = signature.findtext(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate")
    return x509.load_der_x509_certificate(base64.b64decode(text)) if text else None
