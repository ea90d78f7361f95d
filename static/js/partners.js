// Partners area: the one-time secret dialog (modal, with a copy-to-clipboard button).
(function () {
  "use strict";

  function copySecret(button, status) {
    var input = document.getElementById(button.getAttribute("data-copy-target"));
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
    var dialog = document.querySelector("dialog[data-one-time-secret]");
    if (!dialog) { return; }
    // Rendered open so it works without JavaScript; reopened as a modal to keep focus inside it.
    if (typeof dialog.showModal === "function") {
      dialog.close();
      dialog.showModal();
    }
    // Escape would close the dialog with the secret still uncopied: keep it until "I have stored it".
    dialog.addEventListener("cancel", function (event) { event.preventDefault(); });
    var status = dialog.querySelector("[data-copy-status]");
    dialog.querySelectorAll("[data-copy-target]").forEach(function (button) {
      button.hidden = false; // offered only when this script runs; the field can always be selected by hand
      button.addEventListener("click", function () { copySecret(button, status); });
    });
    var input = dialog.querySelector("input[readonly]");
    if (input) {
      input.addEventListener("focus", function () { input.select(); });
    }
  });
})();
