// Fleet dashboard: one REST snapshot on load, then live updates over /ws
// (shapes: docs/contracts.md). Every string from the API is untrusted -- miners
// report their own model, hostname and errors -- so data reaches the DOM only
// through textContent / Text nodes, never through innerHTML. Shared helpers
// live in util.js; the per-miner dialog in miner_detail.js and its controls in
// miner_controls.js.

import { detailSnapshot, hashMiner, initDetail, openDetail, tickDetail } from "./miner_detail.js";
import { sendCommand } from "./miner_controls.js";
import { emsLoggedIn, emsMessage, initEms } from "./ems_panel.js";
import { startLiveFeed } from "./live_feed.js";
import { initPower, powerLoggedIn, powerMessage } from "./power_panel.js";
import { rangeButtons, timeChart } from "./time_chart.js";
import {
  $, ALGO_LABEL, ASLEEP_STATES, api, caps, confirmDialog, conn, el, familySlot, fmtAgo, fmtDuration, fmtEff,
  fmtFan, fmtHash, fmtPower, fmtSI, fmtTemp, isNum, minerHref, readableError,
  reportError, setText, toast,
} from "./util.js";

const HISTORY_MS = 60_000;     // chart refresh from /api/history
const FAMILY_HINTS = ["bitaxe", "cgminer", "antminer"];
const CHART_SERIES = [
  { key: "hashrate_hs.sha256d", label: "Hashrate SHA-256", axis: "yHash", colour: "--c-hash", fmt: fmtHash },
  { key: "hashrate_hs.scrypt", label: "Hashrate Scrypt", axis: "yScrypt", colour: "--c-scrypt", fmt: fmtHash },
  { key: "power_w", label: "Power", axis: "yPower", colour: "--c-power", fmt: fmtPower },
];

const state = {
  miners: new Map(),    // ip -> miner dict, as last received
  cards: new Map(),     // ip -> { root, f: field elements }
  hashTiles: new Map(), // algorithm -> <dd> of its fleet tile
  families: [],         // options of the Add form's family list
  range: null,           // the pressed range button's (templates/panels/_chart.html) once wired
  historySeq: 0,
  discovery: null,
  watchingDiscovery: false, // a finished job from before this page loaded stays hidden
  lastDiscoveryMsg: 0,
};
let fleetChart = null; // time_chart.js handle of the History chart
let ranges = null;     // its range buttons: {spans, initial, mark}
let discoveryTimer = null;

// ---------- small helpers ----------

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
  // The title opens the detail dialog; a middle click opens it in a new tab (#miner=<ip>).
  f.title = el("a", { class: "title-link", href: `#miner=${encodeURIComponent(ip)}` });
  f.title.addEventListener("click", (ev) => {
    if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    showDetail(ip);
  });
  f.model = el("h3", { class: "card-title" }, f.title);
  f.status = el("span", { class: "status" });
  f.state = el("span", { class: "state-chip", hidden: true });
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
  const button = (label, onclick, extra = "") => el("button", { type: "button", class: `btn btn-small${extra}`, onclick }, label);
  f.details = button("Details", () => showDetail(ip));
  f.sleep = button("Sleep", () => quickAction(ip, "sleep", f.sleep));
  f.wake = button("Wake", () => quickAction(ip, "wake", f.wake));
  f.restart = button("Restart", () => restartMiner(ip));
  f.remove = button("Remove", () => removeMiner(ip), " btn-danger-outline");
  const root = el("article", { class: "card", "data-ip": ip },
    el("div", { class: "card-head" }, f.family, f.model, el("span", { class: "card-flags" }, f.status, f.state)),
    el("div", { class: "card-sub" }, f.link, f.host),
    metrics, f.error,
    el("div", { class: "card-foot" }, f.seen,
      el("span", { class: "actions" }, f.details, f.wake, f.sleep, f.restart, f.remove)));
  return { root, f };
}

function updateCard({ root, f }, m) {
  const family = typeof m.family === "string" && m.family ? m.family : "unknown";
  f.family.textContent = family;
  f.family.className = `badge fam-${familySlot(family)}`;
  f.title.textContent = m.name || m.model || m.hostname || "Unknown model";
  f.model.title = f.title.textContent; // full name when the title is clamped
  f.title.setAttribute("aria-label", `${f.title.textContent}, details`);
  const status = ["online", "offline", "unauthorized", "disabled"].includes(m.status) ? m.status : "unknown";
  f.status.textContent = status;
  f.status.className = `status status-${status}`;
  // A miner that is online but not mining says why in a small chip ("sleeping", "paused"...).
  const st = status === "online" && typeof m.state === "string" && m.state && m.state !== "mining" ? m.state : "";
  f.state.textContent = st;
  f.state.hidden = !st;
  f.state.className = `state-chip${ASLEEP_STATES.includes(st) ? " state-asleep" : st ? " state-warn" : ""}`;
  root.classList.toggle("card-down", status !== "online");
  // Only a plain address becomes a link; the miner's own web UI opens in a new tab.
  const ip = String(m.ip), href = minerHref(ip);
  f.link.textContent = ip;
  if (href) f.link.href = href; else f.link.removeAttribute("href");
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
  // Quick actions only where the miner can do them now: capability, online, and its state.
  const c = caps(m), online = status === "online", asleep = ASLEEP_STATES.includes(st);
  f.restart.hidden = !(c.includes("restart") && online);
  f.sleep.hidden = !(c.includes("sleep") && online && !asleep);
  f.wake.hidden = !(c.includes("wake") && online && asleep);
}

function showDetail(ip) {
  if (state.miners.has(ip)) openDetail(ip, state.miners.get(ip));
}

async function quickAction(ip, action, button) {
  button.disabled = true;
  try { await sendCommand(ip, action, undefined, { what: action === "sleep" ? "Sleep" : "Wake" }); }
  finally { button.disabled = false; }
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
  detailSnapshot(list);
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
  tickDetail();
}

// ---------- actions ----------

function restartMiner(ip) { return sendCommand(ip, "restart", undefined, { what: "Restart" }); }

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
    if (conn.live && Date.now() - state.lastDiscoveryMsg < 2000) return;
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

function createChart() {
  fleetChart = timeChart($("chart"), {
    series: CHART_SERIES, legend: true, empty: $("chart-empty"),
    axes: {
      yHash: { fmt: (v) => fmtSI(v, "H/s", true) },
      // Three value axes do not fit a phone: there the scrypt line keeps its legend and tooltip but loses its axis.
      yScrypt: { position: "right", fmt: (v) => fmtSI(v, "H/s", true), phone: false },
      yPower: { position: "right", fmt: (v) => fmtSI(v, "W", true) },
    },
  });
}

function fitChart() {
  const sets = fleetChart.chart.data.datasets;
  for (const ds of sets) ds.hidden = ds.key !== "hashrate_hs.sha256d" && !ds.data.some((p) => isNum(p.y));
  fleetChart.show(ranges.spans[state.range], sets.flatMap((ds) => ds.data.map((p) => p.x)));
}

async function loadHistory() {
  if (!fleetChart) return;
  const seq = ++state.historySeq;
  try {
    const h = await api("GET", `/api/history?range=${encodeURIComponent(state.range)}`);
    if (seq !== state.historySeq) return; // a newer range was picked meanwhile
    fleetChart.fill(h);
    fitChart();
  } catch (e) { reportError("History could not load", e); }
}

function appendLivePoint(s) {
  if (!fleetChart || !s || !isNum(s.updated_ts)) return;
  const hs = s.hashrate_hs || {};
  const values = {
    "hashrate_hs.sha256d": hs.sha256d, "hashrate_hs.scrypt": hs.scrypt,
    power_w: s.power_reported_by === 0 ? null : s.power_w,
  };
  const span = ranges.spans[state.range];
  for (const ds of fleetChart.chart.data.datasets) {
    const last = ds.data[ds.data.length - 1];
    if (last && last.x >= s.updated_ts) continue;
    ds.data.push({ x: s.updated_ts, y: isNum(values[ds.key]) ? values[ds.key] : null });
    while (Number.isFinite(span) && ds.data.length && ds.data[0].x < s.updated_ts - span) ds.data.shift();
  }
  fitChart();
}

function selectRange(range) {
  state.range = range;
  ranges.mark(range);
  loadHistory();
}

// ---------- live connection (live_feed.js) ----------

function applySnapshot(miners, stats) {
  renderMiners(miners);
  renderStats(stats);
  appendLivePoint(stats);
}

// The REST read of the feed (while the socket is down) and after a change here.
async function readFleet() {
  const [miners, stats] = await Promise.all([api("GET", "/api/miners"), api("GET", "/api/stats")]);
  applySnapshot(miners, stats);
}

async function refreshFleet() {
  try { await readFleet(); } catch (e) { reportError("Refresh failed", e); }
}

function onSnapshot(miners, msg) {
  applySnapshot(miners, msg.stats);
  if (msg.discovery) renderDiscovery(msg.discovery);
}

function onMessage(msg) {
  if (msg.type === "discovery") {
    state.lastDiscoveryMsg = Date.now();
    renderDiscovery(msg);
  } else if (msg.type === "autocontrol") {
    powerMessage(msg); // the controller's status after each tick
    emsMessage(msg); // carries the dispatch state: the EMS part reloads when it changed
  }
}

// ---------- login state ----------

function showLoggedIn(yes) {
  $("login-link").hidden = yes;
  $("logout-btn").hidden = !yes;
  powerLoggedIn(yes);
  emsLoggedIn(yes);
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
  initDetail();
  ranges = rangeButtons($("ranges"), selectRange);
  state.range = ranges.initial;
  try { createChart(); } catch (e) { console.error("chart disabled:", e); fleetChart = null; } // the rest still works
  try { initPower(); } catch (e) { console.error("power panel disabled:", e); }
  try { initEms(); } catch (e) { console.error("EMS dispatch view disabled:", e); }

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
  // A link such as /#miner=10.0.0.2 (the card title's middle click) opens that miner's details.
  const wanted = hashMiner();
  if (wanted) showDetail(wanted);
  setInterval(tickLastSeen, 1000);
  setInterval(loadHistory, HISTORY_MS);
  startLiveFeed(onSnapshot, { read: readFleet, onMessage, first: false }); // the first read is above
}

init();
