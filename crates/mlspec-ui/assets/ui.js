// mlspec's web UI: the few things the server-rendered pages cannot do without a script.
// - the theme switch (light, dark, or the system's), remembered in localStorage;
// - lineage graphs: zoom in and out (buttons, and + / - / 0 keys on the graph);
// - metric charts: each [data-chart] element is filled with a uPlot chart of the series the
//   server downsampled for its width (/ui/series), with a log-scale and a step/time switch,
//   and drag-to-zoom that fetches the zoomed range at full detail;
// - a running pipeline's page: each step's state asked again every 2 s
//   (/ui/pipelines/{id}/state), the page reloaded when the pipeline ends.
// Page data comes from JSON islands (<script type="application/json">); there is no inline
// script anywhere, as the Content-Security-Policy requires.
"use strict";
(function () {
  const root = document.documentElement;

  function applyTheme(theme) {
    if (theme === "light" || theme === "dark") root.dataset.theme = theme;
    else delete root.dataset.theme;
  }
  let stored = null;
  try { stored = localStorage.getItem("mlspec-theme"); } catch (e) { stored = null; }
  applyTheme(stored);

  function currentTheme() {
    if (root.dataset.theme) return root.dataset.theme;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function cssVar(name) {
    return getComputedStyle(root).getPropertyValue(name).trim();
  }

  // ---- lineage zoom ------------------------------------------------------------------------
  function setupGraph(box) {
    const svg = box.querySelector("svg");
    if (!svg) return;
    const width = Number(svg.getAttribute("width"));
    const height = Number(svg.getAttribute("height"));
    let scale = Math.min(1, (box.clientWidth || width) / width);
    function apply() {
      svg.setAttribute("width", String(Math.max(50, width * scale)));
      svg.setAttribute("height", String(Math.max(30, height * scale)));
    }
    function zoom(how) {
      if (how === "in") scale = Math.min(4, scale * 1.25);
      else if (how === "out") scale = Math.max(0.1, scale / 1.25);
      else scale = Math.min(1, (box.clientWidth || width) / width);
      apply();
    }
    apply();
    box.querySelectorAll("[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function () { zoom(button.dataset.zoom); });
    });
    box.addEventListener("keydown", function (event) {
      if (event.key === "+" || event.key === "=") zoom("in");
      else if (event.key === "-") zoom("out");
      else if (event.key === "0") zoom("reset");
    });
    performance.mark("mlspec:graph-drawn");
  }

  // ---- charts --------------------------------------------------------------------------------
  const palette = ["#0a55c2", "#d1495b", "#2a9d8f", "#e9a03b", "#6a4c93", "#1b998b", "#c05299",
    "#5f6caf", "#8d6a00", "#3d8b37", "#b5563c", "#00798c", "#7b2cbf", "#52796f", "#bc4749",
    "#386641", "#9c6644", "#4361ee", "#f3722c", "#577590"];

  window.__mlspecCharts = [];
  const allCharts = [];

  function seriesUrl(chart, range) {
    const params = new URLSearchParams();
    params.set("key", chart.key);
    chart.runs.forEach(function (run) { params.append("run", run.id); });
    params.set("axis", chart.axis);
    params.set("width", String(Math.max(100, Math.round(chart.box.clientWidth || 600))));
    if (range) { params.set("from", String(range[0])); params.set("to", String(range[1])); }
    return "/ui/series?" + params.toString();
  }

  // The server aligns every run on one x axis: no join needed here.
  function chartData(answer) {
    return [answer.x].concat(answer.runs.map(function (run) { return run.y; }));
  }

  function allPositive(answer) {
    return answer.runs.every(function (run) { return run.y.every(function (v) { return v === null || v > 0; }); });
  }

  function draw(chart, answer) {
    const data = chartData(answer);
    const fg = cssVar("--fg"), line = cssVar("--line");
    const axis = { stroke: fg, grid: { stroke: line, width: 1 }, ticks: { stroke: line } };
    const options = {
      width: Math.max(200, chart.box.clientWidth - 16),
      height: 240,
      scales: {
        x: { time: chart.axis === "time" },
        y: { distr: chart.log ? 3 : 1 },
      },
      axes: [Object.assign({}, axis), Object.assign({}, axis)],
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      series: [{ label: chart.axis === "time" ? "time" : "step" }].concat(answer.runs.map(function (run, i) {
        return { label: run.name, stroke: palette[i % palette.length], width: 1.25, spanGaps: true, points: { show: false } };
      })),
      hooks: {
        setSelect: [function (u) {
          if (u.select.width < 5) return;
          const from = u.posToVal(u.select.left, "x"), to = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ width: 0, height: 0 }, false);
          load(chart, [from, to]);
        }],
      },
    };
    if (chart.plot) chart.plot.destroy();
    chart.target.textContent = "";
    chart.plot = new uPlot(options, data, chart.target);
    chart.status.textContent = answer.runs.map(function (run) {
      const shown = run.y.filter(function (v) { return v !== null; }).length;
      return run.name + ": " + run.total + " points" + (run.downsampled ? " (" + shown + " drawn)" : "");
    }).join("; ");
  }

  function load(chart, range) {
    chart.range = range || null;
    return fetch(seriesUrl(chart, range), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("the server answered " + response.status);
        return response.json();
      })
      .then(function (answer) {
        chart.answer = answer;
        chart.logToggle.disabled = !allPositive(answer);
        if (chart.logToggle.disabled) chart.log = false;
        draw(chart, answer);
        return answer;
      })
      .catch(function (error) {
        chart.status.textContent = "Cannot draw this chart: " + error.message;
        chart.box.classList.add("error");
      });
  }

  function setupCharts() {
    const island = document.getElementById("chart-data");
    if (!island) return;
    const page = JSON.parse(island.textContent);
    const charts = allCharts;
    document.querySelectorAll("[data-chart]").forEach(function (box) {
      const chart = {
        box: box,
        key: box.dataset.chart,
        runs: page.runs,
        axis: "step",
        log: false,
        target: box.querySelector(".plot"),
        status: box.querySelector(".series-status"),
        logToggle: box.querySelector("input[data-log]"),
        axisSelect: box.querySelector("select[data-axis]"),
      };
      chart.logToggle.addEventListener("change", function () {
        chart.log = chart.logToggle.checked;
        if (chart.answer) draw(chart, chart.answer);
      });
      chart.axisSelect.addEventListener("change", function () {
        chart.axis = chart.axisSelect.value;
        load(chart, null);
      });
      box.querySelector("button[data-reset]").addEventListener("click", function () { load(chart, null); });
      charts.push(chart);
    });
    Promise.all(charts.map(function (chart) { return load(chart, null); })).then(function (answers) {
      window.__mlspecCharts = charts.map(function (chart, i) {
        const answer = answers[i];
        return {
          key: chart.key,
          series: chart.plot ? chart.plot.series.length - 1 : 0,
          totals: answer ? answer.runs.map(function (run) { return run.total; }) : [],
          downsampled: answer ? answer.runs.map(function (run) { return run.downsampled; }) : [],
        };
      });
      performance.mark("mlspec:charts-drawn");
    });
  }

  // ---- a running pipeline ---------------------------------------------------------------
  function showStep(step) {
    const name = CSS.escape(step.name);
    const state = document.querySelector('[data-step-state="' + name + '"]');
    if (state) { state.textContent = step.state; state.className = step.tone; }
    const detail = document.querySelector('[data-step-detail="' + name + '"]');
    if (detail) detail.textContent = step.detail;
    const run = document.querySelector('[data-step-run="' + name + '"]');
    if (run && step.href && !run.querySelector("a")) {
      const link = document.createElement("a");
      link.href = step.href;
      link.textContent = "Run";
      run.appendChild(link);
    }
    const node = document.querySelector('svg.lineage a[href="#step-' + name + '"]');
    if (node) {
      node.setAttribute("class", node.getAttribute("class").replace(/\bstate-[a-z]+/, "state-" + step.state));
      const kind = node.querySelector("text.kind");
      if (kind) kind.textContent = step.state;
      const title = node.querySelector("title");
      if (title) title.textContent = "step " + step.name + ": " + step.state;
    }
  }

  function setupPipeline() {
    const island = document.getElementById("pipeline-data");
    if (!island) return;
    const page = JSON.parse(island.textContent);
    const note = document.getElementById("live-note");
    const timer = setInterval(function () {
      fetch(page.state, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (answer) {
          if (!answer) return;
          answer.steps.forEach(showStep);
          window.__mlspecPipeline = answer;
          if (!answer.running) {
            clearInterval(timer);
            if (note) note.textContent = "The pipeline has ended: loading its record.";
            window.location.reload();
          }
        })
        .catch(function () { /* the next tick asks again */ });
    }, 2000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const button = document.getElementById("theme");
    if (button) {
      button.addEventListener("click", function () {
        const next = currentTheme() === "dark" ? "light" : "dark";
        applyTheme(next);
        try { localStorage.setItem("mlspec-theme", next); } catch (e) { /* private mode */ }
        allCharts.forEach(function (chart) { if (chart.answer) draw(chart, chart.answer); });
      });
    }
    document.querySelectorAll("[data-graph]").forEach(setupGraph);
    setupCharts();
    setupPipeline();
  });
})();
