// The Automation page's rule form (templates/automation.html): turns the fields into the
// JSON of POST /api/rules or PUT /api/rules/<name>, and a listed rule back into the fields.
// The server checks every field (services/rules/parse.py): the form sends what was typed
// (a number when it reads as one, else the text, so the server names the mistake) and shows
// the API's 400 reason word for word, marking the field it names. Nothing is saved on error.

import { $, api, el, isNum, setText } from "./util.js";

// Actions that take a value: its label, unit, the JSON field and whether it is a number.
const VALUE = {
  percent: { label: "Power", unit: "%", field: "value", numeric: true },
  watts: { label: "Power target", unit: "W", field: "value", numeric: true },
  mode: { label: "Mode", unit: "", field: "value", numeric: false },
  pool: { label: "Pool index", unit: "0–2", field: "value", numeric: true },
  notify: { label: "Message", unit: "", field: "message", numeric: false },
};
const NOTE = {
  sleep: "Held: power 0 % while the rule fires; the layers below decide again when it is released.",
  wake: "Held: full power while the rule fires (safety, an override or the EMS still win).",
  percent: "Held: this power level while the rule fires.",
  watts: "Sent once to each target miner when the rule fires (not undone at release).",
  mode: "Sent once when the rule fires: one of the miner's modes (its details list them).",
  pool: "Sent once when the rule fires: the pool at that place in the miner's pool list.",
  restart: "Once per firing; a restart rule restarts a miner at most once an hour and 3 times a day by default.",
  notify: "Writes an event to the log when the rule fires.",
};

const fs = { editing: null, busy: false, onSaved: () => {} };

// ---------- reading the fields ----------

/** "" -> undefined, "30" -> 30, "-2.5" -> -2.5; anything else stays text for the server to name. */
export function numOrText(text) {
  const t = String(text ?? "").trim();
  if (!t) return undefined;
  return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t) ? Number(t) : t;
}

function conditions(prefix) {
  const out = {};
  const from = $(`${prefix}-time-from`).value, to = $(`${prefix}-time-to`).value;
  const days = [...document.querySelectorAll(`input[data-day="${prefix}"]:checked`)].map((b) => b.value);
  if (from || to || days.length) {
    const time = {};
    if (from) time.from = from;
    if (to) time.to = to;
    if (days.length) time.days = days;
    out.time = time;
  }
  for (const input of document.querySelectorAll(`[data-key^="${prefix}."][data-trigger]`)) {
    const name = input.dataset.trigger;
    const value = input.tagName === "SELECT" ? input.value || undefined : numOrText(input.value);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function target() {
  const kind = document.querySelector('input[name="rf-target"]:checked')?.value || "fleet";
  if (kind === "miners") return { miners: [...$("rf-miners").querySelectorAll("input:checked")].map((b) => b.value) };
  if (kind === "family") return { family: $("rf-family").value };
  if (kind === "tag") return { tag: $("rf-tag").value.trim() };
  return undefined;
}

/** The rule as the API wants it; empty fields are left out (the server's defaults apply). */
export function formBody() {
  const body = { name: $("rf-name").value, enabled: $("rf-enabled").checked, when: conditions("when") };
  if ($("rf-until").open) {
    const until = conditions("until");
    if (Object.keys(until).length) body.until = until;
  }
  const t = target();
  if (t) body.target = t;
  const action = $("rf-action").value;
  const then = { action };
  const spec = VALUE[action];
  if (spec) {
    const raw = $("rf-value").value;
    const value = spec.numeric ? numOrText(raw) : raw.trim() ? raw : undefined;
    if (value !== undefined) then[spec.field] = value;
  }
  body.then = then;
  for (const key of ["for_min", "cooldown_min", "max_per_day"]) {
    const value = numOrText($(`rf-${key}`).value);
    if (value !== undefined) body[key] = value;
  }
  return body;
}

// ---------- filling the fields ----------

function fillConditions(prefix, c) {
  const cond = c && typeof c === "object" ? c : {};
  const time = cond.time && typeof cond.time === "object" ? cond.time : {};
  $(`${prefix}-time-from`).value = typeof time.from === "string" ? time.from : "";
  $(`${prefix}-time-to`).value = typeof time.to === "string" ? time.to : "";
  const days = Array.isArray(time.days) ? time.days.map((d) => String(d).toLowerCase()) : [];
  for (const box of document.querySelectorAll(`input[data-day="${prefix}"]`)) box.checked = days.includes(box.value);
  for (const input of document.querySelectorAll(`[data-key^="${prefix}."][data-trigger]`)) {
    const v = cond[input.dataset.trigger];
    input.value = v == null ? "" : String(v);
  }
}

function showAction() {
  const action = $("rf-action").value, spec = VALUE[action];
  $("rf-value-row").hidden = !spec;
  if (spec) {
    $("rf-value-label").textContent = spec.label;
    $("rf-value-unit").textContent = spec.unit;
    $("rf-value").dataset.key = `then.${spec.field}`;
    $("rf-value").inputMode = spec.numeric ? "decimal" : "text";
  }
  $("rf-action-note").textContent = NOTE[action] || "";
}

function showTarget() {
  const kind = document.querySelector('input[name="rf-target"]:checked')?.value || "fleet";
  $("rf-miners").hidden = kind !== "miners";
  $("rf-family-row").hidden = kind !== "family";
  $("rf-tag-row").hidden = kind !== "tag";
}

function minerBox(ip, label) {
  return el("label", { class: "check rf-miner" }, el("input", { type: "checkbox", value: ip }), label);
}

/** The miners offered as targets (GET /api/miners); ticked ones stay ticked. */
export function setMiners(list) {
  const box = $("rf-miners");
  const ticked = new Set([...box.querySelectorAll("input:checked")].map((b) => b.value));
  const miners = (Array.isArray(list) ? list : []).filter((m) => m && typeof m.ip === "string");
  for (const label of box.querySelectorAll(".rf-miner")) label.remove();
  for (const m of miners) {
    const name = m.name || m.model || m.hostname || "";
    box.append(minerBox(m.ip, name ? `${m.ip} · ${name}` : m.ip));
  }
  for (const ip of ticked) ensureMiner(ip);
  for (const b of box.querySelectorAll("input")) b.checked = ticked.has(b.value);
  $("rf-miners-empty").hidden = box.querySelectorAll(".rf-miner").length > 0;
  // The tags the miners carry now, offered for a tag target (any tag may be typed).
  const tags = [...new Set(miners.flatMap((m) => (Array.isArray(m.tags) ? m.tags : []))
    .filter((t) => typeof t === "string" && t))].sort();
  $("rf-tags").replaceChildren(...tags.map((t) => el("option", { value: t })));
}

function ensureMiner(ip) {
  const box = $("rf-miners");
  if ([...box.querySelectorAll("input")].some((b) => b.value === ip)) return;
  box.append(minerBox(ip, `${ip} (not in the fleet now)`));
  $("rf-miners-empty").hidden = true;
}

/** The families offered for a family target (GET /api/miner-types keys). */
export function setFamilies(names) {
  const select = $("rf-family"), current = select.value;
  select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
  if (names.includes(current)) select.value = current;
}

/** The price unit (GET /api/prices "unit") beside the price triggers. */
export function setPriceUnit(unit) {
  for (const span of document.querySelectorAll(".price-unit")) span.textContent = unit || "";
}

function clearErrors() {
  $("rule-error").hidden = true;
  for (const node of document.querySelectorAll('#rule-form [aria-invalid="true"]')) node.removeAttribute("aria-invalid");
}

/** Back to an empty "Add a rule" form. */
export function resetForm() {
  $("rule-form").reset();
  fs.editing = null;
  $("rf-until").open = false;
  for (const box of $("rf-miners").querySelectorAll("input")) box.checked = false;
  setText("form-title", "Add a rule");
  setText("rf-submit", "Add rule");
  $("rf-cancel").hidden = true;
  clearErrors();
  showAction();
  showTarget();
}

/** Fill the form with a listed rule (GET /api/rules item) to edit it with PUT. */
export function editRule(rule) {
  resetForm();
  fs.editing = rule.name;
  $("rf-name").value = rule.name;
  $("rf-enabled").checked = rule.enabled !== false;
  fillConditions("when", rule.when);
  const hasUntil = rule.until && typeof rule.until === "object" && Object.keys(rule.until).length > 0;
  fillConditions("until", hasUntil ? rule.until : {});
  $("rf-until").open = !!hasUntil;
  const t = rule.target && typeof rule.target === "object" ? rule.target : null;
  const kind = t && Array.isArray(t.miners) ? "miners" : t && t.family != null ? "family"
    : t && t.tag != null ? "tag" : "fleet";
  document.querySelector(`input[name="rf-target"][value="${kind}"]`).checked = true;
  if (kind === "miners") {
    for (const ip of t.miners.map(String)) ensureMiner(ip);
    for (const b of $("rf-miners").querySelectorAll("input")) b.checked = t.miners.includes(b.value);
  }
  if (kind === "family") {
    const family = String(t.family);
    if (![...$("rf-family").options].some((o) => o.value === family)) $("rf-family").append(el("option", { value: family }, family));
    $("rf-family").value = family;
  }
  $("rf-tag").value = kind === "tag" ? String(t.tag) : "";
  const then = rule.then && typeof rule.then === "object" ? rule.then : {};
  if (VALUE[then.action] || NOTE[then.action]) $("rf-action").value = then.action;
  const spec = VALUE[then.action];
  $("rf-value").value = spec && then[spec.field] != null ? String(then[spec.field]) : "";
  for (const key of ["for_min", "cooldown_min", "max_per_day"]) {
    $(`rf-${key}`).value = isNum(rule[key]) && !(key === "for_min" && rule[key] === 0) ? String(rule[key]) : "";
  }
  setText("form-title", `Edit rule “${rule.name}”`);
  setText("rf-submit", "Save changes");
  $("rf-cancel").hidden = false;
  showAction();
  showTarget();
  $("rule-editor").scrollIntoView({ block: "start" });
  $("rf-name").focus({ preventScroll: true });
}

/** The rule being edited (its name before any rename), or null when adding. */
export const editing = () => fs.editing;

// ---------- saving ----------

// "then.value: must be 0 to 100" -> the element whose data-key is then.value (or a parent key).
function markField(message) {
  const key = String(message).split(":")[0].replace(/\[\d+\]/g, "").trim();
  const parts = key.split(".");
  for (let n = parts.length; n > 0; n--) {
    const node = document.querySelector(`#rule-form [data-key="${CSS.escape(parts.slice(0, n).join("."))}"]`);
    if (!node) continue;
    if (parts[0] === "until") $("rf-until").open = true;
    node.setAttribute("aria-invalid", "true");
    const focusable = node.matches("input, select") ? node : node.querySelector("input, select");
    if (focusable && !focusable.closest("[hidden]")) focusable.focus();
    return;
  }
}

async function submit(ev) {
  ev.preventDefault();
  if (fs.busy) return;
  clearErrors();
  fs.busy = true;
  $("rf-submit").disabled = true;
  const was = fs.editing;
  try {
    const body = formBody();
    const saved = was === null ? await api("POST", "/api/rules", body)
      : await api("PUT", `/api/rules/${encodeURIComponent(was)}`, body);
    resetForm();
    fs.onSaved(saved, was);
  } catch (e) {
    if (!e.redirected) { // a 401 is on its way to the login page
      setText("rule-error", e.status === 400 || e.status === 409 || e.status === 404 ? e.message
        : `Could not save the rule: ${e.message}`);
      $("rule-error").hidden = false;
      markField(e.message);
    }
  } finally {
    fs.busy = false;
    $("rf-submit").disabled = false;
  }
}

/** Wire the form; onSaved(rule, previousName|null) runs after a successful POST or PUT. */
export function initRuleForm({ onSaved }) {
  fs.onSaved = onSaved;
  $("rule-form").addEventListener("submit", submit);
  $("rf-action").addEventListener("change", showAction);
  for (const radio of document.querySelectorAll('input[name="rf-target"]')) radio.addEventListener("change", showTarget);
  $("rf-cancel").addEventListener("click", resetForm);
  $("rf-clear").addEventListener("click", resetForm);
  $("rule-form").addEventListener("input", (ev) => ev.target.removeAttribute?.("aria-invalid"));
  resetForm();
}
