// The Energy page's "Energy and cost per miner" table: kWh and cost today, yesterday, this month and
// last month from GET /api/energy/cost (stored power readings x the prices that applied; docs/prices.md).
// Polled each minute while the page is visible; every API string is set as text.

import { money } from "./energy_maths.js";
import { $, api, el, isNum, setText } from "./util.js";

const POLL_MS = 60_000;
const str = (v) => (v === null || v === undefined ? "" : String(v));

function kwh(v) {
  if (!isNum(v)) return "—";
  if (v < 1) return `${(v * 1000).toFixed(v < 0.01 ? 2 : 0)} Wh`; // a Bitaxe's hour is ~15 Wh
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} kWh`;
}

function usageCell(label, usage, currency) {
  const u = usage && typeof usage === "object" ? usage : {};
  const cost = isNum(u.cost) ? money(u.cost, currency) : null;
  const unpriced = isNum(u.unpriced_h) && u.unpriced_h > 0 ? `${u.unpriced_h} h unpriced` : null;
  return el("td", { role: "cell", "data-label": label, class: "num" }, kwh(u.kwh),
    cost ? el("span", { class: "basis" }, cost) : null,
    unpriced ? el("span", { class: "basis" }, unpriced) : null);
}

function row(name, ip, parts, periods, currency) {
  return el("tr", { role: "row", "data-ip": ip },
    el("th", { scope: "row", role: "rowheader" }, name, name !== ip && ip ? el("span", { class: "basis" }, ip) : null),
    ...periods.map((p) => usageCell(str(p.label), parts[p.key], currency)));
}

function render(body) {
  const periods = Array.isArray(body.periods) ? body.periods.filter((p) => p && typeof p === "object") : [];
  const miners = Array.isArray(body.miners) ? body.miners.filter((m) => m && typeof m === "object") : [];
  const currency = str(body.currency) || "EUR";
  $("cost-head").replaceChildren(el("th", { scope: "col", role: "columnheader" }, "Miner"),
    ...periods.map((p) => el("th", { scope: "col", role: "columnheader", class: "num" }, str(p.label))));
  $("cost-rows").replaceChildren(...miners.map((m) => row(str(m.name) || str(m.model) || str(m.ip), str(m.ip), m,
    periods, currency)));
  $("cost-foot").replaceChildren(row("Fleet", "", body.fleet || {}, periods, currency));
  $("cost-foot").firstElementChild?.classList.add("fleet-row");
  $("cost-wrap").hidden = !miners.length;
  $("cost-empty").hidden = miners.length > 0;
  setText("cost-empty", "No miners yet.");
  const notes = [`Energy from the stored power readings (each stands for one ${str(body.interval_s)} s poll round), in local time.`];
  notes.push(body.priced
    ? "Cost at the price that applied each hour (the configured default where no price was published); \"unpriced\" hours are left out of the cost."
    : "No electricity price is configured (prices.source or prices.default_price): cost is unknown.");
  notes.push("A miner that reports no power has no energy here (—).");
  setText("cost-note", notes.join(" "));
}

async function refresh() {
  try {
    render(await api("GET", "/api/energy/cost"));
  } catch (e) {
    if (e.redirected) return;
    setText("cost-empty", `Energy and cost could not load: ${e.status === 404 ? "this controller has no cost report" : e.message}`);
    $("cost-empty").hidden = false;
  }
}

refresh();
setInterval(() => { if (document.visibilityState === "visible") refresh(); }, POLL_MS);
