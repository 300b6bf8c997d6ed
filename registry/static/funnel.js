// Draws each relationship funnel (canvas[data-funnel]): bars per monthly cohort, one per stage.
// The figures come with the page; the table beside each chart holds the same numbers.
(function () {
  "use strict";
  if (typeof Chart === "undefined") { return; }
  var colours = ["#2f6f4f", "#4f8f6f", "#7fb08f", "#c0612b", "#d89a5b", "#3a5f8f"];
  document.querySelectorAll("canvas[data-funnel]").forEach(function (canvas) {
    var data;
    try { data = JSON.parse(canvas.getAttribute("data-funnel")); } catch (e) { console.warn(e.message); return; }
    var cohorts = data.rows.map(function (r) { return r.cohort; });
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: cohorts,
        datasets: data.stages.map(function (stage, i) {
          return { label: data.labels[i], data: data.rows.map(function (r) { return r[stage]; }),
                   backgroundColor: colours[i % colours.length] };
        })
      },
      options: {
        maintainAspectRatio: false, animation: false,
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: { callbacks: { afterLabel: function (ctx) {
            var stage = data.stages[ctx.datasetIndex], row = data.rows[ctx.dataIndex];
            var c = row.conversion && row.conversion[stage];
            return (c === null || c === undefined) ? "" : Math.round(c * 100) + "%";
          } } }
        }
      }
    });
  });
})();
