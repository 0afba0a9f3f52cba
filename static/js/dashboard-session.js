/* A checkout session's page in the dashboard.

   - "Copy" buttons (data-copy="<field id>", data-copy-status="<status id>") put the field's value
     on the clipboard and say so in the status line (a live region). They are rendered `hidden`
     and shown here: without JavaScript the link stays in its read-only field, to copy by hand.
     If the clipboard is refused, the field's text is selected for Ctrl+C / ⌘C instead.
   - After an action swaps the page in (HTMX), keyboard focus moves to its message, so keyboard
     and screen-reader users hear the outcome instead of falling back to <body>.
   A static file, loaded with `defer`: the CSP allows no inline script. */
"use strict";

(() => {
  const CONFIRMATION_MS = 2500;

  function revealCopyButtons(root) {
    for (const button of root.querySelectorAll("[data-copy][hidden]")) {
      button.hidden = false;
    }
  }

  async function copy(button) {
    const field = document.getElementById(button.dataset.copy);
    const status = document.getElementById(button.dataset.copyStatus);
    if (!field) {
      return;
    }
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    try {
      await navigator.clipboard.writeText(field.value);
      if (status) {
        status.textContent = "Copied to the clipboard.";
      }
      button.textContent = "Copied ✓";
      window.setTimeout(() => {
        button.textContent = label;
        if (status) {
          status.textContent = "";
        }
      }, CONFIRMATION_MS);
    } catch {
      field.focus();
      field.select();
      if (status) {
        status.textContent = "Press Ctrl+C (⌘C on a Mac) to copy the selected link.";
      }
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element && event.target.closest("[data-copy]");
    if (button) {
      copy(button);
    }
  });

  document.addEventListener("DOMContentLoaded", () => revealCopyButtons(document));
  // htmx:load fires for every piece of content htmx puts in the page.
  document.addEventListener("htmx:load", (event) => revealCopyButtons(event.target));

  document.addEventListener("htmx:afterSettle", () => {
    const message = document.querySelector("#session-detail .flash[tabindex='-1']");
    if (message && !message.contains(document.activeElement)) {
      message.focus();
    }
  });
})();
