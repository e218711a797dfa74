"""The global items an account's records point at, which the purge deletes before the records themselves."""

from switchboard.dal.closure import Lookup, due_sk, lookups_of


def test_lookups_of_account_user_invitation_key_and_attempt() -> None:
    account = {"sk": "ACCOUNT", "senders": [{"number": "+15550000001"}, {"number": "+15550000002"}]}
    user = {"sk": "USER#usr_1", "email_index": "abc", "reset_digest": "d1"}
    invitation = {"sk": "INVITE#def", "token_digest": "d2"}
    key = {"sk": "APIKEY#key_1", "key_id": "key_1"}
    attempt = {"sk": "ATT#msg_1#twilio", "carrier": "twilio", "carrier_message_id": "SM1"}

    assert lookups_of("ACCOUNTS_TABLE", account) == [
        Lookup("ACCOUNTS_TABLE", "NUMBER#+15550000001", "NUMBER"),
        Lookup("ACCOUNTS_TABLE", "NUMBER#+15550000002", "NUMBER"),
    ]
    assert lookups_of("ACCOUNTS_TABLE", user) == [
        Lookup("ACCOUNTS_TABLE", "EMAIL#abc", "EMAIL"),
        Lookup("LIMITS_TABLE", "LIMIT#LOGIN#EMAIL#abc", "LOGIN", owned=False),
        Lookup("SESSIONS_TABLE", "TOKEN#d1", "RESET"),
    ]
    assert lookups_of("ACCOUNTS_TABLE", invitation) == [Lookup("SESSIONS_TABLE", "TOKEN#d2", "INVITE")]
    assert lookups_of("ACCOUNTS_TABLE", key) == [Lookup("ACCOUNTS_TABLE", "KEYID#key_1", "KEYID")]
    assert lookups_of("MESSAGING_TABLE", attempt) == [Lookup("MESSAGING_TABLE", "CMSG#twilio#SM1", "CMSG")]


def test_lookups_of_items_that_point_nowhere_is_empty() -> None:
    assert lookups_of("MESSAGING_TABLE", {"sk": "OPTOUT#x", "channels": ["sms"]}) == []
    assert lookups_of("MESSAGING_TABLE", {"sk": "ATT#m#c", "carrier": "c", "outcome": "pending"}) == []
    assert lookups_of("LIMITS_TABLE", {"sk": "RATE#ACCOUNT"}) == []


def test_due_sk_sorts_by_purge_time() -> None:
    assert due_sk(999, "acct_b") < due_sk(1000, "acct_a") < f"{1000:012d}~"
