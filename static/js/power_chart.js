// The dashboard's power chart: battery SOC, PV, battery flow, the miners' power
// and the fleet hashrate over one time range. Battery and fleet histories come
// from two endpoints (/api/battery/history, /api/history), fetched in parallel
// and put on one time grid: a battery bucket takes the time of the nearest fleet
// bucket within half a bucket, so the tooltip shows both sides of one moment.
// A null from the server stays null (a gap); so does a stretch with no rows.

import { rangeButtons, timeChart } from "./time_chart.js";
import { $, api, el, fmtSI, isNum, reportError } from "./util.js";

const REFRESH_MS = 60_000;
const STORE_KEY = "minerfleet.powerChart.hidden"; // the lines the user switched off
const HASH_UNITS = [[1e15, "PH/s"], [1e12, "TH/s"], [1e9, "GH/s"], [1e6, "MH/s"], [1e3, "kH/s"], [1, "H/s"]];

// key: a series of /api/battery/history ("bat") or /api/history ("fleet"); hash is picked per answer.
export const POWER_SERIES = [
  { key: "soc_pct", from: "bat", label: "Battery SOC", axis: "yPct", colour: "--c-soc" },
  { key: "pv_w", from: "bat", label: "Solar (PV)", axis: "yW", colour: "--c-pv" },
  { key: "battery_w", from: "bat", label: "Battery (+ discharging)", axis: "yW", colour: "--c-batt" },
  { key: "power_w", from: "fleet", label: "Miners' power", axis: "yW", colour: "--c-power" },
  { key: "hashrate", from: "fleet", label: "Hashrate", axis: "yHash", colour: "--c-hash", dash: [6, 3] },
];

const st = {
  range: null, seq: 0, handle: null, chart: null, // handle: time_chart.js's, chart: its Chart
  ranges: null, // the range buttons: {spans, initial, mark}
  hidden: loadHidden(), hashUnit: [1e12, "TH/s"], hashKey: null,
};

function loadHidden() {
  try {
    const list = JSON.parse(localStorage.getItem(STORE_KEY) || "[]");
    return new Set(Array.isArray(list) ? list.filter((k) => POWER_SERIES.some((s) => s.key === k)) : []);
  } catch { return new Set(); } // storage disabled or garbage: everything shown
}

function saveHidden() {
  try { localStorage.setItem(STORE_KEY, JSON.stringify([...st.hidden])); } catch { /* private mode: not kept */ }
}

// ---------- data ----------

// sha256d is what the fleet mostly mines; else the first algorithm, in name order.
export function pickHashKey(series) {
  const keys = Object.keys(series || {}).filter((k) => k.startsWith("hashrate_hs.")).sort();
  return ["hashrate_hs.sha256d", "hashrate_hs.sha256"].find((k) => keys.includes(k)) || keys[0] || null;
}

function hashUnit(values) {
  const top = Math.max(0, ...values.filter(isNum).map(Math.abs));
  return (top > 0 && HASH_UNITS.find(([f]) => top >= f)) || [1e12, "TH/s"];
}

function algoName(key) {
  const algo = key ? key.slice("hashrate_hs.".length) : "";
  return { sha256d: "SHA-256", sha256: "SHA-256", scrypt: "Scrypt" }[algo] || algo;
}

// Index of the sorted `xs` entry nearest to x (xs not empty).
function nearest(xs, x) {
  let lo = 0, hi = xs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1; else hi = mid;
  }
  return lo > 0 && x - xs[lo - 1] <= xs[lo] - x ? lo - 1 : lo;
}

// Points of one side: its own rows only (a battery read every minute must not be
// cut into dots by the fleet's 10 s buckets), x snapped to `grid` when one is
// close enough, and a null point where rows stop for a while, so the line breaks.
function points(ts, ys, grid, tolerance, gapS) {
  const out = [];
  let prev = null;
  ts.forEach((t, i) => {
    if (!isNum(t)) return;
    let x = t;
    if (grid.length) {
      const g = grid[nearest(grid, t)];
      if (Math.abs(g - t) <= tolerance) x = g;
    }
    if (prev !== null && x - prev > gapS) out.push({ x: (prev + x) / 2, y: null });
    out.push({ x, y: isNum(ys[i]) ? ys[i] : null });
    prev = x;
  });
  return out;
}

// A break needs a pause well beyond the usual step: three median steps, at least three buckets.
function gapLimit(ts, bucket) {
  const steps = [];
  for (let i = 1; i < ts.length; i++) if (isNum(ts[i]) && isNum(ts[i - 1])) steps.push(ts[i] - ts[i - 1]);
  steps.sort((a, b) => a - b);
  const median = steps.length ? steps[steps.length >> 1] : 0;
  return Math.max(3 * median, 3 * (bucket || 0), 1);
}

/** Both answers on one time grid: {key: [{x, y}]} for every POWER_SERIES key, plus the hashrate key and unit. */
export function mergeHistories(bat, fleet) {
  const bTs = Array.isArray(bat?.ts) ? bat.ts : [], fTs = Array.isArray(fleet?.ts) ? fleet.ts : [];
  const bSeries = bat?.series || {}, fSeries = fleet?.series || {};
  const bBucket = isNum(bat?.bucket_s) ? bat.bucket_s : 0, fBucket = isNum(fleet?.bucket_s) ? fleet.bucket_s : 0;
  const grid = fTs.filter(isNum).slice().sort((a, b) => a - b);
  const tolerance = Math.max(Math.min(bBucket || fBucket, fBucket || bBucket) / 2, 0);
  const hashKey = pickHashKey(fSeries);
  const hashRaw = hashKey && Array.isArray(fSeries[hashKey]) ? fSeries[hashKey] : [];
  const unit = hashUnit(hashRaw);
  const col = (series, key) => (Array.isArray(series[key]) ? series[key] : []);
  const bGap = gapLimit(bTs, bBucket), fGap = gapLimit(fTs, fBucket);
  const out = { hashKey, hashUnit: unit };
  for (const s of POWER_SERIES) {
    if (s.from === "bat") out[s.key] = points(bTs, col(bSeries, s.key), grid, tolerance, bGap);
    else if (s.key === "hashrate") out[s.key] = points(fTs, hashRaw.map((v) => (isNum(v) ? v / unit[0] : null)), [], 0, fGap);
    else out[s.key] = points(fTs, col(fSeries, s.key), [], 0, fGap);
  }
  return out;
}

// ---------- chart ----------

function fmtWatts(v) { return isNum(v) ? fmtSI(v, "W") : "—"; }

function tooltipLabel(item) {
  const key = item.dataset.key, y = item.parsed.y;
  if (!isNum(y)) return `${item.dataset.label}: —`;
  if (key === "soc_pct") return `${item.dataset.label}: ${y.toFixed(1)} %`;
  if (key === "hashrate") return `${item.dataset.label}: ${Number(y.toPrecision(4))} ${st.hashUnit[1]}`;
  if (key === "battery_w") {
    const flow = Math.abs(y) < 1 ? "idle" : `${y > 0 ? "discharging" : "charging"} ${fmtWatts(Math.abs(y))}`;
    return `Battery: ${flow}`;
  }
  return `${item.dataset.label}: ${fmtWatts(y)}`;
}

function createChart() {
  st.handle = timeChart($("power-chart"), {
    series: POWER_SERIES.map((s) => ({ ...s, hidden: st.hidden.has(s.key) })),
    empty: $("power-chart-empty"), swatches: $("power-series"), label: tooltipLabel,
    // Battery and fleet rows need not share every time: the tooltip takes whatever
    // lies nearest in time, which after the snapping is one bucket of both.
    interaction: { mode: "nearest", axis: "x", intersect: false },
    axes: {
      yW: { fmt: (v) => fmtSI(v, "W", true), zero: false },
      yPct: { position: "right", min: 0, max: 100, fmt: (v) => `${v} %`, zero: false, display: true },
      // Three value axes do not fit a phone: there the hashrate keeps its line and tooltip, not its axis.
      yHash: { position: "right", title: "TH/s", fmt: (v) => Number(v.toPrecision(3)), phone: false },
    },
  });
  st.chart = st.handle?.chart ?? null;
}

function buildToggles() {
  const box = $("power-series");
  for (const s of POWER_SERIES) {
    const input = el("input", { type: "checkbox", id: `ps-${s.key}`, "data-key": s.key });
    input.checked = !st.hidden.has(s.key);
    input.addEventListener("change", () => {
      if (input.checked) st.hidden.delete(s.key); else st.hidden.add(s.key);
      saveHidden();
      const ds = st.chart?.data.datasets.find((d) => d.key === s.key);
      if (ds) { ds.hidden = !input.checked; st.chart.update("none"); }
    });
    const label = el("span", { class: "ps-label" }, s.label);
    box.append(el("label", { class: "check series-toggle", for: `ps-${s.key}` }, input,
      el("span", { class: "swatch", "data-colour": s.colour, "aria-hidden": "true" }), label));
  }
}

function render(merged) {
  const chart = st.chart;
  st.hashUnit = merged.hashUnit;
  st.hashKey = merged.hashKey;
  for (const ds of chart.data.datasets) ds.data = merged[ds.key] || [];
  const hash = chart.data.datasets.find((d) => d.key === "hashrate");
  hash.label = merged.hashKey ? `Hashrate ${algoName(merged.hashKey)}` : "Hashrate";
  chart.options.scales.yHash.title.text = merged.hashUnit[1];
  const toggle = document.querySelector('#power-series input[data-key="hashrate"] + .swatch + .ps-label');
  if (toggle) toggle.textContent = hash.label;
  st.handle.show(st.ranges.spans[st.range], chart.data.datasets.flatMap((d) => d.data.filter((p) => isNum(p.y)).map((p) => p.x)));
}

async function load() {
  if (!st.chart) return;
  const seq = ++st.seq;
  const q = `range=${encodeURIComponent(st.range)}`;
  const [bat, fleet] = await Promise.allSettled([api("GET", `/api/battery/history?${q}`), api("GET", `/api/history?${q}`)]);
  if (seq !== st.seq) return; // a newer range was picked meanwhile
  // One side failing still shows the other; a 404 means a server without a battery.
  if (bat.status === "rejected" && bat.reason.status !== 404) reportError("Battery history could not load", bat.reason);
  if (fleet.status === "rejected") reportError("Power history could not load", fleet.reason);
  render(mergeHistories(bat.status === "fulfilled" ? bat.value : null, fleet.status === "fulfilled" ? fleet.value : null));
}

function selectRange(range) {
  st.range = range;
  st.ranges.mark(range);
  load();
}

/** Build the chart and its controls, load the default range and refresh every minute while visible. */
export function initPowerChart() {
  if (!$("power-chart")) return;
  buildToggles();
  st.ranges = rangeButtons($("power-ranges"), selectRange);
  st.range = st.ranges.initial;
  createChart();
  if (!st.chart) return;
  load();
  setInterval(() => { if (document.visibilityState === "visible") load(); }, REFRESH_MS);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") load(); });
}
