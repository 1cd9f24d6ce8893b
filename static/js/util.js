// Helpers shared by the dashboard modules: DOM building, the API client,
// toasts, the confirmation dialog, number formatting and chart time ticks.
// Every string from the API is untrusted (miners report their own model,
// hostname, pool URLs and errors), so data reaches the DOM only through
// textContent / Text nodes created here, never through innerHTML.

export const $ = (id) => document.getElementById(id);
export const isNum = (v) => typeof v === "number" && Number.isFinite(v);
export const ALGO_LABEL = { sha256d: "SHA-256", scrypt: "Scrypt" };

// The dashboard's connection state, which decides whether a failed request is worth a toast.
export const conn = { live: false, started: false };

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  node.append(...children.filter((c) => c != null && c !== false)); // strings become Text nodes
  return node;
}

export function setText(id, text) { $(id).textContent = text; }

const apiError = (status, message, data = null, redirected = false) =>
  Object.assign(new Error(message), { status, data, redirected });

// All requests go through here: same-origin cookies, JSON bodies on writes
// (a JSON content type also keeps cross-site forms from posting to us).
export async function api(method, url, body) {
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
    throw apiError(401, "login required", data, true);
  }
  if (!res.ok) throw apiError(res.status, (data && typeof data.error === "string" && data.error) || `HTTP ${res.status}`, data);
  return data;
}

// While the socket is down the indicator already says so; no toast every 10 s.
export function reportError(prefix, e) {
  if (e.redirected || (e.status === 0 && !conn.live && conn.started)) return;
  toast(`${prefix}: ${e.message}`, "error");
}

// A modal <dialog> sits in the top layer, above anything fixed on the page, so
// the toasts move into the topmost open dialog while one is open.
export function rehomeToasts() {
  const box = $("toasts");
  const open = [...document.querySelectorAll("dialog[open]")];
  const host = open.length ? open[open.length - 1] : document.body;
  if (box.parentElement !== host) host.append(box);
}

export function toast(message, kind = "ok") {
  rehomeToasts();
  // No role here: #toasts is the polite live region that announces the text.
  const node = el("div", { class: `toast toast-${kind}` },
    kind === "error" ? el("strong", {}, "Error: ") : null, message);
  node.addEventListener("click", () => node.remove());
  $("toasts").append(node);
  setTimeout(() => node.remove(), kind === "error" ? 9000 : 5000);
}

export function confirmDialog(title, text, okLabel) {
  const dlg = $("confirm");
  if (typeof dlg.showModal !== "function") return Promise.resolve(window.confirm(`${title}\n\n${text}`));
  setText("confirm-title", title);
  setText("confirm-text", text);
  setText("confirm-ok", okLabel);
  dlg.returnValue = "";
  dlg.showModal();
  rehomeToasts();
  return new Promise((resolve) => dlg.addEventListener("close", () => {
    rehomeToasts();
    resolve(dlg.returnValue === "ok");
  }, { once: true }));
}

// ---------- formatting ----------

const SI = ["", "k", "M", "G", "T", "P", "E"];
export function fmtSI(v, unit, short = false) {
  if (!isNum(v)) return "—";
  if (v === 0) return `0 ${unit}`;
  let x = Math.abs(v), i = 0;
  while (x >= 1000 && i < SI.length - 1) { x /= 1000; i++; }
  const digits = x < 10 ? 2 : x < 100 ? 1 : 0;
  const text = short ? String(Number(x.toFixed(digits))) : x.toFixed(digits); // short: axis labels
  return `${v < 0 ? "-" : ""}${text} ${SI[i]}${unit}`;
}
export const fmtHash = (v) => fmtSI(v, "H/s");
export const fmtPower = (v) => fmtSI(v, "W");
export const fmtTemp = (v) => (isNum(v) ? `${v.toFixed(1)} °C` : "—");
export const fmtEff = (v) => (isNum(v) ? `${v.toFixed(1)} J/TH` : "—");
export const fmtNum = (v, unit, digits = 0) => (isNum(v) ? `${Number(v.toFixed(digits))} ${unit}` : "—");

// RPM when the firmware reports it (one per fan), else the duty cycle.
export function fmtFan(m) {
  const rpm = Array.isArray(m.fan_rpm) ? m.fan_rpm.filter(isNum) : [];
  if (rpm.length) return `${rpm.map((r) => Math.round(r)).join(" / ")} rpm`;
  return isNum(m.fan_percent) ? `${Math.round(m.fan_percent)} %` : "—";
}

export function fmtDuration(s) {
  if (!isNum(s)) return "—";
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : m ? `${m} min` : `${Math.floor(s)} s`;
}

// A Pi without internet often has no NTP, so its clock can be far off the
// browser's. A snapshot's updated_ts is "now" on the server only roughly, so
// small differences are ignored and large ones corrected.
let skewS = 0;
export const nowS = () => Date.now() / 1000 + skewS;
export function noteServerTime(ts) {
  if (!isNum(ts)) return;
  const skew = ts - Date.now() / 1000;
  skewS = Math.abs(skew) > 120 ? skew : 0;
}

export function fmtAgo(ts) {
  if (!isNum(ts)) return "never";
  const s = Math.max(0, Math.round(nowS() - ts));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// Firmware errors arrive like "MinerUnreachable: timed out"; users need the words only.
export function readableError(m) {
  let msg = typeof m.last_error === "string" ? m.last_error.trim() : "";
  msg = msg.replace(/^[\w.]*(Error|Exception|Unreachable)\s*:\s*/, "");
  if (!msg && m.status !== "unauthorized") return "";
  if (!msg) msg = "check the miner's username and password";
  if (msg.length > 200) msg = `${msg.slice(0, 199)}…`;
  const prefix = { offline: "Not reachable", unauthorized: "Access refused" }[m.status] || "Last error";
  return `${prefix}: ${msg}`;
}

// Fixed colour slots (css .fam-N) so a family keeps its colour across reloads;
// families not listed get a slot from a hash of the name.
const FAMILY_SLOT = { bitaxe: 0, antminer: 1, cgminer: 2, whatsminer: 3, avalon: 4, braiins: 5,
  bosminer: 5, luxos: 6, vnish: 7, goldshell: 8, iceriver: 9, nerdaxe: 10, canaan: 4 };
export function familySlot(family) {
  if (family in FAMILY_SLOT) return FAMILY_SLOT[family];
  let h = 0;
  for (const ch of String(family)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h % 12;
}

// Only a plain address becomes a link to the miner's own web UI.
export function minerHref(ip) {
  const text = String(ip);
  if (!/^[0-9A-Za-z.:-]+$/.test(text)) return null;
  return `http://${text.includes(":") ? `[${text}]` : text}/`;
}

// "Sleeping", "paused" and "idle" miners are not hashing on purpose: they offer Wake.
export const ASLEEP_STATES = ["sleeping", "paused", "idle"];
export const caps = (m) => (m && Array.isArray(m.capabilities) ? m.capabilities : []);

// ---------- chart time axis (shared by the fleet and the per-miner chart) ----------

export const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

function pickStep(span, maxTicks) {
  const steps = [300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400, 30 * 86400];
  return steps.find((s) => span / s <= maxTicks) || 90 * 86400;
}

// Chart.js would start linear ticks at the window's first second (12:06, 15:06...);
// put them on round local times instead (whole hours, local midnight).
export function timeTicks(scale) {
  const step = pickStep(scale.max - scale.min, Math.max(2, Math.min(7, Math.floor(scale.width / 55))));
  const offset = new Date(scale.min * 1000).getTimezoneOffset() * 60; // UTC minus local, s
  const ticks = [];
  for (let t = Math.ceil((scale.min - offset) / step) * step + offset; t <= scale.max; t += step) ticks.push({ value: t });
  scale.ticks = ticks;
}

export function fmtTick(v, span) {
  const d = new Date(v * 1000);
  if (span <= 86400 * 1.01) return d.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  if (span <= 8 * 86400) return d.toLocaleString([], { weekday: "short", hour: "numeric" });
  return d.toLocaleDateString([], { month: "short", day: "numeric" });
}
