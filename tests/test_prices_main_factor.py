"""GET /api/prices states main_factor: what turns a price in its unit into main currency per kWh.

The Energy view draws break-even prices (main currency per kWh) on the price chart in the
source's own unit with it (static/js/energy_maths.js inPriceUnit).
"""

from __future__ import annotations

import pytest

from web.prices import _main_factor


@pytest.mark.parametrize(("unit", "factor"), [
    ("p/kWh", 0.01), ("ct/kWh", 0.01), ("¢/kWh", 0.01), ("GBP/kWh", 1.0), ("EUR/MWh", 0.001), ("NOK/kWh", 1.0),
])
def test_main_factor_of_each_unit(unit, factor):
    assert _main_factor(unit) == pytest.approx(factor)


@pytest.mark.parametrize("unit", ["", None, "pence", 3])
def test_an_unknown_unit_has_no_factor(unit):
    assert _main_factor(unit) is None


def test_the_route_carries_it(tmp_path):
    from app import create_app
    from services.config import load_config
    from services.runtime import Runtime
    from tests.conftest import TEST_PASSWORD, TEST_TOKEN

    path = tmp_path / "config.yaml"
    path.write_text("server:\n  data_dir: data\n"
                    f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
                    "prices:\n  source: fixed\n  currency: GBP\n  unit: p/kWh\n  fixed: {price: 24.5}\n")
    config = load_config(path, environ={})
    runtime = Runtime(config)
    try:
        client = create_app(config=config, runtime=runtime, start_background=False,
                            test_config={"TESTING": True}).test_client()
        body = client.get("/api/prices").get_json()
        assert body["unit"] == "p/kWh" and body["main_factor"] == pytest.approx(0.01)
    finally:
        runtime.shutdown()
