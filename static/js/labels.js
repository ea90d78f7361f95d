/* Label review keyboard shortcuts. No inline handlers: everything is wired here.
 *
 * Review page: j / k next / previous label, a approve, r reject, n next image; after a
 * decision the next pending label gets the focus, and when none is left the next image opens
 * (auto-advance, remembered in localStorage).
 * Queue page: j / k move between images, x selects the focused image, Enter opens it.
 */
(function () {
  "use strict";

  function typing(event) {
    var el = event.target;
    if (event.altKey || event.ctrlKey || event.metaKey) return true;
    if (!el || !el.tagName) return false;
    var tag = el.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || el.isContentEditable;
  }

  function moveFocus(items, current, delta) {
    if (!items.length) return null;
    var index = items.indexOf(current);
    var next = index === -1 ? (delta > 0 ? 0 : items.length - 1) : Math.min(items.length - 1, Math.max(0, index + delta));
    items[next].focus();
    return items[next];
  }

  /* ---- review page ---------------------------------------------------------------------- */
  function initReview(table) {
    var autoBox = document.getElementById("auto-advance");
    var storageKey = "meridian.labels.autoAdvance";
    var lastDecided = null;
    var advancing = false;

    if (autoBox) {
      try {
        var saved = window.localStorage.getItem(storageKey);
        if (saved !== null) autoBox.checked = saved === "1";
      } catch (e) { /* storage may be unavailable; keep the default */ }
      autoBox.addEventListener("change", function () {
        try { window.localStorage.setItem(storageKey, autoBox.checked ? "1" : "0"); } catch (e) { /* ignore */ }
      });
    }

    function rows() { return Array.prototype.slice.call(table.querySelectorAll("tr.label-row")); }
    function pendingRows() { return rows().filter(function (r) { return r.dataset.status === "pending"; }); }
    function currentRow() {
      var el = document.activeElement;
      return el && el.closest ? el.closest("tr.label-row") : null;
    }

    function highlight(row) {
      var id = row ? row.dataset.labelId : null;
      document.querySelectorAll("svg.boxes rect").forEach(function (rect) {
        rect.classList.toggle("active", id !== null && rect.dataset.labelId === id);
      });
    }

    function nextUrl() { return table.dataset.nextUrl || ""; }

    function goNext() {
      var url = nextUrl();
      if (url && !advancing) {
        advancing = true;
        window.location.assign(url);
      }
    }

    function decide(kind) {
      var row = currentRow() || pendingRows()[0];
      if (!row) return;
      var button = row.querySelector("button." + kind);
      if (!button) return;
      lastDecided = row.id;
      button.click();
    }

    table.addEventListener("focusin", function (event) { highlight(event.target.closest("tr.label-row")); });

    document.body.addEventListener("htmx:afterSettle", function () {
      if (!lastDecided) return;
      var row = document.getElementById(lastDecided);
      lastDecided = null;
      if (!row) return;
      document.querySelectorAll('svg.boxes rect[data-label-id="' + row.dataset.labelId + '"]').forEach(function (rect) {
        rect.setAttribute("class", "box status-" + row.dataset.status);
      });
      var all = rows();
      var after = all.slice(all.indexOf(row) + 1).concat(all.slice(0, all.indexOf(row)));
      var target = after.filter(function (r) { return r.dataset.status === "pending"; })[0];
      if (target) {
        target.focus();
      } else if (autoBox && autoBox.checked && nextUrl()) {
        row.focus();
        window.setTimeout(goNext, 400);
      } else {
        row.focus();
      }
    });

    document.addEventListener("keydown", function (event) {
      if (typing(event)) return;
      switch (event.key) {
        case "j": moveFocus(rows(), currentRow(), 1); event.preventDefault(); break;
        case "k": moveFocus(rows(), currentRow(), -1); event.preventDefault(); break;
        case "a": decide("approve"); event.preventDefault(); break;
        case "r": decide("reject"); event.preventDefault(); break;
        case "n": goNext(); event.preventDefault(); break;
        default: break;
      }
    });

    var first = pendingRows()[0] || rows()[0];
    if (first) first.focus();
  }

  /* ---- queue page ----------------------------------------------------------------------- */
  function initQueue(grid) {
    var counter = document.getElementById("selected-count");
    function links() { return Array.prototype.slice.call(grid.querySelectorAll("a.thumb-link")); }
    function updateCount() {
      if (counter) counter.textContent = String(grid.querySelectorAll("input.select-image:checked").length);
    }
    grid.addEventListener("change", updateCount);
    document.addEventListener("keydown", function (event) {
      if (typing(event)) return;
      var active = document.activeElement;
      var current = active && active.closest ? active.closest("li.thumb-card") : null;
      var currentLink = current ? current.querySelector("a.thumb-link") : null;
      if (event.key === "j") { moveFocus(links(), currentLink, 1); event.preventDefault(); }
      else if (event.key === "k") { moveFocus(links(), currentLink, -1); event.preventDefault(); }
      else if (event.key === "x" && current) {
        var box = current.querySelector("input.select-image");
        if (box) { box.checked = !box.checked; updateCount(); }
        event.preventDefault();
      }
    });
    updateCount();
  }

  function init() {
    var table = document.getElementById("labels-table");
    if (table) initReview(table);
    var grid = document.getElementById("queue-grid");
    if (grid) initQueue(grid);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
