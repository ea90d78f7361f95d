// One-time secrets (API tokens, partner keys): a Copy button for any `[data-copy-target]` (the id
// of the read-only field), its result spoken in the page's `[data-copy-status]` element.
(function () {
  "use strict";

  function copySecret(button) {
    var input = document.getElementById(button.getAttribute("data-copy-target"));
    var status = document.querySelector("[data-copy-status]");
    if (!input) { return; }
    function done(message) { if (status) { status.textContent = message; } }
    function fallback() {
      input.focus();
      input.select();
      try {
        done(document.execCommand("copy") ? "Copied to the clipboard." : "Press Ctrl+C (⌘C) to copy.");
      } catch (e) {
        done("Press Ctrl+C (⌘C) to copy.");
      }
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () { done("Copied to the clipboard."); }, fallback);
    } else {
      fallback();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-copy-target]").forEach(function (button) {
      button.hidden = false; // offered only when this script runs; the field can always be selected by hand
      button.addEventListener("click", function () { copySecret(button); });
      var input = document.getElementById(button.getAttribute("data-copy-target"));
      if (input) {
        input.addEventListener("focus", function () { input.select(); });
      }
    });
  });
})();
