// First run (templates/panels/welcome.html, docs/first-run.md): while no miner is known the overview
// opens with three one-step ways in: scan the network (POST /api/discover, the detected subnet
// pre-filled), add a miner by IP (POST /api/miners), and the battery source ("No battery" through
// PATCH /api/settings, or the Settings page). "I'll do this later" is kept in localStorage;
// /?welcome=1 forgets it.
//
// No fleet read or socket of its own: dashboard.js draws #cards and its "No miners yet" line
// (#miners-empty) from its first GET /api/miners and then from every /ws snapshot, and shows the top
// bar's login state in the same step; this module watches those. So the welcome appears only once the
// dashboard has seen an empty fleet, goes as soon as a snapshot brings a miner, and a page that is
// sent to the login page costs no extra request. Its own reads (the default subnet, the battery
// source) are made only when it shows.

import { $, api, isNum } from "./util.js";

const LATER_KEY = "minerfleet.welcome.later";
const SCAN_POLL_MS = 1000; // GET /api/discover while a scan runs (dashboard.js follows the socket's messages)
const SOURCE_TEXT = {
  none: "no battery",
  simulated: "simulated (a demo house, not real readings)",
  eg4: "the EG4 / Luxpower portal",
  homeassistant: "Home Assistant",
  http: "an HTTP JSON source",
  mqtt: "MQTT",
};
const RESTART_HINT = "It is used after a restart of the controller (sudo systemctl restart minerfleet).";

const st = {
  miners: null,        // how many miners are known (null until the first answer)
  loggedIn: false,
  scanJob: null,       // id of the scan this page follows
  scanTimer: null,
  lastResult: "",      // what this page's last step did: shown when the welcome gives way to the cards
};

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

function putOff() {
  try { return localStorage.getItem(LATER_KEY) === "1"; } catch { return false; } // private mode: not kept
}

function setPutOff(yes) {
  try {
    if (yes) localStorage.setItem(LATER_KEY, "1");
    else localStorage.removeItem(LATER_KEY);
  } catch { /* private mode: this visit only */ }
}

function result(id, text, kind = "ok") {
  const node = $(id);
  node.textContent = text;
  node.dataset.kind = kind;
}

// ---------- shown or not ----------

function render() {
  const box = $("welcome");
  const wasShown = !box.hidden;
  // A scan started here keeps the welcome (and its progress) until it ends, even once its first finds
  // are on the cards: then it says what it found and gives way.
  const scanning = wasShown && st.scanTimer !== null;
  const show = !putOff() && (st.miners === 0 || scanning);
  box.hidden = !show;
  if (show) $("welcome-outcome").hidden = true;
  else if (wasShown && st.miners > 0) showOutcome();
  if (show && !wasShown) loadDetails();
}

// What this page's step did, where the welcome was, once the cards are below (a step that worked).
function showOutcome() {
  if (!st.lastResult || putOff()) return;
  $("welcome-outcome-text").textContent = `${st.lastResult} Your miners are below.`;
  $("welcome-outcome").hidden = false;
}

// A step worked: its result in the step, and above the cards if they were drawn before the reply came.
function succeeded(id, text) {
  st.lastResult = text;
  result(id, text);
  if ($("welcome").hidden && st.miners > 0) showOutcome();
}

function showLogin(yes) {
  st.loggedIn = yes;
  $("welcome-login").hidden = yes;
  for (const id of ["welcome-scan-btn", "welcome-add-btn", "welcome-no-battery"]) {
    $(id).disabled = !yes || (id === "welcome-scan-btn" && st.scanTimer !== null);
  }
  if (yes && !$("welcome").hidden) loadBattery();
}

// ---------- step 1: scan ----------

function renderScan(job) {
  if (!job || typeof job !== "object") return;
  const running = job.state === "running";
  const total = isNum(job.total) ? job.total : 0, probed = isNum(job.probed) ? job.probed : 0;
  const found = Array.isArray(job.found) ? job.found.length : 0;
  const where = typeof job.subnet === "string" ? job.subnet : "the subnet";
  const bar = $("welcome-progress");
  bar.hidden = !running;
  bar.max = Math.max(total, 1);
  bar.value = Math.min(probed, bar.max);
  $("welcome-scan-btn").disabled = running || !st.loggedIn;
  $("welcome-scan-btn").textContent = running ? "Scanning…" : "Scan";
  if (running) {
    result("welcome-scan-result", `Scanning ${where}: ${probed} / ${total} asked, ${found} found so far…`, "busy");
  } else if (job.state === "failed") {
    result("welcome-scan-result", `The scan of ${where} failed: ${job.error || "unknown error"}`, "error");
  } else if (job.state === "done" && found > 0) {
    succeeded("welcome-scan-result", `Scanned ${where}: found ${plural(found, "miner", "miners")}.`);
  } else if (job.state === "done") {
    result("welcome-scan-result",
      `Scanned ${where}: no miner answered. Check the subnet (the one your miners' addresses are in), ` +
      "or add one by IP.", "error");
  }
}

function followScan(jobId) {
  st.scanJob = jobId;
  clearInterval(st.scanTimer);
  st.scanTimer = setInterval(async () => {
    let job;
    try { job = await api("GET", "/api/discover"); } catch { return; } // the next tick retries
    if (job?.job_id !== st.scanJob) return;
    renderScan(job);
    if (job.state !== "running") { clearInterval(st.scanTimer); st.scanTimer = null; render(); }
  }, SCAN_POLL_MS);
}

async function startScan(ev) {
  ev.preventDefault();
  const subnet = $("welcome-subnet").value.trim();
  $("welcome-scan-btn").disabled = true;
  try {
    const job = await api("POST", "/api/discover", subnet ? { subnet } : {});
    renderScan(job);
    followScan(job.job_id);
  } catch (e) {
    if (e.redirected) return;
    if (e.status === 409 && e.data?.job) { // someone else's scan: follow it rather than fail
      renderScan(e.data.job);
      followScan(e.data.job.job_id);
      return;
    }
    result("welcome-scan-result", `The scan did not start: ${e.message}`, "error");
    $("welcome-scan-btn").disabled = !st.loggedIn;
  }
}

function prefill(status) {
  if (!status || typeof status !== "object") return;
  const note = $("welcome-subnet-note");
  if (typeof status.default_subnet === "string" && status.default_subnet) {
    if (!$("welcome-subnet").value) $("welcome-subnet").value = status.default_subnet;
    note.textContent = status.subnet_detected
      ? "Detected from this controller's own network; change it if your miners are on another one."
      : "From network.subnet in the configuration (Settings).";
  } else {
    note.textContent = "This controller found no network of its own: type the range your miners are on.";
  }
  if (status.state === "running" && status.job_id) { renderScan(status); followScan(status.job_id); }
  else if (status.state === "done" || status.state === "failed") renderScan(status);
}

// ---------- step 2: add by IP ----------

async function addMiner(ev) {
  ev.preventDefault();
  const ip = $("welcome-ip").value.trim();
  if (!ip) { result("welcome-add-result", "Type the miner's IP address, such as 192.168.1.50.", "error"); return; }
  const button = $("welcome-add-btn");
  button.disabled = true; // the server detects the make and polls once: a few seconds
  result("welcome-add-result", `Asking ${ip} what it is…`, "busy");
  try {
    const m = await api("POST", "/api/miners", { ip });
    const what = [m?.family, m?.model].filter((s) => typeof s === "string" && s).join(" ");
    succeeded("welcome-add-result", `Added ${ip}${what ? ` (${what})` : ""}.`);
    $("welcome-ip").value = "";
  } catch (e) {
    if (!e.redirected) result("welcome-add-result", `${ip} was not added: ${e.message}`, "error");
  } finally {
    button.disabled = !st.loggedIn;
  }
}

// ---------- step 3: battery ----------

function sourceText(source) {
  return SOURCE_TEXT[source] || String(source);
}

async function loadBattery() {
  let settings;
  try { settings = await api("GET", "/api/settings"); } catch { return; } // the buttons still work
  const saved = settings?.values?.["battery.source"];
  if (typeof saved !== "string") return;
  const pending = Array.isArray(settings.restart_pending) && settings.restart_pending.includes("battery.source");
  const now = $("welcome-bat-now");
  now.textContent = `Saved source: ${sourceText(saved)}.${pending ? ` ${RESTART_HINT}` : ""}`;
  now.hidden = false;
}

async function noBattery() {
  const button = $("welcome-no-battery");
  button.disabled = true;
  try {
    const reply = await api("PATCH", "/api/settings", { "battery.source": "none" });
    const changed = Array.isArray(reply?.changed) && reply.changed.includes("battery.source");
    const restart = Array.isArray(reply?.restart_required) && reply.restart_required.includes("battery.source");
    const live = Array.isArray(reply?.applied) && reply.applied.includes("battery.source");
    result("welcome-bat-result", !changed ? "Already saved: no battery."
      : `Saved: no battery.${restart ? ` ${RESTART_HINT}` : live ? " In use now." : ""}`);
    loadBattery();
  } catch (e) {
    if (!e.redirected) result("welcome-bat-result", `Not saved: ${e.message}`, "error");
  } finally {
    button.disabled = !st.loggedIn;
  }
}

// ---------- start ----------

// The fleet as dashboard.js last drew it: 0 when it says "No miners yet", null before its first draw.
function readFleet() {
  const cards = $("cards").querySelectorAll(".card").length;
  st.miners = !$("miners-empty").hidden ? 0 : cards || null;
  render();
}

// What the welcome needs when it shows: the default subnet and, logged in, the saved battery source.
async function loadDetails() {
  if (st.loggedIn) loadBattery();
  try { prefill(await api("GET", "/api/discover")); } catch { /* the field keeps its placeholder */ }
}

function init() {
  if (new URLSearchParams(location.search).get("welcome") === "1") {
    setPutOff(false);
    history.replaceState(null, "", location.pathname + location.hash);
  }
  $("welcome-later").addEventListener("click", () => { setPutOff(true); render(); });
  $("welcome-outcome-close").addEventListener("click", () => { $("welcome-outcome").hidden = true; });
  $("welcome-scan").addEventListener("submit", startScan);
  $("welcome-add").addEventListener("submit", addMiner);
  $("welcome-no-battery").addEventListener("click", noBattery);
  // The top bar's Log out button is shown by dashboard.js once it knows the session (and hidden at a log out).
  const login = () => showLogin(!$("logout-btn").hidden);
  new MutationObserver(login).observe($("logout-btn"), { attributes: true, attributeFilter: ["hidden"] });
  const fleet = new MutationObserver(readFleet);
  fleet.observe($("cards"), { childList: true });
  fleet.observe($("miners-empty"), { attributes: true, attributeFilter: ["hidden"] });
  login();
  readFleet();
}

init();
