// Settings -> Integrations: the MQTT/Home Assistant connection (state, broker, last publish,
// discovery prefix, last error), the re-publish button, and the Prometheus /metrics URL, from
// GET /api/integrations every 10 s while the tab is visible. Every API string is set as text.
// The Configuration and Security sections are settings_config.js's, started here once the login is known.

import { initSession } from "./session.js";
import { initConfig } from "./settings_config.js";
import { $, api, fmtAgo, isNum, reportError, setText, toast } from "./util.js";

const REFRESH_MS = 10_000;
let loggedIn = false;
let mqttActive = false;

function showMqtt(m) {
  const state = $("mqtt-state");
  const [text, cls] = !m.enabled ? ["off", "badge-muted"]
    : m.inactive_reason ? ["not publishing", "badge-warn"]
      : m.connected ? ["connected", "badge-ok"] : ["not connected", "badge-warn"];
  state.textContent = text;
  state.className = `badge ${cls}`;
  setText("mqtt-broker", m.host ? `${m.host}:${m.port}${m.tls ? " (TLS)" : ""}` : (m.inactive_reason || ""));
  const last = $("mqtt-last");
  last.textContent = isNum(m.last_publish_ts) ? fmtAgo(m.last_publish_ts) : "—";
  last.title = m.last_publish || "";
  setText("mqtt-prefix", m.discovery ? m.discovery_prefix : "off (mqtt.discovery: false)");
  setText("mqtt-base", m.base_topic ? `${m.base_topic}/…` : "—");
  setText("mqtt-commands", m.commands ? "accepted (anyone who can publish to the broker can command the miners)"
    : "off (read-only)");
  setText("mqtt-error", m.last_error || (m.inactive_reason && m.enabled ? m.inactive_reason : "—"));
  mqttActive = !!m.enabled && !m.inactive_reason;
  $("mqtt-republish").disabled = !(mqttActive && loggedIn);
  $("mqtt-login").hidden = loggedIn || !mqttActive;
}

async function refresh() {
  try {
    const body = await api("GET", "/api/integrations");
    $("int-error").hidden = true;
    setText("int-site", body.site);
    showMqtt(body.mqtt);
    const link = $("metrics-url");
    link.textContent = body.metrics.url;
    link.href = body.metrics.path;
    setText("metrics-auth", body.metrics.auth);
  } catch (e) {
    if (e.redirected) return;
    const box = $("int-error");
    box.textContent = `Integrations not loaded: ${e.message}`;
    box.hidden = false;
  }
}

$("mqtt-republish").addEventListener("click", async () => {
  try {
    await api("POST", "/api/integrations/mqtt/republish");
    toast("Discovery and states are being published again");
  } catch (e) { reportError("Re-publish failed", e); }
  refresh();
});

// The section index lists only the sections on show (the configuration and security need a login).
function syncIndex() {
  for (const link of document.querySelectorAll("#set-index a")) {
    const target = document.getElementById(link.hash.slice(1));
    link.parentElement.hidden = !target || target.closest("[hidden]") !== null;
  }
}

initSession((yes) => { loggedIn = yes; refresh(); initConfig(yes); syncIndex(); });
setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
