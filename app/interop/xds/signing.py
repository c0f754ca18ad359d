"""The structure's signature key and certificate, and XML-DSig helpers shared by the VIHF and the DSG document."""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml.algorithms import SignatureMethod
from signxml.exceptions import InvalidInput
from signxml.util import X509CertChainVerifier
from signxml.verifier import XMLVerifier
from signxml.xades.xades import XAdESVerifier


@dataclass(frozen=True)
class Signer:
    """The "ORG SIGN" certificate of the structure (never the TLS authentication one, reference §2.2).

    The key and the certificate are parsed once, on first use, and kept: every VIHF and submission-set
    signature of a worker uses them."""

    cert_pem: bytes
    key_pem: bytes

    @classmethod
    def from_files(cls, cert: Path, key: Path) -> Signer:
        return cls(cert.read_bytes(), key.read_bytes())

    @cached_property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    @cached_property
    def key(self) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key(self.key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError("the signature key must be RSA or EC")
        return key

    @cached_property
    def subject(self) -> str:
        """Subject DN in RFC 2253 form (the VIHF Issuer)."""
        return self.certificate.subject.rfc4514_string()

    def signature_method(self, digest: str) -> SignatureMethod:
        key = self.key
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


class TrustedChains:
    """The certificate chains already verified against one CA file, each kept until the first expiry among its
    certificates and the CAs (after which it is verified again, and refused): a verifier meeting the same
    signing certificate on every request checks its chain once. The CA file is read once, and again when it
    changes. Every signature is still verified with the certificate's key on every request."""

    LIMIT = 1024

    def __init__(self, ca_file: Path) -> None:
        self.ca_file = ca_file
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._store: x509.verification.Store | None = None
        self._cas_expire: datetime | None = None
        self._verified: dict[tuple[bytes, ...], tuple[x509.Certificate, datetime]] = {}

    def store(self) -> x509.verification.Store:
        stat = self.ca_file.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._store is None or stamp != self._stamp:
                cas = x509.load_pem_x509_certificates(self.ca_file.read_bytes())
                self._store = x509.verification.Store(cas)
                self._cas_expire = min(c.not_valid_after_utc for c in cas)
                self._verified.clear()
                self._stamp = stamp
            return self._store

    def verified(self, chain: list[x509.Certificate], now: datetime) -> x509.Certificate | None:
        with self._lock:
            found = self._verified.get(_fingerprints(chain))
        return found[0] if found is not None and now < found[1] else None

    def remember(
        self, chain: list[x509.Certificate], signing: x509.Certificate, store: x509.verification.Store
    ) -> None:
        """Keep a chain verified against ``store`` (unless the CA file changed meanwhile)."""
        with self._lock:
            if self._cas_expire is None or store is not self._store:
                return
            if len(self._verified) >= self.LIMIT:
                self._verified.clear()
            until = min([self._cas_expire, *(c.not_valid_after_utc for c in chain)])
            self._verified[_fingerprints(chain)] = (signing, until)


@lru_cache(maxsize=256)
def _certificate(text: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(base64.b64decode(text))


def _fingerprints(chain: list[x509.Certificate]) -> tuple[bytes, ...]:
    return tuple(c.fingerprint(hashes.SHA256()) for c in chain)


_trusted: dict[str, TrustedChains] = {}
_trusted_lock = threading.Lock()


def trusted_chains(ca_file: Path | str) -> TrustedChains:
    """The process-wide verified chains of one CA file (by its path as given, then as resolved)."""
    found = _trusted.get(str(ca_file))
    if found is not None:
        return found
    resolved = Path(ca_file).resolve()
    with _trusted_lock:
        chains = _trusted.setdefault(str(resolved), TrustedChains(resolved))
        _trusted[str(ca_file)] = chains
        return chains


class _CachedChainVerifier(X509CertChainVerifier):
    def __init__(self, chains: TrustedChains, default: X509CertChainVerifier) -> None:
        # signxml's own verifier for this verification (its policies and time), with the chains' store.
        self.__dict__.update(vars(default))
        self.chains = chains

    @property
    def store(self) -> x509.verification.Store:
        return self.chains.store()

    def verify(self, cert_chain: list[x509.Certificate]) -> x509.Certificate:
        store = self.chains.store()  # read again if the CA file changed (which forgets every verified chain)
        known = self.chains.verified(cert_chain, self.verification_time)
        if known is not None:
            return known
        signing: x509.Certificate = super().verify(cert_chain)  # type: ignore[no-untyped-call]
        self.chains.remember(cert_chain, signing, store)
        return signing


DS = "http://www.w3.org/2000/09/xmldsig#"
_SAFE = etree.XMLParser(resolve_entities=False, no_network=True)


def _chain_texts(data: bytes | etree._Element, location: str) -> list[str] | None:
    """The X509Certificate values of the first ds:KeyInfo/ds:X509Data of the signature signxml will verify (the
    root when it is a ds:Signature, else the first one under it); None when there is none to read."""
    try:
        root = etree.fromstring(data, _SAFE) if isinstance(data, bytes) else data
    except etree.XMLSyntaxError:
        return None
    signature = root if root.tag == f"{{{DS}}}Signature" else root.find(f"{location}{{{DS}}}Signature")
    data_element = signature.find(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data") if signature is not None else None
    if data_element is None:
        return None
    texts = [c.text or "" for c in data_element.findall(f"{{{DS}}}X509Certificate")]
    return texts or None


class _CachedChains:
    """Verifier mixin: certificate chains checked against a CA file through :func:`trusted_chains`.

    With a CA file, the chain in the signature's X509Data is verified first (once per chain and CA file, by
    signxml's chain verifier) and its signing certificate handed to signxml as ``x509_cert``: signxml then
    checks the signature with it without converting and verifying the certificates again."""

    def verify(self, data: Any, *, ca_pem_file: Any = None, **kwargs: Any) -> Any:
        texts = None
        config = kwargs.get("expect_config")
        if ca_pem_file is not None and not {"x509_cert", "cert_resolver", "ee_policy", "ca_policy"} & set(kwargs):
            texts = _chain_texts(data, config.location if config is not None else ".//")
        if texts is None:
            return super().verify(data, ca_pem_file=ca_pem_file, **kwargs)  # type: ignore[misc]
        path = ca_pem_file.decode() if isinstance(ca_pem_file, bytes) else ca_pem_file
        chains = trusted_chains(path)
        try:
            chain = [_certificate(text) for text in texts]
        except ValueError as exc:
            raise InvalidInput(f"unreadable X509Certificate: {exc}") from exc
        when = getattr(config, "verification_time", None) or datetime.now(UTC)  # as signxml: its time, else now
        default = X509CertChainVerifier(  # type: ignore[no-untyped-call]
            ca_pem_file=path, verification_time=when if when.tzinfo else when.replace(tzinfo=UTC)
        )
        signing = _CachedChainVerifier(chains, default).verify(chain)
        return super().verify(data, x509_cert=signing, **kwargs)  # type: ignore[misc]

    def get_cert_chain_verifier(self, ca_pem_file: Any, ee_policy: Any, ca_policy: Any) -> X509CertChainVerifier:
        default: X509CertChainVerifier = super().get_cert_chain_verifier(  # type: ignore[misc]
            ca_pem_file, ee_policy, ca_policy
        )
        if ca_pem_file is None or ee_policy is not None or ca_policy is not None:
            return default
        path = ca_pem_file.decode() if isinstance(ca_pem_file, bytes) else ca_pem_file
        return _CachedChainVerifier(trusted_chains(path), default)


class CachedChainXMLVerifier(_CachedChains, XMLVerifier):
    """signxml's XMLVerifier, its certificate chains checked once per CA file and chain."""


class CachedChainXAdESVerifier(_CachedChains, XAdESVerifier):
    """signxml's XAdESVerifier, its certificate chains checked once per CA file and chain."""
