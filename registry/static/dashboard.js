// Draws the dashboard's charts from the figures API (same origin, session cookie, GET only).
(function () {
  "use strict";
  var root = document.querySelector("[data-dashboard]");
  if (!root || typeof Chart === "undefined") { return; }
  var ja = document.documentElement.lang === "ja";

  function get(path) {
    return fetch("/api/v1" + path, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(path + " " + r.status); } return r.json(); });
  }

  function chart(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) { new Chart(canvas, config); }
  }

  get("/stats/by-prefecture").then(function (rows) {
    rows.sort(function (a, b) { return (b.actual_people || 0) - (a.actual_people || 0); });
    chart("chart-prefectures", {
      type: "bar",
      data: {
        labels: rows.map(function (r) { return r.name; }),
        datasets: [{ label: ja ? "実人数" : "People", data: rows.map(function (r) { return r.actual_people; }),
                     backgroundColor: "#2f6f4f" }]
      },
      options: { indexAxis: "y", maintainAspectRatio: false, animation: false, plugins: { legend: { display: false } } }
    });
  }).catch(function (e) { console.warn(e.message); });

  get("/stats/timeseries?interval=month").then(function (rows) {
    chart("chart-timeseries", {
      type: "line",
      data: {
        labels: rows.map(function (r) { return r.period; }),
        datasets: [
          { label: ja ? "実人数" : "People", data: rows.map(function (r) { return r.actual_people; }), borderColor: "#2f6f4f" },
          { label: ja ? "延べ人数" : "Registrations", data: rows.map(function (r) { return r.cumulative_registrations; }),
            borderColor: "#c0612b" }
        ]
      },
      options: { maintainAspectRatio: false, animation: false }
    });
  }).catch(function (e) { console.warn(e.message); });
})();
