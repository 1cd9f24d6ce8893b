// The Miners page's columns (static/js/miners.js): what each shows, how it sorts and what it
// exports to CSV (numbers in base units, the unit in the header), plus the filter test.
// No DOM state here; every string from a miner reaches the page as a Text node (util.el).

import {
  ALGO_LABEL, el, familySlot, fmtAgo, fmtDuration, fmtEff, fmtFan, fmtHash, fmtPower, fmtTemp, isNum,
} from "./util.js";

export const STATUSES = ["online", "offline", "unauthorized", "unknown", "disabled"];
const ASLEEP = ["sleeping", "paused", "idle"];

const str = (v) => (typeof v === "string" ? v : "");
const num = (v) => (isNum(v) ? v : null);
const list = (v) => (Array.isArray(v) ? v.filter((x) => typeof x === "string" && x) : []);

/** The name a row shows: the user's name, else what the miner calls itself, else its address. */
export const displayName = (m) => str(m.name) || str(m.hostname) || str(m.model) || str(m.ip);
export const tagsOf = (m) => list(m.tags);

/** The pool the miner mines on: the list's `pool` once the server sends it, else the detail's active pool. */
export function poolOf(m) {
  if (typeof m.pool === "string") return m.pool;
  if (m.pool && typeof m.pool.url === "string") return m.pool.url;
  const pools = Array.isArray(m.pools) ? m.pools.filter((p) => p && typeof p.url === "string") : [];
  return (pools.find((p) => p.active) || pools[0])?.url || "";
}

// IPv4 sorts by number (10.0.0.9 before 10.0.0.10); anything else after it.
export function ipNumber(ip) {
  const parts = String(ip).split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return null;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

function firmwareText(m) {
  const fw = str(m.firmware), ver = str(m.firmware_version);
  if (!ver || fw.includes(ver)) return fw;
  return fw ? `${fw} ${ver}` : ver;
}

export function hashRatio(m) {
  return num(m.hashrate_hs) !== null && num(m.expected_hashrate_hs) ? m.hashrate_hs / m.expected_hashrate_hs : null;
}

function fanSort(m) {
  const rpm = Array.isArray(m.fan_rpm) ? m.fan_rpm.filter(isNum) : [];
  return rpm.length ? Math.max(...rpm) : num(m.fan_percent);
}

function statusCell(m) {
  const status = STATUSES.includes(m.status) ? m.status : "unknown";
  const st = status === "online" && str(m.state) && m.state !== "mining" ? m.state : "";
  return [el("span", { class: `status status-${status}` }, status),
    st ? el("span", { class: `state-chip ${ASLEEP.includes(st) ? "state-asleep" : "state-warn"}` }, st) : null];
}

function hashCell(m) {
  if (num(m.hashrate_hs) === null) return "—";
  const algo = m.algorithm && m.algorithm !== "sha256d" ? ` (${ALGO_LABEL[m.algorithm] || m.algorithm})` : "";
  const ratio = hashRatio(m);
  if (ratio === null) return fmtHash(m.hashrate_hs) + algo;
  // Below 90 % of what the model should do is worth a look; the percentage is written out.
  return [fmtHash(m.hashrate_hs) + algo, el("span", { class: `mn-expected${ratio < 0.9 ? " mn-low" : ""}` },
    `${Math.round(ratio * 100)} % of ${fmtHash(m.expected_hashrate_hs)}`)];
}

// host:port is what tells pools apart; the scheme and any path stay in the tooltip and the CSV.
function poolCell(m) {
  const url = poolOf(m);
  if (!url) return "—";
  const short = url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").replace(/\/.*$/, "");
  return el("span", { title: url }, short || url);
}

const tagChips = (m) => tagsOf(m).map((t) => el("span", { class: "mn-tag" }, t));
const fanCsv = (m) => (Array.isArray(m.fan_rpm) ? m.fan_rpm.filter(isNum).map((r) => Math.round(r)).join(" ") : "");

/**
 * Every column: key (URL ?sort= and the remembered choice), label, on (shown by default),
 * sort(m) -> number | string | null (null sorts last either way), cell(m) -> text or nodes,
 * csv: [[header, value(m)]] in base units (H/s, W, J/TH, °C, s, epoch s).
 */
export const COLUMNS = [
  { key: "name", label: "Name", on: true, sort: (m) => displayName(m).toLowerCase(), cell: null,
    csv: [["name", displayName]] },
  { key: "ip", label: "IP", on: true, sort: (m) => ipNumber(m.ip) ?? str(m.ip), cell: (m) => str(m.ip), csv: [["ip", (m) => m.ip]] },
  { key: "family", label: "Family", on: true, sort: (m) => str(m.family) || null,
    cell: (m) => (str(m.family) ? el("span", { class: `badge fam-${familySlot(m.family)}` }, m.family) : "—"),
    csv: [["family", (m) => m.family]] },
  { key: "model", label: "Model", on: true, sort: (m) => str(m.model).toLowerCase() || null, cell: (m) => str(m.model) || "—",
    csv: [["model", (m) => m.model]] },
  { key: "firmware", label: "Firmware", on: true, sort: (m) => firmwareText(m).toLowerCase() || null,
    cell: (m) => firmwareText(m) || "—", csv: [["firmware", (m) => m.firmware], ["firmware_version", (m) => m.firmware_version]] },
  { key: "status", label: "Status", on: true, sort: (m) => `${str(m.status)} ${str(m.state)}`, cell: statusCell,
    csv: [["status", (m) => m.status], ["state", (m) => m.state]] },
  { key: "hashrate", label: "Hashrate (of expected)", on: true, sort: (m) => num(m.hashrate_hs), cell: hashCell,
    csv: [["algorithm", (m) => m.algorithm], ["hashrate_hs", (m) => num(m.hashrate_hs)],
      ["expected_hashrate_hs", (m) => num(m.expected_hashrate_hs)]] },
  { key: "power", label: "Power", on: true, sort: (m) => num(m.power_w), cell: (m) => fmtPower(m.power_w),
    csv: [["power_w", (m) => num(m.power_w)]] },
  { key: "efficiency", label: "Efficiency", on: true, sort: (m) => num(m.efficiency_j_th), cell: (m) => fmtEff(m.efficiency_j_th),
    csv: [["efficiency_j_per_th", (m) => num(m.efficiency_j_th)]] },
  { key: "temp", label: "Temp", on: true, sort: (m) => num(m.temp_c), cell: (m) => fmtTemp(m.temp_c),
    csv: [["temp_c", (m) => num(m.temp_c)]] },
  { key: "fan", label: "Fan", on: true, sort: fanSort, cell: fmtFan,
    csv: [["fan_rpm", fanCsv], ["fan_percent", (m) => num(m.fan_percent)]] },
  { key: "pool", label: "Pool", on: true, sort: (m) => poolOf(m).toLowerCase() || null, cell: poolCell,
    csv: [["pool_url", poolOf]] },
  { key: "uptime", label: "Uptime", on: true, sort: (m) => num(m.uptime_s), cell: (m) => fmtDuration(m.uptime_s),
    csv: [["uptime_s", (m) => num(m.uptime_s)]] },
  { key: "seen", label: "Last seen", on: true, sort: (m) => num(m.last_seen_ts), cell: (m) => fmtAgo(m.last_seen_ts),
    csv: [["last_seen_utc", (m) => m.last_seen], ["last_seen_ts", (m) => num(m.last_seen_ts)]] },
  { key: "tags", label: "Tags", on: true, sort: (m) => tagsOf(m).join(",").toLowerCase() || null, cell: tagChips,
    csv: [["tags", (m) => tagsOf(m).join("; ")]] },
  { key: "location", label: "Location", on: false, sort: (m) => str(m.location).toLowerCase() || null,
    cell: (m) => str(m.location), csv: [["location", (m) => m.location]] },
  { key: "notes", label: "Notes", on: false, sort: (m) => str(m.notes).toLowerCase() || null,
    cell: (m) => str(m.notes), csv: [["notes", (m) => m.notes]] },
];
export const COLUMN = Object.fromEntries(COLUMNS.map((c) => [c.key, c]));

/** Whether miner m passes the filters {q, family, status, tag} (empty = any). */
export function matches(m, f) {
  if (f.family && m.family !== f.family) return false;
  if (f.status && m.status !== f.status) return false;
  if (f.tag && !tagsOf(m).includes(f.tag)) return false;
  if (!f.q) return true;
  const hay = [displayName(m), m.name, m.ip, m.hostname, m.model, m.family, firmwareText(m), m.location, m.notes,
    poolOf(m), m.mac, ...tagsOf(m)].map(str).join("\n").toLowerCase();
  return f.q.toLowerCase().split(/\s+/).filter(Boolean).every((word) => hay.includes(word));
}

/** A comparator for column key (asc or desc); empty values last either way, then by IP. */
export function comparator(key, dir) {
  const col = COLUMN[key] || COLUMN.ip, sign = dir === "desc" ? -1 : 1;
  const byIp = (a, b) => {
    const x = ipNumber(a.ip), y = ipNumber(b.ip);
    return x !== null && y !== null ? x - y : str(a.ip).localeCompare(str(b.ip));
  };
  return (a, b) => {
    const x = col.sort(a), y = col.sort(b);
    const xe = x === null || x === "", ye = y === null || y === "";
    if (xe || ye) return xe && ye ? byIp(a, b) : xe ? 1 : -1;
    const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
    return c ? sign * c : byIp(a, b);
  };
}
