"""Per-account envelope encryption: AES-256-GCM under a data key wrapped by the account's KMS-wrapped KEK."""

from __future__ import annotations

import base64
import hmac
import os
import struct
import threading
import time
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, NamedTuple

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


# --- files: the STREAM construction over AES-256-GCM (docs/files.md) ----------------------------------------------
# An object is a header, then the plaintext cut into segments, each sealed on its own: a Range read opens only the
# segments it needs. Each object has its own key, derived from the account's data key with a random salt and bound
# to the account, the object's key and the purpose (so a copy under another key or account opens nowhere). A
# segment's nonce is a random prefix, its index and a final flag: a reordered, dropped or appended segment, or an
# object cut at a segment boundary, fails its tag.

FILE_MAGIC = b"SBF1"
FILE_VERSION = 1
SEGMENT_BYTES = 1024 * 1024
TAG_BYTES = 16
SALT_BYTES = 32
NONCE_PREFIX_BYTES = 7
_HEADER = struct.Struct(f">4sBI{SALT_BYTES}s{NONCE_PREFIX_BYTES}s")
HEADER_BYTES = _HEADER.size  # 48


class SealedObjectError(ValueError):
    """A sealed object that is not one of ours, or was cut, reordered or altered (its tags do not verify)."""


class SealedSpan(NamedTuple):
    """Where the plaintext bytes `start`..`end` (inclusive) live in a sealed object, and how to cut them out."""

    first: int  # the first segment's index
    start: int  # the first sealed byte to read (the first segment's first byte)
    end: int  # the last sealed byte to read, inclusive (the last segment's tag)
    skip: int  # plaintext bytes to drop from the first opened segment
    length: int  # plaintext bytes wanted
    segment_bytes: int = SEGMENT_BYTES


@dataclass(frozen=True)
class _Header:
    segment_bytes: int
    salt: bytes
    nonce_prefix: bytes
    raw: bytes


def _segments(plain_size: int, segment_bytes: int) -> int:
    # At least one segment: an empty file is one empty, final segment (its tag alone).
    return max(1, -(-plain_size // segment_bytes))


def sealed_size(plain_size: int, segment_bytes: int = SEGMENT_BYTES) -> int:
    """The size of the sealed object of a `plain_size`-byte file."""
    return HEADER_BYTES + plain_size + TAG_BYTES * _segments(plain_size, segment_bytes)


def _file_key(account_id: str, header: _Header, *, purpose: str, object_key: str) -> AESGCM:
    info = "\x1f".join((PREFIX, "file", account_id, object_key, purpose)).encode()
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=header.salt, info=info).derive(data_key(account_id))
    return AESGCM(derived)


def _nonce(header: _Header, index: int, *, last: bool) -> bytes:
    return header.nonce_prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _parse_header(raw: bytes) -> _Header:
    if len(raw) < HEADER_BYTES:
        raise SealedObjectError("shorter than a sealed object's header")
    magic, version, segment_bytes, salt, prefix = _HEADER.unpack(raw[:HEADER_BYTES])
    if magic != FILE_MAGIC or version != FILE_VERSION or not 0 < segment_bytes <= 64 * SEGMENT_BYTES:
        raise SealedObjectError("not a sealed object of ours")
    return _Header(segment_bytes, salt, prefix, bytes(raw[:HEADER_BYTES]))


def seal_bytes(
    account_id: str, data: bytes, *, purpose: str, object_key: str, segment_bytes: int = SEGMENT_BYTES
) -> bytes:
    """The sealed object of `data` for this account, object key and purpose (KeyShredded once the key is gone)."""
    raw = _HEADER.pack(FILE_MAGIC, FILE_VERSION, segment_bytes, os.urandom(SALT_BYTES), os.urandom(NONCE_PREFIX_BYTES))
    header = _parse_header(raw)
    aead = _file_key(account_id, header, purpose=purpose, object_key=object_key)
    count = _segments(len(data), segment_bytes)
    parts = [raw]
    for index in range(count):
        chunk = data[index * segment_bytes : (index + 1) * segment_bytes]
        parts.append(aead.encrypt(_nonce(header, index, last=index == count - 1), chunk, raw))
    return b"".join(parts)


def plain_size_of(sealed_length: int, segment_bytes: int) -> int:
    """The plaintext size of a sealed object `sealed_length` bytes long (SealedObjectError when none has it)."""
    body = sealed_length - HEADER_BYTES
    if body < TAG_BYTES:
        raise SealedObjectError("shorter than one sealed segment")
    count = -(-body // (segment_bytes + TAG_BYTES))
    size = body - TAG_BYTES * count
    if size < 0 or _segments(size, segment_bytes) != count:
        raise SealedObjectError("a sealed object cannot be this long")
    return size


def _open(
    account_id: str,
    header: _Header,
    body: bytes,
    *,
    first: int,
    plain_size: int,
    purpose: str,
    object_key: str,
) -> bytes:
    """The plaintext of consecutive sealed segments `body`, the first of which has index `first`."""
    from cryptography.exceptions import InvalidTag  # noqa: PLC0415 - only file reads pay for it

    aead = _file_key(account_id, header, purpose=purpose, object_key=object_key)
    count = _segments(plain_size, header.segment_bytes)
    opened, offset, index = [], 0, first
    while offset < len(body):
        if index >= count:
            raise SealedObjectError("more sealed segments than the file has")
        size = min(header.segment_bytes, plain_size - index * header.segment_bytes) + TAG_BYTES
        segment = body[offset : offset + size]
        if len(segment) != size:
            raise SealedObjectError("a sealed segment was cut")
        try:
            opened.append(aead.decrypt(_nonce(header, index, last=index == count - 1), segment, header.raw))
        except InvalidTag:
            raise SealedObjectError("a sealed segment does not verify") from None
        offset, index = offset + size, index + 1
    return b"".join(opened)


def open_bytes(account_id: str, sealed: bytes, *, purpose: str, object_key: str) -> bytes:
    """The plaintext of a whole sealed object (SealedObjectError when it was altered, KeyShredded when the key is
    gone)."""
    header = _parse_header(sealed)
    size = plain_size_of(len(sealed), header.segment_bytes)
    body = sealed[HEADER_BYTES:]
    return _open(account_id, header, body, first=0, plain_size=size, purpose=purpose, object_key=object_key)


def sealed_span(plain_size: int, start: int, end: int, segment_bytes: int = SEGMENT_BYTES) -> SealedSpan:
    """Where plaintext bytes `start`..`end` (inclusive, within the file) sit in its sealed object."""
    if not 0 <= start <= end < plain_size:
        raise ValueError("a span within the file")
    first, last = start // segment_bytes, end // segment_bytes
    first_at = HEADER_BYTES + first * (segment_bytes + TAG_BYTES)
    last_size = min(segment_bytes, plain_size - last * segment_bytes) + TAG_BYTES
    last_end = HEADER_BYTES + last * (segment_bytes + TAG_BYTES) + last_size - 1
    return SealedSpan(first, first_at, last_end, start - first * segment_bytes, end - start + 1, segment_bytes)


def open_span(
    account_id: str,
    header: bytes,
    segments: bytes,
    span: SealedSpan,
    *,
    plain_size: int,
    purpose: str,
    object_key: str,
) -> bytes:
    """Plaintext bytes of a span, from the object's header and the sealed bytes `span.start`..`span.end`."""
    parsed = _parse_header(header)
    if parsed.segment_bytes != span.segment_bytes:
        raise SealedObjectError("the object is cut into segments of another size than the span assumed")
    opened = _open(
        account_id, parsed, segments, first=span.first, plain_size=plain_size, purpose=purpose, object_key=object_key
    )
    part = opened[span.skip : span.skip + span.length]
    if len(part) != span.length:
        raise SealedObjectError("the sealed segments hold less than the span")
    return part
