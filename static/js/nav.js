// The page links' phone menu (templates/_pages_nav.html, static/css/nav.css): the Menu button
// opens and closes the list (aria-expanded); Escape, a click or tap elsewhere, focus leaving the
// menu and following a link close it. Loaded by every page (templates/base.html); a page
// without the nav is left alone. Below 761 px only: wider screens show the links as a row.

const nav = document.querySelector(".pages-nav");
const button = document.getElementById("pages-menu-btn");

function setOpen(open, { focusButton = false } = {}) {
  nav.classList.toggle("open", open);
  button.setAttribute("aria-expanded", String(open));
  if (focusButton) button.focus();
}

function init() {
  if (!nav || !button) return;
  nav.classList.add("js-menu");
  button.hidden = false;
  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    setOpen(open);
    // The keyboard lands on the current page's link (or the first one), ready for Tab / Enter.
    if (open) (nav.querySelector('.pages-list a[aria-current="page"]') || nav.querySelector(".pages-list a"))?.focus();
  });
  nav.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && nav.classList.contains("open")) {
      ev.preventDefault();
      setOpen(false, { focusButton: true });
    }
  });
  // Tabbing past the last link (or clicking the page) leaves the menu: it closes behind.
  nav.addEventListener("focusout", (ev) => {
    if (nav.classList.contains("open") && ev.relatedTarget && !nav.contains(ev.relatedTarget)) setOpen(false);
  });
  document.addEventListener("click", (ev) => {
    if (nav.classList.contains("open") && !nav.contains(ev.target)) setOpen(false);
  });
  nav.querySelector(".pages-list").addEventListener("click", (ev) => {
    if (ev.target.closest("a")) setOpen(false);
  });
  // Back/forward from the bfcache restores the page as it was left: closed is what a user expects.
  window.addEventListener("pageshow", () => setOpen(false));
}

init();
