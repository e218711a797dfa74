"""`switchboard recipients import` without a stack: every class of bad CSV input, and resuming on an in-memory API."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from switchboard_cli import importer
from switchboard_cli import main as cli
from switchboard_cli.client import Answer, Problem, Unreachable, UsageError

HEADER = "phone,name,channels,consent_text_version,consent_captured_at"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def good(n: int, channels: str = "sms") -> str:
    return f"+1415555{n:04d},Person {n},{channels},terms-v3,2026-11-02T09:30:00Z"


def parse(text: str | bytes) -> importer.Parsed:
    return importer.parse(text.encode() if isinstance(text, str) else text, now=NOW)


def reasons(parsed: importer.Parsed) -> dict[int, tuple[str, str]]:
    return {bad.row: (bad.column, bad.reason) for bad in parsed.invalid}


def test_parse_a_good_file_gives_the_bodies_the_api_takes() -> None:
    text = "\n".join(
        [HEADER + ",consent_ip,attr.plan", good(1, "sms whatsapp") + ",203.0.113.9,gold", "+14155550002,,,,,,"]
    )
    parsed = parse(text)
    first, second = parsed.rows
    assert (first.number, second.number, parsed.invalid) == (2, 3, [])
    assert first.recipient_body() == {"phone": "+14155550001", "name": "Person 1", "attributes": {"plan": "gold"}}
    assert second.recipient_body() == {"phone": "+14155550002"}
    assert first.consent_body("whatsapp") == {
        "channel": "whatsapp",
        "status": "opted_in",
        "source": "import",
        "evidence": {"text_version": "terms-v3", "captured_at": "2026-11-02T09:30:00Z", "ip": "203.0.113.9"},
    }
    assert first.channels == ("sms", "whatsapp")
    assert second.channels == ()  # no channels: the recipient only, and no evidence needed


@pytest.mark.parametrize(
    ("phone", "why"),
    [
        ("4155550101", "not E.164"),
        ("+1 415 555 0101", "not E.164"),
        ("+1415555O101", "not E.164"),  # a letter O
        ("+123", "not E.164"),
        ("+1415555010112345", "not E.164"),  # too long
        ("+\u0661\u0664\u0661\u0665\u0665\u0665\u0665\u0660\u0661\u0660\u0661", "not E.164"),  # Arabic-Indic digits
        ("+15555550101", "numbering plan"),  # no such area code
        ("+2001001234567", "E.164 form"),  # a national trunk prefix
        ("", "is empty"),
    ],
)
def test_parse_names_a_bad_e164_number_by_row_and_column(phone: str, why: str) -> None:
    parsed = parse(f"{HEADER}\n{good(1)}\n{phone},X,sms,v1,2026-11-02T09:30:00Z\n{good(3)}\n")
    assert [row.number for row in parsed.rows] == [2, 4]
    column, reason = reasons(parsed)[3]
    assert column == "phone"
    assert why in reason


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("name,channels", "lacks the column(s) phone"),
        ("phone,channels,consent_text_version", "consent_captured_at"),
        ("phone,nmae", "unknown column(s) nmae"),
        ("phone,name,Name", "twice: name"),
        ("", "no header row"),
    ],
)
def test_parse_refuses_a_header_it_cannot_use_before_anything_is_sent(header: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        parse(f"{header}\n+14155550101,x,y\n")


def test_parse_reads_a_bom_and_crlf_line_ends_as_plain_utf8_would_be() -> None:
    plain = parse(f"{HEADER}\n{good(1)}\n{good(2)}\n")
    excel = parse(b"\xef\xbb\xbf" + f"{HEADER}\r\n{good(1)}\r\n{good(2)}\r\n".encode())
    assert excel.rows == plain.rows
    assert excel.invalid == []
    assert excel.sha256 != plain.sha256  # other bytes: other keys, another journal


def test_parse_skips_blank_rows_and_keeps_spreadsheet_row_numbers() -> None:
    parsed = parse(f"{HEADER}\n\n{good(1)}\n,,,,\n   \n{good(2)}\n\n")
    assert [row.number for row in parsed.rows] == [3, 6]
    assert parsed.blank == 4  # an empty line, a row of empty fields, a row of spaces, the blank before the end


def test_parse_reports_a_duplicate_number_with_the_row_it_repeats() -> None:
    parsed = parse(f"{HEADER}\n{good(1)}\n{good(2)}\n{good(1)}\n")
    assert [row.number for row in parsed.rows] == [2, 3]
    assert reasons(parsed) == {4: ("phone", "+14155550001 is already on row 2")}


def test_parse_names_the_row_and_column_of_bytes_that_are_not_utf8() -> None:
    raw = f"{HEADER}\n{good(1)}\n".encode() + b"+14155550002,Jos\xe9,sms,v1,2026-11-02T09:30:00Z\n" + good(3).encode()
    parsed = parse(raw)
    assert [row.number for row in parsed.rows] == [2, 4]
    assert reasons(parsed)[3][0] == "name"
    assert "not UTF-8" in reasons(parsed)[3][1]


def test_parse_reports_huge_fields_and_reads_on_after_them() -> None:
    huge = "x" * (importer.MAX_FIELD + 1)
    long_name = "y" * 201
    text = f"{HEADER}\n+14155550001,{huge},sms,v1,2026-11-02T09:30:00Z\n+14155550002,{long_name},,,\n{good(4)}\n"
    parsed = parse(text)
    assert [row.number for row in parsed.rows] == [4]
    assert reasons(parsed)[2][0] == "-"
    assert "field larger than field limit" in reasons(parsed)[2][1]
    assert reasons(parsed)[3] == ("name", "is 201 characters; at most 200")


def test_parse_refuses_rows_without_the_consent_fields_their_channels_need() -> None:
    rows = [
        "+14155550001,A,sms,,2026-11-02T09:30:00Z",  # no text version
        "+14155550002,B,whatsapp,v1,",  # no capture time
        "+14155550003,C,sms,v1,2026-11-02 09:30",  # no offset
        "+14155550004,D,sms,v1,yesterday",
        "+14155550005,E,sms,v1,2027-01-01T00:00:00Z",  # in the future
        "+14155550006,F,fax,v1,2026-11-02T09:30:00Z",
        "+14155550007,G,,,",  # no channels: nothing to prove
    ]
    parsed = parse("\n".join([HEADER, *rows]))
    assert [row.number for row in parsed.rows] == [8]
    assert {row: column for row, (column, _) in reasons(parsed).items()} == {
        2: "consent_text_version",
        3: "consent_captured_at",
        4: "consent_captured_at",
        5: "consent_captured_at",
        6: "consent_captured_at",
        7: "channels",
    }
    assert "offset" in reasons(parsed)[4][1]
    assert "future" in reasons(parsed)[6][1]


def test_parse_reports_broken_csv_structure_per_row() -> None:
    text = f'{HEADER}\n{good(1)},extra\n+14155550002,only two\n+14155550003,"Line\nbreak",,,\n{good(4)}\n"open'
    parsed = parse(text)
    assert [row.number for row in parsed.rows] == [6]
    found = reasons(parsed)
    assert "has 6 fields" in found[2][1]
    assert "has 2 fields" in found[3][1]
    assert found[4] == ("name", "holds a control character (a line break inside a field?)")
    assert found[7][0] == "-"  # the unterminated quote at the end


def test_idempotency_keys_follow_the_file_and_the_row() -> None:
    one, same, other = parse(f"{HEADER}\n{good(1)}\n"), parse(f"{HEADER}\n{good(1)}\n"), parse(f"{HEADER}\n{good(2)}\n")
    assert importer.idempotency_key(one.sha256, 2, "recipient") == importer.idempotency_key(same.sha256, 2, "recipient")
    assert importer.idempotency_key(one.sha256, 2, "recipient") != importer.idempotency_key(
        other.sha256, 2, "recipient"
    )
    assert importer.idempotency_key(one.sha256, 2, "recipient") != importer.idempotency_key(one.sha256, 3, "recipient")


@dataclass
class FakeApi:
    """The recipients and consents routes as API.md states them: idempotent by key, 409 for a number twice, a
    card number in a name refused with a pointer. `lose_answer_of` performs a create and then loses its answer;
    `interrupt_after` raises KeyboardInterrupt (Ctrl-C) once that many recipients exist."""

    recipients: dict[str, dict[str, Any]] = field(default_factory=dict)
    consents: list[tuple[str, str]] = field(default_factory=list)
    keys: dict[str, tuple[str, Answer]] = field(default_factory=dict)
    creates: int = 0
    lose_answer_of: str | None = None
    interrupt_after: int | None = None
    refuse_status: int | None = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Answer:
        assert method == "POST"
        assert idempotency_key is not None
        if self.refuse_status is not None:
            raise Problem(self.refuse_status, {"title": "Refused", "detail": "no", "code": "x"})
        if self.interrupt_after is not None and len(self.recipients) >= self.interrupt_after:
            raise KeyboardInterrupt
        fingerprint = path + json.dumps(body, sort_keys=True)
        if idempotency_key in self.keys:
            kept, answer = self.keys[idempotency_key]
            if kept != fingerprint:
                raise Problem(422, {"title": "Key reused", "detail": "", "code": "idempotency_key_reused"})
            return Answer(answer.status, {"idempotency-replay": "true"}, answer.body)
        answer = self._perform(path, body)
        self.keys[idempotency_key] = (fingerprint, answer)
        if self.lose_answer_of is not None and body.get("phone") == self.lose_answer_of:
            self.lose_answer_of = None
            raise Unreachable("connection reset")
        return answer

    def _perform(self, path: str, body: dict[str, Any]) -> Answer:
        if path == "/v1/recipients":
            if "4242424242424242" in (body.get("name") or ""):
                document = {"title": "Card data refused", "detail": "A card number.", "code": "card_data_refused"}
                raise Problem(422, {**document, "errors": [{"pointer": "/name", "message": "card number"}]})
            if any(r["phone"] == body["phone"] for r in self.recipients.values()):
                raise Problem(409, {"title": "Recipient exists", "detail": "", "code": "recipient_exists"})
            self.creates += 1
            rid = f"rcp_{self.creates:04d}"
            self.recipients[rid] = body
            return Answer(201, {}, {"id": rid, **body})
        rid = path.split("/")[3]
        self.consents.append((rid, body["channel"]))
        return Answer(201, {}, {"id": f"cns_{len(self.consents)}", **body})


def _run(api: FakeApi, parsed: importer.Parsed, journal_path: Path) -> importer.Outcome:
    journal = importer.Journal(journal_path, {"sha256": parsed.sha256, "account_id": "acct_x", "file": "f.csv"})
    journal.load()
    try:
        return importer.send(api, parsed.rows, journal, parsed.sha256)
    finally:
        journal.close()


def test_send_creates_each_row_once_with_its_consents_and_journals_every_step(tmp_path: Path) -> None:
    parsed = parse("\n".join([HEADER, good(1, "sms|voice"), good(2, ""), good(3)]))
    api = FakeApi()
    outcome = _run(api, parsed, tmp_path / "j")
    assert outcome.imported == [2, 3, 4]
    assert sorted(r["phone"] for r in api.recipients.values()) == ["+14155550001", "+14155550002", "+14155550003"]
    assert api.consents == [("rcp_0001", "sms"), ("rcp_0001", "voice"), ("rcp_0003", "sms")]
    again = _run(api, parsed, tmp_path / "j")  # everything is in the journal: nothing is sent
    assert (again.imported, again.already_done, api.creates, len(api.consents)) == ([], 3, 3, 3)


def test_send_resumes_after_ctrl_c_and_creates_nothing_twice(tmp_path: Path) -> None:
    parsed = parse("\n".join([HEADER, *(good(n) for n in range(1, 21))]))
    api = FakeApi(interrupt_after=7)
    with pytest.raises(KeyboardInterrupt):
        _run(api, parsed, tmp_path / "j")
    # Row 8's recipient was created but Ctrl-C came before its consent: the journal knows the recipient.
    api.interrupt_after = None
    outcome = _run(api, parsed, tmp_path / "j")
    assert (outcome.already_done, len(outcome.imported), outcome.replayed) == (6, 14, 0)
    assert api.creates == 20
    assert sorted(rid for rid, _ in api.consents) == sorted(api.recipients)


def test_send_after_a_lost_answer_is_replayed_by_the_api_not_created_again(tmp_path: Path) -> None:
    parsed = parse("\n".join([HEADER, *(good(n) for n in range(1, 6))]))
    api = FakeApi(lose_answer_of="+14155550003")
    with pytest.raises(Unreachable):
        _run(api, parsed, tmp_path / "j")
    outcome = _run(api, parsed, tmp_path / "j")
    assert (outcome.already_done, outcome.imported, outcome.replayed) == (2, [4, 5, 6], 1)
    assert api.creates == 5
    assert len({r["phone"] for r in api.recipients.values()}) == 5


def test_a_torn_last_journal_line_is_ignored_and_its_row_resent_with_the_same_key(tmp_path: Path) -> None:
    parsed = parse("\n".join([HEADER, good(1), good(2)]))
    api = FakeApi()
    _run(api, parsed, tmp_path / "j")
    lines = (tmp_path / "j").read_text().splitlines()
    (tmp_path / "j").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:7])  # killed while writing row 3's done
    outcome = _run(api, parsed, tmp_path / "j")
    assert (outcome.already_done, outcome.imported, api.creates) == (1, [3], 2)


def test_a_row_the_api_refuses_is_reported_with_its_pointer_and_the_run_goes_on(tmp_path: Path) -> None:
    card = "+14155550002,Card 4242424242424242,sms,v1,2026-11-02T09:30:00Z"
    parsed = parse("\n".join([HEADER, good(1), card, good(3)]))
    outcome = _run(FakeApi(), parsed, tmp_path / "j")
    assert outcome.imported == [2, 4]
    (failed,) = outcome.failed
    assert (failed.row, failed.step, failed.status, failed.code) == (3, "recipient", 422, "card_data_refused")
    assert failed.pointers == [("/name", "card number")]


@pytest.mark.parametrize("status", [401, 403, 429, 503])
def test_a_refusal_about_the_whole_run_stops_it_resumably(tmp_path: Path, status: int) -> None:
    parsed = parse("\n".join([HEADER, good(1), good(2)]))
    with pytest.raises(importer.Stop) as stopped:
        _run(FakeApi(refuse_status=status), parsed, tmp_path / "j")
    assert (stopped.value.row, stopped.value.refused.status) == (2, status)


def test_the_journal_of_another_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "j").write_text(json.dumps({"journal": 1, "sha256": "0" * 64}) + "\n")
    parsed = parse("\n".join([HEADER, good(1)]))
    with pytest.raises(UsageError, match="another file"):
        _run(FakeApi(), parsed, tmp_path / "j")


def test_dry_run_prints_the_validation_report_and_exits_1_with_bad_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "people.csv"
    path.write_text("\n".join([HEADER, good(1), "12345,Bad,,,", good(1)]))
    assert cli.main(["recipients", "import", str(path), "--dry-run", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["valid"], report["sent"], report["imported"]) == (1, False, 0)
    assert [(bad["row"], bad["column"]) for bad in report["invalid"]] == [(3, "phone"), (4, "phone")]
    assert list(tmp_path.iterdir()) == [path]  # a dry run writes no journal
    assert cli.main(["recipients", "import", str(tmp_path / "absent.csv"), "--dry-run"]) == 2
