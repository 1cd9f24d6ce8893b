"""mempool.space reply parsers against the documented samples in tests/fixtures/profitability (see its README)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.profitability.mempool import (MempoolError, parse_avg_fees_btc, parse_difficulty, parse_price,
                                            parse_tip_height)

FIXTURES = Path(__file__).parent / "fixtures" / "profitability"


def fixture(name: str):
    text = (FIXTURES / name).read_text()
    return json.loads(text) if name.endswith(".json") else text


def test_difficulty_from_hashrate_3d():
    assert parse_difficulty(fixture("hashrate_3d.json")) == 31251101365711.12


def test_tip_height_is_plain_text():
    assert parse_tip_height(fixture("tip_height.txt")) == 698767
    assert parse_tip_height("880000\n") == 880000


def test_average_fees_from_reward_stats_strings_in_satoshis():
    # 1311748254 sat over blocks 736556..736655 (100 blocks) = 13117482.54 sat = 0.1311748254 BTC a block.
    assert parse_avg_fees_btc(fixture("reward_stats_100.json")) == pytest.approx(0.1311748254, abs=1e-12)


@pytest.mark.parametrize("currency, price", [("USD", 43753), ("EUR", 40545), ("GBP", 37528), ("JPY", 6218915)])
def test_price_per_currency(currency, price):
    assert parse_price(fixture("prices.json"), currency) == price


def test_difficulty_adjustment_has_no_difficulty_so_it_is_not_a_source():
    with pytest.raises(MempoolError, match="currentDifficulty"):
        parse_difficulty(fixture("difficulty_adjustment.json"))


def test_missing_currency_is_named_with_what_there_is():
    with pytest.raises(MempoolError, match=r"no NZD price \(mempool.space has USD, EUR"):
        parse_price(fixture("prices.json"), "NZD")


@pytest.mark.parametrize("parser, data, message", [
    (parse_difficulty, [], "not a JSON object"),
    (parse_difficulty, {"currentDifficulty": 0}, "above 0"),
    (parse_difficulty, {"currentDifficulty": "lots"}, "not a number"),
    (parse_difficulty, {"currentDifficulty": True}, "not a number"),
    (parse_avg_fees_btc, {"startBlock": 10, "endBlock": 5, "totalFee": "1"}, "impossible window"),
    (parse_avg_fees_btc, {"startBlock": 1, "endBlock": 2, "totalFee": "-5"}, "impossible"),
    (parse_avg_fees_btc, {"startBlock": 1, "endBlock": 2}, "totalFee"),
    (lambda d: parse_price(d, "USD"), {"USD": -1}, "above 0"),
    (lambda d: parse_price(d, "USD"), {"USD": float("nan")}, "finite"),
])
def test_unusable_replies_raise_with_the_field(parser, data, message):
    with pytest.raises(MempoolError, match=message):
        parser(data)


@pytest.mark.parametrize("text", ["", "<html>", "-5", "12.5", "1234567890123"])
def test_tip_height_refuses_what_is_not_a_height(text):
    with pytest.raises(MempoolError, match="not a block height"):
        parse_tip_height(text)
