// The fleet's live feed of the overview and the Miners page: one GET /api/miners at the start,
// then the /ws snapshots (docs/contracts.md), and REST polling every 10 s while the socket is
// down, reconnecting with a doubling backoff. The top bar's #live indicator shows which.

import { $, api, conn, noteServerTime, reportError } from "./util.js";

const POLL_MS = 10_000;        // REST polling while the WebSocket is down
const PING_MS = 20_000;        // keeps proxies and the server from idling the socket out
const MAX_BACKOFF_MS = 30_000;

/**
 * Start the feed; onMiners(list, snapshot) runs with every miner list: GET /api/miners, or a /ws
 * snapshot (then with the whole message). Options (the overview): read, an async REST read that
 * replaces GET /api/miners (the feed reports its failure); onMessage(msg), the /ws messages other
 * than snapshots, alerts and errors; first: false when the page made its own first read.
 * Returns {refresh, ready}: a REST read now, and a promise settled once the socket is being opened.
 */
export function startLiveFeed(onMiners, { read = null, onMessage = null, first = true } = {}) {
  let ws = null, pollTimer = null, backoffMs = 1000;

  const setLive = (mode) => {
    conn.live = mode === "live";
    const box = $("live");
    if (!box) return;
    box.dataset.state = mode;
    box.querySelector(".live-text").textContent =
      { live: "live", reconnecting: "reconnecting… (polling)", connecting: "connecting…" }[mode];
  };

  const refresh = async () => {
    try {
      if (read) await read(); else onMiners(await api("GET", "/api/miners"));
    } catch (e) { reportError("Refresh failed", e); }
  };

  // Only a snapshot proves the socket works: one that opens and closes at once
  // (server restarting, login needed) must not stop polling or reset the backoff.
  const socketWorks = () => {
    setLive("live");
    backoffMs = 1000;
    clearInterval(pollTimer);
    pollTimer = null;
  };

  const handle = (raw) => {
    if (raw === "pong") return;
    let msg;
    try { msg = JSON.parse(raw); } catch { return; }
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "snapshot") {
      if (!conn.live) socketWorks();
      noteServerTime(msg.stats?.updated_ts); // sent right after a poll round: "now" on the server
      onMiners(msg.miners, msg);
    } else if (msg.type === "alerts") {
      // The bell (alerts.js) refreshes on these instead of waiting for its next poll.
      document.dispatchEvent(new CustomEvent("alerts-message", { detail: msg }));
    } else if (msg.type === "error") {
      refresh(); // the socket refused us (login needed for reads): REST says where to go
    } else if (onMessage) {
      onMessage(msg);
    }
  };

  const connect = () => {
    const sock = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
    let pinger = null;
    ws = sock;
    sock.addEventListener("open", () => {
      pinger = setInterval(() => { if (sock.readyState === WebSocket.OPEN) sock.send("ping"); }, PING_MS);
    });
    sock.addEventListener("message", (ev) => handle(ev.data));
    // "error" is always followed by "close", so close alone drives the reconnect.
    sock.addEventListener("close", () => {
      clearInterval(pinger);
      if (ws !== sock) return;
      ws = null;
      setLive("reconnecting");
      if (!pollTimer) pollTimer = setInterval(refresh, POLL_MS);
      const delay = backoffMs;
      backoffMs = Math.min(delay * 2, MAX_BACKOFF_MS);
      setTimeout(connect, delay);
    });
  };

  setLive("connecting");
  const ready = (first ? refresh() : Promise.resolve()).finally(() => { conn.started = true; connect(); });
  return { refresh, ready };
}
