"""Test-process speedups for botocore and moto that change no answer, only how often work is redone."""

from __future__ import annotations

import functools
import importlib
import threading
from typing import Any


def _share_botocore_loader() -> None:
    # Every botocore session builds its own Loader and so re-reads and re-parses the service models, endpoints and
    # rule sets (~50 ms a client): moto gives each mock_aws() a new boto3 session and switchboard.dal.clients a new
    # botocore session after every reset, so each test paid that again. One Loader per data path is what one
    # session does anyway: the files are read-only, and what they hold does not change while the tests run.
    loaders: Any = importlib.import_module("botocore.loaders")
    session: Any = importlib.import_module("botocore.session")
    if session.create_loader is not loaders.create_loader:
        return
    session.create_loader = functools.cache(loaders.create_loader)


class _PrivateKeyOnFirstUse:
    """moto's private key of a KMS key, generated when moto first needs it rather than when the key is created."""

    def __init__(self, make: Any, key_spec: str) -> None:
        self._make = make
        self._key_spec = key_spec
        self._key: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # only the key's own attributes are forwarded (and copy/pickle find none here)
            raise AttributeError(name)
        with self._lock:  # two first uses at once (queue workers are threads) must not make two keys
            if self._key is None:
                self._key = self._make(self._key_spec)
        return getattr(self._key, name)


def _defer_moto_private_keys() -> None:
    # moto's kms.Key generates a private key for every key, an RSA-2048 one (~60 ms) for the symmetric and HMAC keys
    # too, where only Sign, Verify and GetPublicKey ever read it. Every moto account the tests build creates two of
    # those: the same function now makes it on first use by those calls, and never for the others.
    models: Any = importlib.import_module("moto.kms.models")
    original = models.generate_private_key
    if isinstance(original, functools.partial):
        return
    models.generate_private_key = functools.partial(_PrivateKeyOnFirstUse, original)


def install() -> None:
    """Install both speedups in this process (idempotent)."""
    _share_botocore_loader()
    _defer_moto_private_keys()
