// The Tuning section of the miner detail dialog: the global and per-board
// frequency and voltage and the thermal target, with inputs bounded by the
// firmware's limits (GET /api/miners/<ip>/tuning, docs/miners.md "Per-board
// tuning and thermal target"). Writes go to POST .../frequency and .../thermal;
// the API's refusal (400 outside the limits, 409 where the firmware cannot)
// is shown under the form that sent it. Shown only for miners whose
// capabilities include "thermal" (the drivers with a tuning read: Vnish); the
// others keep the plain frequency form of the Controls panel, and a 409 on the
// read hides the section too. Text only, never innerHTML.

import { api, caps, el, isNum, toast } from "./util.js";

const enc = encodeURIComponent;
const SOURCE = { firmware: "the firmware's limits", documented: "documented range", controller: "this app's bounds" };

const t = {
  ip: null,     // the miner the section was built for
  seq: 0,       // answers to an older request are dropped
  box: null,
  section: null,
};

let uid = 0;
const nextId = (base) => `tn-${base}-${++uid}`;

// Any command to the miner shown (ours, or a mode from the Controls panel) may change its tuning.
document.addEventListener("miner-command", (ev) => { if (t.ip && ev.detail?.ip === t.ip) loadTuning(); });

// Called with every render of the detail dialog; fetches only when the miner changes
// (or the dialog was closed in between: its settings may have changed meanwhile).
export function renderTuning(section, box, m) {
  if (t.section !== section) section.closest("dialog")?.addEventListener("close", () => { t.ip = null; t.seq++; });
  t.section = section;
  t.box = box;
  const c = caps(m);
  const wanted = c.includes("thermal");
  if (!wanted) {
    t.ip = null;
    section.hidden = true;
    box.replaceChildren();
    return;
  }
  if (t.ip === m.ip) return;
  t.ip = m.ip;
  section.hidden = false;
  box.replaceChildren(el("p", { class: "muted small" }, "Loading…"));
  loadTuning();
}

export async function loadTuning() {
  const ip = t.ip, seq = ++t.seq;
  if (!ip || !t.box) return;
  try {
    const data = await api("GET", `/api/miners/${enc(ip)}/tuning`);
    if (seq !== t.seq || ip !== t.ip) return;
    t.box.replaceChildren(...build(ip, data || {}));
  } catch (e) {
    if (seq !== t.seq || ip !== t.ip) return;
    if (e.status === 409) { // the firmware has no tuning read here: nothing to show
      t.section.hidden = true;
      t.box.replaceChildren();
      return;
    }
    t.box.replaceChildren(el("p", { class: "form-error", role: "alert" }, `Tuning could not load: ${e.message}`),
      refreshButton());
  }
}

const range = (r) => (r && isNum(r.min) && isNum(r.max) ? r : null);
const rangeText = (r, unit) => `${r.min}–${r.max} ${unit} (${SOURCE[r.source] || r.source})`;

function numberInput(name, r, value, placeholder) {
  const input = el("input", { type: "number", name, step: 1, inputmode: "numeric", autocomplete: "off",
    min: r ? r.min : null, max: r ? r.max : null, placeholder: placeholder || null });
  if (isNum(value)) input.value = String(Math.round(value));
  input.dataset.initial = input.value;
  return input;
}

// A voltage goes out only when the user changed it: re-sending the shown value could trip a
// limit the firmware tightened meanwhile (Vnish 1.x: the stock-PSU maximum).
const changed = (input) => input && input.value !== "" && input.value !== input.dataset.initial;

function field(label, input) {
  input.id = nextId(input.name);
  return el("div", { class: "field" }, el("label", { for: input.id }, label), input);
}

function refreshButton() {
  const b = el("button", { type: "button", class: "btn btn-small", "data-role": "tn-refresh" }, "Refresh");
  b.addEventListener("click", loadTuning);
  return b;
}

// A form posting one write; the API's refusal stays under it until the next try.
function writeForm(ip, action, role, body, what, ...children) {
  const error = el("p", { class: "form-error tn-error", role: "alert", hidden: true });
  const form = el("form", { class: "ctl-form tn-form", "data-role": role }, ...children, error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!form.reportValidity()) return;
    const buttons = [...form.querySelectorAll("button")];
    buttons.forEach((b) => { b.disabled = true; });
    error.hidden = true;
    try {
      const res = await api("POST", `/api/miners/${enc(ip)}/${action}`, body());
      const note = res && typeof res.message === "string" && res.message.includes(": ")
        ? res.message.slice(res.message.indexOf(": ") + 2) : "";
      toast(`${what()} sent to ${ip}${note ? `: ${note}` : ""}`);
      document.dispatchEvent(new CustomEvent("miner-command", { detail: { ip, action } })); // reloads below
    } catch (e) {
      if (e.redirected) return;
      error.textContent = `${e.status === 409 ? "Not possible" : "Refused"}: ${e.message}`;
      error.hidden = false;
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
  return form;
}

const submit = (label) => el("button", { type: "submit", class: "btn btn-small btn-primary" }, label);

function build(ip, d) {
  const out = [];
  const fr = range(d.frequency_range), vr = range(d.voltage_range), tr = range(d.thermal_range);
  const c = Array.isArray(d.capabilities) ? d.capabilities : [];
  const limits = [];
  if (fr) limits.push(`Frequency ${rangeText(fr, "MHz")}${isNum(d.frequency_warn_mhz) ? `, the firmware warns above ${d.frequency_warn_mhz} MHz` : ""}.`);
  if (vr) limits.push(`Voltage ${rangeText(vr, "mV")}.`);
  if (limits.length) out.push(el("p", { class: "muted small tn-limits", "data-role": "tn-limits" }, limits.join(" ")));
  for (const note of Array.isArray(d.notes) ? d.notes : []) {
    if (typeof note === "string") out.push(el("p", { class: "muted small tn-note" }, note));
  }

  if (c.includes("frequency") && fr) {
    const mhz = numberInput("mhz", fr, d.frequency_mhz);
    mhz.required = true;
    const mv = vr ? numberInput("voltage_mv", vr, d.voltage_mv, "unchanged") : null;
    out.push(el("h4", {}, "All boards"), writeForm(ip, "frequency", "tn-global",
      () => (changed(mv) ? { mhz: Number(mhz.value), voltage_mv: Number(mv.value) } : { mhz: Number(mhz.value) }),
      () => `Frequency ${mhz.value} MHz${changed(mv) ? `, ${mv.value} mV` : ""}`,
      el("div", { class: "ctl-row" }, field("Frequency (MHz)", mhz), mv ? field("Voltage (mV)", mv) : null,
        submit("Apply"))));
    const boards = Array.isArray(d.boards) ? d.boards.filter((b) => b && isNum(b.index)) : [];
    if (boards.length && d.per_board_frequency) {
      out.push(el("h4", {}, "Per board"));
      const list = el("div", { class: "tn-boards" });
      for (const b of boards) list.append(boardForm(ip, d, b, fr, d.per_board_voltage ? vr : null));
      out.push(list);
      if (!d.per_board_voltage) out.push(el("p", { class: "muted small" }, "This firmware sets one voltage for all boards."));
    }
  }

  if (c.includes("thermal") && tr) {
    const target = numberInput("target_c", tr, d.thermal_target_c, "firmware default");
    target.required = true;
    const limit = isNum(d.thermal_limit_c) ? ` The firmware's own protection acts at ${d.thermal_limit_c} °C.` : "";
    out.push(el("h4", {}, "Thermal target"), writeForm(ip, "thermal", "tn-thermal",
      () => ({ target_c: Number(target.value) }), () => `Thermal target ${target.value} °C`,
      el("div", { class: "ctl-row" }, field("Target (°C)", target), submit("Set")),
      el("p", { class: "muted small" }, `The temperature the fan control holds: ${rangeText(tr, "°C")}.${limit}`)));
  }
  out.push(el("div", { class: "row" }, refreshButton()));
  return out;
}

function boardForm(ip, d, b, fr, vr) {
  const shown = b.index;
  const mhz = numberInput("mhz", fr, b.frequency_mhz, "global");
  mhz.required = true;
  const mv = vr ? numberInput("voltage_mv", vr, b.voltage_mv, "global") : null;
  return writeForm(ip, "frequency", `tn-board-${shown}`,
    () => {
      const body = { mhz: Number(mhz.value), board: shown };
      if (changed(mv)) body.voltage_mv = Number(mv.value);
      return body;
    },
    () => `Board ${shown}: ${mhz.value} MHz${changed(mv) ? `, ${mv.value} mV` : ""}`,
    el("div", { class: "ctl-row tn-board" }, el("span", { class: "tn-board-name" }, `Board ${shown}`),
      field("MHz", mhz), mv ? field("mV", mv) : null, submit("Apply")));
}
