// The Miners page: every miner in one table (GET /api/miners, then the /ws snapshots through
// live_feed.js), filtered by family, status, tag and text and sorted by any column. The filters
// and the sort live in the URL (/miners?family=antminer&status=offline&tag=x&q=...&sort=temp&dir=desc),
// so a view is a link and the back button returns to the previous filter; the column choice is
// remembered in localStorage. A row opens the miner's detail dialog in place (miner_detail.js, the
// overview's; #miner=<ip> in the URL, a history entry of its own so Back closes it). Bulk actions
// are in miners_bulk.js, the CSV export in miners_csv.js. Every miner string is set as text.

import { startLiveFeed } from "./live_feed.js";
import { closeDetail, detailSnapshot, hashMiner, initDetail, openDetail, tickDetail } from "./miner_detail.js";
import { initBulk } from "./miners_bulk.js";
import { COLUMN, COLUMNS, STATUSES, comparator, displayName, matches, poolOf, tagsOf } from "./miners_columns.js";
import { csvFilename, download, toCsv } from "./miners_csv.js";
import { initSession } from "./session.js";
import { $, el, fmtAgo, setText } from "./util.js";

const FILTERS = ["q", "family", "status", "tag"];
const STORE_KEY = "minerFleet.miners.columns";
const TEXT_PUSH_MS = 400;       // typing updates the URL this long after the last key

const st = {
  miners: new Map(),  // ip -> miner dict, as last received
  rows: new Map(),    // ip -> { tr, check, link, cells: Map key -> td }
  shown: [],          // the miners shown now, in order
  columns: [],        // keys of the visible columns, in COLUMNS order
  filters: {},        // {q, family, status, tag}, empty = any
  sort: { key: "ip", dir: "asc" },
  selected: new Set(),
  loaded: false,
};
let bulk = null;
let textTimer = null;

// ---------- the URL is the view ----------

function readUrl() {
  const q = new URLSearchParams(location.search);
  const filters = {};
  for (const name of FILTERS) {
    const v = (q.get(name) || "").trim();
    if (v) filters[name] = v;
  }
  const key = q.get("sort"), dir = q.get("dir");
  return { filters, sort: { key: key in COLUMN ? key : "ip", dir: dir === "desc" ? "desc" : "asc" } };
}

function viewUrl() {
  const q = new URLSearchParams();
  for (const name of FILTERS) if (st.filters[name]) q.set(name, st.filters[name]);
  if (st.sort.key !== "ip" || st.sort.dir !== "asc") { q.set("sort", st.sort.key); q.set("dir", st.sort.dir); }
  const s = q.toString();
  return `${location.pathname}${s ? `?${s}` : ""}`;
}

// A filter change is a new history entry (the back button returns to the previous filter);
// a sort change or more typing in the same search replaces the current one.
function writeUrl(push) {
  const url = viewUrl();
  if (url === location.pathname + location.search) return;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

function applyUrl() {
  const view = readUrl();
  st.filters = view.filters;
  st.sort = view.sort;
  fillFilterForm();
  renderHead();
  renderRows();
}

// ---------- columns ----------

function loadColumns() {
  let keys = null;
  try { keys = JSON.parse(localStorage.getItem(STORE_KEY) || "null"); } catch { keys = null; }
  const valid = Array.isArray(keys) ? keys.filter((k) => k in COLUMN) : [];
  const on = valid.length ? new Set(valid) : new Set(COLUMNS.filter((c) => c.on).map((c) => c.key));
  on.add("name"); // the row's link to its details
  return COLUMNS.filter((c) => on.has(c.key)).map((c) => c.key);
}

function saveColumns() {
  try { localStorage.setItem(STORE_KEY, JSON.stringify(st.columns)); } catch { /* private mode: this visit only */ }
}

function renderColumnChooser() {
  $("mn-cols-list").replaceChildren(...COLUMNS.map((c) => {
    const id = `mn-col-${c.key}`;
    return el("label", { class: "check", for: id },
      el("input", { id, type: "checkbox", value: c.key, checked: st.columns.includes(c.key), disabled: c.key === "name" }),
      c.label);
  }));
}

function columnsChanged() {
  const on = new Set([...$("mn-cols-list").querySelectorAll("input:checked")].map((i) => i.value));
  st.columns = COLUMNS.filter((c) => on.has(c.key)).map((c) => c.key);
  saveColumns();
  for (const row of st.rows.values()) row.tr.remove();
  st.rows.clear();
  renderHead();
  renderRows();
}

// ---------- filters ----------

function setOptions(select, values, labelAny) {
  const want = [...new Set(values)].filter(Boolean);
  const current = [...select.options].slice(1).map((o) => o.value);
  if (want.join("\n") === current.join("\n")) return; // rebuilding an open list would close it
  const keep = select.value;
  select.replaceChildren(el("option", { value: "" }, labelAny), ...want.map((v) => el("option", { value: v }, v)));
  select.value = keep;
}

// The lists come from the fleet, plus the value a link asked for (so it shows even with no match).
function refreshFilterOptions() {
  const all = [...st.miners.values()];
  const sorted = (xs) => [...new Set(xs)].filter((x) => typeof x === "string" && x).sort();
  setOptions($("mn-family"), [...sorted([...all.map((m) => m.family), st.filters.family])], "any");
  setOptions($("mn-status"), [...STATUSES, ...sorted([...all.map((m) => m.status), st.filters.status]).filter((s) => !STATUSES.includes(s))], "any");
  setOptions($("mn-tag"), sorted([...all.flatMap(tagsOf), st.filters.tag]), "any");
  $("mn-tag-field").hidden = $("mn-tag").options.length <= 1;
}

function fillFilterForm() {
  refreshFilterOptions();
  for (const name of FILTERS) {
    $(`mn-${name}`).value = st.filters[name] || "";
  }
  $("mn-sort").value = st.sort.key;
  $("mn-dir").value = st.sort.dir;
}

function formFilters() {
  const filters = {};
  for (const name of FILTERS) {
    const v = $(`mn-${name}`).value.trim();
    if (v) filters[name] = v;
  }
  return filters;
}

function filtersChanged(push) {
  st.filters = formFilters();
  writeUrl(push);
  renderRows();
}

function sortBy(key, dir) {
  st.sort = { key, dir };
  $("mn-sort").value = key;
  $("mn-dir").value = dir;
  writeUrl(false);
  renderHead();
  renderRows();
}

// ---------- the table ----------

function renderHead() {
  const head = [el("th", { scope: "col", role: "columnheader", class: "mn-sel" }, el("span", { class: "visually-hidden" }, "Select"))];
  for (const key of st.columns) {
    const c = COLUMN[key], sorted = st.sort.key === key;
    const button = el("button", { type: "button", class: "mn-sort-btn", "data-key": key }, c.label,
      el("span", { class: "mn-arrow", "aria-hidden": "true" }, sorted ? (st.sort.dir === "desc" ? " ▼" : " ▲") : ""));
    head.push(el("th", { scope: "col", role: "columnheader", class: `mn-c-${key}`,
      "aria-sort": sorted ? (st.sort.dir === "desc" ? "descending" : "ascending") : null }, button));
  }
  $("mn-head").replaceChildren(...head);
}

function createRow(ip) {
  const check = el("input", { type: "checkbox", class: "mn-check", "data-ip": ip });
  const link = el("a", { class: "mn-name", href: `#miner=${encodeURIComponent(ip)}` });
  const cells = new Map();
  const tr = el("tr", { role: "row", "data-ip": ip }, el("td", { role: "cell", class: "mn-sel" }, check));
  for (const key of st.columns) {
    const c = COLUMN[key];
    const td = el("td", { role: "cell", class: `mn-c-${key}${key === "name" ? " wide" : ""}`, "data-label": c.label });
    if (key === "name") td.append(link);
    cells.set(key, td);
    tr.append(td);
  }
  return { tr, check, link, cells };
}

function fillCell(td, content) {
  const parts = (Array.isArray(content) ? content : [content]).filter((x) => x != null && x !== "");
  if (parts.every((p) => typeof p === "string")) {
    const text = parts.join("");
    if (td.childElementCount || td.textContent !== text) td.textContent = text;
  } else {
    td.replaceChildren(...parts);
  }
}

function updateRow(row, m) {
  const name = displayName(m);
  if (row.link.textContent !== name) row.link.textContent = name;
  row.link.setAttribute("aria-label", `${name}, details`);
  row.check.setAttribute("aria-label", `Select ${name} (${m.ip})`);
  row.check.checked = st.selected.has(m.ip);
  row.tr.classList.toggle("mn-down", m.status !== "online");
  row.tr.classList.toggle("mn-picked", row.check.checked);
  for (const [key, td] of row.cells) if (key !== "name") fillCell(td, COLUMN[key].cell(m));
}

function renderRows() {
  const all = [...st.miners.values()];
  st.shown = all.filter((m) => matches(m, st.filters)).sort(comparator(st.sort.key, st.sort.dir));
  // Miners the filter hides are no longer selected: an action only ever reaches rows in view.
  const shownIps = new Set(st.shown.map((m) => m.ip));
  for (const ip of [...st.selected]) if (!shownIps.has(ip)) st.selected.delete(ip);
  const body = $("mn-rows");
  let ref = body.firstElementChild;
  for (const m of st.shown) {
    let row = st.rows.get(m.ip);
    if (!row) { row = createRow(m.ip); st.rows.set(m.ip, row); }
    updateRow(row, m);
    // A row moves only when it is out of order, so a live update never steals focus.
    if (row.tr === ref) ref = ref.nextElementSibling;
    else body.insertBefore(row.tr, ref);
  }
  for (const [ip, row] of st.rows) {
    if (!shownIps.has(ip)) {
      row.tr.remove();
      if (!st.miners.has(ip)) st.rows.delete(ip);
    }
  }
  const total = st.miners.size, n = st.shown.length;
  const filtered = FILTERS.some((f) => st.filters[f]);
  setText("mn-count", !st.loaded ? "" : filtered ? `(${n} of ${total})` : `(${total})`);
  $("mn-empty").hidden = !st.loaded || n > 0;
  setText("mn-empty", total ? "No miner matches these filters." : "No miners yet: discover or add them on the Overview.");
  $("mn-wrap").hidden = n === 0;
  syncSelectAll();
}

function syncSelectAll() {
  const box = $("mn-all"), n = st.shown.length, picked = st.shown.filter((m) => st.selected.has(m.ip)).length;
  box.checked = n > 0 && picked === n;
  box.indeterminate = picked > 0 && picked < n;
  box.disabled = n === 0;
  setText("mn-all-label", `Select all ${n} shown`);
  bulk?.selectionChanged();
}

function onMiners(list) {
  if (!Array.isArray(list)) return;
  const seen = new Set();
  for (const m of list) {
    if (!m || typeof m.ip !== "string") continue;
    seen.add(m.ip);
    st.miners.set(m.ip, m);
  }
  for (const ip of [...st.miners.keys()]) if (!seen.has(ip)) { st.miners.delete(ip); st.selected.delete(ip); }
  st.loaded = true;
  refreshFilterOptions();
  renderRows();
  detailSnapshot(list);
}

function tickSeen() {
  tickDetail();
  if (!st.columns.includes("seen")) return;
  for (const m of st.shown) {
    const td = st.rows.get(m.ip)?.cells.get("seen");
    if (td) fillCell(td, fmtAgo(m.last_seen_ts));
  }
}

// ---------- selection, rows, export ----------

function onTableClick(ev) {
  const sortButton = ev.target.closest(".mn-sort-btn");
  if (sortButton) {
    const key = sortButton.dataset.key;
    sortBy(key, st.sort.key === key && st.sort.dir === "asc" ? "desc" : "asc");
    return;
  }
  const check = ev.target.closest("input.mn-check");
  if (check) {
    if (check.checked) st.selected.add(check.dataset.ip); else st.selected.delete(check.dataset.ip);
    check.closest("tr").classList.toggle("mn-picked", check.checked);
    syncSelectAll();
    return;
  }
  // The name's link opens the details here; with a modifier (new tab) the browser follows it.
  const link = ev.target.closest("a.mn-name");
  if (link) {
    if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    showDetail(link.closest("tr").dataset.ip);
    return;
  }
  // A click anywhere else on a row opens its details too (not while selecting text).
  const tr = ev.target.closest("tbody tr");
  if (!tr || ev.target.closest("a, button, input, label, select") || String(getSelection() || "")) return;
  if (ev.target.closest("td.mn-sel")) return; // a near miss of the checkbox is not a navigation
  showDetail(tr.dataset.ip);
}

function showDetail(ip) {
  if (st.miners.has(ip)) openDetail(ip, st.miners.get(ip));
}

// Back and Forward across the dialog's #miner= entry open or close it; the table follows the query.
function followHash() {
  const ip = hashMiner();
  if (ip) showDetail(ip); else closeDetail();
}

function selectAllShown() {
  const on = $("mn-all").checked;
  for (const m of st.shown) if (on) st.selected.add(m.ip); else st.selected.delete(m.ip);
  renderRows();
}

function exportCsv() {
  const columns = st.columns.map((k) => COLUMN[k]);
  download(toCsv(st.shown, columns), csvFilename());
}

// ---------- start ----------

function init() {
  const first = readUrl();
  st.filters = first.filters;
  st.sort = first.sort;
  st.columns = loadColumns();
  $("mn-sort").replaceChildren(...COLUMNS.map((c) => el("option", { value: c.key }, c.label)));
  renderColumnChooser();
  fillFilterForm();
  renderHead();

  $("mn-filters").addEventListener("submit", (ev) => { ev.preventDefault(); clearTimeout(textTimer); filtersChanged(true); });
  for (const name of ["family", "status", "tag"]) $(`mn-${name}`).addEventListener("change", () => filtersChanged(true));
  // Typing filters at once; the URL follows a moment later, one history entry per search.
  let typing = false;
  $("mn-q").addEventListener("input", () => {
    st.filters = formFilters();
    renderRows();
    clearTimeout(textTimer);
    textTimer = setTimeout(() => { writeUrl(!typing); typing = true; }, TEXT_PUSH_MS);
  });
  $("mn-q").addEventListener("blur", () => { typing = false; });
  $("mn-reset").addEventListener("click", (ev) => {
    ev.preventDefault();
    for (const name of FILTERS) $(`mn-${name}`).value = "";
    filtersChanged(true);
  });
  $("mn-sort").addEventListener("change", () => sortBy($("mn-sort").value, st.sort.dir));
  $("mn-dir").addEventListener("change", () => sortBy(st.sort.key, $("mn-dir").value === "desc" ? "desc" : "asc"));
  $("mn-cols-list").addEventListener("change", columnsChanged);
  $("mn-cols-default").addEventListener("click", () => {
    try { localStorage.removeItem(STORE_KEY); } catch { /* nothing stored */ }
    st.columns = loadColumns();
    renderColumnChooser();
    columnsChanged();
  });
  $("mn-table").addEventListener("click", onTableClick);
  $("mn-all").addEventListener("change", selectAllShown);
  $("mn-csv").addEventListener("click", exportCsv);
  window.addEventListener("popstate", () => { clearTimeout(textTimer); typing = false; applyUrl(); followHash(); });
  initDetail({ pushHistory: true });

  bulk = initBulk({ selected: () => st.shown.filter((m) => st.selected.has(m.ip)).map((m) => m.ip), miners: () => st.miners });
  initSession((yes) => bulk.setLoggedIn(yes));
  const feed = startLiveFeed(onMiners);
  feed.ready.then(followHash); // a link to /miners#miner=<ip> opens that miner once the list is in
  // After a bulk action the miners report their new state at the next poll round; ask once soon.
  document.addEventListener("miners-bulk", () => setTimeout(feed.refresh, 1500));
  setInterval(tickSeen, 1000);
}

init();
