// Fleet dashboard: one REST snapshot on load, then live updates over /ws
// (shapes: docs/contracts.md). Every string from the API is untrusted -- miners
// report their own model, hostname and errors -- so data reaches the DOM only
// through textContent / Text nodes, never through innerHTML.

const $ = (id) => document.getElementById(id);

const RANGE_S = { "1h": 3600, "6h": 21600, "24h": 86400, "3d": 259200, "1w": 604800, all: Infinity };
const POLL_MS = 10_000;        // REST polling while the WebSocket is down
const PING_MS = 20_000;        // keeps proxies and the server from idling the socket out
const HISTORY_MS = 60_000;     // chart refresh from /api/history
const MAX_BACKOFF_MS = 30_000;
const ALGO_LABEL = { sha256d: "SHA-256", scrypt: "Scrypt" };
// Fixed colour slots (css .fam-N) so a family keeps its colour across reloads;
// families not listed get a slot from a hash of the name.
const FAMILY_SLOT = { bitaxe: 0, antminer: 1, cgminer: 2, whatsminer: 3, avalon: 4, braiins: 5,
  bosminer: 5, luxos: 6, vnish: 7, goldshell: 8, iceriver: 9, nerdaxe: 10, canaan: 4 };
const FAMILY_HINTS = ["bitaxe", "cgminer", "antminer"];
const CHART_SERIES = [
  { key: "hashrate_hs.sha256d", label: "Hashrate SHA-256", axis: "yHash", colour: "--c-hash" },
  { key: "hashrate_hs.scrypt", label: "Hashrate Scrypt", axis: "yScrypt", colour: "--c-scrypt" },
  { key: "power_w", label: "Power", axis: "yPower", colour: "--c-power" },
];

const state = {
  miners: new Map(),    // ip -> miner dict, as last received
  cards: new Map(),     // ip -> { root, f: field elements }
  hashTiles: new Map(), // algorithm -> <dd> of its fleet tile
  families: [],         // options of the Add form's family list
  skewS: 0,             // server clock minus browser clock, see noteServerTime()
  range: "24h",
  historySeq: 0,
  started: false,        // initial load done
  discovery: null,
  watchingDiscovery: false, // a finished job from before this page loaded stays hidden
  lastDiscoveryMsg: 0,
  ws: null,
  wsLive: false,
  backoffMs: 1000,
};
let chart = null;
let pollTimer = null;
let discoveryTimer = null;

// ---------- small helpers ----------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c != null && c !== false)); // strings become Text nodes
  return node;
}

function setText(id, text) { $(id).textContent = text; }
const isNum = (v) => typeof v === "number" && Number.isFinite(v);

const apiError = (status, message, redirected = false) => Object.assign(new Error(message), { status, redirected });

// All requests go through here: same-origin cookies, JSON bodies on writes
// (a JSON content type also keeps cross-site forms from posting to us).
async function api(method, url, body) {
  const opts = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method !== "GET") {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body ?? {});
  }
  let res;
  try { res = await fetch(url, opts); } catch { throw apiError(0, "the controller is not reachable"); }
  let data = null;
  try { data = await res.json(); } catch { /* empty or non-JSON body */ }
  // 401: a write needs a login, and so do reads when the server sets
  // security.reads_require_login; either way the login page is the way on.
  if (res.status === 401) {
    location.assign("/login");
    throw apiError(401, "login required", true);
  }
  if (!res.ok) throw apiError(res.status, (data && data.error) || `HTTP ${res.status}`);
  return data;
}

// While the socket is down the indicator already says so; no toast every 10 s.
function reportError(prefix, e) {
  if (e.redirected || (e.status === 0 && !state.wsLive && state.started)) return;
  toast(`${prefix}: ${e.message}`, "error");
}

// ---------- formatting ----------

const SI = ["", "k", "M", "G", "T", "P", "E"];
function fmtSI(v, unit, short = false) {
  if (!isNum(v)) return "—";
  if (v === 0) return `0 ${unit}`;
  let x = Math.abs(v), i = 0;
  while (x >= 1000 && i < SI.length - 1) { x /= 1000; i++; }
  const digits = x < 10 ? 2 : x < 100 ? 1 : 0;
  const text = short ? String(Number(x.toFixed(digits))) : x.toFixed(digits); // short: axis labels
  return `${v < 0 ? "-" : ""}${text} ${SI[i]}${unit}`;
}
const fmtHash = (v) => fmtSI(v, "H/s");
const fmtPower = (v) => fmtSI(v, "W");
const fmtTemp = (v) => (isNum(v) ? `${v.toFixed(1)} °C` : "—");
const fmtEff = (v) => (isNum(v) ? `${v.toFixed(1)} J/TH` : "—");

// RPM when the firmware reports it (one per fan), else the duty cycle.
function fmtFan(m) {
  const rpm = Array.isArray(m.fan_rpm) ? m.fan_rpm.filter(isNum) : [];
  if (rpm.length) return `${rpm.map((r) => Math.round(r)).join(" / ")} rpm`;
  return isNum(m.fan_percent) ? `${Math.round(m.fan_percent)} %` : "—";
}

function fmtDuration(s) {
  if (!isNum(s)) return "—";
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : m ? `${m} min` : `${Math.floor(s)} s`;
}

const nowS = () => Date.now() / 1000 + state.skewS;

function fmtAgo(ts) {
  if (!isNum(ts)) return "never";
  const s = Math.max(0, Math.round(nowS() - ts));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// A Pi without internet often has no NTP, so its clock can be far off the
// browser's. A snapshot's updated_ts is "now" on the server only roughly, so
// small differences are ignored and large ones corrected.
function noteServerTime(ts) {
  if (!isNum(ts)) return;
  const skew = ts - Date.now() / 1000;
  state.skewS = Math.abs(skew) > 120 ? skew : 0;
}

// Firmware errors arrive like "MinerUnreachable: timed out"; users need the words only.
function readableError(m) {
  let msg = typeof m.last_error === "string" ? m.last_error.trim() : "";
  msg = msg.replace(/^[\w.]*(Error|Exception|Unreachable)\s*:\s*/, "");
  if (!msg && m.status !== "unauthorized") return "";
  if (!msg) msg = "check the miner's username and password";
  if (msg.length > 200) msg = `${msg.slice(0, 199)}…`;
  const prefix = { offline: "Not reachable", unauthorized: "Access refused" }[m.status] || "Last error";
  return `${prefix}: ${msg}`;
}

function familySlot(family) {
  if (family in FAMILY_SLOT) return FAMILY_SLOT[family];
  let h = 0;
  for (const ch of String(family)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h % 12;
}

// IPv4 sorts by number (10.0.0.9 before 10.0.0.10); anything else after, by text.
function ipNumber(ip) {
  const parts = String(ip).split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return null;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}
function compareIp(a, b) {
  const x = ipNumber(a), y = ipNumber(b);
  if (x !== null && y !== null) return x - y;
  if (x !== null || y !== null) return x !== null ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------- fleet totals ----------

function renderStats(s) {
  if (!s) return;
  const count = (v) => (isNum(v) ? String(v) : "—");
  setText("t-total", count(s.miners_total));
  setText("t-online", count(s.online));
  setText("t-offline", count(s.offline));
  renderHashTiles(s.hashrate_hs && typeof s.hashrate_hs === "object" ? s.hashrate_hs : {});
  // Never a made-up 0 W: no reporter means unknown power.
  const reporters = isNum(s.power_reported_by) ? s.power_reported_by : null;
  const known = isNum(s.power_w) && reporters !== 0;
  setText("t-power", known ? fmtPower(s.power_w) : "—");
  const note = $("t-power-note");
  const partial = reporters !== null && isNum(s.online) && reporters < s.online;
  note.hidden = !partial;
  note.textContent = partial ? `${reporters} of ${s.online} report power` : "";
  setText("t-temp", fmtTemp(s.avg_temp_c));
  setText("t-eff", fmtEff(s.efficiency_j_th));
}

function renderHashTiles(byAlgo) {
  const algos = Object.keys(byAlgo).filter((a) => a !== "sha256d").sort();
  algos.unshift("sha256d"); // always shown, "—" when the fleet has none
  for (const [algo, dd] of state.hashTiles) {
    if (!algos.includes(algo)) { dd.parentElement.remove(); state.hashTiles.delete(algo); }
  }
  for (const algo of algos) {
    let dd = state.hashTiles.get(algo);
    if (!dd) {
      dd = el("dd");
      const label = `Hashrate ${ALGO_LABEL[algo] || algo}`;
      $("totals").insertBefore(el("div", { class: "tile tile-hash" }, el("dt", {}, label), dd), $("t-power-tile"));
      state.hashTiles.set(algo, dd);
    }
    dd.textContent = fmtHash(byAlgo[algo]);
  }
}

// ---------- miner cards ----------

function createCard(ip) {
  const f = {};
  f.family = el("span", { class: "badge" });
  f.model = el("h3", { class: "card-title" });
  f.status = el("span", { class: "status" });
  f.link = el("a", { class: "ip", target: "_blank", rel: "noopener noreferrer" });
  f.host = el("span", { class: "host muted" });
  const metrics = el("dl", { class: "metrics" });
  for (const [key, label] of [["hashrate", "Hashrate"], ["power", "Power"], ["temp", "Temp"],
    ["fan", "Fan"], ["eff", "Efficiency"], ["uptime", "Uptime"]]) {
    f[key] = el("dd");
    metrics.append(el("div", {}, el("dt", {}, label), f[key]));
  }
  f.error = el("p", { class: "card-error" });
  f.seen = el("span", { class: "seen muted" });
  f.restart = el("button", { type: "button", class: "btn btn-small", onclick: () => restartMiner(ip) }, "Restart");
  f.remove = el("button", { type: "button", class: "btn btn-small btn-danger-outline", onclick: () => removeMiner(ip) }, "Remove");
  const root = el("article", { class: "card", "data-ip": ip },
    el("div", { class: "card-head" }, f.family, f.model, f.status),
    el("div", { class: "card-sub" }, f.link, f.host),
    metrics, f.error,
    el("div", { class: "card-foot" }, f.seen, el("span", { class: "actions" }, f.restart, f.remove)));
  return { root, f };
}

function updateCard({ root, f }, m) {
  const family = typeof m.family === "string" && m.family ? m.family : "unknown";
  f.family.textContent = family;
  f.family.className = `badge fam-${familySlot(family)}`;
  f.model.textContent = m.name || m.model || m.hostname || "Unknown model";
  f.model.title = f.model.textContent; // full name when the title is clamped
  const status = ["online", "offline", "unauthorized"].includes(m.status) ? m.status : "unknown";
  const extra = status === "online" && m.state && m.state !== "mining" ? ` · ${m.state}` : "";
  f.status.textContent = status + extra;
  f.status.className = `status status-${status}`;
  root.classList.toggle("card-down", status !== "online");
  // Only a plain address becomes a link; the miner's own web UI opens in a new tab.
  const ip = String(m.ip);
  f.link.textContent = ip;
  if (/^[0-9A-Za-z.:-]+$/.test(ip)) f.link.href = `http://${ip.includes(":") ? `[${ip}]` : ip}/`;
  else f.link.removeAttribute("href");
  f.link.setAttribute("aria-label", `${ip}, open the miner's own page`);
  f.host.textContent = m.hostname && m.hostname !== m.model ? m.hostname : "";
  const algo = m.algorithm && m.algorithm !== "sha256d" ? ` (${ALGO_LABEL[m.algorithm] || m.algorithm})` : "";
  f.hashrate.textContent = isNum(m.hashrate_hs) ? fmtHash(m.hashrate_hs) + algo : "—";
  f.power.textContent = fmtPower(m.power_w);
  f.temp.textContent = fmtTemp(m.temp_c);
  f.fan.textContent = fmtFan(m);
  f.eff.textContent = fmtEff(m.efficiency_j_th);
  f.uptime.textContent = fmtDuration(m.uptime_s);
  const err = readableError(m);
  f.error.textContent = err;
  f.error.hidden = !err;
  f.seen.textContent = `Last seen ${fmtAgo(m.last_seen_ts)}`;
  const caps = Array.isArray(m.capabilities) ? m.capabilities : [];
  f.restart.hidden = !(caps.includes("restart") && status === "online");
}

// Cards are keyed by IP and updated in place; a node moves only when it is out
// of order, so live updates never make the grid jump or steal focus.
function renderMiners(list) {
  if (!Array.isArray(list)) return;
  const seen = new Set();
  for (const m of list) {
    if (!m || typeof m.ip !== "string") continue;
    seen.add(m.ip);
    state.miners.set(m.ip, m);
    if (!state.cards.has(m.ip)) state.cards.set(m.ip, createCard(m.ip));
    updateCard(state.cards.get(m.ip), m);
  }
  for (const ip of [...state.cards.keys()]) if (!seen.has(ip)) dropMiner(ip);
  placeCards();
}

function placeCards() {
  const box = $("cards");
  let ref = box.firstElementChild;
  for (const ip of [...state.cards.keys()].sort(compareIp)) {
    const node = state.cards.get(ip).root;
    if (node === ref) ref = ref.nextElementSibling;
    else box.insertBefore(node, ref);
  }
  const n = state.cards.size;
  $("miners-count").textContent = n ? `(${n})` : "";
  $("miners-empty").hidden = n > 0;
  const families = [...new Set([...FAMILY_HINTS, ...[...state.miners.values()].map((m) => m.family)])]
    .filter((fam) => typeof fam === "string" && fam).sort();
  if (families.join() !== state.families.join()) { // rebuilding an open datalist would close it
    state.families = families;
    $("families").replaceChildren(...families.map((fam) => el("option", { value: fam })));
  }
}

function dropMiner(ip) {
  state.cards.get(ip)?.root.remove();
  state.cards.delete(ip);
  state.miners.delete(ip);
}

function tickLastSeen() {
  for (const [ip, { f }] of state.cards) f.seen.textContent = `Last seen ${fmtAgo(state.miners.get(ip)?.last_seen_ts)}`;
}

// ---------- actions ----------

function confirmDialog(title, text, okLabel) {
  const dlg = $("confirm");
  if (typeof dlg.showModal !== "function") return Promise.resolve(window.confirm(`${title}\n\n${text}`));
  setText("confirm-title", title);
  setText("confirm-text", text);
  setText("confirm-ok", okLabel);
  dlg.returnValue = "";
  dlg.showModal();
  return new Promise((resolve) => dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true }));
}

function toast(message, kind = "ok") {
  // No role here: #toasts is the polite live region that announces the text.
  const node = el("div", { class: `toast toast-${kind}` },
    kind === "error" ? el("strong", {}, "Error: ") : null, message);
  node.addEventListener("click", () => node.remove());
  $("toasts").append(node);
  setTimeout(() => node.remove(), kind === "error" ? 9000 : 5000);
}

async function restartMiner(ip) {
  if (!await confirmDialog(`Restart ${ip}?`, "The miner stops hashing for a minute or two while it reboots.",
    "Restart")) return;
  try {
    const res = await api("POST", `/api/miners/${encodeURIComponent(ip)}/restart`);
    const said = res && typeof res.message === "string" && res.message; // the server's own words, if any
    toast(!said ? `Restart sent to ${ip}` : said.includes(ip) ? said[0].toUpperCase() + said.slice(1) : `${ip}: ${said}`);
  } catch (e) { reportError(`Restart of ${ip} failed`, e); }
}

async function removeMiner(ip) {
  if (!await confirmDialog(`Remove ${ip}?`,
    "It will no longer be polled or shown, and its history is deleted. Discover or Add can bring it back.",
    "Remove")) return;
  try {
    await api("DELETE", `/api/miners/${encodeURIComponent(ip)}`);
    dropMiner(ip);
    placeCards();
    toast(`Removed ${ip}`);
    refreshFleet(); // totals now, rather than at the server's next poll round
  } catch (e) { reportError(`Removing ${ip} failed`, e); }
}

async function addMiner(ev) {
  ev.preventDefault();
  const form = ev.currentTarget, button = form.querySelector("button");
  const ip = form.ip.value.trim(), family = form.family.value.trim();
  button.disabled = true; // the server detects the family and polls once: a few seconds
  try {
    await api("POST", "/api/miners", family ? { ip, family } : { ip });
    toast(`Added ${ip}`);
    form.reset();
    await refreshFleet();
  } catch (e) {
    reportError(`Adding ${ip} failed`, e);
  } finally {
    button.disabled = false;
  }
}

// ---------- discovery ----------

function renderDiscovery(d) {
  if (!d || typeof d !== "object") return;
  const prev = state.discovery;
  // A late poll answer must not take a finished job back to "running".
  if (prev && prev.job_id === d.job_id && prev.state !== "running" && d.state === "running") return;
  state.discovery = d;
  const running = d.state === "running";
  if (running) state.watchingDiscovery = true;
  $("discover-btn").disabled = running;
  $("discover-btn").textContent = running ? "Scanning…" : "Discover";
  $("discover-status").hidden = !state.watchingDiscovery;
  const total = isNum(d.total) ? d.total : 0, probed = isNum(d.probed) ? d.probed : 0;
  const found = Array.isArray(d.found) ? d.found : [];
  $("discover-progress").max = Math.max(total, 1);
  $("discover-progress").value = Math.min(probed, Math.max(total, 1));
  const where = d.subnet ? ` ${d.subnet}` : "";
  const counts = `${probed} / ${total} probed, found ${found.length}`;
  setText("discover-text",
    running ? `Scanning${where}: ${counts}`
      : d.state === "failed" ? `Discovery failed: ${d.error || "unknown error"}`
        : d.state === "done" ? `Done${where}: ${counts}` : "");
  renderFound(found);
  if (running) startDiscoveryPoll();
  if (prev && prev.state === "running" && !running && prev.job_id === d.job_id) {
    if (d.state === "done") toast(`Discovery finished: found ${found.length} miner${found.length === 1 ? "" : "s"}`);
    else toast(`Discovery failed: ${d.error || "unknown error"}`, "error");
    refreshFleet();
  }
}

// The server adds what it finds to the fleet itself; the list says what was new.
function renderFound(found) {
  $("discover-found").replaceChildren(...found.filter((m) => m && typeof m.ip === "string").map((m) => {
    const fam = m.family || "unknown";
    return el("li", {}, el("span", { class: `badge fam-${familySlot(fam)}` }, fam),
      el("span", { class: "found-ip" }, m.ip), el("span", { class: "muted found-model" }, m.model || ""));
  }));
}

// Fallback to WS progress: poll every second while a job runs and no
// discovery message arrived recently (socket down, or a server that only polls).
function startDiscoveryPoll() {
  if (discoveryTimer) return;
  discoveryTimer = setInterval(async () => {
    if (state.discovery?.state !== "running") { clearInterval(discoveryTimer); discoveryTimer = null; return; }
    if (state.wsLive && Date.now() - state.lastDiscoveryMsg < 2000) return;
    try { renderDiscovery(await api("GET", "/api/discover")); } catch { /* the next tick retries */ }
  }, 1000);
}

async function startDiscovery(ev) {
  ev.preventDefault();
  const subnet = $("discover-subnet").value.trim();
  try {
    const job = await api("POST", "/api/discover", subnet ? { subnet } : {});
    state.watchingDiscovery = true; // show it even if a tiny scan is already done
    renderDiscovery(job && job.state ? job : await api("GET", "/api/discover"));
  } catch (e) {
    if (e.status === 409) renderDiscovery(await api("GET", "/api/discover").catch(() => null));
    else reportError("Discovery could not start", e);
  }
}

// ---------- chart ----------

const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

function pickStep(span, maxTicks) {
  const steps = [300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400, 30 * 86400];
  return steps.find((s) => span / s <= maxTicks) || 90 * 86400;
}

// Chart.js would start linear ticks at the window's first second (12:06, 15:06...);
// put them on round local times instead (whole hours, local midnight).
function timeTicks(scale) {
  const step = pickStep(scale.max - scale.min, Math.max(2, Math.min(7, Math.floor(scale.width / 55))));
  const offset = new Date(scale.min * 1000).getTimezoneOffset() * 60; // UTC minus local, s
  const ticks = [];
  for (let t = Math.ceil((scale.min - offset) / step) * step + offset; t <= scale.max; t += step) ticks.push({ value: t });
  scale.ticks = ticks;
}

function fmtTick(v, span) {
  const d = new Date(v * 1000);
  if (span <= 86400 * 1.01) return d.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  if (span <= 8 * 86400) return d.toLocaleString([], { weekday: "short", hour: "numeric" });
  return d.toLocaleDateString([], { month: "short", day: "numeric" });
}

function createChart() {
  if (!window.Chart) { $("chart-empty").textContent = "Chart unavailable."; $("chart-empty").hidden = false; return; }
  const axis = (position, fmt, extra = {}) => ({ type: "linear", position, beginAtZero: true, ticks: { callback: fmt }, ...extra });
  chart = new window.Chart($("chart"), {
    type: "line",
    data: { datasets: CHART_SERIES.map((s) => ({ key: s.key, label: s.label, yAxisID: s.axis, data: [],
      borderWidth: 2, tension: 0.2, spanGaps: false,
      // dots only while there are few points, or a new install's first minutes stay invisible
      pointRadius: (ctx) => (ctx.dataset.data.length < 40 ? 2 : 0) })) },
    options: {
      animation: false, // the Pi serves many clients; also keeps redraws cheap on phones
      maintainAspectRatio: false,
      onResize: fitAxesToWidth,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { type: "linear", afterBuildTicks: timeTicks, ticks: { includeBounds: false, maxRotation: 0, autoSkipPadding: 12,
          callback(v) { return fmtTick(v, this.max - this.min); } } }, // `this` is the scale
        yHash: axis("left", (v) => fmtSI(v, "H/s", true)),
        yScrypt: axis("right", (v) => fmtSI(v, "H/s", true), { display: "auto", grid: { drawOnChartArea: false } }),
        yPower: axis("right", (v) => fmtSI(v, "W", true), { display: "auto", grid: { drawOnChartArea: false } }),
      },
      plugins: {
        legend: { labels: { boxWidth: 12, filter: (item, data) => !data.datasets[item.datasetIndex].hidden } },
        tooltip: { callbacks: {
          title: (items) => (items.length ? new Date(items[0].parsed.x * 1000).toLocaleString() : ""),
          label: (item) => `${item.dataset.label}: ${item.dataset.key === "power_w" ? fmtPower(item.parsed.y) : fmtHash(item.parsed.y)}`,
        } },
      },
    },
  });
  fitAxesToWidth(chart, { width: chart.width });
  applyChartTheme();
}

// Three value axes do not fit a phone: there the scrypt line keeps its
// legend and tooltip but loses its axis.
function fitAxesToWidth(c, size) {
  c.options.scales.yScrypt.display = size.width >= 600 ? "auto" : false;
}

// Colours come from the stylesheet so light and dark schemes stay in one place.
function applyChartTheme() {
  if (!chart) return;
  const text = cssVar("--muted"), grid = cssVar("--grid");
  chart.data.datasets.forEach((ds, i) => {
    ds.borderColor = ds.backgroundColor = cssVar(CHART_SERIES[i].colour);
  });
  for (const scale of Object.values(chart.options.scales)) {
    scale.ticks.color = text;
    scale.grid.color = grid;
  }
  chart.options.plugins.legend.labels.color = text;
  chart.update("none");
}

function fitChart() {
  const sets = chart.data.datasets;
  for (const ds of sets) ds.hidden = ds.key !== "hashrate_hs.sha256d" && !ds.data.some((p) => isNum(p.y));
  const span = RANGE_S[state.range];
  const xs = sets.flatMap((ds) => ds.data.map((p) => p.x));
  const last = Math.max(nowS(), ...xs);
  chart.options.scales.x.max = last;
  chart.options.scales.x.min = Number.isFinite(span) ? last - span : (xs.length ? Math.min(...xs) : last - 3600);
  $("chart-empty").hidden = xs.length > 0;
  chart.update("none");
}

async function loadHistory() {
  if (!chart) return;
  const seq = ++state.historySeq;
  try {
    const h = await api("GET", `/api/history?range=${encodeURIComponent(state.range)}`);
    if (seq !== state.historySeq) return; // a newer range was picked meanwhile
    const ts = Array.isArray(h.ts) ? h.ts : [];
    const series = h.series || {};
    for (const ds of chart.data.datasets) {
      const ys = Array.isArray(series[ds.key]) ? series[ds.key] : [];
      ds.data = ts.map((x, i) => ({ x, y: isNum(ys[i]) ? ys[i] : null }));
    }
    fitChart();
  } catch (e) { reportError("History could not load", e); }
}

function appendLivePoint(s) {
  if (!chart || !s || !isNum(s.updated_ts)) return;
  const hs = s.hashrate_hs || {};
  const values = {
    "hashrate_hs.sha256d": hs.sha256d, "hashrate_hs.scrypt": hs.scrypt,
    power_w: s.power_reported_by === 0 ? null : s.power_w,
  };
  const span = RANGE_S[state.range];
  for (const ds of chart.data.datasets) {
    const last = ds.data[ds.data.length - 1];
    if (last && last.x >= s.updated_ts) continue;
    ds.data.push({ x: s.updated_ts, y: isNum(values[ds.key]) ? values[ds.key] : null });
    while (Number.isFinite(span) && ds.data.length && ds.data[0].x < s.updated_ts - span) ds.data.shift();
  }
  fitChart();
}

function selectRange(range) {
  if (!(range in RANGE_S)) return;
  state.range = range;
  for (const b of $("ranges").querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.range === range));
  loadHistory();
}

// ---------- live connection ----------

function setLive(mode) {
  state.wsLive = mode === "live";
  $("live").dataset.state = mode;
  $("live").querySelector(".live-text").textContent =
    { live: "live", reconnecting: "reconnecting… (polling)", connecting: "connecting…" }[mode];
}

function applySnapshot(miners, stats) {
  renderMiners(miners);
  renderStats(stats);
  appendLivePoint(stats);
}

async function refreshFleet() {
  try {
    const [miners, stats] = await Promise.all([api("GET", "/api/miners"), api("GET", "/api/stats")]);
    applySnapshot(miners, stats);
  } catch (e) { reportError("Refresh failed", e); }
}

function handleMessage(raw) {
  if (raw === "pong") return;
  let msg;
  try { msg = JSON.parse(raw); } catch { return; }
  if (!msg || typeof msg !== "object") return;
  if (msg.type === "snapshot") {
    if (!state.wsLive) socketWorks();
    noteServerTime(msg.stats?.updated_ts); // sent right after a poll round: "now" on the server
    applySnapshot(msg.miners, msg.stats);
    if (msg.discovery) renderDiscovery(msg.discovery);
  } else if (msg.type === "discovery") {
    state.lastDiscoveryMsg = Date.now();
    renderDiscovery(msg);
  } else if (msg.type === "error") {
    refreshFleet(); // the socket refused us (login needed for reads): REST says where to go
  }
}

// Only a snapshot proves the socket works: one that opens and closes at once
// (server restarting, login needed) must not stop polling or reset the backoff.
function socketWorks() {
  setLive("live");
  state.backoffMs = 1000;
  clearInterval(pollTimer);
  pollTimer = null;
}

function connectWs() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  let pinger = null;
  state.ws = ws;
  ws.addEventListener("open", () => {
    pinger = setInterval(() => { if (ws.readyState === WebSocket.OPEN) ws.send("ping"); }, PING_MS);
  });
  ws.addEventListener("message", (ev) => handleMessage(ev.data));
  // "error" is always followed by "close", so close alone drives the reconnect.
  ws.addEventListener("close", () => {
    clearInterval(pinger);
    if (state.ws !== ws) return;
    state.ws = null;
    setLive("reconnecting");
    if (!pollTimer) pollTimer = setInterval(refreshFleet, POLL_MS);
    const delay = state.backoffMs;
    state.backoffMs = Math.min(delay * 2, MAX_BACKOFF_MS);
    setTimeout(connectWs, delay);
  });
}

// ---------- login state ----------

function showLoggedIn(yes) {
  $("login-link").hidden = yes;
  $("logout-btn").hidden = !yes;
}

async function logout() {
  try {
    await api("POST", "/logout");
    showLoggedIn(false);
    toast("Logged out");
  } catch (e) { reportError("Log out failed", e); }
}

// ---------- start ----------

async function init() {
  $("logout-btn").addEventListener("click", logout);
  $("discover-form").addEventListener("submit", startDiscovery);
  $("add-form").addEventListener("submit", addMiner);
  $("ranges").addEventListener("click", (ev) => { const b = ev.target.closest("button"); if (b) selectRange(b.dataset.range); });
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyChartTheme);
  try { createChart(); } catch (e) { console.error("chart disabled:", e); chart = null; } // the rest still works

  const get = (url) => api("GET", url);
  const [miners, stats, disc, , session] = await Promise.allSettled([
    get("/api/miners"), get("/api/stats"), get("/api/discover"), loadHistory(), get("/api/session")]);
  if (miners.status === "fulfilled") renderMiners(miners.value);
  else reportError("Miners could not load", miners.reason);
  if (stats.status === "fulfilled") renderStats(stats.value);
  showLoggedIn(session.status === "fulfilled" && !!session.value?.logged_in);
  if (disc.status === "fulfilled" && disc.value) {
    // Pre-fill the subnet so what the user sees is what gets scanned.
    if (disc.value.subnet && !$("discover-subnet").value) $("discover-subnet").value = disc.value.subnet;
    renderDiscovery(disc.value);
  }
  state.started = true;
  setInterval(tickLastSeen, 1000);
  setInterval(loadHistory, HISTORY_MS);
  connectWs();
}

init();
