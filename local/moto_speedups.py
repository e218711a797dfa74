"""Speedups for botocore and moto (the local stack's and the tests') that change no answer, only how often work is
redone."""

from __future__ import annotations

import functools
import importlib
import threading
from typing import Any


def _share_botocore_loader() -> None:
    # Every botocore session builds its own Loader and so re-reads and re-parses the service models, endpoints and
    # rule sets (~50 ms a client): moto gives each mock_aws() a new boto3 session and switchboard.dal.clients a new
    # botocore session after every reset, so each test (and each local stack) paid that again. One Loader per data
    # path is what one session does anyway: the files are read-only, and what they hold never changes while we run.
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


def _remember_moto_alias_keys() -> None:
    # moto serializes each answer by walking its botocore shape, and for every member of every structure (ten per
    # DynamoDB attribute value, most of them absent) asks six alias providers which keys might hold the value: a
    # third of a moto-bound test's time. For a plain dict those keys depend only on the member's shape (and its
    # parent) and name, never on the dict's contents (no `Meta`, class name `dict`), so each answer's picker now
    # works them out once per member and tries the same keys in the same order.
    serialize: Any = importlib.import_module("moto.core.serialize")
    picker = serialize.XFormedAttributePicker
    original = picker.get_possible_keys
    if getattr(original, "remembers", False):
        return

    def get_possible_keys(self: Any, context: Any) -> Any:
        if type(context.obj) is not dict:
            return original(self, context)
        known: dict[tuple[int, str], tuple[str, ...]] = self.__dict__.setdefault("_keys_by_member", {})
        # Shapes live as long as moto's cached service model, so their ids stay theirs for this answer's picker.
        member = (id(context.shape), context.key)
        keys = known.get(member)
        if keys is None:
            keys = known[member] = tuple(original(self, context))
        return iter(keys)

    get_possible_keys.remembers = True  # type: ignore[attr-defined]
    picker.get_possible_keys = get_possible_keys


def install() -> None:
    """Install the speedups in this process (idempotent)."""
    _share_botocore_loader()
    _defer_moto_private_keys()
    _remember_moto_alias_keys()
