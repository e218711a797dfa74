"""Deletion receipt contracts (R61): the signed receipt and the keys that verify it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class SignedReceipt(BaseModel):
    """GET /v1/deletion-receipts/{account_id}: verify `signature` over the UTF-8 bytes of `receipt` (canonical JSON:
    account_id, requested_at, purge_after, started_at, purged_at (epoch seconds), runs, deleted counts per table,
    retained, format, key_id) with the published key `key_id`."""

    receipt: str = Field(description="The signed document: canonical JSON text, verified byte for byte")
    signature: str = Field(description="base64url (no padding) of the DER-encoded ECDSA P-256 / SHA-256 signature")
    algorithm: Literal["ES256"]
    key_id: str = Field(description="`kid` of the key in GET /.well-known/deletion-receipt-keys")


class ReceiptKey(BaseModel):
    """A public EC P-256 key (JWK members) with its PEM form."""

    kty: Literal["EC"]
    crv: Literal["P-256"]
    x: str
    y: str
    kid: str = Field(description="RFC 7638 JWK thumbprint (SHA-256, base64url)")
    use: Literal["sig"]
    alg: Literal["ES256"]
    signature_encoding: Literal["der"]
    pem: str = Field(description="SubjectPublicKeyInfo, PEM")


class ReceiptKeys(BaseModel):
    """GET /.well-known/deletion-receipt-keys: every key a kept receipt may name."""

    keys: list[ReceiptKey]
