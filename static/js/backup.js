// Settings -> Backup & restore (templates/_backup.html, docs/backup.md).
// Download: a plain navigation to GET /api/backup[?secrets=1] so the browser streams the archive to
// disk (a fetch would hold all of it in memory). Restore: the chosen file is sent once with ?check=1
// (nothing changes; the reply says what the backup is), shown, and after a confirmation sent again
// for real. Undo: POST /api/restore/undo. Every string from the server is set as text.

import { $, api, fmtAgo, isNum, reportError, setText, toast } from "./util.js";

let loggedIn = false;
let checked = null; // {file, backup} of the last file that passed ?check=1
let busy = false;

function showError(message) {
  const box = $("bk-error");
  box.textContent = message || "";
  box.hidden = !message;
}

function fmtWhen(ts) {
  if (!isNum(ts)) return "—";
  return `${new Date(ts * 1000).toLocaleString()} (${fmtAgo(ts)})`;
}

function ask(title, text, okLabel) {
  const dlg = $("bk-confirm");
  if (typeof dlg.showModal !== "function") return Promise.resolve(window.confirm(`${title}\n\n${text}`));
  setText("bk-confirm-title", title);
  setText("bk-confirm-text", text);
  setText("bk-confirm-ok", okLabel);
  dlg.returnValue = "";
  dlg.showModal();
  return new Promise((resolve) => dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true }));
}

function setControls() {
  $("bk-login").hidden = loggedIn;
  $("bk-download").disabled = !loggedIn || busy;
  $("bk-file").disabled = !loggedIn || busy;
  $("bk-restore").disabled = !loggedIn || busy || !checked;
  $("bk-undo").disabled = !loggedIn || busy;
}

async function refreshStatus() {
  try {
    const s = await api("GET", "/api/restore/status");
    const undo = $("bk-undo");
    undo.hidden = !s.undo_available;
    if (s.undo_available) {
      const made = s.restored && s.restored.created_ts;
      setText("bk-undo-state", `The data from before the restore of ${fmtWhen(s.undo_ts)} is kept`
        + (isNum(made) ? ` (the backup restored then was made ${fmtWhen(made)}).` : "."));
    } else {
      setText("bk-undo-state", "No restore to undo.");
    }
  } catch (e) {
    if (!e.redirected) setText("bk-undo-state", `Status not loaded: ${e.message}`);
  }
}

// The archive as the raw body: no multipart encoding, streamed by the browser from the file.
async function sendArchive(file, query) {
  let res;
  try {
    res = await fetch(`/api/restore${query}`, {
      method: "POST", credentials: "same-origin", body: file,
      headers: { Accept: "application/json", "Content-Type": "application/gzip" },
    });
  } catch {
    throw new Error("the controller is not reachable");
  }
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) throw new Error((data && typeof data.error === "string" && data.error) || `HTTP ${res.status}`);
  return data;
}

function showFacts(b) {
  $("bk-facts").hidden = !b;
  if (!b) return;
  setText("bk-made", fmtWhen(b.created_ts));
  setText("bk-site", b.site || "—");
  setText("bk-miners", isNum(b.miners) ? String(b.miners) : "—");
  setText("bk-has-secrets", b.secrets_included ? "included" : "not included (this controller's are kept)");
  setText("bk-version", b.app_version || "unknown");
}

$("bk-secrets").addEventListener("change", () => {
  $("bk-secrets-warning").hidden = !$("bk-secrets").checked;
});

$("bk-download").addEventListener("click", () => {
  const link = document.createElement("a");
  link.href = $("bk-secrets").checked ? "/api/backup?secrets=1" : "/api/backup";
  link.download = "";
  document.body.append(link);
  link.click();
  link.remove();
  toast($("bk-secrets").checked ? "Backup with secrets is being downloaded: keep it safe" : "Backup is being downloaded");
});

$("bk-file").addEventListener("change", async () => {
  const file = $("bk-file").files[0];
  checked = null;
  showFacts(null);
  showError("");
  setControls();
  if (!file) return;
  busy = true;
  setControls();
  setText("bk-checking", `Checking ${file.name}…`);
  try {
    const reply = await sendArchive(file, "?check=1");
    checked = { file, backup: reply.backup };
    showFacts(reply.backup);
    setText("bk-checking", `${file.name} is a good backup. Nothing has changed yet.`);
  } catch (e) {
    setText("bk-checking", "");
    showError(`This file cannot be restored (nothing changed): ${e.message}`);
  } finally {
    busy = false;
    setControls();
  }
});

$("bk-restore").addEventListener("click", async () => {
  if (!checked) return;
  const { file, backup } = checked;
  const ok = await ask("Restore this backup?",
    `The database and config are replaced by those of the backup made ${fmtWhen(backup.created_ts)}`
    + ` (site ${backup.site}, ${backup.miners} miners). Everything recorded since is replaced;`
    + " the controller restarts. The current data is kept for one undo.", "Restore");
  if (!ok) return;
  busy = true;
  setControls();
  setText("bk-checking", "Restoring: checking, replacing and restarting the controller…");
  try {
    const reply = await sendArchive(file, "");
    toast(`Restored the backup made ${fmtWhen(reply.backup.created_ts)}; the controller restarted`);
    setText("bk-checking", (reply.backup.notes || []).join(". "));
    $("bk-file").value = "";
    checked = null;
    showFacts(null);
  } catch (e) {
    setText("bk-checking", "");
    showError(`Restore failed: ${e.message}`);
  } finally {
    busy = false;
    setControls();
    refreshStatus();
  }
});

$("bk-undo").addEventListener("click", async () => {
  const ok = await ask("Undo the last restore?",
    "The database and config from just before the restore come back, and the controller restarts."
    + " What was recorded since the restore is dropped.", "Undo restore");
  if (!ok) return;
  busy = true;
  setControls();
  try {
    await api("POST", "/api/restore/undo");
    setText("bk-checking", "");
    toast("Restore undone: the previous data is back");
  } catch (e) {
    reportError("Undo failed", e);
  } finally {
    busy = false;
    setControls();
    refreshStatus();
  }
});

async function init() {
  try {
    const res = await fetch("/api/session", { credentials: "same-origin", headers: { Accept: "application/json" } });
    loggedIn = res.ok && !!(await res.json()).logged_in;
  } catch { loggedIn = false; }
  setControls();
  refreshStatus();
}

// The top bar's "Log out" ends the session: the controls follow (settings.js owns the button).
$("logout-btn").addEventListener("click", () => { setTimeout(init, 500); });
init();
