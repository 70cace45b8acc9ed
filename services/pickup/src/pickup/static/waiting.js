// The waiting page asks for the case's state now and then and reloads only when it changed
// (identity approved, rejected, more documents needed). No inline script: the CSP allows
// 'self' only; and no <meta refresh>, which would reload under a screen reader's feet.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var box = document.querySelector("[data-case-state]");
  if (!box || !window.fetch) { return; }
  var seconds = parseInt(box.getAttribute("data-refresh-seconds"), 10) || 15;
  var known = box.getAttribute("data-case-state");
  function check() {
    fetch(box.getAttribute("data-state-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (answer && answer.state !== known) { window.location.reload(); return; }
        window.setTimeout(check, seconds * 1000);
      })
      .catch(function () { window.setTimeout(check, seconds * 1000); });
  }
  window.setTimeout(check, seconds * 1000);
});
