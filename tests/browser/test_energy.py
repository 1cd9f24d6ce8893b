"""The Energy page (/energy) in Debian's Chromium against the REAL app: a time-of-use price
table (prices.source fixed: no network) drawn as today's and tomorrow's slots, each simulated
miner's break-even and the fleet's on the same chart in p/kWh (profitability from fixed network
figures in GBP), the per-miner table, today's estimate, stale prices said plainly, and the
estimate's arithmetic against a worked example. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest
import requests
from harness import ARTIFACTS, expect, page_opener, real_app

from simulator import SimFleet, demo_specs
from tests.conftest import TEST_PASSWORD, TEST_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "127.83.70.2"  # this file's own loopback range, 127.83.70.0/24 (miners on .71, a dead source on .72)
NET = "127.83.71"
COUNT = 4  # demo layout: four Bitaxes of different models
CHART = "Chart.getChart(document.getElementById('price-chart'))"
# docs/prices.md's time-of-use table; the flat price covers whatever no period does.
PRICES = """prices:
  source: fixed
  currency: GBP
  unit: p/kWh
  fixed:
    price: 24.5
    periods:
      - {name: off-peak, price: 7.5, hours: "23:30-05:30"}
      - {name: peak, price: 35, hours: "16:00-19:00", days: [mon-fri]}
      - {name: weekend, price: 12, hours: "10:00-16:00", days: [sat, sun]}
"""
PROFITABILITY = "profitability:\n  currency: GBP\n  network: {difficulty: 1.1e+14, btc_price: 75000, fees_btc: 0.02}\n"


def config_text(extra: str) -> str:
    return (f"polling:\n  interval_sec: 2\n  timeout_sec: 1.5\n  offline_after: 2\n"
            f"battery:\n  source: none\n{PROFITABILITY}{extra}"
            f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n")


@pytest.fixture(scope="module")
def sim():
    fleet = SimFleet(demo_specs(f"{NET}.10", COUNT, restart_seconds=1.0), allow_any_client=True, seed=5)
    fleet.start()
    yield fleet
    fleet.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, sim):
    """The real app: the time-of-use table, fixed network figures, the simulated miners found at start."""
    path = tmp_path_factory.mktemp("energy-real") / "config.yaml"
    path.write_text(config_text(
        f"network:\n  subnet: {NET}.0/24\n  port_offset: {sim.port_offset}\n  discover_on_start: true\n{PRICES}"))
    with real_app(path, HOST) as (base, _runtime):
        yield base


@pytest.fixture
def open_page(browser, server):
    with page_opener(browser, server) as opener:
        yield opener


def wait_for_miners(page, count=COUNT):
    """The page polls every 30 s: reload until the poller has read every miner's power."""
    for _ in range(40):
        if page.locator("#econ-rows tr").count() == count and "—" not in page.locator("#econ-rows").inner_text():
            return
        page.wait_for_timeout(500)
        page.reload()
    raise AssertionError("the miners never showed with their figures")


def p_per_kwh(text: str) -> float:
    match = re.fullmatch(r"(-?\d+\.\d\d) p/kWh", text.strip())
    assert match, text
    return float(match.group(1))


def test_price_chart_break_even_and_the_table(open_page, server):
    page = open_page("/energy")
    wait_for_miners(page)
    prices = requests.get(server + "/api/prices", timeout=5).json()
    assert prices["unit"] == "p/kWh" and prices["main_factor"] == pytest.approx(0.01)

    # The price now, in its unit.
    expect(page.locator("#price-now")).to_have_text(f"{prices['now']:.2f} p/kWh")
    expect(page.locator("#price-now")).to_have_attribute("data-stale", "false")
    expect(page.locator("#price-meta")).to_contain_text("Source: fixed / time-of-use table · GBP, p/kWh")
    expect(page.locator("#price-alert")).to_be_hidden()

    # The chart: two points per slot from today's midnight, the slot in force filled, today and tomorrow.
    page.wait_for_function(f"!!{CHART} && {CHART}.data.datasets.length > 2")
    chart = page.evaluate(f"""() => {{
        const c = {CHART};
        return {{ datasets: c.data.datasets.map(d => ({{ label: d.label, fleet: !!d.fleet, isLine: !!d.isLine,
                    ys: d.data.map(p => p.y), xs: d.data.map(p => p.x) }})),
                  xMin: c.options.scales.x.min, xMax: c.options.scales.x.max, unit: c.options.scales.y.title.text }};
    }}""")
    assert chart["unit"] == "p/kWh"
    by_label = {d["label"]: d for d in chart["datasets"]}
    slots = [s for s in prices["slots"]
             if datetime.fromisoformat(s["end"]).timestamp() > chart["xMin"]]
    price = by_label["Price"]
    assert len(price["ys"]) == 2 * len(slots) and price["ys"][::2] == [s["price"] for s in slots]
    assert {7.5, 24.5}.issubset(set(price["ys"]))
    assert chart["xMax"] - chart["xMin"] >= 47 * 3600  # today and tomorrow (a DST day is 23 h)
    assert datetime.fromtimestamp(chart["xMin"]).astimezone().strftime("%H:%M") in ("00:00", "01:00", "23:00")
    assert by_label["Now"]["ys"] == [prices["now"], prices["now"]]

    # Break-even lines: the fleet's and one per miner, in p/kWh (GBP/kWh / 0.01), across the whole chart.
    prof = requests.get(server + "/api/profitability", timeout=5).json()
    assert prof["currency"] == "GBP" and len(prof["miners"]) == COUNT
    lines = [d for d in chart["datasets"] if d["isLine"]]
    assert [d["fleet"] for d in lines].count(True) == 1 and len(lines) == COUNT + 1
    for line in lines:
        assert line["xs"] == [chart["xMin"], chart["xMax"]] and line["ys"][0] == line["ys"][1]
    fleet_line = next(d for d in lines if d["fleet"])["ys"][0]
    # Measured hashrate and power move a little between poll rounds: the page's fetch and this one differ slightly.
    assert fleet_line == pytest.approx(prof["fleet"]["break_even"] * 100, rel=0.1)
    for m in prof["miners"]:
        line = next(d for d in lines if d["label"].endswith(f"({m['ip']})"))
        assert line["ys"][0] == pytest.approx(m["break_even"] * 100, rel=0.1)

    # The table: one row per miner with units; its break-even is the chart's line (same fetch).
    rows = page.locator("#econ-rows tr")
    expect(rows).to_have_count(COUNT)
    for i in range(COUNT):
        row = rows.nth(i)
        ip = row.get_attribute("data-ip")
        cells = row.locator("td")
        expect(cells.nth(0)).to_have_text(re.compile(r"^\d+(\.\d+)? [GT]H/s$"))
        expect(cells.nth(1)).to_have_text(re.compile(r"^\d+(\.\d+)? W$"))
        expect(cells.nth(2)).to_have_text(re.compile(r"^\d+\.\d J/TH$"))
        line = next(d for d in lines if d["label"].endswith(f"({ip})"))["ys"][0]
        assert p_per_kwh(cells.nth(3).inner_text()) == pytest.approx(line, abs=0.006)
        for j in range(4, 8):
            expect(cells.nth(j)).to_have_text(re.compile(r"^-?£\d+\.\d+$"))
        klass = cells.nth(3).get_attribute("class")
        assert ("be-under" in klass) == (prices["now"] < line) and ("be-over" in klass) == (prices["now"] >= line)
    foot = page.locator("#econ-foot tr")
    expect(foot.locator("th")).to_have_text(f"Fleet ({COUNT} counted)")
    assert p_per_kwh(foot.locator("td").nth(3).inner_text()) == pytest.approx(fleet_line, abs=0.006)
    expect(page.locator("#fleet-be")).to_have_text(re.compile(r"^\d+\.\d\d p/kWh \(£0\.\d+/kWh\)$"))
    expect(page.locator("#hashprice")).to_have_text(re.compile(r"^£0\.\d+ per TH/s a day, config$"))
    expect(page.locator("#miners-note")).to_contain_text(f"Cost and profit at the price now, £{prices['now'] / 100:.3g}/kWh")

    # Today's estimate: money with its currency, and the page says how it is made.
    for tile in ("cost", "revenue", "profit"):
        expect(page.locator(f"#today-{tile}")).to_have_text(re.compile(r"^-?£\d+\.\d+$"))
        expect(page.locator(f"#today-{tile}-sofar")).to_have_text(re.compile(r"^-?£\d+\.\d+ so far$"))
    expect(page.locator("#today-how")).to_contain_text(f"Estimate: the {COUNT} miners mining now")
    expect(page.locator("#today-how")).to_contain_text("revenue = revenue per hour now × 24 h")

    # The break-even toggles hide the lines (and are remembered).
    page.get_by_label("Each miner's break-even").uncheck()
    assert page.evaluate(f"{CHART}.data.datasets.filter(d => d.isLine).length") == 1
    page.reload()
    expect(page.get_by_label("Each miner's break-even")).not_to_be_checked()
    page.get_by_label("Each miner's break-even").check()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "energy-desktop.png"), full_page=True)


def test_todays_estimate_against_a_worked_example(open_page):
    """estimateToday(): 1 kW for a day of 12 h at 10 p and 12 h at 20 p, earning £0.10 an hour."""
    page = open_page("/energy")
    result = page.evaluate("""async () => {
        const m = await import("/static/js/energy_maths.js");
        const day = Date.parse("2026-03-03T00:00:00+01:00") / 1000;
        const slots = m.parseSlots([
            { start: "2026-03-03T00:00:00+01:00", end: "2026-03-03T12:00:00+01:00", price: 10 },
            { start: "2026-03-03T12:00:00+01:00", end: "2026-03-04T00:00:00+01:00", price: 20 },
        ]);
        const fleet = { power_w: 1000, revenue_per_hour: 0.1 };
        const at18 = m.estimateToday({ slots, factor: 0.01, now: day + 18 * 3600, fleet, priceMain: null });
        // A day only half published: the rest at the price now (0.30/kWh), or unknown without one.
        const half = m.parseSlots([{ start: "2026-03-03T00:00:00+01:00", end: "2026-03-03T12:00:00+01:00", price: 10 }]);
        const partly = m.estimateToday({ slots: half, factor: 0.01, now: day + 6 * 3600, fleet, priceMain: 0.3 });
        const unknown = m.estimateToday({ slots: half, factor: 0.01, now: day + 6 * 3600, fleet, priceMain: null });
        return { at18, partly, unknown, day, be: m.inPriceUnit(0.0652, 0.01), eff: m.efficiencyJTH(3250, 95e12) };
    }""")
    at18 = result["at18"]
    assert at18["dayStart"] == result["day"] and at18["hours"] == 24
    assert at18["cost"] == pytest.approx(12 * 0.10 + 12 * 0.20)  # £3.60
    assert at18["revenue"] == pytest.approx(2.4) and at18["profit"] == pytest.approx(-1.2)
    assert at18["costSoFar"] == pytest.approx(12 * 0.10 + 6 * 0.20)  # £2.40 by 18:00
    assert at18["revenueSoFar"] == pytest.approx(1.8) and at18["profitSoFar"] == pytest.approx(-0.6)
    assert result["partly"]["uncoveredH"] == pytest.approx(12)
    assert result["partly"]["cost"] == pytest.approx(12 * 0.10 + 12 * 0.30)
    assert result["unknown"]["cost"] is None and result["unknown"]["profit"] is None
    assert result["unknown"]["costSoFar"] == pytest.approx(0.6)  # 00:00-06:00 is published
    assert result["be"] == pytest.approx(6.52)  # docs/profitability.md's S19: 0.0652 USD/kWh = 6.52 ¢
    assert result["eff"] == pytest.approx(34.21, abs=0.01)


def test_phone_layout(open_page, server):
    page = open_page("/energy", viewport={"width": 390, "height": 844}, device_scale_factor=2,
                     is_mobile=True, has_touch=True)
    wait_for_miners(page)
    page.wait_for_function(f"!!{CHART} && {CHART}.data.datasets.length > 2")
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"page is {width[0]} px wide in a {width[1]} px viewport"
    # The table's rows become blocks, each value under its column's name.
    label = page.locator("#econ-rows tr").first.locator("td").nth(3).evaluate(
        "td => getComputedStyle(td, '::before').content")
    assert label == '"Break-even"'
    box = page.locator("#price-chart").bounding_box()
    assert box["width"] >= 300 and box["height"] >= 200
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "energy-phone.png"), full_page=True)


# ---------- a price source that does not answer ----------

@pytest.fixture(scope="module")
def dead_source(tmp_path_factory):
    """The real app with an HTTP price source nobody answers and a default price: stale, said so."""
    path = tmp_path_factory.mktemp("energy-stale") / "config.yaml"
    path.write_text(config_text(
        "network:\n  subnet: 127.83.73.0/24\n"
        "prices:\n  source: http\n  currency: GBP\n  unit: p/kWh\n  default_price: 20\n  timeout_sec: 0.5\n"
        "  http: {url: 'http://127.83.72.1:9/prices.json'}\n"))
    with real_app(path, "127.83.70.3") as (base, _runtime):
        yield base


def test_stale_prices_and_the_fetch_error_are_shown(browser, dead_source):
    with page_opener(browser, dead_source) as open_page:
        page = open_page("/energy")
        for _ in range(20):  # the first fetch runs at start, in the background
            if requests.get(dead_source + "/api/prices", timeout=5).json()["error"]:
                break
            page.wait_for_timeout(250)
        page.reload()
        expect(page.locator("#price-now")).to_have_text("20.00 p/kWh")
        expect(page.locator("#price-now")).to_have_attribute("data-stale", "true")
        alert = page.locator("#price-alert")
        expect(alert).to_be_visible()
        expect(alert).to_contain_text("Prices are stale: ")
        expect(alert).to_contain_text("default_price")
        expect(alert).to_contain_text("Last fetch failed: http: ")
        expect(page.locator("#price-empty")).to_have_text("No published prices yet.")
        expect(page.locator("#econ-empty")).to_have_text("No miners yet.")
        expect(page.locator("#today-cost")).to_have_text("£0.00")  # no miner mining: nothing spent


def test_energy_and_cost_per_miner(open_page):
    """Each simulated miner's energy so far today from the stored readings, priced by the table (in GBP)."""
    page = open_page("/energy")
    for _ in range(40):
        cells = page.locator("#cost-rows tr td:first-of-type")
        if cells.count() == COUNT and all(re.search(r"[\d.]+ Wh", t) and "£" in t for t in cells.all_inner_texts()):
            break
        page.wait_for_timeout(500)
        page.reload()
    else:
        raise AssertionError(f"no energy and cost per miner: {page.locator('#cost-wrap').inner_text()}")
    expect(page.locator("#cost-head th")).to_have_text(["Miner", "Today", "Yesterday", "This month", "Last month"])
    expect(page.locator("#cost-foot th")).to_have_text("Fleet")
    expect(page.locator("#cost-note")).to_contain_text("price that applied each hour")
    page.locator("#cost-title").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "energy-cost.png"), full_page=True)
