/* Live Checkout sessions list: every 5 s, while the browser tab is visible, ask the poll URL
   that the list carries (data-poll-url on #results: the current tab, search and filters, the
   moment the list was drawn and a fingerprint of the sessions then). The server answers 204
   with no body when nothing changed (htmx swaps nothing), else the tabs and rows as they are
   now, which carry the next poll URL. Nothing polls while the tab is hidden; coming back polls
   at once. Without JavaScript the list is a plain page: reload to refresh. */
"use strict";

(() => {
  const INTERVAL_MS = 5000;
  let timer = null;

  function poll() {
    const results = document.getElementById("results");
    const url = results && results.dataset.pollUrl;
    if (!url || document.visibilityState !== "visible" || !window.htmx) {
      return;
    }
    if (document.querySelector(".htmx-request")) {
      return; // a tab, search or page is loading: its answer is newer than ours would be
    }
    // A refreshed list keeps keyboard focus where it was (the same tab or row link).
    const focused = document.activeElement;
    const href = results.contains(focused) ? focused.getAttribute("href") : null;
    window.htmx.ajax("GET", url, { target: "#results", swap: "outerHTML" }).then(() => {
      const again = href && document.querySelector(`#results [href="${CSS.escape(href)}"]`);
      if (again && again !== document.activeElement) {
        again.focus();
      }
    });
  }

  function start() {
    if (timer === null) {
      timer = window.setInterval(poll, INTERVAL_MS);
    }
  }

  function stop() {
    window.clearInterval(timer);
    timer = null;
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      poll();
      start();
    } else {
      stop();
    }
  });

  if (document.visibilityState === "visible") {
    start();
  }
})();
