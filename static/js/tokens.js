// API tokens page: copy the one-time secret. (Revoke buttons confirm through portal.js's data-confirm.)
(function () {
  "use strict";

  function copySecret(button) {
    var input = document.getElementById(button.getAttribute("data-copy-target"));
    var status = document.getElementById("token-copy-status");
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
      button.hidden = false; // only offered when this script runs; the field can always be selected by hand
      button.addEventListener("click", function () { copySecret(button); });
    });
    var secret = document.getElementById("token-secret");
    if (secret) {
      secret.addEventListener("focus", function () { secret.select(); });
    }
  });
})();
