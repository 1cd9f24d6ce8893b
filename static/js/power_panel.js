// The dashboard's "Battery & control" panel: the last battery reading
// (GET /api/battery, polled: readings are not pushed over /ws) and the power
// controller's decision (GET /api/autocontrol, plus the {"type": "autocontrol"}
// message /ws pushes after every controller tick), with the autocontrol switch
// and the policy selector (POST /api/autocontrol, logged in only).
// Timers count down here between updates. Every string from the API is shown as
// text only (a battery source's error message is untrusted, like a miner's).

import { initPowerChart } from "./power_chart.js";
import { $, api, el, isNum, setText } from "./util.js";

const POLL_MS = 20_000; // battery and controller refresh while the page is visible
const TICK_MS = 1000;   // countdowns and the reading's age
const VERB = { raise: "raising to", lower: "lowering to", start: "starting at" };
const SOURCE_TEXT = { policy: "solar policy", safety: "safety rule", override: "manual override", ems: "EMS dispatch",
                      rules: "rule", price: "electricity price" };

const ps = {
  battery: undefined,   // GET /api/battery body; null = the server has no battery route (404)
  batteryAt: 0,         // Date.now() when it arrived
  batteryError: "",     // the last failed read, when there is no body to show
  ac: null,             // the controller's status body
  acError: "",
  deadlines: [],        // per timer: browser ms when it runs out
  offsetS: null,        // server clock minus browser clock, s (null = not known yet)
  loggedIn: false,
  busy: false,          // a POST is on its way: the controls wait for its answer
  writeGen: 0,          // bumped per POST so a GET that started before it cannot undo it
  alertText: null,
};

// ---------- formatting ----------

/** 800 -> "800 W", 1234 -> "1.2 kW", 15300 -> "15.3 kW". */
export function fmtW(v) {
  if (!isNum(v)) return "—";
  const a = Math.abs(v);
  if (a < 1000) return `${Math.round(v)} W`;
  return `${(v / 1000).toFixed(a < 100_000 ? 1 : 0)} kW`;
}

/** The app's sign convention (+ = discharging) in words: "charging 1.2 kW", "discharging 800 W". */
export function flowText(w) {
  if (!isNum(w)) return "—";
  if (Math.abs(w) < 10) return "idle";
  return `${w > 0 ? "discharging" : "charging"} ${fmtW(Math.abs(w))}`;
}

function gridText(w) {
  if (!isNum(w)) return "—";
  if (Math.abs(w) < 10) return "0 W";
  return `${w > 0 ? "importing" : "exporting"} ${fmtW(Math.abs(w))}`;
}

const fmtPct = (v) => (Math.abs(v - Math.round(v)) < 0.05 ? `${Math.round(v)}%` : `${v.toFixed(1)}%`);

/** Like services/power/decision.fmt_duration: 90 -> "1:30", 4000 -> "1:06:40". */
export function fmtClock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(r)}` : `${m}:${pad(r)}`;
}

function fmtAge(s) {
  if (s < 90) return `${Math.max(0, Math.round(s))} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

const clip = (text, n = 200) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

// ---------- battery ----------

function renderBattery() {
  const body = ps.battery;
  const reading = body && body.reading && typeof body.reading === "object" ? body.reading : null;
  const status = body && body.status && typeof body.status === "object" ? body.status : {};
  const source = typeof status.source === "string" && status.source ? status.source : "";
  const lastError = typeof status.last_error === "string" ? clip(status.last_error.trim()) : "";
  $("bat-body").hidden = !reading;
  $("bat-empty").hidden = !!reading;
  if (!reading) {
    let text;
    if (body === null || (body && body.configured === false)) { // a 404 (older server) or battery.source: none
      text = "No battery source is configured on this controller (battery.source: none).";
    }
    else if (body === undefined) text = ps.batteryError ? `Battery data could not load: ${ps.batteryError}` : "Loading battery data…";
    else if (lastError) text = `No battery reading yet. The source${source ? ` (${source})` : ""} reports: ${lastError}`;
    else text = `No battery reading yet${source ? ` from the ${source} source` : ""}: it has not answered since the start.`;
    setText("bat-empty", text);
    return;
  }
  const soc = isNum(reading.soc_pct) ? Math.min(100, Math.max(0, reading.soc_pct)) : null;
  setText("bat-soc", soc === null ? "—" : `${Math.round(soc)} %`);
  const bar = $("soc-bar");
  if (soc === null) { bar.removeAttribute("aria-valuenow"); bar.setAttribute("aria-valuetext", "unknown"); }
  else { bar.setAttribute("aria-valuenow", String(Math.round(soc))); bar.setAttribute("aria-valuetext", `${Math.round(soc)} %`); }
  bar.dataset.level = soc === null ? "none" : soc <= 30 ? "low" : soc < 60 ? "mid" : "high";
  bar.firstElementChild.style.width = `${soc ?? 0}%`;
  setText("bat-pv", fmtW(reading.pv_w));
  setText("bat-load", fmtW(reading.load_w));
  setText("bat-flow", flowText(reading.battery_w));
  $("bat-flow").dataset.flow = !isNum(reading.battery_w) || Math.abs(reading.battery_w) < 10 ? "idle"
    : reading.battery_w > 0 ? "discharging" : "charging";
  $("bat-grid-tile").hidden = !isNum(reading.grid_w); // many sources do not meter the grid
  setText("bat-grid", gridText(reading.grid_w));
  const state = $("bat-status");
  const ok = status.connected === true;
  state.dataset.state = ok ? "ok" : "error";
  const name = `${source || reading.source || "source"}${body.simulated ? " (simulated house)" : ""}`;
  state.textContent = ok ? `${name}: ok` : `${name}: error${lastError ? `: ${lastError}` : ""}`;
  tickBattery();
}

function tickBattery() {
  const body = ps.battery;
  if (!body || !body.reading || !isNum(body.age_sec)) { setText("bat-age", ""); return; }
  const age = body.age_sec + (Date.now() - ps.batteryAt) / 1000;
  const limit = isNum(body.status?.max_age_sec) ? body.status.max_age_sec : null;
  const stale = limit !== null && age > limit;
  $("bat-age").dataset.stale = String(stale);
  setText("bat-age", `Measured ${fmtAge(age)} ago${stale ? " (stale)" : ""}`);
}

async function refreshBattery() {
  try {
    const body = await api("GET", "/api/battery");
    ps.battery = body && typeof body === "object" ? body : null;
    ps.batteryAt = Date.now();
    ps.batteryError = "";
    const r = ps.battery?.reading;
    // measured_at + age_sec is the server's "now": the controller's timers count on its clock.
    if (r && isNum(r.measured_at) && isNum(ps.battery.age_sec)) ps.offsetS = r.measured_at + ps.battery.age_sec - Date.now() / 1000;
  } catch (e) {
    if (e.redirected) return;
    if (e.status === 404) ps.battery = null;
    else ps.batteryError = e.message; // keeps the last reading on screen; its age shows it getting old
  }
  renderBattery();
}

// ---------- controller ----------

function timerText(t, left) {
  const pct = isNum(t.target_percent) ? fmtPct(t.target_percent) : "";
  const when = left > 0.5 ? `in ${fmtClock(left)}` : "at the next tick";
  if (t.action in VERB) return `${VERB[t.action]} ${pct} ${when}`;
  if (t.action === "stop") return `stopping ${when}`;
  if (t.action === "failsafe_off") return `fail-safe: off ${when}`;
  return typeof t.text === "string" ? t.text : "";
}

// The server writes each timer's text into the reason too ("...; raising to 70% in 1:20");
// the list below counts it down, so the reason drops it rather than show a frozen time.
function reasonText(reason, timers) {
  let r = typeof reason === "string" ? reason : "";
  for (const t of timers) {
    if (typeof t.text !== "string" || !t.text) continue;
    const hit = ["; ", ", ", " -> ", " "].map((sep) => sep + t.text).find((s) => r.includes(s));
    r = r.replace(hit ?? t.text, "");
  }
  return r.trim().replace(/ -> /g, " → ");
}

function acceptStatus(body, via) {
  if (!body || typeof body !== "object") return;
  const status = { ...body };
  delete status.type; // "autocontrol" on /ws
  const now = Date.now();
  if (via === "ws" && isNum(status.decided_at)) ps.offsetS = status.decided_at - now / 1000; // sent right after the tick
  const timers = Array.isArray(status.timers) ? status.timers.filter((t) => t && typeof t === "object") : [];
  status.timers = timers;
  ps.deadlines = timers.map((t) => {
    if (via === "ws" && isNum(t.at) && isNum(status.decided_at)) return now + (t.at - status.decided_at) * 1000;
    if (ps.offsetS !== null && isNum(t.at)) return (t.at - ps.offsetS) * 1000;
    return isNum(t.remaining_sec) ? now + t.remaining_sec * 1000 : null;
  });
  ps.ac = status;
  ps.acError = "";
  renderAutocontrol();
}

function renderAlerts(ac) {
  const lines = [];
  if (ac.emergency) lines.push("Battery emergency: the miners are off until the battery has recovered.");
  if (ac.failsafe) lines.push(`Fail-safe in force${ac.lowest ? " (miners at their lowest setting)" : ""}: ` +
    `${typeof ac.alert === "string" && ac.alert ? ac.alert : "no recent battery data"}.`);
  else if (typeof ac.alert === "string" && ac.alert) lines.push(ac.alert);
  for (const hot of Array.isArray(ac.overheated) ? ac.overheated : []) {
    if (!hot || typeof hot !== "object") continue;
    const why = typeof hot.reason === "string" && hot.reason ? hot.reason.replace(/ -> /g, " → ") : "over its limit";
    lines.push(`Overheating, ${typeof hot.ip === "string" ? hot.ip : "a miner"} stopped: ${clip(why)}`);
  }
  const text = lines.join("\n");
  if (text === ps.alertText) return; // rewriting an unchanged alert would make screen readers repeat it
  ps.alertText = text;
  const box = $("ac-alert");
  box.hidden = !lines.length;
  box.replaceChildren(...lines.map((line) => el("p", {}, line)));
}

function renderControls() {
  const ac = ps.ac;
  const sw = $("ac-enabled"), policy = $("ac-policy");
  const usable = ps.loggedIn && !ps.busy && !!ac;
  sw.disabled = policy.disabled = !usable;
  $("ac-login").hidden = ps.loggedIn;
  for (const control of [sw, policy]) { // the login hint describes the controls only while it applies
    if (ps.loggedIn) control.removeAttribute("aria-describedby"); else control.setAttribute("aria-describedby", "ac-login");
  }
  if (ac && !ps.busy) {
    sw.checked = !!ac.enabled;
    if (["ratchet", "surplus"].includes(ac.policy)) policy.value = ac.policy;
  }
  setText("ac-state", sw.checked ? "on" : "off");
}

function renderAutocontrol() {
  const ac = ps.ac;
  $("ac-body").hidden = !ac;
  $("ac-none").hidden = !!ac;
  renderControls();
  if (!ac) {
    setText("ac-none", ps.acError ? `Autocontrol status could not load: ${ps.acError}` : "Loading autocontrol status…");
    return;
  }
  renderAlerts(ac);
  $("ac-off-note").hidden = !!ac.enabled;
  const decided = isNum(ac.decided_at);
  const target = isNum(ac.target_percent)
    ? `${fmtPct(ac.target_percent)}${isNum(ac.target_w) ? ` (${fmtW(ac.target_w)})` : ""}` : "—";
  setText("ac-target", target);
  $("ac-cap-row").hidden = !isNum(ac.cap_percent); // only the ratchet policy has a cap
  setText("ac-cap", isNum(ac.cap_percent) ? fmtPct(ac.cap_percent) : "—");
  const decidedBy = SOURCE_TEXT[ac.source] || (typeof ac.source === "string" && ac.source) || "—";
  setText("ac-source", ac.source === "rules" && typeof ac.rule === "string" ? `${decidedBy} "${ac.rule}"` : decidedBy);
  setText("ac-reason", decided ? reasonText(ac.reason, ac.timers) || "—"
    : "No decision yet: waiting for the controller's first tick.");
  $("ac-timers").replaceChildren(...ac.timers.map(() => el("li", { class: "ac-timer" })));
  renderOverride(ac);
  tickAutocontrol();
}

function renderOverride(ac) {
  const ov = ac.override && typeof ac.override === "object" ? ac.override : null;
  const miners = ac.miner_overrides && typeof ac.miner_overrides === "object" ? Object.keys(ac.miner_overrides).length : 0;
  $("ac-override").hidden = !ov && !miners;
  const parts = [];
  if (ov && isNum(ov.percent)) {
    const until = isNum(ov.until) ? new Date(ov.until * 1000).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" }) : null;
    parts.push(`Manual override: ${fmtPct(ov.percent)} ${until ? `until ${until}` : "until cleared"}`);
  }
  if (miners) parts.push(`${miners} miner${miners === 1 ? " has its" : "s have their"} own override`);
  $("ac-override-text").textContent = parts.join(" · ");
}

function tickAutocontrol() {
  const ac = ps.ac;
  if (!ac) return;
  const now = Date.now();
  [...$("ac-timers").children].forEach((li, i) => {
    const t = ac.timers[i], end = ps.deadlines[i];
    // No time to count from: the server's own text, as it was written.
    li.textContent = end === null ? (typeof t.text === "string" ? t.text : "") : timerText(t, (end - now) / 1000);
  });
  const ov = ac.override;
  const left = $("ac-override-left");
  if (ov && isNum(ov.until)) {
    const end = ps.offsetS !== null ? (ov.until - ps.offsetS) * 1000 : ov.until * 1000;
    left.textContent = end > now ? ` (${fmtClock((end - now) / 1000)} left)` : " (expires at the next tick)";
  } else left.textContent = "";
}

async function refreshAutocontrol() {
  const gen = ps.writeGen;
  try {
    const body = await api("GET", "/api/autocontrol");
    if (gen === ps.writeGen && !ps.busy) acceptStatus(body, "get");
  } catch (e) {
    if (e.redirected) return;
    ps.acError = e.status === 404 ? "this controller has no autocontrol" : e.message;
    if (!ps.ac) renderAutocontrol();
  }
}

async function send(body, revert, what) {
  ps.busy = true;
  ps.writeGen++;
  $("ac-error").hidden = true;
  renderControls();
  try {
    const status = await api("POST", "/api/autocontrol", body);
    ps.busy = false;
    acceptStatus(status, "post");
  } catch (e) {
    ps.busy = false;
    revert();
    if (!e.redirected) { // a 401 is on its way to the login page
      setText("ac-error", `${what}: ${e.message}`);
      $("ac-error").hidden = false;
    }
    renderControls();
  }
}

function onSwitch() {
  const want = $("ac-enabled").checked;
  send({ enabled: want }, () => { $("ac-enabled").checked = !want; }, `Could not switch autocontrol ${want ? "on" : "off"}`);
}

function onPolicy() {
  const want = $("ac-policy").value, before = ps.ac?.policy;
  send({ policy: want }, () => { if (before) $("ac-policy").value = before; }, `Could not change the policy to ${want}`);
}

// ---------- wiring (called by dashboard.js) ----------

/** A {"type": "autocontrol", ...} message from /ws: the status after a controller tick. */
export function powerMessage(msg) { acceptStatus(msg, "ws"); }

/** The page's login state: the switch and the policy need a logged-in session. */
export function powerLoggedIn(yes) {
  ps.loggedIn = !!yes;
  renderControls();
}

function refreshAll() {
  refreshBattery();
  refreshAutocontrol();
}

/** Load the panel and the power chart; refresh while the page is visible. */
export function initPower() {
  if (!$("power-panel")) return;
  $("ac-enabled").addEventListener("change", onSwitch);
  $("ac-policy").addEventListener("change", onPolicy);
  renderBattery();
  renderAutocontrol();
  refreshAll();
  setInterval(() => { if (document.visibilityState === "visible") refreshAll(); }, POLL_MS);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") refreshAll(); });
  setInterval(() => { tickBattery(); tickAutocontrol(); }, TICK_MS);
  try { initPowerChart(); } catch (e) { console.error("power chart disabled:", e); } // the panel still works
}
