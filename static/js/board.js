/* Content board: row selection, the bulk panel's dependent fields, market quick-filter. */
(function () {
  "use strict";

  function rowBoxes() {
    return Array.prototype.slice.call(document.querySelectorAll("input[name='item'][form='bulk-form']"));
  }

  function refreshSelection() {
    var boxes = rowBoxes();
    var chosen = boxes.filter(function (b) { return b.checked; }).length;
    var allMatching = document.querySelector("input[name='all_matching'][form='bulk-form']");
    var pageToggle = document.getElementById("select-page");
    var label = document.getElementById("selection-count");
    if (pageToggle) {
      pageToggle.checked = boxes.length > 0 && chosen === boxes.length;
      pageToggle.indeterminate = chosen > 0 && chosen < boxes.length;
    }
    boxes.forEach(function (b) { b.disabled = Boolean(allMatching && allMatching.checked); });
    if (label) {
      if (allMatching && allMatching.checked) {
        label.textContent = "All items matching the filter (up to " + allMatching.getAttribute("data-cap") + ")";
      } else {
        label.textContent = chosen === 0 ? "No item selected" : chosen + " selected on this page";
      }
    }
  }

  function refreshActionFields() {
    var form = document.getElementById("bulk-form");
    if (!form) { return; }
    var checked = form.querySelector("input[name='action']:checked");
    var action = checked ? checked.value : "";
    form.querySelectorAll("[data-show-for]").forEach(function (el) {
      var show = el.getAttribute("data-show-for").split(" ").indexOf(action) !== -1;
      el.hidden = !show;
      el.querySelectorAll("input").forEach(function (i) { i.disabled = !show; });
    });
  }

  function filterMarkets(event) {
    var term = event.target.value.trim().toUpperCase();
    document.querySelectorAll("#bulk-markets li, #bulk-markets label").forEach(function (el) {
      if (el.tagName === "LABEL" && el.closest("li")) { return; }
      el.hidden = term !== "" && el.textContent.toUpperCase().indexOf(term) === -1;
    });
  }

  document.addEventListener("change", function (event) {
    var t = event.target;
    if (t.id === "select-page") {
      rowBoxes().forEach(function (b) { b.checked = t.checked; });
    }
    if (t.name === "item" || t.id === "select-page" || t.name === "all_matching") { refreshSelection(); }
    if (t.name === "action") { refreshActionFields(); }
  });
  document.addEventListener("input", function (event) {
    if (event.target.id === "bulk-market-filter") { filterMarkets(event); }
  });
  document.addEventListener("click", function (event) {
    var btn = event.target.closest ? event.target.closest("[data-markets-select]") : null;
    if (!btn) { return; }
    var on = btn.getAttribute("data-markets-select") === "all";
    document.querySelectorAll("#bulk-markets input[type='checkbox']").forEach(function (b) {
      var hiddenRow = b.closest("li") && b.closest("li").hidden;
      if (!hiddenRow) { b.checked = on; }
    });
  });
  // After a bulk change, reload the visible page of the board so the badges are current.
  document.body.addEventListener("board-changed", function () {
    if (window.htmx && document.getElementById("board-results")) {
      // The source must be the results themselves: htmx marks the source as in flight, and a
      // body-wide mark would light up every loading indicator on the page.
      htmx.ajax("GET", window.location.href, { source: "#board-results", target: "#board-results" });
    }
  });
  // The panel acts on the board's market: when the results come back for another market, tick
  // that one instead (a refresh of the same market keeps whatever the editor ticked).
  var boardMarket = null;
  function followBoardMarket() {
    var results = document.querySelector("#board-results [data-board-market]");
    if (!results) { return; }
    var code = results.getAttribute("data-board-market");
    if (boardMarket !== null && code !== boardMarket) {
      document.querySelectorAll("#bulk-markets input[name='markets']").forEach(function (b) {
        b.checked = b.value === code;
      });
    }
    boardMarket = code;
  }
  document.addEventListener("htmx:afterSwap", function () { followBoardMarket(); refreshSelection(); refreshActionFields(); });
  document.addEventListener("DOMContentLoaded", function () { followBoardMarket(); refreshSelection(); refreshActionFields(); });
})();
