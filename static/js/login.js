// Login form: posts JSON {"password"} to /login and returns to the dashboard.
// The session cookie is set by the server (web/auth.py); nothing is stored here.

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

function showError(message) {
  error.textContent = message;
  error.hidden = false;
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  error.hidden = true;
  try {
    const res = await fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ password: form.password.value }),
    });
    if (res.ok) {
      location.assign(nextPage());
      return;
    }
    let data = null;
    try { data = await res.json(); } catch { /* not JSON */ }
    const reason = data && typeof data.error === "string" && data.error
      ? data.error[0].toUpperCase() + data.error.slice(1) : null;
    if (res.status === 401) showError(reason || "Wrong password.");
    else if (res.status === 429) showError(reason || "Too many attempts; wait a minute and try again.");
    else showError(reason || `Login failed (HTTP ${res.status}).`);
    form.password.select();
  } catch {
    showError("The controller is not reachable.");
  } finally {
    button.disabled = false;
  }
});

/** Where to go after logging in: ?next= when it is a path on this site (never another host), else the dashboard. */
function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "";
  return next.startsWith("/") && !next.startsWith("//") && !next.includes("\\") ? next : "/";
}
