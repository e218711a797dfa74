"""Where the API key lives: SWITCHBOARD_API_KEY, else the OS keyring, else (only when asked) a 0600 file."""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switchboard_cli.client import UsageError

ENV_KEY = "SWITCHBOARD_API_KEY"
SERVICE = "switchboard"  # the keyring's service name; the entry's user name is the API URL, so stages never mix
_KEY_FORM = re.compile(r"[\x21-\x7e]{8,512}")  # what may go in an Authorization header: printable, no spaces


@dataclass(frozen=True)
class Stored:
    """A key and where it came from (said by `login`/`logout`, never the key itself)."""

    key: str = field(repr=False)
    source: str


def checked_key(key: str) -> str:
    """The key as typed, refused when it cannot be a Switchboard credential (empty, spaces, control characters)."""
    key = key.strip()
    if not _KEY_FORM.fullmatch(key):
        raise UsageError("that is not an API key (expected something like sb_test_… or sb_live_…)")
    return key


def credentials_file() -> Path:
    """`~/.config/switchboard/credentials` (under $XDG_CONFIG_HOME when it is set)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "switchboard" / "credentials"


def usable_keyring() -> Any | None:
    """The OS keyring backend, or None when there is none that stores anything (no keyring library, or keyring's
    fail/null backend: a headless Linux box without Secret Service, a CI runner)."""
    try:
        import keyring  # noqa: PLC0415 - optional: the `cli` extra
        from keyring.backends import chainer, fail, null  # noqa: PLC0415
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring | null.Keyring):
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    return backend


def _keyring_errors() -> tuple[type[BaseException], ...]:
    try:
        from keyring.errors import KeyringError  # noqa: PLC0415
    except ImportError:
        return ()
    return (KeyringError,)


def load(api_url: str) -> Stored | None:
    """The key to use for `api_url`: the environment variable always wins, then the keyring, then the file."""
    from_env = os.environ.get(ENV_KEY)
    if from_env:
        return Stored(checked_key(from_env), f"the {ENV_KEY} environment variable")
    backend = usable_keyring()
    if backend is not None:
        try:
            key = backend.get_password(SERVICE, api_url)
        except _keyring_errors() as error:
            raise UsageError(f"the OS keyring could not be read: {error}") from None
        if key:
            return Stored(key, f"the OS keyring ({_name(backend)})")
    path = credentials_file()
    key = read_file(path).get(api_url)
    return Stored(key, str(path)) if isinstance(key, str) and key else None


def save(api_url: str, key: str, *, to_file: bool) -> str:
    """Store the key for `api_url` in the keyring (or, with `to_file`, the 0600 file); where it went."""
    if to_file:
        path = credentials_file()
        keys = read_file(path)
        keys[api_url] = key
        write_file(path, keys)
        return f"{path} (mode 0600)"
    backend = usable_keyring()
    if backend is None:
        raise UsageError(
            f"no OS keyring is available here; store the key in {credentials_file()} (mode 0600) with --file, "
            f"or set {ENV_KEY} instead of logging in"
        )
    try:
        backend.set_password(SERVICE, api_url, key)
    except _keyring_errors() as error:
        raise UsageError(f"the OS keyring refused the key: {error}; use --file or {ENV_KEY}") from None
    return f"the OS keyring ({_name(backend)})"


def remove(api_url: str) -> list[str]:
    """Forget the key for `api_url` in the keyring and the file; where one was removed from."""
    removed = []
    backend = usable_keyring()
    if backend is not None:
        try:
            if backend.get_password(SERVICE, api_url) is not None:
                backend.delete_password(SERVICE, api_url)
                removed.append(f"the OS keyring ({_name(backend)})")
        except _keyring_errors() as error:
            raise UsageError(f"the OS keyring could not be changed: {error}") from None
    path = credentials_file()
    keys = read_file(path)
    if api_url in keys:
        del keys[api_url]
        write_file(path, keys)
        removed.append(str(path))
    return removed


def _name(backend: Any) -> str:
    return str(getattr(backend, "name", None) or type(backend).__name__)


def read_file(path: Path) -> dict[str, str]:
    """The file's keys by API URL ({} when there is no file); refused when others could read it or it is not ours."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)  # a symlink planted in its place is refused, not followed
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "rb") as opened:
        status = os.fstat(opened.fileno())
        if os.name == "posix":
            if status.st_mode & 0o077:
                raise UsageError(
                    f"{path} is readable by others (mode {stat.S_IMODE(status.st_mode):04o}): refusing to use it; "
                    f"run `chmod 600 {path}`, and revoke that key if others could have read it"
                )
            if status.st_uid != os.getuid():
                raise UsageError(f"{path} belongs to another user: refusing to use it")
        raw = opened.read()
    try:
        document = json.loads(raw)
    except ValueError:
        raise UsageError(f"{path} is not a credentials file this tool wrote (not JSON)") from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, dict):
        raise UsageError(f"{path} is not a credentials file this tool wrote (no keys)")
    return {str(url): str(key) for url, key in keys.items()}


def write_file(path: Path, keys: dict[str, str]) -> None:
    """Replace the file atomically with `keys`: created 0600 in a 0700 folder, never readable by others on the way."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not keys:
        path.unlink(missing_ok=True)
        return
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staging.unlink(missing_ok=True)
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            if os.name == "posix":
                os.fchmod(out.fileno(), 0o600)  # whatever the umask left
            json.dump({"version": 1, "keys": keys}, out, indent=2, sort_keys=True)
            out.write("\n")
        staging.replace(path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
