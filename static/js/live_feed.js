// The fleet's live feed for pages other than the overview: one GET /api/miners at the start,
// then the /ws snapshots (docs/contracts.md), and REST polling every 10 s while the socket is
// down, with the reconnect backoff of dashboard.js. The top bar's #live indicator shows which.

import { $, api, conn, noteServerTime, reportError } from "./util.js";

const POLL_MS = 10_000;        // REST polling while the WebSocket is down
const PING_MS = 20_000;        // keeps proxies and the server from idling the socket out
const MAX_BACKOFF_MS = 30_000;

/** Start the feed; onMiners(list) runs with every miner list (REST or a /ws snapshot). */
export function startLiveFeed(onMiners) {
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
    try { onMiners(await api("GET", "/api/miners")); } catch (e) { reportError("Refresh failed", e); }
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
      noteServerTime(msg.stats?.updated_ts);
      onMiners(msg.miners);
    } else if (msg.type === "alerts") {
      // The bell (alerts.js) refreshes on these instead of waiting for its next poll.
      document.dispatchEvent(new CustomEvent("alerts-message", { detail: msg }));
    } else if (msg.type === "error") {
      refresh(); // the socket refused us (login needed for reads): REST says where to go
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
  const first = refresh().finally(() => { conn.started = true; connect(); });
  return { refresh, ready: first };
}
