// The Settings section of the miner detail dialog: name, tags, location, notes,
// enable/disable and the per-miner power limits, saved with one
// PATCH /api/miners/<ip> (docs/miners.md "Miner settings"). Only the fields the
// user changed are sent; an emptied field is sent as null, which gives the value
// back to config.yaml (then the model table). The server's refusal is shown
// under the form, word for word. Text only, never innerHTML.

import { api, el, toast } from "./util.js";

const enc = encodeURIComponent;
// Fields that fall back to config.yaml when not set here (set_here lists the ones that are); name, tags,
// location and notes do too: an empty field shows config.yaml's value as its placeholder.
const LIMITS = [
  ["nominal_w", "Nominal W", 1, 100000],
  ["min_w", "Min W", 1, 100000],
  ["max_w", "Max W", 1, 100000],
  ["max_temp_c", "Max °C", 30, 130],
];

let uid = 0;

function field(label, input, hint) {
  input.id = `ms-${input.name}-${++uid}`;
  const hintNode = hint ? el("span", { class: "muted small", id: `${input.id}-hint` }, hint) : null;
  if (hintNode) input.setAttribute("aria-describedby", hintNode.id);
  return el("div", { class: "field" }, el("label", { for: input.id }, label), input, hintNode);
}

const setHere = (m, key) => Array.isArray(m.set_here) && m.set_here.includes(key);
const tagsText = (tags) => (Array.isArray(tags) ? tags.filter((t) => typeof t === "string").join(", ") : "");
const num = (v) => (typeof v === "number" && Number.isFinite(v) ? String(Number(v.toFixed(1))) : "");

// What the form shows for a miner: the value stored here ("" = none), per input name.
function formValues(m) {
  const values = {
    name: setHere(m, "name") && typeof m.name === "string" ? m.name : "",
    tags: setHere(m, "tags") ? tagsText(m.tags) : "",
    location: setHere(m, "location") && typeof m.location === "string" ? m.location : "",
    notes: setHere(m, "notes") && typeof m.notes === "string" ? m.notes : "",
    enabled: m.enabled !== false,
    autocontrol: setHere(m, "autocontrol") ? (m.autocontrol ? "on" : "off") : "",
  };
  for (const [key] of LIMITS) values[key] = setHere(m, key) ? num(m[key]) : "";
  return values;
}

// The placeholder of an empty field: what applies without a value here.
function fallback(m, key) {
  if (key === "name") return (typeof m.model === "string" && m.model) || "the model's name";
  if (key === "tags" || key === "location" || key === "notes") {  // config.yaml's, when it has one
    const value = key === "tags" ? tagsText(m.tags) : m[key];
    if (!setHere(m, key) && typeof value === "string" && value) return `${value} (config)`;
    return key === "tags" ? "e.g. shed, solar" : "";
  }
  if (!setHere(m, key) && typeof m[key] === "number") return `${num(m[key])} (config)`;
  return key === "max_temp_c" ? "default" : "model";
}

function build(box, ip) {
  const inputs = {
    name: el("input", { type: "text", name: "name", maxlength: 64, autocomplete: "off", spellcheck: "false" }),
    tags: el("input", { type: "text", name: "tags", autocomplete: "off", spellcheck: "false" }),
    location: el("input", { type: "text", name: "location", maxlength: 64, autocomplete: "off" }),
    notes: el("textarea", { name: "notes", maxlength: 1000, rows: 2 }),
    enabled: el("input", { type: "checkbox", name: "enabled" }),
    autocontrol: el("select", { name: "autocontrol" },
      el("option", { value: "" }, "config"), el("option", { value: "on" }, "on"),
      el("option", { value: "off" }, "off")),
  };
  for (const [key, , min, max] of LIMITS) {
    inputs[key] = el("input", { type: "number", name: key, min, max, step: "any", inputmode: "decimal",
      autocomplete: "off" });
  }
  for (const input of Object.values(inputs)) input.addEventListener("input", () => { input.dataset.dirty = "1"; });
  inputs.enabled.id = `ms-enabled-${++uid}`;
  const error = el("p", { class: "form-error ms-error", role: "alert", "data-role": "ms-error", hidden: true });
  const save = el("button", { type: "submit", class: "btn btn-small btn-primary" }, "Save settings");
  const form = el("form", { class: "ctl-form ms-form", "data-role": "ms-form", novalidate: true },
    el("div", { class: "ms-enable" },
      inputs.enabled, el("label", { for: inputs.enabled.id }, "Enabled: poll and control this miner"),
      el("span", { class: "muted small ms-enable-note", "data-role": "ms-enable-note", hidden: true })),
    el("div", { class: "ctl-row" }, field("Name", inputs.name), field("Location", inputs.location)),
    field("Tags", inputs.tags, "Comma-separated; up to 16, letters, digits, space, _ . -"),
    field("Notes", inputs.notes),
    el("fieldset", { class: "ms-limits" }, el("legend", {}, "Power control"),
      el("div", { class: "ms-grid" }, ...LIMITS.map(([key, label]) => field(label, inputs[key])),
        field("Autocontrol", inputs.autocontrol)),
      el("p", { class: "muted small" }, "Empty: config.yaml's value, else the model table's. "
        + "Autocontrol off: never commanded, counted as a fixed load.")),
    error, el("div", { class: "row" }, save));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const changes = changed(box, inputs);
    if (changes === null) return;
    if (!Object.keys(changes).length) { showError(box, "Nothing changed."); return; }
    save.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      const m = await api("PATCH", `/api/miners/${enc(ip)}`, changes);
      showError(box, "");
      for (const input of Object.values(inputs)) delete input.dataset.dirty;
      fill(box, m, true);
      toast(`Settings of ${ip} saved`);
      document.dispatchEvent(new CustomEvent("miner-command", { detail: { ip, action: "settings" } }));
    } catch (e) {
      if (!e.redirected) showError(box, `Not saved: ${e.message}`);
    } finally {
      save.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });
  box.msInputs = inputs;
  box.replaceChildren(form);
}

function showError(box, text) {
  const p = box.querySelector('[data-role="ms-error"]');
  p.textContent = text;
  p.hidden = !text;
}

// The body to PATCH: each input whose value differs from what the miner had ("" -> null); null = a local refusal.
function changed(box, inputs) {
  const before = box.msShown || {};
  const out = {};
  for (const [key, input] of Object.entries(inputs)) {
    const value = key === "enabled" ? input.checked : input.value.trim();
    if (value === before[key]) continue;
    if (key === "enabled") out.enabled = value;
    // Emptied: back to config.yaml's tags (none when it has none), as every other field.
    else if (key === "tags") out.tags = value ? value.split(",").map((t) => t.trim()).filter(Boolean) : null;
    else if (key === "autocontrol") out.autocontrol = value === "" ? null : value === "on";
    else if (LIMITS.some(([k]) => k === key)) {
      if (value === "") { out[key] = null; continue; }
      const n = Number(value);
      if (!Number.isFinite(n)) { showError(box, `Not saved: ${key}: must be a number`); return null; }
      out[key] = n;
    } else out[key] = value === "" ? null : value;
  }
  return out;
}

// Show the miner's stored values; a field the user is editing keeps what they typed (live refreshes).
function fill(box, m, force = false) {
  const inputs = box.msInputs, values = formValues(m);
  box.msShown = values;
  for (const [key, input] of Object.entries(inputs)) {
    if (!force && (input.dataset.dirty || input === document.activeElement)) continue;
    if (key === "enabled") input.checked = values.enabled;
    else input.value = values[key];
  }
  for (const key of ["name", "tags", "location", "notes"]) inputs[key].placeholder = fallback(m, key);
  for (const [key] of LIMITS) inputs[key].placeholder = fallback(m, key);
  const note = box.querySelector('[data-role="ms-enable-note"]');
  note.textContent = m.enabled === false ? "Disabled: not polled or commanded; its history is kept." : "";
  note.hidden = m.enabled !== false;
}

// Called by the detail dialog's render with the miner's dict (detail or snapshot entry).
export function renderSettings(box, m) {
  if (!box || !m || typeof m.ip !== "string") return;
  if (box.dataset.ip !== m.ip) {
    box.dataset.ip = m.ip;
    build(box, m.ip);
  }
  fill(box, m);
}
