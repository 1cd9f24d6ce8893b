// Settings -> Backup & restore -> Scheduled backups to a folder (templates/_backup.html, docs/backup.md).
// Status from GET /api/backup/schedule (it needs a login, as the download does: asked only when logged in),
// "Back up now" = POST /api/backup/schedule/run (202, the run goes on in the background: the status is
// polled every 2 s until it ends), the schedule's keys saved with PATCH /api/settings (they apply at once;
// a refused value shows start-up's own line under its field). Every string from the server is set as text.

import { $, api, el, fmtAgo, isNum, setText, toast } from "./util.js";

const FIELDS = {
  "backup.dir": "bks-f-dir",
  "backup.every_hours": "bks-f-every",
  "backup.keep": "bks-f-keep",
  "backup.include_secrets": "bks-f-secrets",
  "backup.allow_same_disk": "bks-f-same-disk",
};
const POLL_RUNNING_MS = 2000;
const POLL_IDLE_MS = 30000;

let loggedIn = false;
let status = null; // the last GET /api/backup/schedule body
let formDirty = false; // the owner is typing: a status refresh does not overwrite the form
let timer = null;
let watchingRun = false; // a run this page started: say how it ended

function fmtWhen(ts) {
  if (!isNum(ts)) return "—";
  const when = new Date(ts * 1000).toLocaleString();
  const left = ts - Date.now() / 1000;
  if (left > 0) {
    const minutes = Math.max(1, Math.round(left / 60)), h = Math.floor(minutes / 60), m = minutes % 60;
    return `${when} (in ${h ? `${h} h` : ""}${h && m ? " " : ""}${m || !h ? `${m} min` : ""})`;
  }
  return `${when} (${fmtAgo(ts)})`;
}

function fmtSize(bytes) {
  if (!isNum(bytes)) return "";
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

function schedule(ms) {
  clearTimeout(timer);
  timer = setTimeout(refresh, ms);
}

async function fetchStatus() {
  // Not util.api: a 401 here means "logged out meanwhile", not "go to the login page".
  const res = await fetch("/api/backup/schedule", { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (res.status === 401) return null;
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.json();
}

function renderArchives(s) {
  const list = $("bks-archives");
  list.replaceChildren(...s.archives.map((a) => el("li", {},
    el("span", { class: "bks-name" }, a.name),
    el("span", { class: "small muted" }, `${fmtSize(a.size)} · ${fmtWhen(a.mtime)}`))));
  setText("bks-count", s.archives.length ? `(${s.archives.length} of at most ${s.keep})` : "");
  const note = $("bks-archives-note");
  note.hidden = s.archives.length > 0;
  note.textContent = !s.enabled ? "Scheduled backups are off." : s.archives_error
    ? `The folder cannot be read: ${s.archives_error}` : "None yet.";
}

function render(s) {
  status = s;
  $("bks-body").hidden = false;
  setText("bks-state", s.enabled
    ? `On: every ${s.every_hours} h into ${s.dir}, the newest ${s.keep} kept${s.include_secrets ? ", WITH secrets" : ""}.`
    : "Off: set a folder below to back up on a schedule.");
  setText("bks-enabled", s.enabled ? `on, every ${s.every_hours} h` : "off");
  setText("bks-dir", s.dir || "—");
  setText("bks-last-ok", isNum(s.last_ok_ts)
    ? `${fmtWhen(s.last_ok_ts)}: ${s.last_file}${s.last_size ? ` (${fmtSize(s.last_size)})` : ""}` : "never");
  const failed = $("bks-last-error");
  failed.textContent = s.last_error ? `${fmtWhen(s.last_error_ts)}: ${s.last_error}` : "none";
  failed.classList.toggle("bks-failed", !!s.last_error && (s.failures || 0) > 0);
  setText("bks-next", s.running ? "running now" : s.enabled ? fmtWhen(s.next_run_ts) : "—");
  setText("bks-running", s.running ? "A backup is being written…" : "");
  $("bks-run").disabled = !loggedIn || !s.enabled || s.running;
  $("bks-run").title = s.enabled ? "" : "Set a folder first";
  renderArchives(s);
  if (!formDirty) fillForm(s);
}

function fillForm(s) {
  $("bks-f-dir").value = s.dir;
  $("bks-f-every").value = String(s.every_hours);
  $("bks-f-keep").value = String(s.keep);
  $("bks-f-secrets").checked = !!s.include_secrets;
  $("bks-f-same-disk").checked = !!s.allow_same_disk;
  $("bks-secrets-warning").hidden = !s.include_secrets;
}

async function refresh() {
  if (!loggedIn) return;
  let s;
  try {
    s = await fetchStatus();
  } catch (e) {
    setText("bks-state", `Status not loaded: ${e.message}`);
    schedule(POLL_IDLE_MS);
    return;
  }
  if (s === null) { // logged out meanwhile
    loggedIn = false;
    $("bks-body").hidden = true;
    setText("bks-state", "Log in to see the schedule.");
    return;
  }
  render(s);
  announce(s);
  schedule(s.running ? POLL_RUNNING_MS : POLL_IDLE_MS);
}

// How a run this page started ended (the running flag is cleared only when the run is over).
function announce(s) {
  if (!watchingRun || s.running) return;
  watchingRun = false;
  if (s.failures > 0) toast(`Backup failed: ${s.last_error}`, "error");
  else toast(`Backup saved: ${s.last_file}`);
}

// ---------- the form ----------

function fieldOf(key) { return document.querySelector(`.bks-field[data-key="${key}"]`); }

function clearErrors() {
  for (const box of document.querySelectorAll("#bks-form .bks-error")) { box.hidden = true; box.textContent = ""; }
  for (const id of Object.values(FIELDS)) $(id).removeAttribute("aria-invalid");
}

function showError(key, message) {
  const field = key && FIELDS[key] ? fieldOf(key) : null;
  const box = field ? field.querySelector(".bks-error") : $("bks-form-error");
  box.textContent = message;
  box.hidden = false;
  if (field) $(FIELDS[key]).setAttribute("aria-invalid", "true");
}

function read(key) {
  const input = $(FIELDS[key]);
  if (input.type === "checkbox") return input.checked;
  const text = input.value.trim();
  if (input.type === "number") {
    const n = Number(text);
    return text !== "" && Number.isFinite(n) ? n : text; // not a number: the server names the key
  }
  return text;
}

function changes() {
  const out = {};
  for (const key of Object.keys(FIELDS)) {
    const value = read(key);
    if (value !== status[key.slice("backup.".length)]) out[key] = value;
  }
  return out;
}

$("bks-form").addEventListener("input", () => { formDirty = true; setText("bks-saved", ""); });
$("bks-f-secrets").addEventListener("change", () => {
  $("bks-secrets-warning").hidden = !$("bks-f-secrets").checked;
});

$("bks-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!status) return;
  clearErrors();
  const body = changes();
  if (!Object.keys(body).length) {
    setText("bks-saved", "Nothing changed");
    formDirty = false;
    return;
  }
  $("bks-save").disabled = true;
  try {
    await api("PATCH", "/api/settings", body);
    formDirty = false;
    setText("bks-saved", "Saved — applies now");
    toast("Backup schedule saved");
  } catch (e) {
    if (e.redirected) return;
    setText("bks-saved", "Not saved");
    showError(e.data && e.data.key, e.message);
  } finally {
    $("bks-save").disabled = false;
  }
  refresh();
});

$("bks-run").addEventListener("click", async () => {
  $("bks-run").disabled = true;
  try {
    const s = await api("POST", "/api/backup/schedule/run");
    watchingRun = true;
    render(s);
    if (s.running) toast("Backup started: it is written to the folder in the background");
    announce(s);
    schedule(s.running ? POLL_RUNNING_MS : POLL_IDLE_MS);
  } catch (e) {
    if (!e.redirected) toast(`Back up now: ${e.message}`, "error");
    refresh();
  }
});

async function init() {
  try {
    const res = await fetch("/api/session", { credentials: "same-origin", headers: { Accept: "application/json" } });
    loggedIn = res.ok && !!(await res.json()).logged_in;
  } catch { loggedIn = false; }
  if (!loggedIn) {
    $("bks-body").hidden = true;
    setText("bks-state", "Log in to see the schedule.");
    clearTimeout(timer);
    return;
  }
  formDirty = false;
  refresh();
}

// The top bar's "Log out" ends the session (settings.js owns the button): follow it, as backup.js does.
$("logout-btn").addEventListener("click", () => { setTimeout(init, 500); });
init();
