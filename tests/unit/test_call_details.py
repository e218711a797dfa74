"""A call's details on the message log: carriers' second counts become numbers, anything else becomes null."""

import pytest

from switchboard.models.messages import CallOut


def test_carrier_seconds_are_integers_and_the_price_stays_the_carriers_decimal() -> None:
    call = CallOut.model_validate(
        {"duration_s": "37", "billed_s": "60", "answered_by": "human", "price": "-0.0130", "currency": "USD"}
    )
    assert call.model_dump() == {
        "duration_s": 37,
        "billed_s": 60,
        "answered_by": "human",
        "price": "-0.0130",
        "currency": "USD",
    }


@pytest.mark.parametrize("reported", ["", "-1", "3.5", "1e3", "٣", "²", " 7", "7 ", "0x10", None, 7.0, []])
def test_a_duration_that_is_not_a_plain_count_of_seconds_is_null_not_an_error(reported: object) -> None:
    call = CallOut.model_validate({"duration_s": reported, "billed_s": reported, "answered_by": "human"})
    assert (call.duration_s, call.billed_s, call.answered_by) == (None, None, "human")


def test_fields_a_carrier_did_not_give_are_null() -> None:
    assert CallOut.model_validate({"duration_s": "0"}).model_dump() == {
        "duration_s": 0,
        "billed_s": None,
        "answered_by": None,
        "price": None,
        "currency": None,
    }
