// The Events page: the controller's event log newest first, filtered by miner, kind,
// severity, actor group and text, paged with "Older" / "Newer" over the whole retention
// (GET /api/events?...&before=ID; X-Total-Count says how many match). The filters and the
// page live in the URL (?q=&miner=&kind=&severity=&actor=&before=), so a view is a link
// and the back button returns to the previous one. Every API string is set as text.

import { initSession } from "./session.js";
import { $, api, el, fmtAgo, isNum, reportError, setText } from "./util.js";

const PAGE = 50;
const REFRESH_MS = 30_000; // the first page follows new events while the tab is visible
const FILTERS = ["q", "miner", "kind", "severity", "actor"];
const ACTOR_TEXT = { session: "dashboard user", token: "API token", anonymous: "user", rules: "rule" };

const st = { seq: 0, view: null, kinds: [], wentAt: 0 };

// ---------- the URL is the state ----------

/** The view in the address bar: {filters: {name: value}, before: id or null}. */
function readView() {
  const q = new URLSearchParams(location.search);
  const filters = {};
  for (const name of FILTERS) {
    const v = (q.get(name) || "").trim();
    if (v) filters[name] = v;
  }
  const before = Number(q.get("before"));
  return { filters, before: Number.isInteger(before) && before > 0 ? before : null };
}

function viewUrl(filters, before) {
  const q = new URLSearchParams();
  for (const name of FILTERS) if (filters[name]) q.set(name, filters[name]);
  if (before) q.set("before", String(before));
  const s = q.toString();
  return `${location.pathname}${s ? `?${s}` : ""}`;
}

// history.state.pages: the `before` of each newer page down to this one (null = the newest),
// which is how "Newer" finds its way back. A pasted link has none: "Newer" then goes to the newest.
function pagesStack() {
  const pages = history.state?.pages;
  return Array.isArray(pages) ? pages : null;
}

function go(filters, before, pages) {
  const url = viewUrl(filters, before);
  const same = url === location.pathname + location.search;
  // Enter in a text field fires its change and then the form's submit: the second one is the same view.
  if (same && Date.now() - st.wentAt < 1000) return;
  st.wentAt = Date.now();
  // The same view again (Apply pressed twice) reloads without a new history entry.
  if (same) history.replaceState({ pages }, "", url);
  else history.pushState({ pages }, "", url);
  load();
}

function formFilters() {
  const filters = {};
  for (const name of FILTERS) {
    const v = $(`ev-${name}`).value.trim();
    if (v) filters[name] = v;
  }
  return filters;
}

function fillForm(filters) {
  for (const name of FILTERS) {
    const input = $(`ev-${name}`);
    const v = filters[name] || "";
    // A deep link may name a kind not (or no longer) in the log, or several ("a,b"): keep it selectable.
    if (input.tagName === "SELECT" && v && ![...input.options].some((o) => o.value === v)) {
      input.append(el("option", { value: v }, v.split(",").map(kindText).join(", ")));
    }
    input.value = v;
  }
}

// ---------- loading ----------

// api() returns the body only; the total is in a header.
async function getPage(url) {
  let res;
  try {
    res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  } catch { throw Object.assign(new Error("the controller is not reachable"), { status: 0 }); }
  let data = null;
  try { data = await res.json(); } catch { /* empty or non-JSON body */ }
  if (res.status === 401) { // security.reads_require_login: the login page brings us back here
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    throw Object.assign(new Error("login required"), { status: 401, redirected: true });
  }
  if (!res.ok) throw Object.assign(new Error((data && typeof data.error === "string" && data.error) || `HTTP ${res.status}`), { status: res.status });
  const total = Number(res.headers.get("X-Total-Count"));
  return { rows: Array.isArray(data) ? data.filter((r) => r && typeof r === "object") : [], total: Number.isFinite(total) ? total : null };
}

/** Show the view in the URL; `fill` puts its filters into the form (not on a refresh: the user may be typing). */
async function load(fill = true) {
  const view = readView();
  const seq = ++st.seq;
  st.view = view;
  if (fill) fillForm(view.filters);
  const q = new URLSearchParams({ limit: String(PAGE) });
  for (const [name, v] of Object.entries(view.filters)) q.set(name, v);
  if (view.before) q.set("before", String(view.before));
  $("ev-older").disabled = $("ev-newer").disabled = true;
  try {
    const page = await getPage(`/api/events?${q}`);
    if (seq !== st.seq) return; // a newer view was asked for meanwhile
    $("ev-error").hidden = true;
    render(view, page);
  } catch (e) {
    if (seq !== st.seq || e.redirected) return;
    // A 400 names the filter it refused ("miner: not an IPv4 address"): shown where the table was.
    setText("ev-error", e.status === 400 ? `Filter refused: ${e.message}` : `Events could not load: ${e.message}`);
    $("ev-error").hidden = false;
    $("ev-wrap").hidden = true;
    setText("ev-empty", "");
    setText("ev-count", "");
    setText("ev-range", "");
    $("ev-newer").disabled = !view.before;
  }
}

// ---------- rendering ----------

const kindText = (k) => String(k).replace(/_/g, " ");

function timeText(ts) {
  const d = new Date(ts * 1000);
  const today = d.toDateString() === new Date().toDateString();
  return today ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
    : d.toLocaleString([], { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

// data-label names the column when a narrow screen stacks each row (app.css).
const cell = (label, ...content) => el("td", { role: "cell", "data-label": label }, ...content);

function row(e) {
  const ts = isNum(e.ts) ? e.ts : null;
  const sev = ["info", "warning", "critical"].includes(e.severity) ? e.severity : null;
  const ip = typeof e.miner_ip === "string" && e.miner_ip ? e.miner_ip : null;
  const name = typeof e.miner_name === "string" && e.miner_name.trim() ? e.miner_name.trim() : null;
  const actor = typeof e.actor === "string" && e.actor ? e.actor : null;
  const count = isNum(e.count) && e.count > 1 ? e.count : null;
  const time = ts === null ? "—" : el("time", { datetime: new Date(ts * 1000).toISOString(),
    title: `${new Date(ts * 1000).toLocaleString()} (${fmtAgo(ts)})` }, timeText(ts));
  return el("tr", { role: "row", "data-id": isNum(e.id) ? String(e.id) : null, "data-severity": sev || "none" },
    cell("Time", time),
    cell("Severity", sev ? el("span", { class: `sev sev-${sev}` }, sev) : "—"),
    cell("Kind", typeof e.kind === "string" ? kindText(e.kind) : "—"),
    cell("Miner", ip ? el("a", { href: `/#miner=${encodeURIComponent(ip)}`, class: "ev-miner" },
      name ? el("span", {}, name, " ") : null, el("span", { class: name ? "muted small" : "" }, ip)) : "—"),
    cell("Actor", actor ? (ACTOR_TEXT[actor] || actor) : "—"),
    Object.assign(cell("Message", typeof e.message === "string" ? e.message : "",
      count ? el("span", { class: "ev-times", title: `${count} times (aggregated)` }, ` ×${count}`) : null),
    { className: "wrap wide ev-msg" }));
}

function render(view, page) {
  const { rows, total } = page;
  const filtered = Object.keys(view.filters).length > 0;
  $("ev-rows").replaceChildren(...rows.map(row));
  $("ev-wrap").hidden = rows.length === 0;
  $("ev-empty").hidden = rows.length > 0;
  setText("ev-empty", view.before ? "No older events." : filtered ? "No events match these filters." : "No events yet.");
  const n = total === null ? "" : `${total.toLocaleString()} ${filtered ? "matching" : total === 1 ? "event" : "events"}`;
  setText("ev-count", n ? `(${n})` : "");
  // Where this page sits: known when we paged here, not for a pasted link.
  const pages = pagesStack();
  if (!rows.length) setText("ev-range", "");
  else if (!view.before) setText("ev-range", `1–${rows.length}`);
  else if (pages) setText("ev-range", `${pages.length * PAGE + 1}–${pages.length * PAGE + rows.length}`);
  else setText("ev-range", `older than event #${view.before}`);
  const last = rows.length ? rows[rows.length - 1].id : null;
  const more = rows.length === PAGE && isNum(last) && (total === null || !pages || (pages.length + 1) * PAGE < total);
  $("ev-older").disabled = !more;
  $("ev-older").dataset.before = more ? String(last) : "";
  $("ev-newer").disabled = !view.before;
  $("ev-newest").hidden = !view.before || (pages !== null && pages.length < 2);
}

// ---------- filter options ----------

async function loadKinds() {
  try {
    const kinds = await api("GET", "/api/events/kinds");
    st.kinds = Array.isArray(kinds) ? kinds.filter((k) => typeof k === "string").sort() : [];
  } catch (e) { reportError("Event kinds could not load", e); return; }
  $("ev-kind").replaceChildren(el("option", { value: "" }, "any"), ...st.kinds.map((k) => el("option", { value: k }, kindText(k))));
  fillForm(st.view?.filters || {});
}

async function loadMiners() {
  try {
    const miners = await api("GET", "/api/miners");
    if (!Array.isArray(miners)) return;
    $("ev-miners").replaceChildren(...miners.filter((m) => m && typeof m.ip === "string").map((m) =>
      el("option", { value: m.ip }, [m.name, m.model].find((v) => typeof v === "string" && v.trim()) || m.ip)));
  } catch { /* the suggestions are a convenience; typing an IP still works */ }
}

// ---------- wiring ----------

function init() {
  initSession();
  $("ev-filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    go(formFilters(), null, []);
  });
  // A choice from a list applies at once; text applies on Enter (the form's submit) or on leaving the field.
  for (const name of FILTERS) {
    $(`ev-${name}`).addEventListener("change", () => {
      const filters = formFilters();
      if (viewUrl(filters, null) !== viewUrl(st.view?.filters || {}, null)) go(filters, null, []);
    });
  }
  $("ev-reset").addEventListener("click", (ev) => { ev.preventDefault(); go({}, null, []); });
  $("ev-older").addEventListener("click", () => {
    const before = Number($("ev-older").dataset.before);
    if (!before || !st.view) return;
    go(st.view.filters, before, [...(pagesStack() || []), st.view.before]);
  });
  $("ev-newer").addEventListener("click", () => {
    if (!st.view?.before) return;
    const pages = pagesStack();
    if (pages && pages.length) go(st.view.filters, pages[pages.length - 1], pages.slice(0, -1));
    else go(st.view.filters, null, []);
  });
  $("ev-newest").addEventListener("click", () => { if (st.view) go(st.view.filters, null, []); });
  window.addEventListener("popstate", () => load());
  // The first visit's entry gets its page stack too (a fresh load is the newest page, or unknown).
  if (!pagesStack()) history.replaceState({ pages: readView().before ? null : [] }, "", location.href);
  load();
  loadKinds();
  loadMiners();
  setInterval(() => {
    if (document.visibilityState === "visible" && st.view && !st.view.before) load(false);
  }, REFRESH_MS);
}

init();
