// The error window (templates/_alerts.html): the top bar's bell with the number of
// unacknowledged problems, and the dialog that lists them with since-when, Clear per
// item and Clear all, a per-kind Mute / Unmute, the notification channels and Send test.
// Data: GET /api/alerts and /api/alerts/status; writes POST /api/alerts/... (login).
// Refreshed on every /ws message of type "alerts" where the page has the socket (the
// fleet page forwards them as an "alerts-message" event), else every 15 s, and after
// each action. Every API string is set as text.

import { $, api, conn, el, fmtAgo, isNum, rehomeToasts, reportError, setText, toast } from "./util.js";

const POLL_MS = 15_000;
const SEVERITIES = ["critical", "warning", "info"];
const MUTE_CHOICES = [[60, "1 h"], [480, "8 h"], [1440, "24 h"], [null, "until unmuted"]];

const st = { alerts: [], status: null, seq: 0, busy: false, loggedIn: false, wasLive: false, shown: "" };

const text = (v) => (typeof v === "string" && v.trim() ? v.trim() : null);
const sevOf = (a) => (SEVERITIES.includes(a?.severity) ? a.severity : "info");
const kindLabel = (kind) => text(st.status?.kinds?.[kind]?.label) || String(kind).replace(/_/g, " ");

// ---------- loading ----------

async function refresh() {
  const seq = ++st.seq;
  const [alerts, status] = await Promise.allSettled([api("GET", "/api/alerts"), api("GET", "/api/alerts/status")]);
  if (seq !== st.seq) return; // an action's refresh overtook this one
  const failed = [alerts, status].find((r) => r.status === "rejected");
  if (failed && failed.reason.redirected) return;
  if (alerts.status === "fulfilled") st.alerts = Array.isArray(alerts.value) ? alerts.value.filter((a) => a && typeof a === "object") : [];
  if (status.status === "fulfilled" && status.value && typeof status.value === "object") st.status = status.value;
  setText("alerts-error", failed ? `Problems could not load: ${failed.reason.message}` : "");
  $("alerts-error").hidden = !failed;
  render();
}

// ---------- the bell ----------

function unacked() { return st.alerts.filter((a) => !a.acknowledged); }

function renderBell() {
  const n = isNum(st.status?.count) ? st.status.count : unacked().length;
  const worst = SEVERITIES.find((s) => unacked().some((a) => sevOf(a) === s)) || (n ? "warning" : "none");
  const btn = $("alerts-btn");
  btn.dataset.level = n ? worst : "none";
  $("alerts-count").hidden = !n;
  setText("alerts-count", n > 99 ? "99+" : String(n));
  btn.setAttribute("aria-label", n ? `Problems: ${n} not cleared` : "Problems: none");
  btn.title = n ? `${n} problem${n === 1 ? "" : "s"} not cleared` : "No problems";
}

// ---------- the dialog ----------

function exactTime(a) {
  const ts = isNum(a.since_ts) ? a.since_ts : Date.parse(a.since) / 1000;
  return Number.isFinite(ts) ? ts : null;
}

function minerLink(a) {
  const ip = text(a.miner);
  if (!ip) return null;
  const name = text(a.miner_name);
  return el("a", { href: `/#miner=${encodeURIComponent(ip)}`, class: "alert-miner" }, name ? `${name} (${ip})` : ip);
}

function muteMenu(kind) {
  const muted = st.status?.muted && kind in st.status.muted;
  if (muted) {
    return el("button", { type: "button", class: "btn btn-small", onclick: () => unmute(kind),
      "aria-label": `Unmute ${kindLabel(kind)}` }, "Unmute");
  }
  // <details>: opens with Enter or Space on its summary, closes with a second press or a choice.
  const menu = el("details", { class: "mute-menu" },
    el("summary", { class: "btn btn-small", "aria-label": `Mute ${kindLabel(kind)}` }, "Mute"),
    el("div", { class: "mute-pop", role: "group", "aria-label": `Mute ${kindLabel(kind)} for` },
      ...MUTE_CHOICES.map(([minutes, label]) => el("button", { type: "button", class: "btn btn-small",
        onclick: () => { menu.open = false; mute(kind, minutes); } }, label))));
  return menu;
}

function item(a) {
  const sev = sevOf(a);
  const ts = exactTime(a);
  const title = text(a.title) || kindLabel(a.kind);
  const message = text(a.message);
  const kind = text(a.kind);
  const since = ts === null ? null : el("time", { datetime: new Date(ts * 1000).toISOString(),
    title: new Date(ts * 1000).toLocaleString(), "data-ts": String(ts) }, fmtAgo(ts));
  const actions = [];
  if (st.loggedIn) {
    if (!a.acknowledged) {
      actions.push(el("button", { type: "button", class: "btn btn-small", onclick: () => ack(a.id),
        "aria-label": `Clear: ${title}${text(a.miner) ? ` (${a.miner})` : ""}` }, "Clear"));
    }
    if (kind) actions.push(muteMenu(kind));
  }
  const mutedUntil = kind && st.status?.muted && kind in st.status.muted ? st.status.muted[kind] : undefined;
  return el("li", { class: `alert-item${a.acknowledged ? " alert-acked" : ""}`, "data-severity": sev, "data-id": String(a.id ?? "") },
    el("div", { class: "alert-top" },
      el("span", { class: `sev sev-${sev}` }, sev),
      el("strong", { class: "alert-title" }, title),
      a.acknowledged ? el("span", { class: "state-chip" }, "cleared") : null),
    message && message !== title ? el("p", { class: "alert-msg" }, message) : null,
    el("p", { class: "alert-meta small muted" },
      ...joinDots([minerLink(a), since ? el("span", {}, "since ", since) : null,
        mutedUntil !== undefined ? `muted ${mutedUntil === null ? "until unmuted" : `until ${clock(mutedUntil)}`}` : null,
        a.notified ? "notified" : null])),
    actions.length ? el("div", { class: "alert-actions" }, ...actions) : null);
}

function joinDots(parts) {
  const out = [];
  for (const p of parts.filter(Boolean)) out.push(...(out.length ? [" · ", p] : [p]));
  return out;
}

function clock(ts) {
  if (!isNum(ts)) return "—";
  const d = new Date(ts * 1000);
  const today = d.toDateString() === new Date().toDateString();
  return today ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function renderList() {
  const showCleared = $("alerts-show-cleared").checked;
  const shown = st.alerts.filter((a) => showCleared || !a.acknowledged);
  const open = unacked().length, cleared = st.alerts.length - open;
  $("alerts-list").replaceChildren(...shown.map(item));
  $("alerts-empty").hidden = shown.length > 0;
  setText("alerts-empty", cleared && !showCleared ? `No problems to clear (${cleared} cleared).` : "No current problems.");
  setText("alerts-summary", open ? `${open} not cleared` : "all clear");
  $("alerts-clear-all").hidden = !st.loggedIn || open === 0;
  $("alerts-login").hidden = st.loggedIn;
}

// The server sends each channel's label under "url" ("ntfy · ntfy.sh", "Telegram"), never the URL itself.
function channelUrl(url) {
  return el("span", { class: "channel-url" }, text(url) || "?");
}

function renderChannels() {
  const s = st.status || {};
  const channels = Array.isArray(s.channels) ? s.channels.filter((c) => c && typeof c === "object") : [];
  $("alerts-channels").replaceChildren(...(channels.length ? channels.map((c) => {
    const state = c.ok === true ? "ok" : c.ok === false ? "bad" : "none";
    const what = c.ok === true ? "working" : c.ok === false
      ? `failing${isNum(c.failing_since) ? ` since ${clock(c.failing_since)}` : ""}` : "not used yet";
    return el("li", { class: "channel", "data-state": state },
      channelUrl(c.url), el("span", { class: "channel-state" }, what),
      text(c.last_error) && c.ok === false ? el("span", { class: "channel-err small" }, text(c.last_error)) : null);
  }) : [el("li", { class: "muted small" },
    "No notification channel: problems show here only. Add one under Settings → Alerts → Alert channels.")]));
  const quiet = text(s.quiet_hours);
  $("alerts-quiet").hidden = !quiet;
  setText("alerts-quiet", quiet ? `Quiet hours ${quiet}: only critical alerts are sent then${s.quiet_now ? " (quiet now)" : ""}.` : "");
  $("alerts-test").hidden = !st.loggedIn || !channels.length;
}

function renderMuted() {
  const s = st.status || {};
  const muted = s.muted && typeof s.muted === "object" ? Object.entries(s.muted) : [];
  $("alerts-muted").replaceChildren(...(muted.length ? muted.map(([kind, until]) => el("li", { class: "muted-row" },
    el("span", {}, el("strong", {}, kindLabel(kind)), ` ${until === null ? "until unmuted" : `until ${clock(until)}`}`),
    st.loggedIn ? el("button", { type: "button", class: "btn btn-small", onclick: () => unmute(kind),
      "aria-label": `Unmute ${kindLabel(kind)}` }, "Unmute") : null))
    : [el("li", { class: "muted small" }, "Nothing muted.")]));
  const kinds = s.kinds && typeof s.kinds === "object" ? Object.keys(s.kinds).filter((k) => !(s.muted && k in s.muted)) : [];
  const select = $("alerts-mute-kind"), chosen = select.value;
  select.replaceChildren(...kinds.sort((a, b) => kindLabel(a).localeCompare(kindLabel(b)))
    .map((k) => el("option", { value: k }, kindLabel(k))));
  if (kinds.includes(chosen)) select.value = chosen;
  $("alerts-mute-form").hidden = !st.loggedIn || !kinds.length;
}

function render() {
  renderBell();
  const dlg = $("alerts-dlg");
  if (!dlg.open) { st.shown = ""; return; }
  // A rebuild closes an open Mute menu and moves focus: only when something changed.
  const key = JSON.stringify([st.alerts, st.status, st.loggedIn, $("alerts-show-cleared").checked]);
  if (key === st.shown) return;
  st.shown = key;
  const focusedId = document.activeElement?.closest?.(".alert-item")?.dataset.id;
  renderList();
  renderChannels();
  renderMuted();
  if (focusedId !== undefined) {
    const sel = `.alert-item[data-id="${CSS.escape(focusedId)}"]`;
    $("alerts-list").querySelector(`${sel} button, ${sel} summary`)?.focus();
  }
  // The focused control went with its item (cleared): keep the keyboard in the dialog.
  if (!dlg.contains(document.activeElement)) $("alerts-close").focus();
}

// ---------- actions ----------

async function act(what, fn) {
  if (st.busy) return;
  st.busy = true;
  try { return await fn(); } catch (e) { reportError(what, e); } finally {
    st.busy = false;
    await refresh();
  }
}

const ack = (id) => act("Clear failed", () => api("POST", `/api/alerts/${encodeURIComponent(id)}/ack`));

function ackAll() {
  return act("Clear all failed", async () => {
    const r = await api("POST", "/api/alerts/ack-all");
    toast(`Cleared ${isNum(r?.acknowledged) ? r.acknowledged : "all"}`);
    $("alerts-close").focus(); // the buttons that had focus are gone
  });
}

const mute = (kind, minutes) => act("Mute failed", async () => {
  await api("POST", "/api/alerts/mute", { kind, minutes });
  toast(`${kindLabel(kind)} muted ${minutes === null ? "until unmuted" : `for ${MUTE_CHOICES.find(([m]) => m === minutes)?.[1] || `${minutes} min`}`}`);
});

const unmute = (kind) => act("Unmute failed", async () => {
  await api("POST", "/api/alerts/mute", { kind, unmute: true });
  toast(`${kindLabel(kind)} unmuted`);
});

async function sendTest() {
  const btn = $("alerts-test");
  btn.disabled = true;
  $("alerts-test-results").replaceChildren(el("li", { class: "muted small" }, "Sending…"));
  try {
    const r = await api("POST", "/api/alerts/test");
    const results = Array.isArray(r?.results) ? r.results.filter((x) => x && typeof x === "object") : [];
    $("alerts-test-results").replaceChildren(...results.map((x) => el("li", { class: "channel", "data-state": x.ok ? "ok" : "bad" },
      channelUrl(x.url), el("span", { class: "channel-state" }, x.ok ? "sent" : "failed"),
      !x.ok && text(x.error) ? el("span", { class: "channel-err small" }, text(x.error)) : null)));
  } catch (e) {
    if (e.redirected) return;
    // 409: no alerts.urls configured; the server's sentence says so.
    $("alerts-test-results").replaceChildren(el("li", { class: "channel", "data-state": "bad" },
      el("span", { class: "channel-state" }, `Test not sent: ${e.message}`)));
  } finally {
    btn.disabled = false;
    refresh();
  }
}

// ---------- wiring ----------

function openDialog() {
  const dlg = $("alerts-dlg");
  if (dlg.open) return;
  dlg.showModal();
  rehomeToasts();
  render();
  refresh();
}

// Logged in = the account corner shows "Log out" (session.js and dashboard.js keep it current).
function watchLogin() {
  const btn = $("logout-btn");
  if (!btn) return;
  const update = () => {
    const yes = !btn.hidden;
    if (yes === st.loggedIn) return;
    st.loggedIn = yes;
    render();
  };
  new MutationObserver(update).observe(btn, { attributes: true, attributeFilter: ["hidden"] });
  update();
}

function tick() {
  if (document.visibilityState !== "visible") return;
  // With the fleet page's socket live, its "alerts" messages drive the refresh; after it was down, catch up once.
  if (conn.live && st.wasLive) return;
  st.wasLive = conn.live;
  refresh();
}

function init() {
  const dlg = $("alerts-dlg");
  $("alerts-btn").addEventListener("click", openDialog);
  $("alerts-close").addEventListener("click", () => dlg.close());
  // A click on the backdrop (outside the dialog's box) closes it, as Esc does.
  dlg.addEventListener("click", (ev) => {
    if (ev.target !== dlg) return;
    const r = dlg.getBoundingClientRect();
    if (ev.clientX < r.left || ev.clientX > r.right || ev.clientY < r.top || ev.clientY > r.bottom) dlg.close();
  });
  dlg.addEventListener("close", rehomeToasts);
  $("alerts-show-cleared").addEventListener("change", render);
  $("alerts-clear-all").addEventListener("click", ackAll);
  $("alerts-test").addEventListener("click", sendTest);
  $("alerts-mute-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const kind = $("alerts-mute-kind").value, minutes = $("alerts-mute-for").value;
    if (kind) mute(kind, minutes ? Number(minutes) : null);
  });
  document.addEventListener("alerts-message", (ev) => {
    const n = ev.detail?.count;
    if (isNum(n) && st.status) { st.status.count = n; renderBell(); } // at once; the lists follow
    refresh();
  });
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") refresh(); });
  setInterval(() => { if ($("alerts-dlg").open) for (const t of $("alerts-list").querySelectorAll("time[data-ts]")) t.textContent = fmtAgo(Number(t.dataset.ts)); }, 30_000);
  watchLogin();
  refresh();
  setInterval(tick, POLL_MS);
}

init();
