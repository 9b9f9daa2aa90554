from __future__ import annotations

import datetime as dt
import uuid
from collections import OrderedDict
from decimal import Decimal

import pytest

from ordering.domain.order import OrderState
from ordering.jsonio import dumps, loads


def test_money_is_a_number_with_two_places_and_read_back_exactly() -> None:
    text = dumps({"total": Decimal("100"), "price": Decimal("0.1"), "name": 'a "quoted" é'})
    assert text == '{"total":100.00,"price":0.10,"name":"a \\"quoted\\" é"}'
    assert loads(text)["price"] == Decimal("0.10")


def test_ids_and_timestamps_are_strings_in_utc() -> None:
    moment = dt.datetime(2026, 2, 24, 16, 15, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    some_id = uuid.uuid4()
    assert dumps([some_id, moment, None, True, 3]) == f'["{some_id}","2026-02-24T15:15:00Z",null,true,3]'


def test_states_are_written_as_their_names_and_unknown_types_are_refused() -> None:
    # Given an order state, a tuple and a value JSON has no form for
    # When they are written / Then the state is its name and the tuple an array
    assert dumps({"state": OrderState.PAID, "pair": (1, "a")}) == '{"state":"paid","pair":[1,"a"]}'
    # and subclasses of JSON's types are written as those types
    assert dumps(OrderedDict(total=Decimal("5"))) == '{"total":5.00}'
    # and the unknown value is refused rather than written as its repr
    with pytest.raises(TypeError, match="cannot write set as JSON"):
        dumps({"seats": {"A1"}})
