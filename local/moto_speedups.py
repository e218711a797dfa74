"""Speedups for botocore and moto (the local stack's and the tests') that change no answer, only how often work is
redone; and the one guarantee of DynamoDB's that moto lacks under threads: a conditional write is atomic."""

from __future__ import annotations

import copy
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


def _items_before(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]] | None:
    # (table, hash key, range key, a copy of the item or None) for every item the transaction may write; None when a
    # table keeps a stream (its records would need rolling back too: moto's own whole-table backup then).
    before = []
    for entry in transact_items:
        op_type, op = next(iter(entry.items()))
        try:
            table = backend.get_table(op["TableName"])
            if op_type == "Put":
                attrs = op["Item"]
                names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
                keys = {name: attrs[name] for name in names}
            else:
                keys = op["Key"]
            hash_key, range_key = backend.get_keys_value(table, keys)
            current = table.get_item(hash_key, range_key)
        except Exception:  # noqa: S112 - an operation with no valid table or key writes nothing to undo
            continue
        if table.stream_shard is not None:
            return None
        before.append((table, hash_key, range_key, copy.deepcopy(current)))
    return before


def _restore(before: list[tuple[Any, Any, Any, Any]]) -> None:
    # In reverse, so that an item named twice ends as it was before the first operation.
    for table, hash_key, range_key, item in reversed(before):
        if item is not None:
            if range_key:
                table.items[hash_key][range_key] = item
            else:
                table.items[hash_key] = item
        elif range_key:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items.pop(hash_key, None)


def _undo_log_for_moto_transactions() -> None:
    # moto's TransactWriteItems deep-copies every table it touches before it starts, to roll back on a failure: the
    # whole table, on every transaction, so each costs as much as the table is large (a 1,000-row import spent half
    # its time copying). The items the transaction names are all it can change, so a copy of those is the same
    # rollback: moto's own backup is skipped (its "restore" puts the same table back) and ours undoes the writes.
    models: Any = importlib.import_module("moto.dynamodb.models")
    backend_class, table_class = models.DynamoDBBackend, models.Table
    original = backend_class.transact_write_items
    if getattr(original, "undo_log", False):
        return
    skipping = threading.local()

    def table_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
        if getattr(skipping, "active", False):
            return self
        return copy._reconstruct(self, memo, *self.__reduce_ex__(4))  # type: ignore[attr-defined]  # as deepcopy would

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        before = _items_before(self, transact_items) if len(transact_items) <= 100 else None
        if before is None:
            original(self, transact_items)
            return
        skipping.active = True
        try:
            original(self, transact_items)
        except BaseException:
            _restore(before)
            raise
        finally:
            skipping.active = False

    transact_write_items.undo_log = True  # type: ignore[attr-defined]
    transact_write_items.moto_own = original  # type: ignore[attr-defined]  # for the test that compares the two
    table_class.__deepcopy__ = table_deepcopy
    backend_class.transact_write_items = transact_write_items


def _list_moto_modules_once() -> None:
    # moto's server asks, for every request and under its one dispatch lock, whether the Host names one of its
    # service packages: by listing its install folder and stat-ing each entry. Installed packages do not change
    # while we run, so the listing is made once.
    backends: Any = importlib.import_module("moto.backends")
    original = backends.list_of_moto_modules
    if getattr(original, "once", False):
        return
    modules = tuple(original())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    list_of_moto_modules.once = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = list_of_moto_modules


def _atomic_dynamodb_writes() -> None:
    # DynamoDB checks a write's condition and applies it atomically; moto reads the item, checks and writes in three
    # steps, so two threads (the local stack's workers, a send worker's concurrent records) can both pass the same
    # condition, and both take the one lease a message has. One lock around every write makes each atomic (and a
    # transaction serializable), as DynamoDB is; reads stay unlocked.
    models: Any = importlib.import_module("moto.dynamodb.models")
    backend_class = models.DynamoDBBackend
    if getattr(backend_class.update_item, "atomic", False):
        return
    lock = threading.RLock()  # re-entrant: a transaction's writes call put_item and friends

    def atomic(write: Any) -> Any:
        @functools.wraps(write)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return write(*args, **kwargs)

        locked.atomic = True  # type: ignore[attr-defined]
        return locked

    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        setattr(backend_class, name, atomic(getattr(backend_class, name)))


def install() -> None:
    """Install the speedups in this process (idempotent)."""
    _share_botocore_loader()
    _list_moto_modules_once()
    _defer_moto_private_keys()
    _remember_moto_alias_keys()
    _undo_log_for_moto_transactions()
    _atomic_dynamodb_writes()  # after the undo log: the lock holds for the whole transaction, rollback included
