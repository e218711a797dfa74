"""Per-account envelope encryption: AES-256-GCM under a data key wrapped by the account's KMS-wrapped KEK."""

from __future__ import annotations

import base64
import hmac
import os
import threading
import time
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from switchboard import settings
from switchboard.dal import clients, keyring

PREFIX = "sb1"
NONCE_BYTES = 12
CACHE_TTL_S = 300.0
CACHE_MAX_USES = 10_000  # with the TTL: at most one KMS Decrypt per 10,000 seals or opens of one account


class KeyShredded(Exception):
    """The account's data key was deleted: its sealed data cannot be read any more (crypto-shredding)."""


@dataclass
class _CachedKey:
    key: bytes
    loaded_at: float
    uses: int = 0


class _KeyCache:
    """Plaintext data keys in memory, bounded in time and use count, per process."""

    def __init__(self) -> None:
        self._keys: dict[str, _CachedKey] = {}
        self._lock = threading.Lock()

    def take(self, account_id: str) -> bytes | None:
        with self._lock:
            cached = self._keys.get(account_id)
            if cached is None:
                return None
            if time.monotonic() - cached.loaded_at > CACHE_TTL_S or cached.uses >= CACHE_MAX_USES:
                del self._keys[account_id]
                return None
            cached.uses += 1
            return cached.key

    def put(self, account_id: str, key: bytes) -> None:
        with self._lock:
            self._keys[account_id] = _CachedKey(key=key, loaded_at=time.monotonic(), uses=1)

    def evict(self, account_id: str | None = None) -> None:
        with self._lock:
            if account_id is None:
                self._keys.clear()
            else:
                self._keys.pop(account_id, None)


_cache = _KeyCache()


def _context(account_id: str) -> dict[str, str]:
    return {"account_id": account_id}


def _kek_context(account_id: str) -> dict[str, str]:
    # Its own context: a KEK never opens as a (version 1) data key of the account, nor the other way round.
    return {"account_id": account_id, "use": "key-encryption-key"}


def _kms() -> Any:
    return clients.client("kms")


def _kek_aad(account_id: str) -> bytes:
    return "\x1f".join((PREFIX, "data-key", account_id)).encode()


def _kek(account_id: str, *, create: bool = False) -> bytes:
    """The account's plaintext key-encryption key; with `create`, made on first use (a concurrent creator's wins)."""
    wrapped = keyring.get_kek(account_id)
    if wrapped is None and create:
        response = _kms().generate_data_key(
            KeyId=settings.get().data_key_id, KeySpec="AES_256", EncryptionContext=_kek_context(account_id)
        )
        if keyring.put_kek_once(account_id, response["CiphertextBlob"]):
            return bytes(response["Plaintext"])
        wrapped = keyring.get_kek(account_id)
    if wrapped is None:
        raise KeyShredded(f"account {account_id} has no key-encryption key")
    return bytes(_kms().decrypt(CiphertextBlob=wrapped, EncryptionContext=_kek_context(account_id))["Plaintext"])


def _wrap(account_id: str, kek: bytes, key: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, key, _kek_aad(account_id))


def _generate(account_id: str) -> bytes:
    """Create the account's KEK and data key (first use); a concurrent creator's key wins and is returned."""
    key = AESGCM.generate_key(bit_length=256)
    if keyring.put_wrapped_once(account_id, _wrap(account_id, _kek(account_id, create=True), key)):
        return key
    return _unwrap(account_id, keyring.get_wrapped(account_id))


def _unwrap(account_id: str, wrapped: keyring.Wrapped | None) -> bytes:
    if wrapped is None:
        raise KeyShredded(f"account {account_id} has no data key")
    if wrapped.version == keyring.KMS_WRAPPED:
        # KMS refuses to decrypt unless the encryption context matches: a key moved to another account fails here.
        response = _kms().decrypt(CiphertextBlob=wrapped.key, EncryptionContext=_context(account_id))
        return bytes(response["Plaintext"])
    # Without the KEK (shredded) this is noise, in the table and in every PITR or backup copy of it; with another
    # account's KEK or moved to another account's row, AES-GCM's tag refuses it (InvalidTag).
    kek = _kek(account_id)
    raw = wrapped.key
    return AESGCM(kek).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _kek_aad(account_id))


def create_key(account_id: str) -> None:
    """Give a new account its key-encryption key and data key (idempotent)."""
    if keyring.get_wrapped(account_id) is None:
        _cache.put(account_id, _generate(account_id))


def rewrap(account_id: str) -> bool:
    """Wrap a version 1 (KMS-only) data key under the account's KEK instead; True when this call rewrapped it.

    The data key itself does not change, so every sealed value and blind index stays valid.
    """
    stored = keyring.get_wrapped(account_id)
    if stored is None or stored.version != keyring.KMS_WRAPPED:
        return False
    key = _unwrap(account_id, stored)
    if keyring.replace_wrapped(account_id, stored, _wrap(account_id, _kek(account_id, create=True), key)):
        return True
    if keyring.get_wrapped(account_id) is None:
        keyring.delete_kek(account_id)  # purged meanwhile: the KEK made here must not outlive it
    return False


def data_key(account_id: str) -> bytes:
    """The account's plaintext data key, from the cache or KMS; KeyShredded once the account's key is gone."""
    # A function without the data key has no kms:Decrypt deployed; in one process it must not use the cache.
    settings.get().key("DATA_KEY_ID")
    key = _cache.take(account_id)
    if key is None:
        key = _unwrap(account_id, keyring.get_wrapped(account_id))
        _cache.put(account_id, key)
    return key


def _aad(account_id: str, table: str, item_key: str, field: str) -> bytes:
    # Binding the ciphertext to where it lives: moved to another item, field or account, it no longer opens.
    return "\x1f".join((PREFIX, account_id, table, item_key, field)).encode()


def seal(account_id: str, plaintext: str, *, table: str, item_key: str, field: str) -> str:
    """Encrypt one field value for one place: `sb1.<base64url(nonce || ciphertext || tag)>`."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(data_key(account_id)).encrypt(nonce, plaintext.encode(), _aad(account_id, table, item_key, field))
    return f"{PREFIX}.{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"


def open_sealed(account_id: str, sealed: str, *, table: str, item_key: str, field: str) -> str:
    """Decrypt a value sealed for exactly this account, table, item and field (InvalidTag otherwise)."""
    prefix, _, encoded = sealed.partition(".")
    if prefix != PREFIX:
        raise ValueError("not a sealed value")
    raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    plaintext = AESGCM(data_key(account_id)).decrypt(
        raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(account_id, table, item_key, field)
    )
    return plaintext.decode()


def blind_index(account_id: str, value: str, *, purpose: str) -> str:
    """A keyed HMAC-SHA256 of `value` for lookups (e.g. a phone number), with a key derived from the account's key."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"blind-index:{purpose}".encode()).derive(
        data_key(account_id)
    )
    return hmac.new(derived, value.encode(), sha256).hexdigest()


def shred(account_id: str) -> None:
    """Delete the account's KEK, then its data key: its sealed fields and blind indexes can never be opened again,
    neither here nor in any PITR or backup copy (the KEK table has neither)."""
    keyring.delete_kek(account_id)
    keyring.delete(account_id)
    _cache.evict(account_id)


def forget_cached_keys() -> None:
    """Drop every plaintext key from memory (tests, and after a shred seen from another process)."""
    _cache.evict()
