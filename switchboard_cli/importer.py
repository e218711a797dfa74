"""`recipients import`: a CSV file read and checked row by row, then sent row by row with keys that make a rerun safe.

Each row's requests carry an Idempotency-Key derived from the file's SHA-256 and the row number, and a journal
records every step that the API confirmed. A rerun of the same file (after Ctrl-C, a crash or a network error) skips
what the journal holds and repeats the rest with the same keys, so a request whose answer was lost is replayed by the
API instead of creating a second recipient.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import phonenumbers

from switchboard_cli.client import Answer, Problem, UsageError

CHANNELS = ("sms", "whatsapp", "voice")
SOURCE = "import"  # the consent ledger's source for every entry an import writes
ATTRIBUTE_PREFIX = "attr."
REQUIRED = ("phone",)
CONSENT_REQUIRED = ("consent_text_version", "consent_captured_at")  # needed as soon as a row names channels
OPTIONAL = ("name", "channels", *CONSENT_REQUIRED, "consent_ip", "consent_user_agent")
# The API's limits (docs/openapi.json: RecipientIn, Evidence), checked here so a bad row is named before anything is
# sent; the API checks again, and what only it knows (a card number in a name) comes back as that row's problem.
LIMITS = {"name": 200, "consent_text_version": 100, "consent_captured_at": 40, "consent_ip": 64}
LIMITS["consent_user_agent"] = 512
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_NAME = 64
MAX_ATTRIBUTES_JSON = 4096
MAX_FIELD = 64 * 1024  # a field over this cannot fit in a request body (64 KiB): the row is reported, not read on
CAPTURE_SKEW = timedelta(minutes=5)
_E164 = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)
_CHANNEL_SPLIT = re.compile(r"[\s,;|]+")

COLUMNS_HELP = """\
CSV columns (a header row first; UTF-8, a BOM and CRLF line ends are fine; any order):
  phone                  required: E.164, + then country code and number, digits only (+14155550101)
  name                   optional: up to 200 characters
  channels               optional: the channels the person opted in to: sms, whatsapp, voice, separated by
                         spaces, ';' or '|' (or ',' inside quotes); empty: the recipient only, no consent recorded
  consent_text_version   required on a row with channels: the consent wording the person agreed to (<= 100)
  consent_captured_at    required on a row with channels: when, RFC 3339 with an offset (2026-11-02T09:30:00Z)
  consent_ip             optional: the address the consent came from
  consent_user_agent     optional: the browser or app it came from
  attr.NAME              optional, any number: the recipient's attribute NAME (text)
Rows are numbered as a spreadsheet numbers them (the header is row 1). Blank rows are skipped."""


@dataclass(frozen=True)
class Row:
    """One valid row: what its requests send."""

    number: int
    phone: str
    name: str | None
    channels: tuple[str, ...]
    evidence: dict[str, str] | None
    attributes: dict[str, str]

    def recipient_body(self) -> dict[str, Any]:
        """The body of POST /v1/recipients."""
        body: dict[str, Any] = {"phone": self.phone}
        if self.name is not None:
            body["name"] = self.name
        if self.attributes:
            body["attributes"] = self.attributes
        return body

    def consent_body(self, channel: str) -> dict[str, Any]:
        """The body of POST /v1/recipients/{id}/consents for one channel."""
        body: dict[str, Any] = {"channel": channel, "status": "opted_in", "source": SOURCE}
        if self.evidence:
            body["evidence"] = self.evidence
        return body


@dataclass(frozen=True)
class Invalid:
    """A row not sent: its number, the column at fault (or `-`) and why."""

    row: int
    column: str
    reason: str


@dataclass
class Parsed:
    """A file read: its SHA-256, the rows to send, the rows refused and how many blank rows were skipped."""

    sha256: str
    rows: list[Row] = field(default_factory=list)
    invalid: list[Invalid] = field(default_factory=list)
    blank: int = 0


def parse(raw: bytes, *, now: datetime | None = None) -> Parsed:
    """Read and check every row; a file whose header cannot be used is a UsageError (nothing is sent)."""
    parsed = Parsed(sha256=hashlib.sha256(raw).hexdigest())
    # surrogateescape keeps a bad byte in place, so the row and column holding it are named instead of the file.
    text = raw.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    previous_limit = csv.field_size_limit(MAX_FIELD)
    try:
        records = list(_records(text))
    finally:
        csv.field_size_limit(previous_limit)
    if not records or isinstance(records[0][1], str) or not any(records[0][1]):
        raise UsageError("the file has no header row (the first row names the columns: phone, name, channels, ...)")
    header = [name.strip().lower() for name in records[0][1]]
    _check_header(header)
    seen: dict[str, int] = {}
    moment = now or datetime.now(UTC)
    for number, record in records[1:]:
        if isinstance(record, str):
            parsed.invalid.append(Invalid(number, "-", record))
            continue
        if not any(cell.strip() for cell in record):
            parsed.blank += 1
            continue
        if len(record) != len(header):
            reason = f"has {len(record)} fields, the header has {len(header)} (a stray or missing comma or quote?)"
            parsed.invalid.append(Invalid(number, "-", reason))
            continue
        cells = dict(zip(header, record, strict=True))
        row, problems = _row(number, cells, moment)
        phone = cells["phone"].strip()
        if phone in seen:
            problems.append(Invalid(number, "phone", f"{phone} is already on row {seen[phone]}"))
        if row is None or problems:
            parsed.invalid.extend(problems)
        else:
            seen[phone] = number
            parsed.rows.append(row)
    return parsed


def _records(text: str) -> Iterable[tuple[int, list[str] | str]]:
    """(row number, fields) per record, or (row number, why it cannot be read); the number is where it starts."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    ended = 0
    while True:
        start = ended + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            ended = reader.line_num
            yield start, f"not readable as CSV: {error}"
            continue
        ended = reader.line_num
        yield start, record


def _check_header(header: list[str]) -> None:
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise UsageError(f"the header names a column twice: {', '.join(duplicated)}")
    missing = [name for name in REQUIRED if name not in header]
    if "channels" in header:
        missing += [name for name in CONSENT_REQUIRED if name not in header]
    if missing:
        raise UsageError(f"the header lacks the column(s) {', '.join(missing)} (see --help for the columns)")
    unknown = [n for n in header if n not in REQUIRED and n not in OPTIONAL and not _attribute_column(n)]
    if unknown:
        raise UsageError(f"unknown column(s) {', '.join(unknown)}: use the columns --help lists, or attr.NAME")


def _attribute_column(name: str) -> bool:
    return name.startswith(ATTRIBUTE_PREFIX) and 1 <= len(name) - len(ATTRIBUTE_PREFIX) <= MAX_ATTRIBUTE_NAME


def _row(number: int, cells: Mapping[str, str], now: datetime) -> tuple[Row | None, list[Invalid]]:
    problems = [
        Invalid(number, column, "holds bytes that are not UTF-8 (save the file as UTF-8)")
        for column, value in cells.items()
        if any("\udc80" <= ch <= "\udcff" for ch in value)
    ]
    if problems:
        return None, problems
    values = {column: value.strip() for column, value in cells.items()}
    problems += [
        Invalid(number, column, f"is {len(values[column])} characters; at most {limit}")
        for column, limit in LIMITS.items()
        if len(values.get(column, "")) > limit
    ]
    problems += [
        Invalid(number, column, "holds a control character (a line break inside a field?)")
        for column, value in values.items()
        if any(not ch.isprintable() for ch in value)
    ]
    phone_problem = _phone_problem(values["phone"])
    if phone_problem:
        problems.append(Invalid(number, "phone", phone_problem))
    channels, channel_problem = _channels(values.get("channels", ""))
    if channel_problem:
        problems.append(Invalid(number, "channels", channel_problem))
    evidence: dict[str, str] | None = None
    if channels:
        evidence, evidence_problems = _evidence(number, values, now)
        problems += evidence_problems
    attributes = {c.removeprefix(ATTRIBUTE_PREFIX): v for c, v in values.items() if _attribute_column(c) and v}
    if len(attributes) > MAX_ATTRIBUTES:
        problems.append(Invalid(number, "attr.*", f"{len(attributes)} attributes; at most {MAX_ATTRIBUTES}"))
    elif len(json.dumps(attributes)) > MAX_ATTRIBUTES_JSON:
        problems.append(Invalid(number, "attr.*", f"the attributes take over {MAX_ATTRIBUTES_JSON} bytes as JSON"))
    if problems:
        return None, _first_per_column(problems)
    name = values.get("name") or None
    return Row(number, values["phone"], name, channels, evidence, attributes), []


def _first_per_column(problems: list[Invalid]) -> list[Invalid]:
    """One line per column to fix: its first reason."""
    named: dict[str, Invalid] = {}
    for found in problems:
        named.setdefault(found.column, found)
    return list(named.values())


def _phone_problem(phone: str) -> str | None:
    if not phone:
        return "is empty"
    if not _E164.fullmatch(phone):
        return f"{phone!r} is not E.164 (+ then the country code and number, digits only)"
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return f"{phone} is not a phone number"
    if not phonenumbers.is_valid_number(number):
        return f"{phone} is not a valid number in its country's numbering plan"
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if e164 != phone:
        return f"{phone} is not in E.164 form: write {e164}"
    return None


def _channels(value: str) -> tuple[tuple[str, ...], str | None]:
    named = [part.lower() for part in _CHANNEL_SPLIT.split(value) if part]
    unknown = [part for part in named if part not in CHANNELS]
    if unknown:
        return (), f"unknown channel(s) {', '.join(unknown)}: use sms, whatsapp, voice"
    return tuple(dict.fromkeys(named)), None


def _evidence(number: int, values: Mapping[str, str], now: datetime) -> tuple[dict[str, str], list[Invalid]]:
    problems = [
        Invalid(number, column, "is required on a row with channels (how the person's consent was captured)")
        for column in CONSENT_REQUIRED
        if not values.get(column)
    ]
    captured = values.get("consent_captured_at", "")
    if captured:
        try:
            moment = datetime.fromisoformat(captured)
        except ValueError:
            moment = None
        if moment is None:
            problems.append(Invalid(number, "consent_captured_at", f"{captured!r} is not an RFC 3339 date and time"))
        elif moment.tzinfo is None:
            problems.append(Invalid(number, "consent_captured_at", "needs an offset (Z or +01:00)"))
        elif moment > now + CAPTURE_SKEW:
            problems.append(Invalid(number, "consent_captured_at", "is in the future"))
    evidence = {
        "text_version": values.get("consent_text_version", ""),
        "captured_at": captured,
        "ip": values.get("consent_ip", ""),
        "user_agent": values.get("consent_user_agent", ""),
    }
    return {k: v for k, v in evidence.items() if v}, problems


def idempotency_key(sha256: str, row: int, step: str) -> str:
    """The Idempotency-Key of one step of one row: the same for every run over the same file."""
    return f"import-{sha256}-{row}-{step}"


class Api(Protocol):
    """What the import needs of the API client (client.Client; an in-memory fake in the unit tests)."""

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Answer: ...


@dataclass
class Progressed:
    """What the journal says of one row."""

    recipient_id: str | None = None
    consents: set[str] = field(default_factory=set)
    done: bool = False


class Journal:
    """The rows' confirmed steps, one JSON line each, appended and flushed as the API confirms them."""

    def __init__(self, path: Path, header: dict[str, str]) -> None:
        self.path = path
        self.header = header
        self.rows: dict[int, Progressed] = {}
        self._out: Any = None

    @classmethod
    def name_for(cls, csv_path: Path, sha256: str, account_id: str, state_dir: Path | None) -> Path:
        """Beside the file (or in `state_dir`), named by the file's hash and the account: one journal per pair."""
        name = f"{csv_path.name}.{sha256[:16]}.{account_id}.import-journal"
        return (state_dir or csv_path.resolve().parent) / name

    def load(self) -> None:
        """Read what an earlier run recorded; a torn last line (the process was killed while writing) is ignored."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("row"), int):
                if isinstance(entry, dict) and entry.get("sha256") not in {None, self.header["sha256"]}:
                    raise UsageError(f"{self.path} is the journal of another file: move it away")
                continue
            progressed = self.rows.setdefault(entry["row"], Progressed())
            if isinstance(entry.get("recipient_id"), str):
                progressed.recipient_id = entry["recipient_id"]
            if entry.get("consent") in CHANNELS:
                progressed.consents.add(entry["consent"])
            if entry.get("done") is True:
                progressed.done = True

    def record(self, row: int, **facts: Any) -> None:
        """Append one confirmed step (flushed at once, so a crash right after it loses nothing)."""
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not self.path.exists()
            self._out = self.path.open("a", encoding="utf-8")
            if fresh:
                self._out.write(json.dumps({"journal": 1, **self.header}) + "\n")
        self._out.write(json.dumps({"row": row, **facts}) + "\n")
        self._out.flush()
        progressed = self.rows.setdefault(row, Progressed())
        progressed.recipient_id = facts.get("recipient_id", progressed.recipient_id)
        if "consent" in facts:
            progressed.consents.add(facts["consent"])
        progressed.done = progressed.done or facts.get("done") is True

    def close(self) -> None:
        """Flush to disk and close."""
        if self._out is not None:
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            self._out = None


@dataclass(frozen=True)
class Failed:
    """A row the API refused: the problem as the API stated it."""

    row: int
    step: str
    status: int
    code: str
    title: str
    detail: str
    pointers: list[tuple[str, str]]


class Stop(Exception):
    """The run cannot go on (credentials refused, rate limit not lifting, server failing): rerun later resumes."""

    def __init__(self, row: int, refused: Problem) -> None:
        self.row = row
        self.refused = refused
        super().__init__(str(refused))


@dataclass
class Outcome:
    """What a run did."""

    imported: list[int] = field(default_factory=list)
    already_done: int = 0
    replayed: int = 0  # answers the API replayed for a key an earlier run sent (its answer was lost then)
    failed: list[Failed] = field(default_factory=list)


# These refusals are about the run, not the row: every later row would get the same answer.
_FATAL = frozenset({401, 403, 429})


def send(
    api: Api,
    rows: list[Row],
    journal: Journal,
    sha256: str,
    *,
    advance: Callable[[], None] = lambda: None,
    outcome: Outcome | None = None,
) -> Outcome:
    """Send every row the journal does not hold as done; a row's problem is recorded and the run goes on.

    Raises Stop (a refusal about the whole run), client.Unreachable and KeyboardInterrupt with `outcome` filled so
    far; the journal holds every confirmed step either way."""
    result = outcome if outcome is not None else Outcome()
    for row in rows:
        progressed = journal.rows.get(row.number, Progressed())
        if progressed.done:
            result.already_done += 1
        else:
            _send_row(api, row, journal, sha256, progressed=progressed, result=result)
        advance()
    return result


def _send_row(api: Api, row: Row, journal: Journal, sha256: str, *, progressed: Progressed, result: Outcome) -> None:
    step = "recipient"
    try:
        recipient_id = progressed.recipient_id
        if recipient_id is None:
            answer = api.request(
                "POST",
                "/v1/recipients",
                row.recipient_body(),
                idempotency_key=idempotency_key(sha256, row.number, step),
            )
            result.replayed += answer.replayed
            recipient_id = str(answer.body["id"])
            journal.record(row.number, recipient_id=recipient_id)
        for channel in row.channels:
            if channel in progressed.consents:
                continue
            step = f"consent-{channel}"
            answer = api.request(
                "POST",
                f"/v1/recipients/{recipient_id}/consents",
                row.consent_body(channel),
                idempotency_key=idempotency_key(sha256, row.number, step),
            )
            result.replayed += answer.replayed
            journal.record(row.number, consent=channel)
        journal.record(row.number, done=True)
        result.imported.append(row.number)
    except Problem as refused:
        if refused.status in _FATAL or refused.status >= 500:
            raise Stop(row.number, refused) from None
        document = refused.document
        result.failed.append(
            Failed(
                row.number,
                step,
                refused.status,
                refused.code,
                refused.title,
                str(document.get("detail") or ""),
                refused.pointers,
            )
        )
