// The miner detail dialog: identity, live numbers, boards, pools, errors, a
// per-miner history chart, the per-chip grid (where the firmware reports
// chips) and the controls the miner's capabilities allow (miner_controls.js).
// Data from GET /api/miners/<ip>, /history and /chips (docs/contracts.md);
// the live numbers also follow the dashboard's snapshots. Text only, never
// innerHTML: every string here comes from a miner.

import { renderControls, renderCredentials, renderPoolsEditor } from "./miner_controls.js";
import { renderSettings } from "./miner_settings.js";
import { renderTuning } from "./miner_tuning.js";
import { rangeButtons, timeChart } from "./time_chart.js";
import {
  $, ALGO_LABEL, api, caps, el, familySlot, fmtAgo, fmtDuration, fmtEff, fmtFan, fmtHash, fmtNum, fmtPower,
  fmtSI, fmtTemp, isNum, minerHref, readableError, rehomeToasts, reportError, setText, toast,
} from "./util.js";

const enc = encodeURIComponent;
const REFETCH_MS = 5000; // at most one detail GET per this, however often snapshots arrive

const d = {
  ip: null,       // the miner shown, null while closed
  m: null,        // its detail dict, merged with later snapshot entries
  seq: 0,         // answers to an older request are dropped
  fetchedAt: 0,
  seenTs: null,   // last_seen_ts of the reading the detail came from
  chips: [],
  pushHistory: false, // see initDetail
};

/** The miner a #miner=<ip> link names (the overview's cards, the Miners page's rows), or null. */
export function hashMiner() {
  const m = /^#miner=(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

/**
 * Wire the dialog once. The URL's #miner=<ip> names the open miner; with pushHistory (the Miners
 * page) opening it is a history entry of its own, so the back button closes it and returns to the
 * table's view; without (the overview) the hash is replaced in place.
 */
export function initDetail({ pushHistory = false } = {}) {
  const dlg = $("detail");
  d.pushHistory = pushHistory;
  $("d-close").addEventListener("click", () => dlg.close());
  dlg.addEventListener("close", () => {
    d.ip = null;
    d.seq++;
    closePoolsEditor();
    if (location.hash.startsWith("#miner=")) {
      // The entry openDetail pushed goes away as Back would take it; a typed or linked hash is just dropped.
      if (history.state?.minerDetail) history.back();
      else history.replaceState(null, "", location.pathname + location.search);
    }
    rehomeToasts();
  });
  initCharts();
  $("d-pools-edit").addEventListener("click", openPoolsEditor);
  $("d-chips-refresh").addEventListener("click", loadChips);
  $("d-chips").addEventListener("click", (ev) => {
    const cell = ev.target.closest(".chip[data-i]");
    if (cell) showChip(Number(cell.dataset.i));
  });
  // A command changes what the miner reports: the server re-polls it about a second later.
  document.addEventListener("miner-command", (ev) => {
    if (ev.detail?.ip !== d.ip) return;
    const ip = d.ip;
    setTimeout(() => { if (d.ip === ip) loadDetail(); }, 1500);
    setTimeout(() => { if (d.ip === ip) loadDetail(); }, 4000);
  });
}

export function openDetail(ip, summary) {
  const dlg = $("detail");
  if (typeof dlg.showModal !== "function") return;
  const same = d.ip === ip;
  d.ip = ip;
  d.m = { ...(summary || { ip }) };
  if (!same) {
    d.seq++;
    d.seenTs = null;
    d.chips = [];
    // Nothing of the previous miner may show while this one loads.
    for (const id of ["d-boards", "d-pools", "d-chips", "d-chips-legend", "d-numbers", "d-notes"]) $(id).replaceChildren();
    for (const id of ["d-boards", "d-pools"]) {
      $(`${id}-wrap`).hidden = true;
      setText(`${id}-empty`, "Loading…");
      $(`${id}-empty`).hidden = false;
    }
    setText("d-chip-info", "");
    setText("d-chips-note", "");
    clearCharts();
    closePoolsEditor();
  }
  render();
  if (!dlg.open) dlg.showModal();
  rehomeToasts(); // toasts already showing stay visible above the backdrop
  $("d-body").scrollTop = 0;
  const url = `#miner=${enc(ip)}`;
  if (d.pushHistory && !location.hash.startsWith("#miner=")) history.pushState({ minerDetail: true }, "", url);
  else history.replaceState(history.state, "", url);
  loadDetail();
  loadHistory();
  if (caps(d.m).includes("chips")) loadChips();
}

/** Close the dialog if it is open (the Miners page: Back left the #miner= entry). */
export function closeDetail() {
  if ($("detail").open) $("detail").close();
}

// The dashboard's 1 s tick: "last seen" ages between snapshots.
export function tickDetail() {
  if (d.ip && d.m) setText("d-seen", fmtAgo(d.m.last_seen_ts));
}

// Called with every miner list the dashboard receives (WebSocket or REST).
export function detailSnapshot(list) {
  if (!d.ip || !Array.isArray(list)) return;
  const m = list.find((x) => x && x.ip === d.ip);
  if (!m) {
    toast(`${d.ip} is no longer in the fleet`);
    $("detail").close();
    return;
  }
  const hadChips = caps(d.m).includes("chips");
  Object.assign(d.m, m);
  render();
  if (!hadChips && caps(d.m).includes("chips")) loadChips();
  if (m.last_seen_ts !== d.seenTs && Date.now() - d.fetchedAt > REFETCH_MS) loadDetail();
}

async function loadDetail() {
  const ip = d.ip, seq = ++d.seq;
  if (!ip) return;
  d.fetchedAt = Date.now();
  try {
    const m = await api("GET", `/api/miners/${enc(ip)}`);
    if (seq !== d.seq || ip !== d.ip || !m || typeof m !== "object") return;
    d.m = m;
    d.seenTs = m.last_seen_ts;
    render();
  } catch (e) {
    if (seq !== d.seq || ip !== d.ip) return;
    reportError(`Details of ${ip} could not load`, e);
    for (const id of ["d-boards-empty", "d-pools-empty"]) if ($(id).textContent === "Loading…") setText(id, "Not loaded.");
  }
}

// ---------- rendering ----------

function render() {
  const m = d.m;
  renderHead(m);
  renderNumbers(m);
  renderBoards(m);
  renderPools(m);
  renderNotes(m);
  renderControls($("d-controls"), m);
  renderCredentials($("d-creds"), m);
  renderSettings($("d-settings"), m);
  renderTuning($("d-tuning-sec"), $("d-tuning"), m);
  const c = caps(m);
  $("d-chips-sec").hidden = !c.includes("chips");
  $("d-pools-edit").hidden = !c.includes("pools");
  if (!c.includes("pools")) closePoolsEditor();
}

const text = (v) => (typeof v === "string" && v.trim() ? v.trim() : null);

function renderHead(m) {
  const family = text(m.family) || "unknown";
  const status = ["online", "offline", "unauthorized", "disabled"].includes(m.status) ? m.status : "unknown";
  $("d-family").textContent = family;
  $("d-family").className = `badge fam-${familySlot(family)}`;
  setText("d-title", text(m.name) || text(m.model) || text(m.hostname) || "Unknown model");
  setText("d-status", status);
  $("d-status").className = `status status-${status}`;
  const st = text(m.state);
  $("d-state").hidden = !(st && st !== "mining" && status === "online");
  setText("d-state", st || "");
  setText("d-fam", family);
  setText("d-model", text(m.model) || "—");
  setText("d-fw", [text(m.firmware), text(m.firmware_version)].filter(Boolean).join(" ") || "—");
  const link = $("d-ip"), href = minerHref(m.ip);
  link.textContent = String(m.ip ?? "");
  if (href) link.href = href; else link.removeAttribute("href");
  setText("d-port", isNum(m.port) ? String(m.port) : "—");
  setText("d-host", text(m.hostname) || "—");
  setText("d-mac", text(m.mac) || "—");
  setText("d-algo", ALGO_LABEL[m.algorithm] || text(m.algorithm) || "—");
  setText("d-seen", fmtAgo(m.last_seen_ts));
  const err = readableError(m);
  setText("d-error", err);
  $("d-error").hidden = !err;
}

function renderNumbers(m) {
  const hash = isNum(m.hashrate_hs) ? fmtHash(m.hashrate_hs) : "—";
  const expected = isNum(m.expected_hashrate_hs) ? `of ${fmtHash(m.expected_hashrate_hs)} expected` : null;
  const shares = isNum(m.shares_accepted) || isNum(m.shares_rejected)
    ? `${isNum(m.shares_accepted) ? m.shares_accepted : "—"} / ${isNum(m.shares_rejected) ? m.shares_rejected : "—"}` : "—";
  const tiles = [
    ["Hashrate", hash, expected], ["Power", fmtPower(m.power_w)], ["Efficiency", fmtEff(m.efficiency_j_th)],
    ["Temp", fmtTemp(m.temp_c)], ["Fan", fmtFan(m)], ["Uptime", fmtDuration(m.uptime_s)],
    ["Frequency", fmtNum(m.frequency_mhz, "MHz")], ["Core voltage", fmtNum(m.voltage_mv, "mV")],
    ["Shares acc / rej", shares],
  ];
  $("d-numbers").replaceChildren(...tiles.map(([label, value, note]) => el("div", { class: "tile" },
    el("dt", {}, label), el("dd", {}, value), note ? el("dd", { class: "tile-note" }, note) : null)));
}

// data-label names the column when a narrow screen stacks each row (app.css).
const cell = (label, ...content) => el("td", { role: "cell", "data-label": label }, ...content);

function renderBoards(m) {
  const boards = Array.isArray(m.boards) ? m.boards.filter((b) => b && typeof b === "object") : null;
  if (boards === null) return; // the list entry has no boards: keep what the detail showed
  $("d-boards-wrap").hidden = !boards.length;
  $("d-boards-empty").hidden = boards.length > 0;
  setText("d-boards-empty", "No per-board data from this firmware.");
  $("d-boards").replaceChildren(...boards.map((b, i) => {
    const hash = isNum(b.hashrate_hs) ? fmtHash(b.hashrate_hs) : "—";
    const temps = [isNum(b.temp_c) ? fmtTemp(b.temp_c) : null, isNum(b.chip_temp_c) ? `chip ${fmtTemp(b.chip_temp_c)}` : null];
    return el("tr", { role: "row" },
      el("th", { scope: "row", role: "rowheader", "data-label": "Board" }, String(isNum(b.index) ? b.index : i)),
      cell("Hashrate", hash, isNum(b.expected_hashrate_hs)
        ? el("span", { class: "muted small" }, ` / ${fmtHash(b.expected_hashrate_hs)}`) : null),
      cell("Temp", temps.filter(Boolean).join(" · ") || "—"),
      cell("Chips", isNum(b.chips) ? String(b.chips) : "—"),
      cell("Freq", fmtNum(b.frequency_mhz, "MHz")),
      cell("Voltage", fmtNum(b.voltage_mv, "mV")),
      cell("HW err", isNum(b.hardware_errors) ? String(b.hardware_errors) : "—"));
  }));
}

function renderPools(m) {
  const pools = Array.isArray(m.pools) ? m.pools.filter((p) => p && typeof p === "object") : null;
  if (pools === null) return;
  $("d-pools-wrap").hidden = !pools.length;
  $("d-pools-empty").hidden = pools.length > 0;
  setText("d-pools-empty", "No pools reported.");
  // Pool dicts carry url, user, status, active, priority and share counts; never a password.
  // Shown in priority order, numbered from 1 like the editor's rows.
  if (pools.every((p) => isNum(p.priority))) pools.sort((a, b) => a.priority - b.priority);
  $("d-pools").replaceChildren(...pools.map((p, i) => {
    const row = el("tr", { role: "row", class: p.active ? "pool-active" : null },
      el("th", { scope: "row", role: "rowheader", "data-label": "Pool" }, String(i + 1)),
      cell("URL", text(p.url) || "—"), cell("User", text(p.user) || "—"), cell("Status", text(p.status) || "—"),
      cell("Active", p.active ? el("span", { class: "state-chip state-ok" }, "active") : ""),
      cell("Acc / rej", isNum(p.accepted) || isNum(p.rejected)
        ? `${isNum(p.accepted) ? p.accepted : "—"} / ${isNum(p.rejected) ? p.rejected : "—"}` : "—"));
    row.children[1].classList.add("wrap", "wide");
    row.children[2].classList.add("wrap", "wide");
    return row;
  }));
}

function renderNotes(m) {
  const notes = [];
  const err = readableError(m);
  if (err) notes.push(err);
  if (Array.isArray(m.errors)) for (const e of m.errors) if (text(e)) notes.push(text(e).slice(0, 500));
  if (m.status === "unauthorized") notes.push("The miner refused the login: set it under Miner login.");
  $("d-notes").replaceChildren(...(notes.length ? notes.map((n) => el("li", {}, n))
    : [el("li", { class: "muted" }, "No errors reported.")]));
}

// ---------- pools editor ----------

function openPoolsEditor() {
  if (!d.m) return;
  $("d-pools-editor").hidden = false;
  $("d-pools-edit").hidden = true;
  renderPoolsEditor($("d-pools-editor"), d.m, closePoolsEditor);
}

function closePoolsEditor() {
  const box = $("d-pools-editor");
  const hadFocus = box.contains(document.activeElement);
  box.replaceChildren(); // the password fields go with it
  box.hidden = true;
  $("d-pools-edit").hidden = !caps(d.m).includes("pools");
  if (hadFocus && !$("d-pools-edit").hidden) $("d-pools-edit").focus();
}

// ---------- history charts ----------
// Two charts, one engine: hashrate and power, then temperature and fan. Both read
// GET /api/miners/<ip>/history (one request when they show the same range).

const HIDDEN_KEY = "minerfleet.minerChart.hidden"; // series the user switched off (toggles)
const fmtRpm = (v) => fmtNum(v, "rpm");
const CHARTS = {
  hist: {
    canvas: "d-chart", rangesId: "d-ranges", empty: "d-chart-empty", legend: true,
    series: [
      { key: "hashrate_hs", label: "Hashrate", axis: "yLeft", colour: "--c-hash", fmt: fmtHash, always: true },
      { key: "power_w", label: "Power", axis: "yRight", colour: "--c-power", fmt: fmtPower },
    ],
    axes: { yLeft: { fmt: (v) => fmtSI(v, "H/s", true) }, yRight: { position: "right", fmt: (v) => fmtSI(v, "W", true) } },
  },
  // temp_c is the hottest chip/board reading and fan_rpm the fastest fan (services/fleet.py stores those).
  thermal: {
    canvas: "d-t-chart", rangesId: "d-t-ranges", empty: "d-t-chart-empty", toggles: "d-t-series", legend: false,
    series: [
      { key: "temp_c", label: "Temperature", axis: "yLeft", colour: "--c-temp", fmt: fmtTemp },
      { key: "fan_rpm", label: "Fan", axis: "yRight", colour: "--c-fan", fmt: fmtRpm },
    ],
    axes: {
      yLeft: { fmt: (v) => `${Number(v.toFixed(1))} °C`, zero: false, grace: "10%" },
      yRight: { position: "right", fmt: (v) => `${Math.round(v)} rpm` },
    },
  },
};
// range: the pressed button's (templates/panels/_chart.html) once initCharts wired them.
for (const c of Object.values(CHARTS)) Object.assign(c, { range: null, seq: 0, chart: null, handle: null, ranges: null });
const userHidden = loadHidden();

function loadHidden() {
  try {
    const list = JSON.parse(localStorage.getItem(HIDDEN_KEY) || "[]");
    return new Set(Array.isArray(list) ? list.filter((k) => typeof k === "string") : []);
  } catch { return new Set(); } // storage disabled or garbage: everything shown
}

function saveHidden() {
  try { localStorage.setItem(HIDDEN_KEY, JSON.stringify([...userHidden])); } catch { /* private mode: not kept */ }
}

// Both charts ask for the same answer when their ranges match: one request, shared for a few seconds.
const histCache = new Map();
function fetchHistory(ip, range) {
  const key = `${ip}|${range}`, hit = histCache.get(key);
  if (hit && Date.now() - hit.at < REFETCH_MS) return hit.promise;
  const promise = api("GET", `/api/miners/${enc(ip)}/history?range=${enc(range)}`);
  histCache.set(key, { at: Date.now(), promise });
  promise.catch(() => histCache.delete(key));
  return promise;
}

function initCharts() {
  for (const c of Object.values(CHARTS)) {
    c.ranges = rangeButtons($(c.rangesId), (range) => { c.range = range; loadChart(c); });
    c.range = c.ranges.initial;
    if (!c.toggles) continue;
    for (const input of $(c.toggles).querySelectorAll("input[data-key]")) {
      input.checked = !userHidden.has(input.dataset.key);
      input.addEventListener("change", () => {
        if (input.checked) userHidden.delete(input.dataset.key); else userHidden.add(input.dataset.key);
        saveHidden();
        if (c.chart) { applyHidden(c); c.chart.update("none"); }
      });
    }
  }
}

function clearCharts() {
  histCache.clear();
  for (const c of Object.values(CHARTS)) {
    if (!c.chart) continue;
    for (const ds of c.chart.data.datasets) ds.data = [];
    c.chart.update("none");
  }
}

function loadHistory() {
  for (const c of Object.values(CHARTS)) loadChart(c);
}

function createChart(c) {
  c.handle = timeChart($(c.canvas), { series: c.series, axes: c.axes, legend: c.legend, empty: $(c.empty),
    swatches: c.toggles ? $(c.toggles) : null });
  c.chart = c.handle?.chart ?? null;
  return c.chart;
}

// A series is drawn unless it has no numbers in this range or (with toggles) the user switched it off.
function applyHidden(c) {
  for (const ds of c.chart.data.datasets) {
    const empty = !ds.data.some((p) => isNum(p.y));
    ds.hidden = (!ds.always && empty) || (!!c.toggles && userHidden.has(ds.key));
    if (!c.toggles) continue;
    const input = $(c.toggles).querySelector(`input[data-key="${ds.key}"]`);
    const note = input?.closest("label")?.querySelector(".toggle-note");
    if (note) note.textContent = empty ? " (no data)" : "";
  }
}

async function loadChart(c) {
  const ip = d.ip, seq = ++c.seq;
  if (!ip) return;
  c.ranges.mark(c.range);
  let chart;
  try { chart = c.chart || createChart(c); } catch (e) { console.error("miner chart disabled:", e); }
  if (!chart) { setText(c.empty, "Chart unavailable."); $(c.empty).hidden = false; return; }
  try {
    const h = await fetchHistory(ip, c.range);
    if (seq !== c.seq || ip !== d.ip) return;
    const ts = c.handle.fill(h);
    applyHidden(c);
    c.handle.show(c.ranges.spans[c.range], ts.filter(isNum));
  } catch (e) {
    // Both charts share a failed request: one toast is enough.
    if (seq === c.seq && ip === d.ip && c === CHARTS.hist) reportError(`History of ${ip} could not load`, e);
  }
}

// ---------- chips ----------

async function loadChips() {
  const ip = d.ip;
  if (!ip) return;
  $("d-chips-refresh").disabled = true;
  setText("d-chips-note", "Reading the chips…");
  try {
    const r = await api("GET", `/api/miners/${enc(ip)}/chips`);
    if (ip !== d.ip) return;
    d.chips = Array.isArray(r?.chips) ? r.chips.filter((c) => c && typeof c === "object") : [];
    renderChips();
  } catch (e) {
    if (ip !== d.ip || e.redirected) return;
    d.chips = [];
    $("d-chips").replaceChildren();
    $("d-chips-legend").replaceChildren();
    setText("d-chips-note", `The chips could not be read: ${e.message}`);
  } finally {
    $("d-chips-refresh").disabled = false;
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : null;
};

// Heat levels 1 (worst) to 4 (best): hashrate against the board's median where
// the firmware reports hashrate, else temperature; a chip whose own state is
// not "ok" (or that hashes nothing) is a problem whatever its numbers.
const HASH_LEVELS = [[0.9, 4], [0.75, 3], [0.5, 2], [-Infinity, 1]];
const TEMP_LEVELS = [[75, 4], [85, 3], [95, 2], [Infinity, 1]];
const LEGEND = {
  hash: [["h4", "≥ 90 % of board median"], ["h3", "75–90 %"], ["h2", "50–75 %"], ["h1", "< 50 %"]],
  temp: [["h4", "< 75 °C"], ["h3", "75–85 °C"], ["h2", "85–95 °C"], ["h1", "≥ 95 °C"]],
  state: [["h4", "ok"]],
};

function chipClass(c, mode, med) {
  const st = text(c.state);
  if (st && st.toLowerCase() !== "ok") return "bad";
  if (mode === "hash") {
    if (!isNum(c.hashrate_hs)) return st ? "h4" : "none";
    if (c.hashrate_hs <= 0) return "bad";
    const ratio = med ? c.hashrate_hs / med : 1;
    return `h${HASH_LEVELS.find(([lim]) => ratio >= lim)[1]}`;
  }
  if (mode === "temp") {
    if (!isNum(c.temp_c)) return st ? "h4" : "none";
    return `h${TEMP_LEVELS.find(([lim]) => c.temp_c < lim)[1]}`;
  }
  return st ? "h4" : "none";
}

function renderChips() {
  const chips = d.chips;
  const mode = chips.some((c) => isNum(c.hashrate_hs)) ? "hash" : chips.some((c) => isNum(c.temp_c)) ? "temp" : "state";
  const boards = new Map();
  chips.forEach((c, i) => {
    const b = isNum(c.board) ? c.board : 0;
    if (!boards.has(b)) boards.set(b, []);
    boards.get(b).push(i);
  });
  const blocks = [];
  for (const b of [...boards.keys()].sort((x, y) => x - y)) {
    const idx = boards.get(b);
    const med = median(idx.map((i) => chips[i].hashrate_hs).filter((v) => isNum(v) && v > 0));
    const counts = { good: 0, weak: 0, bad: 0, none: 0 };
    const cells = idx.map((i) => {
      const cls = chipClass(chips[i], mode, med);
      counts[cls === "bad" ? "bad" : cls === "none" ? "none" : cls === "h4" || cls === "h3" ? "good" : "weak"]++;
      return el("span", { class: `chip c-${cls}`, "data-i": i, title: chipText(chips[i]) });
    });
    const total = idx.reduce((sum, i) => sum + (isNum(chips[i].hashrate_hs) ? chips[i].hashrate_hs : 0), 0);
    const summary = [`${idx.length} chips`, `${counts.good} good`, counts.weak ? `${counts.weak} weak` : null,
      counts.bad ? `${counts.bad} problem` : null, counts.none ? `${counts.none} no data` : null,
      mode === "hash" ? fmtHash(total) : null].filter(Boolean).join(" · ");
    blocks.push(el("div", { class: "chip-board" },
      el("h4", {}, `Board ${b} `, el("span", { class: "muted small" }, summary)),
      el("div", { class: "chip-grid", role: "img", "aria-label": `Board ${b}: ${summary}` }, ...cells)));
  }
  $("d-chips").replaceChildren(...blocks);
  const legend = [...LEGEND[mode], ["bad", "problem"], ["none", "no data"]];
  $("d-chips-legend").replaceChildren(
    el("li", { class: "legend-title" }, mode === "hash" ? "Hashrate:" : mode === "temp" ? "Temperature:" : "State:"),
    ...legend.map(([cls, label]) => el("li", {}, el("span", { class: `chip c-${cls}`, "aria-hidden": "true" }), label)));
  setText("d-chips-note", chips.length ? "Tap a chip for its numbers." : "The miner reported no chips.");
  setText("d-chip-info", "");
}

function chipText(c) {
  const parts = [isNum(c.hashrate_hs) ? fmtHash(c.hashrate_hs) : null, text(c.state),
    isNum(c.temp_c) ? fmtTemp(c.temp_c) : null, isNum(c.frequency_mhz) ? fmtNum(c.frequency_mhz, "MHz") : null,
    isNum(c.voltage_mv) ? fmtNum(c.voltage_mv, "mV") : null, isNum(c.errors) ? `${c.errors} errors` : null];
  return `Board ${isNum(c.board) ? c.board : 0}, chip ${isNum(c.index) ? c.index : "?"}: ${parts.filter(Boolean).join(" · ") || "no data"}`;
}

function showChip(i) {
  const c = d.chips[i];
  if (!c) return;
  for (const cell of $("d-chips").querySelectorAll(".chip-sel")) cell.classList.remove("chip-sel");
  $("d-chips").querySelector(`.chip[data-i="${i}"]`)?.classList.add("chip-sel");
  setText("d-chip-info", chipText(c));
}
