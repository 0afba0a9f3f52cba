/* Hosted checkout: after HTMX swaps a step in, move keyboard focus to where the customer goes
   on, instead of letting it fall back to <body> (keyboard and screen-reader users would start
   over from the top of the page): the first invalid field, else the step's alert (a decline, a
   payment under way), else the new step's heading. Alerts and step headings carry tabindex="-1"
   in checkout/checkout_page.html so that they can take focus. */
"use strict";

document.addEventListener("htmx:afterSettle", (event) => {
  const swapped = event.target;
  if (!(swapped instanceof Element) || !swapped.closest("#checkout-steps")) {
    return;
  }
  const next =
    swapped.querySelector('[aria-invalid="true"]') ||
    swapped.querySelector('[role="alert"][tabindex="-1"]') ||
    swapped.querySelector('.step-title[tabindex="-1"]');
  if (next) {
    next.focus();
  }
});
