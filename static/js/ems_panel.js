// The "Grid dispatch (EMS)" part of the Battery & control panel: what the grid
// operator's Energy Management System asked for (GET /api/ems, docs/EMS.md),
// whether safety or an override holds it back, the measured power against the
// rated power, the miners whose power is estimated, and the last EMS calls.
// A fleet the EMS stopped can be handed back to the solar policy from here
// (POST /api/ems/release, logged in only). Polled while the page is visible and
// refreshed when a /ws autocontrol message shows the dispatch changed. Every
// string from the API is shown as text only.

import { $, api, el, fmtAgo, isNum, nowS, setText } from "./util.js";

const POLL_MS = 15_000; // the EMS calls and activePowerInKw have no push of their own
const TICK_MS = 1000;   // "since" and the lease countdown
const CALLS_SHOWN = 8;  // the server keeps 50; the panel stays compact

const es = {
  body: undefined,  // GET /api/ems; null = the server has no EMS routes (404)
  error: "",        // the last failed read
  key: null,        // state|target|since last seen, to notice a change in a /ws autocontrol message
  loggedIn: false,
  busy: false,      // a release is on its way
};

/** 4 -> "4 kW", 2.3456 -> "2.346 kW" (services/ems fmt_kw). */
export function fmtKw(kw) {
  if (!isNum(kw)) return "—";
  return `${kw.toFixed(3).replace(/\.?0+$/, "")} kW`;
}

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(r)}` : `${m}:${pad(r)}`;
}

const clip = (text, n = 180) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);
const str = (v) => (typeof v === "string" ? v : "");
const timeOf = (ts) => new Date(ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

function keyOf(state, target, since) {
  return `${state}|${state === "active" && isNum(target) ? target : ""}|${isNum(since) ? since : ""}`;
}

function stateText(b) {
  if (b.state === "active") return `Active at ${fmtKw(b.target_kw)}`;
  if (b.state === "stopped") return "Stopped by the EMS (deactivated)";
  return "Idle: the EMS does not hold the fleet";
}

// Safety (or an override) above an engaged dispatch is the one thing the operator must not miss.
function heldText(b) {
  const decision = b.decision && typeof b.decision === "object" ? b.decision : null;
  if (b.state === "idle") return "";
  if (str(b.safety)) return `Held back by safety: ${clip(b.safety)}`;
  if (decision && decision.source === "safety") return `Held back by safety: ${clip(str(decision.reason))}`;
  if (decision && decision.source === "override") return `Held back by a manual override: ${clip(str(decision.reason))}`;
  if (str(b.unavailable_reason)) return `Held back: ${clip(b.unavailable_reason)}`;
  return "";
}

function render() {
  const b = es.body;
  const ready = !!b && b.configured === true;
  $("ems-body").hidden = !ready;
  $("ems-none").hidden = ready;
  if (!ready) {
    let text;
    if (b === null) text = "This controller has no EMS dispatch.";
    else if (b && b.configured === false) text = "EMS dispatch is not configured (set ems.token in config.yaml or EMS_TOKEN).";
    else text = es.error ? `EMS dispatch could not load: ${es.error}` : "Loading the EMS dispatch…";
    setText("ems-none", text);
    renderRelease();
    return;
  }
  const state = ["active", "stopped"].includes(b.state) ? b.state : "idle";
  const badge = $("ems-state");
  badge.dataset.state = state;
  badge.textContent = stateText({ ...b, state });
  const held = heldText({ ...b, state });
  const alert = $("ems-held");
  if (alert.textContent !== held) alert.textContent = held; // unchanged text: no repeat for screen readers
  alert.hidden = !held;
  const unavailable = state === "idle" && str(b.unavailable_reason);
  $("ems-unavailable").hidden = !unavailable;
  setText("ems-unavailable", unavailable ? `Not available for dispatch now: ${clip(b.unavailable_reason)}` : "");
  const status = b.status && typeof b.status === "object" ? b.status : {};
  setText("ems-rated", fmtKw(status.ratedPowerInKw));
  setText("ems-active", fmtKw(status.activePowerInKw));
  $("ems-lease-row").hidden = !isNum(b.lease_expires_at);
  renderEstimated(Array.isArray(b.estimated) ? b.estimated.filter((e) => e && typeof e === "object") : []);
  renderCalls(Array.isArray(b.calls) ? b.calls.filter((c) => c && typeof c === "object") : []);
  renderRelease();
  tick();
}

function renderEstimated(list) {
  $("ems-estimated").hidden = !list.length;
  setText("ems-est-sum", `${list.length} miner${list.length === 1 ? "'s" : "s'"} power estimated (they report none)`);
  $("ems-est-list").replaceChildren(...list.map((e) =>
    el("li", {}, `${str(e.ip) || "?"}: ${isNum(e.watts) ? fmtKw(e.watts / 1000) : "—"}`,
      str(e.why) ? el("span", { class: "muted" }, ` (${clip(e.why)})`) : null)));
}

function renderCalls(calls) {
  const shown = calls.slice(0, CALLS_SHOWN);
  $("ems-calls-empty").hidden = shown.length > 0;
  $("ems-calls").replaceChildren(...shown.map((c) => {
    const status = isNum(c.status) ? c.status : null;
    const ok = status !== null && status < 300;
    const request = str(c.request) ? ` ${clip(c.request, 60)}` : "";
    return el("li", { class: "ems-call", "data-ok": String(ok) },
      isNum(c.at) ? el("time", { datetime: new Date(c.at * 1000).toISOString() }, timeOf(c.at)) : null,
      el("span", { class: "ems-call-what" }, `${str(c.call) || "?"}${request}`),
      el("span", { class: "ems-call-status" }, status === null ? "?" : String(status)),
      el("span", { class: "ems-call-msg" }, clip(str(c.message))));
  }));
}

function renderRelease() {
  const b = es.body;
  const stopped = !!b && b.configured === true && b.state === "stopped";
  $("ems-release-row").hidden = !stopped;
  $("ems-release").disabled = !es.loggedIn || es.busy;
  $("ems-release-login").hidden = es.loggedIn;
  if (!stopped) $("ems-error").hidden = true;
}

function tick() {
  const b = es.body;
  if (!b || b.configured !== true) return;
  setText("ems-since", isNum(b.since) && b.state !== "idle" ? `since ${timeOf(b.since)} (${fmtAgo(b.since)})`
    : isNum(b.since) ? `since ${fmtAgo(b.since)}` : "");
  if (isNum(b.lease_expires_at)) {
    const left = b.lease_expires_at - nowS();
    setText("ems-lease", left > 0 ? `in ${clock(left)}` : "now (back to the solar policy at the next tick)");
  }
}

async function refresh() {
  try {
    const body = await api("GET", "/api/ems");
    es.body = body && typeof body === "object" ? body : null;
    es.error = "";
    if (es.body) es.key = keyOf(es.body.state, es.body.target_kw, es.body.since);
  } catch (e) {
    if (e.redirected) return;
    if (e.status === 404) es.body = null;
    else es.error = e.message; // keeps the last body on screen
  }
  render();
}

async function onRelease() {
  es.busy = true;
  $("ems-error").hidden = true;
  renderRelease();
  try {
    await api("POST", "/api/ems/release");
    es.busy = false;
    await refresh();
  } catch (e) {
    es.busy = false;
    if (!e.redirected) { // a 401 is on its way to the login page
      const why = e.data && typeof e.data.message === "string" && e.data.message ? e.data.message : e.message;
      setText("ems-error", `Could not release the fleet: ${clip(why)}`);
      $("ems-error").hidden = false;
    }
    renderRelease();
  }
}

// ---------- wiring (called by dashboard.js) ----------

/** A {"type": "autocontrol", ...} message from /ws: reload when its ems summary shows a change. */
export function emsMessage(msg) {
  const ems = msg && typeof msg.ems === "object" && msg.ems ? msg.ems : null;
  if (!ems || es.body === null) return;
  if (keyOf(ems.state, ems.target_kw, ems.since) !== es.key) refresh();
}

/** The page's login state: the release button needs a logged-in session. */
export function emsLoggedIn(yes) {
  es.loggedIn = !!yes;
  renderRelease();
}

/** Load the EMS part of the panel; refresh while the page is visible. */
export function initEms() {
  if (!$("ems")) return;
  $("ems-release").addEventListener("click", onRelease);
  render();
  refresh();
  setInterval(() => { if (document.visibilityState === "visible") refresh(); }, POLL_MS);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") refresh(); });
  setInterval(tick, TICK_MS);
}
