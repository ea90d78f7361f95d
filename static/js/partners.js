// Partners area: the one-time secret dialog is modal (copying is copy-secret.js's job).
(function () {
  "use strict";

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
  });
})();
