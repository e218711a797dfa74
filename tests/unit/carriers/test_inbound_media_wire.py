"""Inbound media on the wire: the carriers' media parameters parsed, and the fetch policy (exact hosts, https, no
private address in any spelling, DNS answers checked before any connection) refusing before a socket opens."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard import outbound
from switchboard.carriers import media_fetch, sandbox
from switchboard.carriers.media_fetch import Host, MediaRefused
from tests.unit.carriers.test_plivo import CREDS as PLIVO_CREDS
from tests.unit.carriers.test_plivo import _callback as plivo_callback
from tests.unit.carriers.test_plivo import _carrier as plivo_carrier
from tests.unit.carriers.test_twilio import CREDS as TWILIO_CREDS
from tests.unit.carriers.test_twilio import _callback as twilio_callback
from tests.unit.carriers.test_twilio import _carrier as twilio_carrier
from tests.unit.carriers.test_whatsapp import _carrier as whatsapp_carrier
from tests.unit.carriers.test_whatsapp import _one
from tests.webhook_dns import PUBLIC_IP, dns  # noqa: F401 - the dns fixture

SID = TWILIO_CREDS["account_sid"]
TWILIO_MEDIA = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages/MM{'a' * 32}/Media/ME{'b' * 32}"
CDN = (Host("mms.twiliocdn.com"), Host("s3-external-1.amazonaws.com", "/media.twiliocdn.com/"))


def test_twilio_parse_reads_num_media_urls_and_types() -> None:
    params = {
        "MessageSid": "MM" + "c" * 32,
        "SmsStatus": "received",
        "From": "+16505551234",
        "To": "+15550001111",
        "Body": "two pictures",
        "NumMedia": "2",
        "MediaUrl0": TWILIO_MEDIA,
        "MediaContentType0": "image/jpeg",
        "MediaUrl1": TWILIO_MEDIA.replace("b" * 32, "d" * 32),
        "MediaContentType1": "video/mp4",
    }
    [event] = twilio_carrier().parse(twilio_callback(params))
    assert (event.message_type, event.body, event.channel) == ("media", "two pictures", "sms")
    assert [(m.kind, m.content_type, m.ref) for m in event.media] == [
        ("image", "image/jpeg", TWILIO_MEDIA),
        ("video", "video/mp4", params["MediaUrl1"]),
    ]


def test_twilio_parse_keeps_at_most_ten_files_and_ignores_a_bad_count() -> None:
    many = {f"MediaUrl{i}": f"{TWILIO_MEDIA}{i}" for i in range(12)}
    base = {"MessageSid": "MM" + "c" * 32, "SmsStatus": "received", "From": "+16505551234", "To": "+15550001111"}
    [event] = twilio_carrier().parse(twilio_callback({**base, "NumMedia": "12", **many}))
    assert len(event.media) == 10
    [text] = twilio_carrier().parse(twilio_callback({**base, "NumMedia": "two", **many}))
    assert (text.message_type, text.media) == ("text", ())


def test_plivo_parse_reads_mms_media_counted_from_one_and_its_body() -> None:
    # https://www.plivo.com/docs/messaging/api/message/handling-incoming: Type=mms, Body, MediaCount, Media1..N.
    media = f"https://media.plivo.com/Account/{PLIVO_CREDS['auth_id']}/Message/m1/Media/f1"
    params = {
        "MessageUUID": "e1ab2c3d-0000-4000-8000-000000000009",
        "From": "16505551234",
        "To": "15550001111",
        "Type": "mms",
        "Body": "see this",
        "MediaCount": "2",
        "Media1": media,
        "Media2": media.replace("f1", "f2"),
    }
    [event] = plivo_carrier().parse(plivo_callback(params))
    assert (event.message_type, event.body) == ("media", "see this")
    assert [m.ref for m in event.media] == [media, media.replace("f1", "f2")]
    assert [m.kind for m in event.media] == ["document", "document"]  # no type given: the stored bytes tell


@pytest.mark.parametrize(
    ("kind", "part"),
    [
        ("image", {"mime_type": "image/jpeg", "id": "101", "caption": "c"}),
        ("audio", {"mime_type": "audio/ogg; codecs=opus", "id": "102", "voice": True}),
        ("video", {"mime_type": "video/mp4", "id": "103"}),
        ("document", {"mime_type": "application/pdf", "id": "104", "filename": "a.pdf"}),
        ("sticker", {"mime_type": "image/webp", "id": "105", "animated": False}),
    ],
)
def test_whatsapp_parse_reads_each_media_kind_by_its_id(kind: str, part: dict[str, Any]) -> None:
    event = _one({"from": "16505551234", "id": f"wamid.{kind}", "timestamp": "1", "type": kind, kind: part})
    [media] = event.media
    assert (event.message_type, media.kind, media.ref, media.content_type) == (
        "media",
        kind,
        part["id"],
        part["mime_type"],
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://mms.twiliocdn.com/x",  # plain HTTP
        "https://mms.twiliocdn.com:8443/x",  # another port
        "https://evil.example/x",  # not the carrier's
        "https://evil.mms.twiliocdn.com/x",  # no subdomains
        "https://mms.twiliocdn.com.evil.example/x",
        "https://s3-external-1.amazonaws.com/someone-elses-bucket/x",  # the shared host, outside Twilio's path
        "https://user:pw@mms.twiliocdn.com/x",  # credentials in the URL  # pragma: allowlist secret
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://127.0.0.1/x",
        "https://2130706433/x",  # 127.0.0.1 in decimal
        "https://0177.0.0.1/x",  # octal
        "https://0x7f000001/x",  # hex
        "https://127.1/x",  # short form
        "https://[::ffff:127.0.0.1]/x",  # IPv4-mapped IPv6
        "https://[::ffff:a9fe:a9fe]/x",  # 169.254.169.254, mapped
        "https://[::1]/x",
        "https://mms.twiliocdn.com\t/x",  # a control character
    ],
)
def test_media_urls_outside_the_allowlist_or_to_private_addresses_are_refused(url: str) -> None:
    with pytest.raises(MediaRefused) as refused:
        media_fetch.check_url(url, CDN, loopback=False)
    assert refused.value.reason == "not_allowed"


def test_loopback_is_allowed_only_in_local_mode_and_never_the_metadata_address() -> None:
    local = (Host("127.0.0.1", "/_local/carrier-media/"),)
    target = media_fetch.check_url("http://127.0.0.1:8080/_local/carrier-media/x", local, loopback=True)
    assert (target.scheme, target.host, target.port) == ("http", "127.0.0.1", 8080)
    with pytest.raises(MediaRefused):
        media_fetch.check_url("http://127.0.0.1:8080/_local/carrier-media/x", local, loopback=False)
    with pytest.raises(MediaRefused):
        media_fetch.check_url("http://127.0.0.1:8080/v1/files", local, loopback=True)  # outside the prefix
    with pytest.raises(MediaRefused):
        media_fetch.check_url("http://169.254.169.254/", (Host("169.254.169.254"),), loopback=True)


@pytest.mark.parametrize("answers", [["10.0.0.5"], [PUBLIC_IP, "169.254.169.254"], ["::ffff:127.0.0.1"], ["fd00::1"]])
def test_a_carrier_host_resolving_to_a_private_address_is_refused_before_connecting(
    dns: dict[str, list[str]],  # noqa: F811 - the fixture imported above
    answers: list[str],
) -> None:
    # pytest-socket would fail this test if anything connected: the refusal comes from the one DNS answer.
    dns["mms.twiliocdn.com"] = answers
    with pytest.raises(MediaRefused) as refused:
        media_fetch.fetch("twilio", "https://mms.twiliocdn.com/x", headers={}, allowed=CDN, loopback=False, max_bytes=9)
    assert refused.value.reason == "not_allowed"


def test_twilio_fetch_media_refuses_another_accounts_or_a_malformed_media_url() -> None:
    other = TWILIO_MEDIA.replace(SID, "AC" + "9" * 32)
    for ref in (other, TWILIO_MEDIA.replace("api.twilio.com", "evil.example"), TWILIO_MEDIA + "/../../x", "ME1"):
        with pytest.raises(MediaRefused):
            twilio_carrier().fetch_media(ref, max_bytes=10)


def test_plivo_whatsapp_and_sandbox_refuse_handles_that_are_not_theirs() -> None:
    ours = f"https://media.plivo.com/Account/{PLIVO_CREDS['auth_id']}/Message/m1/Media/f1"
    bad = [
        ours.replace(PLIVO_CREDS["auth_id"], "MAOTHERACCOUNT0000000"),
        ours.replace("media.plivo.com", "media.plivo.com.evil.example"),
        ours.replace("f1", "../../../x"),
        ours.replace("https", "http"),
    ]
    for ref in bad:
        with pytest.raises(MediaRefused):
            plivo_carrier().fetch_media(ref, max_bytes=10)
    for ref in ("https://lookaside.fbsbx.com/x", "../1", "1/../2", ""):
        with pytest.raises(MediaRefused):
            whatsapp_carrier().fetch_media(ref, max_bytes=10)
    with pytest.raises(MediaRefused):
        sandbox.SandboxCarrier("sandbox-a").fetch_media("http://169.254.169.254/", max_bytes=10)


class _Endless:
    """An answer without a Content-Length whose body never ends (what a hostile media host could send)."""

    def __init__(self) -> None:
        self.read = 0

    def getheader(self, name: str) -> None:
        return None

    def read1(self, size: int) -> bytes:
        self.read += size
        return b"x" * size


@pytest.mark.parametrize("bound", [1, 100, 8192, 5_000_000])
def test_a_body_past_the_bound_is_read_to_one_byte_past_it_and_no_further(bound: int) -> None:
    endless = _Endless()
    with pytest.raises(outbound.Failed) as failed:
        outbound._read(endless, bound, "refuse")  # type: ignore[arg-type]
    assert (failed.value.kind, endless.read) == ("too_large", bound + 1)
