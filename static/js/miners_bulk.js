// Bulk actions of the Miners page: one action (sleep, wake, restart, mode, power %, pool set) on
// the selected miners through POST /api/miners/bulk, which tries every miner and answers per miner
// ({"results": [{ip, ok, error, message}], "ok": n, "failed": n}). The result list shows each miner
// as done, refused (with the server's reason) or failed, failures first, and stays until closed.
// Logged out, the controls are disabled and a "Log in" link says why.

import { $, api, confirmDialog, el, reportError, setText } from "./util.js";

const ACTION_TEXT = {
  sleep: "Sleep", wake: "Wake", restart: "Restart", mode: "Mode", power_percent: "Power %", pool_set: "Pool set",
};
// The server names each miner's outcome (services/bulk.py); an older reply without it is read
// from ok and the HTTP-like status of a refusal (no such capability, a bad value, a disabled miner).
const OUTCOMES = ["done", "refused", "failed"];
const PERCENT_MIN = 10; // the server's range (services/bulk.py PERCENT_RANGE); it answers 400 below it

let ctx = null; // { selected: () => [ip...], miners: () => Map ip -> miner, loggedIn: bool, busy: bool }

/** "done" | "refused" | "failed" for one result entry. */
export function outcome(r) {
  if (r && OUTCOMES.includes(r.outcome)) return r.outcome;
  if (r && r.ok === true) return "done";
  return r && [400, 403, 409, 422].includes(r.status) ? "refused" : "failed";
}

// Done: the server's message ("restart sent to ..."); refused or failed: the reason alone,
// since the outcome is already written beside it.
function resultText(r) {
  const kind = outcome(r), reason = typeof r.error === "string" ? r.error : "", said = typeof r.message === "string" ? r.message : "";
  return kind === "done" ? said : reason || said.replace(/^(refused|failed):\s*/i, "");
}

function valueField(action) {
  return { mode: "mn-mode-field", power_percent: "mn-power-field", pool_set: "mn-poolset-field" }[action] || null;
}

function showValueField() {
  const action = $("mn-action").value;
  for (const id of ["mn-mode-field", "mn-power-field", "mn-poolset-field"]) $(id).hidden = id !== valueField(action);
  if (action === "mode") fillModes();
  if (action === "pool_set") loadPoolSets();
  syncBulk();
}

// The modes the selected miners offer (all miners' when none is selected); a miner without the
// chosen one is refused by the server and listed so.
function fillModes() {
  const miners = ctx.miners(), ips = ctx.selected();
  const from = ips.length ? ips.map((ip) => miners.get(ip)).filter(Boolean) : [...miners.values()];
  const modes = [...new Set(from.flatMap((m) => (Array.isArray(m.modes) ? m.modes : [])))].filter((x) => typeof x === "string").sort();
  const select = $("mn-mode"), keep = select.value;
  // Called on every live update: an unchanged list is left alone (rebuilding an open list closes it).
  if ([...select.options].map((o) => o.value).join("\n") !== modes.join("\n")) {
    select.replaceChildren(...modes.map((mode) => el("option", { value: mode }, mode)));
    if (modes.includes(keep)) select.value = keep;
  }
  setText("mn-mode-note", modes.length ? "" : "None of these miners has modes.");
}

let poolSetsLoaded = false;
async function loadPoolSets() {
  if (poolSetsLoaded) return;
  const select = $("mn-poolset");
  try {
    const reply = await api("GET", "/api/pool-sets");
    const sets = Array.isArray(reply) ? reply : Array.isArray(reply?.pool_sets) ? reply.pool_sets : [];
    select.replaceChildren(...sets.filter((s) => s && s.id != null).map((s) => {
      const urls = Array.isArray(s.pools) ? s.pools.map((p) => p?.url).filter(Boolean).join(", ") : "";
      return el("option", { value: String(s.id) }, `${s.name ?? `#${s.id}`}${urls ? ` (${urls})` : ""}`);
    }));
    poolSetsLoaded = true;
    setText("mn-poolset-note", sets.length ? "" : "No pool sets yet: create one under Pools & wallets.");
  } catch (e) {
    setText("mn-poolset-note", e.status === 404 ? "This server has no pool library yet." : `Pool sets could not load: ${e.message}`);
  }
  syncBulk();
}

/** Enable or disable the bulk controls for the login state, the selection and the chosen action. */
export function syncBulk() {
  if (!ctx) return;
  const n = ctx.selected().length, action = $("mn-action").value;
  setText("mn-selected", `${n} selected`);
  $("mn-login-hint").hidden = ctx.loggedIn;
  for (const id of ["mn-action", "mn-mode", "mn-power", "mn-poolset"]) $(id).disabled = !ctx.loggedIn || ctx.busy;
  let ready = ctx.loggedIn && !ctx.busy && n > 0 && !!action;
  if (action === "mode") ready &&= !!$("mn-mode").value;
  if (action === "pool_set") ready &&= !!$("mn-poolset").value;
  $("mn-apply").disabled = !ready;
  $("mn-apply").textContent = ctx.busy ? "Working…" : n ? `Apply to ${n} miner${n === 1 ? "" : "s"}` : "Apply";
}

function actionValue(action) {
  if (action === "mode") return $("mn-mode").value;
  if (action === "pool_set") return Number($("mn-poolset").value);
  if (action === "power_percent") {
    const input = $("mn-power"), v = Number(input.value);
    if (input.value === "" || !Number.isInteger(v) || v < PERCENT_MIN || v > 100) return undefined;
    return v;
  }
  return null;
}

function confirmText(action, ips, value) {
  const n = ips.length, who = n === 1 ? ips[0] : `${n} miners`;
  if (action === "restart") return [`Restart ${who}?`, "Mining stops for a minute or two while each restarts.", "Restart"];
  if (action === "sleep") return [`Put ${who} to sleep?`, "They stop hashing until you wake them.", "Sleep"];
  if (action === "pool_set" && n > 1) {
    const name = $("mn-poolset").selectedOptions[0]?.textContent || `#${value}`;
    return [`Apply pool set to ${who}?`, `Each miner's pools are replaced by ${name}.`, "Apply"];
  }
  return null;
}

async function submit(ev) {
  ev.preventDefault();
  const action = $("mn-action").value, ips = ctx.selected();
  if (!action || !ips.length || ctx.busy) return;
  const value = actionValue(action);
  if (value === undefined) {
    $("mn-power").setAttribute("aria-invalid", "true");
    setText("mn-power-note", `A whole number from ${PERCENT_MIN} to 100.`);
    $("mn-power").focus();
    return;
  }
  $("mn-power").removeAttribute("aria-invalid");
  setText("mn-power-note", "");
  const ask = confirmText(action, ips, value);
  if (ask && !await confirmDialog(...ask)) return;
  ctx.busy = true;
  syncBulk();
  const body = { action, miners: ips };
  if (value !== null) body.value = value;
  try {
    const reply = await api("POST", "/api/miners/bulk", body);
    showResults(action, ips, reply);
    document.dispatchEvent(new CustomEvent("miners-bulk", { detail: { action, ips } }));
  } catch (e) {
    if (e.status === 404 && !e.data) showResults(action, ips, null, "This server has no bulk actions yet (POST /api/miners/bulk).");
    else if (!e.redirected) showResults(action, ips, null, e.message);
    if (!e.redirected) reportError(`${ACTION_TEXT[action]} failed`, e);
  } finally {
    ctx.busy = false;
    syncBulk();
  }
}

const OUTCOME_TEXT = { done: "done", refused: "refused", failed: "failed" };
const ORDER = { failed: 0, refused: 1, done: 2 };

/** Show the per-miner results; a miner the reply left out is listed as failed ("no answer"). */
export function showResults(action, ips, reply, error = null) {
  const box = $("mn-results");
  const results = Array.isArray(reply?.results) ? reply.results.filter((r) => r && typeof r.ip === "string") : [];
  const byIp = new Map(results.map((r) => [r.ip, r]));
  const rows = ips.map((ip) => {
    const r = byIp.get(ip);
    if (r) return { ip, kind: outcome(r), text: resultText(r) };
    return { ip, kind: "failed", text: error || "no answer for this miner" };
  });
  for (const r of results) if (!ips.includes(r.ip)) rows.push({ ip: r.ip, kind: outcome(r), text: resultText(r) });
  rows.sort((a, b) => ORDER[a.kind] - ORDER[b.kind]);
  const count = (k) => rows.filter((r) => r.kind === k).length;
  const miners = ctx.miners();
  setText("mn-results-title", `${ACTION_TEXT[action] || action}: results`);
  setText("mn-results-summary", `${count("done")} done, ${count("refused")} refused, ${count("failed")} failed`);
  $("mn-results-summary").dataset.bad = String(count("failed") + count("refused") > 0);
  $("mn-results-list").replaceChildren(...rows.map((r) => {
    const m = miners.get(r.ip);
    const name = m && m.name ? ` (${m.name})` : "";
    return el("li", { class: `mn-res mn-res-${r.kind}`, "data-ip": r.ip },
      el("span", { class: "mn-res-kind" }, OUTCOME_TEXT[r.kind]),
      el("span", { class: "mn-res-ip" }, r.ip + name),
      r.text ? el("span", { class: "mn-res-text" }, r.text) : null);
  }));
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
  $("mn-results-close").focus({ preventScroll: true });
}

/** Wire the bulk bar; context supplies the selection, the miners and the login state. */
export function initBulk(context) {
  ctx = { busy: false, loggedIn: false, ...context };
  $("mn-action").addEventListener("change", showValueField);
  for (const id of ["mn-mode", "mn-poolset"]) $(id).addEventListener("change", syncBulk);
  $("mn-bulk").addEventListener("submit", submit);
  $("mn-results-close").addEventListener("click", () => { $("mn-results").hidden = true; });
  showValueField();
  return {
    setLoggedIn(yes) { ctx.loggedIn = yes; syncBulk(); },
    selectionChanged() { if ($("mn-action").value === "mode") fillModes(); syncBulk(); },
  };
}
