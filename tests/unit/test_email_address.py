"""Every e-mail address the API accepts is one a mail parser (and so SES) reads back unchanged."""

from email.utils import parseaddr

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from switchboard.models.identity import EMAIL_PATTERN, SignupIn


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.from_regex(EMAIL_PATTERN, fullmatch=True).filter(lambda a: len(a) <= 254))
def test_an_accepted_address_reads_back_unchanged(address: str) -> None:
    body = SignupIn.model_validate({"email": address, "password": "x" * 15, "account_name": "Acme"})
    assert parseaddr(body.email) == ("", address)


@pytest.mark.parametrize(
    "address",
    ["a(b@c.de", '"x"@y.de', "a,b@c.de", "<a@b.cd>", "a..b@c.de", ".a@c.de", "a@-b.de", "a@b", "ü@b.de", "a@b_c.de"],
)
def test_an_address_a_mail_parser_would_misread_is_refused(address: str) -> None:
    with pytest.raises(ValidationError):
        SignupIn.model_validate({"email": address, "password": "x" * 15, "account_name": "Acme"})
