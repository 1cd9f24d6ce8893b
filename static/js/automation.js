// The Automation page: the rules in priority order with their state (GET /api/rules),
// add/edit/delete for rules made through the API (rule_form.js; config.yaml's are read-only),
// and what decides the fleet's power now: the precedence layer, the rule and the reason
// (GET /api/autocontrol). Polled while the page is visible; every API string is set as text.

import { editing, editRule, initRuleForm, resetForm, setFamilies, setMiners, setPriceUnit } from "./rule_form.js";
import { actionText, conditionsText, guardsText, stateKind, targetText } from "./rule_text.js";
import { initSession } from "./session.js";
import { $, api, confirmDialog, el, fmtAgo, isNum, noteServerTime, reportError, setText, toast } from "./util.js";

const POLL_MS = 10_000;        // rule states change on controller ticks (autocontrol.tick_sec)
const MINERS_MS = 60_000;      // the target list only
const LAYER_TEXT = { safety: "Safety", override: "Manual override", ems: "EMS dispatch", rules: "Rules",
  price: "Price limit", policy: "Solar policy" };

const st = { rules: null, rulesError: "", rulesKey: "", loggedIn: false, priceUnit: "", ac: null, acError: "" };

const fmtPct = (v) => (Math.abs(v - Math.round(v)) < 0.05 ? `${Math.round(v)} %` : `${v.toFixed(1)} %`);
const fmtWatts = (v) => (Math.abs(v) < 1000 ? `${Math.round(v)} W` : `${(v / 1000).toFixed(1)} kW`);

function firedText(ts) {
  if (!isNum(ts)) return "never";
  const d = new Date(ts * 1000);
  const today = d.toDateString() === new Date().toDateString();
  const when = today ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  return `${when} (${fmtAgo(ts)})`;
}

// ---------- rules ----------

function ruleCard(rule) {
  const kind = stateKind(rule.state);
  const fromConfig = rule.source === "config";
  const when = conditionsText(rule.when, st.priceUnit);
  const until = conditionsText(rule.until, st.priceUnit);
  const guards = guardsText(rule.guards);
  const line = (label, text, cls) => el("p", { class: `rule-line ${cls}` }, el("span", { class: "rule-k" }, label), " ", text);
  let actions;
  if (fromConfig) actions = el("p", { class: "rule-ro small muted" }, "Defined in config.yaml (read-only: change it there)");
  else if (st.loggedIn) {
    actions = el("div", { class: "rule-actions" },
      el("button", { type: "button", class: "btn btn-small", onclick: () => editRule(rule),
        "aria-label": `Edit rule ${rule.name}` }, "Edit"),
      el("button", { type: "button", class: "btn btn-small btn-danger-outline", onclick: () => deleteRule(rule.name),
        "aria-label": `Delete rule ${rule.name}` }, "Delete"));
  }
  return el("li", { class: "rule", "data-name": rule.name, "data-state": kind },
    el("div", { class: "rule-head" },
      el("h3", { class: "rule-name" }, String(rule.name)),
      el("span", { class: "rule-state", "data-kind": kind }, typeof rule.state === "string" ? rule.state : "unknown"),
      el("span", { class: "rule-source", "data-source": fromConfig ? "config" : "api" }, fromConfig ? "config.yaml" : "API")),
    typeof rule.error === "string" && rule.error ? el("p", { class: "card-error" }, `Invalid: ${rule.error}`) : null,
    line("When", when.join(" · ") || "—", "rule-when"),
    until.length ? line("Until", until.join(" · "), "rule-until") : null,
    line("Then", `${actionText(rule.then)} → ${targetText(rule.target)}`, "rule-then"),
    guards.length ? el("p", { class: "rule-guards small muted" }, guards.join(" · ")) : null,
    el("p", { class: "rule-meta small" },
      el("span", {}, el("span", { class: "muted" }, "Last fired "), firedText(rule.last_fired)), " ",
      el("span", {}, el("span", { class: "muted" }, "Fired today "), String(isNum(rule.fired_today) ? rule.fired_today : 0))),
    actions);
}

function renderRules(force = false) {
  const rules = st.rules;
  const key = JSON.stringify([rules, st.loggedIn, st.priceUnit]);
  if (!force && key === st.rulesKey) return; // unchanged: no rebuild, so focus and hover stay put
  st.rulesKey = key;
  const status = $("rules-status");
  if (!rules) {
    status.hidden = false;
    status.textContent = st.rulesError ? `Rules could not load: ${st.rulesError}` : "Loading rules…";
    return;
  }
  status.hidden = rules.length > 0;
  status.textContent = "No rules yet. Rules in config.yaml (rules:) and those added here are listed in priority order.";
  setText("rules-count", rules.length ? `(${rules.length})` : "");
  $("rules").replaceChildren(...rules.filter((r) => r && typeof r === "object" && typeof r.name === "string").map(ruleCard));
}

async function loadRules() {
  try {
    const body = await api("GET", "/api/rules");
    st.rules = Array.isArray(body?.rules) ? body.rules : [];
    st.rulesError = "";
  } catch (e) {
    if (e.redirected) return;
    st.rulesError = e.message; // keeps the last list on screen
  }
  renderRules();
}

async function deleteRule(name) {
  const ok = await confirmDialog(`Delete rule “${name}”?`, "It stops acting at the next control tick. This cannot be undone.",
    "Delete");
  if (!ok) return;
  try {
    await api("DELETE", `/api/rules/${encodeURIComponent(name)}`);
    if (editing() === name) resetForm();
    toast(`Rule “${name}” deleted`);
  } catch (e) { reportError(`Could not delete rule “${name}”`, e); }
  await loadRules();
}

async function onSaved(rule, previous) {
  const name = rule && typeof rule.name === "string" ? rule.name : "";
  toast(previous === null ? `Rule “${name}” added` : `Rule “${name}” saved`);
  await loadRules();
  const card = [...$("rules").children].find((li) => li.dataset.name === name);
  if (card) {
    card.classList.add("rule-new");
    card.scrollIntoView({ block: "nearest" });
  }
}

// ---------- the control decision ----------

function renderDecision() {
  const ac = st.ac;
  $("dec-body").hidden = !ac;
  $("dec-none").hidden = !!ac;
  if (!ac) {
    setText("dec-none", st.acError ? `The control decision could not load: ${st.acError}` : "Loading the control decision…");
    return;
  }
  // Older servers say "source" only; "layer" names the precedence layer (issue 12).
  const layer = typeof ac.layer === "string" && ac.layer ? ac.layer : typeof ac.source === "string" ? ac.source : "";
  const decided = isNum(ac.decided_at);
  setText("dec-layer", decided ? LAYER_TEXT[layer] || layer || "—" : "—");
  $("dec-layer").dataset.layer = decided ? layer : "";
  setText("dec-rule", typeof ac.rule === "string" && ac.rule ? ac.rule : "—");
  setText("dec-target", isNum(ac.target_percent)
    ? `${fmtPct(ac.target_percent)}${isNum(ac.target_w) ? ` (${fmtWatts(ac.target_w)})` : ""}` : "—");
  setText("dec-reason", decided ? (typeof ac.reason === "string" && ac.reason ? ac.reason.replace(/ -> /g, " → ") : "—")
    : "No decision yet: waiting for the controller's first tick.");
  $("dec-off").hidden = !!ac.enabled;
  for (const li of $("precedence").children) {
    const active = decided && li.dataset.layer === layer;
    li.classList.toggle("prec-active", active);
    if (active) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
  }
}

async function loadDecision() {
  try {
    const body = await api("GET", "/api/autocontrol");
    st.ac = body && typeof body === "object" ? body : null;
    st.acError = "";
    if (st.ac) noteServerTime(st.ac.decided_at);
  } catch (e) {
    if (e.redirected) return;
    st.acError = e.status === 404 ? "this controller has no autocontrol" : e.message;
  }
  renderDecision();
}

// ---------- what the form offers ----------

async function loadMiners() {
  try { setMiners(await api("GET", "/api/miners")); } catch (e) { if (!e.redirected) setMiners([]); }
}

async function loadChoices() {
  const [types, prices] = await Promise.allSettled([api("GET", "/api/miner-types"), api("GET", "/api/prices")]);
  if (types.status === "fulfilled" && types.value && typeof types.value === "object") setFamilies(Object.keys(types.value).sort());
  if (prices.status === "fulfilled" && typeof prices.value?.unit === "string") {
    st.priceUnit = prices.value.unit;
    setPriceUnit(st.priceUnit);
    renderRules();
  }
}

function showLoggedIn(yes) {
  st.loggedIn = yes;
  $("rule-editor").hidden = !yes;
  $("rules-login").hidden = yes;
  $("add-rule-link").hidden = !yes;
  if (!yes) resetForm();
  renderRules();
}

function refresh() {
  loadRules();
  loadDecision();
}

async function init() {
  initRuleForm({ onSaved });
  renderRules(true);
  renderDecision();
  refresh();
  loadChoices();
  loadMiners();
  await initSession(showLoggedIn);
  setInterval(() => { if (document.visibilityState === "visible") refresh(); }, POLL_MS);
  setInterval(() => { if (document.visibilityState === "visible") loadMiners(); }, MINERS_MS);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") refresh(); });
}

init();
