"""Hashprice, revenue and break-even maths against a worked example done by hand; subsidy by height; None stays None."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from miners.base import MinerStatus
from services.profitability import Hashprice, block_subsidy_btc, break_even, btc_per_th_day, revenue_per_hour
from services.profitability.fleet import fleet_table, miner_figures
from services.profitability.hashprice import from_fixed, from_network


def worked_example() -> Hashprice:
    return from_network(difficulty=1.10e14, subsidy_btc=3.125, fees_btc=0.02, btc_price=95_000,
                        pool_fee_percent=2, currency="USD", source="config")


def test_worked_example_s19_break_even():
    """An Antminer S19 (95 TH/s, 3250 W) at difficulty 1.10e14, 3.125 BTC subsidy + 0.02 BTC fees, BTC 95,000 USD, 2 % pool fee.

    1. Hashes a day from 1 TH/s:            1e12 x 86,400                  = 8.64e16
    2. Hashes per block on average:          1.10e14 x 2^32 = 1.10e14 x 4,294,967,296
                                                                            = 4.7244640256e23
    3. Blocks a day found by 1 TH/s:         8.64e16 / 4.7244640256e23      = 1.82877887e-7
    4. BTC per TH/s per day:                 1.82877887e-7 x (3.125 + 0.02) = 1.82877887e-7 x 3.145
                                                                            = 5.75150956e-7 BTC
    5. Gross USD per TH/s per day:           5.75150956e-7 x 95,000         = 0.0546393408 USD
    6. After the 2 % pool fee (x 0.98):      0.0546393408 x 0.98            = 0.0535465540 USD  (hashprice)
    7. Per TH/s per hour:                    0.0535465540 / 24              = 0.0022311064 USD
    8. The S19, 95 TH/s, per day:            0.0535465540 x 95              = 5.0869226 USD  -> 5.09 USD/day
       per hour:                             5.0869226 / 24                 = 0.2119551 USD  -> 0.21 USD/h
    9. Its power:                            3250 W = 3.25 kW
   10. Break-even:                           0.2119551 USD/h / 3.25 kW      = 0.0652170 USD/kWh
                                                                            -> 6.52 US cents per kWh
   11. At 0.10 USD/kWh it costs 3.25 x 0.10 = 0.325 USD/h and loses 0.325 - 0.2119551 = 0.1130449 USD/h.
    """
    hp = worked_example()
    assert btc_per_th_day(1.10e14, 3.125, 0.02) == pytest.approx(5.75150956e-7, rel=1e-8)
    assert hp.per_th_day == pytest.approx(0.0535465540, abs=1e-10)
    assert hp.per_th_hour == pytest.approx(0.0022311064, abs=1e-10)
    per_hour = revenue_per_hour(95e12, hp)
    assert round(per_hour * 24, 2) == 5.09
    assert round(per_hour, 2) == 0.21
    assert per_hour == pytest.approx(0.2119551, abs=1e-7)
    be = break_even(95e12, 3250, hp)
    assert round(be * 100, 2) == 6.52  # US cents per kWh, to the hundredth of a cent
    assert be == pytest.approx(0.0652170, abs=1e-7)
    row = fleet_table([{"ip": "192.168.1.50", "model": "Antminer S19", "hashrate_hs": 95e12, "power_w": 3250}],
                      hp, 0.10)["miners"][0]
    assert row["cost_per_hour"] == pytest.approx(0.325)
    assert row["profit_per_hour"] == pytest.approx(-0.1130449, abs=1e-6)
    assert row["break_even"] == pytest.approx(0.065217, abs=1e-6)


def test_pool_fee_and_price_scale_linearly():
    base = worked_example()
    no_fee = from_network(1.10e14, 3.125, 0.02, 95_000, 0, "USD", "config")
    assert base.per_th_day == pytest.approx(no_fee.per_th_day * 0.98)
    double_difficulty = from_network(2.2e14, 3.125, 0.02, 95_000, 2, "USD", "config")
    assert double_difficulty.per_th_day == pytest.approx(base.per_th_day / 2)


@pytest.mark.parametrize("height, subsidy", [
    (0, 50.0), (209_999, 50.0), (210_000, 25.0), (630_000, 6.25), (698_767, 6.25),
    (839_999, 6.25), (840_000, 3.125), (900_000, 3.125), (1_050_000, 1.5625), (6_930_000, 0.0),
])
def test_subsidy_halves_every_210000_blocks(height, subsidy):
    assert block_subsidy_btc(height) == subsidy


def test_subsidy_is_whole_satoshis_like_consensus():
    # 50 BTC >> 10 halvings = 4882812 sat (the shift drops the half satoshi).
    assert block_subsidy_btc(2_100_000) == 0.04882812


@pytest.mark.parametrize("hashrate, power", [(None, 3250), (95e12, None), (95e12, 0), (None, None)])
def test_unknown_power_or_hashrate_gives_no_break_even(hashrate, power):
    assert break_even(hashrate, power, worked_example()) is None


def test_no_hashprice_gives_nothing():
    assert revenue_per_hour(95e12, None) is None and break_even(95e12, 3250, None) is None


def test_a_stopped_miner_earns_nothing_and_never_breaks_even():
    assert revenue_per_hour(0, worked_example()) == 0
    assert break_even(0, 3250, worked_example()) == 0


def test_fixed_hashprice_is_gross_and_loses_the_pool_fee():
    hp = from_fixed(0.05, 2, "EUR")
    assert hp.per_th_day == pytest.approx(0.049) and hp.per_th_hour == pytest.approx(0.049 / 24)
    assert hp.source == "config-hashprice" and hp.currency == "EUR" and hp.difficulty is None


def record(model, status, online=True, family="antminer", algorithm="sha256d"):
    """A MinerRecord look-alike: the fields miner_figures reads."""
    return SimpleNamespace(ip="10.0.0.9", name="shed", family=family, model=None, status=status, online=online,
                           algorithm=algorithm, driver=object())


def test_a_sleeping_s19_counts_at_its_nominal_figures():
    asleep = MinerStatus(hashrate_hs=0.0, power_w=20.0, model="Antminer S19", state="sleeping")
    fig = miner_figures(record("Antminer S19", asleep))
    assert not fig.mining and fig.hashrate_hs == 95e12 and fig.power_w == 3250
    assert (fig.hashrate_basis, fig.power_basis) == ("nominal", "nominal")
    assert break_even(fig.hashrate_hs, fig.power_w, worked_example()) == pytest.approx(0.0652170, abs=1e-7)


def test_a_mining_miner_counts_at_its_measured_figures():
    mining = MinerStatus(hashrate_hs=90e12, power_w=3100.0, expected_hashrate_hs=95e12, model="Antminer S19")
    fig = miner_figures(record("Antminer S19", mining))
    assert fig.mining and (fig.hashrate_hs, fig.power_w) == (90e12, 3100.0)
    assert (fig.hashrate_basis, fig.power_basis) == ("measured", "measured")


def test_stock_firmware_without_power_reading_uses_the_model_table():
    mining = MinerStatus(hashrate_hs=94e12, power_w=None, model="Antminer S19")
    fig = miner_figures(record("Antminer S19", mining))
    assert fig.power_w == 3250 and fig.power_basis == "nominal"


def test_unknown_model_without_power_reading_has_no_break_even():
    mining = MinerStatus(hashrate_hs=5e12, power_w=None, model="Mystery 9000")
    table = fleet_table([record(None, mining, family="cgminer-unknown")], worked_example(), 0.1)
    row = table["miners"][0]
    assert row["power_w"] is None and row["break_even"] is None and row["cost_per_hour"] is None
    assert row["revenue_per_hour"] is not None  # it does earn; what it costs is unknown
    assert table["not_counted"] == ["10.0.0.9"] and table["fleet"]["miners"] == 0
    assert table["fleet"]["break_even"] is None


def test_an_offline_miner_counts_at_its_last_expected_hashrate_only_in_the_whole_fleet():
    last = MinerStatus(hashrate_hs=93e12, power_w=3200.0, expected_hashrate_hs=95e12, model="Antminer S19")
    fig = miner_figures(record("Antminer S19", last, online=False))
    assert not fig.mining and fig.hashrate_hs == 95e12 and fig.hashrate_basis == "expected"
    assert fig.power_w == 3250 and fig.power_basis == "nominal"
    table = fleet_table([record("Antminer S19", last, online=False)], worked_example(), 0.1)
    assert table["fleet"]["miners"] == 1 and table["fleet_now"]["miners"] == 0
    assert table["fleet_now"]["revenue_per_hour"] == 0 and table["fleet_now"]["break_even"] is None


def test_scrypt_miners_earn_no_bitcoin_hashprice():
    l7 = MinerStatus(hashrate_hs=9.5e9, power_w=3425.0, model="Antminer L7", algorithm="scrypt")
    row = fleet_table([record("Antminer L7", l7, algorithm="scrypt")], worked_example(), 0.1)["miners"][0]
    assert row["sha256"] is False and row["revenue_per_hour"] is None and row["break_even"] is None
    assert row["cost_per_hour"] == pytest.approx(0.3425)


def test_allocator_style_inputs_and_override_watts():
    miner = SimpleNamespace(ip="10.0.0.5", family="antminer", model="Antminer S19", online=True,
                            hashrate_hs=0.0, power_w=None, nominal_w=3000.0)
    fig = miner_figures(miner)
    assert fig.power_w == 3000.0 and fig.power_basis == "override" and fig.hashrate_hs == 95e12


def test_fleet_break_even_is_total_revenue_over_total_kw():
    hp = worked_example()
    rows = [{"ip": "a", "hashrate_hs": 95e12, "power_w": 3250},  # S19: 6.52 c/kWh
            {"ip": "b", "hashrate_hs": 1.2e12, "power_w": 17},  # Bitaxe Gamma: 15.75 c/kWh
            {"ip": "c", "hashrate_hs": 100e12, "power_w": None}]  # power unknown: left out
    table = fleet_table(rows, hp, None)
    revenue = revenue_per_hour(95e12, hp) + revenue_per_hour(1.2e12, hp)
    assert table["fleet"]["break_even"] == pytest.approx(revenue / 3.267, abs=1e-6)
    assert table["fleet"]["miners"] == 2 and table["not_counted"] == ["c"]
    assert table["fleet"]["cost_per_hour"] is None and table["miners"][0]["cost_per_hour"] is None
    # The least efficient miner has the highest break-even: it is the first to stop as prices rise.
    assert table["miners"][1]["break_even"] > table["miners"][0]["break_even"]


def test_plain_figures_are_taken_as_given_even_for_a_miner_marked_offline():
    fig = miner_figures({"ip": "10.0.0.6", "hashrate_hs": 95e12, "power_w": 3250, "online": False})
    assert (fig.hashrate_hs, fig.power_w, fig.hashrate_basis, fig.mining) == (95e12, 3250, "measured", False)
