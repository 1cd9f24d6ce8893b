// Pools & wallets: the payout wallets in the miners' pool users (GET /api/wallets, invalid
// checksums flagged), solo odds (GET /api/solo), shares per miner and pool over a range
// (GET /api/shares?range=), and the pool library editor (GET/POST /api/pool-sets,
// PUT/DELETE /api/pool-sets/<id>, POST /api/pool-sets/<id>/apply with {miners} or {tag},
// per-miner results). Refreshed every 30 s while the tab is visible. Every API string is
// set as text; pool passwords are write-only (the API only says password_set).

import { initSession } from "./session.js";
import { $, api, confirmDialog, cssVar, el, fmtHash, fmtSI, fmtTick, isNum, reportError, setText, toast } from "./util.js";

const REFRESH_MS = 30_000;
const MAX_POOLS = 3;
const YEAR_S = 365.25 * 86400;
const st = { loggedIn: false, miners: [], sets: [], editing: null, applying: null, busy: false, chartIp: null };
let chart = null;

// ---------- formatting ----------

const fmtDiff = (v) => (isNum(v) ? fmtSI(v, "").trim() : "—");

/** A mean time to a block: "11,342 years", "157 years", "3.2 days", "5 h". */
function fmtEta(s) {
  if (!isNum(s)) return "—";
  if (s >= YEAR_S) return `${Math.round(s / YEAR_S).toLocaleString()} years`;
  if (s >= 2 * 86400) return `${(s / 86400).toFixed(1)} days`;
  if (s >= 3600) return `${(s / 3600).toFixed(1)} h`;
  return `${Math.max(1, Math.round(s / 60))} min`;
}

/** A small probability as "1 in 4,140,000" (and a percentage when it is not tiny). */
function fmtChance(p) {
  if (!isNum(p) || p <= 0) return "—";
  if (p >= 0.01) return `${(p * 100).toFixed(p >= 0.1 ? 0 : 1)} %`;
  const n = 1 / p;
  const rounded = Number(n.toPrecision(3));
  return `1 in ${rounded.toLocaleString()}`;
}

function fmtPct(v) {
  if (!isNum(v)) return "—";
  return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} %`;
}

function hostOf(url) {
  const m = /^(?:[a-z0-9+.-]+:\/\/)?([^/:?#]+)(?::(\d+))?/i.exec(String(url || ""));
  return m ? (m[2] ? `${m[1]}:${m[2]}` : m[1]) : String(url || "");
}

function minerLabel(ip) {
  const m = st.miners.find((x) => x.ip === ip);
  return m && m.name ? `${m.name} (${ip})` : ip;
}

function showBox(id, text) {
  const box = $(id);
  box.textContent = text || "";
  box.hidden = !text;
}

// A row of a stackable table: each cell carries its column name for the phone layout.
function row(cells, labels, cls) {
  return el("tr", { role: "row", class: cls }, ...cells.map((c, i) => {
    const td = c instanceof Node && c.tagName === "TD" ? c : el("td", { role: "cell" }, c ?? "—");
    td.setAttribute("data-label", labels[i]);
    td.setAttribute("role", "cell");
    return td;
  }));
}

// ---------- wallets ----------

const WALLET_COLS = ["Address", "Check", "Miners", "Hashrate", "Best share"];
const KIND_TEXT = { p2pkh: "legacy P2PKH", p2sh: "P2SH", p2wpkh: "SegWit P2WPKH", p2wsh: "SegWit P2WSH", p2tr: "Taproot" };

function showWallets(wallets) {
  const invalid = wallets.filter((w) => !w.valid);
  showBox("pw-invalid", invalid.length
    ? `${invalid.length === 1 ? "1 payout address fails" : `${invalid.length} payout addresses fail`} its checksum: `
      + `${invalid.map((w) => w.address).join(", ")}. A pool would pay nobody (or refuse the miner); fix the pool user.`
    : "");
  setText("pw-wallets-count", wallets.length ? `${wallets.length}` : "");
  $("pw-wallets-empty").hidden = wallets.length > 0;
  $("pw-wallets-wrap").hidden = wallets.length === 0;
  $("pw-wallets-rows").replaceChildren(...wallets.map((w) => {
    const check = w.valid
      ? el("span", { class: "badge badge-ok" }, "valid")
      : el("span", { class: "badge pw-bad", title: w.error || "" }, "invalid");
    const kind = w.valid ? `${KIND_TEXT[w.kind] || w.kind}${w.network && w.network !== "mainnet" ? `, ${w.network}` : ""}`
      : (w.error || "");
    const miners = el("span", { class: "pw-miners" },
      ...w.miners.map((ip) => el("span", { class: "pw-chip" }, w.workers && w.workers[ip] ? `${minerLabel(ip)} · ${w.workers[ip]}` : minerLabel(ip))),
      ...(w.backup_miners || []).map((ip) => el("span", { class: "pw-chip pw-chip-backup", title: "only in a backup pool" },
        `${minerLabel(ip)} (backup)`)));
    const addr = el("td", { class: "wrap wide" }, el("code", { class: "pw-addr" }, w.address));
    const solo = w.solo ? el("span", { class: "badge badge-ok pw-solo-badge" }, "solo") : null;
    return row([addr, el("td", { class: "wrap" }, check, solo, " ", el("span", { class: "small muted" }, kind)),
      el("td", { class: "wrap wide" }, miners), fmtHash(w.hashrate_hs), fmtDiff(w.best_difficulty)], WALLET_COLS,
    w.valid ? "" : "pw-row-bad");
  }));
}

// ---------- solo ----------

const SOLO_COLS = ["Miner", "Pool", "Best (session)", "Best (all-time)", "Of a block", "Expected block", "Chance / day"];
const SOURCE_TEXT = {
  fetched: "fetched", "solo.network_difficulty": "configured", "alerts.network_difficulty": "configured (alerts)",
  profitability: "profitability figures",
};

function showSolo(report) {
  const nd = report.network_difficulty || {};
  setText("pw-netdiff", isNum(nd.value) ? fmtDiff(nd.value) : "unknown");
  const age = isNum(nd.age_sec) ? `, ${nd.age_sec < 120 ? "just now" : `${Math.round(nd.age_sec / 60)} min old`}` : "";
  const src = $("pw-netdiff-src");
  src.textContent = nd.source ? `${SOURCE_TEXT[nd.source] || nd.source}${age}${nd.error ? ` (last fetch failed: ${nd.error})` : ""}`
    : "not set: solo.network_difficulty in config.yaml";
  src.title = nd.source || "";
  const solo = report.solo || {};
  setText("pw-solo-miners", String(solo.miners ?? 0));
  setText("pw-solo-hash", fmtHash(solo.hashrate_hs));
  setText("pw-solo-eta", fmtEta(solo.expected_block_s));
  setText("pw-solo-day", fmtChance(solo.chance_per_day));
  setText("pw-solo-year", fmtChance(solo.chance_per_year));
  setText("pw-solo-best", fmtDiff(solo.best_difficulty));
  const rows = (report.miners || []).filter((m) => m.solo || isNum(m.best_session_difficulty) || isNum(m.best_difficulty));
  $("pw-solo-wrap").hidden = rows.length === 0;
  $("pw-solo-rows").replaceChildren(...rows.map((m) => {
    const pool = el("td", { class: "wrap" }, hostOf(m.pool_url),
      m.solo ? el("span", { class: "badge badge-ok pw-solo-badge" }, "solo") : null,
      m.block_found ? el("span", { class: "badge pw-block" }, "block!") : null);
    // How close the best share came to a block: a percentage, or "1 / 12.4 G" when it is far off.
    const r = m.best_vs_network;
    const share = !isNum(r) ? "—" : r >= 1e-4 || r === 0 ? fmtPct(r * 100) : `1 / ${fmtDiff(1 / r)}`;
    // All-time: the firmware's, or the controller's own record where the firmware keeps none (cgminer families).
    const ever = el("td", {}, fmtDiff(m.best_ever));
    if (isNum(m.best_ever_since)) {
      ever.title = `highest seen by this controller since ${new Date(m.best_ever_since * 1000).toLocaleDateString()}`;
      ever.append(el("span", { class: "small muted" }, " *"));
    }
    return row([minerLabel(m.ip), pool, fmtDiff(m.best_session_difficulty), ever, share,
      m.solo ? fmtEta(m.expected_block_s) : "pooled", m.solo ? fmtChance(m.chance_per_day) : "—"], SOLO_COLS,
    m.solo ? "" : "pw-row-muted");
  }));
}

// ---------- shares ----------

const SHARE_COLS = ["Miner", "Pool", "User", "Accepted", "Rejected", "Rejected %"];

function showShares(body) {
  const rows = [];
  for (const m of body.miners || []) {
    for (const p of m.pools || []) {
      const bad = isNum(p.reject_pct) && p.reject_pct >= 5;
      const pick = el("button", { type: "button", class: "pw-link", onclick: () => showMinerChart(m.ip) }, minerLabel(m.ip));
      rows.push(row([el("td", {}, pick), el("td", { class: "wrap" }, hostOf(p.url)), el("td", { class: "wrap wide" }, p.user || "—"),
        p.accepted.toLocaleString(), p.rejected.toLocaleString(), fmtPct(p.reject_pct)], SHARE_COLS, bad ? "pw-row-bad" : ""));
    }
  }
  $("pw-shares-empty").hidden = rows.length > 0;
  $("pw-shares-wrap").hidden = rows.length === 0;
  $("pw-shares-rows").replaceChildren(...rows);
}

/** One miner's accepted and rejected shares per bucket, all its pools together, as stacked bars. */
async function showMinerChart(ip) {
  st.chartIp = ip;
  const range = $("pw-range").value;
  let body;
  try {
    body = await api("GET", `/api/miners/${encodeURIComponent(ip)}/shares?range=${encodeURIComponent(range)}`);
  } catch (e) {
    reportError("Shares not loaded", e);
    return;
  }
  const n = body.ts.length;
  const accepted = new Array(n).fill(0), rejected = new Array(n).fill(0);
  for (const p of body.pools) {
    p.accepted.forEach((v, i) => { accepted[i] += v; });
    p.rejected.forEach((v, i) => { rejected[i] += v; });
  }
  const sum = (a) => a.reduce((x, y) => x + y, 0);
  setText("pw-chart-title", `${minerLabel(ip)}: shares, ${range}`);
  setText("pw-chart-sum", `${sum(accepted).toLocaleString()} accepted, ${sum(rejected).toLocaleString()} rejected `
    + `(${body.pools.length} pool${body.pools.length === 1 ? "" : "s"}; bars of ${Math.round(body.bucket_s / 60)} min)`);
  $("pw-chart-box").hidden = false;
  if (typeof window.Chart !== "function") return; // the numbers above still say it
  const span = n > 1 ? body.ts[n - 1] - body.ts[0] : 3600;
  const labels = body.ts.map((t) => fmtTick(t, span));
  if (chart) chart.destroy();
  chart = new window.Chart($("pw-chart"), {
    type: "bar",
    data: { labels, datasets: [
      { label: "accepted", data: accepted, backgroundColor: cssVar("--ok"), stack: "shares" },
      { label: "rejected", data: rejected, backgroundColor: cssVar("--bad"), stack: "shares" },
    ] },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      scales: { x: { stacked: true, ticks: { autoSkip: true, maxTicksLimit: 8, maxRotation: 0 } },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { position: "bottom" } },
    },
  });
}

// ---------- pool library ----------

function syncLibrary() {
  $("pl-new").disabled = !st.loggedIn || st.busy;
  $("pl-login").hidden = st.loggedIn;
  for (const b of document.querySelectorAll("#pl-list button")) b.disabled = !st.loggedIn || st.busy;
}

function showSets(sets) {
  st.sets = sets;
  setText("pl-count", sets.length ? `${sets.length}` : "");
  $("pl-empty").hidden = sets.length > 0;
  $("pl-list").replaceChildren(...sets.map((s) => el("li", { class: "pl-set", "data-id": String(s.id) },
    el("div", { class: "pl-set-head" },
      el("strong", { class: "pl-set-name" }, s.name),
      el("span", { class: "pl-set-actions" },
        el("button", { type: "button", class: "btn btn-small", onclick: () => openApply(s) }, "Apply…"),
        el("button", { type: "button", class: "btn btn-small", onclick: () => openForm(s) }, "Edit"),
        el("button", { type: "button", class: "btn btn-small btn-danger-outline", onclick: () => removeSet(s) }, "Delete"))),
    el("ol", { class: "pl-set-pools" }, ...s.pools.map((p) => el("li", {},
      el("code", { class: "pl-url" }, p.url), " ", el("span", { class: "muted" }, p.user),
      p.password_set ? el("span", { class: "small muted" }, " · password set") : null))))));
  syncLibrary();
}

function poolFields(i, pool) {
  const id = (name) => `pl-${name}-${i}`;
  const field = (name, label, attrs) => el("div", { class: "field" }, el("label", { for: id(name) }, label),
    el("input", { id: id(name), type: "text", autocomplete: "off", spellcheck: "false", ...attrs }));
  const box = el("fieldset", { class: "pool-row pl-pool" }, el("legend", {}, i === 0 ? "Pool 1 (first choice)" : `Pool ${i + 1}`),
    field("url", "URL", { maxlength: "300", placeholder: "stratum+tcp://host:port", inputmode: "url" }),
    field("user", "User", { maxlength: "200", placeholder: "bc1q….worker" }),
    field("password", "Password", { maxlength: "200", type: "password", autocomplete: "new-password",
      placeholder: pool && pool.password_set ? "unchanged" : "x" }));
  box.querySelector(`#${id("url")}`).value = pool ? pool.url : "";
  box.querySelector(`#${id("user")}`).value = pool ? pool.user : "";
  return box;
}

function openForm(set) {
  st.editing = set || null;
  $("pl-apply").hidden = true;
  setText("pl-form-title", set ? `Edit “${set.name}”` : "New pool set");
  $("pl-name").value = set ? set.name : "";
  $("pl-pools").replaceChildren(...Array.from({ length: MAX_POOLS }, (_, i) => poolFields(i, set ? set.pools[i] : null)));
  showBox("pl-form-error", "");
  $("pl-form").hidden = false;
  $("pl-name").focus();
}

function formBody() {
  const pools = [];
  for (let i = 0; i < MAX_POOLS; i++) {
    const url = $(`pl-url-${i}`).value.trim();
    const user = $(`pl-user-${i}`).value.trim();
    const password = $(`pl-password-${i}`).value;
    if (!url && !user) continue;
    const pool = { url, user };
    // Empty on an edit keeps the stored password (the API's null); a new set sends what was typed.
    if (password) pool.password = password;
    else if (st.editing) pool.password = null;
    pools.push(pool);
  }
  return { name: $("pl-name").value.trim(), pools };
}

async function saveSet(ev) {
  ev.preventDefault();
  const body = formBody();
  if (!body.name) { showBox("pl-form-error", "Give the pool set a name."); return; }
  if (!body.pools.length) { showBox("pl-form-error", "Add at least one pool (URL and user)."); return; }
  st.busy = true;
  $("pl-save").disabled = true;
  try {
    if (st.editing) await api("PUT", `/api/pool-sets/${st.editing.id}`, body);
    else await api("POST", "/api/pool-sets", body);
    toast(`Pool set “${body.name}” saved`);
    $("pl-form").hidden = true;
    await loadSets();
  } catch (e) {
    if (!e.redirected) showBox("pl-form-error", e.message);
  } finally {
    st.busy = false;
    $("pl-save").disabled = false;
    syncLibrary();
  }
}

async function removeSet(set) {
  if (!(await confirmDialog(`Delete “${set.name}”?`, "Miners keep the pools they were given.", "Delete"))) return;
  try {
    await api("DELETE", `/api/pool-sets/${set.id}`);
    toast(`Pool set “${set.name}” deleted`);
    await loadSets();
  } catch (e) { reportError("Delete failed", e); }
}

function openApply(set) {
  st.applying = set;
  $("pl-form").hidden = true;
  setText("pl-apply-title", `Apply “${set.name}”`);
  const tags = [...new Set(st.miners.flatMap((m) => (Array.isArray(m.tags) ? m.tags : [])))].sort();
  $("pl-tag").replaceChildren(...(tags.length ? tags.map((t) => el("option", { value: t }, t))
    : [el("option", { value: "" }, "no tags yet")]));
  const tagRadio = document.querySelector('input[name="pl-target"][value="tag"]');
  tagRadio.disabled = tags.length === 0;
  const controllable = st.miners.filter((m) => Array.isArray(m.capabilities) && m.capabilities.includes("pools"));
  $("pl-miners").replaceChildren(el("legend", { class: "visually-hidden" }, "Miners"),
    ...controllable.map((m) => el("label", { class: "check pl-miner" },
      el("input", { type: "checkbox", value: m.ip, name: "pl-miner" }),
      m.name ? `${m.name} (${m.ip})` : m.ip)));
  document.querySelector('input[name="pl-target"][value="miners"]').checked = true;
  syncTarget();
  showBox("pl-apply-error", "");
  $("pl-apply").hidden = false;
  $("pl-apply").scrollIntoView({ block: "nearest" });
}

function syncTarget() {
  const byTag = document.querySelector('input[name="pl-target"]:checked').value === "tag";
  $("pl-tag").disabled = !byTag;
  $("pl-miners").disabled = byTag;
}

const OUTCOMES = ["done", "refused", "failed"];
function outcome(r) {
  if (OUTCOMES.includes(r.outcome)) return r.outcome;
  return r.ok === true ? "done" : "failed";
}

function showResults(reply) {
  const results = Array.isArray(reply?.results) ? reply.results.filter((r) => r && typeof r.ip === "string") : [];
  const count = (k) => results.filter((r) => outcome(r) === k).length;
  setText("pl-results-summary", `${count("done")} done, ${count("refused")} refused, ${count("failed")} failed`);
  $("pl-results-list").replaceChildren(...results.map((r) => {
    const kind = outcome(r);
    const text = kind === "done" ? (r.message || "") : (r.error || r.message || "");
    return el("li", { class: `pl-res pl-res-${kind}` }, el("span", { class: "pl-res-kind" }, kind),
      el("span", { class: "pl-res-ip" }, minerLabel(r.ip)), text ? el("span", { class: "pl-res-text" }, text) : null);
  }));
  $("pl-results").hidden = false;
  $("pl-results").scrollIntoView({ block: "nearest" });
}

async function apply(ev) {
  ev.preventDefault();
  const set = st.applying;
  if (!set) return;
  const byTag = document.querySelector('input[name="pl-target"]:checked').value === "tag";
  let body;
  if (byTag) {
    if (!$("pl-tag").value) { showBox("pl-apply-error", "Choose a tag."); return; }
    body = { tag: $("pl-tag").value };
  } else {
    const miners = [...document.querySelectorAll('input[name="pl-miner"]:checked')].map((c) => c.value);
    if (!miners.length) { showBox("pl-apply-error", "Select at least one miner."); return; }
    body = { miners };
  }
  st.busy = true;
  $("pl-apply-go").disabled = true;
  setText("pl-apply-go", "Applying…");
  try {
    const reply = await api("POST", `/api/pool-sets/${set.id}/apply`, body);
    $("pl-apply").hidden = true;
    showResults(reply);
    refresh();
  } catch (e) {
    if (!e.redirected) showBox("pl-apply-error", e.message);
  } finally {
    st.busy = false;
    $("pl-apply-go").disabled = false;
    setText("pl-apply-go", "Apply");
    syncLibrary();
  }
}

// ---------- loading ----------

async function loadSets() {
  try {
    showSets(await api("GET", "/api/pool-sets"));
    showBox("pl-error", "");
  } catch (e) {
    if (!e.redirected) showBox("pl-error", `Pool sets not loaded: ${e.message}`);
  }
}

async function loadShares() {
  try {
    showShares(await api("GET", `/api/shares?range=${encodeURIComponent($("pw-range").value)}`));
    showBox("pw-shares-error", "");
  } catch (e) {
    if (!e.redirected) showBox("pw-shares-error", `Shares not loaded: ${e.message}`);
  }
}

async function refresh() {
  try { st.miners = await api("GET", "/api/miners"); } catch { /* names only: the panels still load */ }
  const [wallets, solo] = await Promise.allSettled([api("GET", "/api/wallets"), api("GET", "/api/solo")]);
  if (wallets.status === "fulfilled") { showWallets(wallets.value); showBox("pw-wallets-error", ""); }
  else if (!wallets.reason.redirected) showBox("pw-wallets-error", `Wallets not loaded: ${wallets.reason.message}`);
  if (solo.status === "fulfilled") { showSolo(solo.value); showBox("pw-solo-error", ""); }
  else if (!solo.reason.redirected) showBox("pw-solo-error", `Solo figures not loaded: ${solo.reason.message}`);
  await loadShares();
  if (st.chartIp) await showMinerChart(st.chartIp);
  if ($("pl-form").hidden && $("pl-apply").hidden) await loadSets(); // never re-render under an open form
}

$("pw-range").addEventListener("change", () => { loadShares(); if (st.chartIp) showMinerChart(st.chartIp); });
$("pw-chart-close").addEventListener("click", () => {
  st.chartIp = null;
  $("pw-chart-box").hidden = true;
  if (chart) { chart.destroy(); chart = null; }
});
$("pl-new").addEventListener("click", () => openForm(null));
$("pl-cancel").addEventListener("click", () => { $("pl-form").hidden = true; });
$("pl-form").addEventListener("submit", saveSet);
$("pl-apply").addEventListener("submit", apply);
$("pl-apply-cancel").addEventListener("click", () => { $("pl-apply").hidden = true; });
for (const r of document.querySelectorAll('input[name="pl-target"]')) r.addEventListener("change", syncTarget);

initSession((yes) => { st.loggedIn = yes; syncLibrary(); });
refresh();
setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
