// The login state of the Automation and Energy pages: the top bar's "Log in" link
// and "Log out" button (GET /api/session, POST /logout). The fleet page keeps its own
// copy in dashboard.js, wired into its panels.

import { $, api, reportError, toast } from "./util.js";

/** Show the login link or the logout button; call onChange(loggedIn) now and after a logout. */
export async function initSession(onChange = () => {}) {
  const show = (yes) => {
    $("login-link").hidden = yes;
    $("logout-btn").hidden = !yes;
    onChange(yes);
  };
  $("logout-btn").addEventListener("click", async () => {
    try {
      await api("POST", "/logout");
      show(false);
      toast("Logged out");
    } catch (e) { reportError("Log out failed", e); }
  });
  let yes = false;
  try { yes = !!(await api("GET", "/api/session"))?.logged_in; } catch (e) { if (!e.redirected) yes = false; }
  show(yes);
  return yes;
}
