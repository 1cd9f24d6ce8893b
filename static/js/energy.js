// The Energy page: the electricity price now and per slot (GET /api/prices), each miner's
// break-even on the same chart, revenue/cost/profit per miner at the price now and today's
// estimate for the fleet (GET /api/profitability). Polled while the page is visible; every
// API string is set as text. Maths in energy_maths.js, the chart in price_chart.js.

import { efficiencyJTH, estimateToday, inPriceUnit, money, parseSlots } from "./energy_maths.js";
import { initPriceChart, renderPriceChart } from "./price_chart.js";
import { initSession } from "./session.js";
import { $, api, el, fmtAgo, fmtEff, fmtHash, fmtPower, isNum, noteServerTime, nowS, setText } from "./util.js";

const POLL_MS = 30_000;
const STORE_KEY = "minerfleet.energy.lines"; // which break-even lines the user switched off
const SOURCE_TEXT = { octopus: "Octopus Agile", awattar: "aWATTar", comed: "ComEd hourly pricing", tibber: "Tibber",
  http: "HTTP JSON", fixed: "fixed / time-of-use table", none: "none" };
const BASIS_TEXT = { expected: "expected", override: "configured", nominal: "model's nominal" };

const en = { prices: null, pricesError: "", prof: null, profError: "", chart: false, hidden: loadHidden() };

function loadHidden() {
  try { return new Set(JSON.parse(localStorage.getItem(STORE_KEY) || "[]")); } catch { return new Set(); }
}

function saveHidden() {
  try { localStorage.setItem(STORE_KEY, JSON.stringify([...en.hidden])); } catch { /* private mode: not kept */ }
}

// ---------- formatting ----------

// Minor units (p, ct, ¢) read well with 2 decimals; main units per kWh need 4 (0.2450 EUR/kWh).
const priceDigits = (factor) => (isNum(factor) && factor < 1 ? 2 : 4);

function fmtPrice(v, p = en.prices) {
  if (!isNum(v)) return "—";
  return `${v.toFixed(priceDigits(p?.main_factor))} ${p?.unit || ""}`.trim();
}

const str = (v) => (typeof v === "string" ? v : "");
const profitClass = (v) => (isNum(v) ? (v >= 0 ? "profit-pos" : "profit-neg") : "");

// ---------- what the two answers allow ----------

/** The prices' currency and unit can carry the profitability's money: same currency and a factor. */
function pricesUsable() {
  const p = en.prices, prof = en.prof;
  if (!p || !prof || !isNum(p.main_factor)) return false;
  return !str(p.currency) || !str(prof.currency) || p.currency.toUpperCase() === prof.currency.toUpperCase();
}

function breakEvenLines() {
  const prof = en.prof, p = en.prices;
  if (!prof || !pricesUsable()) return [];
  const factor = p.main_factor;
  const lines = [];
  const fleet = prof.fleet && typeof prof.fleet === "object" ? prof.fleet : null;
  if (fleet && isNum(fleet.break_even)) lines.push({ label: "Fleet break-even", value: inPriceUnit(fleet.break_even, factor), fleet: true });
  for (const m of Array.isArray(prof.miners) ? prof.miners : []) {
    if (!m || !isNum(m.break_even)) continue;
    lines.push({ label: `Break-even ${str(m.name) || str(m.model) || str(m.ip)} (${str(m.ip)})`,
      value: inPriceUnit(m.break_even, factor) });
  }
  return lines;
}

// ---------- rendering ----------

function renderPrices() {
  const p = en.prices;
  const nowEl = $("price-now");
  if (!p) {
    setText("price-meta", en.pricesError ? `Prices could not load: ${en.pricesError}` : "Loading prices…");
    return;
  }
  nowEl.textContent = fmtPrice(p.now);
  nowEl.dataset.stale = String(!!p.stale);
  const none = p.source === "none";
  const meta = [`Source: ${SOURCE_TEXT[p.source] || str(p.source) || "?"}`];
  if (!none) {
    if (str(p.currency)) meta.push(`${p.currency}, ${str(p.unit)}`);
    if (isNum(p.age_sec)) meta.push(`fetched ${fmtAgo(nowS() - p.age_sec)}`);
    if (str(p.timezone)) meta.push(`time zone ${p.timezone}`);
  }
  setText("price-meta", meta.join(" · "));
  const alerts = [];
  if (p.stale && !none) alerts.push(`Prices are stale: ${str(p.reason) || "no fresh price covers now"}`);
  if (str(p.error)) alerts.push(`Last fetch failed: ${p.error}`);
  const alert = $("price-alert"), text = alerts.join(" · ");
  if (alert.textContent !== text) alert.textContent = text; // unchanged: screen readers do not repeat it
  alert.hidden = !text;
}

function renderChart() {
  const p = en.prices;
  const empty = $("price-empty");
  if (!en.chart) { empty.textContent = "Chart unavailable."; empty.hidden = false; return; }
  const slots = parseSlots(p?.slots);
  let why = "";
  if (!p) why = en.pricesError ? "No prices to draw." : "Loading prices…";
  else if (p.source === "none") why = "No electricity price source is configured (prices.source in config.yaml; see docs/prices.md).";
  else if (!slots.length) why = "No published prices yet.";
  empty.textContent = why;
  empty.hidden = !why;
  $("price-chart").parentElement.hidden = !!why;
  if (why) return;
  const day = estimateToday({ slots, factor: p.main_factor, now: nowS(), fleet: null, priceMain: null });
  renderPriceChart({ slots, dayStart: day.dayStart, dayEnd: day.dayEnd, unit: str(p.unit), digits: priceDigits(p.main_factor),
    lines: breakEvenLines(), showFleet: !en.hidden.has("fleet"), showMiners: !en.hidden.has("miners"), stale: !!p.stale });
}

function renderToday() {
  const prof = en.prof, p = en.prices;
  const alert = $("profit-alert");
  if (!prof) {
    setText("today-how", en.profError ? `Profitability could not load: ${en.profError}` : "Loading…");
    return;
  }
  const currency = str(prof.currency) || "USD";
  const usable = pricesUsable();
  const elec = prof.electricity && typeof prof.electricity === "object" ? prof.electricity : {};
  const fleetNow = prof.fleet_now && typeof prof.fleet_now === "object" ? prof.fleet_now : null;
  const slots = usable ? parseSlots(p.slots) : [];
  const est = estimateToday({ slots, factor: usable ? p.main_factor : null, now: nowS(), fleet: fleetNow,
    priceMain: isNum(elec.price_main) ? elec.price_main : null });
  const tile = (id, v, soFar) => {
    setText(id, money(v, currency));
    $(id).className = id === "today-profit" ? profitClass(v) : "";
    setText(`${id}-sofar`, isNum(soFar) ? `${money(soFar, currency)} so far` : "");
  };
  tile("today-cost", est.cost, est.costSoFar);
  tile("today-revenue", est.revenue, est.revenueSoFar);
  tile("today-profit", est.profit, est.profitSoFar);
  const fmtTime = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const miners = fleetNow && isNum(fleetNow.miners) ? fleetNow.miners : 0;
  let how = `Estimate: the ${miners} miner${miners === 1 ? "" : "s"} mining now (${fmtPower(fleetNow?.power_w)}, ` +
    `${fmtHash(fleetNow?.hashrate_hs)}) running all day as they do now. Cost = their power × each of today's price slots ` +
    `(${est.hours.toFixed(0)} h); revenue = revenue per hour now × ${est.hours.toFixed(0)} h. ` +
    `"So far" is the same from ${fmtTime(est.dayStart)} to now, not metered history.`;
  if (est.uncoveredH > 0.01 && isNum(elec.price_main)) how += ` ${est.uncoveredH.toFixed(1)} h without a published price are counted at the price now.`;
  setText("today-how", how);
  const fleet = prof.fleet && typeof prof.fleet === "object" ? prof.fleet : {};
  const beUnit = usable ? inPriceUnit(fleet.break_even, p.main_factor) : null;
  setText("fleet-be", isNum(beUnit) ? `${fmtPrice(beUnit)} (${money(fleet.break_even, currency)}/kWh)`
    : isNum(fleet.break_even) ? `${money(fleet.break_even, currency)}/kWh` : "—");
  const hp = prof.hashprice && typeof prof.hashprice === "object" ? prof.hashprice : null;
  setText("hashprice", hp && isNum(hp.per_th_day)
    ? `${money(hp.per_th_day, currency)} per TH/s a day${hp.stale ? " (stale)" : ""}${str(hp.source) ? `, ${hp.source}` : ""}` : "—");
  setText("fleet-now", fleetNow ? `${miners} miner${miners === 1 ? "" : "s"}, ${fmtPower(fleetNow.power_w)}` : "—");
  const problems = [];
  if (str(prof.error)) problems.push(prof.error);
  if (p && prof && isNum(p.main_factor) && !usable) {
    problems.push(`Prices are in ${p.currency}, profitability in ${prof.currency}: set profitability.currency to ${p.currency} ` +
      "to draw break-even on the price chart.");
  }
  if (str(elec.error) && !problems.length) problems.push(elec.error);
  const text = problems.join(" ");
  if (alert.textContent !== text) alert.textContent = text;
  alert.hidden = !text;
}

function cell(label, text, extra = {}) {
  return el("td", { role: "cell", "data-label": label, class: `num ${extra.class || ""}`.trim() }, text,
    extra.basis ? el("span", { class: "basis" }, extra.basis) : null);
}

function minerRow(m, currency, factor, priceNowUnit) {
  const be = inPriceUnit(m.break_even, factor);
  const basis = (b) => (b && b !== "measured" ? BASIS_TEXT[b] || b : null);
  const beText = isNum(be) ? fmtPrice(be) : isNum(m.break_even) ? `${money(m.break_even, currency)}/kWh` : "—";
  const beClass = isNum(be) && isNum(priceNowUnit) ? (priceNowUnit < be ? "be-under" : "be-over") : "";
  const perDay = isNum(m.profit_per_hour) ? m.profit_per_hour * 24 : null;
  const name = str(m.name) || str(m.model) || str(m.ip);
  return el("tr", { role: "row", "data-ip": str(m.ip) },
    el("th", { scope: "row", role: "rowheader" }, name,
      name !== str(m.ip) ? el("span", { class: "basis" }, str(m.ip)) : null),
    cell("Hashrate", fmtHash(m.hashrate_hs), { basis: basis(m.hashrate_basis) }),
    cell("Power", fmtPower(m.power_w), { basis: basis(m.power_basis) }),
    cell("Efficiency", fmtEff(efficiencyJTH(m.power_w, m.hashrate_hs))),
    cell("Break-even", m.sha256 === false ? "— (not SHA-256)" : beText, { class: `be ${beClass}` }),
    cell("Revenue / h", money(m.revenue_per_hour, currency)),
    cell("Cost / h", money(m.cost_per_hour, currency)),
    cell("Profit / h", money(m.profit_per_hour, currency), { class: profitClass(m.profit_per_hour) }),
    cell("Profit / day", money(perDay, currency), { class: profitClass(perDay) }));
}

function renderMiners() {
  const prof = en.prof;
  const miners = prof && Array.isArray(prof.miners) ? prof.miners.filter((m) => m && typeof m === "object") : [];
  $("econ-wrap").hidden = !miners.length;
  $("econ-empty").hidden = miners.length > 0;
  if (!prof) { setText("econ-empty", en.profError ? `Profitability could not load: ${en.profError}` : "Loading…"); return; }
  setText("econ-empty", "No miners yet.");
  const currency = str(prof.currency) || "USD";
  const usable = pricesUsable();
  const factor = usable ? en.prices.main_factor : null;
  const priceNowUnit = usable && isNum(en.prices.now) ? en.prices.now : null;
  $("econ-rows").replaceChildren(...miners.map((m) => minerRow(m, currency, factor, priceNowUnit)));
  const fleet = prof.fleet && typeof prof.fleet === "object" ? prof.fleet : null;
  $("econ-foot").replaceChildren(...(fleet ? [minerRow({ ...fleet, name: `Fleet (${fleet.miners ?? 0} counted)`, ip: "",
    sha256: true, hashrate_basis: "measured", power_basis: "measured" }, currency, factor, priceNowUnit)] : []));
  $("econ-foot").firstElementChild?.classList.add("fleet-row");
  const notes = [];
  const elec = prof.electricity && typeof prof.electricity === "object" ? prof.electricity : {};
  notes.push(isNum(elec.price_main)
    ? `Cost and profit at the price now, ${money(elec.price_main, currency)}/kWh${elec.stale ? " (stale: the configured default)" : ""}; per day = per hour × 24.`
    : "No electricity price now: cost and profit are unknown; break-even is still shown.");
  notes.push("Break-even: the electricity price at which a miner's revenue equals its power cost (green: it pays at the price now).");
  const skipped = Array.isArray(prof.not_counted) ? prof.not_counted.map(String) : [];
  if (skipped.length) notes.push(`Not counted (power or hashrate unknown): ${skipped.slice(0, 8).join(", ")}${skipped.length > 8 ? "…" : ""}.`);
  setText("miners-note", notes.join(" "));
}

function renderAll() {
  renderPrices();
  renderChart();
  renderToday();
  renderMiners();
}

async function refresh() {
  const [prices, prof] = await Promise.allSettled([api("GET", "/api/prices"), api("GET", "/api/profitability")]);
  if (prices.status === "fulfilled") { en.prices = prices.value && typeof prices.value === "object" ? prices.value : null; en.pricesError = ""; }
  else if (!prices.reason.redirected) en.pricesError = prices.reason.status === 404 ? "this controller has no price service" : prices.reason.message;
  if (prof.status === "fulfilled") { en.prof = prof.value && typeof prof.value === "object" ? prof.value : null; en.profError = ""; }
  else if (!prof.reason.redirected) en.profError = prof.reason.status === 404 ? "this controller has no profitability" : prof.reason.message;
  // fetched_at + age_sec is the server's "now": "today" and the now line follow the Pi's clock.
  const fetched = Date.parse(str(en.prices?.fetched_at)) / 1000;
  if (Number.isFinite(fetched) && isNum(en.prices.age_sec)) noteServerTime(fetched + en.prices.age_sec);
  renderAll();
}

function initToggles() {
  for (const [id, key] of [["be-fleet", "fleet"], ["be-miners", "miners"]]) {
    const box = $(id);
    box.checked = !en.hidden.has(key);
    box.addEventListener("change", () => {
      if (box.checked) en.hidden.delete(key); else en.hidden.add(key);
      saveHidden();
      renderChart();
    });
  }
}

function init() {
  initToggles();
  try { en.chart = initPriceChart(); } catch (e) { console.error("price chart disabled:", e); en.chart = false; }
  renderAll();
  refresh();
  initSession();
  setInterval(() => { if (document.visibilityState === "visible") refresh(); }, POLL_MS);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") refresh(); });
}

init();
