/* Checkout settings: after HTMX swaps a section in (saved settings, a revealed or rotated
   secret, a test callback's answer, a redelivery, a page of deliveries), move keyboard focus
   into it instead of letting it fall back to <body>: the first invalid field, else the
   section's notice or test callback answer, else its heading. Notices and headings carry
   tabindex="-1" in dashboard/settings.html so that they can take focus. */
"use strict";

document.addEventListener("htmx:afterSettle", (event) => {
  const swapped = event.target;
  if (!(swapped instanceof Element) || !swapped.matches(".settings-panel")) {
    return;
  }
  if (swapped.getAttribute("hx-swap-oob")) {
    return; // swapped beside the section acted on (the activity list): focus stays there
  }
  const next =
    swapped.querySelector('[aria-invalid="true"]') ||
    swapped.querySelector('.notice[tabindex="-1"], .callback-result[tabindex="-1"]') ||
    swapped.querySelector('h2[tabindex="-1"]');
  if (next) {
    next.focus();
  }
});
