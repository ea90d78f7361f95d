/* Meridian portal: behaviour shared by every page. No inline scripts (CSP), no build step. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    if (!window.htmx) { return; }
    // Refusals (403), conflicts (409) and invalid forms (422) carry a fragment that explains
    // what happened: swap it in like a success instead of dropping it.
    htmx.config.responseHandling.unshift({ code: "(403|409|422)", swap: true, error: false });
  });
  // Focus the first invalid field after a fragment swap so keyboard users land on the error.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.querySelector) { return; }
    var invalid = target.querySelector("[aria-invalid='true']");
    if (invalid) { invalid.focus(); return; }
    var autofocus = target.querySelector("[data-autofocus]");
    if (autofocus) { autofocus.focus(); }
  });
  // Buttons and links that confirm first: data-confirm="message" (works without htmx too).
  document.addEventListener("click", function (event) {
    var el = event.target.closest ? event.target.closest("[data-confirm]") : null;
    if (el && !el.hasAttribute("hx-confirm") && !window.confirm(el.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);
})();
