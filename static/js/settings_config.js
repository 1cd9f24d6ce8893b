// Settings -> Configuration and Security (templates/_settings_config.html): fills each section's form
// from GET /api/settings, saves a section with PATCH /api/settings (only the fields that changed),
// shows the API's one-line error under the field it names, and says whether the save applies now or
// after a restart. Secrets are write-only: their inputs start empty and are sent only when typed.
// Password change, API and EMS token rotation use their own routes; a new token is shown once.
// Every API string reaches the page as text (util.js). The alert channels are settings_channels.js's.

import { initChannels } from "./settings_channels.js";
import { $, api, confirmDialog, el, reportError, setText, toast } from "./util.js";

let state = null; // the last GET /api/settings body
let started = false;

const fields = (root) => [...root.querySelectorAll(".set-field[data-key]")];
const inputOf = (field) => field.querySelector("input, select");

function fieldError(field, message) {
  const box = field.querySelector(".set-error");
  const input = inputOf(field);
  box.textContent = message || "";
  box.hidden = !message;
  if (input) {
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
}

function clearErrors(form) {
  for (const f of fields(form)) fieldError(f, "");
  const box = form.querySelector(".set-form-error");
  box.hidden = true;
  box.textContent = "";
}

function formError(form, message) {
  const box = form.querySelector(".set-form-error");
  box.textContent = message;
  box.hidden = false;
}

function saved(form, text, kind = "ok") {
  const out = form.querySelector(".set-saved");
  out.textContent = text;
  out.className = `set-saved small set-saved-${kind}`;
}

// ---------- values in and out ----------

function show(field) {
  const key = field.dataset.key;
  const input = inputOf(field);
  const meta = state.keys[key];
  if (!meta) return; // a field of the security forms
  if (field.hasAttribute("data-secret")) {
    const s = state.secrets[key] || { set: false };
    input.value = "";
    input.placeholder = s.set ? "set (type to replace)" : "not set";
  } else {
    const v = state.values[key];
    if (input.type === "checkbox") input.checked = !!v;
    else input.value = v == null ? "" : String(v);
  }
  const badge = field.querySelector(".set-apply");
  const pending = state.restart_pending.includes(key);
  badge.textContent = pending ? "restart pending" : meta.apply === "live" ? "now" : "restart";
  badge.className = `set-apply set-apply-${pending ? "pending" : meta.apply}`;
  badge.title = meta.apply === "live" ? "applies as soon as it is saved" : "used after the next restart";
  const env = state.environment[key];
  input.disabled = !!env;
  if (env) fieldError(field, `Set by the environment variable ${env}, which wins over config.yaml`);
}

// What the form holds for a key, typed as the config wants it (the server judges the rest).
function read(field) {
  const input = inputOf(field);
  const meta = state.keys[field.dataset.key];
  if (input.type === "checkbox") return input.checked;
  const text = input.value.trim();
  if (meta.type === "number" || meta.type === "integer") {
    if (text === "") return null; // back to the default (an optional key: not set)
    const n = Number(text);
    return Number.isFinite(n) ? n : text; // not a number: the server names the key and the problem
  }
  if (meta.optional && text === "") return null; // an optional text (alerts.quiet_hours): not set
  return input.value;
}

function changes(form) {
  const out = {};
  for (const field of fields(form)) {
    const key = field.dataset.key;
    if (!state.keys[key] || inputOf(field).disabled) continue;
    if (field.hasAttribute("data-secret")) {
      const value = inputOf(field).value;
      if (value !== "") out[key] = value;
      continue;
    }
    const value = read(field);
    if (value !== state.values[key]) out[key] = value;
  }
  return out;
}

function showSource() {
  const source = $("f-battery-source").value;
  for (const set of document.querySelectorAll(".set-source")) set.hidden = set.dataset.source !== source;
}

function fill() {
  setText("set-path", state.path);
  const problem = $("set-problem");
  problem.textContent = state.problem ? `config.yaml has a problem (start-up would refuse it): ${state.problem}` : "";
  problem.hidden = !state.problem;
  for (const field of fields($("set-forms"))) show(field);
  showSource();
  const secret = (key) => state.secrets[key] || { set: false, from: null };
  const from = { environment: "the environment", "config.yaml": "config.yaml", data_dir: "the data folder" };
  const pw = secret("security.admin_password");
  setText("sec-password-from", pw.from === "environment"
    ? "Set by the environment variable ADMIN_PASSWORD: change it there." : "");
  $("sec-password").querySelector("button[type=submit]").disabled = pw.from === "environment";
  const tok = secret("security.api_token");
  setText("sec-token-state", tok.set ? `(set, in ${from[tok.from] || "memory"})` : "(not set)");
  $("sec-token-new").disabled = tok.from === "environment";
  const ems = secret("ems.token");
  setText("sec-ems-state", ems.set ? `(set, in ${from[ems.from] || "memory"})` : "(not set: EMS routes answer 503)");
  $("sec-ems-new").disabled = $("sec-ems-clear").disabled = ems.from === "environment";
  $("sec-ems-clear").hidden = !ems.set;
}

async function load() {
  state = await api("GET", "/api/settings");
  fill();
  loadBackups();
}

async function loadBackups() {
  try {
    const body = await api("GET", "/api/settings/backups");
    setText("bak-kept", String(body.kept));
    const list = $("bak-list");
    list.replaceChildren(...(body.backups.length ? body.backups.map((b) => el("li", {},
      el("code", {}, b.name), " ", el("span", { class: "muted small" },
        `${new Date(b.created).toLocaleString()} · ${b.size} bytes`)))
      : [el("li", { class: "muted" }, "None yet: the first save makes one.")]));
  } catch (e) { reportError("Backups not loaded", e); }
}

// ---------- saving a section ----------

async function save(form) {
  clearErrors(form);
  saved(form, "");
  const body = changes(form);
  if (!Object.keys(body).length) {
    saved(form, "Nothing changed", "muted");
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const reply = await api("PATCH", "/api/settings", body);
    state = await api("GET", "/api/settings");
    fill();
    loadBackups();
    if (reply.restart_required.length) saved(form, `Saved — restart needed for ${reply.restart_required.join(", ")}`, "restart");
    else saved(form, "Saved — applies now", "ok");
  } catch (e) {
    if (e.redirected) return;
    const key = e.data && e.data.key;
    const field = key && form.querySelector(`.set-field[data-key="${CSS.escape(key)}"]`);
    if (field) {
      fieldError(field, e.message);
      inputOf(field).focus();
    } else formError(form, e.message);
    saved(form, "Not saved", "error");
  } finally {
    button.disabled = false;
  }
}

// ---------- secrets ----------

function showOnce(what, value) {
  setText("sec-shown-what", what);
  $("sec-shown-value").value = value;
  $("sec-shown").hidden = false;
  $("sec-shown-value").select();
}

async function changePassword(form) {
  clearErrors(form);
  saved(form, "");
  const [current, next, repeat] = ["sec-current", "sec-new", "sec-repeat"].map((id) => $(id).value);
  const at = (key) => form.querySelector(`.set-field[data-key="${key}"]`);
  if (next !== repeat) {
    fieldError(at("repeat"), "The two new passwords differ");
    return;
  }
  try {
    await api("POST", "/api/settings/password", { current, new: next });
    form.reset();
    saved(form, "Password changed — other browsers are logged out", "ok");
    load();
  } catch (e) {
    if (e.redirected) return;
    const field = e.data && e.data.key && at(e.data.key);
    if (field) fieldError(field, e.message);
    else formError(form, e.message);
  }
}

async function rotate(url, what, body, question) {
  if (!(await confirmDialog(question[0], question[1], question[2]))) return;
  try {
    const reply = await api("POST", url, body);
    const value = reply.api_token || reply.ems_token;
    if (value) showOnce(what, value);
    else toast(`${what}: off`);
    load();
  } catch (e) { reportError(`${what} not changed`, e); }
}

function wire() {
  for (const form of document.querySelectorAll("#set-forms .set-form")) {
    form.addEventListener("submit", (ev) => { ev.preventDefault(); save(form); });
  }
  $("f-battery-source").addEventListener("change", showSource);
  $("sec-password").addEventListener("submit", (ev) => { ev.preventDefault(); changePassword(ev.target); });
  $("sec-token-new").addEventListener("click", () => rotate("/api/settings/api-token", "New API token", undefined,
    ["Regenerate the API token?", "Scripts using the current token are refused from now on.", "Regenerate"]));
  $("sec-ems-new").addEventListener("click", () => rotate("/api/settings/ems-token", "New EMS token", {},
    ["Rotate the EMS token?", "The EMS is refused until it is given the new token.", "Rotate"]));
  $("sec-ems-clear").addEventListener("click", () => rotate("/api/settings/ems-token", "EMS access", { clear: true },
    ["Turn EMS access off?", "The EMS routes answer 503 until a new token is made.", "Turn off"]));
  $("sec-shown-copy").addEventListener("click", async () => {
    const input = $("sec-shown-value");
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      toast("Copied");
    } catch { toast("Selected: press Ctrl+C (the browser allows the clipboard only over HTTPS)", "ok"); }
  });
  $("sec-shown-done").addEventListener("click", () => {
    $("sec-shown-value").value = "";
    $("sec-shown").hidden = true;
  });
}

/** Show the configuration sections when logged in (GET /api/settings needs it), a login hint otherwise. */
export async function initConfig(loggedIn) {
  $("set-login").hidden = loggedIn;
  for (const id of ["set-forms", "set-legend", "set-security", "set-backups-panel"]) $(id).hidden = !loggedIn;
  if (!loggedIn) return;
  if (!started) {
    started = true;
    wire();
  }
  try { await load(); } catch (e) { reportError("Settings not loaded", e); }
  await initChannels(); // the alert channels: their own routes (settings_channels.js)
}
