// The PROX report: follow the Airflow UI's color mode, render the Vega-Lite charts.
(function () {
  function airflowMode() {
    var asked = new URLSearchParams(location.search).get("theme");
    if (asked === "dark" || asked === "light") return asked;
    try {  // same origin inside the Airflow UI's iframe: its <html> carries the mode
      var top = window.parent && window.parent !== window && window.parent.document.documentElement;
      if (top && (top.classList.contains("dark") || top.classList.contains("light")))
        return top.classList.contains("dark") ? "dark" : "light";
    } catch (e) { /* not framed by the Airflow UI */ }
    var stored = null;
    try { stored = localStorage.getItem("theme"); } catch (e) { /* storage off */ }
    if (stored === "dark" || stored === "light") return stored;
    return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  function chartConfig(dark) {
    var fg = dark ? "#fafafa" : "#18181b", grid = dark ? "#27272a" : "#e4e4e7";
    return {background: null, font: "Inter, system-ui, sans-serif",
      title: {color: fg, fontSize: 14, fontWeight: 600, anchor: "start"},
      axis: {labelColor: fg, titleColor: fg, gridColor: grid, domainColor: grid, tickColor: grid},
      legend: {labelColor: fg, titleColor: fg}, view: {stroke: null}};
  }
  function render() {
    var dark = airflowMode() === "dark";
    document.documentElement.classList.toggle("dark", dark);
    document.documentElement.classList.toggle("light", !dark);
    var pending = [];
    document.querySelectorAll("script[data-chart]").forEach(function (node) {
      var target = document.getElementById(node.dataset.chart);
      var spec = JSON.parse(node.textContent);
      pending.push(vegaEmbed(target, spec, {renderer: "svg", actions: false,
        config: chartConfig(dark)}));
    });
    Promise.all(pending).then(function () { document.body.dataset.chartsReady = "1"; },
      function (err) { document.body.dataset.chartsError = String(err); });
  }
  document.addEventListener("DOMContentLoaded", render);
  try {  // re-render when the user switches the Airflow UI's color mode
    if (window.parent === window) return;
    new MutationObserver(render).observe(window.parent.document.documentElement,
      {attributes: true, attributeFilter: ["class"]});
  } catch (e) { /* not framed */ }
})();
