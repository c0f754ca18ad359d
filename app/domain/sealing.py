"""AES-256-GCM sealing of identity-document scans; the associated data binds a ciphertext to its usager."""

from __future__ import annotations

import secrets
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class SealError(Exception):
    """The ciphertext does not open with this key and associated data (wrong key, or tampered)."""


def _aad(usager_id: UUID, key_id: str) -> bytes:
    return b"dui-identity-document\x00" + usager_id.bytes + key_id.encode()


def seal(key: bytes, key_id: str, usager_id: UUID, plaintext: bytes) -> tuple[bytes, bytes]:
    """(nonce, ciphertext with tag); a fresh 96-bit random nonce each time."""
    nonce = secrets.token_bytes(12)
    return nonce, AESGCM(key).encrypt(nonce, plaintext, _aad(usager_id, key_id))


def unseal(key: bytes, key_id: str, usager_id: UUID, nonce: bytes, ciphertext: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, _aad(usager_id, key_id))
    except InvalidTag as error:
        raise SealError("identity document does not open") from error
