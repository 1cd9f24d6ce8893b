// Miner control actions: one sender for every POST /api/miners/<ip>/<action>
// (confirmation where mining is interrupted, the server's words in a toast),
// and the control forms of the detail dialog, shown per the miner's
// `capabilities` and `modes`. Pool passwords and miner logins go out to the
// server only; no GET ever returns them and nothing here shows one.

import { api, caps, confirmDialog, el, fmtPower, isNum, toast } from "./util.js";

const enc = encodeURIComponent;

// Actions that stop hashing ask first.
const CONFIRM = {
  sleep: (ip) => [`Put ${ip} to sleep?`, "It stops hashing until you wake it.", "Sleep"],
  restart: (ip) => [`Restart ${ip}?`, "Mining stops for a minute or two while it restarts.", "Restart"],
  reboot: (ip) => [`Reboot ${ip}?`, "The whole device reboots: no hashing and no answers for a few minutes.", "Reboot"],
};

// The server answers "<action(values)> sent to <ip>[: <driver note>]"; the toast
// names the action in words and keeps the driver's note (e.g. the preset a
// watt target picked). Any other wording is shown as the server sent it.
function successText(ip, what, res) {
  const said = res && typeof res.message === "string" ? res.message.trim() : "";
  if (!said) return `${what} sent to ${ip}`;
  const marker = ` sent to ${ip}`, at = said.indexOf(marker);
  if (at >= 0) {
    const rest = said.slice(at + marker.length);
    return `${what} sent to ${ip}${rest.startsWith(": ") && rest.length > 2 ? rest : ""}`;
  }
  return said.includes(ip) ? said[0].toUpperCase() + said.slice(1) : `${ip}: ${said}`;
}

function failureText(ip, what, e) {
  const verb = e.status === 409 ? "is not possible" : e.status === 400 ? "was refused" : "failed";
  let text = `${what} on ${ip} ${verb}: ${e.message}`;
  if (e.data && e.data.miner_error === "auth") text += " (set the miner's login under Miner login in its details)";
  return text;
}

// POST one action; resolves to the server's reply, or null when cancelled or failed.
export async function sendCommand(ip, action, body, { what, confirm } = {}) {
  const name = what || action[0].toUpperCase() + action.slice(1);
  const ask = confirm || CONFIRM[action]?.(ip);
  if (ask && !await confirmDialog(...ask)) return null;
  try {
    const res = await api("POST", `/api/miners/${enc(ip)}/${action}`, body);
    toast(successText(ip, name, res));
    document.dispatchEvent(new CustomEvent("miner-command", { detail: { ip, action } }));
    return res || {};
  } catch (e) {
    if (!e.redirected) toast(failureText(ip, name, e), "error");
    return null;
  }
}

// ---------- small form helpers ----------

let uid = 0;
const nextId = (base) => `${base}-${++uid}`;

function field(label, input, hint, { hideLabel = false } = {}) {
  input.id ||= nextId("ctl");
  const hintNode = hint ? el("span", { class: "muted small", id: `${input.id}-hint` }, hint) : null;
  if (hintNode) input.setAttribute("aria-describedby", hintNode.id);
  return el("div", { class: "field" },
    el("label", { for: input.id, class: hideLabel ? "visually-hidden" : null }, label), input, hintNode);
}

function numberInput(name, min, max, extra = {}) {
  return el("input", { type: "number", name, min, max, step: 1, inputmode: "numeric", autocomplete: "off", ...extra });
}

// A user's half-typed value survives the live refreshes of the dialog.
function markDirty(input) { input.addEventListener("input", () => { input.dataset.dirty = "1"; }); return input; }
function prefill(input, value) {
  if (!input || input.dataset.dirty || input === document.activeElement) return;
  input.value = value;
  input.dispatchEvent(new Event("sync"));
}

// A form that posts one action; its buttons stay disabled while the miner answers.
function actionForm(ip, action, { what, body, confirm, after }, ...children) {
  const form = el("form", { class: "ctl-form" }, ...children);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!form.reportValidity()) return;
    const buttons = [...form.querySelectorAll("button")];
    buttons.forEach((b) => { b.disabled = true; });
    form.setAttribute("aria-busy", "true");
    try {
      const sent = await sendCommand(ip, action, body(), { what: what(), confirm: confirm?.() });
      if (sent) {
        for (const input of form.querySelectorAll("input, select")) delete input.dataset.dirty;
        after?.();
      }
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
      form.removeAttribute("aria-busy");
    }
  });
  return form;
}

const submit = (label) => el("button", { type: "submit", class: "btn btn-small btn-primary" }, label);
const group = (title, ...children) => el("section", { class: "ctl" }, el("h4", {}, title), ...children);

function slider(name, value, unit) {
  const input = markDirty(el("input", { type: "range", name, min: 0, max: 100, step: 1, value }));
  const out = el("output", { class: "range-value" }, `${value} ${unit}`);
  const sync = () => { out.textContent = `${input.value} ${unit}`; };
  input.addEventListener("input", sync);
  input.addEventListener("sync", sync);
  return { input, out };
}

// ---------- the controls panel ----------

// Rebuilt only when the miner's capabilities or modes change; otherwise only
// the shown values follow the live data.
export function renderControls(box, m) {
  const c = caps(m), ip = m.ip;
  const modes = Array.isArray(m.modes) ? m.modes.filter((x) => typeof x === "string" && x) : [];
  const sig = JSON.stringify([ip, c, modes]);
  if (box.dataset.sig !== sig) {
    box.dataset.sig = sig;
    box.replaceChildren(...buildControls(ip, c, modes));
  }
  const q = (name) => box.querySelector(`[name="${name}"]`);
  if (isNum(m.frequency_mhz)) prefill(q("mhz"), Math.round(m.frequency_mhz));
  if (isNum(m.voltage_mv)) prefill(q("voltage_mv"), Math.round(m.voltage_mv));
  if (isNum(m.fan_percent)) prefill(q("fan_percent"), Math.round(m.fan_percent));
  const now = box.querySelector(".power-now");
  if (now) now.textContent = isNum(m.power_w) ? `Drawing ${fmtPower(m.power_w)} now.` : "";
}

function buildControls(ip, c, modes) {
  const out = [];
  const acts = [["wake", "Wake"], ["sleep", "Sleep"], ["restart", "Restart"], ["reboot", "Reboot"]]
    .filter(([a]) => c.includes(a));
  if (acts.length) {
    out.push(group("Actions", el("div", { class: "row ctl-actions" }, ...acts.map(([action, label]) => {
      const b = el("button", { type: "button", class: `btn btn-small${action === "reboot" ? " btn-danger-outline" : ""}`,
        "data-action": action }, label);
      b.addEventListener("click", async () => {
        b.disabled = true;
        try { await sendCommand(ip, action, undefined, { what: label }); } finally { b.disabled = false; }
      });
      return b;
    }))));
  }
  if (c.includes("mode")) out.push(modeControl(ip, modes));
  if (c.includes("power_watts") || c.includes("power_percent")) out.push(powerControl(ip, c));
  if (c.includes("frequency")) out.push(frequencyControl(ip));
  if (c.includes("fan")) out.push(fanControl(ip));
  if (c.includes("autodownscale")) out.push(downscaleControl(ip));
  if (!out.length) {
    out.push(el("p", { class: "muted small" }, "This miner's firmware offers no remote control here; it is monitored only."));
  }
  return out;
}

function modeControl(ip, modes) {
  // An empty list means the firmware has not told its presets yet (Vnish 1.x
  // before a login): the name is typed and the driver checks it.
  const input = modes.length
    ? el("select", { name: "mode", required: true },
      el("option", { value: "" }, "Choose a mode…"), ...modes.map((x) => el("option", { value: x }, x)))
    : el("input", { type: "text", name: "mode", required: true, autocomplete: "off", spellcheck: "false" });
  return group("Mode", actionForm(ip, "mode", {
    what: () => `Mode ${input.value}`, body: () => ({ mode: input.value }),
  }, el("div", { class: "ctl-row" }, field("Mode", input, modes.length ? null : "The miner lists its modes after a login.", { hideLabel: true }),
    submit("Apply"))));
}

function powerControl(ip, c) {
  const parts = [el("p", { class: "muted small power-now" })];
  if (c.includes("power_watts")) {
    const watts = markDirty(numberInput("watts", 1, 100000, { required: true, placeholder: "e.g. 3000" }));
    parts.push(actionForm(ip, "power", {
      what: () => `Power target ${watts.value} W`, body: () => ({ watts: Number(watts.value) }),
    }, el("div", { class: "ctl-row" }, field("Power target (W)", watts), submit("Set"))));
  }
  if (c.includes("power_percent")) {
    const { input, out } = slider("percent", 100, "%");
    parts.push(actionForm(ip, "power", {
      what: () => `Power ${input.value} %`, body: () => ({ percent: Number(input.value) }),
    }, el("div", { class: "ctl-row" }, field("Power (% of nominal)", input), out, submit("Set"))));
  }
  return group("Power", ...parts);
}

function frequencyControl(ip) {
  const mhz = markDirty(numberInput("mhz", 1, 5000, { required: true }));
  const mv = markDirty(numberInput("voltage_mv", 1, 30000, { placeholder: "unchanged" }));
  return group("Frequency", actionForm(ip, "frequency", {
    what: () => `Frequency ${mhz.value} MHz${mv.value ? `, ${mv.value} mV` : ""}`,
    body: () => (mv.value ? { mhz: Number(mhz.value), voltage_mv: Number(mv.value) } : { mhz: Number(mhz.value) }),
  }, el("div", { class: "ctl-row" }, field("Frequency (MHz)", mhz), field("Core voltage (mV)", mv), submit("Apply"))));
}

function fanControl(ip) {
  const { input, out } = slider("fan_percent", 60, "%");
  const auto = el("input", { type: "checkbox", name: "fan_auto", id: nextId("ctl") });
  const sync = () => { input.disabled = auto.checked; out.classList.toggle("muted", auto.checked); };
  auto.addEventListener("change", sync);
  return group("Fan", actionForm(ip, "fan", {
    what: () => (auto.checked ? "Fan automatic" : `Fan ${input.value} %`),
    body: () => ({ percent: auto.checked ? null : Number(input.value) }),
  }, el("label", { class: "check", for: auto.id }, auto, "Automatic (the firmware regulates)"),
  el("div", { class: "ctl-row" }, field("Fan speed", input), out, submit("Apply"))));
}

function downscaleControl(ip) {
  const on = el("input", { type: "checkbox", name: "ads_enabled", id: nextId("ctl") });
  const step = markDirty(numberInput("step_mhz", 1, 200, { placeholder: "firmware default" }));
  const min = markDirty(numberInput("min_mhz", 100, 1175, { placeholder: "firmware default" }));
  const body = () => {
    const b = { enabled: on.checked };
    if (step.value) b.step_mhz = Number(step.value);
    if (min.value) b.min_mhz = Number(min.value);
    return b;
  };
  return el("details", { class: "ctl" }, el("summary", {}, "Auto-downscale"),
    actionForm(ip, "autodownscale", { what: () => `Auto-downscale ${on.checked ? "on" : "off"}`, body },
      el("label", { class: "check", for: on.id }, on, "Lower the frequency when the miner runs hot"),
      el("div", { class: "ctl-row" }, field("Step (MHz)", step), field("Lowest (MHz)", min), submit("Apply"))));
}

// ---------- pools editor ----------

const MAX_POOLS = 3;
// The shape only; the server's driver checks the rest and its 400 says why.
const STRATUM = /^stratum\+tcp:\/\/[^\s/:@]+:\d{1,5}$/i;

export function renderPoolsEditor(box, m, onClose) {
  const ip = m.ip;
  const current = Array.isArray(m.pools) ? m.pools.filter((p) => p && typeof p === "object") : [];
  const rows = [];
  for (let i = 0; i < MAX_POOLS; i++) {
    const p = current[i] || {};
    const url = el("input", { type: "text", name: "url", inputmode: "url", autocomplete: "off", spellcheck: "false",
      placeholder: "stratum+tcp://host:port", value: typeof p.url === "string" ? p.url : "" });
    const user = el("input", { type: "text", name: "user", autocomplete: "off", spellcheck: "false",
      placeholder: "wallet.worker", value: typeof p.user === "string" ? p.user : "" });
    // Never pre-filled: no API returns a pool password. Empty sends none, and the server writes "x".
    const pass = el("input", { type: "password", name: "password", autocomplete: "new-password", placeholder: "x" });
    const error = el("p", { class: "field-error small", id: nextId("pool-error"), hidden: true });
    for (const input of [url, user]) input.setAttribute("aria-describedby", error.id);
    const up = el("button", { type: "button", class: "btn btn-small", "aria-label": `Move pool ${i + 1} up`, disabled: i === 0 }, "↑");
    const down = el("button", { type: "button", class: "btn btn-small", "aria-label": `Move pool ${i + 1} down`,
      disabled: i === MAX_POOLS - 1 }, "↓");
    const clear = el("button", { type: "button", class: "btn btn-small" }, "Clear");
    up.addEventListener("click", () => swap(rows, i, i - 1));
    down.addEventListener("click", () => swap(rows, i, i + 1));
    clear.addEventListener("click", () => { for (const x of [url, user, pass]) x.value = ""; error.hidden = true; });
    const fs = el("fieldset", { class: "pool-row" },
      el("legend", {}, `Pool ${i + 1}`, i === 0 ? el("span", { class: "muted" }, " (tried first)") : null),
      field("URL", url), field("Worker / user", user), field("Password", pass),
      el("div", { class: "row pool-move" }, up, down, clear), error);
    rows.push({ url, user, pass, error, fs });
  }
  const cancel = el("button", { type: "button", class: "btn btn-small" }, "Cancel");
  const save = el("button", { type: "submit", class: "btn btn-small btn-primary" }, "Save pools");
  cancel.addEventListener("click", onClose);
  const form = el("form", { class: "pools-form", novalidate: true },
    el("p", { class: "muted small" },
      "Top to bottom = priority; empty rows are left out. An empty password sends the usual x."),
    ...rows.map((r) => r.fs), el("div", { class: "row row-end" }, cancel, save));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const pools = collectPools(rows);
    if (!pools) return;
    const list = pools.map((p, i) => `${i + 1}. ${p.url}`).join("  ");
    save.disabled = true;
    try {
      const sent = await sendCommand(ip, "pools", { pools }, {
        what: "New pool list",
        confirm: [`Change the pools of ${ip}?`,
          `The miner switches to: ${list}. It may restart mining and lose a few minutes of work.`, "Change pools"],
      });
      if (sent) { for (const r of rows) r.pass.value = ""; onClose(); }
    } finally { save.disabled = false; }
  });
  box.replaceChildren(form);
  rows[0].url.focus();
}

function swap(rows, a, b) {
  if (b < 0 || b >= rows.length) return;
  for (const key of ["url", "user", "pass"]) {
    [rows[a][key].value, rows[b][key].value] = [rows[b][key].value, rows[a][key].value];
  }
  rows[b].url.focus();
}

function collectPools(rows) {
  const pools = [];
  let firstBad = null;
  for (const r of rows) {
    const url = r.url.value.trim(), user = r.user.value.trim(), password = r.pass.value;
    let problem = "";
    if (url || user || password) {
      if (!STRATUM.test(url)) problem = "The URL must look like stratum+tcp://host:port.";
      else if (!user) problem = "Enter the worker / user name.";
      else pools.push(password ? { url, user, password } : { url, user });
    }
    const badUrl = !!problem && !STRATUM.test(url);
    r.error.textContent = problem;
    r.error.hidden = !problem;
    r.url.setAttribute("aria-invalid", String(badUrl));
    r.user.setAttribute("aria-invalid", String(!!problem && !badUrl));
    if (problem && !firstBad) firstBad = badUrl ? r.url : r.user;
  }
  if (firstBad) { firstBad.focus(); return null; }
  if (!pools.length) {
    rows[0].error.textContent = "Enter at least one pool.";
    rows[0].error.hidden = false;
    rows[0].url.focus();
    return null;
  }
  return pools;
}

// ---------- miner login ----------

export function renderCredentials(box, m) {
  const ip = m.ip;
  if (box.dataset.ip !== ip) {
    box.dataset.ip = ip;
    const user = el("input", { type: "text", name: "username", autocomplete: "off", spellcheck: "false", placeholder: "root" });
    // new-password: the browser must not offer the dashboard's own saved password here.
    const pass = el("input", { type: "password", name: "password", autocomplete: "new-password", required: true });
    const save = el("button", { type: "submit", class: "btn btn-small btn-primary" }, "Save login");
    const clear = el("button", { type: "button", class: "btn btn-small btn-danger-outline", "data-role": "creds-clear",
      hidden: true }, "Clear login");
    const form = el("form", { class: "ctl-form" },
      el("p", { class: "creds-state small", "data-role": "creds-state" }),
      el("div", { class: "ctl-row" }, field("Username", user), field("Password", pass), save), el("div", { class: "row" }, clear));
    const send = async (method, body, done) => {
      save.disabled = clear.disabled = true;
      try {
        const res = await api(method, `/api/miners/${enc(ip)}/credentials`, body);
        pass.value = "";
        showCredsState(box, !!(res && res.credentials_set));
        toast(done);
        document.dispatchEvent(new CustomEvent("miner-command", { detail: { ip, action: "credentials" } }));
      } catch (e) {
        if (!e.redirected) toast(`The login for ${ip} was not changed: ${e.message}`, "error");
      } finally { save.disabled = clear.disabled = false; }
    };
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (form.reportValidity()) send("PUT", { username: user.value, password: pass.value }, `Login for ${ip} saved`);
    });
    clear.addEventListener("click", async () => {
      if (await confirmDialog(`Forget the login for ${ip}?`,
        "The controller will try the firmware's factory login again.", "Clear login")) {
        send("DELETE", undefined, `Login for ${ip} cleared`);
      }
    });
    box.replaceChildren(form);
  }
  if (typeof m.credentials_set === "boolean") showCredsState(box, m.credentials_set);
}

function showCredsState(box, set) {
  const p = box.querySelector('[data-role="creds-state"]');
  p.textContent = set ? "✓ Credentials set (never shown)." : "No login stored: the firmware's factory login is tried.";
  p.classList.toggle("creds-set", set);
  box.querySelector('[data-role="creds-clear"]').hidden = !set;
}
