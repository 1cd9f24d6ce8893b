// A rule of GET /api/rules in words, with units ("price above 30 p/kWh · 22:00–07:00 Mon–Fri
// → sleep, whole fleet"), and its state as a badge class. The rule's fields are untrusted
// input like any API string: they are only ever set as text.

import { isNum } from "./util.js";

const DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
const num = (v) => (isNum(v) ? String(Number(v.toPrecision(6))) : String(v));

/** "mon, tue, wed" -> "Mon–Wed"; every day -> "". */
export function daysText(days) {
  if (!Array.isArray(days) || !days.length) return "";
  const idx = days.map((d) => DAY_NAMES.indexOf(String(d).toLowerCase())).filter((i) => i >= 0).sort((a, b) => a - b);
  if (idx.length === 7) return "";
  const runs = [];
  for (const i of idx) {
    const last = runs[runs.length - 1];
    if (last && i === last[1] + 1) last[1] = i; else runs.push([i, i]);
  }
  return runs.map(([a, b]) => (a === b ? cap(DAY_NAMES[a]) : b === a + 1 ? `${cap(DAY_NAMES[a])}, ${cap(DAY_NAMES[b])}`
    : `${cap(DAY_NAMES[a])}–${cap(DAY_NAMES[b])}`)).join(", ");
}

/** One condition set (when or until) as short phrases; priceUnit is GET /api/prices "unit". */
export function conditionsText(c, priceUnit) {
  if (!c || typeof c !== "object") return [];
  const pu = priceUnit ? ` ${priceUnit}` : "";
  const out = [];
  for (const [name, v] of Object.entries(c)) {
    switch (name) {
      case "time": {
        const t = v && typeof v === "object" ? v : {};
        const span = t.from != null && t.to != null ? `${t.from}–${t.to}` : "";
        out.push([span, daysText(t.days)].filter(Boolean).join(" ") || "time window");
        break;
      }
      case "price_above": out.push(`price above ${num(v)}${pu}`); break;
      case "price_below": out.push(`price below ${num(v)}${pu}`); break;
      case "cheapest_hours": out.push(`among the ${num(v)} cheapest hours`); break;
      case "soc_above": out.push(`SOC above ${num(v)} %`); break;
      case "soc_below": out.push(`SOC below ${num(v)} %`); break;
      case "surplus_above_w": out.push(`PV surplus above ${num(v)} W`); break;
      case "surplus_below_w": out.push(`PV surplus below ${num(v)} W`); break;
      case "sun": out.push(v === "up" ? "sun up" : v === "down" ? "sun down" : `sun ${String(v)}`); break;
      case "temp_above_c": out.push(`temperature above ${num(v)} °C`); break;
      case "offline_min": out.push(`offline for ${num(v)} min`); break;
      case "hashrate_below_percent": out.push(`hashrate below ${num(v)} % of its 1-h average`); break;
      default: out.push(`${name} ${typeof v === "object" ? JSON.stringify(v) : String(v)}`);
    }
  }
  return out;
}

/** The action with its value: "sleep", "power 40 %", "power 1200 W", "mode low", "pool #1", "notify “hot”". */
export function actionText(then) {
  const t = then && typeof then === "object" ? then : {};
  switch (t.action) {
    case "sleep": return "sleep";
    case "wake": return "wake (full power)";
    case "percent": return `power ${num(t.value)} %`;
    case "watts": return `power ${num(t.value)} W`;
    case "mode": return `mode ${String(t.value)}`;
    case "pool": return `switch to pool #${num(t.value)}`;
    case "restart": return "restart";
    case "notify": return `notify “${String(t.message ?? "")}”`;
    default: return String(t.action ?? "?");
  }
}

/** "whole fleet", "miners 10.0.0.5, 10.0.0.6 +3", "family whatsminer". */
export function targetText(target) {
  if (!target || typeof target !== "object") return "whole fleet";
  if (Array.isArray(target.miners)) {
    const shown = target.miners.slice(0, 3).map(String).join(", ");
    const more = target.miners.length > 3 ? ` +${target.miners.length - 3}` : "";
    return `${target.miners.length === 1 ? "miner" : "miners"} ${shown}${more}`;
  }
  if (target.family != null) return `family ${String(target.family)}`;
  if (target.tag != null) return `tag ${String(target.tag)}`;
  return "whole fleet";
}

/** The guards in force (GET /api/rules "guards", defaults included) as phrases. */
export function guardsText(g) {
  if (!g || typeof g !== "object") return [];
  const out = [];
  if (isNum(g.for_min) && g.for_min > 0) out.push(`holds ${num(g.for_min)} min first`);
  if (isNum(g.cooldown_min) && g.cooldown_min > 0) out.push(`at most every ${num(g.cooldown_min)} min`);
  if (isNum(g.max_per_day)) out.push(`at most ${num(g.max_per_day)} a day`);
  return out;
}

/** The badge's kind for a state: armed, waiting, firing, overridden, cooling, disabled, invalid. */
export function stateKind(state) {
  const s = typeof state === "string" ? state : "";
  if (s.startsWith("firing (overridden")) return "overridden";
  if (s === "cooling down") return "cooling";
  return ["armed", "waiting", "firing", "disabled", "invalid"].includes(s) ? s : "unknown";
}
