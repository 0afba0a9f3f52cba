/* The dashboard's forms (payment links, API keys).

   Focus after an HTMX swap: a form that comes back with errors puts keyboard focus on its first
   invalid field (else its alert), a new API key on its heading, so keyboard and screen-reader
   users go on from there instead of from the top of the page.

   Copy buttons: <button data-copy="field-id" hidden> copies that read-only field's value to
   the clipboard and says so in the status element beside it. Without JavaScript the buttons
   stay hidden and the read-only field is there to select and copy by hand; where the
   clipboard is refused (an insecure origin, a denied permission) the field's text is selected
   and the status says how to copy it. */
"use strict";

function revealCopyButtons(root) {
  for (const button of root.querySelectorAll("button[data-copy][hidden]")) {
    button.hidden = false;
  }
}

function say(button, text) {
  const status = button.parentElement.querySelector(".copy-status");
  if (status) {
    status.textContent = text;
    clearTimeout(status.copyTimer);
    status.copyTimer = setTimeout(() => { status.textContent = ""; }, 4000);
  }
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) {
    return;
  }
  const field = document.getElementById(button.dataset.copy);
  if (!field) {
    return;
  }
  try {
    await navigator.clipboard.writeText(field.value);
    say(button, "Copied");
  } catch {
    field.focus();
    field.select();
    say(button, "Selected: press Ctrl+C (⌘C) to copy");
  }
});

document.addEventListener("DOMContentLoaded", () => revealCopyButtons(document));
document.addEventListener("htmx:load", (event) => revealCopyButtons(event.target));

document.addEventListener("htmx:afterSettle", (event) => {
  const swapped = event.target;
  if (!(swapped instanceof Element) || !swapped.matches("#link-form, #api-keys, #link-page")) {
    return;
  }
  const next =
    swapped.querySelector('[aria-invalid="true"]') ||
    swapped.querySelector('[role="alert"][tabindex="-1"]') ||
    swapped.querySelector('h2[tabindex="-1"]') ||
    swapped.querySelector('[role="status"][tabindex="-1"]');
  if (next) {
    next.focus();
  }
});
