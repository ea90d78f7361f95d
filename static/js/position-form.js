/* Position and rule forms: show the boost or slot field only for the choice that uses it. */
(function () {
  "use strict";
  function refresh(root) {
    (root || document).querySelectorAll("form[data-dependent]").forEach(function (form) {
      var checked = form.querySelector("input[name='state']:checked, input[name='action']:checked");
      var value = checked ? checked.value : "";
      form.querySelectorAll("[data-show-for]").forEach(function (el) {
        var show = el.getAttribute("data-show-for").split(" ").indexOf(value) !== -1;
        el.hidden = !show;
        el.querySelectorAll("input").forEach(function (i) { i.disabled = !show; });
      });
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.name === "state" || event.target.name === "action") { refresh(); }
  });
  document.addEventListener("htmx:afterSwap", function () { refresh(); });
  document.addEventListener("DOMContentLoaded", function () { refresh(); });
})();
