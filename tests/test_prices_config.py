"""The prices section of config.yaml: defaults, the contract keys, and one-line errors naming the key."""

from __future__ import annotations

import pytest

from services.config import ConfigError, load_config


def load(tmp_path, text: str, environ: dict | None = None):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path, environ=environ or {})


def test_defaults_are_off(tmp_path):
    prices = load(tmp_path, "").prices
    assert (prices.source, prices.refresh_min, prices.default_price) == ("none", 30, None)
    assert prices.octopus.base_url == "https://api.octopus.energy" and prices.octopus.product == "AGILE-24-10-01"


def test_contract_keys(tmp_path):
    prices = load(tmp_path, """
prices:
  source: octopus
  refresh_min: 15
  octopus: {product: AGILE-24-10-01, region: C, base_url: "http://127.0.0.1:9", export_product: AGILE-OUTGOING-19-05-13}
""").prices
    assert prices.source == "octopus" and prices.refresh_min == 15
    assert (prices.octopus.product, prices.octopus.region, prices.octopus.base_url) == ("AGILE-24-10-01", "C", "http://127.0.0.1:9")
    assert prices.shown_unit == "p/kWh"


@pytest.mark.parametrize("text, message", [
    ("prices: {source: nordpool}", "prices.source: must be one of octopus, awattar, comed, tibber, http, fixed, none"),
    ("prices: {refresh_min: 0}", "prices.refresh_min: must be 1-1440"),
    ("prices: {refresh_min: 60, max_age_min: 90}", "prices.max_age_min: must be at least 2 x refresh_min (120)"),
    ("prices: {timeout_sec: 100}", "prices.timeout_sec: must be 0.5-60"),
    ("prices: {timezone: Mars/Olympus}", "prices.timezone: not an IANA time zone"),
    ("prices: {currency: euro}", "prices.currency: must be a three-letter currency code"),
    ("prices: {unit: pence}", "prices.unit: not a price unit"),
    ("prices: {source: octopus}", "prices.octopus.region: required when source is octopus"),
    ("prices: {source: octopus, octopus: {region: O}}", "prices.octopus.region: must be one letter A-P without I and O"),
    ("prices: {octopus: {product: 'agile 24'}}", "prices.octopus.product: not an Octopus product code"),
    ("prices: {octopus: {base_url: ftp://x}}", "prices.octopus.base_url: must start with http:// or https://"),
    ("prices: {source: octopus, currency: EUR, octopus: {region: C}}", "prices.currency: octopus prices are in GBP"),
    ("prices: {source: awattar, unit: EUR/kWh}", "prices.unit: awattar prices are shown in ct/kWh"),
    ("prices: {awattar: {country: ch}}", "prices.awattar.country: must be de or at"),
    ("prices: {source: tibber}", "prices.tibber.token: required when source is tibber (or env TIBBER_TOKEN)"),
    ("prices: {source: http, currency: EUR}", "prices.http.url: required when source is http"),
    ("prices: {source: http, http: {url: 'http://127.0.0.1/'}}", "prices.currency: required when source is http"),
    ("prices: {http: {slot_minutes: 0}}", "prices.http.slot_minutes: must be 1-1440"),
    ("prices: {source: fixed, currency: GBP}", "prices.fixed.price: a flat price or fixed.periods is required"),
    ("prices: {source: fixed, currency: GBP, fixed: {periods: [{price: 5, hours: '00:00-12:00'}]}}",
     "prices.fixed.price: required as the fallback: no period covers mon 12:00"),
    ("prices: {fixed: {periods: [{price: 5, hours: '7-9'}]}}", "prices.fixed.periods[0].hours: not a time range"),
    ("prices: {fixed: {periods: [{price: 5, days: [monday]}]}}", "prices.fixed.periods[0].days: not a weekday"),
    ("prices: {fixed: {periods: [{hours: '07:00-09:00'}]}}", "prices.fixed.periods[0].price: required"),
    ("prices: {default_price: cheap}", "prices.default_price: expected a number"),
    ("prices: {octopus: {regoin: C}}", "prices.octopus.regoin: unknown key"),
])
def test_errors_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_tibber_token_from_the_environment_is_never_in_a_repr(tmp_path):
    config = load(tmp_path, "prices: {source: tibber, currency: NOK}", environ={"TIBBER_TOKEN": "tibber-secret-1"})
    assert config.prices.tibber.token == "tibber-secret-1"
    assert "tibber-secret-1" not in repr(config)


def test_fixed_table_with_fallback_and_units(tmp_path):
    prices = load(tmp_path, """
prices:
  source: fixed
  currency: GBP
  unit: p/kWh
  default_price: 30
  export_price: 15
  timezone: Europe/London
  fixed:
    price: 24.5
    periods:
      - {name: off-peak, price: 7.5, hours: "23:30-05:30"}
      - {name: peak, price: 35, hours: "16:00-19:00", days: [mon-fri]}
""").prices
    assert prices.shown_unit == "p/kWh" and len(prices.fixed.periods) == 2
    assert prices.fixed.periods[1].days == ("mon-fri",)
    assert load(tmp_path, "prices: {source: fixed, currency: EUR, unit: EUR/MWh, fixed: {price: 80}}").prices.shown_unit == "EUR/kWh"


def test_shipped_config_yaml_shows_the_defaults():
    from pathlib import Path

    from services.prices.config import PricesConfig

    shipped = load_config(Path(__file__).resolve().parent.parent / "config.yaml", environ={}).prices
    assert shipped == PricesConfig()


def test_the_commented_examples_in_config_yaml_load(tmp_path):
    """Every commented prices example, uncommented, is a valid configuration."""
    from pathlib import Path

    import yaml

    text = (Path(__file__).resolve().parent.parent / "config.yaml").read_text()
    section = text[text.index("\nprices:"):text.index("\n# Miners that discovery")]
    lines = [line.replace("  # ", "  ", 1) if line.startswith("  # ") else line for line in section.splitlines()]
    data = yaml.safe_load("\n".join(lines))["prices"]
    for source in ("octopus", "awattar", "comed", "http", "fixed"):
        body = dict(data, source=source)
        if source in ("http", "fixed"):
            body["currency"] = "GBP"
        path = tmp_path / f"{source}.yaml"
        path.write_text(yaml.safe_dump({"prices": body}))
        assert load_config(path, environ={}).prices.source == source
