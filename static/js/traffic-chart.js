/* The key traffic chart (templates/partners/traffic/key_traffic.html), drawn by uPlot (static/vendor/uplot).
 *
 * Reads the figures from the page's JSON endpoint (data-src), never from an inline script, so the
 * strict CSP holds. Left axis: requests per second (each minute's mean, per method; 429s; the plan's
 * rate and any per-method throttle as dashed lines). Right axis: the burst (most requests in one
 * second) against the plan's burst. Hovering shows every value of that minute in the legend; the
 * legend toggles a series. The same figures are in the tables below and in the CSV.
 */
(function () {
  "use strict";
  var box = document.getElementById("traffic-chart");
  if (!box || typeof uPlot === "undefined") { return; }
  var COLOURS = ["#2a9d8f", "#e9a23b", "#8e6bbf", "#6c757d", "#b5651d", "#3a86ff"];

  function constant(length, value) {
    var out = new Array(length);
    for (var i = 0; i < length; i++) { out[i] = value; }
    return out;
  }

  function pad(values) { return [null].concat(values, [null]); }

  function build(data) {
    // The window's start and end as empty points: the limit lines span the whole window.
    var t = [data.start].concat(data.t, [data.end]);
    var n = t.length;
    var columns = [t];
    var series = [{ label: "Minute (UTC)", value: "{YYYY}-{MM}-{DD} {HH}:{mm}" }];
    var rps = function (u, v) { return v == null ? "–" : v.toFixed(2) + "/s"; };
    var count = function (u, v) { return v == null ? "–" : String(v); };
    data.series.forEach(function (s, i) {
      var all = s.method === "*";
      columns.push(pad(s.rps));
      series.push({
        label: all ? "All methods (mean/s)" : s.method + " (mean/s)",
        scale: "rps", value: rps, width: all ? 2 : 1.2,
        stroke: all ? "#1d4f91" : COLOURS[(i - 1) % COLOURS.length], spanGaps: false
      });
      if (all) {
        columns.push(pad(s.refused));
        series.push({ label: "Refused, 429 (mean/s)", scale: "rps", value: rps, stroke: "#b00020",
                      fill: "rgba(176, 0, 32, 0.25)", width: 1 });
        columns.push(pad(s.burst));
        series.push({ label: "Burst (max in a second)", scale: "burst", value: count, stroke: "#e76f51",
                      width: 1, points: { show: true, size: 3 } });
      }
    });
    columns.push(constant(n, data.rate));
    series.push({ label: "Plan rate", scale: "rps", value: rps, stroke: "#b00020", dash: [6, 4], width: 1.5 });
    columns.push(constant(n, data.burst_limit));
    series.push({ label: "Plan burst", scale: "burst", value: count, stroke: "#e76f51", dash: [2, 4], width: 1.5 });
    data.throttles.forEach(function (th) {
      columns.push(constant(n, th.rate));
      series.push({ label: "Throttle " + th.method + " (" + th.stage + ")", scale: "rps", value: rps,
                    stroke: "#6c757d", dash: [3, 3], width: 1 });
    });
    return { columns: columns, series: series };
  }

  function two(v) { return (v < 10 ? "0" : "") + v; }

  // 24-hour UTC ticks; the date under the first tick and under each midnight.
  function ticks(u, splits) {
    return splits.map(function (ts, i) {
      var d = new Date(ts * 1e3);
      var time = two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
      var first = i === 0 || (d.getUTCHours() === 0 && d.getUTCMinutes() === 0);
      return first ? time + "\n" + d.getUTCDate() + " " + MONTHS[d.getUTCMonth()] : time;
    });
  }
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function width() { return Math.max(280, box.clientWidth); }

  fetch(box.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.json(); })
    .then(function (data) {
      if (!data.t.length) { return; }
      var built = build(data);
      var options = {
        width: width(),
        height: 280,
        tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
        scales: { x: { time: true, range: [data.start, data.end] }, rps: { range: function (u, min, max) { return [0, Math.max(max, data.rate) * 1.1]; } },
                  burst: { range: function (u, min, max) { return [0, Math.max(max, data.burst_limit) * 1.1]; } } },
        axes: [
          { label: "UTC", values: ticks },
          { scale: "rps", label: "requests/s", size: 56 },
          { scale: "burst", side: 1, label: "burst", size: 56, grid: { show: false } }
        ],
        series: built.series,
        legend: { live: true },
        cursor: { drag: { x: true, y: false } }
      };
      var plot = new uPlot(options, built.columns, box);
      box.classList.add("drawn");
      window.addEventListener("resize", function () { plot.setSize({ width: width(), height: 280 }); });
    })
    .catch(function () { box.classList.add("failed"); });
})();
