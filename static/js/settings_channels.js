// Settings -> Alerts -> Alert channels (templates/_settings_config.html #set-channels): the list from
// GET /api/settings/alert-channels (id, scheme, label, from_env: never a URL), Add (POST, the URL typed
// into a password field and cleared once sent), Remove after a confirmation (DELETE /<id>) and a Test per
// channel (POST /<id>/test: ok, or the scrubbed error). While ALERT_URLS sets the channels the page can
// only test them. Every API string reaches the page as text (util.js el / textContent).

import { $, api, confirmDialog, el, reportError } from "./util.js";

const API = "/api/settings/alert-channels";
let wired = false;

function showError(message) {
  const box = $("ch-error");
  box.textContent = message || "";
  box.hidden = !message;
  const input = $("ch-url");
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

function said(text, kind = "ok") {
  const out = $("ch-saved");
  out.textContent = text;
  out.className = `set-saved small set-saved-${kind}`;
}

async function test(channel, button, result) {
  button.disabled = true;
  result.className = "ch-result small muted";
  result.textContent = "Sending…";
  try {
    const reply = await api("POST", `${API}/${encodeURIComponent(channel.id)}/test`);
    result.className = `ch-result small ${reply.ok ? "set-saved-ok" : "set-saved-error"}`;
    result.textContent = reply.ok ? "Sent: check that it arrived" : `Failed: ${reply.error || "no reason given"}`;
  } catch (e) {
    if (e.redirected) return;
    result.className = "ch-result small set-saved-error";
    result.textContent = `Not sent: ${e.message}`;
  } finally {
    button.disabled = false;
  }
}

async function remove(channel) {
  const ok = await confirmDialog("Remove this alert channel?",
    `${channel.label}: alerts stop going there at once. To add it back you need its URL again.`, "Remove");
  if (!ok) return;
  try {
    const reply = await api("DELETE", `${API}/${encodeURIComponent(channel.id)}`);
    show(reply.channels);
    said(reply.applied === "live" ? `Removed ${channel.label}` : `Removed ${channel.label}: used until a restart`,
      reply.applied === "live" ? "ok" : "restart");
  } catch (e) {
    if (e.redirected) return;
    reportError("Channel not removed", e);
    load();
  }
}

function row(channel, index) {
  const result = el("span", { class: "ch-result small", role: "status" });
  const testButton = el("button", { type: "button", class: "btn btn-small", "aria-label": `Test ${channel.label}` },
    "Test");
  testButton.addEventListener("click", () => test(channel, testButton, result));
  const removeButton = el("button", { type: "button", class: "btn btn-small btn-danger-outline",
    "aria-label": `Remove ${channel.label}`, disabled: channel.from_env }, "Remove");
  removeButton.addEventListener("click", () => remove(channel));
  return el("li", { class: "ch-item", "data-id": channel.id },
    el("span", { class: "ch-name" }, el("span", { class: "muted small" }, `${index + 1}. `), channel.label,
      channel.from_env ? el("span", { class: "badge badge-muted ch-env" }, "ALERT_URLS") : null),
    el("span", { class: "ch-buttons" }, testButton, removeButton), result);
}

function show(channels) {
  const list = $("ch-list");
  list.replaceChildren(...(channels.length ? channels.map(row)
    : [el("li", { class: "muted ch-none" }, "No channel: alerts show on the dashboard and as events only.")]));
  const fromEnv = channels.some((c) => c.from_env);
  const env = $("ch-env");
  env.textContent = fromEnv ? "These channels come from the environment variable ALERT_URLS, which wins over "
    + "config.yaml: change them there (you can still test them here)." : "";
  env.hidden = !fromEnv;
  $("ch-url").disabled = $("ch-add-btn").disabled = fromEnv;
}

/** Fill the channel list (GET needs a login, like the rest of the configuration). */
export async function load() {
  try {
    show(await api("GET", API));
  } catch (e) { reportError("Alert channels not loaded", e); }
}

async function add(ev) {
  ev.preventDefault();
  showError("");
  said("");
  const input = $("ch-url");
  const url = input.value.trim();
  if (!url) {
    showError("Type the channel's Apprise URL, like ntfy://ntfy.sh/my-topic");
    input.focus();
    return;
  }
  const button = $("ch-add-btn");
  button.disabled = true;
  try {
    const reply = await api("POST", API, { url });
    input.value = ""; // sent once; never kept or shown
    show(reply.channels);
    said(reply.applied === "live" ? `Added ${reply.channel.label}: in use now` :
      `Added ${reply.channel.label}: used after a restart`, reply.applied === "live" ? "ok" : "restart");
  } catch (e) {
    if (e.redirected) return;
    showError(e.message);
    said("Not added", "error");
    input.focus();
  } finally {
    button.disabled = input.disabled;
  }
}

/** Wire the Add form once and load the list. */
export function initChannels() {
  if (!wired) {
    wired = true;
    $("ch-add").addEventListener("submit", add);
  }
  return load();
}
