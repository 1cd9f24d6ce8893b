// The Energy page's arithmetic, kept apart from the DOM: price slots from GET /api/prices
// as epoch seconds, the local day they belong to, break-even prices in the price's own unit,
// and today's estimated cost, revenue and profit for the fleet.
//
// Units: GET /api/prices gives prices per kWh in its `unit` (p/kWh, ct/kWh, EUR/kWh...) and
// `main_factor` (x that = main currency per kWh); GET /api/profitability gives money in the
// main currency (GBP, EUR...) and break-even in main currency per kWh.

import { isNum } from "./util.js";

/** "+01:00" / "-05:00" / "Z" at the end of an ISO time -> minutes east of UTC (null if none). */
export function isoOffsetMin(iso) {
  const m = /(Z|([+-])(\d{2}):?(\d{2}))$/.exec(String(iso));
  if (!m) return null;
  if (m[1] === "Z") return 0;
  return (m[2] === "-" ? -1 : 1) * (Number(m[3]) * 60 + Number(m[4]));
}

/** The API's slots as {start, end, price, offsetMin} in epoch seconds, sorted; broken ones left out. */
export function parseSlots(slots) {
  const out = [];
  for (const s of Array.isArray(slots) ? slots : []) {
    if (!s || typeof s !== "object" || !isNum(s.price)) continue;
    const start = Date.parse(s.start) / 1000, end = Date.parse(s.end) / 1000;
    if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start) continue;
    out.push({ start, end, price: s.price, offsetMin: isoOffsetMin(s.start) });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** The slot covering t, or null. */
export function slotAt(slots, t) {
  return slots.find((s) => s.start <= t && t < s.end) || null;
}

// The price zone's offset at t: the slot's own (the server writes them in prices.timezone),
// else the browser's; a Pi and the browser may sit in different zones.
function offsetAt(slots, t) {
  const s = slotAt(slots, t) || [...slots].reverse().find((x) => x.start <= t) || slots[0];
  if (s && isNum(s.offsetMin)) return s.offsetMin;
  return -new Date(t * 1000).getTimezoneOffset();
}

/** [start, end) of the local day holding `now` in the prices' time zone, epoch seconds (23 or 25 h on a DST day). */
export function dayBounds(slots, now) {
  const off = offsetAt(slots, now) * 60;
  const start = Math.floor((now + off) / 86400) * 86400 - off;
  const off2 = offsetAt(slots, start + 86400) * 60;
  return { start, end: start + 86400 + off - off2 };
}

/**
 * Energy cost of `kw` from `from` to `to` at the slots' prices (x `factor` = main currency/kWh);
 * hours no slot covers cost `fallbackMain` (main currency/kWh), or make the cost unknown (null).
 */
export function costBetween(slots, from, to, kw, factor, fallbackMain) {
  if (!isNum(kw) || to <= from) return { cost: isNum(kw) ? 0 : null, uncoveredH: 0 };
  let cost = 0, covered = 0;
  if (isNum(factor)) {
    for (const s of slots) {
      const a = Math.max(from, s.start), b = Math.min(to, s.end);
      if (b <= a) continue;
      covered += b - a;
      cost += kw * ((b - a) / 3600) * s.price * factor;
    }
  }
  const uncoveredH = Math.max(0, (to - from - covered) / 3600);
  if (uncoveredH > 1e-9) {
    if (!isNum(fallbackMain)) return { cost: null, uncoveredH };
    cost += kw * uncoveredH * fallbackMain;
  }
  return { cost, uncoveredH };
}

/**
 * Today's estimate for the miners mining now (`fleet`: GET /api/profitability fleet_now),
 * if they run all day as they do now: cost = their power over each of today's price slots,
 * revenue = their revenue per hour x the day's hours; also the part from midnight to now.
 */
export function estimateToday({ slots, factor, now, fleet, priceMain }) {
  const { start, end } = dayBounds(slots, now);
  const kw = fleet && isNum(fleet.power_w) ? fleet.power_w / 1000 : null;
  const perHour = fleet && isNum(fleet.revenue_per_hour) ? fleet.revenue_per_hour : null;
  const hours = (end - start) / 3600, hoursSoFar = Math.min(Math.max(0, now - start), end - start) / 3600;
  const day = costBetween(slots, start, end, kw, factor, priceMain);
  const soFar = costBetween(slots, start, Math.min(now, end), kw, factor, priceMain);
  const revenue = perHour === null ? null : perHour * hours;
  const revenueSoFar = perHour === null ? null : perHour * hoursSoFar;
  const minus = (a, b) => (isNum(a) && isNum(b) ? a - b : null);
  return {
    dayStart: start, dayEnd: end, hours, hoursSoFar, kw, uncoveredH: day.uncoveredH,
    cost: day.cost, revenue, profit: minus(revenue, day.cost),
    costSoFar: soFar.cost, revenueSoFar, profitSoFar: minus(revenueSoFar, soFar.cost),
  };
}

/** A price in main currency per kWh in the prices' unit (0.089 GBP/kWh -> 8.9 p/kWh); null if unknown. */
export function inPriceUnit(main, factor) {
  return isNum(main) && isNum(factor) && factor > 0 ? main / factor : null;
}

/** J/TH from W and H/s; null when either is unknown or the hashrate is 0. */
export function efficiencyJTH(powerW, hashrateHs) {
  return isNum(powerW) && isNum(hashrateHs) && hashrateHs > 0 ? powerW / (hashrateHs / 1e12) : null;
}

// An amount of money in ``currency`` for people (shared by the Energy page's tables).
export function money(v, currency) {
  if (!isNum(v)) return "—";
  // Small amounts (a Bitaxe earns fractions of a penny an hour) keep three significant digits.
  const opts = Math.abs(v) >= 1 || v === 0 ? { minimumFractionDigits: 2, maximumFractionDigits: 2 }
    : { maximumSignificantDigits: 3 };
  try { return new Intl.NumberFormat(undefined, { style: "currency", currency, ...opts }).format(v); }
  catch { return `${Number(v.toPrecision(3))} ${currency}`; } // not an ISO code Intl knows
}
