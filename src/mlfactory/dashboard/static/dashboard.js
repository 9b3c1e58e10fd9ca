// Draws every plot of a page (and of each fragment htmx swaps in) from the JSON embedded beside it.
(function () {
  "use strict";
  function colours() {
    var style = getComputedStyle(document.body);
    return { fg: style.color, grid: style.getPropertyValue("--line").trim() || "#ccc" };
  }
  function draw(root) {
    if (!window.Plotly) { return; }
    var c = colours();
    root.querySelectorAll("figure.plot").forEach(function (fig) {
      var area = fig.querySelector("[data-plot]");
      var source = fig.querySelector('script[type="application/json"]');
      if (!area || !source || area.dataset.drawn) { return; }
      var spec = JSON.parse(source.textContent);
      var layout = Object.assign({}, spec.layout, {
        paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: c.fg }
      });
      ["xaxis", "yaxis"].forEach(function (axis) {
        layout[axis] = Object.assign({ gridcolor: c.grid, zerolinecolor: c.grid }, layout[axis] || {});
      });
      window.Plotly.newPlot(area, spec.data, layout, { displayModeBar: false, responsive: true });
      area.dataset.drawn = "1";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (event) { draw(event.target); });
})();
